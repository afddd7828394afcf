"""The order state machine through HTTP: every (status, action) pair of
API.md's table (legal ones change status, stamp *_at, bump version and
append a history row; every other pair is 409 invalid_transition naming the
current status and changes nothing), who may act (drivers on their own
orders only, managers' actions, warehouse scope), reasons, reason codes,
versions, reassignment, delivery time, payment on delivery and proof."""

import time

import pytest

from orders_helpers import *  # noqa: F401,F403 - fixtures and helpers

PAIRS = [(s, a) for s in STATUSES for a in ACTIONS]
LEGAL_PAIRS = [p for p in PAIRS if p in LEGAL]
ILLEGAL_PAIRS = [p for p in PAIRS if p not in LEGAL]
assert len(PAIRS) == 56 and len(LEGAL_PAIRS) == 13 and len(ILLEGAL_PAIRS) == 43


def changed_by(client):
    u = client.user
    return {"id": u["id"], "full_name": u["full_name"], "role": u["role"]}


def assert_unchanged(ow, before, hist_len):
    after = ow.get(before["id"])
    assert after == before, "the refused request changed the order"
    assert len(ow.history(before["id"])) == hist_len, "the refused request wrote history"


# --- the whole table ----------------------------------------------------------------

@pytest.mark.parametrize("status,action", LEGAL_PAIRS)
def test_legal_transition(ow, status, action):
    o = ow.order_in(status, driver=ow.d1)
    h0 = ow.history(o["id"])
    body = {"assign": {"driver_id": ow.d2["id"]},
            "fail": {"reason": "customer not reachable", "reason_code": "customer_unreachable"},
            "cancel": {"reason": "customer cancelled by phone"},
            "requeue": {"reason": "try again tomorrow"},
            "return": {"reason": "back to the shelf"}}.get(action, {})
    r = ow.act(o["id"], action, body)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    n = r.json()
    if action == "assign":  # the order plus its warnings (API.md v1.1 "Dispatch aids")
        assert isinstance(n.pop("warnings"), list), n
    n = assert_order_shape(n)
    to = LEGAL[(status, action)]
    assert n["status"] == to
    assert n["version"] == o["version"] + 1
    assert parse_ts(n["updated_at"]) >= parse_ts(o["updated_at"])
    # the action's timestamp is stamped, the others are kept
    stamp = STAMP.get(action)
    if stamp:
        assert is_ts(n[stamp]), (stamp, n[stamp])
        assert parse_ts(n[stamp]) >= parse_ts(o["updated_at"])
        if o[stamp] is not None:
            assert parse_ts(n[stamp]) >= parse_ts(o[stamp])
    for k in ("delivered_at", "failed_at", "cancelled_at", "returned_at", "created_at"):
        if k != stamp and o[k] is not None:
            assert n[k] == o[k], k
    # the driver
    if action == "assign":
        assert n["driver_id"] == ow.d2["id"]
    elif action in ("unassign", "requeue"):
        assert n["driver_id"] is None
    elif action in ("pickup", "deliver", "fail"):
        assert n["driver_id"] == ow.d1["id"]
    # reasons
    if action == "fail":
        assert n["failure_reason"] == "customer not reachable"
        assert n["failure_reason_code"] == "customer_unreachable"
    if action == "cancel":
        assert n["cancel_reason"] == "customer cancelled by phone"
    # delivered orders have a delivery time
    if to == "delivered":
        assert isinstance(n["delivery_time_seconds"], int) and n["delivery_time_seconds"] >= 0
        assert n["delivery_time"] == "00:00"
    else:
        assert n["delivery_time_seconds"] is None and n["delivery_time"] is None
    # GET agrees with the response
    assert ow.get(o["id"]) == n
    # exactly one history row more, naming who did it
    h = ow.history(o["id"])
    assert len(h) == len(h0) + 1, h
    assert h[:-1] == h0
    row = h[-1]
    assert HISTORY_KEYS <= set(row), row
    assert row["from_status"] == status and row["to_status"] == to
    assert row["changed_by"] == changed_by(ow.mgr)
    assert is_ts(row["created_at"])
    assert parse_ts(row["created_at"]) >= parse_ts(h0[-1]["created_at"])
    if action == "assign":
        assert row["driver_id"] == ow.d2["id"]
    if action in ("pickup", "deliver", "fail"):
        assert row["driver_id"] == ow.d1["id"]
    if action in ("fail", "cancel", "requeue", "return"):
        assert row["reason"] == body["reason"]


