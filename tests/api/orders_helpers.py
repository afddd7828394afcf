"""Helpers and fixtures shared by the Orders API tests (test_orders_*.py).

Test modules import them with `from orders_helpers import *`.

Everything a test needs is created through the API with unique names: a
dedicated admin (through `deliveryd create-user`), warehouses, drivers and
managers. Tests never assume ids or totals of the whole table; lists are
filtered by the test's own warehouse.
"""

import re
import secrets
import threading

import pytest

from helpers import (TS_RE, V1, Client, assert_problem, bring_to, field_names, get_order, is_ts,
                     kw_phone, metric_sum, must_act, new_driver, new_manager, order_body,
                     parse_ts, poll, post_order, post_warehouse, set_setting, strong_password,
                     uniq)

__all__ = [
    "V1", "ORDER_KEYS", "HISTORY_KEYS", "STATUSES", "ACTIONS", "LEGAL", "STAMP",
    "FAILURE_CODES", "TS_RE",
    "uniq", "kw_phone", "strong_password", "parse_ts", "is_ts", "field_names",
    "Client", "OrdersWorld", "ow", "assert_problem", "poll", "metric_sum",
    "assert_order_shape", "set_setting",
]

# API.md "Orders": the Order JSON.
ORDER_KEYS = {
    "id", "order_number", "source", "status", "warehouse_id", "driver_id",
    "customer_name", "customer_phone", "delivery_address", "area", "block", "street", "avenue",
    "building", "floor", "apartment", "paci_number", "delivery_latitude", "delivery_longitude",
    "customer_info", "amount", "payment_method", "notes", "failure_reason",
    "failure_reason_code", "cancel_reason", "estimated_delivery_time", "assigned_at",
    "picked_up_at", "delivered_at", "failed_at", "cancelled_at", "returned_at",
    "delivery_time_seconds", "delivery_time", "is_archived", "archived_at", "tracking_token",
    "created_at", "updated_at", "version", "coordinates_source",
}
HISTORY_KEYS = {"from_status", "to_status", "changed_by", "driver_id", "reason", "created_at"}

STATUSES = ["pending", "assigned", "picked_up", "delivered", "failed", "cancelled", "returned"]
ACTIONS = ["assign", "unassign", "pickup", "deliver", "fail", "cancel", "requeue", "return"]

# API.md: the only legal transitions, (from, action) -> to.
LEGAL = {
    ("pending", "assign"): "assigned",
    ("assigned", "assign"): "assigned",  # to another driver
    ("assigned", "unassign"): "pending",
    ("assigned", "pickup"): "picked_up",
    ("picked_up", "deliver"): "delivered",
    ("assigned", "fail"): "failed",
    ("picked_up", "fail"): "failed",
    ("pending", "cancel"): "cancelled",
    ("assigned", "cancel"): "cancelled",
    ("failed", "cancel"): "cancelled",
    ("failed", "assign"): "assigned",
    ("failed", "requeue"): "pending",
    ("failed", "return"): "returned",
}

# The *_at column each action stamps (unassign and requeue have none).
STAMP = {"assign": "assigned_at", "pickup": "picked_up_at", "deliver": "delivered_at",
         "fail": "failed_at", "cancel": "cancelled_at", "return": "returned_at"}

# API.md "Settings": failure_reason_codes default.
FAILURE_CODES = ["customer_unreachable", "customer_not_home", "wrong_address",
                 "customer_refused", "payment_issue", "prescription_issue", "damaged", "other"]


def assert_order_shape(o):
    """Every key of the contract's Order JSON, with the documented types."""
    assert isinstance(o, dict), o
    missing = ORDER_KEYS - set(o)
    assert not missing, f"order JSON lacks {sorted(missing)}: {o}"
    assert isinstance(o["id"], int) and o["id"] > 0
    assert isinstance(o["version"], int) and o["version"] >= 1
    assert o["status"] in STATUSES
    assert o["source"] in ("manual", "excel", "d365")
    assert isinstance(o["warehouse_id"], int)
    assert o["driver_id"] is None or isinstance(o["driver_id"], int)
    assert isinstance(o["customer_info"], dict)
    assert o["amount"] is None or re.fullmatch(r"\d+\.\d{3}", o["amount"]), o["amount"]
    assert o["payment_method"] in (None, "cash", "knet", "card", "prepaid")
    assert isinstance(o["is_archived"], bool)
    for k in ("created_at", "updated_at"):
        assert is_ts(o[k]), (k, o[k])
    for k in ("estimated_delivery_time", "assigned_at", "picked_up_at", "delivered_at",
              "failed_at", "cancelled_at", "returned_at", "archived_at"):
        assert o[k] is None or is_ts(o[k]), (k, o[k])
    return o


