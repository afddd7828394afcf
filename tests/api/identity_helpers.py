"""Helpers and fixtures shared by the identity & access tests (auth, roles,
users, warehouses, drivers, settings, rate limits).

Test modules import the fixtures with `from identity_helpers import *`.
Every object a test creates has a unique name (uniq()), so the tests are
independent of order and of each other on the session's shared database.
"""

import contextlib
import time

import pytest

from helpers import (V1, Api, Client, access_claims, assert_problem, b64url, b64url_decode,
                     driver_body, field_names, get_settings, jwt_parts, kuwait_local_phone, login,
                     make_jwt, poll, post_driver, post_user, post_warehouse, set_setting,
                     strong_password, uniq)

__all__ = [
    "V1", "USER_KEYS", "DRIVER_KEYS", "WAREHOUSE_KEYS", "SETTING_DEFAULTS",
    "uniq", "strong_password", "kuwait_local_phone", "b64url", "b64url_decode",
    "make_jwt", "jwt_parts", "access_claims", "problem_without_request_id",
    "field_names", "Identity", "temporary_setting", "setting_value_in_db",
    "restore_setting_in_db", "idm", "jwt_secret", "assert_problem", "poll",
]

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


# --- problems -------------------------------------------------------------------

def problem_without_request_id(resp):
    body = dict(resp.json())
    body.pop("request_id", None)
    return body


# --- an admin client with helpers to create things --------------------------------

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
        return login(base or self.base, username, password)

    def client(self, username, password, base=None):
        """An Api carrying a fresh access token of that user."""
        return Api(base or self.base, token=self.login(username, password, base)["access_token"])

    def create_user(self, role="manager", password=None, **fields):
        """POST /users -> (user JSON, password)."""
        user, body = post_user(self.admin, role, password=password, **fields)
        return user, body["password"]

    def user_client(self, role="manager", **fields):
        """A new user of that role -> (user JSON, password, Api logged in as them)."""
        user, password = self.create_user(role, **fields)
        return user, password, self.client(user["username"], password)

    def create_warehouse(self, **fields):
        return post_warehouse(self.admin, **{"address": "Shuwaikh Industrial, Block 1",
                                             "latitude": 29.35, "longitude": 47.93, **fields})

    def driver_body(self, warehouse_id, **fields):
        return driver_body(warehouse_id, **{"phone": kuwait_local_phone(), **fields})

    def create_driver(self, warehouse_id, via=None, **fields):
        """POST /drivers (as the admin, or via another Api) -> (driver JSON, body sent)."""
        body = self.driver_body(warehouse_id, **fields)
        return post_driver(via or self.admin, body), body

    def driver_client(self, warehouse_id, **fields):
        """A new driver -> (driver JSON, body sent, Api logged in as the driver)."""
        drv, body = self.create_driver(warehouse_id, **fields)
        return drv, body, self.client(body["username"], body["password"])

    def settings(self):
        return get_settings(self.admin)


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
        body = set_setting(idm_, key, value)
        assert body == {"key": key, "value": value}, body
        if wait:
            time.sleep(SETTING_DELAY)
        yield
    finally:
        restore_setting_in_db(pg, key, old)


# --- fixtures -------------------------------------------------------------------

@pytest.fixture(scope="session")
def idm(daemon, admin_credentials):
    # logs in at its first request (and again before the access token runs out)
    admin = Client(daemon.url(), *admin_credentials, lazy=True)
    yield Identity(daemon, admin)
    admin.close()


@pytest.fixture(scope="session")
def jwt_secret(deliveryd_env):
    return deliveryd_env["JWT_SECRET"]
