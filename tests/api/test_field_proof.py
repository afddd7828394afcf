"""Proof of delivery through HTTP: multipart upload with real tiny JPEG/PNG
bytes, the proof JSON, downloads (managers and the order's driver get the
exact bytes; another driver and an out-of-scope manager get 404), storage by
content hash, the statuses that take a proof, replacement, non-images (415),
oversized parts (413), `require_proof_of_delivery`, and a kill -9 in the
middle of a photo upload leaving no partial file and no orphan row."""

import hashlib
import os
import re
import socket
import time
from pathlib import Path

import pytest

from field_helpers import *  # noqa: F401,F403 - fixtures and helpers
from helpers import Api

FILE_URL_RE = r"^/api/v1/files/(\d+)$"


def proof_path(oid):
    return f"{V1}/orders/{oid}/proof"


def upload(client, oid, photo=None, signature=None, photo_name="photo.jpg",
           photo_type="image/jpeg", **fields):
    files = {}
    if photo is not None:
        files["photo"] = (photo_name, photo, photo_type)
    if signature is not None:
        files["signature"] = ("signature.png", signature, "image/png")
    for k, v in fields.items():
        files[k] = (None, str(v))
    return client.post(proof_path(oid), files=files)


def file_id(url):
    m = re.match(FILE_URL_RE, url or "")
    assert m, f"not a file URL: {url!r}"
    return int(m.group(1))


def storage_files(root):
    return sorted(p for p in Path(root).rglob("*") if p.is_file())


def files_by(fw, user_id):
    return int(fw.pg.sql(f"SELECT count(*) FROM files WHERE created_by = {int(user_id)}"))


def test_upload_proof_and_download_it(fw, deliveryd_env):
    d, c = fw.driver(login=True)
    o = fw.order_in("picked_up", d)
    photo, sig = tiny_jpeg(), tiny_png(3, 2)
    r = upload(c, o["id"], photo, sig, recipient_name="Fatima Al-Sabah",
               notes="left with the guard", latitude="29.3697", longitude="47.9783")
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    p = r.json()
    assert set(p) == PROOF_KEYS, p
    assert isinstance(p["id"], int) and p["order_id"] == o["id"]
    photo_id, sig_id = file_id(p["photo_url"]), file_id(p["signature_url"])
    assert photo_id != sig_id
    assert p["recipient_name"] == "Fatima Al-Sabah" and p["notes"] == "left with the guard"
    assert p["latitude"] == pytest.approx(29.3697) and p["longitude"] == pytest.approx(47.9783)
    assert is_ts(p["captured_at"])

    # the proof reads back for the driver, managers and the admin
    for who in (c, fw.mgr, fw.mgr_a, fw.admin):
        assert who.ok("GET", proof_path(o["id"])) == {**p, "previous": []}

    # the exact bytes, with their image type
    for who in (c, fw.mgr, fw.mgr_a, fw.admin):
        r = who.get(p["photo_url"])
        assert r.status_code == 200, r.text[:300]
        assert r.content == photo
        assert r.headers["Content-Type"].startswith("image/jpeg")
        r = who.get(p["signature_url"])
        assert r.status_code == 200 and r.content == sig
        assert r.headers["Content-Type"].startswith("image/png")

    # stored under STORAGE_DIR by content hash, no temp file left behind
    stored = storage_files(deliveryd_env["STORAGE_DIR"])
    for data in (photo, sig):
        h = hashlib.sha256(data).hexdigest()
        hits = [f for f in stored if h in f.name]
        assert len(hits) == 1, (h, stored)
        assert hits[0].read_bytes() == data
    assert not [f for f in stored if "upload" in f.name or "tmp" in f.name.lower()], stored

    # another driver sees nothing of it
    _, other = fw.driver()
    assert_problem(other.get(p["photo_url"]), 404, "not_found")
    assert_problem(other.get(p["signature_url"]), 404, "not_found")
    assert_problem(other.get(proof_path(o["id"])), 404, "not_found")
    r = upload(other, o["id"], tiny_jpeg())
    assert_problem(r, 404, "not_found")
    assert fw.mgr.ok("GET", proof_path(o["id"])) == {**p, "previous": []}, "another driver's upload changed the proof"

    # unknown file
    missing = int(fw.pg.sql("SELECT coalesce(max(id), 0) + 1000000 FROM files"))
    assert_problem(fw.mgr.get(f"{V1}/files/{missing}"), 404, "not_found")