@pytest.mark.parametrize("status,action", ILLEGAL_PAIRS)
def test_illegal_transition(ow, status, action):
    o = ow.order_in(status, driver=ow.d1)
    n_hist = len(ow.history(o["id"]))
    r = ow.act(o["id"], action)
    body = assert_problem(r, 409, "invalid_transition")
    assert status in body.get("detail", ""), body
    assert_unchanged(ow, o, n_hist)


def test_assign_to_the_same_driver_is_invalid_transition(ow):
    """The table allows assigned -> assign only to another driver."""
    o = ow.order_in("assigned", driver=ow.d1)
    n_hist = len(ow.history(o["id"]))
    body = assert_problem(ow.act(o["id"], "assign", {"driver_id": ow.d1["id"]}), 409,
                          "invalid_transition")
    assert "assigned" in body.get("detail", ""), body
    assert_unchanged(ow, o, n_hist)


def test_failed_order_can_be_assigned_to_the_same_driver_again(ow):
    """failed -> assign -> assigned (API.md's table: no 'another driver' there):
    a second delivery attempt by the driver who failed the first one."""
    o = ow.order_in("failed", driver=ow.d1)
    assert o["driver_id"] == ow.d1["id"]
    r = ow.act(o["id"], "assign", {"driver_id": ow.d1["id"]})
    assert r.status_code == 200, r.text
    n = r.json()
    n.pop("warnings")
    assert n["status"] == "assigned" and n["driver_id"] == ow.d1["id"]
    assert n["version"] == o["version"] + 1
    row = ow.history(o["id"])[-1]
    assert (row["from_status"], row["to_status"], row["driver_id"]) == \
        ("failed", "assigned", ow.d1["id"])


def test_failed_order_assigned_to_another_driver(ow):
    o = ow.order_in("failed", driver=ow.d1)
    n = ow.must(o["id"], "assign", {"driver_id": ow.d2["id"]})
    assert n["status"] == "assigned" and n["driver_id"] == ow.d2["id"]
    assert parse_ts(n["assigned_at"]) >= parse_ts(o["assigned_at"])
    row = ow.history(o["id"])[-1]
    assert row["driver_id"] == ow.d2["id"]
    assert row.get("previous_driver_id") == ow.d1["id"], row
    # the second attempt can be completed by the new driver
    ow.must(o["id"], "pickup", client=ow.c2)
    assert ow.must(o["id"], "deliver", client=ow.c2)["status"] == "delivered"


# --- a whole life, with drivers acting -----------------------------------------------

def test_full_lifecycle_history(ow):
    o = ow.new_order()
    ow.must(o["id"], "assign", {"driver_id": ow.d1["id"]})
    ow.must(o["id"], "assign", {"driver_id": ow.d2["id"]})
    ow.must(o["id"], "pickup", client=ow.c2)
    ow.must(o["id"], "fail", {"reason": "no answer", "reason_code": "customer_not_home"},
            client=ow.c2)
    ow.must(o["id"], "requeue", {"reason": "call first"})
    ow.must(o["id"], "assign", {"driver_id": ow.d1["id"]}, client=ow.admin)
    ow.must(o["id"], "unassign")
    ow.must(o["id"], "assign", {"driver_id": ow.d1["id"]})
    ow.must(o["id"], "pickup", client=ow.c1)
    final = ow.must(o["id"], "deliver", {"recipient_name": "Ahmad", "notes": "gate 2"},
                    client=ow.c1)
    assert final["status"] == "delivered" and final["version"] == 11
    h = ow.history(o["id"])
    got = [(r["from_status"], r["to_status"], r["changed_by"]["role"], r["driver_id"])
           for r in h]
    d1, d2 = ow.d1["id"], ow.d2["id"]
    assert got == [
        (None, "pending", "manager", None),
        ("pending", "assigned", "manager", d1),
        ("assigned", "assigned", "manager", d2),
        ("assigned", "picked_up", "driver", d2),
        ("picked_up", "failed", "driver", d2),
        ("failed", "pending", "manager", None),
        ("pending", "assigned", "admin", d1),
        ("assigned", "pending", "manager", None),
        ("pending", "assigned", "manager", d1),
        ("assigned", "picked_up", "driver", d1),
        ("picked_up", "delivered", "driver", d1),
    ], got
    assert h[3]["changed_by"] == changed_by(ow.c2)
    assert h[10]["changed_by"] == changed_by(ow.c1)
    assert h[6]["changed_by"] == changed_by(ow.admin)
    assert h[4]["reason"] == "no answer"
    assert h[5]["reason"] == "call first"
    assert h[2].get("previous_driver_id") == d1, h[2]
    times = [parse_ts(r["created_at"]) for r in h]
    assert times == sorted(times), "history is not oldest first"
    # the driver who delivered sees the same history
    assert ow.history(o["id"], ow.c1) == h


