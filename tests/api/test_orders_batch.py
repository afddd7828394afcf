"""Batch order actions through HTTP: batch-assign, batch-cancel,
batch-pickup and batch-delivery with a mix of good, illegal, unknown and
foreign ids; per-id outcomes; limits; roles; and a number of database
statements that does not grow with the batch size (the daemon's own
deliveryd_db_statements_total counter in /metrics)."""

import pytest

from helpers import http_get
from orders_helpers import *  # noqa: F401,F403 - fixtures and helpers

UNKNOWN = 999999937


def batch(client, name, body):
    r = client.post(f"{V1}/orders/batch-{name}", json=body)
    assert r.status_code == 200, f"batch-{name}: {r.status_code} {r.text}"
    out = r.json()
    # batch-assign adds its warnings (API.md v1.1 "Dispatch aids")
    assert set(out) == {"succeeded", "failed"} | ({"warnings"} if name == "assign" else set()), out
    assert all(isinstance(i, int) for i in out["succeeded"]), out
    for f in out["failed"]:
        assert set(f) >= {"id", "code", "detail"}, f
        assert isinstance(f["id"], int) and isinstance(f["detail"], str), f
    return out


def outcome(out):
    """{id: "ok" | code}; every id reported once."""
    res = {i: "ok" for i in out["succeeded"]}
    for f in out["failed"]:
        assert f["id"] not in res, f"id {f['id']} reported twice: {out}"
        res[f["id"]] = f["code"]
    assert len(res) == len(out["succeeded"]) + len(out["failed"]), out
    return res


def detail_of(out, oid):
    return next(f["detail"] for f in out["failed"] if f["id"] == oid)


def hist_len(ow, oid):
    return int(ow.pg.sql(f"SELECT count(*) FROM order_status_history WHERE order_id = {oid}"))


# --- batch-assign ------------------------------------------------------------------------

def test_batch_assign_mix(ow):
    pend1, pend2 = ow.new_order(), ow.new_order()
    failed = ow.order_in("failed", driver=ow.d1)
    reassign = ow.order_in("assigned", driver=ow.d1)
    same = ow.order_in("assigned", driver=ow.d2)         # already the driver's: illegal
    delivered = ow.order_in("delivered", driver=ow.d1)
    cancelled = ow.order_in("cancelled")
    picked = ow.order_in("picked_up", driver=ow.d1)
    good = [pend1, pend2, failed, reassign]
    bad = {delivered["id"]: "delivered", cancelled["id"]: "cancelled",
           picked["id"]: "picked_up", same["id"]: "assigned"}
    before = {o["id"]: hist_len(ow, o["id"]) for o in good + [delivered, cancelled, picked, same]}
    ids = [o["id"] for o in good] + list(bad) + [UNKNOWN, pend1["id"]]  # a repeat as well
    out = batch(ow.mgr, "assign", {"order_ids": ids, "driver_id": ow.d2["id"]})
    res = outcome(out)
    assert set(res) == set(ids)
    for o in good:
        assert res[o["id"]] == "ok", (o["status"], out)
        n = ow.get(o["id"])
        assert n["status"] == "assigned" and n["driver_id"] == ow.d2["id"]
        assert n["version"] == o["version"] + 1 and is_ts(n["assigned_at"])
        assert hist_len(ow, o["id"]) == before[o["id"]] + 1
        row = ow.history(o["id"])[-1]
        assert (row["from_status"], row["to_status"], row["driver_id"]) == \
            (o["status"], "assigned", ow.d2["id"])
        assert row["changed_by"]["id"] == ow.mgr.id
    assert ow.history(reassign["id"])[-1].get("previous_driver_id") == ow.d1["id"]
    for oid, status in bad.items():
        assert res[oid] == "invalid_transition", out
        if oid != same["id"]:
            assert status in detail_of(out, oid)
        assert ow.get(oid)["status"] == status
        assert hist_len(ow, oid) == before[oid]
    assert res[UNKNOWN] == "not_found"


