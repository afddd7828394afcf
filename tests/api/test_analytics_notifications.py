"""Analytics, driver suggestions and notifications through HTTP (API.md
"Settings, cron, analytics, suggestions, notifications" and issue 7).

The figures are cross-checked against orders this module creates in its own
warehouse, read by a manager scoped to it (so only these orders count),
with created/assigned/picked-up/delivered times set through SQL to known
values on a day of their own - including the business-timezone boundary:
21:00 UTC is already the next day in Asia/Kuwait."""

import random
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from ops_helpers import *  # noqa: F401,F403


def ts(day, hh, mm=0, ss=0, plus_days=0):
    """A UTC SQL literal on `day` (+plus_days) at hh:mm:ss UTC."""
    d = datetime.combine(day + timedelta(days=plus_days), datetime.min.time()).replace(
        hour=hh, minute=mm, second=ss, tzinfo=timezone.utc)
    return iso_z(d)


def set_times_sql(oid, **cols):
    sets = ", ".join(f"{k} = {'NULL' if v is None else repr(v)}::timestamptz" for k, v in cols.items())
    return f"UPDATE orders SET {sets} WHERE id = {oid}"


def summary(client, **params):
    r = client.get(V1 + "/analytics/summary", params=params)
    assert r.status_code == 200, f"summary {params}: {r.status_code} {r.text}"
    body = r.json()
    assert SUMMARY_KEYS <= set(body), f"summary lacks {sorted(SUMMARY_KEYS - set(body))}"
    return body


def close(a, b, tol=1.0):
    return a is not None and abs(float(a) - float(b)) <= tol


