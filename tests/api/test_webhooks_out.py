"""Webhooks out (API.md "Outbound events"): subscriptions (admin routes,
URL and pattern validation, the private-address rule when subscribing and
at connect time) and the delivery worker (signed POSTs, per-order order,
retries with backoff, dead and manual retry, 3xx/4xx/5xx/huge/refused/hung
subscribers, two daemons sharing the work, SIGTERM with transfers in
flight).

The module has a database of its own (so the session's other daemons,
whose workers would share the work, stay out of it) and daemons started on
it with WEBHOOK_ALLOW_PRIVATE=1, because the receiver is a Python
http.server on 127.0.0.1. Events are rows inserted into `events` with SQL,
as the changes' own statements write them (migration 0024)."""

import hashlib
import hmac
import json
import re
import secrets
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from helpers import V1, Api, assert_problem, free_port, poll

SUBS = V1 + "/webhooks/subscriptions"
DB = "deliveryd_webhooks_out"


# --- the receiver ----------------------------------------------------------

class Receiver:
    """http.server on 127.0.0.1 in threads. Each path has a behaviour:
    behaviour(receipt) -> (status, body bytes, delay seconds[, headers]);
    receipts record path, headers, body, arrival and answer times."""

    def __init__(self):
        self.lock = threading.Lock()
        self.receipts = []
        self.behaviours = {}
        self.active = {}  # path -> transfers in progress now
        self.max_active = {}
        self.release = threading.Event()  # ends every pending delay at once
        rcv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                t0 = time.time()
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                rec = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                       "body": body, "t0": t0, "t1": None, "status": None}
                with rcv.lock:
                    beh = rcv.behaviours.get(self.path)
                    rec["n"] = sum(1 for x in rcv.receipts if x["path"] == self.path
                                   and x["headers"].get("x-deliveryd-event-id")
                                   == rec["headers"].get("x-deliveryd-event-id"))
                    rcv.receipts.append(rec)
                    rcv.active[self.path] = rcv.active.get(self.path, 0) + 1
                    rcv.max_active[self.path] = max(rcv.max_active.get(self.path, 0),
                                                    rcv.active[self.path])
                try:
                    out = beh(rec) if beh else (200, b"ok", 0)
                    status, payload, delay = out[:3]
                    extra = out[3] if len(out) > 3 else {}
                    if delay:
                        rcv.release.wait(delay)
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(payload)))
                    for k, v in extra.items():
                        self.send_header(k, v)
                    self.end_headers()
                    try:
                        self.wfile.write(payload)
                        self.wfile.flush()
                    except OSError:
                        self.close_connection = True
                    rec["status"] = status
                finally:
                    rec["t1"] = time.time()
                    with rcv.lock:
                        rcv.active[self.path] -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path, behaviour):
        with self.lock:
            self.behaviours[path] = behaviour

    def got(self, path):
        with self.lock:
            return [r for r in self.receipts if r["path"] == path]

    def ok(self, path):
        """Answered 2xx receipts of path, in arrival order."""
        return [r for r in self.got(path) if r["status"] and 200 <= r["status"] < 300]

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def eid(rec):
    return int(rec["headers"]["x-deliveryd-event-id"])


def verify(rec, secret):
    """The receiver's side of docs/integrations.md."""
    ts = rec["headers"]["x-deliveryd-timestamp"]
    sig = rec["headers"]["x-deliveryd-signature"]
    mac = hmac.new(secret.encode(), ts.encode() + b"." + rec["body"], hashlib.sha256).hexdigest()
    return sig == "sha256=" + mac and abs(time.time() - int(ts)) < 300


# --- fixtures ---------------------------------------------------------------

