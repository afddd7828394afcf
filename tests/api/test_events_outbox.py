"""The transactional outbox (issue 18 "1. The outbox", API.md "Outbound
events") and customer messages ("4. Customer messages"), read straight from
the events table: every change writes exactly one event of its type in the
same statement or transaction, with the order as GET /orders/{id} answers it
after the change (or the payment, or the import's report); a refused change
writes none; batches one per changed order; imports one per row created or
updated and one import.completed, a dry run none; customer messages only
with the setting on, their text made from the templates; and the
purge-events cron job (HTTP and CLI). Webhook deliveries are another file's.

The events table is shared by the session: every assertion is about this
module's own orders, or compares the table's highest id before and after a
refused change (nothing else writes events while a test runs)."""

import json
import re
import secrets
from datetime import datetime, timedelta, timezone

import pytest

from helpers import Api, get_settings, order_body
from ops_helpers import *  # noqa: F401,F403
from ops_helpers import ImportClient

WEBHOOK = V1 + "/webhooks/d365"

# migrations/0026_customer_messages.sql: the templates as seeded
DEFAULT_TEMPLATES = {
    "out_for_delivery": {
        "ar": "طلبك رقم {order_number} في الطريق إليك مع المندوب {driver_first_name}. تتبّع الطلب: {tracking_url}",
        "en": "Your order {order_number} is on its way with our driver {driver_first_name}. Track it: {tracking_url}",
    },
    "delivered": {
        "ar": "تم توصيل طلبك رقم {order_number}. شكراً لاختيارك صيدليتنا، مع تمنياتنا لك بدوام الصحة والعافية.",
        "en": "Your order {order_number} has been delivered. Thank you for choosing our pharmacy; we wish you good health.",
    },
    "delivery_failed": {
        "ar": "تعذّر توصيل طلبك رقم {order_number}. سنتواصل معك لتحديد موعد توصيل جديد. حالة الطلب: {tracking_url}",
        "en": "We could not deliver your order {order_number}. We will contact you to arrange a new delivery time. Order status: {tracking_url}",
    },
}


# --- reading the outbox ------------------------------------------------------------

def _rows(pg, where):
    out = pg.sql("SELECT id, type, coalesce(order_id::text, ''), coalesce(warehouse_id::text, ''),"
                 f" data::text FROM events WHERE {where} ORDER BY id")
    rows = []
    for line in out.splitlines():
        i, t, o, w, data = line.split("|", 4)
        rows.append({"id": int(i), "type": t, "order_id": int(o) if o else None,
                     "warehouse_id": int(w) if w else None, "data": json.loads(data)})
    return rows


def events_of(pg, order_id, after=0):
    """The events of one order (after event id `after`), in sequence."""
    return _rows(pg, f"order_id = {int(order_id)} AND id > {int(after)}")


def events_after(pg, after):
    return _rows(pg, f"id > {int(after)}")


def last_id(pg):
    return int(pg.sql("SELECT coalesce(max(id), 0) FROM events"))


@pytest.fixture(scope="module")
def ev(ops, secrets_env):
    w = ops.two_warehouses(driver_name="Yousef Al-Mutairi")
    w.secret = secrets_env[1]
    w.cron_secret = secrets_env[0]
    w.drv2, w.drv2_client = ops.driver(w.wh["id"], full_name="\u00a0Fahad  Al-Ajmi")
    w.anon = Api(w.mgr.base)
    yield w
    w.anon.close()


def act(client, oid, action, body=None, status=200):
    r = client.post(f"{V1}/orders/{oid}/{action}", json=body if body is not None else {})
    assert r.status_code == status, f"{action} {oid}: {r.status_code} {r.text}"
    out = r.json()
    if action == "assign" and status == 200:  # the order plus its warnings
        assert isinstance(out.pop("warnings"), list), out
    return out


def one_event(pg, order_id, after, type_):
    """Asserts that the order has exactly one event after `after`, of type_;
    returns it."""
    evs = events_of(pg, order_id, after)
    assert [e["type"] for e in evs] == [type_], evs
    return evs[0]