@pytest.fixture(scope="module")
def an(ops, pg):
    """Day D (a random past day), a warehouse with two drivers and the
    orders below, a manager scoped to it and one scoped elsewhere.

    | order | status    | created (UTC)       | assigned | picked up | delivered | ETA   | driver |
    | o1    | delivered | D 05:00             | 05:10    | 05:20     | 05:30     |       | A (cash 12.500) |
    | o2    | delivered | D 06:00             | 06:00    | 06:30     | 07:00     |       | A      |
    | o3    | delivered | D 07:00             | 07:00    | 09:00     | 09:50     |       | B      |
    | o4    | delivered | D 08:00             | 08:00    | 08:10     | 08:30     | 08:20 | B (knet) |
    | o5    | failed customer_not_home | D 09:00 |       |           |           |       | A      |
    | o6    | failed customer_not_home | D 10:00 |       |           |           |       | B      |
    | o7    | failed wrong_address     | D 11:00 |       |           |           |       | B      |
    | o8    | cancelled | D 12:00 |
    | o9    | pending   | D 13:00 |
    | o10   | assigned  | D 14:00 |   (driver A)
    | e1    | pending   | D-1 21:00:00 (= D 00:00 in Kuwait)  -> day D
    | e2    | pending   | D 20:59:59   (= D 23:59:59 in Kuwait) -> day D
    | n1    | pending   | D 21:00:00   (= D+1 00:00 in Kuwait) -> day D+1
    | p1    | pending   | D-1 20:59:59 (= D-1 23:59:59 in Kuwait) -> day D-1
    """
    class W:
        pass
    w = W()
    w.D = date(2021, 1, 1) + timedelta(days=random.randrange(0, 700))
    w.wh = ops.warehouse()
    w.wh2 = ops.warehouse()
    w.mgr = ops.manager(w.wh["id"])
    w.mgr2 = ops.manager(w.wh2["id"])
    w.boss = ops.manager()
    w.dA, w.cA = ops.driver(w.wh["id"], full_name="Analytic Alpha")
    w.dB, w.cB = ops.driver(w.wh["id"], full_name="Analytic Beta")
    D = w.D
    m = w.mgr

    def delivered(driver, client, pay=None):
        o = ops.new_order(m, w.wh["id"], amount="12.500")
        ops.must(m, o["id"], "assign", {"driver_id": driver["id"]})
        ops.must(client, o["id"], "pickup")
        ops.must(client, o["id"], "deliver", {"payment": pay} if pay else {})
        return o

    def failed(driver, client, code):
        o = ops.new_order(m, w.wh["id"])
        ops.must(m, o["id"], "assign", {"driver_id": driver["id"]})
        ops.must(client, o["id"], "fail", {"reason": "could not deliver", "reason_code": code})
        return o

    w.o1 = delivered(w.dA, w.cA, {"method": "cash", "amount": "12.500"})
    w.o2 = delivered(w.dA, w.cA)
    w.o3 = delivered(w.dB, w.cB)
    w.o4 = delivered(w.dB, w.cB, {"method": "knet", "amount": "12.500"})
    w.o5 = failed(w.dA, w.cA, "customer_not_home")
    w.o6 = failed(w.dB, w.cB, "customer_not_home")
    w.o7 = failed(w.dB, w.cB, "wrong_address")
    w.o8 = ops.order_in(m, w.wh["id"], "cancelled", w.dA)
    w.o9 = ops.new_order(m, w.wh["id"])
    w.o10 = ops.order_in(m, w.wh["id"], "assigned", w.dA)
    w.e1 = ops.new_order(m, w.wh["id"])
    w.e2 = ops.new_order(m, w.wh["id"])
    w.n1 = ops.new_order(m, w.wh["id"])
    w.p1 = ops.new_order(m, w.wh["id"])

    T = {
        w.o1["id"]: dict(created_at=ts(D, 5), assigned_at=ts(D, 5, 10), picked_up_at=ts(D, 5, 20),
                         delivered_at=ts(D, 5, 30)),
        w.o2["id"]: dict(created_at=ts(D, 6), assigned_at=ts(D, 6), picked_up_at=ts(D, 6, 30),
                         delivered_at=ts(D, 7)),
        w.o3["id"]: dict(created_at=ts(D, 7), assigned_at=ts(D, 7), picked_up_at=ts(D, 9),
                         delivered_at=ts(D, 9, 50)),
        w.o4["id"]: dict(created_at=ts(D, 8), assigned_at=ts(D, 8), picked_up_at=ts(D, 8, 10),
                         delivered_at=ts(D, 8, 30), estimated_delivery_time=ts(D, 8, 20)),
        w.e1["id"]: dict(created_at=ts(D, 21, plus_days=-1)),
        w.e2["id"]: dict(created_at=ts(D, 20, 59, 59)),
        w.n1["id"]: dict(created_at=ts(D, 21)),
        w.p1["id"]: dict(created_at=ts(D, 20, 59, 59, plus_days=-1)),
    }
    for o, h in ((w.o5, 9), (w.o6, 10), (w.o7, 11), (w.o8, 12), (w.o9, 13), (w.o10, 14)):
        T[o["id"]] = dict(created_at=ts(D, h))
    statements = [set_times_sql(oid, **cols) for oid, cols in T.items()]
    # work sessions of driver A: 2 h inside D, and 2 h across D's end in
    # Kuwait (D 20:00Z-22:00Z = D 23:00 - D+1 01:00 local): 1 h of it is D's
    statements.append("INSERT INTO work_sessions (driver_id, started_at, ended_at, end_reason) VALUES"
                      f" ({w.dA['id']}, '{ts(D, 5)}', '{ts(D, 7)}', 'offline'),"
                      f" ({w.dA['id']}, '{ts(D, 20)}', '{ts(D, 22)}', 'offline')")
    pg.sql("; ".join(statements))
    return w


# --- summary ------------------------------------------------------------------------------------

