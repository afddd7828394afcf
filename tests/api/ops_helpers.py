"""Helpers and fixtures shared by the import/export, webhook, tracking, cron,
analytics and notification tests (test_import.py, test_export.py,
test_webhook_track.py, test_cron.py, test_analytics_notifications.py).

Test modules import them with `from ops_helpers import *`.

Everything is created through the API with unique names (warehouse codes,
order numbers prefixed with a random tag), so re-runs and the other test
modules sharing the session's database never collide. Spreadsheets are
generated at test time with openpyxl (.xlsx), xlwt (.xls) and the csv
module: tools nobody here wrote.
"""

import contextlib
import csv
import hashlib
import hmac
import io
import secrets
import threading
import time
import types
from datetime import date, datetime, timedelta, timezone

import pytest

from helpers import (TS_RE, V1, Client, assert_problem, bring_to, get_order, get_settings,
                     kw_phone, must_act, new_driver, new_manager, order_body, parse_ts, poll,
                     post_order, post_warehouse, set_setting, strong_password, uniq)

__all__ = [
    "V1", "XLSX_MIME", "XLS_MIME", "CSV_MIME", "IMPORT_KEYS", "ERROR_KEYS", "TRACK_KEYS",
    "NOTIFICATION_KEYS", "SUMMARY_KEYS", "KUWAIT", "TS_RE",
    "uniq", "kw_phone", "strong_password", "parse_ts", "iso_z",
    "xlsx_bytes", "xls_bytes", "csv_bytes", "sha256_hex",
    "Client", "OpsWorld", "ops", "secrets_env", "assert_problem", "poll",
    "d365_headers", "notifications_of", "rss_kib", "cron_http", "at_once",
]

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLS_MIME = "application/vnd.ms-excel"
CSV_MIME = "text/csv"

IMPORT_KEYS = {"import_id", "file_name", "file_sha256", "rows_total", "created", "updated",
               "skipped", "failed", "errors", "dry_run", "duplicate_of"}
ERROR_KEYS = {"row", "column", "field", "message"}
TRACK_KEYS = {"order_number", "status", "estimated_delivery_time", "driver_first_name", "events"}
NOTIFICATION_KEYS = {"id", "type", "title", "body", "data", "read_at", "created_at"}
SUMMARY_KEYS = {"from", "to", "orders_total", "by_status", "delivered", "failed", "cancelled",
                "on_time_rate", "avg_delivery_seconds", "p50_delivery_seconds",
                "p90_delivery_seconds", "avg_assign_to_pickup_seconds", "failure_reasons"}

KUWAIT = timezone(timedelta(hours=3))  # Asia/Kuwait has no DST


def iso_z(dt):
    """A timezone-aware datetime as the SQL literal text 'YYYY-MM-DD HH:MM:SS+00'."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S+00")


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


# --- spreadsheets ---------------------------------------------------------------

def xlsx_bytes(rows, sheet_title="Sales Orders", extra_first_sheet=False):
    """rows: lists of cell values (None = no cell), written from A1 down with
    openpyxl; an empty list leaves an empty row. Returns the file's bytes."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet_title
    for r, row in enumerate(rows, start=1):
        for c, v in enumerate(row, start=1):
            if v is not None:
                ws.cell(row=r, column=c, value=v)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def xls_bytes(rows, sheet_title="Sales Orders"):
    """The same with xlwt (BIFF8 .xls); datetime values get a date format."""
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet(sheet_title)
    dt_style = xlwt.easyxf(num_format_str="yyyy-mm-dd hh:mm")
    d_style = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            if v is None:
                continue
            if isinstance(v, datetime):
                ws.write(r, c, v, dt_style)
            elif isinstance(v, date):
                ws.write(r, c, v, d_style)
            else:
                ws.write(r, c, v)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def csv_bytes(rows, delimiter=",", bom=False):
    out = io.StringIO()
    w = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    for row in rows:
        w.writerow(["" if v is None else v for v in row])
    data = out.getvalue().encode("utf-8")
    return (b"\xef\xbb\xbf" + data) if bom else data


# --- clients and the world -------------------------------------------------------

class ImportClient(Client):
    """A Client that can also upload files to POST /orders/import."""

    # --- import -------------------------------------------------------------
    def import_file(self, data, filename="orders.xlsx", mime=XLSX_MIME, raw=False,
                    headers=None, **params):
        """POST /orders/import: multipart field `file` (default) or the raw body."""
        params = {k: ("true" if v is True else v) for k, v in params.items() if v is not None}
        if raw:
            h = {"Content-Type": mime}
            h.update(headers or {})
            return self.post(V1 + "/orders/import", params=params, data=data, headers=h,
                             timeout=60)
        return self.post(V1 + "/orders/import", params=params,
                         files={"file": (filename, data, mime)}, headers=headers, timeout=60)


