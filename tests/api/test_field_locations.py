"""GPS ingest, the live map and the trail through HTTP: single points and
batches (duplicates against stored points and within the batch, invalid and
out-of-range points rejected by index while the rest are stored, the
500-point limit), the latest position by recorded_at whatever order points
arrive in, the server's received_at, the map's shape, scope, stale flag,
is_online and active_orders, its micro-cache never hiding a fresh point, and
the trail's limit/range/order."""

from datetime import timedelta

import pytest

from field_helpers import *  # noqa: F401,F403 - fixtures and helpers

LOC = V1 + "/drivers/location"


def post_points(client, points, status=202):
    r = client.post(LOC, json={"points": points})
    assert r.status_code == status, f"POST location: {r.status_code} {r.text[:500]}"
    return r.json()


def post_point(client, status=202, **point):
    r = client.post(LOC, json=point)
    assert r.status_code == status, f"POST location: {r.status_code} {r.text[:500]}"
    return r.json()


def pt(lat, lng, when=None, **extra):
    p = {"latitude": lat, "longitude": lng}
    if when is not None:
        p["recorded_at"] = iso(when)
    p.update(extra)
    return p


def stored_times(fw, driver_id):
    return [x["recorded_at"] for x in fw.trail(driver_id, limit=50000)]


def settings(fw):
    return fw.admin.ok("GET", V1 + "/settings")


# --- ingest ---------------------------------------------------------------------

def test_single_point_is_stored_with_phone_time_and_server_time(fw):
    d, c = fw.driver(login=True)
    t = utcnow().replace(microsecond=0) - timedelta(seconds=90)
    body = post_point(c, latitude=29.3759, longitude=47.9774, accuracy=5.5, speed=3.25,
                      heading=90, recorded_at=iso(t))
    assert body == {"accepted": 1, "duplicates": 0, "rejected": []}

    last = fw.driver_row(d["id"])["last_location"]
    assert last is not None
    assert last["latitude"] == pytest.approx(29.3759)
    assert last["longitude"] == pytest.approx(47.9774)
    assert last["recorded_at"] == iso(t)

    trail = fw.trail(d["id"])
    assert isinstance(trail, list) and len(trail) == 1, trail
    p = trail[0]
    assert p["latitude"] == pytest.approx(29.3759) and p["longitude"] == pytest.approx(47.9774)
    assert p["recorded_at"] == iso(t)
    # the server keeps its own clock next to the phone's
    lag = float(fw.pg.sql(f"SELECT extract(epoch FROM received_at - recorded_at) "
                          f"FROM driver_locations WHERE driver_id = {d['id']}"))
    assert 80 <= lag <= 150, lag
    acc, spd, hdg = fw.pg.sql(f"SELECT accuracy, speed, heading FROM driver_locations "
                              f"WHERE driver_id = {d['id']}").split("|")
    assert (float(acc), float(spd), float(hdg)) == (5.5, 3.25, 90.0)


def test_point_without_recorded_at_uses_server_time(fw):
    d, c = fw.driver()
    before = utcnow().replace(microsecond=0)
    assert post_point(c, latitude=29.1, longitude=48.1) == \
        {"accepted": 1, "duplicates": 0, "rejected": []}
    last = fw.driver_row(d["id"])["last_location"]
    at = parse_ts(last["recorded_at"])
    assert before - timedelta(seconds=2) <= at <= utcnow() + timedelta(seconds=2), last


