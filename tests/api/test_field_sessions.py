"""Work sessions through HTTP: going online and offline (idempotent, 201 for a
new session, 200 for the open one, 204 when never online), coordinates on
going online stored as a point, exact durations in the paged session list,
its range filter and visibility, ten concurrent "online" calls opening one
session, and a silent driver shown offline by the map."""

import threading
from datetime import timedelta

import pytest

from field_helpers import *  # noqa: F401,F403 - fixtures and helpers
from helpers import Api, login, post_user

ONLINE = V1 + "/drivers/me/online"
OFFLINE = V1 + "/drivers/me/offline"


def assert_session(s, open_):
    assert isinstance(s, dict) and set(s) == SESSION_KEYS, s
    assert isinstance(s["id"], int)
    assert is_ts(s["started_at"])
    assert isinstance(s["duration_seconds"], int) and s["duration_seconds"] >= 0, s
    if open_:
        assert s["ended_at"] is None, s
    else:
        assert is_ts(s["ended_at"]), s
        assert parse_ts(s["ended_at"]) >= parse_ts(s["started_at"])
        span = (parse_ts(s["ended_at"]) - parse_ts(s["started_at"])).total_seconds()
        assert abs(s["duration_seconds"] - span) <= 1, s
    return s


def sessions(fw, driver_id, client=None, **params):
    body = (client or fw.mgr).ok("GET", f"{V1}/drivers/{driver_id}/sessions", params=params)
    assert set(body) == {"items", "page", "page_size", "total"}, body
    return body


def test_online_offline_are_idempotent(fw):
    d, c = fw.driver(login=True)
    # never online: nothing to close
    r = c.post(OFFLINE, json={})
    assert r.status_code == 204, r.text
    assert r.content == b""

    r = c.post(ONLINE, json={})
    assert r.status_code == 201, r.text
    s1 = assert_session(r.json(), open_=True)
    assert s1["duration_seconds"] <= 5
    assert fw.driver_row(d["id"])["is_online"] is True

    r = c.post(ONLINE, json={})
    assert r.status_code == 200, r.text
    again = assert_session(r.json(), open_=True)
    assert again["id"] == s1["id"] and again["started_at"] == s1["started_at"]

    r = c.post(OFFLINE, json={})
    assert r.status_code == 200, r.text
    closed = assert_session(r.json(), open_=False)
    assert closed["id"] == s1["id"] and closed["started_at"] == s1["started_at"]
    assert fw.driver_row(d["id"])["is_online"] is False

    # already offline: the last closed session, unchanged
    r = c.post(OFFLINE, json={})
    assert r.status_code == 200, r.text
    assert r.json() == closed

    # a new shift is a new session; offline then answers with that one
    s2 = c.ok("POST", ONLINE, 201, json={})
    assert s2["id"] != s1["id"]
    closed2 = assert_session(c.ok("POST", OFFLINE, json={}), open_=False)
    assert closed2["id"] == s2["id"]
    assert c.ok("POST", OFFLINE, json={})["id"] == s2["id"]

    assert fw.pg.sql(f"SELECT count(*), count(*) FILTER (WHERE ended_at IS NULL) "
                     f"FROM work_sessions WHERE driver_id = {d['id']}") == "2|0"
    body = sessions(fw, d["id"])
    assert body["total"] == 2
    assert {x["id"] for x in body["items"]} == {s1["id"], s2["id"]}


