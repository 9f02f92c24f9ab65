"""A report as CSV (UTF-8 with BOM, so Excel opens it) or XLSX (openpyxl, amounts as numbers with two places)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from assoc_ledger.reports.queries import Report, cell_text

XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def to_csv(report: Report, *, period: str = "") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([report.title, period])
    writer.writerow([*report.columns, "明细"])
    for row in report.rows:
        writer.writerow([*(cell_text(c) for c in row.cells), row.drill.url if row.drill else ""])
    for note in report.notes:
        writer.writerow([note])
    return ("\ufeff" + out.getvalue()).encode()


def to_xlsx(report: Report, *, period: str = "") -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = report.title[:31]
    ws.append([report.title, period])
    ws.append([*report.columns, "明细"])
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for row in report.rows:
        values: list[object] = []
        for c in row.cells:
            values.append(c if isinstance(c, Decimal | int) or c is None else str(c))
        ws.append([*values, row.drill.url if row.drill else ""])
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, Decimal):
                cell.number_format = "#,##0.00"
            if row.total:
                cell.font = Font(bold=True)
    for note in report.notes:
        ws.append([note])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