def test_out_of_scope_manager_gets_404(fw):
    db_, cb = fw.driver(fw.wh_b["id"])
    o = fw.order_in("picked_up", db_, warehouse_id=fw.wh_b["id"])
    p = cb.ok("POST", proof_path(o["id"]), 201, files={"photo": ("p.png", tiny_png(), "image/png")})
    assert p["signature_url"] is None
    assert fw.mgr.get(p["photo_url"]).status_code == 200
    assert_problem(fw.mgr_a.get(p["photo_url"]), 404, "not_found")
    assert_problem(fw.mgr_a.get(proof_path(o["id"])), 404, "not_found")
    assert_problem(upload(fw.mgr_a, o["id"], tiny_jpeg()), 404, "not_found")
    # a manager in scope may upload for the driver
    r = upload(fw.mgr, o["id"], tiny_jpeg(), recipient_name="by manager")
    assert r.status_code == 201, r.text
    assert r.json()["recipient_name"] == "by manager"


def test_statuses_that_take_a_proof(fw):
    d, c = fw.driver()
    mgr_id = fw.mgr.user["id"]
    n0 = files_by(fw, mgr_id)
    for status in ("pending", "assigned", "cancelled"):
        o = fw.order_in(status, d)
        r = upload(fw.mgr, o["id"], tiny_jpeg())
        assert_problem(r, 409)
        assert_problem(fw.mgr.get(proof_path(o["id"])), 404, "not_found")
    assert files_by(fw, mgr_id) == n0, "a refused upload wrote a files row"
    # the driver's own assigned order: 409 too
    o = fw.order_in("assigned", d)
    assert_problem(upload(c, o["id"], tiny_jpeg()), 409)
    for status in ("delivered", "failed", "picked_up"):
        o = fw.order_in(status, d)
        r = upload(c, o["id"], tiny_jpeg(), recipient_name=status)
        assert r.status_code == 201, (status, r.text)
        assert c.ok("GET", proof_path(o["id"]))["recipient_name"] == status


def test_new_upload_keeps_the_earlier_proof_under_previous(fw):
    d, c = fw.driver()
    o = fw.order_in("picked_up", d)
    first_photo, second_photo = tiny_jpeg(), tiny_png(4, 4)
    first = c.ok("POST", proof_path(o["id"]), 201,
                 files={"photo": ("a.jpg", first_photo, "image/jpeg"),
                        "signature": ("s.png", tiny_png(), "image/png"),
                        "recipient_name": (None, "First Person")})
    second = c.ok("POST", proof_path(o["id"]), 201,
                  files={"photo": ("b.png", second_photo, "image/png"),
                         "recipient_name": (None, "Second Person"), "notes": (None, "again")})
    assert second["photo_url"] != first["photo_url"]
    assert second["recipient_name"] == "Second Person" and second["notes"] == "again"
    got = fw.mgr.ok("GET", proof_path(o["id"]))
    # the latest, with the earlier one under "previous" (same shape, newest first)
    assert got == {**second, "previous": [first]}, got
    r = fw.mgr.get(got["photo_url"])
    assert r.status_code == 200 and r.content == second_photo
    assert r.headers["Content-Type"].startswith("image/png")
    r = fw.mgr.get(first["photo_url"])
    assert r.status_code == 200 and r.content == first_photo
    assert fw.pg.sql(f"SELECT count(*) FROM proofs WHERE order_id = {o['id']}") == "2"


