"""The cron jobs through HTTP (POST /cron/{job} with Bearer CRON_SECRET) and
the command line (`deliveryd cron <job>`): API.md "Settings, cron,
analytics, suggestions, notifications" and issue 7.

The jobs work on the whole (shared) database, so every assertion is about
this module's own orders, drivers and managers (read back through the API
or SQL); global counts are only compared with >= or as deltas computed
right before. A run with archive_buffer_hours at 0 would archive the other
modules' finished orders too: those are put back as they were."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from helpers import Api
from ops_helpers import *  # noqa: F401,F403

JOBS = ["archive", "backfill", "sla-check", "purge-locations"]
TERMINAL_SQL = "status IN ('delivered', 'cancelled', 'returned')"


@pytest.fixture(scope="module")
def cw(ops, secrets_env, daemon):
    class W:
        pass
    w = W()
    w.secret = secrets_env[0]
    w.api = Api(daemon.url())
    w.wh = ops.warehouse()
    w.wh_other = ops.warehouse()
    w.mgr = ops.manager(w.wh["id"])
    w.drv, w.drv_client = ops.driver(w.wh["id"])
    yield w
    w.api.close()


def run_cron(cw, job):
    r = cron_http(cw.api, cw.secret, job)
    assert r.status_code == 200, f"cron {job}: {r.status_code} {r.text}"
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


def run_cli(cli, job):
    p = cli("cron", job, timeout=120)
    assert p.returncode == 0, f"deliveryd cron {job}: exit {p.returncode}\n{p.stdout}{p.stderr}"
    return json.loads(p.stdout.strip().splitlines()[-1])


def archived_state(pg, ids):
    out = pg.sql("SELECT id, is_archived, coalesce(archived_at::text, '') FROM orders"
                 f" WHERE id IN ({','.join(map(str, ids))}) ORDER BY id")
    return {int(i): (a == "t", at) for i, a, at in (line.split("|") for line in out.splitlines())}


def set_terminal_age(pg, *pairs):
    """set_terminal_age(pg, order, hours, order, hours, ...): the order's
    terminal timestamp (created_at for pending) that many hours ago, in one psql call."""
    stmts = []
    for order, hours in zip(pairs[::2], pairs[1::2]):
        col = {"delivered": "delivered_at", "cancelled": "cancelled_at", "returned": "returned_at",
               "failed": "failed_at", "pending": "created_at"}[order["status"]]
        stmts.append(f"UPDATE orders SET {col} = now() - interval '{hours} hours' WHERE id = {order['id']}")
    pg.sql("; ".join(stmts))


def due_count(pg, hours):
    return int(pg.sql(
        f"SELECT count(*) FROM orders WHERE NOT is_archived AND {TERMINAL_SQL}"
        f" AND coalesce(delivered_at, cancelled_at, returned_at) <= now() - interval '{hours} hours'"))


# --- authentication ------------------------------------------------------------------------

@pytest.mark.parametrize("job", JOBS)
def test_cron_requires_the_secret(ops, cw, pg, job):
    due = ops.order_in(cw.mgr, cw.wh["id"], "delivered", cw.drv)
    set_terminal_age(pg, due, 72)
    jwt = ops.admin.session.headers["Authorization"].split(" ", 1)[1]
    for token in (None, "", "wrong-" + cw.secret, cw.secret[:-1], cw.secret + "x", jwt,
                  cw.secret.upper() if cw.secret.upper() != cw.secret else "X"):
        r = cron_http(cw.api, cw.secret, job, token=token)
        assert_problem(r, 401, "unauthorized")
    r = cw.api.post(f"{V1}/cron/{job}", headers={"Authorization": "Basic " + cw.secret})
    assert_problem(r, 401, "unauthorized")
    # nothing was done by the refused calls
    assert archived_state(pg, [due["id"]])[due["id"]][0] is False
    if job == "archive":
        assert run_cron(cw, "archive")["archived"] >= 1
        assert archived_state(pg, [due["id"]])[due["id"]][0] is True


def test_a_body_of_any_kind_is_ignored(cw):
    """curl -d '{}' sends a form-encoded body: the jobs take no body, so it
    is ignored, not a 415."""
    for headers, data in (({"Content-Type": "application/x-www-form-urlencoded"}, b"{}"),
                          ({"Content-Type": "text/plain"}, b"run"), ({}, b"")):
        r = cw.api.post(f"{V1}/cron/purge-locations", data=data,
                        headers={"Authorization": f"Bearer {cw.secret}", **headers})
        assert r.status_code == 200 and set(r.json()) == {"deleted"}, r.text


def test_unknown_job_is_404_and_get_is_405(cw):
    assert_problem(cron_http(cw.api, cw.secret, "defragment"), 404, "not_found")
    r = cw.api.get(f"{V1}/cron/archive", headers={"Authorization": f"Bearer {cw.secret}"})
    assert_problem(r, 405, "method_not_allowed")
    assert "POST" in r.headers.get("Allow", "")


def test_missing_secrets_make_the_endpoints_unavailable(start_daemon):
    d = start_daemon(CRON_SECRET=None, D365_WEBHOOK_SECRET=None)
    a = Api(d.url())
    try:
        assert_problem(a.post(f"{V1}/cron/archive", headers={"Authorization": "Bearer anything"}),
                       503, "unavailable")
        assert_problem(a.post(f"{V1}/webhooks/d365", data=b"{}",
                              headers=d365_headers("anything", b"{}")), 503, "unavailable")
    finally:
        a.close()


# --- archive ----------------------------------------------------------------------------------

def test_archive_with_24_hour_buffer(ops, cw, pg):
    d_old = ops.order_in(cw.mgr, cw.wh["id"], "delivered", cw.drv)
    c_old = ops.order_in(cw.mgr, cw.wh["id"], "cancelled", cw.drv)
    r_old = ops.order_in(cw.mgr, cw.wh["id"], "returned", cw.drv)
    d_new = ops.order_in(cw.mgr, cw.wh["id"], "delivered", cw.drv)
    f_old = ops.order_in(cw.mgr, cw.wh["id"], "failed", cw.drv)
    p_old = ops.order_in(cw.mgr, cw.wh["id"], "pending", cw.drv)
    set_terminal_age(pg, d_old, 25, c_old, 30, r_old, 48, d_new, 23, f_old, 100, p_old, 100)
    with ops.setting("archive_buffer_hours", 24):
        res = run_cron(cw, "archive")
    assert set(res) == {"archived"} and res["archived"] >= 3, res
    for o in (d_old, c_old, r_old):
        got = ops.get(cw.mgr, o["id"])  # GET /orders/{id} shows archived orders too
        assert got["is_archived"] is True and got["archived_at"] is not None, got
        assert got["status"] == o["status"]
    for o in (d_new, f_old, p_old):
        got = ops.get(cw.mgr, o["id"])
        assert got["is_archived"] is False and got["archived_at"] is None, (o["status"], got)
    # lists: hidden by default, shown with archived=true|all
    def numbers(**params):
        r = cw.mgr.get(V1 + "/orders", params={"warehouse_id": cw.wh["id"], "page_size": 200, **params})
        assert r.status_code == 200, r.text
        return {o["id"] for o in r.json()["items"]}
    arch = {d_old["id"], c_old["id"], r_old["id"]}
    live = {d_new["id"], f_old["id"], p_old["id"]}
    assert not numbers() & arch and live <= numbers()
    assert numbers(archived="false") == numbers()
    assert arch <= numbers(archived="true") and not numbers(archived="true") & live
    assert arch | live <= numbers(archived="all")


def test_archive_with_zero_buffer_over_http_and_cli(ops, cw, pg, cli):
    just_now = ops.order_in(cw.mgr, cw.wh["id"], "delivered", cw.drv)
    cancelled_now = ops.order_in(cw.mgr, cw.wh["id"], "cancelled", cw.drv)
    still_open = ops.order_in(cw.mgr, cw.wh["id"], "picked_up", cw.drv)
    mine = {just_now["id"], cancelled_now["id"]}
    others = set(map(int, pg.sql(f"SELECT id FROM orders WHERE NOT is_archived AND {TERMINAL_SQL}")
                     .split())) - mine
    try:
        with ops.setting("archive_buffer_hours", 0):
            res = run_cron(cw, "archive")
            assert res["archived"] >= 2, res
            st = archived_state(pg, mine)
            assert all(a for a, _ in st.values()), st
            assert ops.get(cw.mgr, still_open["id"])["is_archived"] is False
            # the same job from the command line, with a newly finished order
            later = ops.order_in(cw.mgr, cw.wh["id"], "returned", cw.drv)
            out = run_cli(cli, "archive")
            assert set(out) == {"archived"} and out["archived"] >= 1, out
            assert ops.get(cw.mgr, later["id"])["is_archived"] is True
            assert archived_state(pg, mine) == st, "a second run touched already archived orders"
    finally:
        if others:  # put the other modules' orders back as they were
            pg.sql("UPDATE orders SET is_archived = false, archived_at = NULL"
                   f" WHERE id IN ({','.join(map(str, others))})")


def test_two_archive_runs_at_once_archive_each_order_once(ops, cw, pg, cli):
    orders = [ops.order_in(cw.mgr, cw.wh["id"], s, cw.drv)
              for s in ("delivered", "delivered", "cancelled", "returned", "delivered", "cancelled")]
    set_terminal_age(pg, *[x for o in orders for x in (o, 48)])
    ids = [o["id"] for o in orders]
    with ops.setting("archive_buffer_hours", 24):
        expected = due_count(pg, 24)
        assert expected >= len(orders)

        def http_run():
            return run_cron(cw, "archive")["archived"]

        def cli_run():
            return run_cli(cli, "archive")["archived"]

        results = at_once(http_run, http_run, cli_run)
        assert len(results) == 3, results
        assert sum(results) == expected, f"runs archived {results}, {expected} were due"
        st = archived_state(pg, ids)
        assert all(a for a, _ in st.values()), st
        again = run_cron(cw, "archive")
        assert again["archived"] == 0, again
        assert archived_state(pg, ids) == st, "archived_at changed on a later run"


# --- backfill -----------------------------------------------------------------------------------

def test_backfill_fills_nulled_timestamps_and_customer_columns(ops, cw, pg, cli):
    delivered = ops.order_in(cw.mgr, cw.wh["id"], "delivered", cw.drv)
    failed = ops.order_in(cw.mgr, cw.wh["id"], "failed", cw.drv)
    cancelled = ops.order_in(cw.mgr, cw.wh["id"], "cancelled", cw.drv)
    returned = ops.order_in(cw.mgr, cw.wh["id"], "returned", cw.drv)
    a = ops.new_order(cw.mgr, cw.wh["id"])
    b = ops.new_order(cw.mgr, cw.wh["id"])
    keep = ops.new_order(cw.mgr, cw.wh["id"], customer_name="Keep This Name",
                         customer_phone="55559999", delivery_address="Keep Address")
    bad = ops.new_order(cw.mgr, cw.wh["id"])
    odd = ops.new_order(cw.mgr, cw.wh["id"])
    orig = {o["id"]: ops.get(cw.mgr, o["id"]) for o in (delivered, failed, cancelled, returned)}
    # the previous schema's rows: timestamps missing, customer data only in the JSON blob
    stmts = []
    stmts.append("UPDATE orders SET assigned_at = NULL, picked_up_at = NULL, delivered_at = NULL"
           f" WHERE id = {delivered['id']}")
    stmts.append(f"UPDATE orders SET failed_at = NULL WHERE id = {failed['id']}")
    stmts.append(f"UPDATE orders SET cancelled_at = NULL WHERE id = {cancelled['id']}")
    stmts.append(f"UPDATE orders SET returned_at = NULL, failed_at = NULL WHERE id = {returned['id']}")
    stmts.append("UPDATE orders SET customer_info = '{\"name\": \"Blob Name A\", \"phone\": \"50011122\","
           " \"address\": \"Blob Address A\", \"lat\": 29.25, \"lng\": 48.05, \"vip\": true}',"
           " customer_name = NULL, customer_phone = NULL, delivery_address = NULL,"
           f" delivery_latitude = NULL, delivery_longitude = NULL WHERE id = {a['id']}")
    stmts.append("UPDATE orders SET customer_info = '{\"customer_name\": \"اسم من الملف\","
           " \"mobile\": \"+965 6002 2334\", \"delivery_address\": \"Blob Address B\","
           " \"latitude\": \"29.5\", \"longitude\": \"47.75\"}',"
           " customer_name = NULL, customer_phone = NULL, delivery_address = NULL,"
           f" delivery_latitude = NULL, delivery_longitude = NULL WHERE id = {b['id']}")
    stmts.append("UPDATE orders SET customer_info = '{\"name\": \"Other\", \"phone\": \"50000001\","
           f" \"address\": \"Other\"}}' WHERE id = {keep['id']}")
    stmts.append("UPDATE orders SET customer_info = '{\"phone\": \"12\"}', customer_phone = NULL"
           f" WHERE id = {bad['id']}")
    # coordinates that strtod reads but are no coordinates: not copied, and
    # no reason to fail the run (a NaN used to reach the CHECK: 422 forever)
    stmts.append("UPDATE orders SET customer_info = '{\"name\": \"Odd Coordinates\","
           " \"lat\": \"nan\", \"lng\": \"0x1A\", \"latitude\": \"inf\"}',"
           " customer_name = NULL, delivery_latitude = NULL, delivery_longitude = NULL"
           f" WHERE id = {odd['id']}")
    pg.sql("; ".join(stmts))

    res = run_cron(cw, "backfill")
    assert set(res) == {"timestamps_filled", "customer_fields_filled"}, res
    assert res["timestamps_filled"] >= 7, res  # 3 + 1 + 1 + 2
    assert res["customer_fields_filled"] >= 10, res  # 5 + 5

    for oid, before in orig.items():
        after = ops.get(cw.mgr, oid)
        for k in ("assigned_at", "picked_up_at", "delivered_at", "failed_at", "cancelled_at",
                  "returned_at"):
            assert after[k] == before[k], (oid, k, before[k], after[k])
    d = ops.get(cw.mgr, delivered["id"])
    assert d["delivery_time_seconds"] is not None
    ga = ops.get(cw.mgr, a["id"])
    assert ga["customer_name"] == "Blob Name A"
    assert ga["customer_phone"] == "+96550011122"
    assert ga["delivery_address"] == "Blob Address A"
    assert ga["delivery_latitude"] == 29.25 and ga["delivery_longitude"] == 48.05
    gb = ops.get(cw.mgr, b["id"])
    assert gb["customer_name"] == "اسم من الملف"
    assert gb["customer_phone"] == "+96560022334"
    assert gb["delivery_address"] == "Blob Address B"
    assert gb["delivery_latitude"] == 29.5 and gb["delivery_longitude"] == 47.75
    gk = ops.get(cw.mgr, keep["id"])
    assert (gk["customer_name"], gk["delivery_address"]) == ("Keep This Name", "Keep Address")
    assert gk["customer_phone"] == "+96555559999"
    assert ops.get(cw.mgr, bad["id"])["customer_phone"] is None, "an invalid phone was copied"
    go = ops.get(cw.mgr, odd["id"])
    assert go["customer_name"] == "Odd Coordinates"
    assert (go["delivery_latitude"], go["delivery_longitude"]) == (None, None), go

    # a second run (from the command line) has nothing left to do
    out = run_cli(cli, "backfill")
    assert out == {"timestamps_filled": 0, "customer_fields_filled": 0}, out
    assert ops.get(cw.mgr, a["id"]) == ga


# --- sla-check ------------------------------------------------------------------------------------

def sla_notes(pg, order_ids):
    """{order_id: number of sla_breach notifications} in one query."""
    ids = ",".join(map(str, order_ids))
    out = pg.sql(f"SELECT o.id, (SELECT count(*) FROM notifications n WHERE n.type = 'sla_breach'"
                 f" AND n.order_id = o.id) FROM orders o WHERE o.id IN ({ids})")
    return {int(a): int(b) for a, b in (line.split("|") for line in out.splitlines())}


def managers_who_see(pg, warehouse_id):
    return int(pg.sql("SELECT count(*) FROM users WHERE role = 'manager' AND is_active"
                      f" AND (warehouse_id IS NULL OR warehouse_id = {warehouse_id})"))


def test_sla_check_notifies_each_manager_once_and_closes_silent_sessions(ops, cw, pg):
    wh = ops.warehouse()
    other = ops.warehouse()
    m_wh = ops.manager(wh["id"])
    m_gone = ops.manager(wh["id"])
    m_other = ops.manager(other["id"])
    m_all = ops.manager()
    r = ops.admin.delete(f"{V1}/users/{m_gone.id}")
    assert r.status_code == 204, r.text
    drv, drv_client = ops.driver(wh["id"])

    late_created = ops.new_order(m_wh, wh["id"])
    late_eta = ops.order_in(m_wh, wh["id"], "assigned", drv)
    eta_future = ops.new_order(m_wh, wh["id"])
    delivered_old = ops.order_in(m_wh, wh["id"], "delivered", drv)
    recent = ops.new_order(m_wh, wh["id"])
    r = drv_client.post(V1 + "/drivers/me/online", json={})
    assert r.status_code in (200, 201), r.text
    pg.sql(f"UPDATE orders SET created_at = now() - interval '3 hours' WHERE id = {late_created['id']};"
           " UPDATE orders SET estimated_delivery_time = now() - interval '1 hour'"
           f" WHERE id = {late_eta['id']};"
           " UPDATE orders SET created_at = now() - interval '3 hours',"
           f" estimated_delivery_time = now() + interval '2 hours' WHERE id = {eta_future['id']};"
           " UPDATE orders SET created_at = now() - interval '5 hours'"
           f" WHERE id = {delivered_old['id']};"
           " UPDATE orders SET created_at = now() - interval '60 minutes'"
           f" WHERE id = {recent['id']};"
           # a driver online but silent for 20 minutes
           f" UPDATE drivers SET last_seen_at = now() - interval '20 minutes' WHERE id = {drv['id']}")
    late_ids = [late_created["id"], late_eta["id"]]
    quiet_ids = [eta_future["id"], delivered_old["id"], recent["id"]]

    # two schedulers at once
    def sla_check():
        return run_cron(cw, "sla-check")
    results = at_once(sla_check, sla_check)
    for res in results:
        assert set(res) >= {"late", "notified", "sessions_closed"}, res
        assert res["late"] >= 2, res
    expected = managers_who_see(pg, wh["id"])
    assert expected >= 2  # m_wh and m_all at least
    assert sum(res["notified"] for res in results) >= 2 * expected, results
    assert sum(res["sessions_closed"] for res in results) >= 1, results

    counts = sla_notes(pg, late_ids + quiet_ids)
    assert counts == {**{oid: expected for oid in late_ids}, **{oid: 0 for oid in quiet_ids}}, \
        f"sla_breach notifications per order {counts}; late {late_ids}, {expected} managers see them"

    def breaches(client):
        return sorted(n["data"].get("order_id") for n in notifications_of(client)
                      if n["type"] == "sla_breach" and n["data"].get("order_id") in late_ids + quiet_ids)
    assert breaches(m_wh) == sorted(late_ids)
    assert breaches(m_all) == sorted(late_ids)
    assert breaches(m_other) == []
    assert int(pg.sql(f"SELECT count(*) FROM notifications WHERE user_id = {m_gone.id}")) == 0
    note = next(n for n in notifications_of(m_wh) if n["type"] == "sla_breach")
    assert NOTIFICATION_KEYS <= set(note) and note["read_at"] is None

    # the silent driver's session was closed
    d = ops.admin.get(f"{V1}/drivers/{drv['id']}").json()
    assert d["is_online"] is False, d
    s = ops.admin.get(f"{V1}/drivers/{drv['id']}/sessions").json()
    assert s["items"] and all(x["ended_at"] is not None for x in s["items"]), s

    # a second run notifies nobody again
    res = run_cron(cw, "sla-check")
    assert res["late"] >= 2 and res["notified"] == 0, res
    assert sla_notes(pg, late_ids) == {oid: expected for oid in late_ids}
    assert breaches(m_wh) == sorted(late_ids)


def test_sla_check_reports_an_order_again_after_its_eta_moves(ops, cw, pg):
    """A late order is reported once per deadline: a manager who moves its
    ETA (PATCH) clears the report, and when the new ETA passes too the
    managers hear about it again, with the deadline in data.due_at; an ETA
    PATCHed to the same value changes nothing (migration 0019)."""
    wh = ops.warehouse()
    m_wh = ops.manager(wh["id"])
    order = ops.new_order(m_wh, wh["id"])
    pg.sql("UPDATE orders SET estimated_delivery_time = date_trunc('second', now()) - interval '1 hour'"
           f" WHERE id = {order['id']}")
    expected = managers_who_see(pg, wh["id"])
    run_cron(cw, "sla-check")
    assert sla_notes(pg, [order["id"]]) == {order["id"]: expected}
    first_due = ops.get(m_wh, order["id"])["estimated_delivery_time"]

    def dues():
        return sorted(n["data"].get("due_at") for n in notifications_of(m_wh)
                      if n["type"] == "sla_breach" and n["data"].get("order_id") == order["id"])
    assert dues() == [first_due]
    # the same ETA again is not a new deadline
    r = m_wh.patch(f"{V1}/orders/{order['id']}", json={"estimated_delivery_time": first_due})
    assert r.status_code == 200, r.text
    assert run_cron(cw, "sla-check")["notified"] == 0
    # moved two hours ahead: not late, nothing new
    later = (datetime.now(timezone.utc) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = m_wh.patch(f"{V1}/orders/{order['id']}", json={"estimated_delivery_time": later})
    assert r.status_code == 200, r.text
    run_cron(cw, "sla-check")
    assert sla_notes(pg, [order["id"]]) == {order["id"]: expected}
    # ... and that deadline passes too (time moved by hand): reported again
    pg.sql("UPDATE orders SET estimated_delivery_time = estimated_delivery_time - interval '150 minutes'"
           f" WHERE id = {order['id']}")
    second_due = ops.get(m_wh, order["id"])["estimated_delivery_time"]
    res = run_cron(cw, "sla-check")
    assert res["notified"] >= expected, res
    assert sla_notes(pg, [order["id"]]) == {order["id"]: 2 * expected}
    assert dues() == sorted([first_due, second_due])
    assert run_cron(cw, "sla-check")["notified"] == 0


# --- purge-locations --------------------------------------------------------------------------------

def test_purge_locations_with_tiny_retention(ops, cw, pg, cli):
    drv, drv_client = ops.driver(cw.wh["id"])
    recent = (datetime.now(timezone.utc) - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = drv_client.post(V1 + "/drivers/location",
                        json={"latitude": 29.3, "longitude": 48.0, "recorded_at": recent})
    assert r.status_code == 202, r.text
    pg.sql("INSERT INTO driver_locations (driver_id, latitude, longitude, recorded_at) VALUES"
           f" ({drv['id']}, 29.1, 48.1, now() - interval '3 days'),"
           f" ({drv['id']}, 29.2, 48.2, now() - interval '2 days'),"
           f" ({drv['id']}, 29.25, 48.25, now() - interval '25 hours'),"
           f" ({drv['id']}, 29.4, 48.4, now() - interval '12 hours')")

    def points():
        return int(pg.sql(f"SELECT count(*) FROM driver_locations WHERE driver_id = {drv['id']}"))
    assert points() == 5
    with ops.setting("location_retention_days", 1):
        due = int(pg.sql("SELECT count(*) FROM driver_locations"
                         " WHERE recorded_at < now() - interval '1 day'"))
        assert due >= 3
        # two schedulers at once: the points are deleted once between them
        def purge():
            return run_cron(cw, "purge-locations")
        results = at_once(purge, purge)
        for res in results:
            assert set(res) == {"deleted"}, res
        assert sum(res["deleted"] for res in results) == due, (results, due)
        assert points() == 2
        left = pg.sql("SELECT count(*) FROM driver_locations WHERE driver_id = "
                      f"{drv['id']} AND recorded_at < now() - interval '1 day'")
        assert left == "0"
        out = run_cli(cli, "purge-locations")
        assert out == {"deleted": 0}, out
    assert points() == 2
    # the trail still answers with what is left
    r = ops.admin.get(f"{V1}/drivers/{drv['id']}/locations")
    assert r.status_code == 200, r.text
