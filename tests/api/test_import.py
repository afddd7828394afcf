"""POST /orders/import, GET /imports, GET /imports/{id} through HTTP.

API.md "Import and export" and its "Details that clients rely on": the three
formats (.xlsx via openpyxl, .xls via xlwt, .csv), multipart and raw bodies,
header aliases and normalization, unknown columns into customer_info, the
sheet's own row numbers in errors, a bad row among good ones, dry run,
byte-identical re-upload, update-while-pending / skip-otherwise, payment and
phone spellings, Arabic names, the limits (10 MiB -> 413, 50,000 rows -> 422,
zip bomb -> 413 fast with flat memory), garbage bytes (4xx, never 5xx),
unsupported media (415), the import_finished notification, scoping.
"""

import io
import re
import os
import struct
import time
import zipfile
from datetime import datetime

import pytest

from helpers import Api
from ops_helpers import *  # noqa: F401,F403


# --- fixtures and local helpers ---------------------------------------------------

@pytest.fixture(scope="module")
def imp(ops):
    """A warehouse of this module, a manager scoped to it, an unscoped
    manager, a second warehouse with its own scoped manager, and a driver."""
    return ops.two_warehouses()


def assert_report(body, *, rows_total=None, created=None, updated=None, skipped=None,
                  failed=None, dry_run=False):
    assert isinstance(body, dict), body
    assert IMPORT_KEYS <= set(body), f"import report lacks {sorted(IMPORT_KEYS - set(body))}: {body}"
    assert body["dry_run"] is dry_run, body
    for k, v in (("rows_total", rows_total), ("created", created), ("updated", updated),
                 ("skipped", skipped), ("failed", failed)):
        assert isinstance(body[k], int), (k, body)
        if v is not None:
            assert body[k] == v, f"{k}: expected {v}, got {body[k]} in {body}"
    assert isinstance(body["errors"], list), body
    for e in body["errors"]:
        assert ERROR_KEYS <= set(e), e
    return body


def errors_by_row(body):
    out = {}
    for e in body["errors"]:
        out.setdefault(e["row"], []).append(e)
    return out


def import_ids_of(client):
    r = client.get(V1 + "/imports", params={"page_size": 200})
    assert r.status_code == 200, r.text
    return {i.get("import_id", i.get("id")) for i in r.json()["items"]}


def imports_with_sha(pg, sha):
    return int(pg.sql(f"SELECT count(*) FROM imports WHERE file_sha256 = '{sha}'"))


HEADER = ["Sales Order", "Customer", "Mobile", "Site", "Net Amount", "Payment Method", "Area",
          "Block", "Jaddah", "House", "Flat", "PACI", "Remarks", "Sales Rep"]


def standard_rows(ops, wh, numeric_phone=True):
    """Header on sheet row 1; data on rows 2, 3, (4 empty), 5 (bad phone), 6.
    Returns (rows, numbers by sheet row, phones by sheet row)."""
    n = {2: ops.number("I"), 3: ops.number("I"), 5: ops.number("I"), 6: ops.number("I")}
    rows = [
        HEADER,
        [n[2], "Ahmad Al-Sabah", 50012345 if numeric_phone else "50012345", wh["code"], 12.5,
         "K-Net", "Salmiya", 10, "3", 14, 2, "12345678", "ring twice", "Rep A"],
        [n[3], "محمد العتيبي", "+965 6001-2346", wh["code"].lower(), "7.250", "COD", "Hawalli",
         "5", None, None, None, None, None, "Rep B"],
        [],
        [n[5], "Bad Phone", "12", wh["code"], 1, "cash", "Jabriya", "1", None, None, None, None,
         None, None],
        [n[6], "فاطمة", "0096590012347", wh["name"], 0, "Visa", "Rumaithiya", "2", None, None,
         None, None, None, None],
    ]
    return rows, n


def upload_standard_xlsx(ops, imp, filename):
    """The standard rows as an .xlsx file, uploaded by imp.mgr (201).
    Returns (the report, numbers by sheet row, the file's bytes)."""
    rows, n = standard_rows(ops, imp.wh)
    data = xlsx_bytes(rows)
    r = imp.mgr.import_file(data, filename=filename)
    assert r.status_code == 201, r.text
    return r.json(), n, data


FORMATS = {
    "xlsx": (xlsx_bytes, "orders.xlsx", XLSX_MIME),
    "xls": (xls_bytes, "orders.xls", XLS_MIME),
    "csv": (lambda rows: csv_bytes(rows, bom=True), "orders.csv", CSV_MIME),
}


# --- the label a browser gives a file does not decide its format ----------------------

LABELS = [XLSX_MIME, XLS_MIME, CSV_MIME, "text/x-csv", "application/x-csv",
          "text/comma-separated-values", "application/octet-stream", "text/plain"]


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize("fmt", ["xlsx", "xls", "csv"])
def test_a_spreadsheet_under_any_spreadsheet_label_is_read_by_its_bytes(ops, imp, fmt, label):
    """Windows with Excel installed uploads a .csv as application/vnd.ms-excel,
    other systems as text/x-csv or octet-stream: whatever the label (of the
    part or of a raw body), a zip is read as .xlsx, an OLE2 file as .xls and
    anything else as CSV."""
    make, fname, _ = FORMATS[fmt]
    number = ops.number()
    data = make([["Sales Order", "Customer", "Mobile", "Area"],
                 [number, "Label " + fmt, "55551234", "Salmiya"]])
    for raw in (False, True):
        r = imp.mgr.import_file(data, filename=fname, mime=label, raw=raw, dry_run=True)
        assert r.status_code == 200, f"{fmt} as {label} (raw={raw}): {r.status_code} {r.text}"
        assert (r.json()["created"], r.json()["failed"]) == (1, 0), r.json()
    r = imp.mgr.import_file(data, filename=fname, mime=label)
    assert r.status_code == 201, r.text
    assert find_order(imp.mgr, number)["customer_name"] == "Label " + fmt


def test_an_impossible_eta_is_a_row_error_and_the_other_rows_import(ops, imp):
    """A bad ETA cell is reported on its row; the good rows still import
    (a day that does not exist refused the whole file with 422, an offset
    beyond ±15:59 with 503 "retry")."""
    good, day, offset = ops.number(), ops.number(), ops.number()
    rows = [["Sales Order", "Customer", "Mobile", "Area", "ETA"],
            [good, "Good ETA", "55551111", "Salmiya", "2026-12-01T10:00:00Z"],
            [day, "No Such Day", "55552222", "Salmiya", "2024-02-30"],
            [offset, "No Such Offset", "55553333", "Salmiya", "2024-01-01T10:00:00+16:00"]]
    r = imp.mgr.import_file(csv_bytes(rows), filename="eta.csv", mime=CSV_MIME)
    assert r.status_code == 201, r.text
    body = assert_report(r.json(), rows_total=3, created=1, updated=0, skipped=0, failed=2)
    assert sorted((e["row"], e["field"]) for e in body["errors"]) == \
        [(3, "estimated_delivery_time"), (4, "estimated_delivery_time")], body["errors"]
    assert find_order(imp.mgr, good)["estimated_delivery_time"] == "2026-12-01T10:00:00Z"
    assert find_order(imp.mgr, day) is None and find_order(imp.mgr, offset) is None


# --- each format, multipart and raw -------------------------------------------------

@pytest.mark.parametrize("transport", ["multipart", "raw"])
@pytest.mark.parametrize("fmt", ["xlsx", "xls", "csv"])
def test_each_format_imports_good_rows_and_reports_bad(ops, imp, fmt, transport):
    make, fname, mime = FORMATS[fmt]
    rows, n = standard_rows(ops, imp.wh)
    data = make(rows)
    r = imp.mgr.import_file(data, filename=fname, mime=mime, raw=transport == "raw")
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = assert_report(r.json(), rows_total=4, created=3, updated=0, skipped=0, failed=1)
    assert isinstance(body["import_id"], int)
    assert body["duplicate_of"] is None
    assert body["file_sha256"] == sha256_hex(data)
    assert body["file_name"] == (fname if transport == "multipart" else None)
    # the bad row: the sheet's own row number (the empty row 4 counts), the
    # header as written and our field name
    assert len(body["errors"]) == 1, body["errors"]
    e = body["errors"][0]
    assert (e["row"], e["column"], e["field"]) == (5, "Mobile", "customer_phone"), e
    assert isinstance(e["message"], str) and e["message"]
    assert find_order(imp.mgr, n[5]) is None

    o2 = find_order(imp.mgr, n[2])
    assert o2 is not None, "row 2 was not imported"
    assert o2["source"] == "excel" and o2["status"] == "pending"
    assert o2["warehouse_id"] == imp.wh["id"]
    assert o2["customer_name"] == "Ahmad Al-Sabah"
    assert o2["customer_phone"] == "+96550012345"  # a numeric cell in xlsx/xls
    assert o2["amount"] == "12.500"
    assert o2["payment_method"] == "knet"
    assert o2["area"] == "Salmiya"
    assert o2["block"] == "10", "a numeric cell in a text field must come out without a fraction"
    assert o2["avenue"] == "3" and o2["building"] == "14" and o2["apartment"] == "2"
    assert o2["paci_number"] == "12345678"
    assert o2["notes"] == "ring twice"
    assert o2["customer_info"] == {"Sales Rep": "Rep A"}, o2["customer_info"]

    o3 = find_order(imp.mgr, n[3])
    assert o3["customer_name"] == "محمد العتيبي"  # Arabic round-trips
    assert o3["customer_phone"] == "+96560012346"
    assert o3["payment_method"] == "cash" and o3["amount"] == "7.250"
    assert o3["warehouse_id"] == imp.wh["id"]  # code matched case-insensitively
    assert o3["customer_info"] == {"Sales Rep": "Rep B"}

    o6 = find_order(imp.mgr, n[6])
    assert o6["customer_name"] == "فاطمة"
    assert o6["customer_phone"] == "+96590012347"
    assert o6["payment_method"] == "card"
    assert o6["amount"] == "0.000"
    assert o6["warehouse_id"] == imp.wh["id"]  # matched by the warehouse's name
    assert o6["customer_info"] == {}


