"""Cash on delivery through HTTP: a payment recorded by `deliver` (with a
discrepancy when the amount differs from the order's) or by
POST /orders/{id}/payment, the payment list and its filters, remit and
settle as batch transitions with per-id outcomes (wrong status, unknown
ids), and a driver's cash balance after a day of deliveries, always as exact
decimal strings."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

from field_helpers import *  # noqa: F401,F403 - fixtures and helpers
from helpers import Api


def pay_path(oid):
    return f"{V1}/orders/{oid}/payment"


def payments(client, **params):
    body = client.ok("GET", V1 + "/payments", params=params)
    assert set(body) == {"items", "page", "page_size", "total"}, body
    return body


def cash(client, driver_id):
    body = client.ok("GET", f"{V1}/drivers/{driver_id}/cash")
    assert set(body) == CASH_KEYS, body
    return body


def deliver(client, oid, payment=None, **extra):
    body = dict(extra)
    if payment is not None:
        body["payment"] = payment
    return client.ok("POST", f"{V1}/orders/{oid}/deliver", json=body)


def assert_payment(p):
    assert isinstance(p, dict) and set(p) == PAYMENT_KEYS, p
    assert isinstance(p["id"], int) and isinstance(p["order_id"], int)
    assert p["method"] in ("cash", "knet", "card", "prepaid")
    assert isinstance(p["amount"], str) and MONEY_RE.match(p["amount"]), p["amount"]
    assert p["status"] in ("unpaid", "remitted", "settled")
    assert isinstance(p["discrepancy"], bool)
    assert is_ts(p["collected_at"])
    for k in ("remitted_at", "settled_at"):
        assert p[k] is None or is_ts(p[k]), (k, p[k])
    return p


def test_deliver_with_payment_records_it(fw):
    d, c = fw.driver(login=True)
    o = fw.order_in("picked_up", d, amount="12.500")
    delivered = deliver(c, o["id"], {"method": "cash", "amount": "12.000"},
                        recipient_name="Ahmad")
    assert delivered["status"] == "delivered"
    body = payments(fw.mgr, driver_id=d["id"])
    assert body["total"] == 1, body
    p = assert_payment(body["items"][0])
    assert p["order_id"] == o["id"] and p["driver_id"] == d["id"]
    assert (p["method"], p["amount"], p["status"], p["discrepancy"]) == ("cash", "12.000", "unpaid", True)
    assert p["remitted_at"] is None and p["settled_at"] is None

    # the exact amount (sent as a number): no discrepancy
    o2 = fw.order_in("picked_up", d, amount="7.250")
    deliver(c, o2["id"], {"method": "knet", "amount": 7.25})
    # deliver without payment records none
    o3 = fw.order_in("picked_up", d, amount="3.000")
    deliver(c, o3["id"])
    body = payments(fw.mgr, driver_id=d["id"])
    assert body["total"] == 2, body
    by_order = {x["order_id"]: x for x in body["items"]}
    assert set(by_order) == {o["id"], o2["id"]}
    assert by_order[o2["id"]]["amount"] == "7.250" and by_order[o2["id"]]["discrepancy"] is False
    assert by_order[o2["id"]]["method"] == "knet"

    # a bad payment refuses the whole delivery
    o4 = fw.order_in("picked_up", d)
    for bad in ({"method": "bitcoin", "amount": "1.000"}, {"method": "cash", "amount": "-1"},
                {"method": "cash", "amount": "1.0001"}, {"method": "cash"}, "cash"):
        r = c.post(f"{V1}/orders/{o4['id']}/deliver", json={"payment": bad})
        assert_problem(r, 422, "validation_failed")
    assert fw.mgr.ok("GET", f"{V1}/orders/{o4['id']}")["status"] == "picked_up"
    assert payments(fw.mgr, driver_id=d["id"])["total"] == 2


def test_record_payment_endpoint(fw):
    d, c = fw.driver()
    o = fw.order_in("delivered", d, amount="12.500")
    r = c.post(pay_path(o["id"]), json={"method": "cash", "amount": "12.500"})
    assert r.status_code == 201, r.text
    p = assert_payment(r.json())
    assert (p["order_id"], p["driver_id"], p["method"], p["amount"], p["status"],
            p["discrepancy"]) == (o["id"], d["id"], "cash", "12.500", "unpaid", False)
    assert p["remitted_at"] is None and p["settled_at"] is None

    # a manager records one for the driver; an integer amount is money too
    o2 = fw.order_in("delivered", d, amount="12.500")
    p2 = assert_payment(fw.mgr.ok("POST", pay_path(o2["id"]), 201,
                                  json={"method": "card", "amount": 12}))
    assert (p2["driver_id"], p2["amount"], p2["discrepancy"]) == (d["id"], "12.000", True)

    listed = {x["id"]: x for x in payments(fw.mgr, driver_id=d["id"])["items"]}
    assert listed == {p["id"]: p, p2["id"]: p2}

    # another driver, a cancelled order, an unknown order
    _, other = fw.driver()
    assert_problem(other.post(pay_path(o["id"]), json={"method": "cash", "amount": "1.000"}),
                   404, "not_found")
    cancelled = fw.order_in("cancelled", d)
    assert_problem(fw.mgr.post(pay_path(cancelled["id"]), json={"method": "cash", "amount": "12.500"}),
                   409)
    # a pending order has no driver to hold the money
    pending = fw.order_in("pending", d)
    body = assert_problem(fw.mgr.post(pay_path(pending["id"]), json={"method": "cash",
                                                                    "amount": "12.500"}),
                          409, "invalid_transition")
    assert "pending" in body["detail"], body
    missing = int(fw.pg.sql("SELECT coalesce(max(id), 0) + 1000000 FROM orders"))
    assert_problem(fw.mgr.post(pay_path(missing), json={"method": "cash", "amount": "1.000"}),
                   404, "not_found")
    # bad input
    for bad in ({"method": "cheque", "amount": "1.000"}, {"method": "cash", "amount": "abc"},
                {"method": "cash", "amount": "1.2345"}, {"method": "cash", "amount": -5},
                {"amount": "1.000"}, {"method": "cash"}):
        assert_problem(c.post(pay_path(o["id"]), json=bad), 422, "validation_failed")
    assert payments(fw.mgr, driver_id=d["id"])["total"] == 2


def test_idempotency_key_makes_a_retried_payment_count_once(fw):
    """An app that retries POST /payment after a lost response sends the same
    Idempotency-Key: it gets the payment already recorded, the driver's cash
    counts it once, even when the retries race each other; the same key with
    another amount is a conflict; without a key each request records one."""
    d, c = fw.driver()
    o = fw.order_in("delivered", d, amount="7.250")
    before = cash(fw.mgr, d["id"])
    key = {"Idempotency-Key": "pay-" + fw.pg.sql("SELECT gen_random_uuid()")}
    r = c.post(pay_path(o["id"]), json={"method": "cash", "amount": "7.250"}, headers=key)
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers, r.text
    first = assert_payment(r.json())
    # the retry, with the amount written another way: the same payment
    again = c.post(pay_path(o["id"]), json={"method": "cash", "amount": 7.25}, headers=key)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true", again.text
    assert again.json() == first
    # the same key with another amount or method: refused, nothing recorded
    for body in ({"method": "cash", "amount": "8.000"}, {"method": "knet", "amount": "7.250"}):
        assert_problem(c.post(pay_path(o["id"]), json=body, headers=key), 409, "conflict")
    # twelve racing retries of another order's payment: one collection
    o2 = fw.order_in("delivered", d, amount="3.000")
    key2 = {"Idempotency-Key": "race-" + fw.pg.sql("SELECT gen_random_uuid()")}
    barrier = threading.Barrier(12)

    def retry(_):
        a = Api(c.base)
        a.session.headers["Authorization"] = c.session.headers["Authorization"]
        try:
            a.get("/health")  # connected before the start line
            barrier.wait(timeout=30)
            return a.post(pay_path(o2["id"]), json={"method": "cash", "amount": "3.000"},
                          headers=key2, timeout=30)
        finally:
            a.close()

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(retry, range(12)))
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") != "true" for a in answers) == 1
    assert fw.pg.sql(f"SELECT count(*) FROM payment_collections WHERE order_id = {o2['id']}") == "1"
    after = cash(fw.mgr, d["id"])
    assert Decimal(after["unpaid_total"]) - Decimal(before["unpaid_total"]) == Decimal("10.250"), (before, after)
    # a key is the order's: the same key on another order records a payment
    o3 = fw.order_in("delivered", d, amount="1.000")
    other = c.post(pay_path(o3["id"]), json={"method": "cash", "amount": "1.000"}, headers=key)
    assert other.status_code == 201 and other.json()["id"] != first["id"], other.text
    # without a key every request is a collection (split payments)
    for _ in range(2):
        assert c.post(pay_path(o3["id"]), json={"method": "card", "amount": "0.500"}).status_code == 201
    assert fw.pg.sql(f"SELECT count(*) FROM payment_collections WHERE order_id = {o3['id']}") == "3"
    # a key must be 1-128 visible ASCII characters; the key is checked
    # before the order, so nothing is recorded
    for bad in ("", "a" * 129, "has space", "caf\u00e9".encode().decode("latin-1")):
        r = c.post(pay_path(o3["id"]), json={"method": "cash", "amount": "1.000"},
                   headers={"Idempotency-Key": bad})
        assert_problem(r, 400, "bad_request")
    assert fw.pg.sql(f"SELECT count(*) FROM payment_collections WHERE order_id = {o3['id']}") == "3"
    # a key does not open another driver's order
    _, stranger = fw.driver()
    assert_problem(stranger.post(pay_path(o["id"]), json={"method": "cash", "amount": "7.250"},
                                 headers=key), 404, "not_found")


def test_amounts_sent_as_json_numbers_are_exact(fw):
    """API.md: money input accepts a number or a decimal string. Every one of
    these JSON numbers has at most 3 decimals and fits numeric(12,3)."""
    d, c = fw.driver()
    results = {}
    for text in ("0.001", "7.25", "536945700.705", "68175661.650", "999999999.999"):
        o = fw.order_in("delivered", d, amount=text)
        # json= writes the float with Python's shortest repr, i.e. exactly `text`'s digits
        r = c.post(pay_path(o["id"]), json={"method": "cash", "amount": float(text)})
        results[text] = (r.status_code, r.json().get("amount") if r.status_code == 201 else r.text[:200])
    want = {t: (201, f"{float(t):.3f}") for t in results}
    assert results == want


def test_a_day_of_deliveries_cash_balance(fw):
    d, c = fw.driver()
    start = utcnow() - timedelta(seconds=5)
    pays = {}
    for amount, method in (("10.000", "cash"), ("5.250", "cash"), ("2.750", "cash"),
                           ("7.000", "knet")):
        o = fw.order_in("picked_up", d, amount=amount)
        deliver(c, o["id"], {"method": method, "amount": amount})
        pays[amount] = o["id"]
    items = payments(fw.mgr, driver_id=d["id"])["items"]
    pid = {x["amount"]: x["id"] for x in items}
    assert set(pid) == {"10.000", "5.250", "2.750", "7.000"}, items
    assert all(x["discrepancy"] is False and x["status"] == "unpaid" for x in items)

    assert cash(fw.mgr, d["id"]) == {"unpaid_total": "18.000", "unpaid_count": 3,
                                     "remitted_total": "0.000", "remitted_count": 0}
    # the driver reads their own figures; another driver gets 404
    assert cash(c, d["id"])["unpaid_total"] == "18.000"
    _, other = fw.driver()
    assert_problem(other.get(f"{V1}/drivers/{d['id']}/cash"), 404, "not_found")
    # drivers do not remit or settle
    assert_problem(c.post(V1 + "/payments/remit", json={"payment_ids": [pid["10.000"]]}),
                   403, "forbidden")

    # hand in two
    r = fw.mgr.ok("POST", V1 + "/payments/remit",
                  json={"payment_ids": [pid["10.000"], pid["5.250"]]})
    assert sorted(r["succeeded"]) == sorted([pid["10.000"], pid["5.250"]]) and r["failed"] == [], r
    assert cash(fw.mgr, d["id"]) == {"unpaid_total": "2.750", "unpaid_count": 1,
                                     "remitted_total": "15.250", "remitted_count": 2}
    remitted = {x["id"]: x for x in payments(fw.mgr, driver_id=d["id"], status="remitted")["items"]}
    assert set(remitted) == {pid["10.000"], pid["5.250"]}
    assert all(is_ts(x["remitted_at"]) and x["settled_at"] is None for x in remitted.values())

    # remitting again, or an unknown id: per-id failures, nothing changes
    missing = int(fw.pg.sql("SELECT coalesce(max(id), 0) + 1000000 FROM payment_collections"))
    r = fw.mgr.ok("POST", V1 + "/payments/remit", json={"payment_ids": [pid["10.000"], missing]})
    assert r["succeeded"] == [], r
    failed = {x["id"]: x for x in r["failed"]}
    assert set(failed) == {pid["10.000"], missing}, r
    assert failed[pid["10.000"]]["code"] == "invalid_transition"
    assert failed[missing]["code"] == "not_found"
    assert all(set(x) == {"id", "code", "detail"} and isinstance(x["detail"], str)
               for x in r["failed"])
    assert cash(fw.mgr, d["id"])["remitted_total"] == "15.250"

    # settle one remitted; an unpaid one and an unknown one fail
    r = fw.mgr.ok("POST", V1 + "/payments/settle",
                  json={"payment_ids": [pid["10.000"], pid["2.750"], missing]})
    assert r["succeeded"] == [pid["10.000"]], r
    failed = {x["id"]: x["code"] for x in r["failed"]}
    assert failed == {pid["2.750"]: "invalid_transition", missing: "not_found"}, r
    assert cash(fw.mgr, d["id"]) == {"unpaid_total": "2.750", "unpaid_count": 1,
                                     "remitted_total": "5.250", "remitted_count": 1}
    # settled is final
    r = fw.mgr.ok("POST", V1 + "/payments/settle", json={"payment_ids": [pid["10.000"]]})
    assert r["succeeded"] == [] and [x["code"] for x in r["failed"]] == ["invalid_transition"]

    settled = payments(fw.mgr, driver_id=d["id"], status="settled")["items"]
    assert [x["id"] for x in settled] == [pid["10.000"]]
    assert is_ts(settled[0]["settled_at"]) and is_ts(settled[0]["remitted_at"])
    unpaid = payments(fw.mgr, driver_id=d["id"], status="unpaid")
    assert {x["id"] for x in unpaid["items"]} == {pid["2.750"], pid["7.000"]}
    assert unpaid["total"] == 2

    # the knet payment moves through the same states but never counts as cash
    fw.mgr.ok("POST", V1 + "/payments/remit", json={"payment_ids": [pid["7.000"]]})
    assert cash(fw.mgr, d["id"]) == {"unpaid_total": "2.750", "unpaid_count": 1,
                                     "remitted_total": "5.250", "remitted_count": 1}

    # the time filter on collected_at
    assert payments(fw.mgr, driver_id=d["id"], **{"from": iso(start)})["total"] == 4
    assert payments(fw.mgr, driver_id=d["id"],
                    **{"from": iso(utcnow() + timedelta(hours=1))})["total"] == 0
    assert payments(fw.mgr, driver_id=d["id"], to=iso(start))["total"] == 0
    assert_problem(fw.mgr.get(V1 + "/payments", params={"status": "lost"}), 422, "validation_failed")


def test_payments_scope_and_exact_sums(fw):
    db_, cb = fw.driver(fw.wh_b["id"])
    amounts = ["0.100", "0.200", "123456789.125", "0.001"]
    ids = []
    for a in amounts:
        o = fw.order_in("delivered", db_, amount=a, warehouse_id=fw.wh_b["id"])
        ids.append(cb.ok("POST", pay_path(o["id"]), 201, json={"method": "cash", "amount": a})["id"])
    assert cash(fw.mgr, db_["id"]) == {"unpaid_total": "123456789.426", "unpaid_count": 4,
                                       "remitted_total": "0.000", "remitted_count": 0}
    r = fw.mgr.ok("POST", V1 + "/payments/remit", json={"payment_ids": ids[:2]})
    assert sorted(r["succeeded"]) == sorted(ids[:2])
    assert cash(fw.admin, db_["id"]) == {"unpaid_total": "123456789.126", "unpaid_count": 2,
                                         "remitted_total": "0.300", "remitted_count": 2}

    # a manager scoped to another warehouse sees none of it
    assert_problem(fw.mgr_a.get(f"{V1}/drivers/{db_['id']}/cash"), 404, "not_found")
    assert payments(fw.mgr_a, driver_id=db_["id"])["total"] == 0
    r = fw.mgr_a.ok("POST", V1 + "/payments/settle", json={"payment_ids": ids[:1]})
    assert r["succeeded"] == [] and [x["code"] for x in r["failed"]] == ["not_found"], r
    assert payments(fw.mgr, driver_id=db_["id"], status="settled")["total"] == 0
    # more than 500 ids is refused
    assert_problem(fw.mgr.post(V1 + "/payments/remit", json={"payment_ids": list(range(1, 502))}),
                   422, "validation_failed")


def test_cash_of_another_warehouses_order_reaches_the_drivers_manager(fw):
    """An unscoped manager gives a warehouse-A order to a warehouse-B driver,
    who collects cash. B's scoped manager, who sees that cash in
    GET /drivers/{id}/cash, must also see the payment and be able to remit
    it; A's scoped manager still sees it as their order's payment; a third
    warehouse's manager sees nothing. A driver asking for another driver's
    payments gets an empty list, not their own."""
    mgr_b = fw.manager(fw.wh_b["id"])
    wh_c = fw.warehouse()
    mgr_c = fw.manager(wh_c["id"])
    d, c = fw.driver(fw.wh_b["id"])
    o = fw.order_in("picked_up", d, amount="4.000", warehouse_id=fw.wh_a["id"])
    pay = c.ok("POST", f"{V1}/orders/{o['id']}/deliver",
               json={"payment": {"method": "cash", "amount": "4.000"}})
    assert pay["status"] == "delivered"
    assert cash(mgr_b, d["id"])["unpaid_total"] == "4.000"
    listed_b = payments(mgr_b, driver_id=d["id"])["items"]
    assert [p["order_id"] for p in listed_b] == [o["id"]], listed_b
    listed_a = payments(fw.mgr_a, driver_id=d["id"])["items"]
    assert [p["order_id"] for p in listed_a] == [o["id"]], listed_a
    assert payments(mgr_c, driver_id=d["id"])["total"] == 0
    pid = listed_b[0]["id"]
    r = mgr_c.ok("POST", V1 + "/payments/remit", json={"payment_ids": [pid]})
    assert [x["code"] for x in r["failed"]] == ["not_found"], r
    r = mgr_b.ok("POST", V1 + "/payments/remit", json={"payment_ids": [pid]})
    assert r["succeeded"] == [pid], r
    assert cash(mgr_b, d["id"])["remitted_total"] == "4.000"
    # the driver: own payments, and nothing under another driver's id
    other, _ = fw.driver(fw.wh_b["id"])
    assert [p["id"] for p in payments(c)["items"]] == [pid]
    assert payments(c, driver_id=d["id"])["total"] == 1
    assert payments(c, driver_id=other["id"])["total"] == 0


def test_bare_dates_are_business_days_on_every_range(fw):
    """`from`/`to` as bare dates are business days in business_timezone
    (Asia/Kuwait, UTC+3) on /payments, the work sessions and the GPS trail,
    as created_from/created_to are on /orders: something at 22:30Z on
    10 January happened on 11 January in Kuwait. (They were UTC midnight.)"""
    d, c = fw.driver()
    o = fw.order_in("delivered", d)
    c.ok("POST", pay_path(o["id"]), 201, json={"method": "cash", "amount": "12.500"})
    c.ok("POST", V1 + "/drivers/me/online", 201, json={})
    c.ok("POST", V1 + "/drivers/me/offline", 200, json={})
    c.ok("POST", V1 + "/drivers/location", 202, json={"latitude": 29.3, "longitude": 47.9})
    fw.pg.sql(f"UPDATE payment_collections SET collected_at = '2026-01-10 22:30Z'"
              f" WHERE driver_id = {d['id']}")
    fw.pg.sql(f"UPDATE work_sessions SET started_at = '2026-01-10 22:15Z',"
              f" ended_at = '2026-01-10 22:45Z' WHERE driver_id = {d['id']}")
    fw.pg.sql(f"UPDATE driver_locations SET recorded_at = '2026-01-10 22:30Z'"
              f" WHERE driver_id = {d['id']}")

    def counts(**rng):
        pay = payments(fw.mgr, driver_id=d["id"], **rng)["total"]
        ses = fw.mgr.ok("GET", f"{V1}/drivers/{d['id']}/sessions", params=rng)["total"]
        trail = len(fw.trail(d["id"], **rng))
        return pay, ses, trail

    assert counts(**{"from": "2026-01-11"}) == (1, 1, 1)
    assert counts(**{"from": "2026-01-11", "to": "2026-01-12"}) == (1, 1, 1)
    assert counts(**{"to": "2026-01-11"}) == (0, 0, 0)
    assert counts(**{"from": "2026-01-10", "to": "2026-01-11"}) == (0, 0, 0)
    # an RFC 3339 time is taken as it is
    assert counts(**{"from": "2026-01-10T22:00:00Z", "to": "2026-01-10T23:00:00Z"}) == (1, 1, 1)
