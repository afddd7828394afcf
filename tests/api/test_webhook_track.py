"""POST /webhooks/d365 and GET /track/{token} through HTTP (API.md
"Integrations and public endpoints" and "Webhook, tracking, command line").

Webhook: HMAC-SHA256(D365_WEBHOOK_SECRET, timestamp "." raw body) in
X-D365-Signature, the timestamp within +-300 s, each event id applied once
(a repeat answers 200 {"duplicate":true}), order.created / order.updated
(only while pending) / order.cancelled with import field names, 202
{event_id, applied, detail}, 401 for anything unsigned, stale or forged.
Tracking: public, exactly the documented fields, 404 for unknown tokens."""

import json
import secrets
import time

import pytest

from helpers import Api
from ops_helpers import *  # noqa: F401,F403

WEBHOOK = V1 + "/webhooks/d365"


@pytest.fixture(scope="module")
def wt(ops, secrets_env):
    class W:
        pass
    w = W()
    w.secret = secrets_env[1]
    w.wh = ops.warehouse()
    w.mgr = ops.manager(w.wh["id"])
    w.drv, w.drv_client = ops.driver(w.wh["id"], full_name="Yousef Al-Mutairi")
    w.anon = Api(w.mgr.base)
    yield w
    w.anon.close()


def send(wt, event, order, event_id=None, ts=None, secret=None, raw=None, headers=None):
    body = raw if raw is not None else json.dumps({"event": event, "order": order},
                                                  ensure_ascii=False).encode()
    h = d365_headers(secret or wt.secret, body, event_id=event_id, ts=ts)
    eid = h["X-D365-Event-Id"]
    if headers is not None:
        h = headers(h)
    return wt.anon.post(WEBHOOK, data=body, headers=h), eid


def d365_order(ops, wt, **fields):
    o = {"order_number": ops.number("W"), "customer_name": "D365 Customer",
         "customer_phone": "50012399", "warehouse_code": wt.wh["code"], "area": "Salmiya",
         "block": "3", "amount": "5.250", "payment_method": "K-Net"}
    o.update(fields)
    return o


def history(client, oid):
    r = client.get(f"{V1}/orders/{oid}/history")
    assert r.status_code == 200, r.text
    return r.json()


def assert_accepted(r, event_id, applied):
    assert r.status_code == 202, r.text
    body = r.json()
    assert set(body) >= {"event_id", "applied", "detail"}, body
    assert body["event_id"] == event_id
    assert body["applied"] is applied, body
    assert isinstance(body["detail"], str)
    return body


# --- order.created ----------------------------------------------------------------------

def test_created_event_creates_an_order_from_import_fields(ops, wt):
    o = d365_order(ops, wt, customer_name="شركة الخليج", customer_phone=50012398,
                   estimated_delivery_time="2026-12-03T10:00:00Z", sales_channel="B2B")
    r, eid = send(wt, "order.created", o)
    assert_accepted(r, eid, True)
    got = find_order(wt.mgr, o["order_number"])
    assert got is not None, "order.created did not create the order"
    assert got["source"] == "d365" and got["status"] == "pending"
    assert got["warehouse_id"] == wt.wh["id"]
    assert got["customer_name"] == "شركة الخليج"
    assert got["customer_phone"] == "+96550012398"
    assert got["amount"] == "5.250" and got["payment_method"] == "knet"
    assert got["area"] == "Salmiya" and got["block"] == "3"
    assert got["estimated_delivery_time"] == "2026-12-03T10:00:00Z"
    assert got["customer_info"].get("sales_channel") == "B2B"
    h = history(wt.mgr, got["id"])
    assert h[0]["from_status"] is None and h[0]["to_status"] == "pending"


def test_repeated_event_id_is_a_duplicate_and_changes_nothing(ops, wt):
    o = d365_order(ops, wt)
    r, eid = send(wt, "order.created", o)
    assert_accepted(r, eid, True)
    before = find_order(wt.mgr, o["order_number"])
    # the same event delivered again, and a different body under the same id
    for body_order in (o, dict(o, customer_name="Changed By Replay")):
        r2, _ = send(wt, "order.updated", body_order, event_id=eid)
        assert r2.status_code == 200, r2.text
        assert r2.json().get("duplicate") is True, r2.json()
    assert find_order(wt.mgr, o["order_number"]) == before


