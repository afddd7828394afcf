"""Helpers and fixtures shared by the identity & access tests (auth, roles,
users, warehouses, drivers, settings, rate limits).

Test modules import the fixtures with `from identity_helpers import *`.
Every object a test creates has a unique name (uniq()), so the tests are
independent of order and of each other on the session's shared database.
"""

import base64
import contextlib
import hashlib
import hmac
import json
import random
import secrets
import time

import pytest

from helpers import Api, assert_problem, poll

__all__ = [
    "V1", "USER_KEYS", "DRIVER_KEYS", "WAREHOUSE_KEYS", "SETTING_DEFAULTS",
    "uniq", "strong_password", "kuwait_local_phone", "b64url", "b64url_decode",
    "make_jwt", "jwt_parts", "access_claims", "problem_without_request_id",
    "field_names", "Identity", "temporary_setting", "setting_value_in_db",
    "restore_setting_in_db", "idm", "jwt_secret", "assert_problem", "poll",
]

V1 = "/api/v1"

USER_KEYS = {"id", "username", "full_name", "role", "warehouse_id", "phone", "email",
             "is_active", "locked_until", "last_login_at", "created_at"}
DRIVER_KEYS = {"id", "user_id", "code", "full_name", "phone", "vehicle_type", "warehouse_id",
               "is_active", "is_online", "last_location"}
WAREHOUSE_KEYS = {"id", "code", "name", "address", "latitude", "longitude", "is_active"}

# API.md "Settings": keys and defaults (the two objects are checked for shape only).
SETTING_DEFAULTS = {
    "archive_buffer_hours": 24,
    "max_page_size": 200,
    "rate_limit_per_minute": 5000,
    "lockout_threshold": 5,
    "lockout_minutes": 15,
    "require_proof_of_delivery": False,
    "location_stale_seconds": 300,
    "sla_minutes": 120,
    "business_timezone": "Asia/Kuwait",
    "location_retention_days": 90,
    "failure_reason_codes": ["customer_unreachable", "customer_not_home", "wrong_address",
                             "customer_refused", "payment_issue", "prescription_issue",
                             "damaged", "other"],
}

# How long a setting change may take to be in force (API.md: within one second).
SETTING_DELAY = 1.2


def uniq(prefix="u"):
    return f"{prefix}_{secrets.token_hex(4)}"


def strong_password():
    return "pw-" + secrets.token_urlsafe(12)


def kuwait_local_phone():
    """A random 8-digit Kuwaiti mobile number (local form, starts with 5, 6 or 9)."""
    return random.choice("569") + "".join(random.choice("0123456789") for _ in range(7))


# --- JWT ------------------------------------------------------------------------

def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_jwt(payload, secret, alg="HS256", header=None, signature=None):
    """A compact JWS. alg HS256/HS384/HS512 signs with secret; "none" leaves the
    signature empty (unless signature is given)."""
    hdr = header if header is not None else {"alg": alg, "typ": "JWT"}
    signing_input = b64url(json.dumps(hdr, separators=(",", ":"))) + "." + \
        b64url(json.dumps(payload, separators=(",", ":")))
    if signature is None:
        digests = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
        if alg in digests:
            sig = hmac.new(secret.encode(), signing_input.encode(), digests[alg]).digest()
            signature = b64url(sig)
        else:
            signature = ""
    return signing_input + "." + signature


def jwt_parts(token):
    """(header, payload) of a compact JWS, decoded."""
    h, p, _ = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p))


def access_claims(user_id, role, ttl=900, now=None, **extra):
    now = int(time.time()) if now is None else now
    claims = {"sub": str(user_id), "role": role, "typ": "access", "iat": now, "exp": now + ttl}
    claims.update(extra)
    return claims


# --- problems -------------------------------------------------------------------

def problem_without_request_id(resp):
    body = dict(resp.json())
    body.pop("request_id", None)
    return body


def field_names(resp):
    """The set of `field` names in a 422 problem's `errors`."""
    body = assert_problem(resp, 422, "validation_failed")
    errors = body.get("errors")
    assert isinstance(errors, list) and errors, body
    return {e.get("field") for e in errors}


# --- an admin client with helpers to create things --------------------------------

class _AdminApi(Api):
    """An Api logged in as the session's admin; logs in again before the
    access token (900 s) runs out, so a long session keeps working."""

    def __init__(self, base, username, password):
        super().__init__(base)
        self._creds = (username, password)
        self._since = None

    def request(self, method, path, **kw):
        if self._since is None or time.monotonic() - self._since > 600:
            anon = Api(self.base)
            try:
                body = anon.login(*self._creds)
            finally:
                anon.close()
            self.session.headers["Authorization"] = "Bearer " + body["access_token"]
            self._since = time.monotonic()
        return super().request(method, path, **kw)