class OrdersWorld:
    """The actors of the orders tests and helpers to build orders.

    wh_a, wh_b: warehouses; admin: a dedicated admin; mgr: an unscoped
    manager (does most of the work); mgr_a: a manager scoped to wh_a;
    d1, d2 (+ clients c1, c2): drivers of wh_a; d3 (+ c3): a driver of wh_b.
    """

    def __init__(self, base, admin_creds, pg):
        self.base = base
        self.pg = pg
        self.admin = Client(base, *admin_creds)
        self.wh_a = self.warehouse()
        self.wh_b = self.warehouse()
        self.mgr_user, self.mgr = self.manager()
        self.mgr_a_user, self.mgr_a = self.manager(self.wh_a["id"])
        self.d1, self.c1 = self.driver(self.wh_a["id"])
        self.d2, self.c2 = self.driver(self.wh_a["id"])
        self.d3, self.c3 = self.driver(self.wh_b["id"])
        self._lock = threading.Lock()

    def close(self):
        for c in (self.admin, self.mgr, self.mgr_a, self.c1, self.c2, self.c3):
            c.close()

    # --- actors -------------------------------------------------------------
    def warehouse(self):
        return post_warehouse(self.admin, "OWH", "Orders WH " + secrets.token_hex(3))

    def manager(self, warehouse_id=None):
        """A new manager (scoped when warehouse_id) -> (user JSON, Client)."""
        return new_manager(self.admin, "omgr", warehouse_id=warehouse_id)

    def driver(self, warehouse_id, login=True):
        """A new driver -> (driver JSON, Client or None)."""
        return new_driver(self.admin, warehouse_id, login, prefix="odrv", code_prefix="OD")

    # --- orders -------------------------------------------------------------
    def order_body(self, warehouse_id=None, **fields):
        return order_body(warehouse_id or self.wh_a["id"], **fields)

    def new_order(self, client=None, warehouse_id=None, **fields):
        """POST /orders (asserts 201) -> the order JSON."""
        return post_order(client or self.mgr, self.order_body(warehouse_id, **fields))

    def act(self, oid, action, body=None, client=None):
        """POST /orders/{id}/{action} -> the response."""
        if body is None:
            body = default_body(action, self)
        return (client or self.mgr).post(f"{V1}/orders/{oid}/{action}", json=body)

    def must(self, oid, action, body=None, client=None):
        if body is None:
            body = default_body(action, self)
        return must_act(client or self.mgr, oid, action, body)

    def get(self, oid, client=None):
        return get_order(client or self.mgr, oid)

    def history(self, oid, client=None):
        r = (client or self.mgr).get(f"{V1}/orders/{oid}/history")
        assert r.status_code == 200, f"GET history {oid}: {r.status_code} {r.text}"
        body = r.json()
        assert isinstance(body, list), body
        return body

    def order_in(self, status, driver=None, warehouse_id=None, client=None, **fields):
        """A new order brought to `status` through the API (driver: the driver
        JSON to assign, d1 by default) -> the order JSON."""
        o = self.new_order(client, warehouse_id, **fields)
        return bring_to(o, status, driver or self.d1,
                        lambda oid, action, body: self.must(oid, action, body, client))

    def insert_orders(self, n, warehouse_id=None, prefix=None):
        """n pending orders straight into the table (no history) -> their ids."""
        wh = int(warehouse_id or self.wh_a["id"])
        prefix = prefix or uniq("BULK").upper()
        out = self.pg.sql(
            "INSERT INTO orders (order_number, warehouse_id, customer_name, customer_phone,"
            " delivery_address, amount) SELECT "
            f"'{prefix}-' || g, {wh}, 'Bulk ' || g, '+9655' || lpad(g::text, 7, '0'),"
            f" 'Bulk address ' || g, 1.000 FROM generate_series(1, {int(n)}) g RETURNING id")
        ids = [int(x) for x in out.split()]
        assert len(ids) == n
        return ids


def default_body(action, world):
    """A body that makes `action` acceptable as far as its input goes."""
    return {
        "assign": {"driver_id": world.d2["id"]},
        "fail": {"reason": "customer not reachable"},
        "cancel": {"reason": "duplicate order"},
    }.get(action, {})


@pytest.fixture(scope="session")
def ow(daemon, create_user, pg):
    """The session's orders world (its own admin, warehouses, drivers, managers)."""
    creds = create_user(uniq("oadmin"), "admin", full_name="Orders Admin")
    w = OrdersWorld(daemon.url(), creds, pg)
    yield w
    w.close()
