"""Helpers and fixtures shared by the "drivers in the field" API tests
(test_field_*.py): GPS ingest, the live map, work sessions, proof of delivery
and cash on delivery.

Test modules import them with `from field_helpers import *`.

Every actor is created through the API with a unique suffix: a dedicated
admin (through `deliveryd create-user`), two warehouses, an unscoped
manager, a manager scoped to the first warehouse, and drivers made on demand
(`fw.driver()`), so no test depends on ids or totals of the shared database.
"""

import re
import secrets
import struct
import time
import zlib
from datetime import datetime, timezone

import pytest

from helpers import (TS_RE, V1, Api, Client, assert_problem, bring_to, is_ts, kw_phone,
                     mint_access_token, new_driver, new_manager, order_body, parse_ts, poll,
                     post_order, post_warehouse, set_setting, strong_password, uniq)

__all__ = [
    "V1", "TS_RE", "MONEY_RE", "SESSION_KEYS", "MAP_KEYS", "PROOF_KEYS", "PAYMENT_KEYS",
    "CASH_KEYS",
    "uniq", "kw_phone", "strong_password", "is_ts", "parse_ts", "iso", "utcnow",
    "tiny_png", "tiny_jpeg", "Client", "FieldWorld", "fw", "assert_problem", "poll",
    "set_setting",
]

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
        return post_warehouse(self.admin, "FWH", "Field WH " + secrets.token_hex(3))

    def manager(self, warehouse_id=None):
        _, c = new_manager(self.admin, "fmgr", "Field Manager " + secrets.token_hex(3),
                           warehouse_id)
        self.clients.append(c)
        return c

    def driver(self, warehouse_id=None, login=False):
        """A new driver of wh_a (or warehouse_id) -> (driver JSON, its Client)."""
        d, c = new_driver(self.admin, warehouse_id or self.wh_a["id"], login, prefix="fdrv",
                          code_prefix="FD", full_name="Field Driver " + secrets.token_hex(3),
                          vehicle_type="car")
        if c is None:
            c = TokenClient(self.base, mint_access_token(self.jwt_secret, d["user_id"], "driver"))
        self.clients.append(c)
        return d, c

    # --- orders ---------------------------------------------------------------
    def order(self, amount="12.500", warehouse_id=None, **extra):
        body = order_body(warehouse_id or self.wh_a["id"],
                          **{"delivery_address": ..., "payment_method": ..., "amount": amount,
                             **extra})
        return post_order(self.mgr, body)

    def act(self, oid, action, body=None, client=None, status=200):
        return (client or self.mgr).ok("POST", f"{V1}/orders/{oid}/{action}", status,
                                       json=body if body is not None else {})

    def order_in(self, status, driver, amount="12.500", warehouse_id=None):
        """A new order brought to `status` (pending, assigned, picked_up,
        delivered, failed, cancelled) with `driver` (driver JSON) assigned."""
        o = self.order(amount, warehouse_id)
        return bring_to(o, status, driver, self.act)

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
