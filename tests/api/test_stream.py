"""The live stream (issue 19, API.md "Live stream"): GET /api/v1/stream as
text/event-stream; order events from the outbox (made on any instance),
replay by Last-Event-ID and `event: reset`, driver positions, scope, the
ticket, the client limit, a client that does not read, deactivation and
SIGTERM. Streams are read over raw sockets with bounded timeouts."""

import json
import secrets
import signal
import socket
import threading
import time
from datetime import datetime, timezone

import pytest

from helpers import Api, new_manager, order_body, uniq
from ops_helpers import *  # noqa: F401,F403

STREAM = V1 + "/stream"
TICKET = V1 + "/stream/ticket"


class SSE:
    """A stream read over a raw socket (HTTP/1.1, chunked)."""

    def __init__(self, port, path=STREAM, token=None, headers=None, rcvbuf=None, timeout=5.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        h = {"Host": "127.0.0.1", "Accept": "text/event-stream"}
        if token:
            h["Authorization"] = "Bearer " + token
        h.update(headers or {})
        req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
        self.sock.sendall(req.encode())
        self.raw = b""
        self.text = ""
        self.ended = False  # the final chunk, or the connection closed
        self.status = None
        self.headers = {}
        self.body = b""
        if rcvbuf is None:
            self._read_head(timeout)

    def _recv(self, timeout):
        self.sock.settimeout(max(timeout, 0.05))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return None
        except OSError:
            data = b""
        if not data:
            self.ended = True
        return data

    def _read_head(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.raw:
            data = self._recv(deadline - time.monotonic())
            if not data:
                raise AssertionError(f"no response head: {self.raw!r}")
            self.raw += data
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        for line in lines[1:]:
            k, v = line.split(":", 1)
            self.headers[k.strip().lower()] = v.strip()
        if self.status != 200:
            n = int(self.headers.get("content-length", "0"))
            while len(self.raw) < n:
                data = self._recv(deadline - time.monotonic())
                if not data:
                    break
                self.raw += data
            self.body = self.raw[:n]

    def _dechunk(self):
        while True:
            i = self.raw.find(b"\r\n")
            if i < 0:
                return
            size = int(self.raw[:i].split(b";")[0], 16)
            if size == 0:
                self.ended = True
                self.raw = b""
                return
            if len(self.raw) < i + 2 + size + 2:
                return
            self.text += self.raw[i + 2:i + 2 + size].decode()
            self.raw = self.raw[i + 2 + size + 2:]

    def next(self, timeout=5.0):
        """The next event as a dict (event, id, data, comments) or None."""
        deadline = time.monotonic() + timeout
        while True:
            self._dechunk()
            if "\n\n" in self.text:
                block, self.text = self.text.split("\n\n", 1)
                ev = {"event": "message", "id": None, "data": None, "comments": []}
                datas = []
                for line in block.split("\n"):
                    if line.startswith(":"):
                        ev["comments"].append(line[1:].strip())
                        continue
                    k, _, v = line.partition(":")
                    v = v[1:] if v.startswith(" ") else v
                    if k == "data":
                        datas.append(v)
                    elif k in ("event", "id", "retry"):
                        ev[k] = v
                if datas:
                    ev["data"] = json.loads("\n".join(datas))
                return ev
            if self.ended or time.monotonic() >= deadline:
                return None
            data = self._recv(min(1.0, deadline - time.monotonic()))
            if data:
                self.raw += data

    def until(self, pred, timeout=8.0, what="event"):
        """Events read until pred(ev); returns (matching event, all read)."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ev = self.next(deadline - time.monotonic())
            if ev is None:
                if self.ended:
                    break
                continue
            seen.append(ev)
            if pred(ev):
                return ev, seen
        raise AssertionError(f"no {what} within {timeout} s (ended={self.ended}); saw "
                             f"{len(seen)} events, the last: {str(seen[-2:])[:1500]}")

    def wait_end(self, timeout):
        deadline = time.monotonic() + timeout
        while not self.ended and time.monotonic() < deadline:
            self.next(deadline - time.monotonic())
        return self.ended

    def close(self):
        self.sock.close()


def token_of(client):
    return client.session.headers["Authorization"].split(" ", 1)[1]


def order_events(pg, order_id):
    out = pg.sql(f"SELECT id FROM events WHERE order_id = {int(order_id)} "
                 "AND type LIKE 'order.%' ORDER BY id")
    return [int(x) for x in out.split()]


def is_order(oid):
    return lambda ev: ev["event"] == "order" and ev["data"]["id"] == oid


@pytest.fixture(scope="module")
def world(ops):
    return ops.two_warehouses()


@pytest.fixture
def streams():
    opened = []
    yield opened
    for s in opened:
        s.close()


def open_stream(streams, port, client=None, **kw):
    s = SSE(port, token=token_of(client) if client else None, **kw)
    streams.append(s)
    return s


# --- access ---------------------------------------------------------------------

def test_a_driver_gets_403_and_no_token_401(daemon, world, streams):
    s = open_stream(streams, daemon.port, world.drv_client)
    assert s.status == 403, s.body
    s = open_stream(streams, daemon.port)
    assert s.status == 401, s.body


def test_the_stream_answers_event_stream_unbuffered(daemon, ops, streams):
    s = open_stream(streams, daemon.port, ops.admin)
    assert s.status == 200
    assert s.headers["content-type"].startswith("text/event-stream")
    assert s.headers["x-accel-buffering"] == "no"
    assert s.headers["cache-control"] == "no-store"
    first = s.next(3)
    assert first is not None and first.get("retry") == "3000"


def test_a_ticket_works_once(daemon, world, streams, pg):
    r = world.mgr.post(TICKET)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"ticket", "expires_in"} and body["expires_in"] == 30
    s = open_stream(streams, daemon.port, path=f"{STREAM}?ticket={body['ticket']}")
    assert s.status == 200
    # a scoped manager's ticket streams as that manager: their warehouse only
    o = world.mgr.ok("POST", V1 + "/orders", status=201,
                     json=order_body(world.wh["id"], order_number=uniq("STK")))
    s.until(is_order(o["id"]), what="the manager's order")
    again = open_stream(streams, daemon.port, path=f"{STREAM}?ticket={body['ticket']}")
    assert again.status == 401
    bogus = open_stream(streams, daemon.port, path=f"{STREAM}?ticket={'0' * 64}")
    assert bogus.status == 401


def test_a_ticket_expires_after_30_s(daemon, world, streams, pg):
    t = world.boss.ok("POST", TICKET)["ticket"]
    pg.sql(f"UPDATE stream_tickets SET expires_at = now() - interval '1 second' "
           f"WHERE ticket_hash = sha256(convert_to('{t}', 'UTF8'))")
    s = open_stream(streams, daemon.port, path=f"{STREAM}?ticket={t}")
    assert s.status == 401
    assert "expired" in json.loads(s.body)["detail"]


def test_a_driver_gets_no_ticket(world):
    assert world.drv_client.post(TICKET).status_code == 403


# --- order events ---------------------------------------------------------------

def test_a_change_on_another_instance_arrives_as_an_order_event(daemon, start_daemon, ops,
                                                                streams, pg):
    s = open_stream(streams, daemon.port, ops.admin)
    assert s.status == 200
    other = start_daemon()
    c = Api(other.url(), token_of(ops.admin))
    wh = ops.warehouse()
    t0 = time.monotonic()
    r = c.post(V1 + "/orders", json=order_body(wh["id"], order_number=uniq("SOTH")))
    assert r.status_code == 201, r.text
    o = r.json()
    ev, _ = s.until(is_order(o["id"]), what="the order made on the other instance")
    assert time.monotonic() - t0 < 3
    assert int(ev["id"]) == order_events(pg, o["id"])[0]
    assert ev["data"] == ops.admin.ok("GET", f"{V1}/orders/{o['id']}")
    r = c.patch(f"{V1}/orders/{o['id']}", json={"customer_name": "Changed Elsewhere"})
    assert r.status_code == 200, r.text
    ev2, _ = s.until(is_order(o["id"]), what="the patch")
    assert ev2["data"]["customer_name"] == "Changed Elsewhere"
    assert int(ev2["id"]) == order_events(pg, o["id"])[1] > int(ev["id"])
    c.close()


def test_last_event_id_replays_what_was_missed(daemon, ops, streams, pg):
    wh = ops.warehouse()
    o = ops.new_order(ops.admin, wh["id"])
    first = order_events(pg, o["id"])[-1]
    for name in ("Missed One", "Missed Two"):
        ops.admin.ok("PATCH", f"{V1}/orders/{o['id']}", json={"customer_name": name})
    missed = order_events(pg, o["id"])[1:]
    assert len(missed) == 2
    # the header (what EventSource sends) and the query parameter
    for kw in ({"headers": {"Last-Event-ID": str(first)}},
               {"path": f"{STREAM}?last_event_id={first}"}):
        s = open_stream(streams, daemon.port, ops.admin, **kw)
        got = []
        while len(got) < 2:
            ev, _ = s.until(lambda e: e["event"] in ("order", "reset"), what="a replayed event")
            assert ev["event"] == "order"
            if ev["data"]["id"] == o["id"]:
                got.append(ev)
        assert [int(e["id"]) for e in got] == missed
        assert [e["data"]["customer_name"] for e in got] == ["Missed One", "Missed Two"]
        s.close()


def test_an_id_older_than_the_oldest_kept_event_gets_reset(daemon, ops, streams, pg):
    ops.new_order(ops.admin, ops.warehouse()["id"])
    # the session's very first event goes, as purge-events would remove it
    while int(pg.sql("SELECT min(id) FROM events").strip()) <= 1:
        pg.sql("DELETE FROM events WHERE id = (SELECT min(id) FROM events)")
    s = open_stream(streams, daemon.port, ops.admin, headers={"Last-Event-ID": "0"})
    ev, _ = s.until(lambda e: e["event"] != "message", what="reset")
    assert ev["event"] == "reset" and ev["data"] == {}


# --- scope and driver positions -------------------------------------------------

def test_a_scoped_manager_sees_only_their_warehouse(daemon, ops, world, streams):
    s = open_stream(streams, daemon.port, world.mgr)
    assert s.status == 200
    theirs = ops.new_order(ops.admin, world.wh["id"])
    other = ops.new_order(ops.admin, world.wh2["id"])
    d2, d2_client = ops.driver(world.wh2["id"])
    now = datetime.now(timezone.utc).isoformat()
    d2_client.ok("POST", V1 + "/drivers/location", status=202,
                 json={"latitude": 29.1, "longitude": 48.1, "recorded_at": now})
    world.drv_client.ok("POST", V1 + "/drivers/location", status=202,
                        json={"latitude": 29.2, "longitude": 48.2, "recorded_at": now})
    marker = ops.new_order(ops.admin, world.wh["id"])
    _, seen = s.until(is_order(marker["id"]), what="the marker order")
    _, more = s.until(lambda e: e["event"] == "driver_location"
                      and e["data"]["driver_id"] == world.drv["id"], what="their driver's point")
    seen += more
    orders = {e["data"]["id"] for e in seen if e["event"] == "order"}
    drivers = {e["data"]["driver_id"] for e in seen if e["event"] == "driver_location"}
    assert theirs["id"] in orders and other["id"] not in orders
    assert d2["id"] not in drivers


def test_a_driver_location_event_after_a_point(daemon, ops, world, streams):
    s = open_stream(streams, daemon.port, world.boss)
    drv, drv_client = ops.driver(world.wh["id"])
    t = datetime.now(timezone.utc).replace(microsecond=0)
    drv_client.ok("POST", V1 + "/drivers/location", status=202,
                  json={"latitude": 29.3759, "longitude": 47.9774, "recorded_at": t.isoformat()})
    ev, _ = s.until(lambda e: e["event"] == "driver_location"
                    and e["data"]["driver_id"] == drv["id"], what="driver_location")
    assert set(ev["data"]) == {"driver_id", "latitude", "longitude", "recorded_at"}
    assert (ev["data"]["latitude"], ev["data"]["longitude"]) == (29.3759, 47.9774)
    assert ev["id"] is None


# --- limits -----------------------------------------------------------------------

def test_past_stream_max_clients_is_503_with_retry_after(start_daemon, ops, streams):
    d = start_daemon(STREAM_MAX_CLIENTS=2)
    a = open_stream(streams, d.port, ops.admin)
    b = open_stream(streams, d.port, ops.admin)
    assert (a.status, b.status) == (200, 200)
    c = open_stream(streams, d.port, ops.admin)
    assert c.status == 503 and int(c.headers["retry-after"]) > 0
    a.close()
    deadline = time.monotonic() + 3
    while True:  # the slot frees once the daemon sees the close
        e = open_stream(streams, d.port, ops.admin)
        if e.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert e.status == 200


def test_a_client_that_does_not_read_is_dropped_while_another_receives(start_daemon, ops,
                                                                       streams):
    d = start_daemon(STREAM_QUEUE_BYTES=8192)
    slow = open_stream(streams, d.port, ops.admin, rcvbuf=4096)
    fast = open_stream(streams, d.port, ops.admin)
    assert fast.status == 200
    c = Api(d.url(), token_of(ops.admin))
    wh = ops.warehouse()
    o = ops.new_order(ops.admin, wh["id"])
    final = "Name final " + secrets.token_hex(8)
    result = {}

    def read_fast():  # the reading client reads all along
        try:
            result["ev"] = fast.until(lambda e: e["event"] == "order"
                                      and e["data"]["customer_name"] == final,
                                      timeout=60, what="the last change on the reading stream")
        except AssertionError as e:
            result["error"] = str(e)

    reader = threading.Thread(target=read_fast)
    reader.start()
    for i in range(300):
        r = c.patch(f"{V1}/orders/{o['id']}",
                    json={"customer_name": f"Name {i} " + secrets.token_hex(40)})
        assert r.status_code == 200, r.text
    assert c.patch(f"{V1}/orders/{o['id']}", json={"customer_name": final}).status_code == 200
    reader.join(70)
    assert "ev" in result, result.get("error")
    # the other one was cut: reading it now finds the end
    slow.sock.settimeout(5)
    got, deadline = 0, time.monotonic() + 10
    ended = False
    while time.monotonic() < deadline:
        try:
            data = slow.sock.recv(65536)
        except socket.timeout:
            break
        except OSError:
            ended = True
            break
        if not data:
            ended = True
            break
        got += len(data)
    assert ended, f"the stream that did not read was not dropped ({got} bytes read later)"
    assert "dropped" in d.log_text()
    c.close()


def test_a_deactivated_managers_stream_ends_within_2_s(daemon, ops, streams):
    user, mgr = new_manager(ops.admin, "stmgr")
    s = open_stream(streams, daemon.port, mgr)
    assert s.status == 200
    assert s.next(3) is not None
    ops.admin.ok("PATCH", f"{V1}/users/{user['id']}", json={"is_active": False})
    t0 = time.monotonic()
    assert s.wait_end(4), "the stream of a deactivated manager goes on"
    assert time.monotonic() - t0 < 2.5


def test_sigterm_ends_streams_and_exits_0(start_daemon, ops, streams):
    d = start_daemon()
    a = open_stream(streams, d.port, ops.admin)
    b = open_stream(streams, d.port, ops.admin)
    assert a.next(3) is not None and b.next(3) is not None
    t0 = time.monotonic()
    d.send_signal(signal.SIGTERM)
    assert a.wait_end(5) and b.wait_end(5), "streams did not end after SIGTERM"
    assert d.wait(15) == 0
    assert time.monotonic() - t0 < 10