def test_import_report_is_stored_and_listed(ops, imp, pg):
    rep, _, _ = upload_standard_xlsx(ops, imp, "d365-export.xlsx")
    g = imp.mgr.get(f"{V1}/imports/{rep['import_id']}")
    assert g.status_code == 200, g.text
    stored = g.json()
    for k in ("file_name", "file_sha256", "rows_total", "created", "updated", "skipped", "failed",
              "errors"):
        assert stored[k] == rep[k], (k, stored[k], rep[k])
    assert stored["errors"][0]["row"] == 5
    # the paged list
    lst = imp.mgr.get(V1 + "/imports", params={"page": 1, "page_size": 5})
    assert lst.status_code == 200, lst.text
    env = lst.json()
    assert set(env) >= {"items", "page", "page_size", "total"}
    assert env["page"] == 1 and env["page_size"] == 5 and env["total"] >= 1
    assert len(env["items"]) <= 5
    assert rep["import_id"] in import_ids_of(imp.mgr)
    # a manager scoped to another warehouse sees neither the list entry nor the report
    assert rep["import_id"] not in import_ids_of(imp.mgr2)
    assert_problem(imp.mgr2.get(f"{V1}/imports/{rep['import_id']}"), 404, "not_found")
    # an unscoped manager and the admin see it
    assert rep["import_id"] in import_ids_of(imp.boss)
    assert imp.boss.get(f"{V1}/imports/{rep['import_id']}").status_code == 200
    assert_problem(imp.mgr.get(f"{V1}/imports/999999999"), 404, "not_found")
    assert_problem(imp.drv_client.get(V1 + "/imports"), 403, "forbidden")


def test_imported_order_names_its_uploader_in_history_not_created_by(ops, imp, pg):
    rep, n, _ = upload_standard_xlsx(ops, imp, "who-imported.xlsx")
    o = find_order(imp.mgr, n[2])
    assert o is not None
    h = imp.mgr.get(f"{V1}/orders/{o['id']}/history")
    assert h.status_code == 200, h.text
    first = h.json()[0] if isinstance(h.json(), list) else h.json()["items"][0]
    assert first["to_status"] == "pending" and first["from_status"] is None, first
    assert first["reason"] == "imported", first
    assert first["changed_by"]["id"] == imp.mgr.user["id"], first
    assert first["changed_by"]["role"] == "manager", first
    # the uploader is recorded on the import and the history, not on the order
    assert pg.sql(f"SELECT coalesce(created_by::text, 'null') || ' ' || import_id FROM orders"
                  f" WHERE id = {int(o['id'])}") == f"null {rep['import_id']}"
    assert pg.sql(f"SELECT uploaded_by FROM imports WHERE id = {int(rep['import_id'])}") \
        == str(imp.mgr.user["id"])


def test_import_finished_notification_goes_to_the_uploader(ops, imp):
    iid = upload_standard_xlsx(ops, imp, "notify-me.xlsx")[0]["import_id"]
    mine = [x for x in notifications_of(imp.mgr, unread="true")
            if x["type"] == "import_finished" and x["data"].get("import_id") == iid]
    assert len(mine) == 1, mine
    note = mine[0]
    assert NOTIFICATION_KEYS <= set(note), note
    assert note["read_at"] is None
    # nobody else hears about it
    for other in (imp.boss, imp.mgr2, ops.admin):
        assert not [x for x in notifications_of(other) if x["type"] == "import_finished"
                    and x["data"].get("import_id") == iid]


# --- header matching ------------------------------------------------------------------

def test_headers_normalized_and_own_names_match(ops, imp):
    num = ops.number("H")
    rows = [
        ["ORDER_NUMBER", " customer-name ", "Customer.Phone", "delivery   address",
         "warehouse_code", "Order Total", "payment", "Lat", "Lng", "ETA", "Ship Via"],
        [num, "Sara", "96551112222", "Block 1, Street 2, House 3", imp.wh["code"], "4.5",
         "PAID", 29.3375, 48.0758, "2026-12-01", "Truck"],
    ]
    r = imp.mgr.import_file(xlsx_bytes(rows))
    assert r.status_code == 201, r.text
    assert_report(r.json(), rows_total=1, created=1, failed=0)
    o = find_order(imp.mgr, num)
    assert o["customer_name"] == "Sara"
    assert o["customer_phone"] == "+96551112222"
    assert o["delivery_address"] == "Block 1, Street 2, House 3"
    assert o["amount"] == "4.500" and o["payment_method"] == "prepaid"
    assert abs(o["delivery_latitude"] - 29.3375) < 1e-9
    assert abs(o["delivery_longitude"] - 48.0758) < 1e-9
    # a date without a time: the end of that day in business_timezone (Asia/Kuwait, UTC+3)
    assert o["estimated_delivery_time"] == "2026-12-01T20:59:59Z", o["estimated_delivery_time"]
    assert o["customer_info"] == {"Ship Via": "Truck"}


def test_header_row_is_first_non_empty_row_and_dates_are_local(ops, imp):
    num = ops.number("D")
    rows = [[], [],
            ["SO Number", "Name", "Telephone", "Warehouse", "Address", "Delivery Date"],
            [num, "Late Header", "65554444", imp.wh["code"], "Mishref", datetime(2026, 12, 2, 15, 30)],
            [],
            [num + "X", "", "65554445", imp.wh["code"], "Mishref", None]]
    r = imp.mgr.import_file(xlsx_bytes(rows))
    assert r.status_code == 201, r.text
    body = assert_report(r.json(), rows_total=2, created=1, failed=1)
    (e,) = body["errors"]
    assert (e["row"], e["column"], e["field"]) == (6, "Name", "customer_name"), e
    o = find_order(imp.mgr, num)
    assert o["customer_phone"] == "+96565554444"
    # an Excel date-time is read in business_timezone: 15:30 in Kuwait is 12:30Z
    assert o["estimated_delivery_time"] == "2026-12-02T12:30:00Z", o["estimated_delivery_time"]


@pytest.mark.parametrize("value,expected", [
    ("COD", "cash"), ("cash", "cash"), ("CASH", "cash"), ("K-Net", "knet"), ("knet", "knet"),
    ("KNET", "knet"), ("Visa", "card"), ("Mastercard", "card"), ("Credit Card", "card"),
    ("card", "card"), ("Paid", "prepaid"), ("online", "prepaid"), ("Prepaid", "prepaid"),
])
def test_payment_spellings(ops, imp, value, expected):
    num = ops.number("P")
    rows = [["Order No", "Customer Name", "Phone", "Area", "Payment"],
            [num, "Pay Test", "55550000", "Salmiya", value]]
    r = imp.mgr.import_file(csv_bytes(rows), filename="p.csv", mime=CSV_MIME,
                            warehouse_id=imp.wh["id"])
    assert r.status_code == 201, r.text
    assert_report(r.json(), created=1, failed=0)
    assert find_order(imp.mgr, num)["payment_method"] == expected


def test_unknown_payment_and_other_field_errors_name_column_and_field(ops, imp):
    nums = [ops.number("E") for _ in range(6)]
    rows = [["Sales Order", "Customer", "Mobile", "Site", "Ship To", "Area", "Total", "Payment Method",
             "Latitude"],
            [nums[0], "Good", "55550001", imp.wh["code"], "Addr", None, "1", "cash", None],
            [nums[1], "Bad Pay", "55550002", imp.wh["code"], "Addr", None, "1", "bitcoin", None],
            [nums[2], "No Address", "55550003", imp.wh["code"], None, None, "1", "cash", None],
            [nums[3], "No WH", "55550004", "NO-SUCH-WH-" + nums[3], "Addr", None, "1", "cash", None],
            [nums[4], "Bad Amount", "55550005", imp.wh["code"], "Addr", None, "-3", "cash", None],
            [nums[5], "Bad Lat", "55550006", imp.wh["code"], "Addr", None, "1", "cash", "north"],
            [nums[0], "Repeat", "55550007", imp.wh["code"], "Addr", None, "1", "cash", None]]
    r = imp.mgr.import_file(xlsx_bytes(rows))
    assert r.status_code == 201, r.text
    body = assert_report(r.json(), rows_total=7, created=1, failed=6)
    by = errors_by_row(body)
    assert set(by) == {3, 4, 5, 6, 7, 8}, body["errors"]
    assert {(e["column"], e["field"]) for e in by[3]} == {("Payment Method", "payment_method")}
    assert {e["field"] for e in by[4]} == {"delivery_address"}
    assert {(e["column"], e["field"]) for e in by[5]} == {("Site", "warehouse_code")}
    assert {(e["column"], e["field"]) for e in by[6]} == {("Total", "amount")}
    assert {(e["column"], e["field"]) for e in by[7]} == {("Latitude", "delivery_latitude")}
    assert {(e["column"], e["field"]) for e in by[8]} == {("Sales Order", "order_number")}
    assert find_order(imp.mgr, nums[0])["customer_name"] == "Good"
    for n in nums[1:]:
        assert find_order(imp.mgr, n) is None


def test_area_alone_is_enough_and_warehouse_from_query(ops, imp):
    num = ops.number("Q")
    rows = [["Order", "Customer", "Mobile", "Area"], [num, "Area Only", "99990001", "Fintas"]]
    # no warehouse column and no ?warehouse_id (unscoped manager): a row error
    r = imp.boss.import_file(csv_bytes(rows), filename="a.csv", mime=CSV_MIME, dry_run=True)
    assert r.status_code == 200, r.text
    body = assert_report(r.json(), rows_total=1, created=0, failed=1, dry_run=True)
    assert body["errors"][0]["field"] == "warehouse_code"
    r = imp.boss.import_file(csv_bytes(rows), filename="a.csv", mime=CSV_MIME,
                             warehouse_id=imp.wh2["id"])
    assert r.status_code == 201, r.text
    assert_report(r.json(), created=1, failed=0)
    o = find_order(imp.boss, num)
    assert o["warehouse_id"] == imp.wh2["id"] and o["area"] == "Fintas"
    assert o["delivery_address"] is None