def test_summary_figures_for_the_day(an):
    D = an.D.isoformat()
    s = summary(an.mgr, **{"from": D, "to": D})
    assert (s["from"], s["to"]) == (D, D)
    assert s["orders_total"] == 12, s
    assert s["by_status"] == {"delivered": 4, "failed": 3, "cancelled": 1, "pending": 3,
                              "assigned": 1}, s["by_status"]
    assert (s["delivered"], s["failed"], s["cancelled"]) == (4, 3, 1)
    # delivery seconds 600, 1800, 3000, 1200
    assert close(s["avg_delivery_seconds"], 1650), s
    assert close(s["p50_delivery_seconds"], 1500), s
    assert close(s["p90_delivery_seconds"], 2640), s
    # assignment to pickup 600, 1800, 7200, 600
    assert close(s["avg_assign_to_pickup_seconds"], 2550), s
    # on time: o1, o2 within sla_minutes (120); o3 170 min; o4 after its ETA
    assert close(s["on_time_rate"], 0.5, 1e-6), s
    assert {f["code"]: f["count"] for f in s["failure_reasons"]} == {
        "customer_not_home": 2, "wrong_address": 1}, s["failure_reasons"]
    assert s["failure_reasons"][0]["code"] == "customer_not_home"


def test_summary_days_are_cut_in_business_timezone(an):
    D = an.D
    prev, nxt = (D - timedelta(days=1)).isoformat(), (D + timedelta(days=1)).isoformat()
    s = summary(an.mgr, **{"from": nxt, "to": nxt})
    assert s["orders_total"] == 1 and s["by_status"] == {"pending": 1}, s
    assert s["on_time_rate"] is None and s["avg_delivery_seconds"] is None
    assert s["failure_reasons"] == []
    s = summary(an.mgr, **{"from": prev, "to": prev})
    assert s["orders_total"] == 1 and s["by_status"] == {"pending": 1}, s
    s = summary(an.mgr, **{"from": prev, "to": nxt})
    assert s["orders_total"] == 14 and s["by_status"]["pending"] == 5, s
    assert s["delivered"] == 4


def test_summary_scope_default_day_and_validation(an, ops):
    D = an.D.isoformat()
    other = summary(an.mgr2, **{"from": D, "to": D})
    assert other["orders_total"] == 0 and other["by_status"] == {}
    everyone = summary(an.boss, **{"from": D, "to": D})
    assert everyone["orders_total"] >= 12
    admin = summary(ops.admin, **{"from": D, "to": D})
    assert admin["orders_total"] == everyone["orders_total"]
    today = datetime.now(timezone.utc).astimezone(KUWAIT).date().isoformat()
    s = summary(an.mgr)
    assert s["from"] == today and s["to"] == today, s
    for bad in ({"from": "yesterday"}, {"to": "2021-13-01"}, {"from": "2021-02-30"}):
        assert_problem(an.mgr.get(V1 + "/analytics/summary", params=bad), 422, "validation_failed")


def test_analytics_forbidden_to_drivers(an):
    for path in ("/analytics/summary", "/analytics/drivers", "/analytics/suggestions"):
        assert_problem(an.cA.get(V1 + path), 403, "forbidden")


def test_summary_is_never_older_than_the_writes(an, ops):
    """Figures for today, then a delivery, then the figures again at once."""
    before = summary(an.mgr)
    o = ops.new_order(an.mgr, an.wh["id"])
    after_create = summary(an.mgr)
    assert after_create["orders_total"] == before["orders_total"] + 1
    ops.must(an.mgr, o["id"], "assign", {"driver_id": an.dB["id"]})
    ops.must(an.cB, o["id"], "pickup")
    ops.must(an.cB, o["id"], "deliver")
    after = summary(an.mgr)
    assert after["delivered"] == before["delivered"] + 1, (before, after)
    assert after["by_status"].get("delivered", 0) == before["by_status"].get("delivered", 0) + 1


# --- drivers -------------------------------------------------------------------------------------