def test_non_images_are_refused(fw):
    d, c = fw.driver()
    o = fw.order_in("picked_up", d)
    text = b"this is not a photo, just text named like one\n" * 20
    r = upload(c, o["id"], text, photo_name="photo.jpg", photo_type="image/jpeg")
    assert_problem(r, 415, "unsupported_media_type")
    gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    assert_problem(upload(c, o["id"], gif, photo_name="p.gif", photo_type="image/gif"),
                   415, "unsupported_media_type")
    # the signature must be a PNG: a JPEG is refused
    r = c.post(proof_path(o["id"]), files={"photo": ("p.jpg", tiny_jpeg(), "image/jpeg"),
                                           "signature": ("s.png", tiny_jpeg(), "image/png")})
    assert_problem(r, 415, "unsupported_media_type")
    # a JSON body is not an upload
    assert_problem(c.post(proof_path(o["id"]), json={"photo": "x"}), 415, "unsupported_media_type")
    assert_problem(fw.mgr.get(proof_path(o["id"])), 404, "not_found")
    assert files_by(fw, d["user_id"]) == 0


def test_proof_fields_are_validated(fw):
    d, c = fw.driver()
    o = fw.order_in("picked_up", d)
    # neither a photo nor a signature
    r = c.post(proof_path(o["id"]), files={"recipient_name": (None, "Nobody")})
    assert_problem(r, 422, "validation_failed")
    # coordinates that are not coordinates are refused, not silently dropped
    for lat in ("95", "-90.5", "north", "nan", "inf", "1e999", "0x10", "1e1e", "[29]"):
        r = upload(c, o["id"], tiny_jpeg(), latitude=lat, longitude="47.9")
        assert r.status_code == 422, f"latitude {lat!r}: {r.status_code} {r.text[:300]}"
    r = upload(c, o["id"], tiny_jpeg(), latitude="29.3", longitude="181")
    assert_problem(r, 422, "validation_failed")
    assert_problem(fw.mgr.get(proof_path(o["id"])), 404, "not_found")


def test_oversized_parts_are_refused(fw):
    d, c = fw.driver()
    o = fw.order_in("picked_up", d)
    big = tiny_jpeg(6 * 1024 * 1024)
    assert_problem(upload(c, o["id"], big), 413, "payload_too_large")
    # a signature over 1 MiB
    big_sig = tiny_png() + b"\x00" * (1024 * 1024)
    r = c.post(proof_path(o["id"]), files={"signature": ("s.png", big_sig, "image/png")})
    assert_problem(r, 413, "payload_too_large")
    assert_problem(fw.mgr.get(proof_path(o["id"])), 404, "not_found")
    assert files_by(fw, d["user_id"]) == 0
    # just under the limits is fine
    ok_photo = tiny_jpeg(5 * 1024 * 1024 - 4096)
    p = c.ok("POST", proof_path(o["id"]), 201, files={"photo": ("p.jpg", ok_photo, "image/jpeg")})
    assert fw.mgr.get(p["photo_url"]).content == ok_photo


def test_proof_required_setting(fw):
    d, c = fw.driver()
    o = fw.order_in("picked_up", d)
    try:
        set_setting(fw, "require_proof_of_delivery", True)
        time.sleep(1.2)  # in force on every instance within one second
        r = c.post(f"{V1}/orders/{o['id']}/deliver", json={"recipient_name": "X"})
        assert_problem(r, 409, "proof_required")
        assert fw.mgr.ok("GET", f"{V1}/orders/{o['id']}")["status"] == "picked_up"
        # a manager is held to it too
        assert_problem(fw.mgr.post(f"{V1}/orders/{o['id']}/deliver", json={}), 409, "proof_required")
        c.ok("POST", proof_path(o["id"]), 201, files={"photo": ("p.jpg", tiny_jpeg(), "image/jpeg")})
        done = c.ok("POST", f"{V1}/orders/{o['id']}/deliver", json={"recipient_name": "X"})
        assert done["status"] == "delivered"
    finally:
        set_setting(fw, "require_proof_of_delivery", False)
        time.sleep(1.2)
    # off again: delivering without a proof works
    o2 = fw.order_in("picked_up", d)
    assert c.ok("POST", f"{V1}/orders/{o2['id']}/deliver", json={})["status"] == "delivered"