def test_csv_semicolon_quotes_and_embedded_newlines(ops, imp):
    a, b = ops.number("C"), ops.number("C")
    rows = [["Sales Order", "Customer", "Mobile", "Address", "Notes"],
            [a, 'Ali "the quick"', "55551111", "Block 4; Street 7", "line one\nline two"],
            [b, "نورة", "55551112", "Qurain", ""]]
    data = csv_bytes(rows, delimiter=";")
    r = imp.mgr.import_file(data, filename="semi.csv", mime=CSV_MIME)
    assert r.status_code == 201, r.text
    assert_report(r.json(), rows_total=2, created=2, failed=0)
    oa = find_order(imp.mgr, a)
    assert oa["customer_name"] == 'Ali "the quick"'
    assert oa["delivery_address"] == "Block 4; Street 7"
    assert oa["notes"] == "line one\nline two"
    assert oa["warehouse_id"] == imp.wh["id"]  # a scoped manager's default warehouse
    assert find_order(imp.mgr, b)["customer_name"] == "نورة"


def test_scoped_manager_cannot_import_into_another_warehouse(ops, imp):
    num = ops.number("S")
    rows = [["Sales Order", "Customer", "Mobile", "Site", "Area"],
            [num, "Elsewhere", "55552222", imp.wh2["code"], "Salwa"]]
    r = imp.mgr.import_file(xlsx_bytes(rows))
    assert r.status_code == 201, r.text
    body = assert_report(r.json(), created=0, failed=1)
    assert body["errors"][0]["field"] == "warehouse_code"
    assert find_order(imp.boss, num) is None
    r = imp.mgr.import_file(xlsx_bytes(rows), warehouse_id=imp.wh2["id"])
    assert r.status_code == 422, r.text
    assert find_order(imp.boss, num) is None


def test_driver_may_not_import(ops, imp):
    rows = [["Sales Order", "Customer", "Mobile", "Area"], [ops.number(), "X", "55553333", "Y"]]
    assert_problem(imp.drv_client.import_file(xlsx_bytes(rows)), 403, "forbidden")
    anon = Api(imp.mgr.base)  # no token
    try:
        assert_problem(anon.post(V1 + "/orders/import", files={"file": ("a.xlsx", b"x", XLSX_MIME)}),
                       401, "unauthorized")
    finally:
        anon.close()


# --- dry run, duplicates, update vs skip ----------------------------------------------

def test_dry_run_records_nothing_and_does_not_make_a_duplicate(ops, imp, pg):
    rows, n = standard_rows(ops, imp.wh)
    data = xlsx_bytes(rows)
    sha = sha256_hex(data)
    notes_before = len(notifications_of(imp.mgr))
    r = imp.mgr.import_file(data, filename="dry.xlsx", dry_run=True)
    assert r.status_code == 200, r.text
    dry = assert_report(r.json(), rows_total=4, created=3, updated=0, skipped=0, failed=1,
                        dry_run=True)
    assert dry["import_id"] is None and dry["duplicate_of"] is None
    assert dry["file_sha256"] == sha
    assert dry["errors"][0]["row"] == 5
    for num in n.values():
        assert find_order(imp.mgr, num) is None, "a dry run created an order"
    assert imports_with_sha(pg, sha) == 0
    assert len(notifications_of(imp.mgr)) == notes_before, "a dry run notified"
    # a second dry run gives the same figures
    r = imp.mgr.import_file(data, filename="dry.xlsx", dry_run=True)
    assert r.status_code == 200 and r.json()["created"] == 3
    # the real upload of the same bytes is not a duplicate
    r = imp.mgr.import_file(data, filename="dry.xlsx")
    assert r.status_code == 201, r.text
    real = assert_report(r.json(), rows_total=4, created=3, failed=1)
    assert real["duplicate_of"] is None and isinstance(real["import_id"], int)
    # a dry run after the real upload still records nothing
    r = imp.mgr.import_file(data, filename="dry.xlsx", dry_run=True)
    assert r.status_code == 200, r.text
    assert r.json()["dry_run"] is True and r.json()["import_id"] is None
    assert imports_with_sha(pg, sha) == 1


def test_byte_identical_reupload_is_a_duplicate(ops, imp, pg):
    first, n, data = upload_standard_xlsx(ops, imp, "first.xlsx")
    o_before = find_order(imp.mgr, n[2])
    # change the order in between: a duplicate must not touch it
    p = imp.mgr.patch(f"{V1}/orders/{o_before['id']}", json={"notes": "edited after import"})
    assert p.status_code == 200, p.text
    o_before = find_order(imp.mgr, n[2])
    imports_before = int(pg.sql("SELECT count(*) FROM imports"))
    notes_before = len(notifications_of(imp.mgr))
    for kw in ({"filename": "again.xlsx"}, {"raw": True}):
        r2 = imp.mgr.import_file(data, **kw)
        assert r2.status_code == 200, r2.text
        dup = assert_report(r2.json(), dry_run=False)
        assert dup["duplicate_of"] == first["import_id"], dup
        for k in ("rows_total", "created", "updated", "skipped", "failed", "errors", "file_sha256"):
            assert dup[k] == first[k], (k, dup[k], first[k])
    assert int(pg.sql("SELECT count(*) FROM imports")) == imports_before
    assert find_order(imp.mgr, n[2]) == o_before, "a duplicate upload changed an order"
    assert len(notifications_of(imp.mgr)) == notes_before


def test_reupload_by_another_warehouse_names_nothing_of_the_first_import(ops, imp, pg):
    first, n, data = upload_standard_xlsx(ops, imp, "wh1-private-name.xlsx")
    sha = first["file_sha256"]
    # the manager of the other warehouse may not see imp.mgr's import (404
    # on GET /imports/{id}), so its duplicate says only that it is one
    for kw in ({"filename": "mine.xlsx"}, {"filename": "mine.xlsx", "dry_run": True}):
        r = imp.mgr2.import_file(data, **kw)
        body = assert_problem(r, 409, "duplicate")
        assert "wh1-private-name" not in r.text, r.text
        assert first["import_id"] not in body.values(), body
        assert "duplicate_of" not in body and "errors" not in body, body
    assert imports_with_sha(pg, sha) == 1
    # an unscoped manager sees the first import, so gets its figures
    r = imp.boss.import_file(data, filename="again.xlsx")
    assert r.status_code == 200, r.text
    assert r.json()["duplicate_of"] == first["import_id"]
    assert r.json()["file_name"] == "wh1-private-name.xlsx"


def test_existing_pending_updated_others_skipped(ops, imp):
    pending = ops.new_order(imp.mgr, imp.wh["id"], customer_name="Old Name", amount="1.000")
    assigned = ops.order_in(imp.mgr, imp.wh["id"], "assigned", imp.drv, customer_name="Keep Me")
    delivered = ops.order_in(imp.mgr, imp.wh["id"], "delivered", imp.drv, customer_name="Done")
    new = ops.number("U")
    rows = [["Sales Order", "Customer", "Mobile", "Site", "Area", "Amount", "Extra"],
            [pending["order_number"], "New Name", "55554444", imp.wh["code"], "Surra", "2.000", "e1"],
            [assigned["order_number"], "Overwrite?", "55554445", imp.wh["code"], "Surra", "9", "e2"],
            [delivered["order_number"], "Overwrite?", "55554446", imp.wh["code"], "Surra", "9", "e3"],
            [new, "Brand New", "55554447", imp.wh["code"], "Surra", "3", "e4"]]
    r = imp.mgr.import_file(xlsx_bytes(rows))
    assert r.status_code == 201, r.text
    assert_report(r.json(), rows_total=4, created=1, updated=1, skipped=2, failed=0)
    p = ops.get(imp.mgr, pending["id"])
    assert p["customer_name"] == "New Name" and p["amount"] == "2.000"
    assert p["customer_phone"] == "+96555554444" and p["area"] == "Surra"
    assert p["version"] == pending["version"] + 1
    assert p["customer_info"].get("Extra") == "e1"
    assert p["tracking_token"] == pending["tracking_token"]  # an update keeps the link
    a = ops.get(imp.mgr, assigned["id"])
    assert a["customer_name"] == "Keep Me" and a["version"] == assigned["version"]
    assert a["status"] == "assigned"
    d = ops.get(imp.mgr, delivered["id"])
    assert d["customer_name"] == "Done" and d["version"] == delivered["version"]
    assert find_order(imp.mgr, new)["customer_name"] == "Brand New"


def test_reimport_sets_only_the_columns_the_file_has(ops, imp):
    """A second file with fewer columns updates what it has: a column it
    lacks keeps the stored value (area, block and notes became null), a
    column it has with an empty cell still clears that field."""
    num = ops.number("P")
    first = [["Order No", "Customer", "Mobile", "Area", "Block", "Remarks", "Amount", "Site",
              "Floor", "Gate"],
             [num, "Ali", "50012399", "Salmiya", "10", "call first", "5", imp.wh["code"], "2",
              "G1"]]
    r = imp.mgr.import_file(csv_bytes(first), filename="a.csv", mime=CSV_MIME)
    assert r.status_code == 201, r.text
    assert_report(r.json(), created=1, failed=0)
    before = find_order(imp.mgr, num)
    second = [["Order No", "Customer", "Mobile", "Amount", "Site", "Address", "Floor"],
              [num, "Ali K", "50012399", "6", imp.wh["code"], "Salmiya blk 10", ""]]
    r = imp.mgr.import_file(csv_bytes(second), filename="b.csv", mime=CSV_MIME)
    assert r.status_code == 201, r.text
    assert_report(r.json(), rows_total=1, created=0, updated=1, skipped=0, failed=0)
    o = ops.get(imp.mgr, before["id"])
    # the columns the file has
    assert o["customer_name"] == "Ali K" and o["amount"] == "6.000", o
    assert o["delivery_address"] == "Salmiya blk 10", o
    assert o["floor"] is None, "a column present with an empty cell clears the field"
    # the columns it lacks
    assert (o["area"], o["block"], o["notes"]) == ("Salmiya", "10", "call first"), o
    assert o["customer_info"] == {"Gate": "G1"}, o
    assert o["version"] == before["version"] + 1