def test_created_with_invalid_order_is_refused_and_can_be_retried(ops, wt):
    o = d365_order(ops, wt, customer_phone="12")
    r, eid = send(wt, "order.created", o)
    assert 400 <= r.status_code < 500, r.text
    body = assert_problem(r, r.status_code)
    assert find_order(wt.mgr, o["order_number"]) is None
    if r.status_code == 422:
        assert any(e.get("field") == "customer_phone" for e in body.get("errors", [])), body
    # the refused event was not recorded: the corrected retry is applied
    o["customer_phone"] = "50012397"
    r, _ = send(wt, "order.created", o, event_id=eid)
    assert_accepted(r, eid, True)
    assert find_order(wt.mgr, o["order_number"])["customer_phone"] == "+96550012397"


@pytest.mark.parametrize("eta", ["2024-02-30T10:00:00Z", "2024-01-01T10:00:00+16:00"])
def test_an_impossible_eta_is_422_naming_it_not_a_retry(ops, wt, eta):
    """A day that does not exist or an offset beyond ±15:59 is the sender's
    mistake: 422 naming the field (it was a 503 "retry" for the offset, which
    the connector would retry for ever)."""
    o = d365_order(ops, wt, estimated_delivery_time=eta)
    r, _ = send(wt, "order.created", o)
    body = assert_problem(r, 422, "validation_failed")
    assert any(e.get("field") == "estimated_delivery_time" for e in body["errors"]), body
    assert find_order(wt.mgr, o["order_number"]) is None


def test_an_event_id_that_is_not_utf8_is_401(ops, wt):
    """A malformed signature header, like a missing one (it was a 500)."""
    r, _ = send(wt, "order.created", d365_order(ops, wt),
                headers=lambda h: {**h, "X-D365-Event-Id": b"\xff\xfe-" + secrets.token_hex(4).encode()})
    assert_problem(r, 401, "unauthorized")


def test_unknown_event_and_malformed_body(ops, wt):
    r, _ = send(wt, "order.deleted", d365_order(ops, wt))
    assert_problem(r, 422, "validation_failed")
    r, _ = send(wt, None, None, raw=b"{not json")
    assert_problem(r, 400)
    r, _ = send(wt, None, None, raw=json.dumps({"event": "order.created", "order": "x"}).encode())
    assert_problem(r, 422, "validation_failed")


# --- order.updated ------------------------------------------------------------------------

def test_updated_applies_while_pending_only(ops, wt):
    o = d365_order(ops, wt, customer_name="Before Update")
    r, eid = send(wt, "order.created", o)
    assert_accepted(r, eid, True)
    created = find_order(wt.mgr, o["order_number"])
    r, eid = send(wt, "order.updated", dict(o, customer_name="After Update", amount="9.000",
                                            notes="gate 4"))
    assert_accepted(r, eid, True)
    upd = ops.get(wt.mgr, created["id"])
    assert upd["customer_name"] == "After Update" and upd["amount"] == "9.000"
    assert upd["notes"] == "gate 4"
    assert upd["version"] == created["version"] + 1
    # once assigned, an update is not applied
    ops.must(wt.mgr, created["id"], "assign", {"driver_id": wt.drv["id"]})
    assigned = ops.get(wt.mgr, created["id"])
    r, eid = send(wt, "order.updated", dict(o, customer_name="Too Late"))
    assert_accepted(r, eid, False)
    assert ops.get(wt.mgr, created["id"]) == assigned


