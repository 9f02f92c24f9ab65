"""How roster cells are read: dates, roles, yes/no, and cells Excel mangles. Pure functions, no database."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from assoc_ledger.core.tabular import excel_serial_date, normalise_header, sniff
from assoc_ledger.members.import_roster import cell_text, parse_date, parse_roles, parse_yes_no
from assoc_ledger.members.models import MemberRole


@pytest.mark.parametrize("value", ["2020-01-05", "2020/1/5", "2020.01.05", "2020年1月5日", "20200105", 20200105,
                                   datetime(2020, 1, 5, 0, 0), date(2020, 1, 5), " 2020-1-5 "])
def test_dates_secretaries_type(value: object) -> None:
    assert parse_date(value) == date(2020, 1, 5)


@pytest.mark.parametrize("value", ["2023-02-30", "昨天", "2020-13-01", "5/1/2020", 43831.5, ""])
def test_bad_dates(value: object) -> None:
    with pytest.raises(ValueError, match="日期"):
        parse_date(value)


def test_roles_split_on_chinese_and_latin_separators() -> None:
    assert parse_roles("副会长、理事") == (MemberRole.vice_president, MemberRole.council_member)
    assert parse_roles("秘书长,理事，会员") == (MemberRole.secretary_general, MemberRole.council_member,
                                              MemberRole.member)
    assert parse_roles("") == (MemberRole.member,)
    assert parse_roles("理事、理事") == (MemberRole.council_member,)
    with pytest.raises(ValueError, match="未知职务“主任”"):
        parse_roles("会长、主任")


@pytest.mark.parametrize(("value", "expected"), [("是", True), ("Y", True), ("y", True), ("1", True), ("否", False),
                                                 ("N", False), ("0", False), ("", False)])
def test_yes_no(value: str, expected: bool) -> None:
    assert parse_yes_no(value) is expected


def test_yes_no_refuses_anything_else() -> None:
    with pytest.raises(ValueError, match="是"):
        parse_yes_no("也许")


def test_cells_excel_changed() -> None:
    assert cell_text(13912345678.0) == "13912345678"  # a phone typed into a number cell
    assert cell_text("\u3000王秀英 ") == "王秀英"  # full-width space
    assert cell_text(None) == ""
    assert cell_text(True) == "是"


def test_headers_and_sniffing() -> None:
    assert normalise_header(" *身份证号（必填） ") == "身份证号"
    assert normalise_header("姓 名") == "姓名"
    assert sniff(b"PK\x03\x04rest") == "xlsx"
    assert sniff("姓名,身份证号".encode("gb18030")) == "csv"


def test_damaged_files_are_refused_as_files_never_crash() -> None:
    """Truncated, bit-flipped and spliced XLSX/CSV: every one reads or is refused with a DomainError."""
    import io
    import random

    from assoc_ledger.core.errors import DomainError
    from assoc_ledger.members.roster_sheet import open_sheet
    from tests.roster_files import roster_rows, to_csv, to_xlsx, with_shared_strings

    rng = random.Random(1)
    xlsx = _timeless(with_shared_strings(to_xlsx(roster_rows(30, ["甲一村"]))))
    for base in (xlsx, to_csv(roster_rows(30, ["甲一村"]), "gb18030")):
        for i in range(300):
            b = bytearray(base)
            if i % 3 == 0:
                b = b[: rng.randrange(1, len(b))]
            elif i % 3 == 1:
                for _ in range(rng.randrange(1, 20)):
                    b[rng.randrange(len(b))] = rng.randrange(256)
            else:
                pos = rng.randrange(len(b))
                b[pos:pos] = bytes(rng.randrange(256) for _ in range(50))
            status = 200
            try:
                with open_sheet(io.BytesIO(bytes(b))) as sheet:
                    for _ in sheet.rows:
                        pass
            except DomainError as exc:
                status = exc.status_code
            assert status in (200, 400, 415)


def _timeless(xlsx: bytes) -> bytes:
    """The same bytes on every run (openpyxl stamps the save time), so the damage above is repeatable."""
    import io
    import re
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(xlsx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in sorted(src.infolist(), key=lambda i: i.filename):
            data = src.read(item.filename)
            if item.filename == "docProps/core.xml":
                data = re.sub(rb"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", b"2026-01-01T00:00:00Z", data)
            dst.writestr(zipfile.ZipInfo(item.filename, date_time=(2026, 1, 1, 0, 0, 0)), data,
                         compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


@pytest.mark.parametrize(("value", "expected"), [(45000, date(2023, 3, 15)), (45000.0, date(2023, 3, 15)),
                                                 ("45000", date(2023, 3, 15)), (" 43831 ", date(2020, 1, 1)),
                                                 (10000, date(1927, 5, 18)), (73050, date(2099, 12, 31))])
def test_excel_serial_numbers_are_dates(value: object, expected: date) -> None:
    assert excel_serial_date(value) == expected


@pytest.mark.parametrize("value", [2024, "2024", 20200105, "20200105", 43831.5, 9999, 73051, True, "4500a", None,
                                   date(2020, 1, 5)])
def test_other_cells_are_not_serial_dates(value: object) -> None:
    assert excel_serial_date(value) is None


def test_serial_numbers_on_the_mac_1904_calendar() -> None:
    assert excel_serial_date(45000, epoch_1904=True) == date(2027, 3, 16)