# --- who may act ----------------------------------------------------------------------

@pytest.mark.parametrize("status,action", [("assigned", "pickup"), ("picked_up", "deliver"),
                                           ("assigned", "fail"), ("picked_up", "fail"),
                                           ("failed", "return")])
def test_driver_acts_on_own_order(ow, status, action):
    o = ow.order_in(status, driver=ow.d1)
    body = {"fail": {"reason": "flat tyre", "reason_code": "other"}}.get(action, {})
    n = ow.must(o["id"], action, body, client=ow.c1)
    assert n["status"] == LEGAL[(status, action)]
    assert n["driver_id"] == ow.d1["id"]
    assert is_ts(n[STAMP[action]])
    row = ow.history(o["id"])[-1]
    assert row["changed_by"] == changed_by(ow.c1)
    assert row["to_status"] == n["status"]


@pytest.mark.parametrize("status,action", [("assigned", "pickup"), ("picked_up", "deliver"),
                                           ("assigned", "fail"), ("picked_up", "fail"),
                                           ("failed", "return")])
def test_driver_acting_on_another_drivers_order_is_404(ow, status, action):
    o = ow.order_in(status, driver=ow.d2)
    n_hist = len(ow.history(o["id"]))
    body = {"fail": {"reason": "not mine"}}.get(action, {})
    for client in (ow.c1, ow.c3):  # same warehouse, other warehouse
        assert_problem(ow.act(o["id"], action, body, client=client), 404, "not_found")
    assert_unchanged(ow, o, n_hist)


@pytest.mark.parametrize("action", ["pickup", "deliver", "fail", "return"])
def test_driver_acting_on_unassigned_or_unknown_order_is_404(ow, action):
    o = ow.new_order()
    body = {"fail": {"reason": "x"}}.get(action, {})
    assert_problem(ow.act(o["id"], action, body, client=ow.c1), 404, "not_found")
    assert_problem(ow.act(999999999, action, body, client=ow.c1), 404, "not_found")
    assert ow.get(o["id"])["version"] == 1


@pytest.mark.parametrize("status,action", [("pending", "assign"), ("assigned", "unassign"),
                                           ("assigned", "cancel"), ("failed", "requeue")])
def test_manager_actions_are_403_for_drivers(ow, status, action):
    o = ow.order_in(status, driver=ow.d1)
    n_hist = len(ow.history(o["id"]))
    body = {"assign": {"driver_id": ow.d1["id"]}, "cancel": {"reason": "x"}}.get(action, {})
    assert_problem(ow.act(o["id"], action, body, client=ow.c1), 403, "forbidden")
    assert_unchanged(ow, o, n_hist)


def test_anonymous_action_is_401(ow, api):
    o = ow.new_order()
    for action in ACTIONS:
        assert_problem(api.post(f"{V1}/orders/{o['id']}/{action}", json={}), 401, "unauthorized")