def test_updated_changes_only_the_members_present(ops, wt):
    """order.updated of an existing order carries what changed: the members
    it omits keep their values (they became null), and the required fields
    are required only when present (amount alone was a 422)."""
    o = d365_order(ops, wt, notes="gate 4", street="Salem St", paci_number="12345678",
                   estimated_delivery_time="2026-12-03T10:00:00Z", sales_channel="B2B")
    r, eid = send(wt, "order.created", o)
    assert_accepted(r, eid, True)
    created = find_order(wt.mgr, o["order_number"])
    r, eid = send(wt, "order.updated", {"order_number": o["order_number"], "amount": "7.500"})
    assert_accepted(r, eid, True)
    upd = ops.get(wt.mgr, created["id"])
    assert upd["amount"] == "7.500" and upd["version"] == created["version"] + 1
    for k in ("customer_name", "customer_phone", "warehouse_id", "area", "block", "street",
              "paci_number", "notes", "payment_method", "estimated_delivery_time",
              "customer_info", "source"):
        assert upd[k] == created[k], (k, upd[k], created[k])
    # a member present as null clears an optional field; the others stay
    r, eid = send(wt, "order.updated", {"order_number": o["order_number"], "notes": None,
                                        "customer_name": "Renamed"})
    assert_accepted(r, eid, True)
    upd2 = ops.get(wt.mgr, created["id"])
    assert upd2["notes"] is None and upd2["customer_name"] == "Renamed"
    assert upd2["area"] == "Salmiya" and upd2["amount"] == "7.500"
    # the order number is read as stored (trimmed): still an update
    r, eid = send(wt, "order.updated", {"order_number": "  " + o["order_number"] + " ",
                                        "amount": "8.000"})
    assert_accepted(r, eid, True)
    assert ops.get(wt.mgr, created["id"])["amount"] == "8.000"


def test_updated_checks_present_members_and_creates_unknown_orders_in_full(ops, wt):
    o = d365_order(ops, wt)
    r, eid = send(wt, "order.created", o)
    assert_accepted(r, eid, True)
    before = ops.get(wt.mgr, find_order(wt.mgr, o["order_number"])["id"])
    # a required member that is present must still be valid
    # ... and emptying the area (or the address) alone could leave the order
    # with neither, so it needs the other member too (the order has area only)
    for bad in ({"customer_name": ""}, {"customer_phone": "12"}, {"warehouse_code": "NOPE"},
                {"delivery_address": None, "area": None}, {"area": None}, {"area": ""}):
        r, _ = send(wt, "order.updated", dict(bad, order_number=o["order_number"]))
        body = assert_problem(r, 422, "validation_failed")
        assert {e["field"] for e in body["errors"]} & (set(bad) | {"delivery_address"}), body
    assert ops.get(wt.mgr, before["id"]) == before
    # ... and valid, it is all an update needs
    r, eid = send(wt, "order.updated", {"order_number": o["order_number"],
                                        "customer_phone": "+965 5001 2396"})
    assert_accepted(r, eid, True)
    after = ops.get(wt.mgr, before["id"])
    assert after["customer_phone"] == "+96550012396"
    assert after["customer_name"] == before["customer_name"] and after["area"] == before["area"]
    # an order we do not have: created, so what creating needs is required
    unknown = ops.number("W")
    r, eid = send(wt, "order.updated", {"order_number": unknown, "amount": "1.000"})
    body = assert_problem(r, 422, "validation_failed")
    assert {"customer_name", "customer_phone", "warehouse_code"} <= \
        {e["field"] for e in body["errors"]}, body
    assert find_order(wt.mgr, unknown) is None
    r, eid = send(wt, "order.updated", d365_order(ops, wt, order_number=unknown))
    assert_accepted(r, eid, True)
    assert find_order(wt.mgr, unknown)["source"] == "d365"


def test_an_event_that_changes_nothing_is_not_applied_and_keeps_the_version(ops, wt):
    o = d365_order(ops, wt, amount="5", estimated_delivery_time="2026-12-03")
    r, eid = send(wt, "order.created", o)
    assert_accepted(r, eid, True)
    created = ops.get(wt.mgr, find_order(wt.mgr, o["order_number"])["id"])
    for event, order in (("order.updated", o), ("order.created", o),
                         ("order.updated", {"order_number": o["order_number"], "area": "Salmiya"})):
        r, eid = send(wt, event, order)
        body = assert_accepted(r, eid, False)
        assert "unchanged" in body["detail"], body
    assert ops.get(wt.mgr, created["id"]) == created  # version, updated_at