def assert_order_event(ops, ev, pg, order_id, after, type_):
    """Exactly one event of type_ since `after`, whose data.order is the
    order as GET /orders/{id} answers now, with the order's ids set."""
    e = one_event(pg, order_id, after, type_)
    got = ops.get(ev.mgr, order_id)
    assert e["data"] == {"order": got}, (e, got)
    assert e["order_id"] == order_id and e["warehouse_id"] == got["warehouse_id"]
    return e


# --- order.created, order.updated, order.<status> --------------------------------------

def test_create_patch_and_every_status_change_write_one_event_each(ops, ev, pg):
    before = last_id(pg)
    o = ops.new_order(ev.mgr, ev.wh["id"], amount="9.750")
    created = assert_order_event(ops, ev, pg, o["id"], before, "order.created")
    assert created["data"]["order"]["status"] == "pending" and created["data"]["order"]["version"] == 1

    mark = last_id(pg)
    r = ev.mgr.patch(f"{V1}/orders/{o['id']}", json={"notes": "call first", "version": 1})
    assert r.status_code == 200, r.text
    e = assert_order_event(ops, ev, pg, o["id"], mark, "order.updated")
    assert e["data"]["order"]["notes"] == "call first" and e["data"]["order"]["version"] == 2

    # assign, unassign (pending), assign, pickup, deliver
    steps = [("assign", {"driver_id": ev.drv["id"]}, "order.assigned"),
             ("unassign", {}, "order.pending"),
             ("assign", {"driver_id": ev.drv["id"]}, "order.assigned"),
             ("assign", {"driver_id": ev.drv2["id"]}, "order.assigned"),  # to another driver
             ("pickup", {}, "order.picked_up"),
             ("deliver", {}, "order.delivered")]
    for action, body, type_ in steps:
        mark = last_id(pg)
        answered = act(ev.mgr, o["id"], action, body)
        e = assert_order_event(ops, ev, pg, o["id"], mark, type_)
        assert e["data"]["order"] == answered

    # fail, requeue (pending), fail, return; and a cancel
    o2 = ops.new_order(ev.mgr, ev.wh["id"])
    for action, body, type_ in [("assign", {"driver_id": ev.drv["id"]}, "order.assigned"),
                                ("fail", {"reason": "nobody home"}, "order.failed"),
                                ("requeue", {}, "order.pending"),
                                ("assign", {"driver_id": ev.drv["id"]}, "order.assigned"),
                                ("fail", {"reason": "nobody home",
                                          "reason_code": "customer_not_home"}, "order.failed"),
                                ("return", {}, "order.returned")]:
        mark = last_id(pg)
        act(ev.mgr, o2["id"], action, body)
        assert_order_event(ops, ev, pg, o2["id"], mark, type_)
    o3 = ops.new_order(ev.mgr, ev.wh["id"])
    mark = last_id(pg)
    act(ev.mgr, o3["id"], "cancel", {"reason": "duplicate order"})
    e = assert_order_event(ops, ev, pg, o3["id"], mark, "order.cancelled")
    assert e["data"]["order"]["cancel_reason"] == "duplicate order"

    # the whole life of o, in sequence
    types = [x["type"] for x in events_of(pg, o["id"])]
    assert types == ["order.created", "order.updated"] + [t for _, _, t in steps]


def test_a_driver_acting_writes_the_event_too(ops, ev, pg):
    o = ops.new_order(ev.mgr, ev.wh["id"])
    act(ev.mgr, o["id"], "assign", {"driver_id": ev.drv["id"]})
    mark = last_id(pg)
    answered = act(ev.drv_client, o["id"], "pickup")
    e = one_event(pg, o["id"], mark, "order.picked_up")
    assert e["data"]["order"] == answered == ops.get(ev.mgr, o["id"])