class Identity:
    """Creates users, warehouses and drivers through the API as the admin."""

    def __init__(self, daemon, admin):
        self.daemon = daemon
        self.base = daemon.url()
        self.admin = admin

    def anon(self, base=None):
        return Api(base or self.base)

    def login(self, username, password, base=None):
        """POST /auth/login (asserts 200) -> the body."""
        a = Api(base or self.base)
        try:
            return a.login(username, password)
        finally:
            a.close()

    def client(self, username, password, base=None):
        """An Api carrying a fresh access token of that user."""
        return Api(base or self.base, token=self.login(username, password, base)["access_token"])

    def create_user(self, role="manager", password=None, **fields):
        """POST /users -> (user JSON, password)."""
        password = password or strong_password()
        body = {"username": uniq(role), "password": password,
                "full_name": f"Test {role.title()}", "role": role}
        body.update(fields)
        r = self.admin.post(V1 + "/users", json=body)
        assert r.status_code == 201, f"POST /users {body}: {r.status_code} {r.text}"
        return r.json(), password

    def user_client(self, role="manager", **fields):
        """A new user of that role -> (user JSON, password, Api logged in as them)."""
        user, password = self.create_user(role, **fields)
        return user, password, self.client(user["username"], password)

    def create_warehouse(self, **fields):
        body = {"code": uniq("WH").upper(), "name": "Warehouse " + secrets.token_hex(3),
                "address": "Shuwaikh Industrial, Block 1", "latitude": 29.35,
                "longitude": 47.93}
        body.update(fields)
        r = self.admin.post(V1 + "/warehouses", json=body)
        assert r.status_code == 201, f"POST /warehouses {body}: {r.status_code} {r.text}"
        return r.json()

    def driver_body(self, warehouse_id, **fields):
        body = {"username": uniq("drv"), "password": strong_password(),
                "full_name": "Driver " + secrets.token_hex(3), "phone": kuwait_local_phone(),
                "code": uniq("D").upper(), "vehicle_type": "motorcycle",
                "warehouse_id": warehouse_id}
        body.update(fields)
        return body

    def create_driver(self, warehouse_id, via=None, **fields):
        """POST /drivers (as the admin, or via another Api) -> (driver JSON, body sent)."""
        body = self.driver_body(warehouse_id, **fields)
        r = (via or self.admin).post(V1 + "/drivers", json=body)
        assert r.status_code == 201, f"POST /drivers {body}: {r.status_code} {r.text}"
        return r.json(), body

    def driver_client(self, warehouse_id, **fields):
        """A new driver -> (driver JSON, body sent, Api logged in as the driver)."""
        drv, body = self.create_driver(warehouse_id, **fields)
        return drv, body, self.client(body["username"], body["password"])

    def settings(self):
        r = self.admin.get(V1 + "/settings")
        assert r.status_code == 200, r.text
        return r.json()


# --- settings changed by a test and always restored ------------------------------

def setting_value_in_db(pg, key):
    return pg.sql(f"SELECT value::text FROM settings WHERE key = '{key}'")


def restore_setting_in_db(pg, key, value_text):
    """Writes the JSON text back straight into the table (works even when the
    admin is rate limited) and waits until every instance can see it."""
    quoted = value_text.replace("'", "''")
    pg.sql(f"UPDATE settings SET value = '{quoted}'::jsonb WHERE key = '{key}'")
    time.sleep(SETTING_DELAY)


@contextlib.contextmanager
def temporary_setting(idm_, pg, key, value, wait=True):
    """PUT /settings/{key} as the admin; afterwards the old value is restored
    through the database (and the change given time to reach every instance)."""
    old = setting_value_in_db(pg, key)
    assert old, f"setting {key} missing from the table"
    try:
        r = idm_.admin.put(f"{V1}/settings/{key}", json={"value": value})
        assert r.status_code == 200, f"PUT /settings/{key} {value!r}: {r.status_code} {r.text}"
        assert r.json() == {"key": key, "value": value}, r.json()
        if wait:
            time.sleep(SETTING_DELAY)
        yield
    finally:
        restore_setting_in_db(pg, key, old)


# --- fixtures -------------------------------------------------------------------

@pytest.fixture(scope="session")
def idm(daemon, admin_credentials):
    admin = _AdminApi(daemon.url(), *admin_credentials)
    yield Identity(daemon, admin)
    admin.close()


@pytest.fixture(scope="session")
def jwt_secret(deliveryd_env):
    return deliveryd_env["JWT_SECRET"]
