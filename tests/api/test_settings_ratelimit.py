"""Settings (read, typed and range-checked writes, in force within a second
on every instance) and the per-client rate limit (headers, 429, shared by
two daemons through Redis, Redis stopped and restarted).

Every test that changes a setting restores it through the database in a
finally block; rate-limit tests use fresh users so the low limits they set
for a few seconds cannot starve anyone else's counters afterwards."""

import json
import time

import pytest

from helpers import CORS_ORIGIN, Api, assert_problem, http_get, poll
from identity_helpers import (SETTING_DEFAULTS, V1, field_names, restore_setting_in_db,
                              temporary_setting)
from identity_helpers import idm  # noqa: F401 - fixtures

ME = V1 + "/auth/me"


# --- settings ------------------------------------------------------------------------

def test_settings_have_every_default_key(idm):
    s = idm.settings()
    assert isinstance(s, dict)
    missing = set(SETTING_DEFAULTS) | {"import_column_aliases", "suggestion_weights"}
    assert missing <= set(s), sorted(missing - set(s))
    for key, default in SETTING_DEFAULTS.items():
        assert s[key] == default, (key, s[key], default)
    assert isinstance(s["import_column_aliases"], dict) and s["import_column_aliases"]
    assert "Sales Order" in s["import_column_aliases"]["order_number"]
    assert isinstance(s["suggestion_weights"], dict) and s["suggestion_weights"]


def test_manager_reads_but_may_not_write_settings(idm):
    _, _, mgr = idm.user_client("manager")
    _, _, drv = idm.driver_client(idm.create_warehouse()["id"])
    try:
        r = mgr.get(V1 + "/settings")
        assert r.status_code == 200 and r.json()["lockout_threshold"] == idm.settings()["lockout_threshold"]
        assert_problem(mgr.put(V1 + "/settings/sla_minutes", json={"value": 90}), 403, "forbidden")
        assert_problem(drv.get(V1 + "/settings"), 403, "forbidden")
        assert_problem(drv.put(V1 + "/settings/sla_minutes", json={"value": 90}), 403, "forbidden")
        assert idm.settings()["sla_minutes"] == 120
    finally:
        mgr.close()
        drv.close()


def test_put_setting_answers_key_and_value(idm, pg):
    with temporary_setting(idm, pg, "sla_minutes", 95, wait=False):
        assert idm.settings()["sla_minutes"] == 95
        r = idm.admin.put(V1 + "/settings/require_proof_of_delivery", json={"value": True})
        try:
            assert r.status_code == 200 and r.json() == {"key": "require_proof_of_delivery",
                                                         "value": True}, r.text
        finally:
            restore_setting_in_db(pg, "require_proof_of_delivery", "false")
    assert idm.settings()["sla_minutes"] == 120


def test_unknown_setting_is_404(idm):
    assert_problem(idm.admin.put(V1 + "/settings/no_such_setting", json={"value": 1}), 404, "not_found")


@pytest.mark.parametrize("key,value", [
    ("lockout_threshold", "5"),
    ("lockout_threshold", 0),
    ("lockout_threshold", 2.5),
    ("max_page_size", 0),
    ("max_page_size", -5),
    ("rate_limit_per_minute", None),
    ("require_proof_of_delivery", "yes"),
    ("require_proof_of_delivery", 1),
    ("sla_minutes", True),
    ("business_timezone", 3),
    ("failure_reason_codes", []),
    ("failure_reason_codes", "damaged"),
    ("failure_reason_codes", ["Not Snake Case"]),
    ("failure_reason_codes", ["damaged", "other", "damaged"]),
    ("import_column_aliases", ["Order"]),
    ("suggestion_weights", {"distance": 2, "load": 0.5, "online": 0.5}),
])
def test_setting_with_a_bad_type_or_range_is_422(idm, pg, key, value):
    before = idm.settings()[key]
    r = idm.admin.put(f"{V1}/settings/{key}", json={"value": value})
    try:
        assert "value" in field_names(r)
    finally:
        if idm.settings()[key] != before:  # accepted after all: put it back
            restore_setting_in_db(pg, key, json.dumps(before))
    assert idm.settings()[key] == before


def test_setting_without_value_is_422(idm):
    assert "value" in field_names(idm.admin.put(V1 + "/settings/sla_minutes", json={}))