def test_a_date_only_eta_is_the_end_of_that_business_day(ops, wt):
    """estimated_delivery_time "2026-11-25" is due by 23:59:59 of the 25th in
    business_timezone (Asia/Kuwait, UTC+3), not by its first minute."""
    o = d365_order(ops, wt, estimated_delivery_time="2026-11-25")
    r, eid = send(wt, "order.created", o)
    assert_accepted(r, eid, True)
    got = find_order(wt.mgr, o["order_number"])
    assert got["estimated_delivery_time"] == "2026-11-25T20:59:59Z", got
    r, eid = send(wt, "order.updated", {"order_number": o["order_number"],
                                        "estimated_delivery_time": "2026-11-26"})
    assert_accepted(r, eid, True)
    assert ops.get(wt.mgr, got["id"])["estimated_delivery_time"] == "2026-11-26T20:59:59Z"


# --- order.cancelled -----------------------------------------------------------------------

def test_cancelled_cancels_a_pending_order_as_the_system(ops, wt):
    pending = ops.new_order(wt.mgr, wt.wh["id"])
    r, eid = send(wt, "order.cancelled", {"order_number": pending["order_number"],
                                          "cancel_reason": "customer cancelled in D365"})
    assert_accepted(r, eid, True)
    got = ops.get(wt.mgr, pending["id"])
    assert got["status"] == "cancelled"
    assert got["cancel_reason"] == "customer cancelled in D365"
    assert got["cancelled_at"] is not None
    last = history(wt.mgr, pending["id"])[-1]
    assert (last["from_status"], last["to_status"]) == ("pending", "cancelled")
    assert last["changed_by"] is None, last
    # without a reason it still cancels
    p2 = ops.new_order(wt.mgr, wt.wh["id"])
    r, eid = send(wt, "order.cancelled", {"order_number": p2["order_number"]})
    assert_accepted(r, eid, True)
    assert ops.get(wt.mgr, p2["id"])["status"] == "cancelled"


def test_cancelled_not_applied_to_delivered_or_unknown(ops, wt):
    done = ops.order_in(wt.mgr, wt.wh["id"], "delivered", wt.drv)
    r, eid = send(wt, "order.cancelled", {"order_number": done["order_number"],
                                          "cancel_reason": "too late"})
    assert_accepted(r, eid, False)
    after = ops.get(wt.mgr, done["id"])
    assert after["status"] == "delivered" and after["version"] == done["version"]
    r, eid = send(wt, "order.cancelled", {"order_number": ops.number("NOPE")})
    assert_accepted(r, eid, False)


# --- signatures -----------------------------------------------------------------------------

def _drop(name):
    return lambda h: {k: v for k, v in h.items() if k != name}


def _set(name, value):
    return lambda h: dict(h, **{name: value})