def test_refused_changes_write_no_event(ops, ev, pg):
    o = ops.new_order(ev.mgr, ev.wh["id"])
    other = ops.new_order(ev.mgr2, ev.wh2["id"])
    missing = int(pg.sql("SELECT coalesce(max(id), 0) + 1000000 FROM orders"))
    mark = last_id(pg)
    # invalid transitions
    assert_problem(ev.mgr.post(f"{V1}/orders/{o['id']}/deliver", json={}), 409, "invalid_transition")
    assert_problem(ev.mgr.post(f"{V1}/orders/{o['id']}/return", json={}), 409, "invalid_transition")
    # 404: unknown, and another warehouse's order for a scoped manager
    assert_problem(ev.mgr.post(f"{V1}/orders/{missing}/cancel", json={"reason": "x"}), 404)
    assert_problem(ev.mgr.post(f"{V1}/orders/{other['id']}/cancel", json={"reason": "x"}), 404)
    assert_problem(ev.mgr.patch(f"{V1}/orders/{other['id']}", json={"notes": "x"}), 404)
    # validation errors
    assert_problem(ev.mgr.post(f"{V1}/orders/{o['id']}/assign", json={}), 422, "validation_failed")
    assert_problem(ev.mgr.patch(f"{V1}/orders/{o['id']}", json={"amount": "abc"}), 422)
    assert_problem(ev.mgr.post(V1 + "/orders", json={"customer_name": "x"}), 422)
    # version mismatch, action and PATCH
    assert_problem(ev.mgr.post(f"{V1}/orders/{o['id']}/cancel",
                               json={"reason": "x", "version": 7}), 409, "version_mismatch")
    assert_problem(ev.mgr.patch(f"{V1}/orders/{o['id']}", json={"notes": "x", "version": 7}),
                   409, "version_mismatch")
    # a PATCH that sets nothing changes nothing
    assert ev.mgr.patch(f"{V1}/orders/{o['id']}", json={}).status_code == 200
    # an order past pending cannot be edited
    done = ops.order_in(ev.mgr, ev.wh["id"], "cancelled", ev.drv)
    mark = last_id(pg)
    assert_problem(ev.mgr.patch(f"{V1}/orders/{done['id']}", json={"notes": "x"}), 409)
    # an inactive driver cannot be assigned
    assert_problem(ev.mgr.post(f"{V1}/orders/{o['id']}/assign", json={"driver_id": missing}), 422)
    assert last_id(pg) == mark, events_after(pg, mark)
    assert [e["type"] for e in events_of(pg, o["id"])] == ["order.created"]


def test_an_idempotent_replay_of_post_orders_writes_no_second_event(ops, ev, pg):
    body = order_body(ev.wh["id"], order_number=ops.number("IK"))
    key = "evt-" + secrets.token_hex(8)
    r1 = ev.mgr.post(V1 + "/orders", json=body, headers={"Idempotency-Key": key})
    assert r1.status_code == 201, r1.text
    mark = last_id(pg)
    r2 = ev.mgr.post(V1 + "/orders", json=body, headers={"Idempotency-Key": key})
    assert r2.status_code == 201 and r2.headers.get("Idempotent-Replayed") == "true", r2.text
    assert last_id(pg) == mark
    assert [e["type"] for e in events_of(pg, r1.json()["id"])] == ["order.created"]


# --- batches -------------------------------------------------------------------------

