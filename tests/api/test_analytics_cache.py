"""Analytics answers are shared by every instance through Redis for a few
seconds and refreshed by every write that changes them (issue 7: "results
micro-cached in Redis for a few seconds and invalidated by writes that
change them"); the list totals each process keeps for 2 s follow the same
writes at once.

Whether an answer came from the cache is read from the X-DB-Statements
header: a cached answer runs no SQL at all in its handler."""

from decimal import Decimal

import pytest

from helpers import Api
from ops_helpers import *  # noqa: F401,F403

PATHS = ("/analytics/summary", "/analytics/drivers", "/analytics/suggestions")


def ask(client, path="/analytics/summary", **params):
    """-> (body, statements the handler ran)."""
    r = client.get(V1 + path, params=params)
    assert r.status_code == 200, f"{path} {params}: {r.status_code} {r.text}"
    return r.json(), int(r.headers["X-DB-Statements"])


def cached(client, path="/analytics/summary", **params):
    """Asks twice; the second answer must come from the cache. -> body."""
    first, _ = ask(client, path, **params)
    again, n = ask(client, path, **params)
    assert n == 0, f"{path} {params}: a repeated question ran {n} statements"
    assert again == first
    return again


def fresh(client, path="/analytics/summary", **params):
    """The next answer must be computed again (a write made the cache stale)."""
    body, n = ask(client, path, **params)
    assert n >= 1, f"{path} {params}: answered from the cache after a write"
    return body


def driver_row(body, driver_id):
    rows = [d for d in body if d["driver_id"] == driver_id]
    assert len(rows) == 1, body
    return rows[0]


@pytest.fixture(scope="module")
def ac(ops):
    """A warehouse of its own with a scoped manager and one driver, and a
    manager of another warehouse."""
    class W:
        pass
    w = W()
    w.wh = ops.warehouse()
    w.mgr = ops.manager(w.wh["id"])
    w.other = ops.manager(ops.warehouse()["id"])
    w.drv, w.drv_client = ops.driver(w.wh["id"], full_name="Cache Driver")
    return w


def test_a_repeated_question_is_answered_from_the_cache(ac):
    day = {"from": "2022-03-04", "to": "2022-03-05"}
    for path in PATHS:
        body, n = ask(ac.mgr, path, **day)
        assert n >= 1, f"{path}: the first answer must be computed"
        assert cached(ac.mgr, path, **day) == body
    # another range is another question
    _, n = ask(ac.mgr, "/analytics/summary", **{"from": "2022-03-04", "to": "2022-03-04"})
    assert n >= 1


def test_each_scope_has_its_own_answer(ac, ops):
    ops.new_order(ac.mgr, ac.wh["id"])
    mine = cached(ac.mgr)
    assert mine["orders_total"] >= 1
    theirs, n = ask(ac.other)
    assert n >= 1 and theirs["orders_total"] == 0, theirs


def test_order_writes_refresh_the_figures_at_once(ac, ops):
    before = cached(ac.mgr)
    o = ops.new_order(ac.mgr, ac.wh["id"], amount="7.250")
    after = fresh(ac.mgr)
    assert after["orders_total"] == before["orders_total"] + 1

    cached(ac.mgr)
    ops.must(ac.mgr, o["id"], "assign", {"driver_id": ac.drv["id"]})
    assert fresh(ac.mgr)["by_status"].get("assigned", 0) == before["by_status"].get("assigned", 0) + 1

    cached(ac.mgr)
    ops.must(ac.drv_client, o["id"], "pickup")
    fresh(ac.mgr)

    drivers_before = driver_row(cached(ac.mgr, "/analytics/drivers"), ac.drv["id"])
    cached(ac.mgr)
    r = ac.drv_client.post(f"{V1}/orders/{o['id']}/deliver",
                           json={"payment": {"method": "cash", "amount": "7.250"}})
    assert r.status_code == 200, r.text
    assert fresh(ac.mgr)["delivered"] == before["delivered"] + 1
    drivers_after = driver_row(fresh(ac.mgr, "/analytics/drivers"), ac.drv["id"])
    assert drivers_after["delivered"] == drivers_before["delivered"] + 1
    assert Decimal(drivers_after["cash_unpaid"]) == Decimal(drivers_before["cash_unpaid"]) + Decimal("7.250")

    # handing the cash in is a write the drivers' figures show
    pays = ac.mgr.get(V1 + "/payments", params={"driver_id": ac.drv["id"], "status": "unpaid"}).json()
    ids = [p["id"] for p in pays["items"]]
    assert ids
    cached(ac.mgr, "/analytics/drivers")
    r = ac.mgr.post(V1 + "/payments/remit", json={"payment_ids": ids})
    assert r.status_code == 200, r.text
    assert Decimal(driver_row(fresh(ac.mgr, "/analytics/drivers"), ac.drv["id"])["cash_unpaid"]) == 0