def test_driver_figures_for_the_day(an):
    D = an.D.isoformat()
    r = an.mgr.get(V1 + "/analytics/drivers", params={"from": D, "to": D})
    assert r.status_code == 200, r.text
    rows = r.json()
    assert isinstance(rows, list)
    keys = {"driver_id", "code", "full_name", "delivered", "failed", "avg_delivery_seconds",
            "on_time_rate", "online_seconds", "cash_unpaid"}
    for row in rows:
        assert keys <= set(row), row
    by = {row["driver_id"]: row for row in rows}
    assert set(by) == {an.dA["id"], an.dB["id"]}, "a scoped manager sees their warehouse's drivers"
    a, b = by[an.dA["id"]], by[an.dB["id"]]
    assert (a["code"], a["full_name"]) == (an.dA["code"], "Analytic Alpha")
    assert (a["delivered"], a["failed"]) == (2, 1), a
    assert close(a["avg_delivery_seconds"], 1200), a
    assert close(a["on_time_rate"], 1.0, 1e-6), a
    assert close(a["online_seconds"], 7200 + 3600), a
    assert Decimal(str(a["cash_unpaid"])) == Decimal("12.500"), a
    assert (b["delivered"], b["failed"]) == (2, 2), b
    assert close(b["avg_delivery_seconds"], 2100), b
    assert close(b["on_time_rate"], 0.0, 1e-6), b
    assert close(b["online_seconds"], 0), b
    assert Decimal(str(b["cash_unpaid"])) == Decimal("0"), b
    # the next day: driver A's session contributes its last hour
    nxt = (an.D + timedelta(days=1)).isoformat()
    r = an.mgr.get(V1 + "/analytics/drivers", params={"from": nxt, "to": nxt})
    by = {row["driver_id"]: row for row in r.json()}
    assert close(by[an.dA["id"]]["online_seconds"], 3600), by[an.dA["id"]]
    assert by[an.dA["id"]]["delivered"] == 0
    # another warehouse's manager does not see these drivers
    r = an.mgr2.get(V1 + "/analytics/drivers", params={"from": D, "to": D})
    assert r.status_code == 200
    assert not {row["driver_id"] for row in r.json()} & {an.dA["id"], an.dB["id"]}


# --- suggestions -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sg(ops):
    """A warehouse somewhere quiet (the sea south of Kuwait), a scoped
    manager, an online driver 1 km away, an offline driver right at the
    warehouse and a driver who never reported a position."""
    class W:
        pass
    w = W()
    lat = 28.2 + random.random() * 0.2
    lng = 48.9 + random.random() * 0.2
    w.lat, w.lng = lat, lng
    w.wh = ops.warehouse(lat=lat, lng=lng)
    w.mgr = ops.manager(w.wh["id"])
    w.online, w.c_online = ops.driver(w.wh["id"], full_name="Sugg Online")
    w.offline, w.c_offline = ops.driver(w.wh["id"], full_name="Sugg Offline")
    w.nopos, _ = ops.driver(w.wh["id"], full_name="Sugg Nowhere", login=False)
    r = w.c_offline.post(V1 + "/drivers/me/online", json={"latitude": lat, "longitude": lng})
    assert r.status_code in (200, 201), r.text
    r = w.c_offline.post(V1 + "/drivers/me/offline")
    assert r.status_code == 200, r.text
    r = w.c_online.post(V1 + "/drivers/me/online", json={"latitude": lat + 0.009, "longitude": lng})
    assert r.status_code in (200, 201), r.text
    return w


def suggestions(client, oid, **params):
    r = client.get(f"{V1}/orders/{oid}/suggestions", params=params)
    assert r.status_code == 200, f"suggestions {oid}: {r.status_code} {r.text}"
    body = r.json()
    assert isinstance(body, list), body
    for s in body:
        assert {"driver_id", "full_name", "score", "distance_km", "active_orders",
                "reasons"} <= set(s), s
        assert isinstance(s["reasons"], list) and s["reasons"], s
    return body