@pytest.mark.parametrize("status,action", LEGAL_PAIRS)
def test_scoped_manager_acting_on_other_warehouse_is_404(ow, status, action):
    o = ow.order_in(status, driver=ow.d3, warehouse_id=ow.wh_b["id"])
    n_hist = len(ow.history(o["id"]))
    body = {"assign": {"driver_id": ow.d1["id"]}, "fail": {"reason": "x"},
            "cancel": {"reason": "x"}}.get(action, {})
    r = ow.act(o["id"], action, body, client=ow.mgr_a)
    # assign names a driver of the manager's own warehouse; the order is still invisible
    assert_problem(r, 404, "not_found")
    assert_unchanged(ow, o, n_hist)


def test_scoped_manager_acts_in_own_warehouse(ow):
    o = ow.new_order(client=ow.mgr_a)
    ow.must(o["id"], "assign", {"driver_id": ow.d1["id"]}, client=ow.mgr_a)
    ow.must(o["id"], "unassign", client=ow.mgr_a)
    n = ow.must(o["id"], "cancel", {"reason": "scoped cancel"}, client=ow.mgr_a)
    assert n["status"] == "cancelled"
    assert ow.history(o["id"])[-1]["changed_by"] == changed_by(ow.mgr_a)


def test_scoped_manager_cannot_assign_other_warehouses_driver(ow):
    o = ow.new_order(client=ow.mgr_a)
    r = ow.act(o["id"], "assign", {"driver_id": ow.d3["id"]}, client=ow.mgr_a)
    # the driver is a value of the body: one the manager may not see is, to
    # them, no driver at all (the same answer as an unknown id), 422 on the field
    assert_problem(r, 422, "validation_failed")
    assert "driver_id" in field_names(r)
    assert ow.get(o["id"])["status"] == "pending"


# --- drivers: reassign, fail keeps, requeue clears -------------------------------------

def test_reassign_records_both_drivers_and_moves_visibility(ow):
    o = ow.order_in("assigned", driver=ow.d1)
    assert ow.get(o["id"], ow.c1)["id"] == o["id"]
    n = ow.must(o["id"], "assign", {"driver_id": ow.d2["id"]})
    assert n["driver_id"] == ow.d2["id"] and n["status"] == "assigned"
    assert parse_ts(n["assigned_at"]) >= parse_ts(o["assigned_at"])
    row = ow.history(o["id"])[-1]
    assert row["driver_id"] == ow.d2["id"]
    assert row.get("previous_driver_id") == ow.d1["id"], row
    assert_problem(ow.c1.get(f"{V1}/orders/{o['id']}"), 404, "not_found")
    assert_problem(ow.act(o["id"], "pickup", client=ow.c1), 404, "not_found")
    assert ow.get(o["id"], ow.c2)["driver_id"] == ow.d2["id"]
    assert ow.must(o["id"], "pickup", client=ow.c2)["status"] == "picked_up"


def test_fail_keeps_driver_who_may_return(ow):
    o = ow.order_in("picked_up", driver=ow.d1)
    f = ow.must(o["id"], "fail", {"reason": "refused", "reason_code": "customer_refused"},
                client=ow.c1)
    assert f["driver_id"] == ow.d1["id"]
    assert f["picked_up_at"] == o["picked_up_at"]
    assert ow.get(o["id"], ow.c1)["status"] == "failed"
    r = ow.must(o["id"], "return", {}, client=ow.c1)
    assert r["status"] == "returned" and is_ts(r["returned_at"])
    assert r["failure_reason"] == "refused" and r["failure_reason_code"] == "customer_refused"
    assert ow.history(o["id"])[-1]["changed_by"] == changed_by(ow.c1)


def test_requeue_clears_driver(ow):
    o = ow.order_in("failed", driver=ow.d1)
    n = ow.must(o["id"], "requeue", {})
    assert n["status"] == "pending" and n["driver_id"] is None
    assert_problem(ow.c1.get(f"{V1}/orders/{o['id']}"), 404, "not_found")
    # and it can be dispatched again
    assert ow.must(o["id"], "assign", {"driver_id": ow.d2["id"]})["driver_id"] == ow.d2["id"]