def test_online_with_coordinates_stores_the_point(fw):
    d, c = fw.driver()
    before = utcnow() - timedelta(seconds=2)
    c.ok("POST", ONLINE, 201, json={"latitude": 29.3375, "longitude": 48.0255})
    trail = fw.trail(d["id"])
    assert len(trail) == 1, trail
    assert trail[0]["latitude"] == pytest.approx(29.3375)
    assert trail[0]["longitude"] == pytest.approx(48.0255)
    assert parse_ts(trail[0]["recorded_at"]) >= before.replace(microsecond=0)
    last = fw.driver_row(d["id"])["last_location"]
    assert last["latitude"] == pytest.approx(29.3375) and last["longitude"] == pytest.approx(48.0255)
    c.ok("POST", OFFLINE, json={})

    # half a position or an impossible one is refused, and opens nothing
    for body in ({"latitude": 29.3}, {"longitude": 47.9}, {"latitude": 95, "longitude": 47.9},
                 {"latitude": 29.3, "longitude": 181}, {"latitude": "north", "longitude": 47.9}):
        r = c.post(ONLINE, json=body)
        assert_problem(r, 422, "validation_failed")
    assert fw.pg.sql(f"SELECT count(*) FILTER (WHERE ended_at IS NULL) FROM work_sessions "
                     f"WHERE driver_id = {d['id']}") == "0"
    assert len(fw.trail(d["id"])) == 1


def test_only_drivers_go_online(fw):
    assert_problem(fw.mgr.post(ONLINE, json={}), 403, "forbidden")
    assert_problem(fw.admin.post(OFFLINE, json={}), 403, "forbidden")


def test_session_list_durations_range_paging(fw):
    d, c = fw.driver()
    ids = []
    for _ in range(2):
        ids.append(c.ok("POST", ONLINE, 201, json={})["id"])
        c.ok("POST", OFFLINE, json={})
    ids.append(c.ok("POST", ONLINE, 201, json={})["id"])  # still open

    now = utcnow().replace(microsecond=0)
    s1_start = now - timedelta(hours=5)
    s2_start = now - timedelta(hours=1)
    fw.pg.sql(f"UPDATE work_sessions SET started_at = '{iso(s1_start)}', "
              f"ended_at = '{iso(s1_start + timedelta(seconds=3725))}' WHERE id = {ids[0]}")
    fw.pg.sql(f"UPDATE work_sessions SET started_at = '{iso(s2_start)}', "
              f"ended_at = '{iso(s2_start + timedelta(seconds=60))}' WHERE id = {ids[1]}")
    fw.pg.sql(f"UPDATE work_sessions SET started_at = now() - interval '100 seconds' "
              f"WHERE id = {ids[2]}")

    body = sessions(fw, d["id"])
    assert body["total"] == 3 and body["page"] == 1 and isinstance(body["page_size"], int)
    by_id = {x["id"]: x for x in body["items"]}
    assert set(by_id) == set(ids)
    for x in body["items"]:
        assert_session(x, open_=x["id"] == ids[2])
    assert by_id[ids[0]]["duration_seconds"] == 3725
    assert by_id[ids[0]]["started_at"] == iso(s1_start)
    assert by_id[ids[0]]["ended_at"] == iso(s1_start + timedelta(seconds=3725))
    assert by_id[ids[1]]["duration_seconds"] == 60
    assert 100 <= by_id[ids[2]]["duration_seconds"] <= 130, by_id[ids[2]]

    # the open session keeps counting on the driver's side too
    assert 100 <= c.ok("POST", ONLINE, json={})["duration_seconds"] <= 130

    # a range (bounds far from every session edge)
    recent = sessions(fw, d["id"], **{"from": iso(now - timedelta(hours=2))})
    assert {x["id"] for x in recent["items"]} == {ids[1], ids[2]} and recent["total"] == 2
    early = sessions(fw, d["id"], to=iso(now - timedelta(hours=2)))
    assert [x["id"] for x in early["items"]] == [ids[0]] and early["total"] == 1
    middle = sessions(fw, d["id"], **{"from": iso(now - timedelta(hours=2)),
                                      "to": iso(now - timedelta(minutes=30))})
    assert [x["id"] for x in middle["items"]] == [ids[1]]

    # paging
    p1 = sessions(fw, d["id"], page=1, page_size=2)
    p2 = sessions(fw, d["id"], page=2, page_size=2)
    assert p1["total"] == p2["total"] == 3
    assert (p1["page"], p1["page_size"], p2["page"]) == (1, 2, 2)
    assert len(p1["items"]) == 2 and len(p2["items"]) == 1
    assert {x["id"] for x in p1["items"] + p2["items"]} == set(ids)

    c.ok("POST", OFFLINE, json={})