def test_batch_assign_scoped_manager_foreign_ids_are_not_found(ow):
    mine = ow.new_order(client=ow.mgr_a)
    foreign = ow.new_order(warehouse_id=ow.wh_b["id"])
    out = batch(ow.mgr_a, "assign", {"order_ids": [mine["id"], foreign["id"], UNKNOWN],
                                     "driver_id": ow.d1["id"]})
    assert outcome(out) == {mine["id"]: "ok", foreign["id"]: "not_found", UNKNOWN: "not_found"}
    assert ow.get(foreign["id"]) == foreign
    assert ow.get(mine["id"])["driver_id"] == ow.d1["id"]


@pytest.mark.parametrize("body", [{}, {"driver_id": None}, {"driver_id": UNKNOWN},
                                  {"driver_id": "1"}])
def test_batch_assign_needs_a_known_driver(ow, body):
    o = ow.new_order()
    r = ow.mgr.post(V1 + "/orders/batch-assign", json=dict(body, order_ids=[o["id"]]))
    assert "driver_id" in field_names(r)
    assert ow.get(o["id"]) == o


def test_batch_assign_inactive_driver_is_422(ow):
    drv, _ = ow.driver(ow.wh_a["id"], login=False)
    assert ow.admin.patch(f"{V1}/drivers/{drv['id']}", json={"is_active": False}).status_code \
        == 200
    o = ow.new_order()
    r = ow.mgr.post(V1 + "/orders/batch-assign", json={"order_ids": [o["id"]],
                                                       "driver_id": drv["id"]})
    assert "driver_id" in field_names(r)
    assert ow.get(o["id"]) == o


# --- batch-cancel ------------------------------------------------------------------------

def test_batch_cancel_mix(ow):
    good = [ow.order_in(s, driver=ow.d1) for s in ("pending", "assigned", "failed")]
    bad = [ow.order_in(s, driver=ow.d1) for s in ("picked_up", "delivered", "cancelled",
                                                   "returned")]
    foreign = ow.new_order(warehouse_id=ow.wh_b["id"])
    ids = [o["id"] for o in good + bad] + [UNKNOWN, foreign["id"]]
    out = batch(ow.mgr_a, "cancel", {"order_ids": ids, "reason": "warehouse closed"})
    res = outcome(out)
    assert set(res) == set(ids)
    for o in good:
        assert res[o["id"]] == "ok", out
        n = ow.get(o["id"])
        assert n["status"] == "cancelled" and n["cancel_reason"] == "warehouse closed"
        assert is_ts(n["cancelled_at"]) and n["version"] == o["version"] + 1
        row = ow.history(o["id"])[-1]
        assert (row["from_status"], row["to_status"], row["reason"]) == \
            (o["status"], "cancelled", "warehouse closed")
        assert row["changed_by"]["id"] == ow.mgr_a.id
    for o in bad:
        assert res[o["id"]] == "invalid_transition", out
        assert o["status"] in detail_of(out, o["id"])
        assert ow.get(o["id"]) == o
    assert res[UNKNOWN] == "not_found" and res[foreign["id"]] == "not_found"
    assert ow.get(foreign["id"]) == foreign


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "  "}, {"reason": None}])
def test_batch_cancel_needs_reason(ow, body):
    o = ow.new_order()
    r = ow.mgr.post(V1 + "/orders/batch-cancel", json=dict(body, order_ids=[o["id"]]))
    assert "reason" in field_names(r)
    assert ow.get(o["id"]) == o


# --- batch-pickup / batch-delivery -----------------------------------------------------

