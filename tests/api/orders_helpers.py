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
import time
from datetime import datetime

import pytest

from helpers import Api, assert_problem, metric_sum, poll

__all__ = [
    "V1", "ORDER_KEYS", "HISTORY_KEYS", "STATUSES", "ACTIONS", "LEGAL", "STAMP",
    "FAILURE_CODES", "TS_RE",
    "uniq", "kw_phone", "strong_password", "parse_ts", "is_ts", "field_names",
    "Client", "OrdersWorld", "ow", "assert_problem", "poll", "metric_sum",
    "assert_order_shape", "set_setting",
]

V1 = "/api/v1"

# API.md "Orders": the Order JSON.
ORDER_KEYS = {
    "id", "order_number", "source", "status", "warehouse_id", "driver_id",
    "customer_name", "customer_phone", "delivery_address", "area", "block", "street", "avenue",
    "building", "floor", "apartment", "paci_number", "delivery_latitude", "delivery_longitude",
    "customer_info", "amount", "payment_method", "notes", "failure_reason",
    "failure_reason_code", "cancel_reason", "estimated_delivery_time", "assigned_at",
    "picked_up_at", "delivered_at", "failed_at", "cancelled_at", "returned_at",
    "delivery_time_seconds", "delivery_time", "is_archived", "archived_at", "tracking_token",
    "created_at", "updated_at", "version",
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

TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def uniq(prefix="o"):
    return f"{prefix}_{secrets.token_hex(4)}"


def kw_phone():
    """A random local 8-digit Kuwaiti mobile number starting with 5."""
    return "5" + "".join(secrets.choice("0123456789") for _ in range(7))


def strong_password():
    return "pw-" + secrets.token_urlsafe(12)


def is_ts(value):
    return isinstance(value, str) and bool(TS_RE.match(value))


def parse_ts(value):
    assert is_ts(value), f"not an RFC 3339 UTC time with Z: {value!r}"
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def field_names(resp):
    """The set of `field` names of a 422 validation_failed problem."""
    body = assert_problem(resp, 422, "validation_failed")
    errors = body.get("errors")
    assert isinstance(errors, list) and errors, body
    return {e.get("field") for e in errors}


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


class Client(Api):
    """An Api logged in as one user; logs in again before the 900 s access
    token runs out, so a long session keeps working. `user` is the login's
    user JSON."""

    def __init__(self, base, username, password):
        super().__init__(base)
        self.creds = (username, password)
        self._since = None
        self.user = None
        self._login()

    def _login(self):
        anon = Api(self.base)
        try:
            body = anon.login(*self.creds)
        finally:
            anon.close()
        self.session.headers["Authorization"] = "Bearer " + body["access_token"]
        self.user = body["user"]
        self._since = time.monotonic()

    def request(self, method, path, **kw):
        if time.monotonic() - self._since > 600:
            self._login()
        return super().request(method, path, **kw)

    @property
    def id(self):
        return self.user["id"]


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
        body = {"code": uniq("OWH").upper(), "name": "Orders WH " + secrets.token_hex(3)}
        r = self.admin.post(V1 + "/warehouses", json=body)
        assert r.status_code == 201, f"POST /warehouses: {r.status_code} {r.text}"
        return r.json()

    def manager(self, warehouse_id=None):
        """A new manager (scoped when warehouse_id) -> (user JSON, Client)."""
        body = {"username": uniq("omgr"), "password": strong_password(),
                "full_name": "Manager " + secrets.token_hex(3), "role": "manager"}
        if warehouse_id is not None:
            body["warehouse_id"] = warehouse_id
        r = self.admin.post(V1 + "/users", json=body)
        assert r.status_code == 201, f"POST /users: {r.status_code} {r.text}"
        return r.json(), Client(self.base, body["username"], body["password"])

    def driver(self, warehouse_id, login=True):
        """A new driver -> (driver JSON, Client or None)."""
        body = {"username": uniq("odrv"), "password": strong_password(),
                "full_name": "Driver " + secrets.token_hex(3), "phone": kw_phone(),
                "code": uniq("OD").upper(), "vehicle_type": "motorcycle",
                "warehouse_id": warehouse_id}
        r = self.admin.post(V1 + "/drivers", json=body)
        assert r.status_code == 201, f"POST /drivers: {r.status_code} {r.text}"
        client = Client(self.base, body["username"], body["password"]) if login else None
        return r.json(), client

    # --- orders -------------------------------------------------------------
    def order_body(self, warehouse_id=None, **fields):
        body = {"customer_name": "Customer " + secrets.token_hex(3),
                "customer_phone": kw_phone(),
                "warehouse_id": warehouse_id or self.wh_a["id"],
                "delivery_address": "Salmiya, Block 10, Street 5",
                "area": "Salmiya", "amount": "12.500", "payment_method": "cash"}
        body.update(fields)
        return {k: v for k, v in body.items() if v is not ...}

    def new_order(self, client=None, warehouse_id=None, **fields):
        """POST /orders (asserts 201) -> the order JSON."""
        body = self.order_body(warehouse_id, **fields)
        r = (client or self.mgr).post(V1 + "/orders", json=body)
        assert r.status_code == 201, f"POST /orders {body}: {r.status_code} {r.text}"
        return r.json()

    def act(self, oid, action, body=None, client=None):
        """POST /orders/{id}/{action} -> the response."""
        if body is None:
            body = default_body(action, self)
        return (client or self.mgr).post(f"{V1}/orders/{oid}/{action}", json=body)

    def must(self, oid, action, body=None, client=None):
        r = self.act(oid, action, body, client)
        assert r.status_code == 200, f"{action} order {oid}: {r.status_code} {r.text}"
        return r.json()

    def get(self, oid, client=None):
        r = (client or self.mgr).get(f"{V1}/orders/{oid}")
        assert r.status_code == 200, f"GET order {oid}: {r.status_code} {r.text}"
        return r.json()

    def history(self, oid, client=None):
        r = (client or self.mgr).get(f"{V1}/orders/{oid}/history")
        assert r.status_code == 200, f"GET history {oid}: {r.status_code} {r.text}"
        body = r.json()
        assert isinstance(body, list), body
        return body

    def order_in(self, status, driver=None, warehouse_id=None, client=None, **fields):
        """A new order brought to `status` through the API (driver: the driver
        JSON to assign, d1 by default) -> the order JSON."""
        driver = driver or self.d1
        o = self.new_order(client, warehouse_id, **fields)
        steps = {
            "pending": [],
            "assigned": [("assign", {"driver_id": driver["id"]})],
            "picked_up": [("assign", {"driver_id": driver["id"]}), ("pickup", {})],
            "delivered": [("assign", {"driver_id": driver["id"]}), ("pickup", {}),
                          ("deliver", {})],
            "failed": [("assign", {"driver_id": driver["id"]}),
                       ("fail", {"reason": "nobody home"})],
            "cancelled": [("cancel", {"reason": "customer changed mind"})],
            "returned": [("assign", {"driver_id": driver["id"]}),
                         ("fail", {"reason": "nobody home"}), ("return", {})],
        }[status]
        for action, body in steps:
            o = self.must(o["id"], action, body, client)
        assert o["status"] == status, o
        return o

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


def set_setting(world, key, value):
    """PUT /settings/{key} as the admin (asserts 200)."""
    r = world.admin.put(f"{V1}/settings/{key}", json={"value": value})
    assert r.status_code == 200, f"PUT /settings/{key}: {r.status_code} {r.text}"
    return r.json()


@pytest.fixture(scope="session")
def ow(daemon, create_user, pg):
    """The session's orders world (its own admin, warehouses, drivers, managers)."""
    creds = create_user(uniq("oadmin"), "admin", full_name="Orders Admin")
    w = OrdersWorld(daemon.url(), creds, pg)
    yield w
    w.close()