def test_unassign_clears_driver(ow):
    o = ow.order_in("assigned", driver=ow.d1)
    n = ow.must(o["id"], "unassign", {})
    assert n["status"] == "pending" and n["driver_id"] is None
    assert_problem(ow.c1.get(f"{V1}/orders/{o['id']}"), 404, "not_found")


def test_assign_to_inactive_driver_is_422(ow):
    drv, _ = ow.driver(ow.wh_a["id"], login=False)
    r = ow.admin.patch(f"{V1}/drivers/{drv['id']}", json={"is_active": False})
    assert r.status_code == 200, r.text
    for status in ("pending", "assigned", "failed"):
        o = ow.order_in(status, driver=ow.d1)
        n_hist = len(ow.history(o["id"]))
        assert "driver_id" in field_names(ow.act(o["id"], "assign", {"driver_id": drv["id"]}))
        assert_unchanged(ow, o, n_hist)


def test_assign_offline_driver_is_allowed(ow):
    drv, _ = ow.driver(ow.wh_a["id"], login=False)
    assert drv["is_online"] is False
    o = ow.new_order()
    assert ow.must(o["id"], "assign", {"driver_id": drv["id"]})["driver_id"] == drv["id"]


@pytest.mark.parametrize("body", [{}, {"driver_id": None}, {"driver_id": "abc"},
                                  {"driver_id": 999999999}, {"driver_id": 0}])
def test_assign_needs_a_known_driver(ow, body):
    o = ow.new_order()
    assert "driver_id" in field_names(ow.act(o["id"], "assign", body))
    assert ow.get(o["id"])["version"] == 1


# --- reasons ---------------------------------------------------------------------------

@pytest.mark.parametrize("action,status", [("fail", "assigned"), ("fail", "picked_up"),
                                           ("cancel", "pending"), ("cancel", "failed")])
@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": None}])
def test_reason_required(ow, action, status, body):
    o = ow.order_in(status, driver=ow.d1)
    n_hist = len(ow.history(o["id"]))
    assert "reason" in field_names(ow.act(o["id"], action, body))
    assert_unchanged(ow, o, n_hist)


def test_every_default_reason_code_is_accepted(ow):
    for code in FAILURE_CODES:
        o = ow.order_in("assigned", driver=ow.d1)
        n = ow.must(o["id"], "fail", {"reason": f"because {code}", "reason_code": code})
        assert n["failure_reason_code"] == code and n["failure_reason"] == f"because {code}"


@pytest.mark.parametrize("code", ["bogus", "Customer_Unreachable", "customer_unreachable ", 7])
def test_unknown_reason_code_is_422(ow, code):
    o = ow.order_in("assigned", driver=ow.d1)
    n_hist = len(ow.history(o["id"]))
    r = ow.act(o["id"], "fail", {"reason": "x", "reason_code": code})
    if code == "customer_unreachable ":
        # strings are trimmed by the one field validator: the known code
        assert r.status_code == 200, r.text
        assert r.json()["failure_reason_code"] == "customer_unreachable"
        return
    assert "reason_code" in field_names(r)
    assert_unchanged(ow, o, n_hist)


def test_reason_code_follows_the_setting(ow):
    settings = ow.admin.get(V1 + "/settings").json()
    old_codes = settings["failure_reason_codes"]
    assert isinstance(old_codes, list) and old_codes, settings
    code = "gate_locked_" + uniq("x")[-4:]
    try:
        set_setting(ow, "failure_reason_codes", old_codes + [code])
        time.sleep(1.2)
        o = ow.order_in("assigned", driver=ow.d1)
        n = ow.must(o["id"], "fail", {"reason": "locked", "reason_code": code})
        assert n["failure_reason_code"] == code
        assert ow.history(o["id"])[-1].get("reason_code", code) == code
    finally:
        set_setting(ow, "failure_reason_codes", old_codes)
        time.sleep(1.2)
    o = ow.order_in("assigned", driver=ow.d1)
    assert "reason_code" in field_names(ow.act(o["id"], "fail", {"reason": "x",
                                                                  "reason_code": code}))


