"""Dispatch aids of issue 20, the rest (API.md v1.1 "Dispatch aids" and
"Changes to v1"): warnings on assignment (assign, batch-assign), learned
coordinates (the deliver statement, POST /orders, the import, the D365
webhook, the backfill cron learn-coordinates), archived orders take no new
payment or proof, a deactivated warehouse takes no new orders or drivers,
and a new proof keeps the earlier ones under "previous".

Every test builds its own warehouse somewhere quiet (the sea south of
Kuwait), its own drivers and a manager scoped to it. Defaults (migration
0027 and earlier): location_stale_seconds 300, assign_warn_distance_km 10,
assign_warn_active_orders 6, driver_cash_limit 100.000."""

import json
import math
import random
import secrets

import pytest

from helpers import order_body
from ops_helpers import *  # noqa: F401,F403
from orders_helpers import ORDER_KEYS

LOC = V1 + "/drivers/location"


def km_between(lat1, lng1, lat2, lng2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371 * 2 * math.asin(math.sqrt(a))


def quiet_place():
    return 28.4 + random.random() * 0.2, 49.1 + random.random() * 0.2


def go_online(client, lat, lng):
    r = client.post(V1 + "/drivers/me/online", json={"latitude": lat, "longitude": lng})
    assert r.status_code in (200, 201), r.text


def move_to(client, lat, lng):
    r = client.post(LOC, json={"points": [{"latitude": lat, "longitude": lng}]})
    assert r.status_code == 202, r.text


def assign(client, oid, driver_id):
    r = client.post(f"{V1}/orders/{oid}/assign", json={"driver_id": driver_id})
    assert r.status_code == 200, f"assign {oid}: {r.status_code} {r.text}"
    body = r.json()
    assert set(body) == ORDER_KEYS | {"warnings"}, set(body) ^ (ORDER_KEYS | {"warnings"})
    assert body["status"] == "assigned" and body["driver_id"] == driver_id
    for w in body["warnings"]:
        assert set(w) == {"code", "message"}, w
    return body


def codes(body):
    return [w["code"] for w in body["warnings"]]


def message(body, code):
    (m,) = [w["message"] for w in body["warnings"] if w["code"] == code]
    return m


@pytest.fixture()
def place(ops):
    """A quiet warehouse with a scoped manager."""
    lat, lng = quiet_place()
    wh = ops.warehouse(lat=lat, lng=lng)
    return lat, lng, wh, ops.manager(wh["id"])


# --- warnings on assignment ---------------------------------------------------------------------

def test_no_warnings_when_all_is_fine(ops, place):
    lat, lng, wh, mgr = place
    d, c = ops.driver(wh["id"])
    go_online(c, lat + 0.01, lng)
    o = ops.new_order(mgr, wh["id"], delivery_latitude=lat, delivery_longitude=lng)
    body = assign(mgr, o["id"], d["id"])
    assert body["warnings"] == [], body["warnings"]
    # the order is the one GET answers, plus the warnings
    got = ops.get(mgr, o["id"])
    assert {k: v for k, v in body.items() if k != "warnings"} == got


def test_offline_driver_without_a_position(ops, place):
    lat, lng, wh, mgr = place
    d, _ = ops.driver(wh["id"], login=False)
    o = ops.new_order(mgr, wh["id"], delivery_latitude=lat, delivery_longitude=lng)
    body = assign(mgr, o["id"], d["id"])
    assert codes(body) == ["driver_offline", "position_stale"], body["warnings"]
    assert message(body, "driver_offline") == "the driver is offline (never seen)"
    assert message(body, "position_stale") == "the driver has reported no position"


def test_stale_position_and_far_from_delivery(ops, place, pg):
    lat, lng, wh, mgr = place
    d, c = ops.driver(wh["id"])
    go_online(c, lat + 0.13, lng)  # about 14.5 km north
    pg.sql("UPDATE drivers SET last_recorded_at = now() - interval '25 minutes 20 seconds',"
           f" last_seen_at = now() WHERE id = {d['id']}")
    o = ops.new_order(mgr, wh["id"], delivery_latitude=lat, delivery_longitude=lng)
    body = assign(mgr, o["id"], d["id"])
    assert codes(body) == ["position_stale", "far_from_delivery"], body["warnings"]
    assert message(body, "position_stale") == \
        "the driver's position is 25 min old (limit 5 min)"
    km = km_between(lat + 0.13, lng, lat, lng)
    assert message(body, "far_from_delivery") == \
        f"the driver is {km:.1f} km from the delivery point (limit 10)"
    # an order without coordinates is never "far"
    o2 = ops.new_order(mgr, wh["id"], area="Nowhere-" + secrets.token_hex(3))
    assert o2["coordinates_source"] is None
    assert "far_from_delivery" not in codes(assign(mgr, o2["id"], d["id"]))


def test_overloaded_driver_single_and_batch_warnings_by_id(ops, place):
    lat, lng, wh, mgr = place
    d, c = ops.driver(wh["id"])
    go_online(c, lat, lng)
    ids = [ops.new_order(mgr, wh["id"])["id"] for _ in range(8)]
    r = mgr.post(V1 + "/orders/batch-assign", json={"order_ids": ids[:7], "driver_id": d["id"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"succeeded", "failed", "warnings"}, body
    assert sorted(body["succeeded"]) == sorted(ids[:7]) and body["failed"] == []
    # counting each order of the batch in id order: the 7th goes over 6
    assert body["warnings"] == [{"id": ids[6], "code": "driver_overloaded",
                                 "message": "the driver will have 7 active orders (limit 6)"}]
    one = assign(mgr, ids[7], d["id"])
    assert codes(one) == ["driver_overloaded"]
    assert message(one, "driver_overloaded") == "the driver will have 8 active orders (limit 6)"
    # a refused id has no warnings; the batch still answers the key
    r = mgr.post(V1 + "/orders/batch-assign", json={"order_ids": [ids[0]], "driver_id": d["id"]})
    assert r.status_code == 200, r.text
    assert r.json()["warnings"] == [] and len(r.json()["failed"]) == 1


def test_cash_over_limit(ops, place):
    lat, lng, wh, mgr = place
    d, c = ops.driver(wh["id"])
    go_online(c, lat, lng)
    o = ops.order_in(mgr, wh["id"], "picked_up", d, amount="120.500")
    ops.must(c, o["id"], "deliver", {"payment": {"method": "cash", "amount": "120.500"}})
    o2 = ops.new_order(mgr, wh["id"], delivery_latitude=lat, delivery_longitude=lng)
    body = assign(mgr, o2["id"], d["id"])
    assert codes(body) == ["cash_over_limit"], body["warnings"]
    assert message(body, "cash_over_limit") == \
        "the driver holds 120.500 KWD cash (limit 100.000)"


# --- learned coordinates ------------------------------------------------------------------------

def customer():
    digits = "5" + "".join(random.choice("0123456789") for _ in range(7))
    return digits, "+965" + digits


def address(**over):
    a = {"area": "Hawally " + secrets.token_hex(2), "block": "5", "street": "Street 12",
         "building": "7"}
    a.update(over)
    return a


def deliver_at(ops, mgr, wh, d, c, lat, lng, phone, addr):
    move_to(c, lat, lng)
    o = ops.order_in(mgr, wh["id"], "delivered", d, customer_phone=phone, **addr)
    return o


def test_learned_coordinates_from_deliveries_survive_a_gps_jump(ops, place, pg, secrets_env, api):
    lat, lng, wh, mgr = place
    d, c = ops.driver(wh["id"])
    go_online(c, lat, lng)
    digits, phone = customer()
    addr = address()
    x_lat, x_lng = lat + 0.02, lng + 0.01
    deliver_at(ops, mgr, wh, d, c, x_lat, x_lng, phone, addr)
    deliver_at(ops, mgr, wh, d, c, x_lat + 0.0003, x_lng, phone, addr)  # ~33 m apart
    # the same address written otherwise (case, spaces): the same key
    same = {k: "  " + v.upper().replace(" ", "   ") + " " for k, v in addr.items()}
    o = ops.new_order(mgr, wh["id"], customer_phone=phone, **same)
    assert o["coordinates_source"] == "learned", o
    assert km_between(o["delivery_latitude"], o["delivery_longitude"], x_lat, x_lng) < 0.05
    assert ops.get(mgr, o["id"])["coordinates_source"] == "learned"
    lst = mgr.get(V1 + "/orders", params={"warehouse_id": wh["id"], "page_size": 100}).json()
    assert {i["id"]: i["coordinates_source"] for i in lst["items"]}[o["id"]] == "learned"
    # one GPS jump (11 km off) on the third delivery does not move the point
    deliver_at(ops, mgr, wh, d, c, x_lat + 0.1, x_lng, phone, addr)
    o = ops.new_order(mgr, wh["id"], customer_phone=phone, **addr)
    assert o["coordinates_source"] == "learned"
    assert km_between(o["delivery_latitude"], o["delivery_longitude"], x_lat, x_lng) < 0.05, o
    # given coordinates stay the order's
    o = ops.new_order(mgr, wh["id"], customer_phone=phone, delivery_latitude=lat,
                      delivery_longitude=lng, **addr)
    assert o["coordinates_source"] == "order"
    assert (o["delivery_latitude"], o["delivery_longitude"]) == (lat, lng)
    # a PATCH of the coordinates makes learned ones the order's
    learned = ops.new_order(mgr, wh["id"], customer_phone=phone, **addr)
    r = mgr.patch(f"{V1}/orders/{learned['id']}", json={"delivery_latitude": lat,
                                                         "delivery_longitude": lng})
    assert r.status_code == 200 and r.json()["coordinates_source"] == "order", r.text
    # no history for this address, or for this phone: none
    o = ops.new_order(mgr, wh["id"], customer_phone=phone, **address())
    assert o["coordinates_source"] is None and o["delivery_latitude"] is None
    o = ops.new_order(mgr, wh["id"], customer_phone=customer()[1], **addr)
    assert o["coordinates_source"] is None
    # the import and the D365 webhook learn the same way
    num = ops.number("L")
    rows = [["Order", "Customer", "Mobile", "Area", "Block", "Street", "Building"],
            [num, "Learned Import", digits, addr["area"].lower(), addr["block"],
             addr["street"], addr["building"]]]
    r = mgr.import_file(csv_bytes(rows), filename="learn.csv", mime=CSV_MIME,
                        warehouse_id=wh["id"])
    assert r.status_code == 201, r.text
    o = find_order(mgr, num)
    assert o["coordinates_source"] == "learned", o
    assert km_between(o["delivery_latitude"], o["delivery_longitude"], x_lat, x_lng) < 0.05
    num = ops.number("W")
    body = json.dumps({"event": "order.created", "order": {
        "order_number": num, "customer_name": "Learned Hook", "customer_phone": digits,
        "warehouse_code": wh["code"], **addr}}).encode()
    r = api.post(V1 + "/webhooks/d365", data=body, headers=d365_headers(secrets_env[1], body))
    assert r.status_code == 202 and r.json()["applied"] is True, r.text
    o = find_order(mgr, num)
    assert o["coordinates_source"] == "learned", o
    # an import row with coordinates: the order's
    num = ops.number("L")
    rows = [["Order", "Customer", "Mobile", "Area", "Latitude", "Longitude"],
            [num, "Given Import", digits, addr["area"], str(lat), str(lng)]]
    r = mgr.import_file(csv_bytes(rows), filename="given.csv", mime=CSV_MIME,
                        warehouse_id=wh["id"])
    assert r.status_code == 201, r.text
    assert find_order(mgr, num)["coordinates_source"] == "order"


def test_a_stale_position_teaches_nothing(ops, place, pg):
    lat, lng, wh, mgr = place
    d, c = ops.driver(wh["id"])
    go_online(c, lat, lng)
    _, phone = customer()
    addr = address()
    o = ops.order_in(mgr, wh["id"], "picked_up", d, customer_phone=phone, **addr)
    pg.sql("UPDATE drivers SET last_recorded_at = now() - interval '10 minutes'"
           f" WHERE id = {d['id']}")
    ops.must(c, o["id"], "deliver", {})
    assert pg.sql(f"SELECT count(*) FROM customer_places WHERE order_id = {o['id']}") == "0"


def test_backfill_learns_from_stored_history_once(ops, place, pg, secrets_env, api):
    lat, lng, wh, mgr = place
    d, c = ops.driver(wh["id"])
    go_online(c, lat, lng)
    _, phone = customer()
    addr = address()
    x_lat, x_lng = lat + 0.03, lng
    ids = [deliver_at(ops, mgr, wh, d, c, x_lat, x_lng, phone, addr)["id"] for _ in range(2)]
    id_list = ",".join(map(str, ids))
    # history from before the feature: the places forgotten, the driver's
    # points a minute before the deliveries
    pg.sql(f"DELETE FROM customer_places WHERE order_id IN ({id_list});"
           f" UPDATE orders SET delivered_at = delivered_at + interval '1 minute'"
           f" WHERE id IN ({id_list})")
    o = ops.new_order(mgr, wh["id"], customer_phone=phone, **addr)
    assert o["coordinates_source"] is None
    first = cron_http(api, secrets_env[0], "learn-coordinates")
    assert first.status_code == 200, first.text
    assert first.json()["learned"] >= 2, first.text
    got = pg.sql("SELECT order_id, round(latitude::numeric, 5), round(longitude::numeric, 5)"
                 f" FROM customer_places WHERE order_id IN ({id_list}) ORDER BY order_id")
    assert got.splitlines() == [f"{i}|{round(x_lat, 5)}|{round(x_lng, 5)}" for i in ids] or \
        all(km_between(float(a), float(b), x_lat, x_lng) < 0.01
            for _, a, b in (line.split("|") for line in got.splitlines())), got
    assert len(got.splitlines()) == 2
    second = cron_http(api, secrets_env[0], "learn-coordinates")
    assert second.status_code == 200 and second.json() == {"learned": 0}, second.text
    o = ops.new_order(mgr, wh["id"], customer_phone=phone, **addr)
    assert o["coordinates_source"] == "learned"
    assert km_between(o["delivery_latitude"], o["delivery_longitude"], x_lat, x_lng) < 0.05


def test_backfill_runs_at_once_learn_once(ops, place, pg, secrets_env, api, cli):
    lat, lng, wh, mgr = place
    d, c = ops.driver(wh["id"])
    go_online(c, lat, lng)
    _, phone = customer()
    o = deliver_at(ops, mgr, wh, d, c, lat, lng, phone, address())
    pg.sql(f"DELETE FROM customer_places WHERE order_id = {o['id']}")

    def http():
        r = cron_http(api, secrets_env[0], "learn-coordinates")
        assert r.status_code == 200, r.text
        return r.json()["learned"]

    def cmd():
        p = cli("cron", "learn-coordinates", timeout=120)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout.strip().splitlines()[-1])["learned"]

    a, b = at_once(http, cmd)
    assert a + b >= 1
    assert pg.sql(f"SELECT count(*) FROM customer_places WHERE order_id = {o['id']}") == "1"


# --- archived orders ------------------------------------------------------------------------------

def test_archived_order_takes_no_payment_or_proof_but_remit_and_settle_work(ops, place, pg):
    lat, lng, wh, mgr = place
    d, c = ops.driver(wh["id"])
    o = ops.order_in(mgr, wh["id"], "picked_up", d, amount="7.000")
    p = ops.must(c, o["id"], "deliver", {"payment": {"method": "cash", "amount": "7.000"}})
    assert p["status"] == "delivered"
    pay_id = int(pg.sql(f"SELECT id FROM payment_collections WHERE order_id = {o['id']}"))
    pg.sql(f"UPDATE orders SET is_archived = true, archived_at = now() WHERE id = {o['id']}")
    r = c.post(f"{V1}/orders/{o['id']}/payment", json={"method": "cash", "amount": "1.000"})
    assert_problem(r, 409, "conflict")
    assert "archived" in r.json()["detail"]
    r = c.post(f"{V1}/orders/{o['id']}/proof",
               files={"photo": ("p.png", tiny_png_bytes(), "image/png")})
    assert_problem(r, 409, "conflict")
    assert "archived" in r.json()["detail"]
    r = mgr.post(V1 + "/payments/remit", json={"payment_ids": [pay_id]})
    assert r.status_code == 200 and r.json()["succeeded"] == [pay_id], r.text
    r = mgr.post(V1 + "/payments/settle", json={"payment_ids": [pay_id]})
    assert r.status_code == 200 and r.json()["succeeded"] == [pay_id], r.text


def tiny_png_bytes():
    from field_helpers import tiny_png
    return tiny_png()


# --- deactivated warehouse ------------------------------------------------------------------------

def test_deactivated_warehouse_takes_nothing_new_and_its_orders_go_on(ops, secrets_env, api):
    wh = ops.warehouse()
    boss = ops.manager()
    d, c = ops.driver(wh["id"])
    o = ops.new_order(boss, wh["id"])
    pend = ops.new_order(boss, wh["id"])
    r = ops.admin.patch(f"{V1}/warehouses/{wh['id']}", json={"is_active": False})
    assert r.status_code == 200, r.text
    # POST /orders: 422 naming warehouse_id
    r = boss.post(V1 + "/orders", json=order_body(wh["id"], order_number=ops.number()))
    assert_problem(r, 422, "validation_failed")
    assert [e["field"] for e in r.json()["errors"]] == ["warehouse_id"]
    # POST /drivers: 422 naming warehouse_id
    r = ops.admin.post(V1 + "/drivers", json={
        "username": uniq("deadwh"), "password": strong_password(), "full_name": "Late Driver",
        "phone": kw_phone(), "code": uniq("DW").upper(), "vehicle_type": "car",
        "warehouse_id": wh["id"]})
    assert_problem(r, 422, "validation_failed")
    assert [e["field"] for e in r.json()["errors"]] == ["warehouse_id"]
    # the import: a row error (by the warehouse column and by ?warehouse_id=)
    num = ops.number("D")
    rows = [["Order", "Customer", "Mobile", "Area", "Warehouse"],
            [num, "Dead WH", "55550001", "Salmiya", wh["code"]]]
    r = boss.import_file(csv_bytes(rows), filename="dead.csv", mime=CSV_MIME)
    assert r.status_code in (200, 201), r.text
    body = r.json()
    assert body["created"] == 0 and body["failed"] == 1, body
    assert body["errors"][0]["field"] == "warehouse_code" and \
        "deactivated" in body["errors"][0]["message"], body
    rows = [["Order", "Customer", "Mobile", "Area"], [num, "Dead WH", "55550001", "Salmiya"]]
    r = boss.import_file(csv_bytes(rows), filename="dead2.csv", mime=CSV_MIME,
                         warehouse_id=wh["id"])
    assert r.json()["failed"] == 1 and r.json()["created"] == 0, r.text
    assert find_order(boss, num) is None
    # an update of an existing pending order through the import goes on
    rows = [["Order", "Amount"], [pend["order_number"], "9.750"]]
    r = boss.import_file(csv_bytes(rows), filename="upd.csv", mime=CSV_MIME)
    assert r.json()["updated"] == 1, r.text
    # the webhook: applied false
    body = json.dumps({"event": "order.created", "order": {
        "order_number": num, "customer_name": "Dead Hook", "customer_phone": "55550002",
        "warehouse_code": wh["code"], "area": "Salmiya"}}).encode()
    r = api.post(V1 + "/webhooks/d365", data=body, headers=d365_headers(secrets_env[1], body))
    assert r.status_code == 202, r.text
    assert r.json()["applied"] is False and "deactivated" in r.json()["detail"], r.text
    assert find_order(boss, num) is None
    # its existing orders go on
    ops.must(boss, o["id"], "assign", {"driver_id": d["id"]})
    ops.must(c, o["id"], "pickup", {})
    assert ops.must(c, o["id"], "deliver", {})["status"] == "delivered"
