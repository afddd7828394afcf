#!/usr/bin/python3
"""Writes d365-sales-orders.xlsx from d365-sales-orders.csv (beside this file).

    /usr/bin/python3 docs/examples/make_example.py

The workbook looks like a Dynamics 365 "Export to Excel" of sales orders: one
sheet, a bold header row, and cells typed as Excel types them - phone numbers,
blocks and amounts as numbers, the delivery date as a date-time - so that it
exercises what the importer does with numeric and date cells (a phone stored
as the number 50012345, a block as 10 rather than "10"). The output is
byte-for-byte reproducible (fixed document dates and zip timestamps), so
uploading it twice shows the duplicate-upload answer.

Needs openpyxl (Debian: python3-openpyxl, installed by scripts/deps).
"""
import csv
import datetime
import io
import os
import re
import zipfile

from openpyxl import Workbook
from openpyxl.styles import Font

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "d365-sales-orders.csv")
TARGET = os.path.join(HERE, "d365-sales-orders.xlsx")
FIXED = datetime.datetime(2026, 1, 1, 0, 0, 0)

# Columns Excel would hold as numbers when they contain only digits.
NUMERIC = {"Mobile", "Block", "House", "Floor", "Flat", "Jaddah"}


def typed(header, text):
    """The CSV text as the cell value Excel would have."""
    if text == "":
        return None
    if header in NUMERIC and re.fullmatch(r"[0-9]+", text):
        return int(text)
    if header == "Total":
        return float(text)
    if header == "Delivery date":
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return datetime.datetime.strptime(text, "%Y-%m-%d").date()
        return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M")
    return text


def build():
    with open(SOURCE, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    header, data = rows[0], rows[1:]

    wb = Workbook()
    ws = wb.active
    ws.title = "Sales orders"
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in data:
        ws.append([typed(h, v) for h, v in zip(header, row)])
    for col, name in enumerate(header, start=1):
        letter = ws.cell(row=1, column=col).column_letter
        ws.column_dimensions[letter].width = max(10, len(name) + 2)
        for cell in ws[letter][1:]:
            if name == "Delivery date" and isinstance(cell.value, datetime.datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif name == "Total" and cell.value is not None:
                cell.number_format = "0.000"
    ws.freeze_panes = "A2"

    wb.properties.creator = "deliveryd docs/examples/make_example.py"
    wb.properties.created = FIXED
    wb.properties.modified = FIXED
    raw = io.BytesIO()
    wb.save(raw)

    # Same entries, fixed timestamps: reproducible bytes.
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    with open(TARGET, "wb") as f:
        f.write(out.getvalue())
    print("wrote %s (%d data rows)" % (os.path.relpath(TARGET), len(data)))


if __name__ == "__main__":
    build()