def test_a_batch_writes_one_event_per_changed_order_and_none_for_the_failed(ops, ev, pg):
    p1 = ops.new_order(ev.mgr, ev.wh["id"])
    p2 = ops.new_order(ev.mgr, ev.wh["id"])
    done = ops.order_in(ev.mgr, ev.wh["id"], "cancelled", ev.drv)
    foreign = ops.new_order(ev.mgr2, ev.wh2["id"])
    missing = int(pg.sql("SELECT coalesce(max(id), 0) + 1000000 FROM orders"))
    mark = last_id(pg)
    ids = [p1["id"], done["id"], p2["id"], foreign["id"], missing]
    body = ev.mgr.ok("POST", V1 + "/orders/batch-assign",
                     json={"order_ids": ids, "driver_id": ev.drv["id"]})
    assert sorted(body["succeeded"]) == sorted([p1["id"], p2["id"]]), body
    new = events_after(pg, mark)
    assert sorted((e["order_id"], e["type"]) for e in new) == sorted(
        [(p1["id"], "order.assigned"), (p2["id"], "order.assigned")]), new
    for e in new:
        assert e["data"] == {"order": ops.get(ev.mgr, e["order_id"])}
        assert e["warehouse_id"] == ev.wh["id"]

    mark = last_id(pg)
    body = ev.mgr.ok("POST", V1 + "/orders/batch-cancel",
                     json={"order_ids": [p1["id"], done["id"]], "reason": "shop closed"})
    assert body["succeeded"] == [p1["id"]], body
    new = events_after(pg, mark)
    assert [(e["order_id"], e["type"]) for e in new] == [(p1["id"], "order.cancelled")]
    assert new[0]["data"]["order"] == ops.get(ev.mgr, p1["id"])

    # nothing changed at all: no event
    mark = last_id(pg)
    body = ev.mgr.ok("POST", V1 + "/orders/batch-cancel",
                     json={"order_ids": [done["id"], missing], "reason": "again"})
    assert body["succeeded"] == [] and len(body["failed"]) == 2, body
    assert last_id(pg) == mark


# --- imports and the D365 webhook ---------------------------------------------------------

def test_an_import_writes_its_orders_events_and_one_import_completed(ops, ev, pg):
    existing = ops.new_order(ev.mgr, ev.wh["id"], amount="1.000")
    past = ops.order_in(ev.mgr, ev.wh["id"], "assigned", ev.drv)
    n1, n2 = ops.number("IE"), ops.number("IE")
    rows = [["Sales Order", "Customer", "Mobile", "Site", "Net Amount", "Area", "Block"],
            [n1, "Ahmad", "50012345", ev.wh["code"], "3.500", "Salmiya", "10"],
            [n2, "محمد", "60012346", ev.wh["code"], "4.000", "Hawalli", "5"],
            [existing["order_number"], existing["customer_name"], existing["customer_phone"],
             ev.wh["code"], "2.000", "Salmiya", "1"],
            [past["order_number"], "Skipped", "60012347", ev.wh["code"], "2.000", "Salmiya", "1"],
            [ops.number("IE"), "Bad Phone", "12", ev.wh["code"], "1.000", "Jabriya", "1"]]
    data = csv_bytes(rows)

    mark = last_id(pg)
    r = ev.mgr.import_file(data, filename="events.csv", mime=CSV_MIME, dry_run=True)
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["updated"]) == (2, 1), r.json()
    assert last_id(pg) == mark, events_after(pg, mark)  # a dry run writes none

    r = ev.mgr.import_file(data, filename="events.csv", mime=CSV_MIME)
    assert r.status_code == 201, r.text
    report = r.json()
    assert (report["created"], report["updated"], report["skipped"], report["failed"]) == (2, 1, 1, 1)
    new = events_after(pg, mark)
    by_type = {}
    for e in new:
        by_type.setdefault(e["type"], []).append(e)
    assert sorted(by_type) == ["import.completed", "order.created", "order.updated"], new
    numbers = sorted(e["data"]["order"]["order_number"] for e in by_type["order.created"])
    assert numbers == sorted([n1, n2])
    for e in by_type["order.created"] + by_type["order.updated"]:
        assert e["data"] == {"order": ops.get(ev.mgr, e["order_id"])}, e
        assert e["warehouse_id"] == ev.wh["id"]
    (upd,) = by_type["order.updated"]
    assert upd["order_id"] == existing["id"] and upd["data"]["order"]["amount"] == "2.000"
    (done,) = by_type["import.completed"]
    assert done["data"] == {"import": report}, (done, report)
    assert done["order_id"] is None
    # the import's own events come before its import.completed
    assert done["id"] == max(e["id"] for e in new)
    assert not events_of(pg, past["id"], mark)

    # a repeat of the same bytes is a duplicate: nothing written
    mark = last_id(pg)
    r = ev.mgr.import_file(data, filename="events.csv", mime=CSV_MIME)
    assert r.status_code == 200 and r.json()["duplicate_of"] == report["import_id"], r.text
    assert last_id(pg) == mark


