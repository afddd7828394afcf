"""Concurrent writes on one order through HTTP: many requests released at
the same instant (a barrier), each on its own connection. Exactly one
legal outcome wins, the others get 409, nobody gets a 5xx, and the
history tells the same story as the order."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import Api
from orders_helpers import *  # noqa: F401,F403 - fixtures and helpers

N = 20


def fire(client, calls, timeout=60):
    """Runs calls [(method, path, body)] at once, each on its own connection
    carrying client's token -> [(status, json body or None)] in call order."""
    barrier = threading.Barrier(len(calls))
    token = client.session.headers["Authorization"]

    def one(call):
        method, path, body = call
        a = Api(client.base)
        a.session.headers["Authorization"] = token
        try:
            a.get("/health")  # open the connection before the start line
            barrier.wait(timeout=30)
            r = a.request(method, path, json=body, timeout=timeout)
            try:
                payload = r.json()
            except ValueError:
                payload = None
            return r.status_code, payload
        finally:
            a.close()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(one, calls))


def codes(results):
    return [b.get("code") if isinstance(b, dict) else None for s, b in results if s != 200]


@pytest.fixture(scope="module")
def drivers20(ow):
    wh = ow.warehouse()
    drivers = [ow.driver(wh["id"], login=False)[0] for _ in range(N)]
    return wh, drivers


@pytest.mark.parametrize("round_", range(3))
def test_parallel_assign_same_version_one_wins(ow, drivers20, round_):
    wh, drivers = drivers20
    o = ow.new_order(warehouse_id=wh["id"])
    assert o["version"] == 1
    calls = [("POST", f"{V1}/orders/{o['id']}/assign", {"driver_id": d["id"], "version": 1})
             for d in drivers]
    results = fire(ow.mgr, calls)
    statuses = [s for s, _ in results]
    assert all(s < 500 for s in statuses), statuses
    assert statuses.count(200) == 1, statuses
    assert statuses.count(409) == N - 1, statuses
    assert set(codes(results)) == {"version_mismatch"}, codes(results)
    winner = next(b for s, b in results if s == 200)
    winner_driver = drivers[statuses.index(200)]["id"]
    assert winner["driver_id"] == winner_driver and winner["version"] == 2
    # assign answers the order plus its never-blocking warnings (v1.1)
    assert isinstance(winner.pop("warnings"), list)
    final = ow.get(o["id"])
    assert final == winner
    h = ow.history(o["id"])
    assert [(r["from_status"], r["to_status"]) for r in h] == [(None, "pending"),
                                                                ("pending", "assigned")], h
    assert h[1]["driver_id"] == winner_driver


def test_parallel_assign_without_version_all_applied_in_order(ow, drivers20):
    """Writes that omit `version` are applied: 20 reassignments to 20
    different drivers all succeed, one after the other, and the history
    chain links every previous driver to the next."""
    wh, drivers = drivers20
    o = ow.new_order(warehouse_id=wh["id"])
    calls = [("POST", f"{V1}/orders/{o['id']}/assign", {"driver_id": d["id"]}) for d in drivers]
    results = fire(ow.mgr, calls)
    statuses = [s for s, _ in results]
    assert statuses == [200] * N, [(s, b) for s, b in results if s != 200][:3]
    assert sorted(b["version"] for _, b in results) == list(range(2, N + 2))
    final = ow.get(o["id"])
    assert final["version"] == N + 1 and final["status"] == "assigned"
    h = ow.history(o["id"])
    assert len(h) == N + 1
    assert [(r["from_status"], r["to_status"]) for r in h[1:]] == \
        [("pending", "assigned")] + [("assigned", "assigned")] * (N - 1)
    assert sorted(r["driver_id"] for r in h[1:]) == sorted(d["id"] for d in drivers)
    for prev, row in zip(h[1:], h[2:]):
        assert row.get("previous_driver_id", prev["driver_id"]) == prev["driver_id"], (prev, row)
    assert final["driver_id"] == h[-1]["driver_id"]


@pytest.mark.parametrize("round_", range(3))
def test_parallel_pickup_and_cancel_one_legal_outcome(ow, round_):
    o = ow.order_in("assigned", driver=ow.d1)
    pickup = ("POST", f"{V1}/orders/{o['id']}/pickup", {})
    cancel = ("POST", f"{V1}/orders/{o['id']}/cancel", {"reason": "race"})
    calls = [pickup if i % 2 == 0 else cancel for i in range(N)]
    results = fire(ow.mgr, calls)
    statuses = [s for s, _ in results]
    assert all(s in (200, 409) for s in statuses), results
    # from picked_up neither action is legal, nor from cancelled: one winner
    assert statuses.count(200) == 1, statuses
    assert set(codes(results)) == {"invalid_transition"}, codes(results)
    i = statuses.index(200)
    expected = "picked_up" if i % 2 == 0 else "cancelled"
    final = ow.get(o["id"])
    assert final["status"] == expected and final["version"] == o["version"] + 1
    assert final == results[i][1]
    h = ow.history(o["id"])
    out_of_assigned = [r for r in h if r["from_status"] == "assigned"]
    assert len(out_of_assigned) == 1, h
    assert out_of_assigned[0]["to_status"] == expected
    assert len(h) == 3, h