def test_optional_reasons_recorded_in_history(ow):
    o = ow.order_in("failed", driver=ow.d1)
    ow.must(o["id"], "return", {"reason": "damaged box"})
    assert ow.history(o["id"])[-1]["reason"] == "damaged box"
    o = ow.order_in("pending")
    ow.must(o["id"], "cancel", {"reason": "  duplicate  "})
    assert ow.history(o["id"])[-1]["reason"] in ("duplicate", "  duplicate  ")


# --- versions on actions ------------------------------------------------------------------

def test_assign_with_version(ow):
    o = ow.new_order()
    n_hist = len(ow.history(o["id"]))
    body = assert_problem(ow.act(o["id"], "assign", {"driver_id": ow.d1["id"], "version": 7}),
                          409, "version_mismatch")
    assert "1" in body.get("detail", "")
    assert_unchanged(ow, o, n_hist)
    n = ow.must(o["id"], "assign", {"driver_id": ow.d1["id"], "version": 1})
    assert n["version"] == 2
    # the old version is now stale for a reassign as well
    assert_problem(ow.act(o["id"], "assign", {"driver_id": ow.d2["id"], "version": 1}),
                   409, "version_mismatch")
    assert ow.must(o["id"], "assign", {"driver_id": ow.d2["id"], "version": 2})["version"] == 3


@pytest.mark.parametrize("status,action", [("assigned", "pickup"), ("assigned", "unassign"),
                                           ("pending", "cancel"), ("failed", "requeue")])
def test_other_actions_honour_version(ow, status, action):
    o = ow.order_in(status, driver=ow.d1)
    body = {"cancel": {"reason": "x"}}.get(action, {})
    assert_problem(ow.act(o["id"], action, dict(body, version=o["version"] - 1 or 99)),
                   409, "version_mismatch")
    assert ow.get(o["id"]) == o
    n = ow.must(o["id"], action, dict(body, version=o["version"]))
    assert n["version"] == o["version"] + 1


def test_unknown_order_action_is_404(ow):
    for action in ACTIONS:
        assert_problem(ow.act(999999999, action), 404, "not_found")


# --- delivery time -------------------------------------------------------------------------

@pytest.mark.parametrize("interval,seconds,text", [
    ("1 hour 30 minutes", 5400, "01:30"),
    ("5 minutes 59 seconds", 359, "00:05"),
    ("26 hours 5 minutes", 93900, "26:05"),
])
def test_delivery_time(ow, interval, seconds, text):
    o = ow.order_in("picked_up", driver=ow.d1)
    assert o["delivery_time_seconds"] is None and o["delivery_time"] is None
    ow.pg.sql(f"UPDATE orders SET picked_up_at = now() - interval '{interval}' "
              f"WHERE id = {o['id']}")
    n = ow.must(o["id"], "deliver", {}, client=ow.c1)
    assert seconds <= n["delivery_time_seconds"] <= seconds + 3, n["delivery_time_seconds"]
    assert n["delivery_time"] == text
    got = ow.get(o["id"])
    assert got["delivery_time_seconds"] == n["delivery_time_seconds"]
    assert got["delivery_time"] == text
    expected = (parse_ts(got["delivered_at"]) - parse_ts(got["picked_up_at"])).total_seconds()
    assert abs(got["delivery_time_seconds"] - expected) < 1.0


# --- payment on delivery, proof of delivery ---------------------------------------------

def payments_of(ow, oid):
    out = ow.pg.sql("SELECT method, amount::text, discrepancy, coalesce(driver_id, 0) "
                    f"FROM payment_collections WHERE order_id = {oid} ORDER BY id")
    return [tuple(line.split("|")) for line in out.splitlines()]


def test_deliver_with_short_cash_records_discrepancy(ow):
    o = ow.order_in("picked_up", driver=ow.d1, amount="12.500")
    n = ow.must(o["id"], "deliver", {"recipient_name": "Mona", "notes": "short",
                                      "payment": {"method": "cash", "amount": "12.000"}},
                client=ow.c1)
    assert n["status"] == "delivered" and n["amount"] == "12.500"
    assert payments_of(ow, o["id"]) == [("cash", "12.000", "t", str(ow.d1["id"]))]


