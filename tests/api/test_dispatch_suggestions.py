"""Dispatch aids of issue 20 (API.md v1.1 "Dispatch aids" and "Changes to
v1"): suggestions ranked by one score, best first, with reasons in words
and figures; a driver's history in the order's area; the backtest of the
suggestions against manual assignments (HTTP and `deliveryd
suggest-backtest`); the summary's failed_attempts; the new settings.

Every test builds its own warehouse somewhere quiet (the sea south of
Kuwait), its own drivers and a manager scoped to it, so only its own
drivers are candidates. Where a past has to be known (history in an area,
the backtest's day), the rows are made through the API and their times
moved with SQL, as test_analytics_notifications.py does.

Default weights (migration 0001 + 0027): distance 0.5, load 0.3, online
0.2, history 0.3, cash 0.1; the score is sql/schema/suggestions.sql's
suggestion_score(), re-computed here by expected_score()."""

import json
import math
import random
import secrets
from datetime import date, datetime, timedelta, timezone

import pytest

from ops_helpers import *  # noqa: F401,F403

W = {"distance": 0.5, "load": 0.3, "online": 0.2, "history": 0.3, "cash": 0.1}


def km_between(lat1, lng1, lat2, lng2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371 * 2 * math.asin(math.sqrt(a))


def expected_score(online=False, fresh=False, km=None, active=0, delivered=0, on_time=0,
                   cash=0.0, limit=100.0):
    presence = 1 if online and fresh else 0.5 if online else 0
    return (W["online"] * presence + W["distance"] * (0 if km is None else 1 / (1 + km))
            + W["load"] / (1 + active) + W["history"] * on_time / (delivered + 1)
            + W["cash"] * max(0.0, 1 - cash / limit))


def quiet_place():
    return 28.2 + random.random() * 0.2, 48.9 + random.random() * 0.2


def suggestions(client, oid, **params):
    r = client.get(f"{V1}/orders/{oid}/suggestions", params=params)
    assert r.status_code == 200, f"suggestions {oid}: {r.status_code} {r.text}"
    body = r.json()
    assert isinstance(body, list), body
    for s in body:
        assert {"driver_id", "full_name", "score", "distance_km", "active_orders",
                "reasons"} <= set(s), s
    return body


def by_driver(lst):
    return {s["driver_id"]: s for s in lst}


def go_online(client, lat, lng):
    r = client.post(V1 + "/drivers/me/online", json={"latitude": lat, "longitude": lng})
    assert r.status_code in (200, 201), r.text


def go_offline(client):
    r = client.post(V1 + "/drivers/me/offline")
    assert r.status_code == 200, r.text


def area_name(prefix="Area"):
    return f"{prefix}-{secrets.token_hex(3)}"


# --- one score, best first --------------------------------------------------------------------

def test_scores_are_non_increasing_with_an_offline_driver_above_an_online_one(ops):
    """An offline driver at the delivery point outranks an online driver
    20 km away because their score is higher; the list is in score order
    alone, and each score is the documented formula."""
    lat, lng = quiet_place()
    wh = ops.warehouse(lat=lat, lng=lng)
    mgr = ops.manager(wh["id"])
    near, c_near = ops.driver(wh["id"], full_name="Near Offline")
    far, c_far = ops.driver(wh["id"], full_name="Far Online")
    nopos, _ = ops.driver(wh["id"], full_name="No Position", login=False)
    go_online(c_near, lat, lng)
    go_offline(c_near)
    go_online(c_far, lat + 0.18, lng)
    o = ops.new_order(mgr, wh["id"], delivery_latitude=lat, delivery_longitude=lng,
                      area=area_name())
    lst = suggestions(mgr, o["id"], limit=10)
    assert [s["driver_id"] for s in lst] == [near["id"], far["id"], nopos["id"]], lst
    scores = [float(s["score"]) for s in lst]
    assert scores == sorted(scores, reverse=True), scores
    got = by_driver(lst)
    km_far = km_between(lat + 0.18, lng, lat, lng)
    assert abs(float(got[far["id"]]["distance_km"]) - km_far) < 0.02
    assert got[nopos["id"]]["distance_km"] is None
    assert abs(float(got[near["id"]]["score"]) - expected_score(km=0)) < 1e-3, got[near["id"]]
    assert abs(float(got[far["id"]]["score"])
               - expected_score(online=True, fresh=True, km=km_far)) < 1e-3, got[far["id"]]
    assert abs(float(got[nopos["id"]]["score"]) - expected_score()) < 1e-3, got[nopos["id"]]
    assert "offline" in got[near["id"]]["reasons"]
    assert "online" in got[far["id"]]["reasons"]
    assert "no position reported" in got[nopos["id"]]["reasons"]
    # the suggestion never assigns; limit cuts the same order
    assert ops.get(mgr, o["id"])["status"] == "pending"
    assert [s["driver_id"] for s in suggestions(mgr, o["id"], limit=2)] == [near["id"], far["id"]]


def test_reasons_give_every_factor_with_its_figure(ops, pg):
    """An online driver whose position is 25 minutes old, 3 active orders,
    85.000 KWD of cash held (limit 100.000) and no history in the area."""
    lat, lng = quiet_place()
    wh = ops.warehouse(lat=lat, lng=lng)
    mgr = ops.manager(wh["id"])
    d, c = ops.driver(wh["id"], full_name="Busy Reasons")
    go_online(c, lat + 0.0216, lng)  # about 2.4 km north
    for _ in range(2):
        ops.order_in(mgr, wh["id"], "assigned", d, area=area_name("Other"))
    ops.order_in(mgr, wh["id"], "picked_up", d, area=area_name("Other"))
    cash_order = ops.order_in(mgr, wh["id"], "picked_up", d, amount="85.000",
                              area=area_name("Other"))
    ops.must(c, cash_order["id"], "deliver", {"payment": {"method": "cash", "amount": "85.000"}})
    pg.sql("UPDATE drivers SET last_recorded_at = now() - interval '25 minutes 20 seconds',"
           f" last_seen_at = now() WHERE id = {d['id']}")
    area = area_name("Salmiya")
    o = ops.new_order(mgr, wh["id"], delivery_latitude=lat, delivery_longitude=lng, area=area)
    (s,) = [x for x in suggestions(mgr, o["id"], limit=10) if x["driver_id"] == d["id"]]
    km = km_between(lat + 0.0216, lng, lat, lng)
    assert s["reasons"] == [
        "online",
        "position 25 min old",
        f"{km:.1f} km away",
        "3 active orders",
        f"no deliveries in {area} yet",
        "holds 85.000 KWD cash (limit 100.000)",
    ], s
    assert s["active_orders"] == 3
    assert abs(float(s["score"]) - expected_score(online=True, fresh=False, km=km, active=3,
                                                  cash=85.0)) < 1e-3, s


def test_history_in_the_area_counts_on_time_and_late_deliveries(ops, pg):
    """The test's own history: driver H delivered in the area 3 times within
    90 days (2 on time: one by its ETA, one within sla_minutes of creation;
    1 after its ETA), once in the area under another case, once 100 days
    ago and once elsewhere (neither counts); driver N never delivered there."""
    lat, lng = quiet_place()
    wh = ops.warehouse(lat=lat, lng=lng)
    mgr = ops.manager(wh["id"])
    h, c_h = ops.driver(wh["id"], full_name="History Holder")
    n, _ = ops.driver(wh["id"], full_name="History None", login=False)
    area = area_name("Salmiya")

    def delivered(a, days_ago, minutes, eta_minutes=None):
        o = ops.order_in(mgr, wh["id"], "delivered", h, area=a)
        created = f"now() - interval '{days_ago} days'"
        eta = "NULL" if eta_minutes is None else f"{created} + interval '{eta_minutes} minutes'"
        pg.sql(f"UPDATE orders SET created_at = {created}, estimated_delivery_time = {eta},"
               f" delivered_at = {created} + interval '{minutes} minutes' WHERE id = {o['id']}")

    delivered(area, 3, 30, eta_minutes=60)            # on time by its ETA
    delivered(area.upper(), 10, 100)                  # on time: within 120 minutes, no ETA
    delivered(area, 20, 50, eta_minutes=40)           # late: after its ETA
    delivered(area, 100, 30)                          # too old
    delivered(area_name("Elsewhere"), 5, 30)          # another area
    o = ops.new_order(mgr, wh["id"], delivery_latitude=lat, delivery_longitude=lng, area=area)
    got = by_driver(suggestions(mgr, o["id"], limit=10))
    assert f"on time 2 of 3 in {area} (90 days)" in got[h["id"]]["reasons"], got[h["id"]]
    assert f"no deliveries in {area} yet" in got[n["id"]]["reasons"], got[n["id"]]
    # the history is inside the score (neither driver has a position)
    diff = float(got[h["id"]]["score"]) - float(got[n["id"]]["score"])
    assert abs(diff - W["history"] * 2 / 4) < 1e-3, got
    assert [s["driver_id"] for s in suggestions(mgr, o["id"], limit=2)] == [h["id"], n["id"]]
    # a shorter window: only the delivery of 3 days ago is left
    with ops.setting("suggestion_history_days", 7):
        got = by_driver(suggestions(mgr, o["id"], limit=10))
        assert f"on time 1 of 1 in {area} (7 days)" in got[h["id"]]["reasons"], got[h["id"]]


# --- settings ---------------------------------------------------------------------------------

def test_dispatch_settings_and_weights(ops):
    s = ops.admin.get(V1 + "/settings").json()
    assert s["driver_cash_limit"] == "100.000"
    assert s["suggestion_history_days"] == 90
    assert s["assign_warn_distance_km"] == 10
    assert s["assign_warn_active_orders"] == 6
    assert s["suggestion_weights"] == W, s["suggestion_weights"]
    for key, bad in (("driver_cash_limit", "abc"), ("driver_cash_limit", "0.000"),
                     ("driver_cash_limit", -5), ("driver_cash_limit", "1.2345"),
                     ("suggestion_history_days", 0), ("assign_warn_distance_km", "10"),
                     ("assign_warn_active_orders", 0),
                     ("suggestion_weights", {"distance": 0.5, "load": 0.3}),
                     ("suggestion_weights", {**W, "mood": 0.1}),
                     ("suggestion_weights", {**W, "history": 2})):
        r = ops.admin.put(f"{V1}/settings/{key}", json={"value": bad})
        assert_problem(r, 422, "validation_failed")
    # the three keys of v1 stay valid; a number of KWD is a limit too
    for key, good in (("suggestion_weights", {"distance": 0.5, "load": 0.3, "online": 0.2}),
                      ("driver_cash_limit", 150), ("driver_cash_limit", "150.500")):
        r = ops.admin.put(f"{V1}/settings/{key}", json={"value": good})
        assert r.status_code == 200, r.text
    for key, value in (("suggestion_weights", W), ("driver_cash_limit", "100.000")):
        r = ops.admin.put(f"{V1}/settings/{key}", json={"value": value})
        assert r.status_code == 200, r.text


# --- the backtest -------------------------------------------------------------------------------

def ts(day, hh, mm=0):
    return datetime.combine(day, datetime.min.time()).replace(
        hour=hh, minute=mm, tzinfo=timezone.utc).isoformat()


def set_history(pg, oid, times):
    """Moves the order's history rows, in id order, to `times`."""
    ids = pg.sql(f"SELECT id FROM order_status_history WHERE order_id = {oid} ORDER BY id").split()
    assert len(ids) == len(times), (oid, ids, times)
    pg.sql("; ".join(f"UPDATE order_status_history SET created_at = '{t}' WHERE id = {i}"
                     for i, t in zip(ids, times)))


@pytest.fixture(scope="module")
def bt(ops, pg):
    """Day D (in 2019, a day no other test's history uses), warehouse at P,
    driver X at P and driver Y at Q (20 km north), both in a work session
    all morning, positions recorded at 07:55. Manual assignments (UTC):

    | when  | order (point) | chosen | top suggestion then | outcome           |
    | 08:00 | o1 (P)        | X      | X                   | delivered 08:30, on time |
    | 09:00 | o2 (P)        | Y      | X (Y second)        | delivered 12:30, ETA 10:00: late |
    | 10:00 | o3 (Q)        | Y      | Y (X has history, Y is near) | still assigned |
    | 10:30 | o4 (P)        | X      | (by the system: changed_by NULL, not counted) |
    """
    w = type("BT", (), {})()
    w.D = date(2019, 1, 1) + timedelta(days=random.randrange(0, 360))
    D = w.D
    lat, lng = quiet_place()
    w.wh = ops.warehouse(lat=lat, lng=lng)
    w.mgr = ops.manager(w.wh["id"])
    w.x, w.cx = ops.driver(w.wh["id"], full_name="Backtest X")
    w.y, w.cy = ops.driver(w.wh["id"], full_name="Backtest Y")
    qlat = lat + 0.18
    area = area_name("Backtest")
    o1 = ops.new_order(w.mgr, w.wh["id"], delivery_latitude=lat, delivery_longitude=lng, area=area)
    ops.must(w.mgr, o1["id"], "assign", {"driver_id": w.x["id"]})
    ops.must(w.cx, o1["id"], "pickup")
    ops.must(w.cx, o1["id"], "deliver")
    o2 = ops.new_order(w.mgr, w.wh["id"], delivery_latitude=lat, delivery_longitude=lng, area=area)
    ops.must(w.mgr, o2["id"], "assign", {"driver_id": w.y["id"]})
    ops.must(w.cy, o2["id"], "pickup")
    ops.must(w.cy, o2["id"], "deliver")
    o3 = ops.new_order(w.mgr, w.wh["id"], delivery_latitude=qlat, delivery_longitude=lng,
                       area=area)
    ops.must(w.mgr, o3["id"], "assign", {"driver_id": w.y["id"]})
    o4 = ops.new_order(w.mgr, w.wh["id"], delivery_latitude=lat, delivery_longitude=lng, area=area)
    ops.must(w.mgr, o4["id"], "assign", {"driver_id": w.x["id"]})
    set_history(pg, o1["id"], [ts(D, 7, 50), ts(D, 8), ts(D, 8, 10), ts(D, 8, 30)])
    set_history(pg, o2["id"], [ts(D, 8, 50), ts(D, 9), ts(D, 9, 10), ts(D, 12, 30)])
    set_history(pg, o3["id"], [ts(D, 9, 50), ts(D, 10)])
    set_history(pg, o4["id"], [ts(D, 10, 20), ts(D, 10, 30)])
    pg.sql(f"""
      UPDATE order_status_history SET changed_by = NULL
       WHERE order_id = {o4['id']} AND to_status = 'assigned';
      UPDATE orders SET created_at = '{ts(D, 7, 50)}', assigned_at = '{ts(D, 8)}',
        picked_up_at = '{ts(D, 8, 10)}', delivered_at = '{ts(D, 8, 30)}' WHERE id = {o1['id']};
      UPDATE orders SET created_at = '{ts(D, 8, 50)}', assigned_at = '{ts(D, 9)}',
        picked_up_at = '{ts(D, 9, 10)}', delivered_at = '{ts(D, 12, 30)}',
        estimated_delivery_time = '{ts(D, 10)}' WHERE id = {o2['id']};
      UPDATE orders SET created_at = '{ts(D, 9, 50)}', assigned_at = '{ts(D, 10)}'
       WHERE id = {o3['id']};
      UPDATE orders SET created_at = '{ts(D, 10, 20)}', assigned_at = '{ts(D, 10, 30)}'
       WHERE id = {o4['id']};
      UPDATE drivers SET created_at = '{ts(D, 0)}'::timestamptz - interval '1 day'
       WHERE id IN ({w.x['id']}, {w.y['id']});
      INSERT INTO work_sessions (driver_id, started_at, ended_at, end_reason) VALUES
        ({w.x['id']}, '{ts(D, 7)}', '{ts(D, 13)}', 'offline'),
        ({w.y['id']}, '{ts(D, 7)}', '{ts(D, 13)}', 'offline');
      INSERT INTO driver_locations (driver_id, latitude, longitude, recorded_at) VALUES
        ({w.x['id']}, {lat}, {lng}, '{ts(D, 7, 55)}'),
        ({w.y['id']}, {qlat}, {lng}, '{ts(D, 7, 55)}');
    """)
    w.day = D.isoformat()
    return w


EXPECTED = {"assignments": 3, "top1": 2, "top3": 3, "top1_rate": 0.6667, "top3_rate": 1.0,
            "on_time_rate_top1": 1.0, "on_time_rate_other": 0.0}


def check_backtest(body, day):
    assert (body["from"], body["to"]) == (day, day), body
    for k, v in EXPECTED.items():
        assert body[k] == pytest.approx(v), (k, body)


def test_backtest_known_answer(ops, bt):
    r = bt.mgr.get(V1 + "/analytics/suggestions/backtest", params={"from": bt.day, "to": bt.day})
    assert r.status_code == 200, r.text
    body = r.json()
    check_backtest(body, bt.day)
    assert len(body["by_warehouse"]) == 1, body
    (w,) = body["by_warehouse"]
    assert w["warehouse_id"] == bt.wh["id"]
    for k in ("assignments", "top1", "top3", "top1_rate", "top3_rate", "on_time_rate_top1",
              "on_time_rate_other"):
        assert w[k] == pytest.approx(body[k]), (k, w, body)
    # another warehouse's manager sees nothing of it; the day before is empty
    other = ops.manager(ops.warehouse()["id"])
    r = other.get(V1 + "/analytics/suggestions/backtest", params={"from": bt.day, "to": bt.day})
    assert r.status_code == 200 and r.json()["assignments"] == 0, r.text
    assert r.json()["by_warehouse"] == [] and r.json()["top1_rate"] is None
    # an unscoped admin sees the same day (no other test assigns on it)
    r = ops.admin.get(V1 + "/analytics/suggestions/backtest", params={"from": bt.day, "to": bt.day})
    check_backtest(r.json(), bt.day)
    # drivers may not; dates are checked
    assert_problem(bt.cx.get(V1 + "/analytics/suggestions/backtest"), 403, "forbidden")
    assert_problem(bt.mgr.get(V1 + "/analytics/suggestions/backtest", params={"from": "D"}),
                   422, "validation_failed")


def test_backtest_from_the_command_line(bt, cli):
    r = cli("suggest-backtest", "--from", bt.day, "--to", bt.day)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    check_backtest(body, bt.day)
    assert [w["warehouse_id"] for w in body["by_warehouse"]] == [bt.wh["id"]]
    r = cli("suggest-backtest", "--from", "yesterday")
    assert r.returncode == 2 and "YYYY-MM-DD" in r.stderr, r
    r = cli("suggest-backtest", "--until", bt.day)
    assert r.returncode == 2 and "usage" in r.stderr, r


# --- failed attempts --------------------------------------------------------------------------

def test_summary_counts_failed_attempts_of_orders_later_redelivered(ops, pg):
    """r1 fails (customer_not_home), is requeued, assigned again and
    delivered; r2 fails twice (wrong_address, customer_not_home) and is
    returned; r3 fails without a code and stays failed. Failed now: 1;
    attempts: 4."""
    wh = ops.warehouse()
    mgr = ops.manager(wh["id"])
    d, c = ops.driver(wh["id"])
    day = date(2018, 1, 1) + timedelta(days=random.randrange(0, 360))

    def fail(oid, code=None):
        body = {"reason": "could not deliver"}
        if code:
            body["reason_code"] = code
        ops.must(c, oid, "fail", body)

    r1 = ops.new_order(mgr, wh["id"])
    ops.must(mgr, r1["id"], "assign", {"driver_id": d["id"]})
    fail(r1["id"], "customer_not_home")
    ops.must(mgr, r1["id"], "requeue")
    ops.must(mgr, r1["id"], "assign", {"driver_id": d["id"]})
    ops.must(c, r1["id"], "pickup")
    ops.must(c, r1["id"], "deliver")
    r2 = ops.new_order(mgr, wh["id"])
    ops.must(mgr, r2["id"], "assign", {"driver_id": d["id"]})
    fail(r2["id"], "wrong_address")
    ops.must(mgr, r2["id"], "assign", {"driver_id": d["id"]})
    fail(r2["id"], "customer_not_home")
    ops.must(c, r2["id"], "return")
    r3 = ops.new_order(mgr, wh["id"])
    ops.must(mgr, r3["id"], "assign", {"driver_id": d["id"]})
    fail(r3["id"])
    pg.sql(f"UPDATE orders SET created_at = '{ts(day, 8)}'"
           f" WHERE id IN ({r1['id']}, {r2['id']}, {r3['id']})")
    r = mgr.get(V1 + "/analytics/summary", params={"from": day.isoformat(), "to": day.isoformat()})
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["orders_total"] == 3, s
    assert (s["failed"], s["delivered"], s["failed_attempts"]) == (1, 1, 4), s
    assert {f["code"]: f["count"] for f in s["failure_reasons"]} == {
        "customer_not_home": 2, "wrong_address": 1, "unspecified": 1}, s["failure_reasons"]
    assert s["failure_reasons"][0]["code"] == "customer_not_home"