def send_d365(ev, event, order):
    body = json.dumps({"event": event, "order": order}, ensure_ascii=False).encode()
    r = ev.anon.post(WEBHOOK, data=body, headers=d365_headers(ev.secret, body))
    assert r.status_code in (200, 202), r.text
    return r.json()


def test_the_d365_webhook_writes_created_updated_and_cancelled(ops, ev, pg):
    num = ops.number("DW")
    order = {"order_number": num, "customer_name": "D365 Customer", "customer_phone": "50012399",
             "warehouse_code": ev.wh["code"], "area": "Salmiya", "block": "3",
             "amount": "5.250", "payment_method": "K-Net"}
    mark = last_id(pg)
    assert send_d365(ev, "order.created", order)["applied"] is True
    oid = find_order(ev.mgr, num)["id"]
    assert_order_event(ops, ev, pg, oid, mark, "order.created")

    mark = last_id(pg)
    assert send_d365(ev, "order.updated", {"order_number": num, "amount": "6.000"})["applied"] is True
    e = assert_order_event(ops, ev, pg, oid, mark, "order.updated")
    assert e["data"]["order"]["amount"] == "6.000"

    # nothing to change: not applied, no event
    mark = last_id(pg)
    assert send_d365(ev, "order.updated", {"order_number": num, "amount": "6.000"})["applied"] is False
    assert last_id(pg) == mark

    assert send_d365(ev, "order.cancelled", {"order_number": num})["applied"] is True
    e = assert_order_event(ops, ev, pg, oid, mark, "order.cancelled")
    assert e["data"]["order"]["status"] == "cancelled"

    mark = last_id(pg)
    assert send_d365(ev, "order.cancelled", {"order_number": num})["applied"] is False
    assert last_id(pg) == mark


# --- payments -----------------------------------------------------------------------------

def payment_json(client, payment_id):
    r = client.get(V1 + "/payments", params={"page_size": 200})
    assert r.status_code == 200, r.text
    for p in r.json()["items"]:
        if p["id"] == payment_id:
            return p
    raise AssertionError(f"payment {payment_id} not listed")