def test_suggestions_are_ranked_by_score_alone(ops, sg):
    """One score, best first (issue 20): the offline driver at the delivery
    point (distance 0) outscores the online one 1 km away, so it is listed
    first; online drivers are not put first regardless of score."""
    o = ops.new_order(sg.mgr, sg.wh["id"], delivery_latitude=sg.lat, delivery_longitude=sg.lng)
    top = suggestions(sg.mgr, o["id"])
    assert 1 <= len(top) <= 3
    assert [s["driver_id"] for s in top] == [sg.offline["id"], sg.online["id"], sg.nopos["id"]], top
    assert top[1]["full_name"] == "Sugg Online"
    assert 0.5 <= float(top[1]["distance_km"]) <= 1.5, top[1]
    assert top[1]["active_orders"] == 0
    assert float(top[0]["distance_km"]) < 0.05
    assert "offline" in top[0]["reasons"] and "online" in top[1]["reasons"], top
    lst = suggestions(sg.mgr, o["id"], limit=10)
    assert len(lst) <= 10
    scores = [float(s["score"]) for s in lst]
    assert scores == sorted(scores, reverse=True), lst
    # the suggestion never assigns
    assert ops.get(sg.mgr, o["id"])["status"] == "pending"
    for bad in (0, 11, "x"):
        assert_problem(sg.mgr.get(f"{V1}/orders/{o['id']}/suggestions", params={"limit": bad}),
                       422, "validation_failed")
    other_mgr = ops.manager(ops.warehouse()["id"])
    assert_problem(other_mgr.get(f"{V1}/orders/{o['id']}/suggestions"), 404, "not_found")


def test_no_suggestions_for_an_order_that_cannot_be_assigned(ops, sg, pg):
    """Suggestions are for orders that assign takes (pending, assigned,
    failed); a delivered, cancelled or picked-up order gets 409 and no
    remembered suggestion list (which no decision could ever follow)."""
    for status in ("delivered", "cancelled", "picked_up"):
        o = ops.order_in(sg.mgr, sg.wh["id"], status, sg.online)
        body = assert_problem(sg.mgr.get(f"{V1}/orders/{o['id']}/suggestions"), 409,
                              "invalid_transition")
        assert status in body["detail"], body
        assert pg.sql(f"SELECT count(*) FROM order_suggestions WHERE order_id = {o['id']}") == "0"
    failed = ops.order_in(sg.mgr, sg.wh["id"], "failed", sg.online)
    assert len(suggestions(sg.mgr, failed["id"])) >= 1


def test_assignments_after_suggestions_are_recorded_as_decisions(ops, sg):
    def stats():
        r = sg.mgr.get(V1 + "/analytics/suggestions")
        assert r.status_code == 200, r.text
        body = r.json()
        assert {"decisions", "accepted_top", "accepted_any", "acceptance_rate"} <= set(body), body
        return body
    before = stats()
    # 1: the top suggestion taken
    o1 = ops.new_order(sg.mgr, sg.wh["id"], delivery_latitude=sg.lat, delivery_longitude=sg.lng)
    s1 = suggestions(sg.mgr, o1["id"], limit=3)
    ops.must(sg.mgr, o1["id"], "assign", {"driver_id": s1[0]["driver_id"]})
    # 2: the second suggestion taken
    o2 = ops.new_order(sg.mgr, sg.wh["id"], delivery_latitude=sg.lat, delivery_longitude=sg.lng)
    s2 = suggestions(sg.mgr, o2["id"], limit=10)
    mine = {sg.online["id"], sg.offline["id"], sg.nopos["id"]}
    second = next((s["driver_id"] for s in s2[1:] if s["driver_id"] in mine), None)
    assert second is not None, s2
    ops.must(sg.mgr, o2["id"], "assign", {"driver_id": second})
    # 3: someone not suggested (only one was shown)
    o3 = ops.new_order(sg.mgr, sg.wh["id"], delivery_latitude=sg.lat, delivery_longitude=sg.lng)
    s3 = suggestions(sg.mgr, o3["id"], limit=1)
    pick = next(d for d in (sg.online, sg.offline, sg.nopos) if d["id"] != s3[0]["driver_id"])
    ops.must(sg.mgr, o3["id"], "assign", {"driver_id": pick["id"]})
    # 4: assigned without looking at suggestions: no decision
    o4 = ops.new_order(sg.mgr, sg.wh["id"])
    ops.must(sg.mgr, o4["id"], "assign", {"driver_id": sg.nopos["id"]})
    after = stats()
    assert after["decisions"] - before["decisions"] == 3, (before, after)
    assert after["accepted_top"] - before["accepted_top"] == 1, (before, after)
    assert after["accepted_any"] - before["accepted_any"] == 2, (before, after)
    if before["decisions"] == 0:
        assert close(after["acceptance_rate"], 2 / 3, 1e-3), after
    # a reassignment without new suggestions is not another decision
    ops.must(sg.mgr, o1["id"], "assign", {"driver_id": sg.nopos["id"]})
    assert stats()["decisions"] == after["decisions"]