def test_reimport_of_unchanged_rows_counts_them_skipped_without_a_new_version(ops, imp):
    """The daily re-export: a row identical to the stored order (as stored:
    phone normalized, 5 as 5.000, a date ETA, coordinates) changes nothing -
    no new version (open dashboards would get version_mismatch), no
    updated_at - and is counted in `skipped`; a changed row in the same file
    is still `updated`."""
    same, changed, fresh = ops.number("S"), ops.number("S"), ops.number("S")
    header = ["Sales Order", "Customer", "Mobile", "Site", "Area", "Amount", "Payment",
              "Delivery Date", "Latitude", "Longitude", "Remarks", "Sales Rep"]

    def row(num, amount):
        return [num, "Same Person", "50012399", imp.wh["code"], "Salmiya", amount, "COD",
                "2026-11-25", "29.3375", "48.0758", "", "Rep A"]
    r = imp.mgr.import_file(csv_bytes([header, row(same, "5"), row(changed, "5")]),
                            filename="day1.csv", mime=CSV_MIME)
    assert r.status_code == 201, r.text
    assert_report(r.json(), created=2, failed=0)
    s0, c0 = (ops.get(imp.mgr, find_order(imp.mgr, n)["id"]) for n in (same, changed))
    time.sleep(0.05)  # an update would show a later updated_at
    day2 = [header, row(same, "5.000"), row(changed, "7"), row(fresh, "1")]
    for dry_run in (True, False):
        r = imp.mgr.import_file(csv_bytes(day2), filename="day2.csv", mime=CSV_MIME,
                                dry_run=dry_run or None)
        assert r.status_code == (200 if dry_run else 201), r.text
        assert_report(r.json(), rows_total=3, created=1, updated=1, skipped=1, failed=0,
                      dry_run=dry_run)
    s1, c1 = ops.get(imp.mgr, s0["id"]), ops.get(imp.mgr, c0["id"])
    assert s1 == s0, "an unchanged row must leave the order as it was (version, updated_at)"
    assert c1["amount"] == "7.000" and c1["version"] == c0["version"] + 1
    assert [h["to_status"] for h in imp.mgr.get(f"{V1}/orders/{s0['id']}/history").json()] \
        == ["pending"]


def test_a_date_only_eta_is_the_end_of_that_business_day(ops, imp):
    """`Delivery Date` 2026-11-25 (text or an Excel date cell) means due by
    the end of the 25th in business_timezone, not 00:00 of it (sla-check
    called the order late in the first minutes of its day); a date-time is
    taken as it is."""
    text, cell, timed = ops.number("E"), ops.number("E"), ops.number("E")
    rows = [["Sales Order", "Customer", "Mobile", "Site", "Area", "Delivery Date"],
            [text, "Date Text", "50012399", imp.wh["code"], "Salmiya", "2026-11-25"],
            [cell, "Date Cell", "50012399", imp.wh["code"], "Salmiya", datetime(2026, 11, 25).date()],
            [timed, "Date Time", "50012399", imp.wh["code"], "Salmiya", "2026-11-25T09:30:00Z"]]
    r = imp.mgr.import_file(xlsx_bytes(rows))
    assert r.status_code == 201, r.text
    assert_report(r.json(), created=3, failed=0)
    for num in (text, cell):
        eta = find_order(imp.mgr, num)["estimated_delivery_time"]
        assert eta == "2026-11-25T20:59:59Z", (num, eta)  # 23:59:59 in Kuwait (UTC+3)
    assert find_order(imp.mgr, timed)["estimated_delivery_time"] == "2026-11-25T09:30:00Z"


def test_imported_orders_get_time_ordered_random_tracking_tokens(ops, imp):
    """The import makes its tokens itself (not the column default), in the
    same layout: creation microseconds, then 50 random hex digits."""
    numbers = [ops.number("T") for _ in range(6)]
    rows = [["Sales Order", "Customer", "Mobile", "Site", "Area"]]
    rows += [[n, "Token Row", f"5555{i:04d}", imp.wh["code"], "Surra"] for i, n in enumerate(numbers)]
    before = time.time()
    r = imp.mgr.import_file(xlsx_bytes(rows))
    after = time.time()
    assert r.status_code == 201, r.text
    assert_report(r.json(), created=6, failed=0)
    tokens = [find_order(imp.mgr, n)["tracking_token"] for n in numbers]
    assert all(re.fullmatch(r"[0-9a-f]{64}", t) for t in tokens), tokens
    stamps = [int(t[:14], 16) / 1e6 for t in tokens]
    assert all(before - 1 <= s <= after + 1 for s in stamps), (before, stamps, after)
    assert stamps == sorted(stamps) and len(set(stamps)) == 6  # sheet order, no ties
    tails = [t[14:] for t in tokens]
    assert len({t[:8] for t in tails}) == 6, tails
    # each one opens its order's public page
    for n, t in zip(numbers, tokens):
        page = Api(ops.base).get(V1 + "/track/" + t)
        assert page.status_code == 200 and page.json()["order_number"] == n, page.text


def test_pending_order_of_another_warehouse_is_not_updated_by_scoped_manager(ops, imp):
    other = ops.new_order(imp.mgr2, imp.wh2["id"], customer_name="Theirs")
    rows = [["Sales Order", "Customer", "Mobile", "Area"],
            [other["order_number"], "Mine Now", "55556666", "Salmiya"]]
    r = imp.mgr.import_file(xlsx_bytes(rows))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["created"] == 0 and body["updated"] == 0
    o = ops.get(imp.mgr2, other["id"])
    assert o["customer_name"] == "Theirs" and o["warehouse_id"] == imp.wh2["id"]


# --- update files: only the order number and the columns to change -------------------

KEEP = ("customer_name", "customer_phone", "delivery_address", "area", "amount",
        "payment_method", "warehouse_id", "status")


def test_an_update_file_reschedules_existing_pending_orders(ops, imp):
    """`Order No,Delivery Date` for orders we have: each pending one gets the
    new date and keeps every other field; one version more, not two."""
    a = ops.new_order(imp.mgr, imp.wh["id"], customer_name="Resched A", amount="4.000")
    b = ops.new_order(imp.mgr, imp.wh["id"], customer_name="Resched B")
    rows = [["Order No", "Delivery Date"],
            [a["order_number"], "2026-12-01"],
            [b["order_number"], "2026-12-02 14:00"]]
    r = imp.mgr.import_file(csv_bytes(rows), filename="resched.csv", mime=CSV_MIME)
    assert r.status_code == 201, r.text
    assert_report(r.json(), rows_total=2, created=0, updated=2, skipped=0, failed=0)
    assert r.json()["errors"] == []
    a1, b1 = ops.get(imp.mgr, a["id"]), ops.get(imp.mgr, b["id"])
    assert a1["estimated_delivery_time"] == "2026-12-01T20:59:59Z", a1  # end of day, Kuwait
    assert b1["estimated_delivery_time"] == "2026-12-02T11:00:00Z", b1
    for before, after in ((a, a1), (b, b1)):
        assert {k: after[k] for k in KEEP} == {k: before[k] for k in KEEP}, (before, after)
        assert after["version"] == before["version"] + 1, (before, after)


def test_an_update_file_row_for_an_unknown_order_needs_every_required_field(ops, imp):
    """A row whose order number we do not have would create an order: the
    creation rules apply (the row's columns are those the file has)."""
    known = ops.new_order(imp.mgr, imp.wh["id"], amount="1.000")
    unknown = ops.number("N")
    rows = [["Order No", "Amount"], [known["order_number"], "2.5"], [unknown, "3"]]
    r = imp.mgr.import_file(csv_bytes(rows), filename="amounts.csv", mime=CSV_MIME)
    assert r.status_code == 201, r.text
    body = assert_report(r.json(), rows_total=2, created=0, updated=1, skipped=0, failed=1)
    by = errors_by_row(body)
    assert set(by) == {3}, body["errors"]
    assert {(e["column"], e["field"]) for e in by[3]} == {
        (None, "customer_name"), (None, "customer_phone"), (None, "delivery_address")}, by
    assert find_order(imp.mgr, unknown) is None
    assert ops.get(imp.mgr, known["id"])["amount"] == "2.500"


def test_an_update_file_checks_the_columns_it_has(ops, imp):
    """An existing order's row is checked as usual for the columns present:
    an empty required cell, a bad value, both address columns empty."""
    o = ops.new_order(imp.mgr, imp.wh["id"], customer_name="Checked")
    rows = [["Order No", "Customer", "Address", "Area", "Amount"],
            [o["order_number"], "", "Street 1", "", "1"],
            [o["order_number"], "Name", "", "", "1"],
            [o["order_number"], "Name", "Street 1", "", "-4"]]
    r = imp.mgr.import_file(csv_bytes(rows), filename="checked.csv", mime=CSV_MIME,
                            dry_run=True)
    assert r.status_code == 200, r.text
    body = assert_report(r.json(), rows_total=3, created=0, updated=0, failed=3, dry_run=True)
    by = errors_by_row(body)
    assert {(e["column"], e["field"]) for e in by[2]} == {("Customer", "customer_name")}, by
    assert {(e["column"], e["field"]) for e in by[3]} == {("Address", "delivery_address")}, by
    assert {(e["column"], e["field"]) for e in by[4]} == {("Amount", "amount")}, by