BAD = {
    "no-signature": _drop("X-D365-Signature"),
    "no-timestamp": _drop("X-D365-Timestamp"),
    "no-event-id": _drop("X-D365-Event-Id"),
    "empty-signature": _set("X-D365-Signature", ""),
    "no-sha256-prefix": lambda h: dict(h, **{"X-D365-Signature": h["X-D365-Signature"][7:]}),
    "not-hex": _set("X-D365-Signature", "sha256=" + "zz" * 32),
    "short-mac": lambda h: dict(h, **{"X-D365-Signature": h["X-D365-Signature"][:-2]}),
    "flipped-bit": lambda h: dict(h, **{"X-D365-Signature": h["X-D365-Signature"][:-1]
                                        + ("0" if h["X-D365-Signature"][-1] != "0" else "1")}),
    "timestamp-not-a-number": _set("X-D365-Timestamp", "yesterday"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_signature_headers_are_401(ops, wt, case):
    o = d365_order(ops, wt)
    r, eid = send(wt, "order.created", o, headers=BAD[case])
    assert_problem(r, 401, "unauthorized")
    assert find_order(wt.mgr, o["order_number"]) is None
    # the event id was not consumed
    r, eid2 = send(wt, "order.created", o, event_id=eid)
    assert_accepted(r, eid, True)


def test_wrong_secret_tampered_body_and_stale_timestamps_are_401(ops, wt):
    o = d365_order(ops, wt)
    body = json.dumps({"event": "order.created", "order": o}).encode()
    cases = {
        "wrong secret": (body, d365_headers("not-the-secret", body)),
        "tampered body": (body.replace(b"D365 Customer", b"D365 Customes"),
                          d365_headers(wt.secret, body)),
        "stale (301 s old)": (body, d365_headers(wt.secret, body, ts=int(time.time()) - 301)),
        "future (301 s ahead)": (body, d365_headers(wt.secret, body, ts=int(time.time()) + 301)),
        "signed for another timestamp": (body, dict(d365_headers(wt.secret, body, ts=int(time.time()) - 5),
                                                    **{"X-D365-Timestamp": str(int(time.time()))})),
    }
    for what, (data, h) in cases.items():
        r = wt.anon.post(WEBHOOK, data=data, headers=h)
        assert r.status_code == 401, f"{what}: {r.status_code} {r.text}"
        assert_problem(r, 401, "unauthorized")
    assert find_order(wt.mgr, o["order_number"]) is None
    # inside the window both ways is fine
    for skew in (-290, 290):
        o2 = d365_order(ops, wt)
        r, eid = send(wt, "order.created", o2, ts=int(time.time()) + skew)
        assert_accepted(r, eid, True)


# --- tracking --------------------------------------------------------------------------------

def test_track_returns_exactly_the_public_fields(ops, wt):
    o = ops.new_order(wt.mgr, wt.wh["id"], customer_name="Private Person",
                      estimated_delivery_time="2026-12-05T14:00:00Z")
    r = wt.anon.get(f"{V1}/track/{o['tracking_token']}")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    t = r.json()
    assert set(t) == TRACK_KEYS, t
    assert t["order_number"] == o["order_number"]
    assert t["status"] == "pending"
    assert t["estimated_delivery_time"] == "2026-12-05T14:00:00Z"
    assert t["driver_first_name"] is None
    assert [e["status"] for e in t["events"]] == ["pending"]
    for e in t["events"]:
        assert set(e) == {"status", "at"}, e
        parse_ts(e["at"])
    assert "Private Person" not in r.text and o["customer_phone"] not in r.text


def test_track_follows_the_order_and_shows_driver_first_name_only(ops, wt):
    o = ops.new_order(wt.mgr, wt.wh["id"])
    ops.must(wt.mgr, o["id"], "assign", {"driver_id": wt.drv["id"]})
    ops.must(wt.drv_client, o["id"], "pickup")
    r = wt.anon.get(f"{V1}/track/{o['tracking_token']}")
    assert r.status_code == 200, r.text
    t = r.json()
    assert set(t) == TRACK_KEYS
    assert t["status"] == "picked_up"
    assert t["driver_first_name"] == "Yousef"
    assert "Mutairi" not in r.text
    assert [e["status"] for e in t["events"]] == ["pending", "assigned", "picked_up"]
    ats = [parse_ts(e["at"]) for e in t["events"]]
    assert ats == sorted(ats)
    ops.must(wt.drv_client, o["id"], "deliver")
    t = wt.anon.get(f"{V1}/track/{o['tracking_token']}").json()
    assert t["status"] == "delivered"
    assert [e["status"] for e in t["events"]][-1] == "delivered"


@pytest.mark.parametrize("space", ["\u00a0", "\t", "\u3000", "\u2009", "  "])
def test_track_first_name_splits_on_any_space(ops, wt, space):
    """A name pasted from a spreadsheet often has a no-break or another
    Unicode space between its parts: the page still shows only the first
    word. A cancelled order shows no driver."""
    drv, drv_client = ops.driver(wt.wh["id"], full_name=f"Ahmad{space}Al-Sabah")
    o = ops.new_order(wt.mgr, wt.wh["id"])
    ops.must(wt.mgr, o["id"], "assign", {"driver_id": drv["id"]})
    r = wt.anon.get(f"{V1}/track/{o['tracking_token']}")
    assert r.status_code == 200 and r.json()["driver_first_name"] == "Ahmad", r.text
    assert "Sabah" not in r.text
    ops.must(wt.mgr, o["id"], "cancel", {"reason": "customer called"})
    t = wt.anon.get(f"{V1}/track/{o['tracking_token']}").json()
    assert t["status"] == "cancelled" and t["driver_first_name"] is None, t


def test_track_unknown_token_is_404(ops, wt):
    o = ops.new_order(wt.mgr, wt.wh["id"])
    for token in ("0" * 64, o["tracking_token"][:-1], o["order_number"], str(o["id"]),
                  o["tracking_token"].upper() if o["tracking_token"].upper() != o["tracking_token"] else "X"):
        assert_problem(wt.anon.get(f"{V1}/track/{token}"), 404, "not_found")
