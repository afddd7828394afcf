"""The search backlog (migration 0009): an import's new orders get their
trigrams just after the import commits, from the daemon's search indexer;
search finds them meanwhile, and edits made meanwhile are kept."""
import os
import select
import subprocess
import time

import pytest

from conftest import PG_BIN
from helpers import Api
from ops_helpers import *  # noqa: F401,F403


@pytest.fixture(scope="module")
def sb(ops):
    return ops.two_warehouses()


class HeldLock:
    """A psql session holding `sql` (a LOCK) in an open transaction until
    release(): what the daemon's drain would take waits meanwhile."""

    def __init__(self, pg, sql, before=""):
        self.p = subprocess.Popen(
            [str(PG_BIN / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(pg.port), "-U", "postgres", "-d", pg.dbname],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        self.p.stdin.write(f"{before}\nBEGIN;\n{sql};\nSELECT 'held';\n".encode())
        # raw reads: the statement's own rows come first, and a buffered
        # reader would hide lines from select()
        fd, out = self.p.stdout.fileno(), b""
        deadline = time.monotonic() + 15
        while b"held\n" not in out and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(fd, 65536) if ready else b""
            if not chunk:
                break
            out += chunk
        if b"held\n" not in out:
            self.p.kill()
            raise RuntimeError(f"could not take {sql!r}: {out!r} {self.p.stderr.read()!r}")

    def release(self):
        if self.p.poll() is None:
            self.p.communicate(b"ROLLBACK;\n\\q\n", timeout=15)


def import_rows(sb, numbers, name="Backlog Row"):
    rows = [["Sales Order", "Customer", "Mobile", "Site", "Area"]]
    rows += [[n, name, f"6{i:03d}7788", sb.wh["code"], "Qurain"] for i, n in enumerate(numbers)]
    r = sb.mgr.import_file(xlsx_bytes(rows))
    assert r.status_code == 201, r.text
    assert r.json()["created"] == len(numbers), r.text
    return [find_order(sb.mgr, n) for n in numbers]


def in_backlog(pg, ids):
    return int(pg.sql("SELECT count(*) FROM order_search_backlog WHERE order_id IN (%s)"
                      % ",".join(str(i) for i in ids)))


def indexed(pg, ids):
    return int(pg.sql("SELECT count(*) FROM order_search WHERE order_id IN (%s)"
                      % ",".join(str(i) for i in ids)))


def wait_drained(pg, ids, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if in_backlog(pg, ids) == 0 and indexed(pg, ids) == len(ids):
            return True
        time.sleep(0.1)
    return False


def test_import_indexes_new_orders_after_its_commit(ops, sb, pg):
    numbers = [ops.number("SB") for _ in range(3)]
    orders = import_rows(sb, numbers)  # found by q at once, whichever table holds them
    ids = [o["id"] for o in orders]
    assert all(orders), orders
    assert wait_drained(pg, ids), "the search indexer did not move the import's orders"
    # written by another transaction than the orders: after the commit, not in it
    same_tx = pg.sql("SELECT count(*) FROM order_search s JOIN orders o ON o.id = s.order_id"
                     " WHERE s.order_id IN (%s) AND s.xmin = o.xmin" % ",".join(map(str, ids)))
    assert same_tx == "0"
    for n, o in zip(numbers, orders):
        assert find_order(sb.mgr, n)["id"] == o["id"]


def test_manual_and_webhook_orders_are_indexed_in_their_own_statement(ops, sb, pg):
    o = ops.new_order(sb.mgr, sb.wh["id"])
    same_tx = pg.sql(f"SELECT count(*) FROM order_search s JOIN orders o ON o.id = s.order_id"
                     f" WHERE s.order_id = {o['id']} AND s.xmin = o.xmin")
    assert same_tx == "1"
    assert in_backlog(pg, [o["id"]]) == 0


def test_search_finds_orders_still_in_the_backlog_and_keeps_edits(ops, sb, pg):
    # the drain inserts into order_search: while this lock is held it waits,
    # so the orders stay in the backlog (searches only read, so they pass)
    lock = HeldLock(pg, "LOCK TABLE order_search IN SHARE MODE")
    try:
        numbers = [ops.number("SQ") for _ in range(2)]
        rows = [["Sales Order", "Customer", "Mobile", "Site", "Area"],
                [numbers[0], "Zubaida Backlog", "65550101", sb.wh["code"], "Qurain"],
                [numbers[1], "Hamad Backlog", "65550202", sb.wh["code"], "Qurain"]]
        r = sb.mgr.import_file(xlsx_bytes(rows))
        assert r.status_code == 201, r.text
        first = find_order(sb.mgr, numbers[0])
        second = find_order(sb.mgr, numbers[1])
        ids = [first["id"], second["id"]]
        assert in_backlog(pg, ids) == 2 and indexed(pg, ids) == 0
        # each kind of key: name, phone digits, order number
        for q, want in (("zubaida back", first), ("65550202", second), ("96565550101", first),
                        (numbers[1], second)):
            got = sb.mgr.get(V1 + "/orders", params={"q": q}).json()
            assert [o["id"] for o in got["items"]] == [want["id"]] and got["total"] == 1, (q, got)
        # a scoped manager of another warehouse does not see them through it
        other = sb.mgr2.get(V1 + "/orders", params={"q": "zubaida back"}).json()
        assert other["items"] == [] and other["total"] == 0
        # hold their backlog rows as another drain would, so that the
        # daemon's drain skips them once the table lock is gone
        rows_held = HeldLock(pg, "SELECT order_id FROM order_search_backlog"
                                 " WHERE order_id IN (%s) FOR UPDATE" % ",".join(map(str, ids)))
    finally:
        lock.release()
    try:
        # an edit while the order waits: the edit writes its search row itself
        r = sb.mgr.patch(V1 + f"/orders/{second['id']}",
                         json={"customer_name": "Hamad Renamed", "version": second["version"]})
        assert r.status_code == 200, r.text
        assert in_backlog(pg, ids) == 2 and indexed(pg, [second["id"]]) == 1
        found = sb.mgr.get(V1 + "/orders", params={"q": "hamad renamed"}).json()
        assert [o["id"] for o in found["items"]] == [second["id"]] and found["total"] == 1
        assert sb.mgr.get(V1 + "/orders", params={"q": "hamad backlog"}).json()["total"] == 0
    finally:
        rows_held.release()
    # the drain, which reads the orders again, leaves the edited row alone
    pg.sql("SELECT order_search_drain(100000)")
    assert wait_drained(pg, ids)
    assert pg.sql(f"SELECT search_text LIKE '%hamad renamed%' FROM order_search"
                  f" WHERE order_id = {second['id']}") == "t"
    found = sb.mgr.get(V1 + "/orders", params={"q": "hamad renamed"}).json()
    assert [o["id"] for o in found["items"]] == [second["id"]]
    assert sb.mgr.get(V1 + "/orders", params={"q": "hamad backlog"}).json()["total"] == 0
    assert sb.mgr.get(V1 + "/orders", params={"q": "zubaida back"}).json()["total"] == 1


def test_a_search_right_after_a_big_import_into_a_new_warehouse(ops, pg, start_daemon):
    """A manager imports the day's orders into a warehouse the planner's
    statistics know nothing of yet (new, or autovacuum has not analyzed
    since) and searches at once, while the orders are still in the backlog.
    The search's matching ids are computed once (a materialized CTE): as
    a plain IN (subquery) they became the inner side of a nested loop over
    the warehouse's orders (estimated 1, really 6,000), re-run per order
    with the whole backlog each time, and the search hit the statement
    timeout (503). A daemon with a 3 s statement timeout must answer."""
    fast = start_daemon(STATEMENT_TIMEOUT_MS="3000")
    # the statistics: orders of another warehouse, analyzed (and autovacuum
    # kept from analyzing again during the test)
    old_wh = ops.warehouse()
    old_mgr = ops.manager(old_wh["id"])
    old_lines = ["Sales Order,Customer,Mobile,Area"]
    old_lines += [f"{ops.number('OW')},Old Warehouse Row,5{i:07d},Surra" for i in range(20000)]
    r = old_mgr.import_file(("\r\n".join(old_lines) + "\r\n").encode(), filename="old.csv",
                            mime="text/csv")
    assert r.status_code == 201, r.text[:300]
    pg.sql("SELECT order_search_drain(100000)")
    pg.sql("ANALYZE orders; ANALYZE order_search; ANALYZE order_search_backlog;"
           " ALTER TABLE orders SET (autovacuum_enabled = false)")
    try:
        wh = ops.warehouse()
        mgr = ops.manager(wh["id"])
        numbers = [ops.number("NW") for _ in range(6000)]
        lines = ["Sales Order,Customer,Mobile,Area"]
        lines += [f"{n},New Warehouse Row,6{i:07d},Qurain" for i, n in enumerate(numbers)]
        # the drain waits while this is held: every order stays in the backlog
        lock = HeldLock(pg, "LOCK TABLE order_search IN SHARE MODE")
        try:
            r = mgr.import_file(("\r\n".join(lines) + "\r\n").encode(), filename="day.csv",
                                mime="text/csv")
            assert r.status_code == 201 and r.json()["created"] == 6000, r.text[:300]
            via_fast = Api(fast.url(), token=mgr.session.headers["Authorization"].split(" ", 1)[1])
            try:
                for n in (numbers[0], numbers[4321]):
                    got = via_fast.get(V1 + "/orders", params={"q": n, "warehouse_id": wh["id"]},
                                       timeout=30)
                    assert got.status_code == 200, got.text
                    assert [o["order_number"] for o in got.json()["items"]] == [n]
                    assert got.json()["total"] == 1
            finally:
                via_fast.close()
        finally:
            lock.release()
    finally:
        pg.sql("ALTER TABLE orders RESET (autovacuum_enabled)")


def test_drain_moves_each_order_once_and_skips_rows_another_drain_holds(ops, sb, pg):
    numbers = [ops.number("SD") for _ in range(3)]
    orders = import_rows(sb, numbers, name="Drain Twice")
    ids = [o["id"] for o in orders]
    assert wait_drained(pg, ids)
    # put them back (as a crash before the drain would leave them), twice
    # over, and at once hold one of the rows as another drain would: this
    # drain skips it and moves the rest
    id_list = ",".join(map(str, ids))
    lock = HeldLock(
        pg, f"SELECT 1 FROM order_search_backlog WHERE order_id = {ids[0]} LIMIT 1 FOR UPDATE",
        before=f"DELETE FROM order_search WHERE order_id IN ({id_list});"
               f" INSERT INTO order_search_backlog SELECT unnest(ARRAY[{id_list}]);"
               f" INSERT INTO order_search_backlog SELECT unnest(ARRAY[{id_list}]);")
    try:
        # (the daemon's own drain may take some of them first: the end state
        # is the same, and it skips the held row too)
        pg.sql("SELECT order_search_drain(100000)")
        assert in_backlog(pg, ids) == 1 and indexed(pg, ids) == 3
    finally:
        lock.release()
    pg.sql("SELECT order_search_drain(100000)")
    assert in_backlog(pg, ids) == 0 and indexed(pg, ids) == 3
    got = sb.mgr.get(V1 + "/orders", params={"q": "drain twice"}).json()
    assert sorted(o["id"] for o in got["items"]) == sorted(ids)  # once each



def test_order_writes_do_not_wait_for_the_drains_key_share_locks(ops, sb, pg):
    """The drain's FK checks lock the orders it indexes FOR KEY SHARE. Order
    writes lock FOR NO KEY UPDATE, which does not conflict with that, so
    managers acting on an import's orders while the drain runs neither wait
    for it nor deadlock with it (a FOR UPDATE here waited out lock_timeout)."""
    numbers = [ops.number("SK") for _ in range(4)]
    orders = import_rows(sb, numbers, name="Key Share")
    ids = [o["id"] for o in orders]
    lock = HeldLock(pg, "SELECT id FROM orders WHERE id IN (%s) ORDER BY id FOR KEY SHARE"
                        % ",".join(map(str, ids)))
    try:
        t0 = time.monotonic()
        r = sb.mgr.post(V1 + "/orders/batch-cancel",
                        json={"order_ids": ids[:2], "reason": "while indexed"})
        assert r.status_code == 200 and sorted(r.json()["succeeded"]) == sorted(ids[:2]), r.text
        r = sb.mgr.patch(V1 + f"/orders/{ids[2]}", json={"customer_name": "Key Share Edited"})
        assert r.status_code == 200, r.text
        r = sb.mgr.post(V1 + f"/orders/{ids[3]}/assign", json={"driver_id": sb.drv["id"]})
        assert r.status_code == 200, r.text
        assert time.monotonic() - t0 < 3, "an order write waited for a KEY SHARE lock"
    finally:
        lock.release()


def test_drain_merges_the_gin_pending_lists(ops, sb, pg):
    """Trigram and digit-window entries first go to each GIN index's pending
    list, which every search reads in full; the indexer merges them after
    its drain."""
    pg.sql("CREATE EXTENSION IF NOT EXISTS pgstattuple")
    pending = ("SELECT (SELECT pending_tuples FROM pgstatginindex('order_search_text_trgm_idx'))"
               " + (SELECT pending_tuples FROM pgstatginindex('order_search_phone_trgm_idx'))"
               " + (SELECT pending_tuples FROM pgstatginindex('order_search_digit_grams_idx'))")
    orders = import_rows(sb, [ops.number("GP") for _ in range(30)], name="Pending Lists")
    assert wait_drained(pg, [o["id"] for o in orders])
    deadline = time.monotonic() + 10
    while pg.sql(pending) != "0" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pg.sql(pending) == "0"