def test_an_update_file_cannot_empty_the_area_alone(ops, imp):
    """A file with an Area column but no address column, whose cell is
    empty, would leave an area-only order with neither: refused, and the
    order keeps its area. Given both columns, the row is checked as a whole."""
    o = ops.new_order(imp.mgr, imp.wh["id"], delivery_address=None, area="Salmiya")
    before = ops.get(imp.mgr, o["id"])
    assert before["delivery_address"] is None and before["area"] == "Salmiya"
    rows = [["Order No", "Area"], [o["order_number"], ""]]
    r = imp.mgr.import_file(csv_bytes(rows), filename="area.csv", mime=CSV_MIME)
    assert r.status_code in (200, 201), r.text
    body = assert_report(r.json(), rows_total=1, created=0, updated=0, failed=1)
    assert {(e["column"], e["field"]) for e in errors_by_row(body)[2]} == {("Area", "area")}, body
    assert ops.get(imp.mgr, o["id"]) == before
    rows = [["Order No", "Area", "Address"], [o["order_number"], "", "Block 4, Street 9"]]
    r = imp.mgr.import_file(csv_bytes(rows), filename="area2.csv", mime=CSV_MIME)
    assert r.status_code == 201, r.text
    assert_report(r.json(), rows_total=1, created=0, updated=1, failed=0)
    after = ops.get(imp.mgr, o["id"])
    assert (after["area"], after["delivery_address"]) == (None, "Block 4, Street 9"), after


def test_an_update_file_skips_orders_past_pending(ops, imp):
    delivered = ops.order_in(imp.mgr, imp.wh["id"], "delivered", imp.drv, customer_name="Done")
    assigned = ops.order_in(imp.mgr, imp.wh["id"], "assigned", imp.drv)
    rows = [["Order No", "Delivery Date"],
            [delivered["order_number"], "2026-12-03"], [assigned["order_number"], "2026-12-03"]]
    r = imp.mgr.import_file(csv_bytes(rows), filename="late.csv", mime=CSV_MIME)
    assert r.status_code == 201, r.text
    assert_report(r.json(), rows_total=2, created=0, updated=0, skipped=2, failed=0)
    for o in (delivered, assigned):
        after = ops.get(imp.mgr, o["id"])
        assert after["version"] == o["version"], after
        assert after["estimated_delivery_time"] == o["estimated_delivery_time"], after


def test_an_update_file_dry_run_reports_what_the_real_run_does(ops, imp):
    pending = ops.new_order(imp.mgr, imp.wh["id"])
    same = ops.new_order(imp.mgr, imp.wh["id"], amount="5.000")
    delivered = ops.order_in(imp.mgr, imp.wh["id"], "delivered", imp.drv)
    rows = [["Order No", "Amount"], [pending["order_number"], "9"], [same["order_number"], "5"],
            [delivered["order_number"], "9"], [ops.number("D"), "9"], ["", "1"]]
    data = csv_bytes(rows)
    reports = []
    for dry_run in (True, False):
        r = imp.mgr.import_file(data, filename="dry-upd.csv", mime=CSV_MIME,
                                dry_run=dry_run or None)
        assert r.status_code == (200 if dry_run else 201), r.text
        reports.append(assert_report(r.json(), rows_total=5, created=0, updated=1, skipped=2,
                                     failed=2, dry_run=dry_run))
    keys = ("rows_total", "created", "updated", "skipped", "failed", "errors")
    assert {k: reports[0][k] for k in keys} == {k: reports[1][k] for k in keys}
    assert {e["row"] for e in reports[1]["errors"]} == {5, 6}
    assert ops.get(imp.mgr, pending["id"])["amount"] == "9.000"
    assert ops.get(imp.mgr, same["id"])["version"] == same["version"]


def test_an_update_file_keeps_the_orders_warehouse(ops, imp):
    """Without a warehouse column an existing order stays where it is, even
    when ?warehouse_id= names another warehouse (the default for new
    orders) or there is no default at all."""
    o = ops.new_order(imp.boss, imp.wh["id"], amount="1.000")
    for i, params in enumerate(({}, {"warehouse_id": imp.wh2["id"]})):
        rows = [["Order No", "Amount"], [o["order_number"], f"{2 + i}"]]
        r = imp.boss.import_file(csv_bytes(rows), filename=f"wh{i}.csv", mime=CSV_MIME, **params)
        assert r.status_code == 201, r.text
        assert_report(r.json(), rows_total=1, updated=1, failed=0)
        after = ops.get(imp.boss, o["id"])
        assert after["warehouse_id"] == imp.wh["id"] and after["amount"] == f"{2 + i}.000", after


def test_a_scoped_managers_update_file_does_not_touch_another_warehouses_order(ops, imp):
    theirs = ops.new_order(imp.mgr2, imp.wh2["id"], amount="1.000")
    mine = ops.new_order(imp.mgr, imp.wh["id"], amount="1.000")
    rows = [["Order No", "Amount"], [theirs["order_number"], "8"], [mine["order_number"], "8"]]
    r = imp.mgr.import_file(csv_bytes(rows), filename="scoped-upd.csv", mime=CSV_MIME)
    assert r.status_code == 201, r.text
    assert_report(r.json(), rows_total=2, created=0, updated=1, skipped=1, failed=0)
    t = ops.get(imp.mgr2, theirs["id"])
    assert t["amount"] == "1.000" and t["version"] == theirs["version"], t
    assert t["warehouse_id"] == imp.wh2["id"]
    assert ops.get(imp.mgr, mine["id"])["amount"] == "8.000"


# --- file names, media types, refused files -----------------------------------------

def test_file_name_from_content_disposition_on_raw_body(ops, imp):
    rows = [["Sales Order", "Customer", "Mobile", "Area"], [ops.number(), "CD", "55557777", "Salmiya"]]
    data = csv_bytes(rows)
    r = imp.mgr.import_file(data, mime=CSV_MIME, raw=True,
                            headers={"Content-Disposition": 'attachment; filename="daily-SO.csv"'})
    assert r.status_code == 201, r.text
    assert r.json()["file_name"] == "daily-SO.csv"


def test_a_file_name_that_is_not_utf8_is_no_file_name(ops, imp):
    rows = [["Sales Order", "Customer", "Mobile", "Area"], [ops.number(), "Latin1", "55557778", "Salmiya"]]
    for dry in (True, False):
        r = imp.mgr.import_file(csv_bytes(rows), mime=CSV_MIME, raw=True, dry_run=dry or None,
                                headers={"Content-Disposition": b'attachment; filename="\xe9t\xe9.csv"'})
        assert r.status_code == (200 if dry else 201), r.text
        assert r.json()["file_name"] is None, r.json()


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "multipart"])
def test_unsupported_media_type_is_415(ops, imp, pg, raw):
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(200)
    r = imp.mgr.import_file(png, filename="photo.png", mime="image/png", raw=raw)
    assert_problem(r, 415, "unsupported_media_type")
    assert imports_with_sha(pg, sha256_hex(png)) == 0


def test_multipart_without_file_field_is_refused(imp):
    r = imp.mgr.post(V1 + "/orders/import", files={"upload": ("a.csv", b"a,b\n1,2\n", CSV_MIME)})
    assert 400 <= r.status_code < 500, r.text
    assert_problem(r, r.status_code)


def test_no_order_number_column_is_422(ops, imp, pg):
    data = csv_bytes([["Customer", "Mobile", "Area"], ["No Number", "55558888", "Salmiya"]])
    assert_problem(imp.mgr.import_file(data, filename="x.csv", mime=CSV_MIME), 422,
                   "validation_failed")
    assert imports_with_sha(pg, sha256_hex(data)) == 0


def _garbage():
    rnd = os.urandom(4096)
    return {
        "random": rnd,
        "zip-magic-then-junk": b"PK\x03\x04" + rnd,
        "ole-magic-then-junk": bytes.fromhex("D0CF11E0A1B11AE1") + rnd,
        "truncated-xlsx": None,  # filled below (needs the world)
        "invalid-utf8": b"Sales Order,Customer\n\xff\xfe\xc3\x28,\x80\x81\n",
        "utf16": "Sales Order,Customer\r\nA,B\r\n".encode("utf-16"),
        "nul-bytes": b"\x00" * 1000,
    }