@pytest.fixture(scope="module")
def wh(pg, cli, start_daemon):
    pg.create_database(DB)
    url = pg.url.rsplit("/", 1)[0] + "/" + DB
    env = {"DATABASE_URL": url, "REDIS_URL": None, "WEBHOOK_ALLOW_PRIVATE": "1"}
    r = cli("migrate", env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    password = secrets.token_urlsafe(18)
    r = cli("create-user", "--username", "whadmin", "--role", "admin", input=password + "\n",
            env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    mpass = secrets.token_urlsafe(18)
    r = cli("create-user", "--username", "whmanager", "--role", "manager", input=mpass + "\n",
            env=env)
    assert r.returncode == 0, r.stdout + r.stderr

    class W:
        pass

    w = W()
    w.env = env
    w.sql = lambda q: pg.sql(q, db=DB)
    w.start = lambda **kw: start_daemon(**{**env, **kw})
    w.a = w.start()
    w.admin = Api(w.a.url()).as_user("whadmin", password)
    w.manager = Api(w.a.url()).as_user("whmanager", mpass)
    w.password = password
    w.rcv = Receiver()
    w.sql("UPDATE settings SET value = '1' WHERE key = 'webhook_retry_base_seconds'")
    yield w
    w.rcv.close()
    w.admin.close()
    w.manager.close()


@pytest.fixture
def subscribe(wh):
    """subscribe(path, events) -> the 201 body; deleted after the test."""
    made = []

    def make(path, events, **extra):
        r = wh.admin.post(SUBS, json={"url": wh.rcv.url(path), "events": events, **extra})
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
        return r.json()

    yield make
    for sid in made:
        wh.admin.delete(f"{SUBS}/{sid}")
    wh.sql("UPDATE settings SET value = '12' WHERE key = 'webhook_max_attempts'")
    wh.sql("UPDATE settings SET value = '1' WHERE key = 'webhook_retry_base_seconds'")


_order_ids = iter(range(9_000_000, 10_000_000))


def new_order_id():
    return next(_order_ids)


def event(wh, type_, order_id=None, data=None):
    """Inserts one event as a change's statement would; returns its id."""
    data = data if data is not None else {"order": {"id": order_id, "status": type_.split(".")[1]}}
    oid = "NULL" if order_id is None else str(int(order_id))
    q = ("INSERT INTO events (type, order_id, warehouse_id, data) VALUES "
         f"('{type_}', {oid}, NULL, '{json.dumps(data)}'::jsonb) RETURNING id")
    return int(wh.sql(q))


def deliveries(wh, sid, status=None):
    q = f"?status={status}&page_size=500" if status else "?page_size=500"
    r = wh.admin.get(f"{SUBS}/{sid}/deliveries{q}")
    assert r.status_code == 200, r.text
    return r.json()["items"]


def count(wh, sid, status):
    r = wh.admin.get(f"{SUBS}/{sid}/deliveries?status={status}&page_size=1")
    assert r.status_code == 200, r.text
    return r.json()["total"]


def wait_status(wh, sid, n, status, timeout):
    poll(lambda: count(wh, sid, status) >= n or None, timeout,
         what=f"{n} {status} deliveries of subscription {sid}")
    return deliveries(wh, sid, status)


# --- subscriptions ------------------------------------------------------------

def test_subscription_lifecycle_secret_only_in_the_create_answer(wh, subscribe):
    made = subscribe("/crud", ["order.*", "payment.settled"], description="ERP")
    assert re.fullmatch(r"[0-9a-f]{64}", made["secret"])
    assert made["events"] == ["order.*", "payment.settled"]
    assert made["is_active"] is True and made["description"] == "ERP"
    assert set(made) >= {"id", "url", "events", "description", "is_active", "secret", "created_at"}
    listed = wh.admin.get(SUBS)
    assert listed.status_code == 200
    mine = [s for s in listed.json() if s["id"] == made["id"]]
    assert len(mine) == 1 and "secret" not in mine[0]
    assert "secret" not in listed.text or made["secret"] not in listed.text

    r = wh.admin.patch(f"{SUBS}/{made['id']}",
                       json={"events": ["*"], "is_active": False, "description": None})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["events"] == ["*"] and body["is_active"] is False and body["description"] is None
    assert "secret" not in body
    r = wh.admin.patch(f"{SUBS}/{made['id']}", json={"url": wh.rcv.url("/crud2")})
    assert r.status_code == 200 and r.json()["url"].endswith("/crud2")
    assert r.json()["events"] == ["*"]

    assert_problem(wh.admin.patch(f"{SUBS}/999999", json={"is_active": True}), 404)
    assert_problem(wh.admin.get(f"{SUBS}/999999/deliveries"), 404)
    assert wh.admin.delete(f"{SUBS}/{made['id']}").status_code == 204
    assert_problem(wh.admin.delete(f"{SUBS}/{made['id']}"), 404)


def test_only_admins_manage_subscriptions(wh):
    assert_problem(wh.manager.get(SUBS), 403)
    assert_problem(wh.manager.post(SUBS, json={"url": "http://example.com/", "events": ["*"]}), 403)
    assert_problem(Api(wh.a.url()).get(SUBS), 401)


@pytest.mark.parametrize("body,field", [
    ({"url": "ftp://example.com/x", "events": ["*"]}, "url"),
    ({"url": "file:///etc/passwd", "events": ["*"]}, "url"),
    ({"url": "http://user:pw@example.com/", "events": ["*"]}, "url"),
    ({"url": "http://example.com/" + "a" * 2100, "events": ["*"]}, "url"),
    ({"url": "not a url", "events": ["*"]}, "url"),
    ({"events": ["*"]}, "url"),
    ({"url": "http://example.com/"}, "events"),
    ({"url": "http://example.com/", "events": []}, "events"),
    ({"url": "http://example.com/", "events": "order.*"}, "events"),
    ({"url": "http://example.com/", "events": ["order.teleported"]}, "events"),
    ({"url": "http://example.com/", "events": ["order"]}, "events"),
    ({"url": "http://example.com/", "events": ["ord*"]}, "events"),
    ({"url": "http://example.com/", "events": [7]}, "events"),
])
def test_subscription_validation(wh, body, field):
    p = assert_problem(wh.admin.post(SUBS, json=body), 422, "validation_failed")
    assert field in [e["field"] for e in p["errors"]], p


def test_private_addresses_refused_when_subscribing_and_when_connecting(wh):
    """Without WEBHOOK_ALLOW_PRIVATE: 422 for hosts that resolve to loopback,
    private, link-local, CGNAT, multicast or unspecified addresses; and a
    stored URL (say DNS now answers 127.0.0.1) is refused at connect time."""
    strict = wh.start(WEBHOOK_ALLOW_PRIVATE=None)
    admin = Api(strict.url()).as_user("whadmin", wh.password)
    sid = None
    try:
        for url in ["http://127.0.0.1:9/x", "http://localhost/", "http://10.1.2.3/",
                    "http://172.20.0.1/", "http://192.168.1.1/", "http://169.254.169.254/latest",
                    "http://100.64.0.1/", "http://0.0.0.0/", "http://224.0.0.1/",
                    "http://[::1]/", "http://[fe80::1]/", "http://[fd00::1]/",
                    "http://[::ffff:127.0.0.1]/", "https://127.1/"]:
            p = assert_problem(admin.post(SUBS, json={"url": url, "events": ["*"]}), 422)
            assert [e["field"] for e in p["errors"]] == ["url"], (url, p)
        # connect time: only the strict daemon works on this database now
        wh.a.stop()
        sid = int(wh.sql("INSERT INTO webhook_subscriptions (url, events, secret) VALUES "
                         f"('{wh.rcv.url('/private')}', '{{order.*}}', repeat('ab', 32)) "
                         "RETURNING id"))
        e = event(wh, "order.created", new_order_id())

        def attempted():
            r = admin.get(f"{SUBS}/{sid}/deliveries")
            assert r.status_code == 200, r.text
            return [x for x in r.json()["items"] if x["attempts"] >= 1] or None

        d = poll(attempted, 15, what="a refused attempt")
        assert d[0]["event_id"] == e and d[0]["last_status_code"] is None
        assert "refused" in d[0]["last_error"], d[0]
        assert wh.rcv.got("/private") == []
    finally:
        admin.close()
        if sid:
            wh.sql(f"DELETE FROM webhook_subscriptions WHERE id = {sid}")
        strict.stop()
        if not wh.a.running():
            wh.a = wh.start()
            wh.admin.base = wh.a.url()
            wh.manager.base = wh.a.url()


# --- deliveries -----------------------------------------------------------------

def test_signed_payload_headers_and_delivered_record(wh, subscribe):
    sub = subscribe("/signed", ["order.*"])
    oid = new_order_id()
    data = {"order": {"id": oid, "order_number": "SO-1", "note": "بيت \"x\""}}
    e = event(wh, "order.created", oid, data)
    rec = poll(lambda: wh.rcv.ok("/signed") or None, 10, what="the delivery")[0]
    h = rec["headers"]
    assert h["content-type"] == "application/json"
    assert eid(rec) == e
    assert verify(rec, sub["secret"])
    assert not verify(rec, "0" * 64)
    body = json.loads(rec["body"])
    assert set(body) == {"id", "type", "created_at", "data"}
    assert body["id"] == e and body["type"] == "order.created" and body["data"] == data
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", body["created_at"])
    d = wait_status(wh, sub["id"], 1, "delivered", 5)[0]
    assert d["event_id"] == e and d["type"] == "order.created" and d["attempts"] == 1
    assert d["last_status_code"] == 200 and d["delivered_at"] and d["last_error"] is None
    assert d["next_attempt_at"] is None
    assert deliveries(wh, sub["id"], "pending") == [] and deliveries(wh, sub["id"], "dead") == []
    assert_problem(wh.admin.get(f"{SUBS}/{sub['id']}/deliveries?status=lost"), 422)


def test_only_subscribed_types_are_sent(wh, subscribe):
    settled = subscribe("/types-settled", ["payment.settled"])
    everything = subscribe("/types-all", ["*"])
    inactive = subscribe("/types-off", ["*"], is_active=False)
    oid = new_order_id()
    e1 = event(wh, "order.created", oid)
    e2 = event(wh, "payment.settled", oid, {"payment": {"id": 1}})
    e3 = event(wh, "import.completed", None, {"import": {"id": 5}})
    poll(lambda: len(wh.rcv.ok("/types-all")) >= 3 or None, 10, what="three deliveries to '*'")
    assert sorted(eid(r) for r in wh.rcv.ok("/types-all")) == [e1, e2, e3]
    assert [eid(r) for r in wh.rcv.ok("/types-settled")] == [e2]
    assert [d["event_id"] for d in deliveries(wh, settled["id"])] == [e2]
    assert deliveries(wh, inactive["id"]) == [] and wh.rcv.got("/types-off") == []
    assert len(wait_status(wh, everything["id"], 3, "delivered", 5)) == 3


def test_rolled_back_event_is_never_sent(wh, subscribe):
    subscribe("/rollback", ["*"])
    wh.sql("BEGIN; INSERT INTO events (type, data) VALUES ('order.created', '{}'); ROLLBACK;")
    e = event(wh, "order.updated", new_order_id())
    poll(lambda: wh.rcv.ok("/rollback") or None, 10, what="the committed event")
    time.sleep(0.5)
    assert [eid(r) for r in wh.rcv.got("/rollback")] == [e]


def test_events_written_inside_a_changes_statement_are_queued_at_its_commit(wh, subscribe):
    """A change's statement writes its events in a data-modifying CTE (one
    statement, no second round trip); the trigger sees them, and a second
    statement of the same transaction adds its own."""
    sub = subscribe("/cte", ["order.*", "payment.*"])
    oid = new_order_id()
    ids = wh.sql(
        "BEGIN;"
        " WITH ev AS (INSERT INTO events (type, order_id, data)"
        f"   SELECT t, {oid}, '{{}}' FROM unnest(ARRAY['order.assigned', 'order.picked_up']) t"
        "   RETURNING id) SELECT id FROM ev ORDER BY id;"
        f" INSERT INTO events (type, order_id, data) VALUES ('payment.recorded', {oid}, '{{}}')"
        "   RETURNING id;"
        " COMMIT;").split()
    assert len(ids) == 3
    wait_status(wh, sub["id"], 3, "delivered", 10)
    assert [eid(r) for r in wh.rcv.ok("/cte")] == [int(i) for i in ids]


def test_one_orders_events_arrive_in_order_even_after_a_failed_attempt(wh, subscribe):
    oid, other = new_order_id(), new_order_id()

    def beh(rec):  # the first attempt of the order's first event fails
        body = json.loads(rec["body"])
        if body["type"] == "order.created" and body["data"]["order"]["id"] == oid and rec["n"] == 0:
            return (500, b"try later", 0)
        return (200, b"", 0.05)

    events = []
    wh.rcv.on("/order", beh)
    subscribe("/order", ["order.*"])
    events.append(event(wh, "order.created", oid))
    for t in ["order.assigned", "order.picked_up", "order.delivered"]:
        events.append(event(wh, t, oid))
    e_other = event(wh, "order.created", other)
    poll(lambda: len(wh.rcv.ok("/order")) >= 5 or None, 15, what="five deliveries")
    got = wh.rcv.got("/order")
    ours = [r for r in got if eid(r) in events]
    # the failed first attempt, then each event once, in event order, each
    # only after the one before it was answered
    assert [eid(r) for r in ours] == [events[0]] + events
    assert ours[0]["status"] == 500 and all(r["status"] == 200 for r in ours[1:])
    for a, b in zip(ours[1:], ours[2:]):
        assert b["t0"] >= a["t1"], "an event was sent before the one before it was answered"
    # another order's event did not wait for the retry of the first
    other_rec = [r for r in got if eid(r) == e_other][0]
    assert other_rec["t0"] < ours[1]["t0"]


def test_retried_with_the_same_event_until_delivered(wh, subscribe):
    wh.rcv.on("/flaky", lambda rec: (503, b"busy", 0) if rec["n"] < 2 else (200, b"", 0))
    sub = subscribe("/flaky", ["payment.*"])
    e = event(wh, "payment.recorded", None, {"payment": {"id": 42, "amount": "5.000"}})
    d = wait_status(wh, sub["id"], 1, "delivered", 15)[0]
    got = wh.rcv.got("/flaky")
    assert [r["status"] for r in got] == [503, 503, 200]
    assert {eid(r) for r in got} == {e} and len({r["body"] for r in got}) == 1
    assert all(verify(r, sub["secret"]) for r in got)
    # backoff: base 1 s, then 2 s
    assert got[1]["t0"] - got[0]["t0"] >= 0.9
    assert got[2]["t0"] - got[1]["t0"] >= 1.9
    assert d["attempts"] == 3 and d["last_status_code"] == 200


def test_dead_after_the_last_attempt_then_a_manual_retry(wh, subscribe):
    assert_problem(wh.admin.put(f"{V1}/settings/webhook_max_attempts", json={"value": 0}), 422)
    assert_problem(wh.admin.put(f"{V1}/settings/webhook_retry_base_seconds", json={"value": 0}),
                   422)
    r = wh.admin.put(f"{V1}/settings/webhook_max_attempts", json={"value": 2})
    assert r.status_code == 200, r.text
    answer = {"status": 500}
    wh.rcv.on("/dead", lambda rec: (answer["status"], b"no", 0))
    sub = subscribe("/dead", ["order.*"])
    e = event(wh, "order.failed", new_order_id())
    d = wait_status(wh, sub["id"], 1, "dead", 15)[0]
    assert d["event_id"] == e and d["attempts"] == 2 and d["last_status_code"] == 500
    assert d["last_error"] == "HTTP 500" and d["next_attempt_at"] is None
    assert len(wh.rcv.got("/dead")) == 2
    time.sleep(1.5)
    assert len(wh.rcv.got("/dead")) == 2, "a dead delivery was sent again"

    answer["status"] = 204
    r = wh.admin.post(f"{V1}/webhooks/deliveries/{d['id']}/retry")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending" and r.json()["attempts"] == 0
    done = wait_status(wh, sub["id"], 1, "delivered", 10)[0]
    assert done["id"] == d["id"] and done["last_status_code"] == 204
    assert [eid(x) for x in wh.rcv.got("/dead")] == [e, e, e]
    assert_problem(wh.admin.post(f"{V1}/webhooks/deliveries/{d['id']}/retry"), 409, "conflict")
    assert_problem(wh.admin.post(f"{V1}/webhooks/deliveries/99999999/retry"), 404)
    assert_problem(wh.manager.post(f"{V1}/webhooks/deliveries/{d['id']}/retry"), 403)


def test_redirects_client_errors_huge_bodies_and_refused_connections(wh, subscribe):
    wh.sql("UPDATE settings SET value = '1' WHERE key = 'webhook_max_attempts'")
    wh.rcv.on("/redirect", lambda rec: (302, b"", 0, {"Location": wh.rcv.url("/target")}))
    wh.rcv.on("/gone", lambda rec: (410, b"gone", 0))
    wh.rcv.on("/error", lambda rec: (500, b"x" * 1000, 0))
    wh.rcv.on("/huge", lambda rec: (200, b"y" * (8 << 20), 0))
    subs = {p: subscribe(p, ["order.*"]) for p in ["/redirect", "/gone", "/error", "/huge"]}
    closed = free_port()
    r = wh.admin.post(SUBS, json={"url": f"http://127.0.0.1:{closed}/nobody", "events": ["order.*"]})
    assert r.status_code == 201
    refused = r.json()
    try:
        event(wh, "order.created", new_order_id())
        for p in ["/redirect", "/gone", "/error"]:
            d = wait_status(wh, subs[p]["id"], 1, "dead", 10)[0]
            assert d["last_status_code"] == {"/redirect": 302, "/gone": 410, "/error": 500}[p]
        assert wh.rcv.got("/target") == [], "a redirect was followed"
        d = wait_status(wh, subs["/huge"]["id"], 1, "delivered", 10)[0]
        assert d["last_status_code"] == 200
        d = wait_status(wh, refused["id"], 1, "dead", 15)[0]
        assert d["last_status_code"] is None and d["last_error"]
        assert wh.a.running()
    finally:
        wh.admin.delete(f"{SUBS}/{refused['id']}")


def test_a_hanging_subscriber_slows_neither_the_api_nor_the_others(wh, subscribe):
    """The hanging receiver answers after 12 s, beyond the 10 s timeout."""
    wh.sql("UPDATE settings SET value = '1' WHERE key = 'webhook_max_attempts'")
    wh.rcv.on("/hang", lambda rec: (200, b"", 12))
    hang = subscribe("/hang", ["order.*"])
    fast = subscribe("/fast", ["order.*"])
    t0 = time.time()
    first = [event(wh, "order.created", new_order_id()) for _ in range(6)]
    poll(lambda: len(wh.rcv.ok("/fast")) >= 6 or None, 5, what="the fast subscriber's six")
    assert time.time() - t0 < 5
    # later events reach the fast one at once, while the other hangs
    t1 = time.time()
    later = event(wh, "order.updated", new_order_id())
    poll(lambda: later in [eid(r) for r in wh.rcv.ok("/fast")] or None, 3, what="a later event")
    assert time.time() - t1 < 2.5
    h0 = time.time()
    assert wh.admin.get(SUBS).status_code == 200 and time.time() - h0 < 1
    # at most 4 transfers of one subscription at once
    assert wh.rcv.max_active.get("/hang", 0) == 4
    dead = wait_status(wh, hang["id"], 4, "dead", 14)
    assert all(d["last_status_code"] is None and "timed out" in d["last_error"] for d in dead)
    assert len(deliveries(wh, fast["id"], "delivered")) == 7
    assert first  # six events were made


def test_two_daemons_share_the_work_without_sending_an_event_twice(wh, subscribe):
    b = wh.start()
    try:
        wh.rcv.on("/shared", lambda rec: (200, b"", 0.01))
        sub = subscribe("/shared", ["order.*"])
        ids = wh.sql("INSERT INTO events (type, order_id, data) "
                     "SELECT 'order.created', 8000000 + g, '{}' FROM generate_series(1, 300) g "
                     "RETURNING id").split()
        wait_status(wh, sub["id"], 300, "delivered", 30)
        got = wh.rcv.got("/shared")
        assert sorted(eid(r) for r in got) == sorted(int(i) for i in ids)
    finally:
        b.stop()


def test_sigterm_with_deliveries_in_flight_loses_none(wh, subscribe):
    """Only daemon C works while it stops: the slow subscriber's transfers
    finish within the grace period and are recorded; the hung ones are
    aborted and stay pending, due at once; the next daemon sends them."""
    wh.a.stop()
    c = wh.start()
    wh.admin.base = c.url()
    try:
        mode = {"hang": True}
        wh.rcv.on("/slow", lambda rec: (200, b"", 1.5))
        wh.rcv.on("/stuck", lambda rec: (200, b"", 9) if mode["hang"] else (200, b"", 0))
        slow = subscribe("/slow", ["order.*"])
        stuck = subscribe("/stuck", ["order.*"])
        evs = [event(wh, "order.created", new_order_id()) for _ in range(3)]
        poll(lambda: len(wh.rcv.got("/stuck")) >= 3 and len(wh.rcv.got("/slow")) >= 3 or None, 5,
             what="transfers in flight")
        t = time.time()
        assert c.stop(timeout=15) == 0
        assert time.time() - t < 9, "the stop waited for the hung subscriber"
        assert wh.sql(f"SELECT count(*) FROM webhook_deliveries WHERE subscription_id = "
                      f"{slow['id']} AND status = 'delivered'") == "3"
        # unfinished: pending, no attempt counted, due at once (lease released)
        assert wh.sql(f"SELECT count(*) FROM webhook_deliveries WHERE subscription_id = "
                      f"{stuck['id']} AND status = 'pending' AND attempts = 0 "
                      "AND next_attempt_at <= now()") == "3"
        mode["hang"] = False
        wh.a = wh.start()
        wh.admin.base = wh.a.url()
        wh.manager.base = wh.a.url()
        wait_status(wh, stuck["id"], 3, "delivered", 10)
        assert sorted({eid(r) for r in wh.rcv.ok("/stuck")}) == sorted(evs)
    finally:
        if c.running():
            c.stop()
        if not wh.a.running():
            wh.a = wh.start()
            wh.admin.base = wh.a.url()
            wh.manager.base = wh.a.url()


# --- end to end: a change through the API reaches the subscriber ----------------------

def test_a_change_through_the_api_reaches_the_subscriber_with_its_order(wh, subscribe):
    """The outbox writers (POST and PATCH /orders) and the delivery worker
    together: the receiver gets order.created then order.updated, signed,
    each with the order as GET /orders/{id} renders it after that change."""
    sub = subscribe("/e2e", ["order.*"])
    w = wh.admin.post(V1 + "/warehouses", json={"code": "E2E" + secrets.token_hex(3).upper(),
                                                 "name": "E2E warehouse"})
    assert w.status_code == 201, w.text
    r = wh.admin.post(V1 + "/orders", json={
        "customer_name": "Webhook Customer", "customer_phone": "55512345",
        "warehouse_id": w.json()["id"], "area": "Salmiya", "amount": "3.250"})
    assert r.status_code == 201, r.text
    created = r.json()
    p = wh.admin.patch(f"{V1}/orders/{created['id']}", json={"notes": "ring twice"})
    assert p.status_code == 200, p.text
    recs = poll(lambda: (lambda got: got if len(got) >= 2 else None)(wh.rcv.ok("/e2e")), 15,
                what="two deliveries")
    bodies = [json.loads(x["body"]) for x in recs[:2]]
    assert [b["type"] for b in bodies] == ["order.created", "order.updated"]
    assert all(verify(x, sub["secret"]) for x in recs[:2])
    assert bodies[0]["data"]["order"] == created
    assert bodies[1]["data"]["order"] == p.json()
    assert bodies[0]["id"] < bodies[1]["id"]
