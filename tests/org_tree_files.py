"""A small realistic county's organisation tree as a secretary would type it, in XLSX (openpyxl) or CSV bytes."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from openpyxl import Workbook

HEADERS = ("名称", "区划代码", "上级", "类型")
# The spellings of a sheet exported from another system: every column under another name.
VARIANT_HEADERS = ("组织名称", "统计用区划代码", "上级组织", "组织类型")
COUNTY_CODE = "341799000000"

# 1 county, 2 towns, 1 township, 1 street office; villages and communities under them; an
# enterprise chapter and a migrants' chapter (“两个延伸”). Villages come first (parents after their
# children), 上级 is sometimes a code and sometimes a name, and 王庄村 exists in two places.
COUNTY_TREE: list[tuple[str, str, str, str]] = [
    ("东关村", "341799100201", "城关镇", "村"),
    ("西关村", "341799100202", "341799100000", "行政村"),
    ("王庄村", "341799101201", "341799101000", "村"),
    ("李庄村", "341799101202", "河口镇", "村"),
    ("王庄村", "341799200201", "341799200000", "村"),
    ("柳林村", "341799200202", "柳林乡", "村"),
    ("东风社区", "341799001001", "城东街道", "社区"),
    ("建设社区", "341799001002", "城东街道", "居委会"),
    ("清河县计生协", COUNTY_CODE, "", "县"),
    ("城关镇", "341799100000", COUNTY_CODE, "镇"),
    ("河口镇", "341799101000", COUNTY_CODE, "镇"),
    ("柳林乡", "341799200000", "清河县计生协", "乡"),
    ("城东街道", "341799001000", COUNTY_CODE, "街道办事处"),
    ("清河纺织有限公司计生协", "", COUNTY_CODE, "企业"),
    ("城东流动人口计生协", "", "城东街道", "流动人口"),
]
BOOK_KINDS_IN_TREE = 5  # the county, two towns, the township and the street keep fund books


def tree_xlsx(rows: Sequence[Sequence[str]], headers: Sequence[str] = HEADERS, title: str | None = None) -> bytes:
    """An XLSX workbook; ``title`` adds the banner row secretaries put above the header."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "组织架构"
    if title:
        ws.append([title])
    ws.append(list(headers))
    for r in rows:
        ws.append(list(r))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def tree_csv(rows: Sequence[Sequence[str]], encoding: str = "utf-8", headers: Sequence[str] = HEADERS) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(headers)
    w.writerows(rows)
    return buf.getvalue().encode(encoding)