def test_session_list_visibility(fw):
    db_, cb = fw.driver(fw.wh_b["id"])
    cb.ok("POST", ONLINE, 201, json={})
    cb.ok("POST", OFFLINE, json={})
    assert sessions(fw, db_["id"], fw.admin)["total"] == 1
    assert_problem(fw.mgr_a.get(f"{V1}/drivers/{db_['id']}/sessions"), 404, "not_found")
    missing = int(fw.pg.sql("SELECT coalesce(max(id), 0) + 1000000 FROM drivers"))
    assert_problem(fw.mgr.get(f"{V1}/drivers/{missing}/sessions"), 404, "not_found")
    # drivers do not read session lists, not even their own
    assert_problem(cb.get(f"{V1}/drivers/{db_['id']}/sessions"), 403, "forbidden")


def test_concurrent_online_opens_exactly_one_session(fw):
    d, c = fw.driver()
    token = c.session.headers["Authorization"].split(" ", 1)[1]
    n = 10
    barrier = threading.Barrier(n)
    results = [None] * n

    def go(i):
        api = Api(fw.base, token=token)  # a connection of its own per thread
        try:
            barrier.wait(timeout=10)
            r = api.post(ONLINE, json={})
            results[i] = (r.status_code, r.json() if r.content else None)
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = ("error", repr(e))
        finally:
            api.close()

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert all(not t.is_alive() for t in threads)
    statuses = sorted(s for s, _ in results)
    assert statuses == [200] * (n - 1) + [201], results
    assert len({b["id"] for _, b in results}) == 1, results
    assert fw.pg.sql(f"SELECT count(*), count(*) FILTER (WHERE ended_at IS NULL) "
                     f"FROM work_sessions WHERE driver_id = {d['id']}") == "1|1"
    c.ok("POST", OFFLINE, json={})


def test_silent_driver_is_shown_offline_by_the_map(fw):
    d, c = fw.driver()
    c.ok("POST", ONLINE, 201, json={"latitude": 29.2, "longitude": 47.6})
    fw.poll_map(d["id"], lambda x: x["is_online"] is True, what="online on the map")
    # nothing heard from the phone for two days (longer than any allowed setting)
    fw.pg.sql(f"UPDATE drivers SET last_seen_at = now() - interval '2 days' WHERE id = {d['id']}")
    # a new point elsewhere clears the map's cache; the silent driver is offline
    _, other = fw.driver()
    other.ok("POST", V1 + "/drivers/location", 202, json={"latitude": 29.0, "longitude": 47.0})
    fw.poll_map(d["id"], lambda x: x["is_online"] is False, what="silent driver offline")
    # a point from the driver brings them back
    c.ok("POST", V1 + "/drivers/location", 202, json={"latitude": 29.21, "longitude": 47.61})
    fw.poll_map(d["id"], lambda x: x["is_online"] is True, what="driver back online")
    c.ok("POST", OFFLINE, json={})


def test_a_driver_user_without_a_profile_is_told_so(fw):
    """A driver user made with POST /users has no driver profile: the
    drivers-only routes answer 403 saying so (the database refused the
    session and the points with a 422 before), and the rest still works."""
    user, body = post_user(fw.admin, "driver")
    c = Api(fw.admin.base, token=login(fw.admin.base, body["username"], body["password"])["access_token"])
    try:
        for method, path, payload in (("GET", V1 + "/drivers/me", None),
                                      ("POST", ONLINE, {}),
                                      ("POST", OFFLINE, {}),
                                      ("POST", V1 + "/drivers/location",
                                       {"latitude": 29.3, "longitude": 47.9})):
            r = c.request(method, path, json=payload)
            p = assert_problem(r, 403, "forbidden")
            assert "driver profile" in p["detail"], (path, p)
        r = c.get(V1 + "/auth/me")
        assert r.status_code == 200 and r.json()["id"] == user["id"], r.text
        r = c.get(V1 + "/orders")
        assert r.status_code == 200 and r.json()["total"] == 0, r.text
    finally:
        c.close()