def test_parallel_driver_pickup_and_manager_cancel(ow):
    o = ow.order_in("assigned", driver=ow.d1)
    half = N // 2
    results = {}

    def run(name, client, call):
        results[name] = fire(client, [call] * half)

    t1 = threading.Thread(target=run, args=("pickup", ow.c1,
                                            ("POST", f"{V1}/orders/{o['id']}/pickup", {})))
    t2 = threading.Thread(target=run, args=("cancel", ow.mgr,
                                            ("POST", f"{V1}/orders/{o['id']}/cancel",
                                             {"reason": "race"})))
    t1.start()
    t2.start()
    t1.join(90)
    t2.join(90)
    assert not t1.is_alive() and not t2.is_alive()
    all_results = results["pickup"] + results["cancel"]
    statuses = [s for s, _ in all_results]
    assert all(s in (200, 409) for s in statuses), all_results
    assert statuses.count(200) == 1, statuses
    final = ow.get(o["id"])
    assert final["status"] in ("picked_up", "cancelled")
    won = "pickup" if any(s == 200 for s, _ in results["pickup"]) else "cancel"
    assert final["status"] == {"pickup": "picked_up", "cancel": "cancelled"}[won]
    h = ow.history(o["id"])
    assert len([r for r in h if r["from_status"] == "assigned"]) == 1, h


def test_parallel_patch_same_version_one_wins(ow):
    o = ow.new_order()
    calls = [("PATCH", f"{V1}/orders/{o['id']}", {"notes": f"edit {i}", "version": 1})
             for i in range(N)]
    results = fire(ow.mgr, calls)
    statuses = [s for s, _ in results]
    assert statuses.count(200) == 1 and statuses.count(409) == N - 1, statuses
    assert set(codes(results)) == {"version_mismatch"}
    winner = results[statuses.index(200)][1]
    final = ow.get(o["id"])
    assert final["version"] == 2 and final["notes"] == winner["notes"]


def test_parallel_overlapping_batch_cancels(ow):
    """Five batch-cancels over the same 40 orders, in different orders:
    no deadlock, no 5xx, each order cancelled exactly once."""
    wh = ow.warehouse()
    ids = ow.insert_orders(40, wh["id"])
    lists = [ids, ids[::-1], ids[::2] + ids[1::2], ids[20:] + ids[:20], sorted(ids, key=str)]
    calls = [("POST", V1 + "/orders/batch-cancel", {"order_ids": lst, "reason": f"race {n}"})
             for n, lst in enumerate(lists)]
    results = fire(ow.mgr, calls)
    assert [s for s, _ in results] == [200] * len(lists), results
    won = {}
    for _, body in results:
        for oid in body["succeeded"]:
            assert oid not in won, f"order {oid} cancelled twice"
            won[oid] = True
        assert {f["code"] for f in body["failed"]} <= {"invalid_transition"}, body["failed"]
    assert sorted(won) == sorted(ids)
    assert ow.pg.sql("SELECT count(*) FROM order_status_history h JOIN orders o ON "
                     f"o.id = h.order_id WHERE o.warehouse_id = {wh['id']} "
                     "AND h.to_status = 'cancelled'") == "40"
    assert ow.pg.sql(f"SELECT count(*) FROM orders WHERE warehouse_id = {wh['id']} "
                     "AND status = 'cancelled' AND version = 2") == "40"


def test_parallel_create_same_order_number(ow):
    num = uniq("RACE").upper()
    body = ow.order_body(order_number=num)
    results = fire(ow.mgr, [("POST", V1 + "/orders", body)] * N)
    statuses = [s for s, _ in results]
    assert statuses.count(201) == 1 and statuses.count(409) == N - 1, statuses
    assert set(codes([(s if s != 201 else 200, b) for s, b in results])) == {"duplicate"}
    assert ow.pg.sql(f"SELECT count(*) FROM orders WHERE order_number = '{num}'") == "1"
    created = results[statuses.index(201)][1]
    assert len(ow.history(created["id"])) == 1