def test_batch_pickup_by_driver(ow):
    own1 = ow.order_in("assigned", driver=ow.d1)
    own2 = ow.order_in("assigned", driver=ow.d1)
    own_picked = ow.order_in("picked_up", driver=ow.d1)
    others = ow.order_in("assigned", driver=ow.d2)
    unowned = ow.new_order()
    ids = [own1["id"], own2["id"], own_picked["id"], others["id"], unowned["id"], UNKNOWN]
    out = batch(ow.c1, "pickup", {"order_ids": ids})
    assert outcome(out) == {own1["id"]: "ok", own2["id"]: "ok",
                            own_picked["id"]: "invalid_transition",
                            others["id"]: "not_found", unowned["id"]: "not_found",
                            UNKNOWN: "not_found"}
    for o in (own1, own2):
        n = ow.get(o["id"])
        assert n["status"] == "picked_up" and is_ts(n["picked_up_at"])
        row = ow.history(o["id"])[-1]
        assert (row["from_status"], row["to_status"]) == ("assigned", "picked_up")
        assert row["changed_by"] == {"id": ow.c1.id, "full_name": ow.c1.user["full_name"],
                                     "role": "driver"}
    assert ow.get(others["id"]) == others and ow.get(unowned["id"]) == unowned
    assert ow.get(own_picked["id"]) == own_picked


def test_batch_delivery_by_driver(ow):
    own = ow.order_in("picked_up", driver=ow.d1)
    own_assigned = ow.order_in("assigned", driver=ow.d1)
    others = ow.order_in("picked_up", driver=ow.d2)
    out = batch(ow.c1, "delivery", {"order_ids": [own["id"], own_assigned["id"], others["id"]]})
    assert outcome(out) == {own["id"]: "ok", own_assigned["id"]: "invalid_transition",
                            others["id"]: "not_found"}
    assert "assigned" in detail_of(out, own_assigned["id"])
    n = ow.get(own["id"])
    assert n["status"] == "delivered" and is_ts(n["delivered_at"])
    assert isinstance(n["delivery_time_seconds"], int) and n["delivery_time"] is not None
    assert ow.get(others["id"]) == others
    assert ow.pg.sql(f"SELECT count(*) FROM payment_collections WHERE order_id = {own['id']}") \
        == "0"


def test_batch_pickup_and_delivery_by_manager(ow):
    a = [ow.order_in("assigned", driver=d) for d in (ow.d1, ow.d2)]
    pend = ow.new_order()
    foreign = ow.order_in("assigned", driver=ow.d3, warehouse_id=ow.wh_b["id"])
    out = batch(ow.mgr_a, "pickup", {"order_ids": [x["id"] for x in a] + [pend["id"],
                                                                           foreign["id"]]})
    assert outcome(out) == {a[0]["id"]: "ok", a[1]["id"]: "ok",
                            pend["id"]: "invalid_transition", foreign["id"]: "not_found"}
    out = batch(ow.mgr, "delivery", {"order_ids": [x["id"] for x in a]})
    assert sorted(out["succeeded"]) == sorted(x["id"] for x in a) and out["failed"] == []
    assert all(ow.get(x["id"])["status"] == "delivered" for x in a)


# --- limits and roles ------------------------------------------------------------------

@pytest.mark.parametrize("name,extra", [("assign", {"driver_id": 1}), ("cancel", {"reason": "x"}),
                                        ("pickup", {}), ("delivery", {})])
def test_batch_limit_500(ow, name, extra):
    extra = dict(extra)
    if name == "assign":
        extra["driver_id"] = ow.d1["id"]
    o = ow.new_order()
    too_many = [o["id"]] + [UNKNOWN + i for i in range(1, 501)]
    r = ow.mgr.post(f"{V1}/orders/batch-{name}", json=dict(extra, order_ids=too_many))
    assert "order_ids" in field_names(r)
    assert ow.get(o["id"]) == o
    # exactly 500 is fine: every unknown id is listed as not_found
    out = batch(ow.mgr, name, dict(extra, order_ids=[UNKNOWN + i for i in range(500)]))
    assert out["succeeded"] == [] and len(out["failed"]) == 500
    assert {f["code"] for f in out["failed"]} == {"not_found"}
    assert {f["id"] for f in out["failed"]} == {UNKNOWN + i for i in range(500)}


