"""GET /orders/export?format=xlsx|csv through HTTP (API.md "Import and
export"): a download with Content-Disposition attachment, the list's
filters and warehouse scope, a bold frozen header, a Delivery Time (HH:MM)
column, real Excel date-times in business_timezone (Asia/Kuwait), a CSV with
a UTF-8 BOM in which Arabic names survive, and the round trip: the exported
file re-imported (dry run, then for real) reports no errors and changes
nothing."""

import csv
import io
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from ops_helpers import *  # noqa: F401,F403

DISPOSITION = re.compile(r'^attachment;\s*filename="orders-(\d{4}-\d\d-\d\d)\.(xlsx|csv)"$')


@pytest.fixture(scope="module")
def ex(ops, pg):
    """A warehouse with orders in several states (one delivered in exactly
    1 h 05 min, one with an Arabic name and an ETA, one created at 21:30Z so
    its local date is the next day), its scoped manager, and a second
    warehouse with one order."""
    w = ops.two_warehouses(boss=False, driver_name="Khalid Al-Enezi")
    w.pending = ops.new_order(w.mgr, w.wh["id"], customer_name="Ahmad Export",
                              delivery_address="Block 1, Street 2, House 3", area="Salmiya",
                              block="1", street="2", avenue="4", building="3", floor="2",
                              apartment="7", paci_number="12345678", amount="12.500",
                              payment_method="knet", notes="call first",
                              delivery_latitude=29.3375, delivery_longitude=48.0758)
    w.arabic = ops.new_order(w.mgr, w.wh["id"], customer_name="عبدالله الرشيدي",
                             customer_phone="+96560001234", area="الجابرية",
                             estimated_delivery_time="2026-12-01T09:15:00Z", amount="3.000",
                             payment_method="cash")
    w.delivered = ops.order_in(w.mgr, w.wh["id"], "delivered", w.drv,
                               customer_name="Delivered Export")
    pg.sql("UPDATE orders SET picked_up_at = '2026-01-10 08:00:00+00',"
           " delivered_at = '2026-01-10 09:05:00+00', created_at = '2026-01-10 07:00:00+00'"
           f" WHERE id = {w.delivered['id']}")
    w.failed = ops.order_in(w.mgr, w.wh["id"], "failed", w.drv, customer_name="Failed Export")
    w.late_night = ops.new_order(w.mgr, w.wh["id"], customer_name="Night Owl")
    pg.sql("UPDATE orders SET created_at = '2026-01-15 21:30:00+00'"
           f" WHERE id = {w.late_night['id']}")
    w.other = ops.new_order(w.mgr2, w.wh2["id"], customer_name="Other Warehouse")
    w.mine = [w.pending, w.arabic, w.delivered, w.failed, w.late_night]
    return w


def export(client, fmt, **params):
    return client.get(V1 + "/orders/export", params={"format": fmt, **params}, timeout=60)


def read_xlsx(content):
    import openpyxl
    wb = openpyxl.load_workbook(io.BytesIO(content))
    return wb, wb.worksheets[0]


def sheet_dicts(ws):
    rows = list(ws.iter_rows(values_only=True))
    header = list(rows[0])
    return header, [dict(zip(header, r)) for r in rows[1:] if any(v is not None for v in r)]


def kuwait_naive(ts):
    """An API time as the naive local (UTC+3) datetime Excel shows, to the second."""
    return parse_ts(ts).astimezone(KUWAIT).replace(tzinfo=None, microsecond=0)


def today_dates():
    """The business day (business_timezone, Asia/Kuwait here) now and a
    minute ago, in case the request crossed midnight there."""
    now = datetime.now(timezone.utc)
    return {(now - timedelta(minutes=m)).astimezone(KUWAIT).date().isoformat() for m in (0, 1)}


def assert_disposition(r, ext):
    cd = r.headers.get("Content-Disposition", "")
    m = DISPOSITION.match(cd)
    assert m, f"Content-Disposition {cd!r}"
    assert m.group(2) == ext
    assert m.group(1) in today_dates(), cd


# --- xlsx ----------------------------------------------------------------------------

def test_xlsx_download_header_bold_frozen_and_scope(ex):
    r = export(ex.mgr, "xlsx")
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"].startswith(XLSX_MIME)
    assert_disposition(r, "xlsx")
    assert r.content[:4] == b"PK\x03\x04"
    wb, ws = read_xlsx(r.content)
    assert ws.freeze_panes == "A2", ws.freeze_panes
    header, rows = sheet_dicts(ws)
    for col in ("Order Number", "Customer Name", "Customer Phone", "Warehouse", "Delivery Time",
                "Created At"):
        assert col in header, header
    for c in range(1, len(header) + 1):
        assert ws.cell(row=1, column=c).font.b, f"header cell {header[c - 1]!r} is not bold"
    # the scoped manager's export is their warehouse only
    numbers = {row["Order Number"] for row in rows}
    assert {o["order_number"] for o in ex.mine} <= numbers
    assert ex.other["order_number"] not in numbers
    assert {row["Warehouse"] for row in rows} == {ex.wh["code"]}


