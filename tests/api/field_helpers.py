"""Helpers and fixtures shared by the "drivers in the field" API tests
(test_field_*.py): GPS ingest, the live map, work sessions, proof of delivery
and cash on delivery.

Test modules import them with `from field_helpers import *`.

Every actor is created through the API with a unique suffix: a dedicated
admin (through `deliveryd create-user`), two warehouses, an unscoped
manager, a manager scoped to the first warehouse, and drivers made on demand
(`fw.driver()`), so no test depends on ids or totals of the shared database.
"""

import base64
import hashlib
import hmac
import json
import re
import secrets
import struct
import time
import zlib
from datetime import datetime, timezone

import pytest

from helpers import Api, assert_problem, poll

__all__ = [
    "V1", "TS_RE", "MONEY_RE", "SESSION_KEYS", "MAP_KEYS", "PROOF_KEYS", "PAYMENT_KEYS",
    "CASH_KEYS",
    "uniq", "kw_phone", "strong_password", "is_ts", "parse_ts", "iso", "utcnow",
    "tiny_png", "tiny_jpeg", "Client", "FieldWorld", "fw", "assert_problem", "poll",
    "set_setting",
]

V1 = "/api/v1"
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
MONEY_RE = re.compile(r"^\d+\.\d{3}$")

# API.md shapes.
SESSION_KEYS = {"id", "started_at", "ended_at", "duration_seconds"}
MAP_KEYS = {"driver_id", "code", "full_name", "latitude", "longitude", "recorded_at",
            "is_online", "stale", "active_orders"}
PROOF_KEYS = {"id", "order_id", "photo_url", "signature_url", "recipient_name", "notes",
              "latitude", "longitude", "captured_at"}
PAYMENT_KEYS = {"id", "order_id", "driver_id", "method", "amount", "status", "discrepancy",
                "collected_at", "remitted_at", "settled_at"}
CASH_KEYS = {"unpaid_total", "unpaid_count", "remitted_total", "remitted_count"}


def uniq(prefix="f"):
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


def utcnow():
    return datetime.now(timezone.utc)


def iso(dt):
    """RFC 3339 UTC with Z and whole seconds (what the API answers)."""
    return dt.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- real tiny images -----------------------------------------------------------

def tiny_png(width=2, height=2, seed=None):
    """A valid PNG (signature, IHDR, IDAT, IEND with correct CRCs) of an
    RGB image; `seed` varies the pixels so each call can have its own hash."""
    seed = secrets.token_bytes(3) if seed is None else seed

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    row = b"\x00" + (seed * width)[: 3 * width]
    raw = row * height
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def tiny_jpeg(size=None):
    """JPEG bytes: SOI + a JFIF APP0 segment + a COM segment with random
    bytes (unique content) + padding to `size` + EOI."""
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    tag = secrets.token_bytes(16)
    body = head + b"\xff\xfe\x00\x12" + tag
    if size is not None and size > len(body) + 2:
        body += b"\x00" * (size - len(body) - 2)
    return body + b"\xff\xd9"


# --- clients and actors ----------------------------------------------------------

class Client(Api):
    """An Api logged in as one user; logs in again before the 900 s access
    token runs out. `user` is the login's user JSON."""

    def __init__(self, base, username, password):
        super().__init__(base)
        self.creds = (username, password)
        self.user = None
        self._since = None
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

    def ok(self, method, path, status=200, **kw):
        """Asserts the status and returns the JSON body (None for 204)."""
        r = self.request(method, path, **kw)
        assert r.status_code == status, f"{method} {path}: expected {status}, got {r.status_code} {r.text[:500]}"
        return r.json() if r.content else None


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint_access_token(secret, user_id, role, ttl=3600):
    """An access token in the format API.md fixes (JWT HS256 signed with
    JWT_SECRET; claims sub (the user id as a string), role, typ, iat, exp)."""
    now = int(time.time())
    head = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"sub": str(user_id), "role": role, "typ": "access", "iat": now, "exp": now + ttl}
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(secret.encode(), f"{head}.{payload}".encode(), hashlib.sha256).digest()
    return f"{head}.{payload}.{_b64url(sig)}"


class TokenClient(Client):
    """A Client carrying a given access token (no login)."""

    def __init__(self, base, token):
        Api.__init__(self, base, token=token)
        self.creds = None
        self.user = None
        self._since = time.monotonic()

    def request(self, method, path, **kw):
        return Api.request(self, method, path, **kw)