def test_business_timezone_must_be_iana(idm, pg):
    assert "value" in field_names(idm.admin.put(V1 + "/settings/business_timezone",
                                                json={"value": "Mars/Base"}))
    assert idm.settings()["business_timezone"] == "Asia/Kuwait"
    with temporary_setting(idm, pg, "business_timezone", "Asia/Riyadh", wait=False):
        assert idm.settings()["business_timezone"] == "Asia/Riyadh"
    assert idm.settings()["business_timezone"] == "Asia/Kuwait"


def test_setting_change_is_in_force_within_a_second(idm, pg, api):
    user, pw = idm.create_user("manager")
    with temporary_setting(idm, pg, "lockout_threshold", 2):
        r1 = api.post(V1 + "/auth/login", json={"username": user["username"], "password": "wrong-pw-1"})
        assert_problem(r1, 401, "invalid_credentials")
        r2 = api.post(V1 + "/auth/login", json={"username": user["username"], "password": "wrong-pw-1"})
        assert_problem(r2, 423, "account_locked")
        assert int(r2.headers["Retry-After"]) > 0


# --- rate limit -------------------------------------------------------------------------

def _rl(resp):
    h = resp.headers
    for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        assert name in h, (resp.status_code, resp.request.method, resp.request.url, dict(h))
    return int(h["RateLimit-Limit"]), int(h["RateLimit-Remaining"]), int(h["RateLimit-Reset"])


def test_every_api_response_carries_ratelimit_headers(idm, api):
    user, pw, c = idm.user_client("manager")
    try:
        limit = idm.settings()["rate_limit_per_minute"]
        first = c.get(ME)
        second = c.get(V1 + "/warehouses")
        lim1, rem1, reset1 = _rl(first)
        lim2, rem2, _ = _rl(second)
        assert lim1 == lim2 == limit
        assert rem2 == rem1 - 1, (rem1, rem2)  # this user's own counter
        assert 0 < reset1 <= 60
        # errors too: 401, 403, 404, 422 and unauthenticated requests
        for r in (api.get(ME), c.get(V1 + "/users"), c.get(V1 + "/drivers/999999999"),
                  c.post(V1 + "/warehouses", json={}), api.post(V1 + "/auth/login", json={})):
            assert r.status_code in (401, 403, 404, 422), r.text
            _rl(r)
        # operations endpoints are not limited and need not carry them
        assert http_get(api.base + "/health").status_code == 200
    finally:
        c.close()


def test_unrouted_api_responses_carry_ratelimit_headers(api):
    """API.md: every response under /api/v1 carries the RateLimit-* headers,
    also a 404 for an unknown path and a 405 for a wrong method."""
    _rl(assert_problem_response(api.get(V1 + "/no-such-route"), 404))
    _rl(assert_problem_response(api.delete(V1 + "/auth/login"), 405))