def test_a_failed_write_keeps_the_cache(ac, ops):
    o = ops.new_order(ac.mgr, ac.wh["id"])
    cached(ac.mgr)
    r = ac.mgr.post(f"{V1}/orders/{o['id']}/pickup", json={})  # pending: not allowed
    assert r.status_code >= 400
    _, n = ask(ac.mgr)
    assert n == 0, "a refused write must not refresh the figures"


def test_going_online_refreshes_the_drivers_figures(ac):
    cached(ac.mgr, "/analytics/drivers")
    r = ac.drv_client.post(V1 + "/drivers/me/online", json={})
    assert r.status_code in (200, 201), r.text
    fresh(ac.mgr, "/analytics/drivers")
    cached(ac.mgr, "/analytics/drivers")
    r = ac.drv_client.post(V1 + "/drivers/me/offline", json={})
    assert r.status_code in (200, 204), r.text
    fresh(ac.mgr, "/analytics/drivers")


def test_a_write_on_another_instance_refreshes_this_one(ac, ops, start_daemon):
    second = start_daemon()
    try:
        token = ac.mgr.session.headers["Authorization"].split(" ", 1)[1]
        via_second = Api(second.url(), token=token)
        before = cached(via_second)
        ops.new_order(ac.mgr, ac.wh["id"])  # through the first instance
        assert fresh(via_second)["orders_total"] == before["orders_total"] + 1
        via_second.close()
    finally:
        second.stop()


def test_cron_jobs_refresh_the_figures(ac, secrets_env, cli):
    cached(ac.mgr)
    anonymous = Api(ac.mgr.base)
    r = cron_http(anonymous, secrets_env[0], "backfill")
    anonymous.close()
    assert r.status_code == 200, r.text
    fresh(ac.mgr)
    cached(ac.mgr)
    out = cli("cron", "sla-check")
    assert out.returncode == 0, out.stderr
    fresh(ac.mgr)


def test_a_bumped_generation_is_never_answered_from_the_old_entry(ac, redis):
    cached(ac.mgr)
    redis.cli("INCR", "gen:stats")  # what any instance's write does
    fresh(ac.mgr)


def test_list_totals_follow_writes_at_once(ops, pg, secrets_env):
    """GET /orders reuses a filter's total for 2 s; every write through the
    API, and the archive job, must still show in the very next list."""
    wh = ops.warehouse()
    mgr = ops.manager(wh["id"])

    def total(**params):
        return mgr.ok("GET", V1 + "/orders", params={"page_size": 1, **params})["total"]

    assert (total(), total(status="pending"), total(status="cancelled")) == (0, 0, 0)
    o = ops.new_order(mgr, wh["id"])
    assert (total(), total(status="pending")) == (1, 1)
    ops.must(mgr, o["id"], "cancel", {"reason": "customer changed mind"})
    assert (total(status="pending"), total(status="cancelled")) == (0, 1)
    # finished two days ago: the archive job (24 h buffer) hides it
    pg.sql(f"UPDATE orders SET cancelled_at = now() - interval '48 hours' WHERE id = {o['id']}")
    assert total() == 1
    anonymous = Api(mgr.base)
    r = cron_http(anonymous, secrets_env[0], "archive")
    anonymous.close()
    assert r.status_code == 200, r.text
    assert total() == 0 and total(archived="all") == 1