@pytest.mark.parametrize("ids", [None, "1,2", [1, "2"], [1.5], [0], [-3], [[1]], {"a": 1}])
def test_batch_bad_order_ids_is_422(ow, ids):
    body = {"reason": "x"}
    if ids is not None:
        body["order_ids"] = ids
    assert "order_ids" in field_names(ow.mgr.post(V1 + "/orders/batch-cancel", json=body))


def test_batch_empty_list_is_not_an_error_of_the_server(ow):
    r = ow.mgr.post(V1 + "/orders/batch-cancel", json={"order_ids": [], "reason": "x"})
    # order_ids is 1-500 ids (openapi IdList, minItems 1): an empty list is
    # a 422 on the field, not a 500 and not an empty success
    assert_problem(r, 422, "validation_failed")
    assert "order_ids" in field_names(r)


def test_batch_roles(ow, api):
    o = ow.order_in("assigned", driver=ow.d1)
    assert_problem(ow.c1.post(V1 + "/orders/batch-assign",
                              json={"order_ids": [o["id"]], "driver_id": ow.d2["id"]}),
                   403, "forbidden")
    assert_problem(ow.c1.post(V1 + "/orders/batch-cancel",
                              json={"order_ids": [o["id"]], "reason": "x"}), 403, "forbidden")
    for name in ("assign", "cancel", "pickup", "delivery"):
        assert_problem(api.post(f"{V1}/orders/batch-{name}", json={"order_ids": [o["id"]]}),
                       401, "unauthorized")
    assert ow.get(o["id"]) == o


def test_batch_of_500_real_orders(ow):
    wh = ow.warehouse()
    ids = ow.insert_orders(500, wh["id"])
    out = batch(ow.mgr, "assign", {"order_ids": ids, "driver_id": ow.d1["id"]})
    assert sorted(out["succeeded"]) == sorted(ids) and out["failed"] == []
    assert ow.pg.sql(f"SELECT count(*) FROM orders WHERE warehouse_id = {wh['id']} "
                     f"AND status = 'assigned' AND driver_id = {ow.d1['id']} AND version = 2") \
        == "500"
    assert ow.pg.sql("SELECT count(*) FROM order_status_history h JOIN orders o ON "
                     f"o.id = h.order_id WHERE o.warehouse_id = {wh['id']} "
                     "AND h.to_status = 'assigned'") == "500"


# --- a constant number of statements -----------------------------------------------------

def statements(ow):
    r = http_get(ow.base + "/metrics")
    assert r.status_code == 200, r.text
    samples = metric_samples_total(r.text)
    return samples


def metric_samples_total(text):
    v = metric_sum(text, "deliveryd_db_statements_total")
    assert v > 0, "deliveryd_db_statements_total missing from /metrics"
    return v


def cancel_delta(ow, n):
    """Statements the daemon sent for one batch-cancel of n orders, from the
    X-DB-Statements header (counted per request on its worker thread), and
    checked against the process-wide counter of /metrics."""
    wh = ow.warehouse()
    ids = ow.insert_orders(n, wh["id"])
    before = statements(ow)
    r = ow.mgr.post(f"{V1}/orders/batch-cancel", json={"order_ids": ids, "reason": "bulk cancel"})
    after = statements(ow)
    assert r.status_code == 200, r.text
    out = r.json()
    assert sorted(out["succeeded"]) == sorted(ids) and out["failed"] == []
    assert ow.pg.sql(f"SELECT count(*) FROM orders WHERE warehouse_id = {wh['id']} "
                     "AND status = 'cancelled'") == str(n)
    per_request = int(r.headers["X-DB-Statements"])
    assert after - before >= per_request
    return per_request


def test_batch_statement_count_does_not_grow(ow):
    small = min(cancel_delta(ow, 5) for _ in range(3))
    big = min(cancel_delta(ow, 300) for _ in range(3))
    print(f"statements per batch-cancel: 5 orders {small}, 300 orders {big}")
    assert small >= 1, "the counter did not move for a batch-cancel"
    assert small < 10 and big < 10, (small, big)
    assert small == big, (small, big)
