"""Faults between the daemon and its neighbours, through real processes:

- the PostgreSQL connection cut right after a statement committed (a
  pooler restart, a network reset): the daemon must not run the write a
  second time on a new connection; it answers 503 with Retry-After, and an
  Idempotency-Key makes the client's retry safe;
- POST /orders with an Idempotency-Key: a retry, racing retries, another
  body under the same key;
- one address holding connections open (slowloris): a per-address limit
  and a deadline for the whole request head keep everyone else served.
"""

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from fault_proxy import CuttingProxy
from field_helpers import *  # noqa: F401,F403 - fixtures and helpers
from field_helpers import TokenClient
from helpers import (V1, assert_problem, get_order, mint_access_token, order_body, uniq)
import secrets


@pytest.fixture(scope="module")
def proxied(start_daemon, pg, fw, test_session):
    """A daemon whose database connections go through a CuttingProxy, and a
    manager's client on it (a token minted for fw's unscoped manager)."""
    proxy = CuttingProxy(pg.port).start()
    d = start_daemon(DATABASE_URL=proxy.url(pg.dbname), THREADS=2)
    mgr = TokenClient(d.url(), mint_access_token(test_session.jwt_secret, fw.mgr.id, "manager"))
    yield proxy, d, mgr
    mgr.close()
    d.stop()
    proxy.stop()


def count(pg, sql):
    return int(pg.sql(sql))


def test_a_write_cut_after_commit_is_not_done_twice(proxied, pg, fw):
    proxy, _, mgr = proxied
    name = "Cut " + secrets.token_hex(4)
    proxy.arm(b"INSERT INTO orders")
    r = mgr.post(V1 + "/orders", json=order_body(fw.wh_a["id"], customer_name=name))
    assert proxy.cuts == 1, "the proxy did not cut the statement's answer"
    assert_problem(r, 503, "unavailable")
    assert r.headers.get("Retry-After", "").isdigit(), r.headers
    # the statement committed once, and only once
    assert count(pg, f"SELECT count(*) FROM orders WHERE customer_name = '{name}'") == 1
    # the daemon is fine afterwards
    assert mgr.get(V1 + "/orders", params={"q": name}).json()["total"] == 1


def test_an_order_number_cut_after_commit_is_not_a_duplicate(proxied, pg, fw):
    proxy, _, mgr = proxied
    number = uniq("CUT").upper()
    proxy.arm(number.encode())
    r = mgr.post(V1 + "/orders", json=order_body(fw.wh_a["id"], order_number=number))
    assert proxy.cuts >= 1
    # before: retried on a new connection, the second insert hit the unique
    # number and the client was told 409 duplicate for its own order
    assert_problem(r, 503, "unavailable")
    assert count(pg, f"SELECT count(*) FROM orders WHERE order_number = '{number}'") == 1


def test_idempotency_key_makes_the_retry_after_a_cut_safe(proxied, pg, fw):
    proxy, _, mgr = proxied
    name = "Retry " + secrets.token_hex(4)
    body = order_body(fw.wh_a["id"], customer_name=name)
    key = "k-" + secrets.token_hex(8)
    proxy.arm(b"INSERT INTO orders")
    first = mgr.post(V1 + "/orders", json=body, headers={"Idempotency-Key": key})
    assert_problem(first, 503, "unavailable")
    again = mgr.post(V1 + "/orders", json=body, headers={"Idempotency-Key": key})
    assert again.status_code == 201, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["customer_name"] == name
    assert count(pg, f"SELECT count(*) FROM orders WHERE customer_name = '{name}'") == 1


def test_a_payment_cut_after_commit_is_recorded_once(proxied, pg, fw):
    proxy, _, mgr = proxied
    d, _ = fw.driver()
    o = fw.order_in("picked_up", d)
    proxy.arm(b"INSERT INTO payment_collections")
    r = mgr.post(f"{V1}/orders/{o['id']}/payment", json={"method": "cash", "amount": "12.500"})
    assert proxy.cuts >= 1
    assert_problem(r, 503, "unavailable")
    assert count(pg, f"SELECT count(*) FROM payment_collections WHERE order_id = {o['id']}") == 1


