"""Roster files for tests, written for real: XLSX with openpyxl, CSV in UTF-8 or GB18030."""

from __future__ import annotations

import csv
import io
import random
import re
import zipfile
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from openpyxl import Workbook
from stdnum.cn import ric

HEADERS = ["姓名", "身份证号", "联系电话", "所属组织", "职务", "入会日期", "是否志愿者", "住址", "志愿服务技能",
           "会员小组"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "秀英桂兰玉华建国志强丽娟海燕春梅文军红霞明德"


def resident_id(region: str, born: date, seq: int, female: bool) -> str:
    seq = seq % 500 * 2 + (0 if female else 1)
    body = f"{region}{born:%Y%m%d}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


def roster_rows(n: int, orgs: Sequence[str], seed: int = 7, region: str = "341100") -> list[list[Any]]:
    """``n`` valid rows with unique IDs, spread over the given 所属组织 values."""
    rng = random.Random(seed)
    rows: list[list[Any]] = []
    used: set[str] = set()
    roles = ["会员", "会员", "会员", "理事", "小组长", "会长", "副会长、理事", "秘书长", "常务副会长"]
    while len(rows) < n:
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 50))
        female = rng.random() < 0.6
        rid = resident_id(region, born, rng.randrange(0, 500), female)
        if rid in used:
            continue
        used.add(rid)
        i = len(rows)
        start = max(born + timedelta(days=365 * 20), date(2000, 1, 1))
        joined = min(start + timedelta(days=rng.randrange(0, 3000)), date(2025, 12, 31))
        rows.append([
            rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN), rid, f"139{rng.randrange(10**8):08d}",
            orgs[i % len(orgs)], roles[i % len(roles)], joined.isoformat(),
            rng.choice(["是", "否", "Y", "N", "1", "0"]),
            f"第{i % 9 + 1}组{i}号", "家政服务" if i % 7 == 0 else "", f"第{i % 3 + 1}小组" if i % 5 == 0 else "",
        ])
    return rows


def to_xlsx(rows: list[list[Any]], headers: Sequence[str] = HEADERS) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("会员名册")
    ws.append(list(headers))
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def to_csv(rows: list[list[Any]], encoding: str, headers: Sequence[str] = HEADERS) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(headers)
    w.writerows(rows)
    return buf.getvalue().encode(encoding)


def encode(rows: list[list[Any]], fmt: str, headers: Sequence[str] = HEADERS) -> tuple[str, bytes]:
    """(filename, bytes) for fmt in xlsx | xlsx-shared | csv-utf8 | csv-gb18030."""
    if fmt == "xlsx":
        return "名册.xlsx", to_xlsx(rows, headers)
    if fmt == "xlsx-shared":
        return "名册.xlsx", with_shared_strings(to_xlsx(rows, headers))
    if fmt == "csv-utf8":
        return "名册.csv", to_csv(rows, "utf-8-sig", headers)
    return "名册.csv", to_csv(rows, "gb18030", headers)


_INLINE = re.compile(rb'<c r="([A-Z]+\d+)"([^>]*?) t="inlineStr"><is><t(?: [^>]*)?>(.*?)</t></is></c>', re.S)
_SST = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_SST_REL = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def with_shared_strings(xlsx: bytes) -> bytes:
    """Rewrite openpyxl's inline strings into a shared-string table, the way Excel itself saves text."""
    src = zipfile.ZipFile(io.BytesIO(xlsx))
    table: dict[bytes, int] = {}

    def shared(m: re.Match[bytes]) -> bytes:
        idx = table.setdefault(m.group(3), len(table))
        return b'<c r="' + m.group(1) + b'"' + m.group(2) + b' t="s"><v>' + str(idx).encode() + b"</v></c>"

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                data = _INLINE.sub(shared, data)
            elif item.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="'
                                    + _SST + b'"/></Types>')
            elif item.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", b'<Relationship Id="rIdSST" Type="' + _SST_REL
                                    + b'" Target="sharedStrings.xml"/></Relationships>')
            dst.writestr(item, data)
        sst = b"".join(b'<si><t xml:space="preserve">' + t + b"</t></si>" for t in table)
        dst.writestr("xl/sharedStrings.xml", b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                     b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="'
                     + str(len(table)).encode() + b'" uniqueCount="' + str(len(table)).encode() + b'">' + sst
                     + b"</sst>")
    return out.getvalue()