def test_payments_recorded_remitted_and_settled_write_one_event_each(ops, ev, pg):
    o = ops.order_in(ev.mgr, ev.wh["id"], "delivered", ev.drv, amount="12.500")
    mark = last_id(pg)
    r = ev.drv_client.post(f"{V1}/orders/{o['id']}/payment", json={"method": "cash", "amount": "12.000"})
    assert r.status_code == 201, r.text
    p = r.json()
    e = one_event(pg, o["id"], mark, "payment.recorded")
    assert e["data"] == {"payment": p} and e["warehouse_id"] == ev.wh["id"]

    # deliver with a payment: the order's event, then the payment's
    o2 = ops.order_in(ev.mgr, ev.wh["id"], "picked_up", ev.drv, amount="7.250")
    mark = last_id(pg)
    act(ev.drv_client, o2["id"], "deliver", {"payment": {"method": "knet", "amount": "7.250"}})
    evs = events_of(pg, o2["id"], mark)
    assert [x["type"] for x in evs] == ["order.delivered", "payment.recorded"], evs
    assert evs[0]["data"] == {"order": ops.get(ev.mgr, o2["id"])}
    p2 = evs[1]["data"]["payment"]
    assert p2 == payment_json(ev.mgr, p2["id"])
    assert (p2["order_id"], p2["method"], p2["amount"], p2["status"]) == (o2["id"], "knet", "7.250", "unpaid")

    # refused: a pending order, a replayed Idempotency-Key, a bad amount
    pending = ops.new_order(ev.mgr, ev.wh["id"])
    mark = last_id(pg)
    assert_problem(ev.mgr.post(f"{V1}/orders/{pending['id']}/payment",
                               json={"method": "cash", "amount": "1.000"}), 409)
    assert_problem(ev.mgr.post(f"{V1}/orders/{o['id']}/payment",
                               json={"method": "cash", "amount": "x"}), 422)
    key = "pay-" + secrets.token_hex(6)
    r1 = ev.mgr.post(f"{V1}/orders/{o['id']}/payment", json={"method": "card", "amount": "0.500"},
                     headers={"Idempotency-Key": key})
    assert r1.status_code == 201
    assert [x["type"] for x in events_after(pg, mark)] == ["payment.recorded"]
    mark = last_id(pg)
    r2 = ev.mgr.post(f"{V1}/orders/{o['id']}/payment", json={"method": "card", "amount": "0.500"},
                     headers={"Idempotency-Key": key})
    assert r2.status_code == 201 and r2.headers.get("Idempotent-Replayed") == "true"
    assert last_id(pg) == mark

    # remit two (and one already remitted next time), then settle
    ids = [p["id"], p2["id"]]
    mark = last_id(pg)
    body = ev.mgr.ok("POST", V1 + "/payments/remit", json={"payment_ids": ids})
    assert sorted(body["succeeded"]) == sorted(ids), body
    new = events_after(pg, mark)
    assert sorted((e["type"], e["data"]["payment"]["id"]) for e in new) == \
        sorted(("payment.remitted", i) for i in ids), new
    for e in new:
        pay = e["data"]["payment"]
        assert pay == payment_json(ev.mgr, pay["id"]) and pay["status"] == "remitted"
        assert e["order_id"] == pay["order_id"] and e["warehouse_id"] == ev.wh["id"]
    mark = last_id(pg)
    body = ev.mgr.ok("POST", V1 + "/payments/remit", json={"payment_ids": ids})
    assert body["succeeded"] == [] and len(body["failed"]) == 2
    assert last_id(pg) == mark
    body = ev.mgr.ok("POST", V1 + "/payments/settle", json={"payment_ids": [p["id"], 999999999]})
    assert body["succeeded"] == [p["id"]], body
    new = events_after(pg, mark)
    assert [(e["type"], e["order_id"]) for e in new] == [("payment.settled", o["id"])], new
    assert new[0]["data"]["payment"] == payment_json(ev.mgr, p["id"])
    assert new[0]["data"]["payment"]["status"] == "settled"


# --- customer messages ----------------------------------------------------------------------

def fill(template, **values):
    return re.sub(r"\{(order_number|driver_first_name|tracking_url|eta)\}",
                  lambda m: values.get(m.group(1)) or "", template)


def test_customer_messages_are_off_by_default(ops, ev, pg):
    assert get_settings(ops.admin)["customer_messages"] is False
    o = ops.order_in(ev.mgr, ev.wh["id"], "assigned", ev.drv)
    mark = last_id(pg)
    act(ev.mgr, o["id"], "pickup")
    act(ev.mgr, o["id"], "deliver")
    assert [e["type"] for e in events_of(pg, o["id"], mark)] == ["order.picked_up", "order.delivered"]