def test_a_failed_attempts_proof_does_not_deliver_the_next_attempt(fw):
    """The driver of a failed attempt photographs the closed door (a proof
    on a failed order); the order is requeued, given to another driver and
    picked up again. With require_proof_of_delivery that old photo must not
    count: the second driver needs a proof of their own attempt."""
    d1, c1 = fw.driver()
    d2, c2 = fw.driver()
    o = fw.order_in("picked_up", d1)
    c1.ok("POST", f"{V1}/orders/{o['id']}/fail", json={"reason": "nobody home",
                                                        "reason_code": "customer_not_home"})
    c1.ok("POST", proof_path(o["id"]), 201, files={"photo": ("door.jpg", tiny_jpeg(), "image/jpeg")})
    fw.mgr.ok("POST", f"{V1}/orders/{o['id']}/requeue", json={})
    fw.mgr.ok("POST", f"{V1}/orders/{o['id']}/assign", json={"driver_id": d2["id"]})
    c2.ok("POST", f"{V1}/orders/{o['id']}/pickup", json={})
    try:
        set_setting(fw, "require_proof_of_delivery", True)
        time.sleep(1.2)
        assert_problem(c2.post(f"{V1}/orders/{o['id']}/deliver", json={}), 409, "proof_required")
        assert_problem(fw.mgr.post(f"{V1}/orders/{o['id']}/deliver", json={}), 409, "proof_required")
        batch = fw.mgr.ok("POST", f"{V1}/orders/batch-delivery", json={"order_ids": [o["id"]]})
        assert batch["succeeded"] == [] and [f["code"] for f in batch["failed"]] == ["proof_required"], batch
        c2.ok("POST", proof_path(o["id"]), 201, files={"photo": ("p.jpg", tiny_jpeg(), "image/jpeg")})
        assert c2.ok("POST", f"{V1}/orders/{o['id']}/deliver", json={})["status"] == "delivered"
    finally:
        set_setting(fw, "require_proof_of_delivery", False)
        time.sleep(1.2)


def test_kill9_during_photo_upload_leaves_nothing_behind(fw, start_daemon, test_session):
    storage = test_session.dir / f"storage-kill-{os.urandom(4).hex()}"
    storage.mkdir()
    d, c = fw.driver()
    o = fw.order_in("picked_up", d)
    token = c.session.headers["Authorization"].split(" ", 1)[1]
    victim = start_daemon(STORAGE_DIR=str(storage))

    photo = tiny_jpeg(3 * 1024 * 1024)
    boundary = "----fieldkill" + os.urandom(6).hex()
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"recipient_name\"\r\n\r\n"
            f"Half Upload\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; "
            f"filename=\"p.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode() + photo + \
        f"\r\n--{boundary}--\r\n".encode()
    head = (f"POST {proof_path(o['id'])} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", victim.port), timeout=10)
    try:
        sock.sendall(head + body[: len(body) // 2])
        time.sleep(0.5)  # let the daemon take in the first half
        assert victim.running()
        victim.kill9()
    finally:
        sock.close()
    assert victim.returncode == -9

    left = storage_files(storage)
    assert left == [], f"files left in STORAGE_DIR after kill -9: {left}"
    assert fw.pg.sql(f"SELECT count(*) FROM proofs WHERE order_id = {o['id']}") == "0"
    assert files_by(fw, d["user_id"]) == 0

    # an unfinished temp upload from an earlier crash is removed at start
    (storage / "tmp").mkdir(exist_ok=True)
    leftover = storage / "tmp" / "upload-Ab12Cd"
    leftover.write_bytes(photo[: 1024 * 1024])
    again = start_daemon(STORAGE_DIR=str(storage))
    try:
        assert not leftover.exists(), "the restarted daemon left the unfinished temp upload"
        api = Api(again.url(), token=token)
        try:
            r = api.post(proof_path(o["id"]), files={"photo": ("p.jpg", photo, "image/jpeg")})
            assert r.status_code == 201, r.text
            url = r.json()["photo_url"]
            got = api.get(url)
            assert got.status_code == 200 and got.content == photo
        finally:
            api.close()
        stored = storage_files(storage)
        assert len(stored) == 1 and stored[0].read_bytes() == photo, stored
        assert hashlib.sha256(photo).hexdigest() in stored[0].name
    finally:
        again.stop()
    assert fw.pg.sql(f"SELECT count(*) FROM proofs WHERE order_id = {o['id']}") == "1"