def test_repeated_point_is_a_duplicate_and_never_stored_twice(fw):
    d, c = fw.driver()
    t = utcnow() - timedelta(minutes=3)
    assert post_point(c, **pt(29.30, 47.90, t)) == {"accepted": 1, "duplicates": 0, "rejected": []}
    # the app replays its queue: same driver and recorded_at, even other coordinates
    assert post_point(c, **pt(29.30, 47.90, t)) == {"accepted": 0, "duplicates": 1, "rejected": []}
    assert post_point(c, **pt(29.99, 47.11, t)) == {"accepted": 0, "duplicates": 1, "rejected": []}
    trail = fw.trail(d["id"])
    assert len(trail) == 1, trail
    assert trail[0]["latitude"] == pytest.approx(29.30)
    assert fw.pg.sql(f"SELECT count(*) FROM driver_locations WHERE driver_id = {d['id']}") == "1"
    # the same recorded_at is no duplicate for another driver
    d2, c2 = fw.driver()
    assert post_point(c2, **pt(29.30, 47.90, t)) == {"accepted": 1, "duplicates": 0, "rejected": []}


def test_batch_with_duplicates_invalid_and_good_points(fw):
    d, c = fw.driver()
    days = int(settings(fw)["location_retention_days"])
    now = utcnow().replace(microsecond=0)
    t = [now - timedelta(minutes=30 - i) for i in range(6)]
    # one point already stored before the batch
    assert post_point(c, **pt(29.0, 47.0, t[2]))["accepted"] == 1

    points = [
        pt(29.10, 47.10, t[0]),                                   # 0 ok
        pt(29.11, 47.11, t[1]),                                   # 1 ok
        pt(29.12, 47.12, t[0]),                                   # 2 repeat within the batch
        pt(90.5, 47.0, t[3]),                                     # 3 latitude out of range
        pt(29.0, -180.5, t[3]),                                   # 4 longitude out of range
        pt(29.0, 47.0, now + timedelta(minutes=10)),              # 5 too far in the future
        pt(29.0, 47.0, now - timedelta(days=days + 2)),           # 6 older than retention
        pt(29.13, 47.13, t[2]),                                   # 7 already stored
        pt(29.14, 47.14, t[4]),                                   # 8 ok
        {"latitude": 29.0, "longitude": 47.0, "recorded_at": "yesterday noon"},  # 9 bad time
        pt(-90, 180, t[5]),                                       # 10 ok (bounds are inclusive)
        5,                                                        # 11 not an object
        {"latitude": 29.0, "recorded_at": iso(t[3])},             # 12 no longitude
        pt(29.15, 47.15, now + timedelta(minutes=2)),             # 13 ok (phone clock ahead)
        pt(-90.0001, 0, t[3]),                                    # 14 latitude out of range
        {"latitude": 29.0, "longitude": 47.0, "recorded_at": "2024-02-30T00:00:00Z"},  # 15 no such day
        {"latitude": 29.0, "longitude": 47.0,
         "recorded_at": "2024-01-01T10:00:00+16:00"},             # 16 no such offset
    ]
    body = post_points(c, points)
    assert set(body) == {"accepted", "duplicates", "rejected"}, body
    assert body["accepted"] == 5, body
    assert body["duplicates"] == 2, body
    rej = body["rejected"]
    assert sorted(x["index"] for x in rej) == [3, 4, 5, 6, 9, 11, 12, 14, 15, 16], rej
    for x in rej:
        assert set(x) == {"index", "message"} and isinstance(x["message"], str) and x["message"], x

    expected = sorted([t[0], t[1], t[2], t[4], t[5], now + timedelta(minutes=2)])
    assert stored_times(fw, d["id"]) == [iso(x) for x in expected]
    # the stored value for t[0] is the first occurrence's, t[2] keeps the pre-batch point
    by_time = {p["recorded_at"]: p for p in fw.trail(d["id"])}
    assert by_time[iso(t[2])]["latitude"] == pytest.approx(29.0)
    assert by_time[iso(t[0])]["latitude"] == pytest.approx(29.10)
    assert by_time[iso(t[5])]["latitude"] == pytest.approx(-90) and \
        by_time[iso(t[5])]["longitude"] == pytest.approx(180)
    # the newest accepted point is the latest position
    last = fw.driver_row(d["id"])["last_location"]
    assert last["recorded_at"] == iso(now + timedelta(minutes=2)), last