class OpsWorld:
    """The actors of these tests: a dedicated admin, and factories for
    warehouses, (scoped) managers, drivers and orders. `tag` prefixes every
    order number this world makes."""

    def __init__(self, base, admin_creds, pg, env):
        self.base = base
        self.pg = pg
        self.env = env
        self.tag = "OPS" + secrets.token_hex(3).upper()
        self.admin = ImportClient(base, *admin_creds)
        self._clients = [self.admin]
        self._n = 0
        self._lock = threading.Lock()

    def close(self):
        for c in self._clients:
            c.close()

    def number(self, prefix=""):
        with self._lock:
            self._n += 1
            return f"{self.tag}-{prefix}{self._n:05d}-{secrets.token_hex(2).upper()}"

    # --- actors ---------------------------------------------------------------
    def warehouse(self, lat=None, lng=None, name=None):
        fields = {} if lat is None else {"latitude": lat, "longitude": lng}
        return post_warehouse(self.admin, "OPSWH", name or ("Ops WH " + secrets.token_hex(4)),
                              **fields)

    def _track(self, client):
        """Closes client (if any) with the world."""
        if client is not None:
            self._clients.append(client)
        return client

    def manager(self, warehouse_id=None):
        """A new manager (scoped when warehouse_id) -> Client (with .user)."""
        _, c = new_manager(self.admin, "opsmgr", "Ops Manager " + secrets.token_hex(3),
                           warehouse_id, client_class=ImportClient)
        return self._track(c)

    def driver(self, warehouse_id, full_name=None, login=True):
        """A new driver -> (driver JSON, Client or None)."""
        d, c = new_driver(self.admin, warehouse_id, login, client_class=ImportClient,
                          prefix="opsdrv", code_prefix="OPSD", full_name=full_name)
        return d, self._track(c)

    def two_warehouses(self, boss=True, driver_name=None):
        """Two warehouses (wh, wh2), a manager scoped to each (mgr, mgr2), an
        unscoped manager (boss; unless boss=False) and a driver of wh (drv,
        drv_client), as the attributes of one object."""
        w = types.SimpleNamespace()
        w.wh = self.warehouse()
        w.wh2 = self.warehouse()
        w.mgr = self.manager(w.wh["id"])
        w.mgr2 = self.manager(w.wh2["id"])
        if boss:
            w.boss = self.manager()
        w.drv, w.drv_client = self.driver(w.wh["id"], full_name=driver_name)
        return w

    # --- orders ---------------------------------------------------------------
    def new_order(self, client, warehouse_id, **fields):
        return post_order(client, order_body(warehouse_id,
                                             **{"order_number": self.number(), **fields}))

    def must(self, client, oid, action, body=None):
        return must_act(client, oid, action, body)

    def get(self, client, oid):
        return get_order(client, oid)

    def order_in(self, client, warehouse_id, status, driver, **fields):
        """A new order brought to `status` through the API (driver: driver JSON)."""
        o = self.new_order(client, warehouse_id, **fields)
        return bring_to(o, status, driver,
                        lambda oid, action, body: self.must(client, oid, action, body))

    # --- settings ---------------------------------------------------------------
    @contextlib.contextmanager
    def setting(self, key, value):
        """PUT /settings/{key} as admin for the block; the old value is put
        back afterwards. Waits out the documented 1 s propagation both ways."""
        old = get_settings(self.admin)[key]
        set_setting(self, key, value)
        time.sleep(1.1)
        try:
            yield old
        finally:
            r = self.admin.put(f"{V1}/settings/{key}", json={"value": old})
            assert r.status_code == 200, f"restoring {key}: {r.status_code} {r.text}"
            time.sleep(1.1)


@pytest.fixture(scope="session")
def secrets_env(deliveryd_env):
    """(CRON_SECRET, D365_WEBHOOK_SECRET) of the session's daemons."""
    return deliveryd_env["CRON_SECRET"], deliveryd_env["D365_WEBHOOK_SECRET"]


@pytest.fixture(scope="session")
def ops(daemon, create_user, pg, deliveryd_env):
    """The session's ops world: its own admin through `deliveryd create-user`."""
    creds = create_user(uniq("opsadmin"), "admin", full_name="Ops Admin")
    w = OpsWorld(daemon.url(), creds, pg, deliveryd_env)
    yield w
    w.close()


# --- webhook, cron, notifications, memory ----------------------------------------

def d365_headers(secret, body_bytes, event_id=None, ts=None, signature=None):
    """The three X-D365-* headers for body_bytes (signature computed unless given)."""
    ts = str(int(time.time()) if ts is None else ts)
    if signature is None:
        mac = hmac.new(secret.encode(), ts.encode() + b"." + body_bytes, hashlib.sha256)
        signature = "sha256=" + mac.hexdigest()
    return {"X-D365-Timestamp": ts, "X-D365-Event-Id": event_id or uniq("evt"),
            "X-D365-Signature": signature, "Content-Type": "application/json"}


def cron_http(api, secret, job, token=...):
    """POST /cron/{job} with Bearer secret (token=None: no Authorization)."""
    headers = {}
    tok = secret if token is ... else token
    if tok is not None:
        headers["Authorization"] = f"Bearer {tok}"
    return api.post(f"{V1}/cron/{job}", headers=headers, timeout=60)


def notifications_of(client, **params):
    """Every notification of the client's user (all pages), newest first."""
    items, page = [], 1
    while page <= 50:
        r = client.get(V1 + "/notifications", params={**params, "page": page, "page_size": 100})
        assert r.status_code == 200, f"GET /notifications: {r.status_code} {r.text}"
        body = r.json()
        items += body["items"]
        if len(body["items"]) < 100:
            break
        page += 1
    return items


def at_once(*calls):
    """Runs the calls in threads released together by a barrier; returns
    their results in the order of the calls. Fails with whatever any of them
    raised."""
    out, errors = [None] * len(calls), []
    barrier = threading.Barrier(len(calls))

    def run(i, fn):
        try:
            barrier.wait(timeout=10)
            out[i] = fn()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return out


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def find_order(client, number):
    """The order with exactly this order number (archived too), or None."""
    r = client.get(V1 + "/orders", params={"q": number, "archived": "all", "page_size": 50})
    assert r.status_code == 200, f"GET /orders?q={number}: {r.status_code} {r.text}"
    hits = [o for o in r.json()["items"] if o["order_number"] == number]
    assert len(hits) <= 1, hits
    return hits[0] if hits else None


__all__.append("find_order")