# --- notifications ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def nt(ops):
    return ops.two_warehouses()


def failed_notes(client, oid):
    return [n for n in notifications_of(client)
            if n["type"] == "order_failed" and n["data"].get("order_id") == oid]


def test_failing_an_order_notifies_the_managers_who_can_see_it(ops, nt):
    o = ops.order_in(nt.mgr, nt.wh["id"], "assigned", nt.drv)
    r = nt.drv_client.post(f"{V1}/orders/{o['id']}/fail",
                           json={"reason": "nobody at the door",
                                 "reason_code": "customer_not_home"})
    assert r.status_code == 200, r.text
    for who in (nt.mgr, nt.boss):
        notes = failed_notes(who, o["id"])
        assert len(notes) == 1, notes
        n = notes[0]
        assert NOTIFICATION_KEYS <= set(n), n
        assert n["read_at"] is None and isinstance(n["title"], str) and n["title"]
        parse_ts(n["created_at"])
    assert failed_notes(nt.mgr2, o["id"]) == []
    assert [n for n in notifications_of(nt.drv_client)
            if n["data"].get("order_id") == o["id"]] == []


def test_unread_read_one_and_read_all(ops, nt):
    m = ops.manager(nt.wh["id"])  # a fresh manager: only the notifications below
    orders = [ops.order_in(nt.mgr, nt.wh["id"], "assigned", nt.drv) for _ in range(3)]
    for o in orders:
        ops.must(nt.drv_client, o["id"], "fail", {"reason": "closed shop"})
    r = m.get(V1 + "/notifications", params={"unread": "true", "page": 1, "page_size": 2})
    assert r.status_code == 200, r.text
    env = r.json()
    assert set(env) >= {"items", "page", "page_size", "total"}
    assert env["total"] == 3 and len(env["items"]) == 2 and env["page_size"] == 2
    page2 = m.get(V1 + "/notifications", params={"unread": "true", "page": 2, "page_size": 2}).json()
    assert len(page2["items"]) == 1
    all_ids = [n["id"] for n in env["items"] + page2["items"]]
    assert len(set(all_ids)) == 3
    created = [parse_ts(n["created_at"]) for n in env["items"] + page2["items"]]
    assert created == sorted(created, reverse=True), "newest first"

    first = all_ids[0]
    r = m.post(f"{V1}/notifications/{first}/read")
    assert r.status_code == 200, r.text
    assert r.json()["id"] == first and r.json()["read_at"] is not None
    unread = notifications_of(m, unread="true")
    assert {n["id"] for n in unread} == set(all_ids[1:])
    everything = notifications_of(m)
    assert len(everything) == 3
    assert next(n for n in everything if n["id"] == first)["read_at"] is not None
    # reading again keeps the first read time
    again = m.post(f"{V1}/notifications/{first}/read").json()
    assert again["read_at"] == r.json()["read_at"]
    # someone else's notification is not found
    assert_problem(nt.mgr2.post(f"{V1}/notifications/{first}/read"), 404, "not_found")
    assert_problem(m.post(f"{V1}/notifications/999999999/read"), 404, "not_found")

    r = m.post(f"{V1}/notifications/read-all")
    assert r.status_code in (200, 204), r.text
    assert notifications_of(m, unread="true") == []
    assert all(n["read_at"] is not None for n in notifications_of(m))
    # the other managers' notifications are still unread
    assert any(n["read_at"] is None for n in failed_notes(nt.boss, orders[0]["id"]))