def test_batch_of_only_rejected_points_stores_nothing(fw):
    d, c = fw.driver()
    body = post_points(c, [pt(100, 0, utcnow()), pt(0, 200, utcnow())])
    assert body["accepted"] == 0 and body["duplicates"] == 0, body
    assert [x["index"] for x in body["rejected"]] == [0, 1]
    assert fw.trail(d["id"]) == []
    assert fw.driver_row(d["id"])["last_location"] is None


def test_batch_limit_500_accepted_501_refused(fw):
    d, c = fw.driver()
    base = utcnow().replace(microsecond=0) - timedelta(hours=2)
    points = [pt(29 + i / 10000, 48 - i / 10000, base + timedelta(seconds=i)) for i in range(500)]
    assert post_points(c, points) == {"accepted": 500, "duplicates": 0, "rejected": []}
    assert len(fw.trail(d["id"])) == 500
    assert fw.driver_row(d["id"])["last_location"]["recorded_at"] == iso(base + timedelta(seconds=499))

    d2, c2 = fw.driver()
    more = points + [pt(29.5, 48.5, base + timedelta(seconds=1000))]
    assert len(more) == 501
    r = c2.post(LOC, json={"points": more})
    assert_problem(r, 422, "validation_failed")
    assert fw.trail(d2["id"]) == [], "a refused batch stored points"

    r = c2.post(LOC, json={"points": []})
    assert_problem(r, 422, "validation_failed")


def test_only_drivers_post_locations(fw):
    r = fw.mgr.post(LOC, json=pt(29.0, 47.0))
    assert_problem(r, 403, "forbidden")
    r = fw.admin.post(LOC, json=pt(29.0, 47.0))
    assert_problem(r, 403, "forbidden")


# --- latest position --------------------------------------------------------------

def test_latest_position_is_newest_recorded_at_not_last_arrival(fw):
    d, c = fw.driver()
    now = utcnow().replace(microsecond=0)
    newer, older = now - timedelta(seconds=20), now - timedelta(minutes=20)
    post_point(c, **pt(29.50, 47.50, newer))
    post_point(c, **pt(29.10, 47.10, older))  # the offline queue arrives late
    last = fw.driver_row(d["id"])["last_location"]
    assert last == {"latitude": pytest.approx(29.50), "longitude": pytest.approx(47.50),
                    "recorded_at": iso(newer)}, last
    row = fw.poll_map(d["id"], lambda x: x["recorded_at"] is not None)
    assert row["recorded_at"] == iso(newer) and row["latitude"] == pytest.approx(29.50), row

    # a shuffled batch: the newest of it wins when it is newer than the stored one
    ts = [now - timedelta(seconds=s) for s in (15, 5, 18, 10)]
    post_points(c, [pt(29.6 + i / 100, 47.6, x) for i, x in enumerate(ts)])
    last = fw.driver_row(d["id"])["last_location"]
    assert last["recorded_at"] == iso(now - timedelta(seconds=5)), last
    assert last["latitude"] == pytest.approx(29.61), last
    # a shuffled batch of only older points changes nothing
    post_points(c, [pt(28.0, 46.0, now - timedelta(minutes=m)) for m in (7, 3, 9)])
    assert fw.driver_row(d["id"])["last_location"]["recorded_at"] == iso(now - timedelta(seconds=5))
    # the trail is oldest first whatever the arrival order
    times = stored_times(fw, d["id"])
    assert times == sorted(times, key=parse_ts) and len(times) == 9, times


def test_going_online_never_moves_the_latest_position_back(fw):
    """The phone clock may run ahead (points up to 5 minutes in the future
    are accepted); going online with coordinates stores a point too, and the
    latest position is still the newest recorded_at."""
    d, c = fw.driver()
    ahead = utcnow().replace(microsecond=0) + timedelta(minutes=2)
    post_point(c, **pt(29.9, 47.9, ahead))
    c.ok("POST", V1 + "/drivers/me/online", 201, json={"latitude": 28.1, "longitude": 46.1})
    try:
        assert len(fw.trail(d["id"])) == 2
        last = fw.driver_row(d["id"])["last_location"]
        assert last == {"latitude": pytest.approx(29.9), "longitude": pytest.approx(47.9),
                        "recorded_at": iso(ahead)}, last
    finally:
        c.ok("POST", V1 + "/drivers/me/offline")