def test_preflight_and_early_413_carry_ratelimit_headers_uncounted(api):
    """The responses that are not counted (a CORS preflight, a 413 sent
    before the body is read) still carry RateLimit-*, and do not use the
    client's allowance up."""
    _, before, _ = _rl(api.get(V1 + "/no-such-route"))
    pre = api.options(V1 + "/auth/login", headers={"Origin": CORS_ORIGIN,
                                                   "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 204, pre.text
    _rl(pre)
    big = api.post(V1 + "/auth/login", data=b"x" * (2 * 1024 * 1024),
                   headers={"Content-Type": "application/json"})
    assert big.status_code == 413, big.text
    _rl(big)
    _, after, _ = _rl(api.get(V1 + "/no-such-route"))
    assert after == before - 1 or after > before, (before, after)  # (or a new window)


def assert_problem_response(r, status):
    assert_problem(r, status)
    return r


def _count_until_429(calls, bound):
    """Runs calls[i % len(calls)]() until a 429; returns (number of 200s, the 429 or None)."""
    ok = 0
    for i in range(bound):
        r = calls[i % len(calls)]()
        if r.status_code == 429:
            return ok, r
        assert r.status_code == 200, (i, r.status_code, r.text)
        ok += 1
    return ok, None


LOW_LIMIT = 30


@pytest.fixture(scope="module")
def second(start_daemon):
    """Another instance on the same PostgreSQL and Redis."""
    d = start_daemon()
    yield d
    d.stop()


def test_rate_limit_answers_429_with_retry_after(idm, pg):
    user, pw, c = idm.user_client("driver")  # logged in before the limit drops
    try:
        with temporary_setting(idm, pg, "rate_limit_per_minute", LOW_LIMIT):
            ok, r429 = _count_until_429([lambda: c.get(ME)], LOW_LIMIT + 10)
            assert r429 is not None, f"no 429 after {ok} requests with a limit of {LOW_LIMIT}"
            assert ok == LOW_LIMIT, ok
            body = assert_problem(r429, 429, "rate_limited")
            assert body["status"] == 429
            retry = int(r429.headers["Retry-After"])
            assert 0 < retry <= 60
            lim, rem, reset = _rl(r429)
            assert lim == LOW_LIMIT and rem == 0 and 0 < reset <= 60
            # the next request is refused too
            assert_problem(c.get(ME), 429, "rate_limited")
    finally:
        c.close()


def test_rate_limit_is_shared_by_two_daemons(idm, pg, second):
    user, pw = idm.create_user("manager")
    tok = idm.login(user["username"], pw)["access_token"]
    one, two = Api(idm.base, token=tok), Api(second.url(), token=tok)
    try:
        with temporary_setting(idm, pg, "rate_limit_per_minute", LOW_LIMIT):
            seen = {"one": 0, "two": 0}

            def via(name, client):
                def call():
                    r = client.get(ME)
                    if r.status_code == 200:
                        seen[name] += 1
                    return r
                return call

            ok, r429 = _count_until_429([via("one", one), via("two", two)], 2 * LOW_LIMIT + 10)
            assert r429 is not None, f"no 429 after {ok} requests across two daemons"
            assert ok == LOW_LIMIT, (ok, seen)
            assert seen["one"] > 0 and seen["two"] > 0
            assert_problem(r429, 429, "rate_limited")
            # both instances now refuse this user
            assert one.get(ME).status_code == 429
            assert two.get(ME).status_code == 429
            # the second instance saw the setting change too
            assert _rl(r429)[0] == LOW_LIMIT
    finally:
        one.close()
        two.close()


def test_settings_change_reaches_another_instance_within_a_second(idm, pg, second):
    user, pw = idm.create_user("manager")
    c = Api(second.url(), token=idm.login(user["username"], pw)["access_token"])
    try:
        assert _rl(c.get(ME))[0] == idm.settings()["rate_limit_per_minute"] != 4321
        # the change is made through the main instance; the second must see it
        with temporary_setting(idm, pg, "rate_limit_per_minute", 4321):
            assert _rl(c.get(ME))[0] == 4321
            assert c.get(V1 + "/settings").json()["rate_limit_per_minute"] == 4321
    finally:
        c.close()


def test_redis_down_keeps_the_api_serving_and_recovers(idm, redis, daemon):
    user, pw, c = idm.user_client("manager")
    uid = user["id"]
    try:
        assert c.get(ME).status_code == 200
        ready = http_get(daemon.url("/ready"))
        assert ready.status_code == 200 and ready.json().get("redis") == "up", ready.text

        redis.stop()
        try:
            for _ in range(5):
                t0 = time.monotonic()
                r = c.get(ME)
                assert r.status_code == 200, r.text
                assert time.monotonic() - t0 < 2.0
                _rl(r)
            r = c.get(V1 + "/warehouses")
            assert r.status_code == 200
            lim, rem, _ = _rl(r)
            assert lim == idm.settings()["rate_limit_per_minute"] and 0 <= rem < lim
            ready = poll(lambda: (lambda x: x if x.json().get("redis") == "down" else None)(
                http_get(daemon.url("/ready"))), timeout=5, what="/ready saying redis down")
            assert ready.status_code == 200, ready.text  # Redis down is reported, not fatal
            # logins still work
            assert idm.login(user["username"], pw)["user"]["id"] == uid
            # analytics are computed on every call instead of cached
            for _ in range(2):
                r = c.get(V1 + "/analytics/summary")
                assert r.status_code == 200, r.text
                assert int(r.headers["X-DB-Statements"]) >= 1
        finally:
            redis.start()

        poll(lambda: http_get(daemon.url("/ready")).json().get("redis") == "up", timeout=15,
             interval=0.3, what="/ready saying redis up again")
        # and this user's requests are counted in Redis again (it came back empty)
        def counted():
            assert c.get(ME).status_code == 200
            return any(str(uid) in k for k in redis.cli("KEYS", "*").split())
        poll(counted, timeout=10, interval=0.3, what="the rate limit counted in Redis again")
    finally:
        c.close()