def test_a_deliver_cut_while_preparing_runs_once(proxied, pg, fw):
    """The action statements are prepared: a cut during the prepare is a
    statement that never ran, which is safe to run on a new connection."""
    proxy, _, mgr = proxied
    d, _ = fw.driver()
    o = fw.order_in("picked_up", d)
    before = proxy.cuts
    proxy.arm(b"delivered_at = now()")
    r = mgr.post(f"{V1}/orders/{o['id']}/deliver",
                 json={"payment": {"method": "cash", "amount": "12.500"}})
    proxy.arm(None)
    # never "409 invalid_transition" for a deliver that happened
    assert r.status_code in (200, 503), r.text
    if proxy.cuts > before and r.status_code == 503:
        assert r.headers.get("Retry-After")
    assert get_order(fw.mgr, o["id"])["status"] == "delivered"
    assert count(pg, f"SELECT count(*) FROM payment_collections WHERE order_id = {o['id']}") == 1


# --- Idempotency-Key on POST /orders, without faults ---------------------------------

def test_order_idempotency_key_replays_and_guards(fw, pg):
    body = order_body(fw.wh_a["id"])
    key = "order-" + secrets.token_hex(6)
    first = fw.mgr.post(V1 + "/orders", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    again = fw.mgr.post(V1 + "/orders", json=body, headers={"Idempotency-Key": key})
    assert again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    # the same key with another body is not a replay
    other = fw.mgr.post(V1 + "/orders", json=dict(body, notes="changed"),
                        headers={"Idempotency-Key": key})
    assert_problem(other, 409, "conflict")
    # another user's key space is their own
    mine = fw.manager().post(V1 + "/orders", json=body, headers={"Idempotency-Key": key})
    assert mine.status_code == 201 and mine.json()["id"] != first.json()["id"]
    # bad keys are 400
    assert_problem(fw.mgr.post(V1 + "/orders", json=body, headers={"Idempotency-Key": "x" * 129}),
                   400, "bad_request")


@pytest.mark.parametrize("with_number", [False, True])
def test_racing_retries_with_one_key_create_one_order(fw, pg, with_number):
    extra = {"order_number": uniq("RACE").upper()} if with_number else {}
    body = order_body(fw.wh_a["id"], **extra)
    key = "race-" + secrets.token_hex(6)
    clients = [TokenClient(fw.base, fw.mgr.session.headers["Authorization"][7:]) for _ in range(6)]
    barrier = threading.Barrier(len(clients))

    def go(c):
        barrier.wait(timeout=10)
        return c.post(V1 + "/orders", json=body, headers={"Idempotency-Key": key})

    with ThreadPoolExecutor(len(clients)) as ex:
        answers = list(ex.map(go, clients))
    for c in clients:
        c.close()
    assert all(a.status_code == 201 for a in answers), [(a.status_code, a.text[:200]) for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == len(answers) - 1
    assert count(pg, f"SELECT count(*) FROM orders WHERE idempotency_key = '{key}'") == 1


# --- one address cannot take the daemon off the air ----------------------------------

def _slow_head(port, source="127.0.0.1"):
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(3)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
    return s


def _closed_by_server(s, timeout):
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


def _served_from(port, source):
    try:
        s = socket.socket()
        s.bind((source, 0))
        s.settimeout(3)
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
    finally:
        s.close()


def test_one_address_holding_its_maximum_leaves_room_for_others(start_daemon):
    d = start_daemon(CONNECTION_LIMIT=16, PER_ADDRESS_CONNECTION_LIMIT=6, REQUEST_HEAD_TIMEOUT=60)
    held = []
    try:
        for _ in range(20):  # more than the whole daemon's limit, from one address
            try:
                held.append(_slow_head(d.port))
            except OSError:
                pass
        time.sleep(0.5)
        alive = [s for s in held if not _closed_by_server(s, 0.05)]
        assert len(alive) <= 6, f"{len(alive)} connections of one address are held"
        # another client (another loopback address) is served at once
        assert _served_from(d.port, "127.0.0.2")
    finally:
        for s in held:
            s.close()
    d.stop()


def test_a_request_head_must_arrive_within_the_deadline(start_daemon):
    d = start_daemon(REQUEST_HEAD_TIMEOUT=2)
    s = _slow_head(d.port)
    try:
        closed = False
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:  # one more header line every 0.5 s
            try:
                s.sendall(b"X-Slow: 1\r\n")
            except OSError:
                closed = True
                break
            if _closed_by_server(s, 0.5):
                closed = True
                break
        assert closed, "a head trickled in for 8 s and the connection is still open"
        # a keep-alive client that answers within the deadline is served twice
        c = socket.create_connection(("127.0.0.1", d.port), timeout=3)
        for _ in range(2):
            c.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert c.recv(4096).startswith(b"HTTP/1.1 200")
            time.sleep(1)
        c.close()
    finally:
        s.close()
    d.stop()


# --- C's copy of a rule agrees with the database's -------------------------------

def test_serve_refuses_a_database_whose_payment_methods_differ(deliveryd_env, pg, cli):
    """C validates payment methods with its one list; the database's is the
    domain payment_method. A database whose domain says otherwise (a
    migration this build does not know) stops `serve` at start, naming it."""
    import subprocess
    from conftest import DELIVERYD_BIN
    from helpers import free_port
    db = "pm_" + secrets.token_hex(4)
    pg.create_database(db)
    url = f"postgresql://postgres@127.0.0.1:{pg.port}/{db}"
    r = cli("migrate", env={"DATABASE_URL": url}, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    env = dict(deliveryd_env, DATABASE_URL=url, PORT=str(free_port()))
    # the same database serves (the lists agree) ...
    proc = subprocess.Popen([str(DELIVERYD_BIN), "serve"], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.communicate(timeout=3)
        pytest.fail("serve exited on a database whose payment methods agree")
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.communicate(timeout=15)
    # ... and refuses once the domain lost a method
    pg.sql("ALTER DOMAIN payment_method DROP CONSTRAINT payment_method_check;"
           "ALTER DOMAIN payment_method ADD CONSTRAINT payment_method_check"
           " CHECK (VALUE IN ('cash', 'knet', 'card'))", db=db)
    proc = subprocess.Popen([str(DELIVERYD_BIN), "serve"], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail("serve still running with a payment_method domain that lost 'prepaid'")
    assert proc.returncode == 2, err
    assert "payment_method" in (out + err), out + err


def test_rows_then_the_end_of_the_session_is_an_unknown_outcome(proxied, pg, fw):
    """A fast shutdown can end a backend after its statement answered its
    rows and before the implicit transaction committed: the daemon gets the
    rows, then FATAL 57P01. That is not a success (the order may have been
    rolled back: answering 201 lost it) and not "never ran" (it may have
    committed: running it again doubled it). It is 503, and the order exists
    at most once."""
    proxy, _, mgr = proxied
    name = "Late " + secrets.token_hex(4)
    before = proxy.cuts
    proxy.arm(b"INSERT INTO orders", late_fatal=True)
    r = mgr.post(V1 + "/orders", json=order_body(fw.wh_a["id"], customer_name=name))
    assert proxy.cuts == before + 1, "the proxy did not cut the statement's answer"
    assert_problem(r, 503, "unavailable")
    assert r.headers.get("Retry-After", "").isdigit(), r.headers
    assert count(pg, f"SELECT count(*) FROM orders WHERE customer_name = '{name}'") <= 1