def test_xlsx_values_times_and_delivery_time(ex):
    r = export(ex.mgr, "xlsx", warehouse_id=ex.wh["id"])
    assert r.status_code == 200, r.text[:300]
    _, ws = read_xlsx(r.content)
    header, rows = sheet_dicts(ws)
    by = {row["Order Number"]: row for row in rows}
    assert len(rows) == len(ex.mine), [row["Order Number"] for row in rows]

    d = by[ex.delivered["order_number"]]
    assert d["Delivery Time"] == "01:05", d["Delivery Time"]
    assert d["Status"] == "delivered"
    # real Excel date-times, in Asia/Kuwait
    for col in ("Created At", "Picked Up At", "Delivered At"):
        assert isinstance(d[col], datetime), (col, d[col])
    assert d["Created At"] == datetime(2026, 1, 10, 10, 0, 0)
    assert d["Picked Up At"] == datetime(2026, 1, 10, 11, 0, 0)
    assert d["Delivered At"] == datetime(2026, 1, 10, 12, 5, 0)

    night = by[ex.late_night["order_number"]]
    assert night["Created At"] == datetime(2026, 1, 16, 0, 30, 0), night["Created At"]
    assert night["Delivery Time"] in (None, "")

    p = by[ex.pending["order_number"]]
    live = ex.mgr.get(f"{V1}/orders/{ex.pending['id']}").json()
    assert isinstance(p["Created At"], datetime)
    assert p["Created At"] == kuwait_naive(live["created_at"]), (p["Created At"], live["created_at"])
    assert p["Customer Name"] == "Ahmad Export"
    assert p["Customer Phone"] == live["customer_phone"]
    assert Decimal(str(p["Amount"])) == Decimal("12.5")
    assert p["Payment Method"] == "knet"

    a = by[ex.arabic["order_number"]]
    assert a["Customer Name"] == "عبدالله الرشيدي"
    assert a["Area"] == "الجابرية"
    eta = [h for h in header if h in ("Estimated Delivery Time", "ETA", "Delivery Date")]
    assert eta, header
    assert a[eta[0]] == datetime(2026, 12, 1, 12, 15, 0), a[eta[0]]


def test_export_uses_list_filters(ex):
    r = export(ex.mgr, "xlsx", status="delivered,failed")
    assert r.status_code == 200, r.text[:300]
    _, rows = sheet_dicts(read_xlsx(r.content)[1])
    assert {row["Order Number"] for row in rows} == {ex.delivered["order_number"],
                                                     ex.failed["order_number"]}
    r = export(ex.mgr, "csv", q="Night Owl")
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row["Order Number"] for row in rows] == [ex.late_night["order_number"]]
    # created_from/created_to in the list's terms
    r = export(ex.mgr, "csv", created_from="2026-01-10T00:00:00Z", created_to="2026-01-11T00:00:00Z")
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row["Order Number"] for row in rows] == [ex.delivered["order_number"]]


def test_export_access_and_bad_format(ex):
    assert_problem(ex.drv_client.get(V1 + "/orders/export", params={"format": "xlsx"}), 403,
                   "forbidden")
    assert_problem(export(ex.mgr, "pdf"), 422, "validation_failed")
    # another warehouse's scoped manager does not get our orders
    r = export(ex.mgr2, "csv")
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    numbers = {row["Order Number"] for row in rows}
    assert ex.other["order_number"] in numbers
    assert not numbers & {o["order_number"] for o in ex.mine}


def test_file_is_named_after_the_business_day(ex, ops):
    """UTC-12 and UTC+14 are 26 hours apart, so at any time of day at least
    one of them is on another date than UTC: a name taken from the UTC date
    fails one of the two."""
    for zone, hours in (("Etc/GMT+12", -12), ("Pacific/Kiritimati", 14)):
        with ops.setting("business_timezone", zone):
            before = datetime.now(timezone.utc)
            r = export(ex.mgr2, "csv")
            after = datetime.now(timezone.utc)
        assert r.status_code == 200, r.text
        m = DISPOSITION.match(r.headers.get("Content-Disposition", ""))
        assert m, r.headers.get("Content-Disposition")
        local = {(t + timedelta(hours=hours)).date().isoformat() for t in (before, after)}
        assert m.group(1) in local, (zone, m.group(1), local)


# --- csv -----------------------------------------------------------------------------