@pytest.mark.parametrize("amount", ["12.500", 12.5, "12.5"])
def test_deliver_with_exact_payment_has_no_discrepancy(ow, amount):
    o = ow.order_in("picked_up", driver=ow.d1, amount="12.500")
    ow.must(o["id"], "deliver", {"payment": {"method": "knet", "amount": amount}})
    assert payments_of(ow, o["id"]) == [("knet", "12.500", "f", str(ow.d1["id"]))]


def test_deliver_without_payment_records_none(ow):
    o = ow.order_in("picked_up", driver=ow.d1)
    ow.must(o["id"], "deliver", {"recipient_name": "X"}, client=ow.c1)
    assert payments_of(ow, o["id"]) == []


@pytest.mark.parametrize("payment", [{"method": "bitcoin", "amount": "1.000"},
                                     {"method": "cash"}, {"amount": "1.000"},
                                     {"method": "cash", "amount": "-1"}, "cash"])
def test_deliver_with_bad_payment_is_422(ow, payment):
    o = ow.order_in("picked_up", driver=ow.d1)
    n_hist = len(ow.history(o["id"]))
    assert_problem(ow.act(o["id"], "deliver", {"payment": payment}, client=ow.c1), 422,
                   "validation_failed")
    assert_unchanged(ow, o, n_hist)
    assert payments_of(ow, o["id"]) == []


def test_illegal_deliver_with_payment_records_nothing(ow):
    o = ow.order_in("assigned", driver=ow.d1)
    assert_problem(ow.act(o["id"], "deliver", {"payment": {"method": "cash", "amount": "1"}}),
                   409, "invalid_transition")
    assert payments_of(ow, o["id"]) == []


def test_proof_required(ow):
    o = ow.order_in("picked_up", driver=ow.d1)
    o2 = ow.order_in("picked_up", driver=ow.d1)
    old = ow.admin.get(V1 + "/settings").json()["require_proof_of_delivery"]
    assert old is False
    try:
        set_setting(ow, "require_proof_of_delivery", True)
        time.sleep(1.2)
        n_hist = len(ow.history(o["id"]))
        for client in (ow.c1, ow.mgr):
            assert_problem(ow.act(o["id"], "deliver", {"payment": {"method": "cash",
                                                                    "amount": "12.500"}},
                                  client=client), 409, "proof_required")
        assert_unchanged(ow, o, n_hist)
        assert payments_of(ow, o["id"]) == []
        r = ow.mgr.post(V1 + "/orders/batch-delivery", json={"order_ids": [o2["id"]]})
        assert r.status_code == 200, r.text
        assert r.json()["succeeded"] == []
        assert [(f["id"], f["code"]) for f in r.json()["failed"]] == \
            [(o2["id"], "proof_required")]
        # an illegal deliver is still invalid_transition, not proof_required
        a = ow.order_in("assigned", driver=ow.d1)
        assert_problem(ow.act(a["id"], "deliver", {}), 409, "invalid_transition")
    finally:
        set_setting(ow, "require_proof_of_delivery", old)
        time.sleep(1.2)
    assert ow.must(o["id"], "deliver", {}, client=ow.c1)["status"] == "delivered"


@pytest.mark.parametrize("status,action", [("assigned", "pickup"), ("assigned", "unassign"),
                                           ("failed", "requeue"), ("failed", "return"),
                                           ("picked_up", "deliver")])
def test_bodyless_actions_accept_no_body(ow, status, action):
    """The driver app posts pickup/deliver/... without a body."""
    o = ow.order_in(status, driver=ow.d1)
    r = ow.mgr.post(f"{V1}/orders/{o['id']}/{action}")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == LEGAL[(status, action)]


def test_action_body_must_be_an_object(ow):
    o = ow.new_order()
    r = ow.mgr.post(f"{V1}/orders/{o['id']}/assign", json=[ow.d1["id"]])
    assert_problem(r, 400)
    r = ow.mgr.post(f"{V1}/orders/{o['id']}/assign", data=b'{"driver_id": ',
                    headers={"Content-Type": "application/json"})
    assert_problem(r, 400, "malformed_json")
    assert ow.get(o["id"]) == o