class FieldWorld:
    """The actors of the field tests.

    wh_a, wh_b: warehouses; admin: a dedicated admin; mgr: an unscoped
    manager; mgr_a: a manager scoped to wh_a. Drivers come from driver().

    Creating a driver costs one password hash and logging in another
    (about half a second each under the sanitizers, more on a loaded
    machine). Drivers are always created through POST /drivers; by default
    their client then carries an access token minted exactly as API.md
    fixes it (HS256 with JWT_SECRET; sub = user id as a string, role, typ
    "access", iat, exp) instead of a second hash through POST /auth/login.
    driver(login=True) logs in for real.
    """

    def __init__(self, base, admin_creds, pg, jwt_secret):
        self.base = base
        self.pg = pg
        self.jwt_secret = jwt_secret
        self.clients = []
        self.admin = self._client(*admin_creds)
        self.wh_a = self.warehouse()
        self.wh_b = self.warehouse()
        self.mgr = self.manager()
        self.mgr_a = self.manager(self.wh_a["id"])

    def _client(self, username, password):
        c = Client(self.base, username, password)
        self.clients.append(c)
        return c

    def close(self):
        for c in self.clients:
            c.close()

    def warehouse(self):
        body = {"code": uniq("FWH").upper(), "name": "Field WH " + secrets.token_hex(3)}
        return self.admin.ok("POST", V1 + "/warehouses", 201, json=body)

    def manager(self, warehouse_id=None):
        body = {"username": uniq("fmgr"), "password": strong_password(),
                "full_name": "Field Manager " + secrets.token_hex(3), "role": "manager"}
        if warehouse_id is not None:
            body["warehouse_id"] = warehouse_id
        self.admin.ok("POST", V1 + "/users", 201, json=body)
        return self._client(body["username"], body["password"])

    def driver(self, warehouse_id=None, login=False):
        """A new driver of wh_a (or warehouse_id) -> (driver JSON, its Client)."""
        body = {"username": uniq("fdrv"), "password": strong_password(),
                "full_name": "Field Driver " + secrets.token_hex(3), "phone": kw_phone(),
                "code": uniq("FD").upper(), "vehicle_type": "car",
                "warehouse_id": warehouse_id or self.wh_a["id"]}
        d = self.admin.ok("POST", V1 + "/drivers", 201, json=body)
        if login:
            return d, self._client(body["username"], body["password"])
        c = TokenClient(self.base, mint_access_token(self.jwt_secret, d["user_id"], "driver"))
        self.clients.append(c)
        return d, c

    # --- orders ---------------------------------------------------------------
    def order(self, amount="12.500", warehouse_id=None, **extra):
        body = {"customer_name": "Customer " + secrets.token_hex(3),
                "customer_phone": kw_phone(),
                "warehouse_id": warehouse_id or self.wh_a["id"],
                "area": "Salmiya", "amount": amount}
        body.update(extra)
        return self.mgr.ok("POST", V1 + "/orders", 201, json=body)

    def act(self, oid, action, body=None, client=None, status=200):
        return (client or self.mgr).ok("POST", f"{V1}/orders/{oid}/{action}", status,
                                       json=body if body is not None else {})

    def order_in(self, status, driver, amount="12.500", warehouse_id=None):
        """A new order brought to `status` (pending, assigned, picked_up,
        delivered, failed, cancelled) with `driver` (driver JSON) assigned."""
        o = self.order(amount, warehouse_id)
        steps = {
            "pending": [],
            "assigned": [("assign", {"driver_id": driver["id"]})],
            "picked_up": [("assign", {"driver_id": driver["id"]}), ("pickup", {})],
            "delivered": [("assign", {"driver_id": driver["id"]}), ("pickup", {}),
                          ("deliver", {})],
            "failed": [("assign", {"driver_id": driver["id"]}),
                       ("fail", {"reason": "nobody home"})],
            "cancelled": [("cancel", {"reason": "customer changed mind"})],
        }[status]
        for action, body in steps:
            o = self.act(o["id"], action, body)
        assert o["status"] == status, o
        return o

    def driver_row(self, driver_id, client=None):
        return (client or self.mgr).ok("GET", f"{V1}/drivers/{driver_id}")

    def trail(self, driver_id, client=None, **params):
        return (client or self.mgr).ok("GET", f"{V1}/drivers/{driver_id}/locations", params=params)

    def map(self, client=None):
        rows = (client or self.mgr).ok("GET", V1 + "/drivers/locations")
        assert isinstance(rows, list), rows
        return rows

    def map_row(self, driver_id, client=None):
        rows = [x for x in self.map(client) if x["driver_id"] == driver_id]
        assert len(rows) <= 1, rows
        return rows[0] if rows else None

    def poll_map(self, driver_id, pred, client=None, timeout=2.5, what="map row"):
        """Polls GET /drivers/locations (micro-cached about 1 s) until the
        driver's row satisfies pred; returns the row."""
        last = {}

        def check():
            row = self.map_row(driver_id, client)
            last["row"] = row
            return row if row is not None and pred(row) else None

        try:
            return poll(check, timeout, interval=0.15, what=what)
        except AssertionError as e:
            raise AssertionError(f"{e}; last row: {last.get('row')}") from None


def set_setting(world, key, value):
    """PUT /settings/{key} as the admin (asserts 200)."""
    r = world.admin.put(f"{V1}/settings/{key}", json={"value": value})
    assert r.status_code == 200, f"PUT /settings/{key}: {r.status_code} {r.text}"
    return r.json()


_WORLD = {"world": None, "users": 0}


@pytest.fixture(scope="session")
def fw(daemon, create_user, pg, test_session):
    """The session's field world (its own admin, warehouses and managers).

    Every test module that imports this fixture gets its own FixtureDef, so
    the world itself is kept here and shared: built once per session."""
    if _WORLD["world"] is None:
        creds = create_user(uniq("fadmin"), "admin", full_name="Field Admin")
        _WORLD["world"] = FieldWorld(daemon.url(), creds, pg, test_session.jwt_secret)
    _WORLD["users"] += 1
    yield _WORLD["world"]
    _WORLD["users"] -= 1
    if _WORLD["users"] == 0:
        _WORLD["world"].close()
        _WORLD["world"] = None