def test_csv_has_bom_arabic_and_delivery_time(ex):
    r = export(ex.mgr, "csv", warehouse_id=ex.wh["id"])
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"].startswith("text/csv")
    assert_disposition(r, "csv")
    assert r.content.startswith(b"\xef\xbb\xbf"), r.content[:10]
    text = r.content[3:].decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    by = {row["Order Number"]: row for row in rows}
    assert len(rows) == len(ex.mine)
    assert by[ex.arabic["order_number"]]["Customer Name"] == "عبدالله الرشيدي"
    assert by[ex.delivered["order_number"]]["Delivery Time"] == "01:05"
    assert by[ex.delivered["order_number"]]["Created At"].startswith("2026-01-10 10:00")
    # the same columns as the xlsx
    x = export(ex.mgr, "xlsx", warehouse_id=ex.wh["id"])
    header, _ = sheet_dicts(read_xlsx(x.content)[1])
    assert list(rows[0].keys()) == header


# --- round trip ------------------------------------------------------------------------

CORE = ("order_number", "warehouse_id", "customer_name", "customer_phone", "delivery_address",
        "area", "block", "street", "avenue", "building", "floor", "apartment", "paci_number",
        "amount", "payment_method", "notes", "estimated_delivery_time", "status", "driver_id")


def core(o):
    out = {k: o[k] for k in CORE}
    for k in ("delivery_latitude", "delivery_longitude"):
        out[k] = None if o[k] is None else round(o[k], 6)
    return out


@pytest.mark.parametrize("fmt,mime", [("xlsx", XLSX_MIME), ("csv", CSV_MIME)])
def test_round_trip_reimport_reports_no_errors_and_changes_nothing(ops, ex, fmt, mime):
    r = export(ex.mgr, fmt, warehouse_id=ex.wh["id"])
    assert r.status_code == 200, r.text[:300]
    data = r.content
    before = {o["id"]: core(ops.get(ex.mgr, o["id"])) for o in ex.mine}
    dry = ex.mgr.import_file(data, filename=f"export.{fmt}", mime=mime, dry_run=True)
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert body["errors"] == [] and body["failed"] == 0, body["errors"]
    n_pending = sum(1 for o in before.values() if o["status"] == "pending")
    assert body["rows_total"] == len(ex.mine)
    assert (body["created"], body["updated"], body["skipped"]) == (0, n_pending, len(ex.mine) - n_pending), body
    # for real: the pending orders are "updated" with their own values
    real = ex.mgr.import_file(data, filename=f"export.{fmt}", mime=mime)
    assert real.status_code in (200, 201), real.text
    assert real.json()["errors"] == []
    after = {oid: core(ops.get(ex.mgr, oid)) for oid in before}
    for oid in before:
        assert after[oid] == before[oid], f"order {oid} changed by its own export:\n{before[oid]}\n{after[oid]}"


def test_delivery_time_of_a_hundred_hours_or_more_is_not_cut(ops, pg):
    """A delivery that took 123 h 05 min is "123:05" in the export, as in
    the order JSON (lpad cut it to "12:05")."""
    w = ops.two_warehouses(boss=False)
    slow = ops.order_in(w.mgr, w.wh["id"], "delivered", w.drv, customer_name="Slow Export")
    pg.sql("UPDATE orders SET picked_up_at = '2026-01-01 00:00:00+00',"
           " delivered_at = '2026-01-06 03:05:00+00' WHERE id = %d" % slow["id"])
    assert w.mgr.get(f"{V1}/orders/{slow['id']}").json()["delivery_time"] == "123:05"
    r = export(w.mgr, "csv", warehouse_id=w.wh["id"])
    assert r.status_code == 200, r.text[:300]
    rows = list(csv.DictReader(io.StringIO(r.content[3:].decode("utf-8"))))
    assert [row["Delivery Time"] for row in rows] == ["123:05"]
    x = export(w.mgr, "xlsx", warehouse_id=w.wh["id"])
    _, data = sheet_dicts(read_xlsx(x.content)[1])
    assert [d["Delivery Time"] for d in data] == ["123:05"]


def test_characters_xml_lacks_do_not_break_the_xlsx(ops):
    """U+FFFE and U+FFFF are valid in an order's text but not in XML: the
    .xlsx used to be unreadable; they are written as U+FFFD."""
    w = ops.two_warehouses(boss=False)
    ops.new_order(w.mgr, w.wh["id"], customer_name="Nour \ufffe\uffff Ali", notes="a\ufffeb")
    x = export(w.mgr, "xlsx", warehouse_id=w.wh["id"])
    assert x.status_code == 200, x.text[:300]
    _, data = sheet_dicts(read_xlsx(x.content)[1])
    assert [(d["Customer Name"], d["Notes"]) for d in data] == [("Nour \ufffd\ufffd Ali", "a\ufffdb")]