# --- the live map -----------------------------------------------------------------

def test_map_shape_scope_and_roles(fw):
    da, ca = fw.driver(fw.wh_a["id"])
    db_, cb = fw.driver(fw.wh_b["id"])
    now = utcnow()
    post_point(ca, **pt(29.2, 47.2, now - timedelta(seconds=5)))
    post_point(cb, **pt(29.3, 47.3, now - timedelta(seconds=5)))

    row = fw.poll_map(da["id"], lambda x: x["recorded_at"] is not None)
    assert set(row) == MAP_KEYS, row
    assert row["code"] == da["code"] and row["full_name"] == da["full_name"]
    assert isinstance(row["is_online"], bool) and isinstance(row["stale"], bool)
    assert isinstance(row["active_orders"], int)
    assert is_ts(row["recorded_at"])
    assert fw.poll_map(db_["id"], lambda x: x["recorded_at"] is not None)["code"] == db_["code"]
    # an admin sees every warehouse too
    assert fw.map_row(da["id"], fw.admin) is not None and fw.map_row(db_["id"], fw.admin) is not None

    # the scoped manager sees only their warehouse
    rows = fw.map(fw.mgr_a)
    ids = {x["driver_id"] for x in rows}
    assert da["id"] in ids and db_["id"] not in ids

    # a driver without a point is listed without a position
    dn, _ = fw.driver()
    row = fw.poll_map(dn["id"], lambda x: True)
    assert row["latitude"] is None and row["longitude"] is None and row["recorded_at"] is None

    # an inactive driver leaves the map
    fw.mgr.ok("PATCH", f"{V1}/drivers/{dn['id']}", json={"is_active": False})
    poll(lambda: fw.map_row(dn["id"]) is None, 2.5, what="inactive driver off the map")

    # drivers do not read the map
    assert_problem(ca.get(V1 + "/drivers/locations"), 403, "forbidden")


def test_map_shows_a_new_point_at_once(fw):
    d, c = fw.driver()
    post_point(c, **pt(29.01, 47.01, utcnow() - timedelta(seconds=30)))
    fw.poll_map(d["id"], lambda x: x["latitude"] == pytest.approx(29.01))
    # the map is now cached; a new point must show on the next reads
    fw.map()
    post_point(c, **pt(29.02, 47.02, utcnow()))
    row = fw.poll_map(d["id"], lambda x: x["latitude"] == pytest.approx(29.02), timeout=2.0,
                      what="the new point on the map")
    assert row["longitude"] == pytest.approx(47.02)


def test_stale_flag(fw):
    stale_s = int(settings(fw)["location_stale_seconds"])
    old_d, old_c = fw.driver()
    new_d, new_c = fw.driver()
    now = utcnow()
    post_point(old_c, **pt(29.4, 47.4, now - timedelta(seconds=stale_s + 120)))
    post_point(new_c, **pt(29.4, 47.4, now - timedelta(seconds=5)))
    assert fw.poll_map(old_d["id"], lambda x: x["recorded_at"] is not None)["stale"] is True
    assert fw.poll_map(new_d["id"], lambda x: x["recorded_at"] is not None)["stale"] is False
    # a fresh point makes the stale driver current again
    post_point(old_c, **pt(29.41, 47.41, utcnow()))
    fw.poll_map(old_d["id"], lambda x: x["stale"] is False, what="fresh point clears stale")
    # an older point arriving late does not make it stale again
    post_point(old_c, **pt(29.42, 47.42, now - timedelta(seconds=stale_s + 300)))
    row = fw.poll_map(old_d["id"], lambda x: True)
    assert row["stale"] is False and row["latitude"] == pytest.approx(29.41), row