def test_customer_messages_with_the_default_templates_and_a_tracking_link(ops, ev, pg, start_daemon):
    d = start_daemon(PUBLIC_BASE_URL="https://track.example.com/")
    mgr = ImportClient(d.url(), *ev.mgr.creds)
    try:
        with ops.setting("customer_messages", True):
            o = ops.order_in(ev.mgr, ev.wh["id"], "assigned", ev.drv, amount="3.000")
            mark = last_id(pg)
            act(mgr, o["id"], "pickup")
            evs = events_of(pg, o["id"], mark)
            assert [e["type"] for e in evs] == ["order.picked_up", "customer.out_for_delivery"], evs
            url = "https://track.example.com/t/" + o["tracking_token"]
            msg = evs[1]["data"]
            assert msg == {"to": o["customer_phone"], "lang": "ar", "order_number": o["order_number"],
                           "tracking_url": url,
                           "text": fill(DEFAULT_TEMPLATES["out_for_delivery"]["ar"],
                                        order_number=o["order_number"], driver_first_name="Yousef",
                                        tracking_url=url)}, msg
            assert "Yousef" in msg["text"] and url in msg["text"] and o["order_number"] in msg["text"]
            assert evs[1]["warehouse_id"] == ev.wh["id"]

            # deliver with a payment: order, payment, then the message
            mark = last_id(pg)
            act(mgr, o["id"], "deliver", {"payment": {"method": "cash", "amount": "3.000"}})
            evs = events_of(pg, o["id"], mark)
            assert [e["type"] for e in evs] == ["order.delivered", "payment.recorded",
                                                "customer.delivered"], evs
            assert evs[2]["data"]["text"] == fill(DEFAULT_TEMPLATES["delivered"]["ar"],
                                                  order_number=o["order_number"])

            # fail: the second driver's first name, after a no-break space
            o2 = ops.order_in(ev.mgr, ev.wh["id"], "assigned", ev.drv2)
            mark = last_id(pg)
            act(mgr, o2["id"], "fail", {"reason": "nobody home"})
            evs = events_of(pg, o2["id"], mark)
            assert [e["type"] for e in evs] == ["order.failed", "customer.delivery_failed"], evs
            url2 = "https://track.example.com/t/" + o2["tracking_token"]
            assert evs[1]["data"]["text"] == fill(DEFAULT_TEMPLATES["delivery_failed"]["ar"],
                                                  order_number=o2["order_number"], tracking_url=url2)
            assert evs[1]["data"]["tracking_url"] == url2

            # refused: no message either
            mark = last_id(pg)
            assert_problem(mgr.post(f"{V1}/orders/{o['id']}/pickup", json={}), 409)
            assert last_id(pg) == mark

            # the main daemon has no PUBLIC_BASE_URL: no link, {tracking_url} empty
            o3 = ops.order_in(ev.mgr, ev.wh["id"], "assigned", ev.drv)
            mark = last_id(pg)
            act(ev.mgr, o3["id"], "pickup")
            (msg,) = [e["data"] for e in events_of(pg, o3["id"], mark) if e["type"].startswith("customer.")]
            assert msg["tracking_url"] is None
            assert msg["text"] == fill(DEFAULT_TEMPLATES["out_for_delivery"]["ar"],
                                       order_number=o3["order_number"], driver_first_name="Yousef")
            assert "/t/" not in msg["text"]
    finally:
        mgr.close()


def test_customer_messages_follow_the_templates_and_language_settings(ops, ev, pg):
    eta = (datetime.now(timezone.utc) + timedelta(hours=3)).replace(second=0, microsecond=0)
    templates = json.loads(json.dumps(DEFAULT_TEMPLATES))
    templates["out_for_delivery"]["en"] = ("{driver_first_name} brings {order_number} around {eta}"
                                           " {unknown} {{eta}} {tracking_url}.")
    o = ops.order_in(ev.mgr, ev.wh["id"], "assigned", ev.drv,
                     estimated_delivery_time=eta.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     order_number=ops.number("{eta}"))
    with ops.setting("customer_messages", True), \
            ops.setting("customer_message_templates", templates), \
            ops.setting("customer_message_default_lang", "en"):
        mark = last_id(pg)
        act(ev.mgr, o["id"], "pickup")
        (msg,) = [e["data"] for e in events_of(pg, o["id"], mark) if e["type"].startswith("customer.")]
    local = (eta + timedelta(hours=3)).strftime("%Y-%m-%d %H:%M")  # Asia/Kuwait, UTC+3
    # one pass: an order number that looks like a placeholder stays as it is
    assert msg["text"] == f"Yousef brings {o['order_number']} around {local} {{unknown}} {{{local}}} .", msg
    assert msg["lang"] == "en" and msg["to"] == o["customer_phone"]