@pytest.mark.parametrize("kind", list(_garbage()))
@pytest.mark.parametrize("mime", [XLSX_MIME, XLS_MIME, CSV_MIME])
def test_garbage_bytes_are_4xx_never_5xx(ops, imp, pg, kind, mime):
    data = _garbage()[kind]
    if data is None:
        full = xlsx_bytes([["Sales Order", "Customer"], [ops.number(), "T"]])
        data = full[: len(full) // 2]
    for raw in (True, False):
        r = imp.mgr.import_file(data, filename="garbage", mime=mime, raw=raw)
        assert 400 <= r.status_code < 500, f"{kind} as {mime} (raw={raw}): {r.status_code} {r.text[:300]}"
        assert r.headers["Content-Type"].startswith("application/problem+json"), r.headers
    assert imports_with_sha(pg, sha256_hex(data)) == 0
    assert imp.mgr.get(V1 + "/imports", params={"page_size": 1}).status_code == 200


def test_empty_file_is_refused(imp):
    for raw in (True, False):
        r = imp.mgr.import_file(b"", filename="empty.csv", mime=CSV_MIME, raw=raw)
        assert 400 <= r.status_code < 500, r.text


# --- limits ----------------------------------------------------------------------------

def _big_csv(ops, target_bytes):
    """A CSV of about target_bytes: few rows, each with a ~30 KB unknown
    column (kept under the per-cell limit), so the size, not the row count,
    is what is measured."""
    head = "Sales Order,Customer,Mobile,Area,Padding\r\n"
    pad = "x" * 30000
    lines = [head]
    size = len(head)
    i = 0
    while size < target_bytes:
        line = f"{ops.tag}-BIG{i:06d},Big,55550000,Salmiya,{pad}\r\n"
        if size + len(line) > target_bytes and size > target_bytes - 64 * 1024:
            line = line[: max(0, target_bytes - size - 2)] + "\r\n" if target_bytes - size > 64 else ""
            if not line:
                break
        lines.append(line)
        size += len(line)
        i += 1
    return "".join(lines).encode()


@pytest.mark.parametrize("raw,size", [(True, 10 * 1024 * 1024 + 4096), (False, 10 * 1024 * 1024 + 4096),
                                      (True, 12 * 1024 * 1024)],
                         ids=["raw", "multipart", "raw-12MiB"])
def test_file_over_10_mib_is_413(ops, imp, pg, raw, size):
    data = _big_csv(ops, size)
    assert len(data) > 10 * 1024 * 1024
    r = imp.mgr.import_file(data, filename="big.csv", mime=CSV_MIME, raw=raw)
    assert_problem(r, 413, "payload_too_large")
    assert imports_with_sha(pg, sha256_hex(data)) == 0
    assert find_order(imp.mgr, f"{ops.tag}-BIG000000") is None


def test_file_just_under_10_mib_is_accepted_as_dry_run(ops, imp):
    data = _big_csv(ops, 10 * 1024 * 1024 - 1024)
    assert 10 * 1024 * 1024 - 64 * 1024 < len(data) <= 10 * 1024 * 1024
    r = imp.mgr.import_file(data, filename="big.csv", mime=CSV_MIME, dry_run=True)
    assert r.status_code == 200, r.text[:500]
    body = r.json()
    assert body["rows_total"] > 300
    assert body["failed"] <= 1 and body["created"] >= body["rows_total"] - 1, \
        {k: body[k] for k in ("rows_total", "created", "failed")}


def _rows_csv(ops, n, prefix, valid=0):
    """n data rows; all but the first `valid` lack a phone (row errors, so
    the boundary is tested without loading 50,000 orders)."""
    head = "Sales Order,Customer,Mobile,Area\r\n"
    body = "".join(f"{ops.tag}-{prefix}{i:06d},C,{'55550000' if i < valid else ''},A\r\n"
                   for i in range(n))
    return (head + body).encode()


def test_big_file_loaded_in_chunks_counts_like_one_load(ops, imp, pg):
    """9,000 rows: the import loads them in chunks while it reads the file
    (2,000 rows each, CHUNK_ROWS in import.c), in one transaction. Bad rows,
    updates of pending orders and skips of others land in different chunks;
    the report and the database must be as for one load."""
    pending = ops.new_order(imp.mgr, imp.wh["id"], customer_name="Chunk Old")
    done = ops.order_in(imp.mgr, imp.wh["id"], "delivered", imp.drv, customer_name="Chunk Done")
    prefix = f"{ops.tag}-CH"
    lines = ["Sales Order,Customer,Mobile,Area,Site"]
    for i in range(9000):
        if i == 100:
            lines.append(f"{pending['order_number']},Chunk New,55551111,Surra,{imp.wh['code']}")
        elif i == 8500:
            lines.append(f"{done['order_number']},Chunk Again,55552222,Surra,{imp.wh['code']}")
        elif i % 1000 == 999:
            lines.append(f"{prefix}{i:05d},Bad Phone,12,Surra,{imp.wh['code']}")  # row error
        else:
            lines.append(f"{prefix}{i:05d},Chunk Row,5{i:07d},Surra,{imp.wh['code']}")
    data = ("\r\n".join(lines) + "\r\n").encode()
    # a dry run goes the same way and records nothing
    r = imp.mgr.import_file(data, filename="chunks.csv", mime=CSV_MIME, dry_run=True)
    assert r.status_code == 200, r.text[:500]
    assert_report(r.json(), rows_total=9000, created=8989, updated=1, skipped=1, failed=9,
                  dry_run=True)
    assert find_order(imp.mgr, f"{prefix}00000") is None
    small = imp.mgr.import_file(("\r\n".join(lines[:3]) + "\r\n").encode(), filename="c.csv",
                                mime=CSV_MIME, dry_run=True)
    assert small.status_code == 200, small.text[:300]
    r = imp.mgr.import_file(data, filename="chunks.csv", mime=CSV_MIME)
    assert r.status_code == 201, r.text[:500]
    body = assert_report(r.json(), rows_total=9000, created=8989, updated=1, skipped=1, failed=9)
    # three loads (stage, COPY, upsert each) where a small file has one
    assert int(r.headers["X-DB-Statements"]) >= int(small.headers["X-DB-Statements"]) + 4
    assert sorted(e["row"] for e in body["errors"]) == [1000 + k * 1000 + 1 for k in range(9)]
    n = pg.sql(f"SELECT count(*) FROM orders WHERE order_number LIKE '{prefix}%'"
               f" AND import_id = {body['import_id']}")
    assert n == "8989"
    stored = pg.sql(f"SELECT rows_total || ' ' || created || ' ' || updated || ' ' || skipped"
                    f" || ' ' || failed FROM imports WHERE id = {body['import_id']}")
    assert stored == "9000 8989 1 1 9"
    assert ops.get(imp.mgr, pending["id"])["customer_name"] == "Chunk New"
    assert ops.get(imp.mgr, done["id"])["customer_name"] == "Chunk Done"
    for i in (0, 3998, 4002, 8001, 8998):  # across the chunks
        assert find_order(imp.mgr, f"{prefix}{i:05d}")["customer_name"] == "Chunk Row"
    r = imp.mgr.import_file(data, filename="chunks.csv", mime=CSV_MIME)
    assert r.status_code == 200 and r.json()["duplicate_of"] == body["import_id"], r.text[:300]


def test_file_broken_after_chunks_were_loaded_leaves_nothing(ops, imp, pg):
    """The first chunks are in the database when the reader finds the end of
    the file broken (an unterminated quote): the answer is a 422 and the
    transaction, chunks and imports row included, is rolled back."""
    prefix = f"{ops.tag}-BRK"
    lines = ["Sales Order,Customer,Mobile,Area,Site"]
    lines += [f"{prefix}{i:05d},Broken Later,5{i:07d},Surra,{imp.wh['code']}" for i in range(5000)]
    data = ("\r\n".join(lines) + '\r\n"never closed,x\r\n').encode()
    r = imp.mgr.import_file(data, filename="broken.csv", mime=CSV_MIME)
    assert_problem(r, 422)
    assert "cannot be read" in r.json()["detail"], r.text
    assert imports_with_sha(pg, sha256_hex(data)) == 0
    assert pg.sql(f"SELECT count(*) FROM orders WHERE order_number LIKE '{prefix}%'") == "0"
    assert pg.sql("SELECT count(*) FROM order_search_backlog b JOIN orders o ON o.id = b.order_id"
                  f" WHERE o.order_number LIKE '{prefix}%'") == "0"


def test_50000_rows_accepted_50001_refused_422(ops, imp, pg):
    ok = _rows_csv(ops, 50000, "R", valid=5)
    r = imp.mgr.import_file(ok, filename="50k.csv", mime=CSV_MIME, dry_run=True)
    assert r.status_code == 200, r.text[:500]
    body = assert_report(r.json(), rows_total=50000, created=5, failed=49995, dry_run=True)
    assert body["errors"][0]["row"] == 7 and body["errors"][0]["field"] == "customer_phone"
    over = _rows_csv(ops, 50001, "S", valid=50001)
    r = imp.mgr.import_file(over, filename="50k1.csv", mime=CSV_MIME)
    assert_problem(r, 422)
    assert imports_with_sha(pg, sha256_hex(over)) == 0
    assert find_order(imp.mgr, f"{ops.tag}-S000000") is None


def _honest_bomb():
    """A valid-looking .xlsx whose sheet inflates to 200 MB of spaces
    (streamed into the zip; the declared sizes are true)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml",
                    '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                    '</Types>')
        zf.writestr("_rels/.rels",
                    '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
                    '</Relationships>')
        zf.writestr("xl/workbook.xml",
                    '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                    '<sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>')
        zf.writestr("xl/_rels/workbook.xml.rels",
                    '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
                    '</Relationships>')
        with zf.open("xl/worksheets/sheet1.xml", "w") as f:
            f.write(b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
            chunk = b" " * (1024 * 1024)
            for _ in range(200):
                f.write(chunk)
            f.write(b"</sheetData></worksheet>")
    return buf.getvalue()


def _lying_bomb(honest):
    """The same bomb with the sheet's uncompressed size rewritten to 1000
    bytes in the central directory and the local header: only the actual
    inflation can reveal it."""
    data = bytearray(honest)
    name = b"xl/worksheets/sheet1.xml"
    # central directory entry
    cd = data.rfind(b"PK\x01\x02", 0, len(data))
    while cd != -1:
        nlen = struct.unpack_from("<H", data, cd + 28)[0]
        if bytes(data[cd + 46: cd + 46 + nlen]) == name:
            break
        cd = data.rfind(b"PK\x01\x02", 0, cd)
    assert cd != -1
    elen = struct.unpack_from("<H", data, cd + 30)[0]
    local = struct.unpack_from("<I", data, cd + 42)[0]
    usize = struct.unpack_from("<I", data, cd + 24)[0]
    # zip64 extra field: replace the 64-bit sizes too
    extra_at = cd + 46 + nlen
    _patch_zip64(data, extra_at, elen, usize == 0xFFFFFFFF, struct.unpack_from("<I", data, cd + 20)[0] == 0xFFFFFFFF)
    if usize != 0xFFFFFFFF:
        struct.pack_into("<I", data, cd + 24, 1000)
    lnlen, lelen = struct.unpack_from("<HH", data, local + 26)
    lus = struct.unpack_from("<I", data, local + 22)[0]
    if lus not in (0, 0xFFFFFFFF):
        struct.pack_into("<I", data, local + 22, 1000)
    _patch_zip64(data, local + 30 + lnlen, lelen, lus == 0xFFFFFFFF, struct.unpack_from("<I", data, local + 18)[0] == 0xFFFFFFFF)
    return bytes(data)


def _patch_zip64(data, at, length, has_usize, has_csize):
    end = at + length
    while at + 4 <= end:
        hid, hlen = struct.unpack_from("<HH", data, at)
        if hid == 0x0001 and has_usize:
            struct.pack_into("<Q", data, at + 4, 1000)
        at += 4 + hlen


@pytest.fixture(scope="module")
def bombs():
    honest = _honest_bomb()
    return {"honest": honest, "lying": _lying_bomb(honest)}


@pytest.mark.parametrize("kind", ["honest", "lying"])
def test_zip_bomb_refused_fast_with_flat_memory(daemon, imp, pg, bombs, kind):
    data = bombs[kind]
    assert len(data) < 2 * 1024 * 1024, len(data)
    before = rss_kib(daemon.pid)
    t0 = time.monotonic()
    r = imp.mgr.import_file(data, filename="bomb.xlsx", mime=XLSX_MIME)
    elapsed = time.monotonic() - t0
    after = rss_kib(daemon.pid)
    assert_problem(r, 413, "payload_too_large")
    assert elapsed < 2.0, f"the bomb took {elapsed:.2f} s to refuse"
    assert after - before < 64 * 1024, f"RSS grew by {(after - before) / 1024:.1f} MiB"
    assert imports_with_sha(pg, sha256_hex(data)) == 0


# --- cell types ---------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["xlsx", "xlsx-1904", "xls"])
def test_date_cells_and_numeric_order_numbers(ops, imp, fmt):
    num_int = 700000000 + int.from_bytes(os.urandom(3), "big")
    text_num = ops.number("T")
    rows = [["SO Number", "Customer", "Mobile", "Site", "Area", "ETA", "Floor"],
            [num_int, "Numeric SO", 96550012300, imp.wh["code"], "Salmiya",
             datetime(2026, 12, 24, 18, 45), 3],
            [text_num, "Date Only", "55550012", imp.wh["code"], "Salmiya",
             datetime(2026, 12, 25).date(), 0]]
    if fmt == "xls":
        data = xls_bytes(rows)
        mime = XLS_MIME
    else:
        import openpyxl
        from openpyxl.utils.datetime import CALENDAR_MAC_1904
        wb = openpyxl.Workbook()
        if fmt == "xlsx-1904":
            wb.epoch = CALENDAR_MAC_1904
        ws = wb.active
        for r, row in enumerate(rows, start=1):
            for c, v in enumerate(row, start=1):
                ws.cell(row=r, column=c, value=v)
        out = io.BytesIO()
        wb.save(out)
        data = out.getvalue()
        mime = XLSX_MIME
    r = imp.mgr.import_file(data, filename="dates", mime=mime)
    assert r.status_code == 201, r.text
    assert_report(r.json(), rows_total=2, created=2, failed=0)
    o = find_order(imp.mgr, str(num_int))
    assert o is not None, f"a numeric order number must come out as {num_int}, not {num_int}.0"
    assert o["customer_phone"] == "+96550012300"
    assert o["floor"] == "3"
    assert o["estimated_delivery_time"] == "2026-12-24T15:45:00Z", o["estimated_delivery_time"]
    d = find_order(imp.mgr, text_num)
    # a date cell without a time: due by the end of that business day
    assert d["estimated_delivery_time"] == "2026-12-25T20:59:59Z", d["estimated_delivery_time"]
    assert d["floor"] == "0"


def test_csv_rows_numbered_as_spreadsheet_records(ops, imp):
    """A quoted field with a line break is one record: Excel shows the next
    record as the next row."""
    good, bad = ops.number("N"), ops.number("N")
    data = ("Sales Order,Customer,Mobile,Area,Notes\r\n"
            f'{good},Multi Line,55551234,Salmiya,"first line\r\nsecond line"\r\n'
            "\r\n"
            f"{bad},Bad Phone,123,Salmiya,\r\n").encode()
    r = imp.mgr.import_file(data, filename="records.csv", mime=CSV_MIME)
    assert r.status_code == 201, r.text
    body = assert_report(r.json(), rows_total=2, created=1, failed=1)
    assert body["errors"][0]["row"] == 4, body["errors"]
    assert find_order(imp.mgr, good)["notes"] == "first line\r\nsecond line" or \
        find_order(imp.mgr, good)["notes"] == "first line\nsecond line"


def test_raw_csv_with_charset_parameter(ops, imp):
    num = ops.number("CS")
    data = csv_bytes([["Order Number", "Customer Name", "Customer Phone", "Area"],
                      [num, "خالد", "55556789", "Salmiya"]], bom=True)
    r = imp.mgr.import_file(data, mime="text/csv; charset=utf-8", raw=True)
    assert r.status_code == 201, r.text
    assert find_order(imp.mgr, num)["customer_name"] == "خالد"


# --- concurrent uploads ---------------------------------------------------------------------

def _count_prefix(pg, prefix):
    return int(pg.sql(f"SELECT count(*) FROM orders WHERE order_number LIKE '{prefix}%'"))


def test_same_file_uploaded_twice_at_once_is_imported_once(ops, imp, pg):
    prefix = ops.number("SAME") + "-"
    head = ["Sales Order", "Customer", "Mobile", "Area"]
    data = csv_bytes([head] + [[f"{prefix}{i:04d}", "Same", "55550000", "Salmiya"] for i in range(200)])
    other = ops.manager(imp.wh["id"])
    r1, r2 = at_once(lambda: imp.mgr.import_file(data, filename="s.csv", mime=CSV_MIME),
                      lambda: other.import_file(data, filename="s.csv", mime=CSV_MIME))
    assert sorted((r1.status_code, r2.status_code)) == [200, 201], (r1.text[:300], r2.text[:300])
    first, dup = (r1, r2) if r1.status_code == 201 else (r2, r1)
    assert dup.json()["duplicate_of"] == first.json()["import_id"]
    assert first.json()["created"] == 200 and dup.json()["created"] == 200
    assert _count_prefix(pg, prefix) == 200
    assert imports_with_sha(pg, sha256_hex(data)) == 1


def test_overlapping_files_imported_at_once_both_succeed(ops, imp, pg):
    """Two managers upload the day's orders at the same moment, one file
    sorted the other way round: both imports must go through (no 5xx), each
    order exists once, and between them every row was created or updated.
    Three rounds, since a lock-order deadlock depends on timing."""
    other = ops.manager(imp.wh["id"])
    head = ["Sales Order", "Customer", "Mobile", "Area"]
    for rnd in range(3):
        prefix = ops.number("OVL") + "-"
        nums = [f"{prefix}{i:04d}" for i in range(400)]
        a = csv_bytes([head] + [[n, "From A", "55550000", "Salmiya"] for n in nums])
        b = csv_bytes([head] + [[n, "From B", "55550000", "Salmiya"] for n in reversed(nums)])
        ra, rb = at_once(lambda: imp.mgr.import_file(a, filename="a.csv", mime=CSV_MIME),
                          lambda: other.import_file(b, filename="b.csv", mime=CSV_MIME))
        assert (ra.status_code, rb.status_code) == (201, 201), \
            f"round {rnd}: A: {ra.status_code} {ra.text[:300]}\nB: {rb.status_code} {rb.text[:300]}"
        ja, jb = ra.json(), rb.json()
        assert ja["created"] + jb["created"] == 400, (ja, jb)
        assert ja["updated"] + jb["updated"] == 400, (ja, jb)
        assert _count_prefix(pg, prefix) == 400


# --- hand-made workbooks: what other producers write -----------------------------------------

def _handmade_xlsx(first_sheet_xml, second_sheet_xml, shared=None):
    """A minimal .xlsx written by hand: the workbook lists "Orders" first,
    but its part is xl/worksheets/sheet2.xml (relationship rId7); the part
    sheet1.xml belongs to the second sheet "Notes". Optional shared strings."""
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml",
                    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                    '<Default Extension="xml" ContentType="application/xml"/>'
                    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                    '</Types>')
        zf.writestr("_rels/.rels",
                    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                    f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/>'
                    '</Relationships>')
        zf.writestr("xl/workbook.xml",
                    f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{ns}" xmlns:r="{rel}">'
                    '<sheets><sheet name="Orders" sheetId="2" r:id="rId7"/>'
                    '<sheet name="Notes" sheetId="1" r:id="rId1"/></sheets></workbook>')
        rels = (f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
                f'<Relationship Id="rId7" Type="{rel}/worksheet" Target="/xl/worksheets/sheet2.xml"/>')
        if shared is not None:
            rels += f'<Relationship Id="rId9" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/>'
            sst = "".join(f"<si><t>{s}</t></si>" for s in shared)
            zf.writestr("xl/sharedStrings.xml",
                        f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{ns}" count="{len(shared)}"'
                        f' uniqueCount="{len(shared)}">{sst}</sst>')
        zf.writestr("xl/_rels/workbook.xml.rels",
                    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                    f'{rels}</Relationships>')
        zf.writestr("xl/worksheets/sheet1.xml",
                    f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{ns}"><sheetData>'
                    f'{second_sheet_xml}</sheetData></worksheet>')
        zf.writestr("xl/worksheets/sheet2.xml",
                    f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{ns}"><sheetData>'
                    f'{first_sheet_xml}</sheetData></worksheet>')
    return buf.getvalue()


def _is(ref, text):
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def test_first_sheet_by_workbook_order_inline_strings_formulas_booleans(ops, imp):
    a, b = ops.number("HM"), ops.number("HM")
    header = ('<row r="1">' + _is("A1", "Sales Order") + _is("B1", "Customer")
              + '<c r="C1" t="s"><v>0</v></c>' + _is("D1", "Area") + _is("E1", "Gift")
              + _is("F1", "Net Amount") + "</row>")
    rows = (f'<row r="2">{_is("A2", a)}{_is("B2", "Inline Name")}'
            '<c r="C2"><f>25006172*2</f><v>50012344</v></c>'
            f'{_is("D2", "Salmiya")}<c r="E2" t="b"><v>1</v></c>'
            '<c r="F2"><f>SUM(1,2.5)</f><v>3.5</v></c></row>'
            # row 3 is missing: empty rows are skipped, row numbers kept
            f'<row r="4"><c r="A4" t="str"><f>"{b}"</f><v>{b}</v></c>'
            '<c r="B4" t="s"><v>1</v></c><c r="C4" t="s"><v>2</v></c>'
            f'{_is("D4", "Hawalli")}<c r="E4" t="b"><v>0</v></c></row>'
            f'<row r="5">{_is("A5", ops.number("HM"))}{_is("B5", "Bad Phone")}'
            f'<c r="C5" t="s"><v>3</v></c>{_is("D5", "Hawalli")}</row>')
    decoy = f'<row r="1">{_is("A1", "Sales Order")}{_is("B1", "Customer")}</row>' \
            f'<row r="2">{_is("A2", ops.number("DECOY"))}{_is("B2", "Decoy")}</row>'
    data = _handmade_xlsx(header + rows, decoy, shared=["Mobile", "اسم مشترك", "60012345", "12"])
    r = imp.mgr.import_file(data, filename="handmade.xlsx")
    assert r.status_code == 201, r.text
    body = assert_report(r.json(), rows_total=3, created=2, failed=1)
    assert [(e["row"], e["column"], e["field"]) for e in body["errors"]] == \
        [(5, "Mobile", "customer_phone")], body["errors"]
    oa = find_order(imp.mgr, a)
    assert oa is not None, "the first sheet in workbook order was not the one read"
    assert oa["customer_name"] == "Inline Name"
    assert oa["customer_phone"] == "+96550012344"  # a formula's cached number
    assert oa["amount"] == "3.500"
    assert set(oa["customer_info"]) == {"Gift"}
    ob = find_order(imp.mgr, b)
    assert ob is not None, "a formula's cached string was not read"
    assert ob["customer_name"] == "اسم مشترك" and ob["customer_phone"] == "+96560012345"
    assert oa["customer_info"]["Gift"] != ob["customer_info"]["Gift"]  # TRUE vs FALSE


def test_alias_setting_extends_the_defaults(ops, imp):
    a, b = ops.number("AL"), ops.number("AL")
    custom = [["Beleg Nr", "Kunde", "Handy", "Area"], [a, "Custom Headers", "55559871", "Salmiya"]]
    default = [["Sales Order", "Customer", "Mobile", "Area"], [b, "Default Headers", "55559872", "Salmiya"]]
    with ops.setting("import_column_aliases", {"order_number": ["Beleg Nr"],
                                               "customer_name": ["Kunde"],
                                               "customer_phone": ["Handy"]}):
        r = imp.mgr.import_file(xlsx_bytes(custom))
        assert r.status_code == 201, r.text
        assert_report(r.json(), created=1, failed=0)
        r = imp.mgr.import_file(xlsx_bytes(default))
        assert r.status_code == 201, r.text
        assert_report(r.json(), created=1, failed=0)
    assert find_order(imp.mgr, a)["customer_phone"] == "+96555559871"
    assert find_order(imp.mgr, b)["customer_name"] == "Default Headers"
    # an alias for a field that does not exist is refused
    r = ops.admin.put(V1 + "/settings/import_column_aliases", json={"value": {"shoe_size": ["Size"]}})
    assert_problem(r, 422, "validation_failed")


# --- workbooks as people save them (issue 22) ------------------------------------------

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")


def _chart_workbook(rows, keep_worksheet=True):
    """An openpyxl workbook whose first tab is a chart sheet (a bar chart of
    the worksheet's third column); without keep_worksheet the worksheet is
    removed, leaving only the chart sheet."""
    import openpyxl
    from openpyxl.chart import BarChart, Reference

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Orders"
    for row in rows:
        ws.append(row)
    cs = wb.create_chartsheet("Chart", 0)
    chart = BarChart()
    chart.add_data(Reference(ws, min_col=3, min_row=1, max_row=len(rows)), titles_from_data=True)
    cs.add_chart(chart)
    if not keep_worksheet:
        wb.remove(ws)
    out = io.BytesIO()
    wb.save(out)
    data = out.getvalue()
    wb_xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/workbook.xml").decode()
    tabs = re.findall(r'<sheet [^>]*name="([^"]+)"', wb_xml)
    assert tabs[0] == "Chart", tabs  # the chart is the first tab
    return data


def test_a_chart_sheet_first_still_imports_the_worksheets_rows(ops, imp):
    n1, n2 = ops.number("C"), ops.number("C")
    rows = [["Sales Order", "Customer", "Mobile", "Area"],
            [n1, "Chart First", "55551234", "Salmiya"],
            [n2, "Chart Second", "55551235", "Hawalli"]]
    r = imp.mgr.import_file(_chart_workbook(rows), filename="with-chart.xlsx")
    assert r.status_code == 201, r.text
    assert_report(r.json(), rows_total=2, created=2, failed=0)
    assert find_order(imp.mgr, n1)["customer_name"] == "Chart First"


def test_a_workbook_of_only_charts_is_422_no_worksheet(ops, imp, pg):
    rows = [["Sales Order", "Customer", "Amount"], [ops.number("C"), "X", 3]]
    data = _chart_workbook(rows, keep_worksheet=False)
    body = assert_problem(imp.mgr.import_file(data, filename="charts.xlsx"), 422,
                          "validation_failed")
    assert "the workbook has no worksheet, only charts" in body["detail"], body
    assert imports_with_sha(pg, sha256_hex(data)) == 0


@pytest.mark.parametrize("name,why", [
    # a valid Excel 97-2003 workbook whose code page freexl 1.0.6 lacks
    # (make_fixtures.py: make_xls_sheet_kinds)
    ("codepage_10001.xls", "could not be read here"),
    # Excel 5.0/95 (BIFF5) in a hand-written OLE2 container
    ("excel95.xls", "Excel 5.0/95 or older"),
])
def test_an_excel_file_this_reader_cannot_read_asks_for_xlsx(imp, pg, name, why):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        data = f.read()
    for raw in (False, True):
        body = assert_problem(imp.mgr.import_file(data, filename=name, mime=XLS_MIME, raw=raw),
                              422, "validation_failed")
        assert why in body["detail"], body
        assert "save it as .xlsx" in body["detail"], body
        assert "not an .xls file" not in body["detail"], body
    assert imports_with_sha(pg, sha256_hex(data)) == 0


def test_a_file_that_is_not_an_xls_is_still_called_so(imp):
    junk = os.urandom(4096)
    for data in (bytes.fromhex("D0CF11E0A1B11AE1") + junk,  # OLE2 signature, then noise
                 open(os.path.join(FIXTURES, "not_a_workbook.ole"), "rb").read()):
        body = assert_problem(imp.mgr.import_file(data, filename="orders.xls", mime=XLS_MIME),
                              422, "validation_failed")
        assert "not an .xls file" in body["detail"], body
        assert "save it as" not in body["detail"], body


def test_random_bytes_named_xls_are_not_an_xls_file(imp):
    """Binary bytes that are no workbook at all, uploaded as orders.xls: the
    answer names what the manager sent (an .xls that is not one), not the
    CSV reader's "binary data"; the same bytes under a .csv name are a CSV
    that is not one."""
    junk = bytes(range(256)) * 16
    body = assert_problem(imp.mgr.import_file(junk, filename="orders.xls", mime=XLS_MIME),
                          422, "validation_failed")
    assert "not an .xls file" in body["detail"], body
    body = assert_problem(imp.mgr.import_file(junk, filename="orders.xlsx", mime=XLS_MIME),
                          422, "validation_failed")
    assert ".xlsx" in body["detail"] and "not" in body["detail"], body
    body = assert_problem(imp.mgr.import_file(junk, filename="orders.csv", mime="text/csv"),
                          422, "validation_failed")
    assert "not an .xls file" not in body["detail"], body


# --- the order field rules, once (include/deliveryd/order_fields.h) ----------------

from helpers import order_body  # noqa: E402

def test_a_short_paci_number_is_a_row_error_and_the_good_rows_import(ops, imp):
    """A 3-digit PACI number is a row error naming paci_number (the rule of
    POST /orders: 6 to 12 digits), and the file's good rows still import. It
    used to pass the import's own check (digits, at most 12) and reach the
    column's CHECK, which failed the whole file."""
    good1, bad, good2 = ops.number("P"), ops.number("P"), ops.number("P")
    rows = [["Sales Order", "Customer", "Mobile", "Area", "PACI"],
            [good1, "Good One", "55551111", "Salmiya", "12345678"],
            [bad, "Short PACI", "55551112", "Salmiya", "123"],
            [good2, "Good Two", "55551113", "Hawally", None]]
    r = imp.mgr.import_file(xlsx_bytes(rows))
    assert r.status_code == 201, r.text
    body = assert_report(r.json(), rows_total=3, created=2, failed=1)
    assert [(e["row"], e["column"], e["field"]) for e in body["errors"]] == \
        [(3, "PACI", "paci_number")], body["errors"]
    assert find_order(imp.mgr, good1)["paci_number"] == "12345678"
    assert find_order(imp.mgr, good2)["paci_number"] is None
    assert find_order(imp.mgr, bad) is None


@pytest.mark.parametrize("paci", ["123", "12345", "12A45678"])
def test_an_invalid_paci_number_gets_the_same_answer_on_post_and_import(ops, imp, paci):
    """POST /orders and an import row answer the same invalid PACI number
    with the same field and the same message."""
    r = imp.mgr.post(V1 + "/orders", json=order_body(imp.wh["id"], order_number=ops.number("Q"),
                                                     paci_number=paci))
    body = assert_problem(r, 422, "validation_failed")
    assert [e["field"] for e in body["errors"]] == ["paci_number"], body
    api_message = body["errors"][0]["message"]
    num = ops.number("Q")
    rows = [["Sales Order", "Customer", "Mobile", "Area", "PACI"],
            [num, "Same Answer", "55551114", "Salmiya", paci]]
    r = imp.mgr.import_file(csv_bytes(rows), filename="paci.csv", mime=CSV_MIME, dry_run=True)
    assert r.status_code == 200, r.text
    body = assert_report(r.json(), rows_total=1, created=0, failed=1, dry_run=True)
    (e,) = body["errors"]
    assert (e["field"], e["message"]) == ("paci_number", api_message), e