def test_map_is_online_and_active_orders(fw):
    d, c = fw.driver()
    row = fw.poll_map(d["id"], lambda x: True)
    assert row["is_online"] is False and row["active_orders"] == 0, row

    c.ok("POST", V1 + "/drivers/me/online", 201, json={"latitude": 29.33, "longitude": 47.99})
    row = fw.poll_map(d["id"], lambda x: x["is_online"] is True, what="online on the map")
    assert row["latitude"] == pytest.approx(29.33)

    fw.order_in("assigned", d)
    picked = fw.order_in("picked_up", d)
    fw.order_in("delivered", d)
    fw.order_in("failed", d)
    fw.order("3.000")  # pending, nobody's
    fw.poll_map(d["id"], lambda x: x["active_orders"] == 2, what="active_orders 2")
    fw.act(picked["id"], "deliver", {}, client=c)
    fw.poll_map(d["id"], lambda x: x["active_orders"] == 1, what="active_orders 1 after deliver")

    c.ok("POST", V1 + "/drivers/me/offline")
    fw.poll_map(d["id"], lambda x: x["is_online"] is False, what="offline on the map")


# --- the trail ---------------------------------------------------------------------

def test_trail_limit_range_and_order(fw):
    d, c = fw.driver()
    base = utcnow().replace(microsecond=0) - timedelta(hours=1)
    t = [base + timedelta(seconds=10 * i) for i in range(20)]
    order = list(range(20))
    order = order[10:] + order[:10]  # out of order arrival
    post_points(c, [pt(29 + i / 100, 47, t[i]) for i in order])

    full = fw.trail(d["id"])
    assert [p["recorded_at"] for p in full] == [iso(x) for x in t]
    assert full[0]["latitude"] == pytest.approx(29.00)

    # limit keeps the newest points, answered oldest first
    five = fw.trail(d["id"], limit=5)
    assert [p["recorded_at"] for p in five] == [iso(x) for x in t[15:]]
    one = fw.trail(d["id"], limit=1)
    assert [p["recorded_at"] for p in one] == [iso(t[19])]
    assert len(fw.trail(d["id"], limit=50000)) == 20

    # a time range (bounds chosen between points)
    part = fw.trail(d["id"], **{"from": iso(t[5] - timedelta(seconds=5)),
                                "to": iso(t[9] + timedelta(seconds=5))})
    assert [p["recorded_at"] for p in part] == [iso(x) for x in t[5:10]]
    part = fw.trail(d["id"], limit=2, **{"from": iso(t[5] - timedelta(seconds=5)),
                                         "to": iso(t[9] + timedelta(seconds=5))})
    assert [p["recorded_at"] for p in part] == [iso(x) for x in t[8:10]]

    for bad in ("0", "50001", "-1", "abc"):
        assert_problem(fw.mgr.get(f"{V1}/drivers/{d['id']}/locations", params={"limit": bad}),
                       422, "validation_failed")


def test_trail_visibility(fw):
    db_, cb = fw.driver(fw.wh_b["id"])
    post_point(cb, **pt(29.0, 47.0, utcnow()))
    assert len(fw.trail(db_["id"], fw.admin)) == 1
    # a manager scoped to another warehouse, an unknown driver: 404
    assert_problem(fw.mgr_a.get(f"{V1}/drivers/{db_['id']}/locations"), 404, "not_found")
    missing = int(fw.pg.sql("SELECT coalesce(max(id), 0) + 1000000 FROM drivers"))
    assert_problem(fw.mgr.get(f"{V1}/drivers/{missing}/locations"), 404, "not_found")
    # drivers do not read trails, not even their own
    assert_problem(cb.get(f"{V1}/drivers/{db_['id']}/locations"), 403, "forbidden")