@pytest.mark.parametrize("key,value", [
    ("customer_message_templates", {"delivered": {"ar": "x", "en": "y"}}),
    ("customer_message_templates", dict(DEFAULT_TEMPLATES, extra={"ar": "x", "en": "y"})),
    ("customer_message_templates", dict(DEFAULT_TEMPLATES, delivered={"ar": "", "en": "y"})),
    ("customer_message_templates", dict(DEFAULT_TEMPLATES, delivered={"ar": "x"})),
    ("customer_message_templates", dict(DEFAULT_TEMPLATES, delivered={"ar": "x", "en": 5})),
    ("customer_message_templates", dict(DEFAULT_TEMPLATES, delivered={"ar": "ب" * 501, "en": "y"})),
    ("customer_message_templates", dict(DEFAULT_TEMPLATES, delivered={"ar": "x", "en": "y", "fr": "z"})),
    ("customer_message_templates", "hello"),
    ("customer_message_default_lang", "fr"),
    ("customer_message_default_lang", None),
    ("customer_messages", "yes"),
    ("event_retention_days", 0),
    ("event_retention_days", 3651),
    ("event_retention_days", "30"),
])
def test_bad_event_settings_are_422(ops, key, value):
    assert_problem(ops.admin.put(f"{V1}/settings/{key}", json={"value": value}), 422,
                   "validation_failed")


def test_event_settings_take_their_range(ops):
    s = get_settings(ops.admin)
    assert s["event_retention_days"] == 30 and s["customer_messages"] is False
    assert s["customer_message_templates"] == DEFAULT_TEMPLATES
    assert s["customer_message_default_lang"] == "ar"
    long = dict(DEFAULT_TEMPLATES, delivered={"ar": "ب" * 500, "en": "y"})
    for key, value in (("event_retention_days", 1), ("event_retention_days", 3650),
                       ("customer_message_templates", long),
                       ("customer_message_default_lang", "en")):
        with ops.setting(key, value):
            assert get_settings(ops.admin)[key] == value


def test_a_public_base_url_must_be_an_http_url(cli):
    for bad in ("ftp://x.example.com", "track.example.com", "https://", "https://a b.com",
                "https://x.example.com/?a=1"):
        p = cli("cron", "purge-events", env={"PUBLIC_BASE_URL": bad})
        assert p.returncode != 0 and "PUBLIC_BASE_URL" in p.stderr, (bad, p.returncode, p.stderr)


# --- purge-events -------------------------------------------------------------------------

def test_purge_events_deletes_what_is_older_than_the_retention(ops, ev, pg, cli):
    o = ops.order_in(ev.mgr, ev.wh["id"], "assigned", ev.drv)
    ids = [e["id"] for e in events_of(pg, o["id"])]
    assert len(ids) == 2
    keep = ops.new_order(ev.mgr, ev.wh["id"])
    pg.sql(f"UPDATE events SET created_at = now() - interval '31 days' WHERE id = {ids[0]};"
           f" UPDATE events SET created_at = now() - interval '29 days' WHERE id = {ids[1]}")
    due = int(pg.sql("SELECT count(*) FROM events WHERE created_at < now() - interval '30 days'"))
    assert due >= 1

    def purge():
        r = cron_http(ev.anon, ev.cron_secret, "purge-events")
        assert r.status_code == 200, r.text
        return r.json()
    results = at_once(purge, purge)  # two schedulers at once: each event deleted once
    for res in results:
        assert set(res) == {"deleted"}, res
    assert sum(res["deleted"] for res in results) == due, (results, due)
    assert [e["id"] for e in events_of(pg, o["id"])] == [ids[1]]
    assert len(events_of(pg, keep["id"])) == 1

    p = cli("cron", "purge-events", timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1]) == {"deleted": 0}

    with ops.setting("event_retention_days", 28):
        p = cli("cron", "purge-events", timeout=120)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout.strip().splitlines()[-1]) == {"deleted": 1}
    assert events_of(pg, o["id"]) == []
    assert len(events_of(pg, keep["id"])) == 1
    # without the secret: 401
    assert cron_http(ev.anon, ev.cron_secret, "purge-events", token=None).status_code == 401
