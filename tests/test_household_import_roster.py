"""Household import as secretaries' files come: a 1,000-row XLSX with a title row, header variants, Excel serial
dates and optional columns left out; one bad row writes nothing and is named; the fixed file imports once."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.households import services as hh
from assoc_ledger.households.import_households import EXCEL_EPOCH, import_households, roster_date
from assoc_ledger.households.models import Household, HouseholdEvent, HouseholdKind, HouseholdMember
from assoc_ledger.households.rules import KindCode
from assoc_ledger.people.models import Person
from tests import factories
from tests.conftest import Tree

ALL = Scope.everything(Perm.household_write)
# Spelled as secretaries spell them; no 住址 or 认定依据 column at all.
HEADER = ["户号", "成员姓名", "公民身份号码", "与户主的关系", "所属村（社区）", "建档日期", "家庭类型", "发证日期",
          "证号"]


def serial(d: date) -> int:
    return (d - EXCEL_EPOCH).days


def roster(tree: Tree, households: int, bad_at: int | None = None) -> tuple[bytes, int]:
    """Three rows a household (head, spouse, only child); returns the file and the sheet row of the bad cell.

    ``bad_at``: the household whose certificate is dated before its child's birth.
    """
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["演示县河口镇计生家庭名册（2025年）"])  # a title row above the header
    ws.append([])
    ws.append(HEADER)
    bad_row = 0
    for i in range(households):
        born = date(2005, 1, 1) + timedelta(days=i)
        head = factories.resident_id(date(1970, 1, 1) + timedelta(days=i))
        wife = factories.resident_id(date(1972, 1, 1) + timedelta(days=i))
        child = factories.resident_id(born)
        issued = born - timedelta(days=30) if i == bad_at else born + timedelta(days=200)
        on = born + timedelta(days=100)  # registered once the child was born
        registered = on if i % 2 else datetime(on.year, on.month, on.day)  # as Excel stores it
        # Half the dates are Excel serial numbers (a column formatted “常规”), half real dates.
        ws.append([f"HK{i:04d}", f"户主{i}", head, "户主", f"{tree.town_a.name}/{tree.village_a1.name}" if i % 3 else
                   tree.village_a1.name, serial(registered) if i % 2 else registered, "独生子女户",
                   serial(issued) if i % 2 else issued, f"皖光荣证{i:05d}"])
        if i == bad_at:
            bad_row = ws.max_row
        ws.append([None, f"妻{i}", wife, "妻子", None, None, None, None, None])  # a merged 户号 cell reads blank
        ws.append([f"HK{i:04d}", f"子{i}", child, "独子", None, None, None, None, None])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue(), bad_row


def count(db: Session, model: type) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def test_a_thousand_rows_with_one_bad_row_then_fixed_then_again(db: Session, tree: Tree) -> None:
    households = 334  # 1,002 rows
    bad, bad_row = roster(tree, households, bad_at=250)
    tables = (Household, HouseholdEvent, HouseholdMember, HouseholdKind, Person)
    before = {m: count(db, m) for m in tables}

    dry = import_households(db, ALL, io.BytesIO(bad), dry_run=True)
    assert dry.rows == households * 3 and dry.households == households
    assert {(e.row, e.field) for e in dry.errors} == {(bad_row, "认定日期")} and dry.error_rows == 1
    assert any("出生" in e.message for e in dry.errors)
    refused = import_households(db, ALL, io.BytesIO(bad), dry_run=False)
    assert not refused.committed and {(e.row, e.field) for e in refused.errors} == {(bad_row, "认定日期")}
    assert {m: count(db, m) for m in tables} == before  # nothing written

    good, _ = roster(tree, households)
    done = import_households(db, ALL, io.BytesIO(good), dry_run=False)
    assert done.errors == [] and done.committed and done.created == households
    assert count(db, Household) == before[Household] + households
    assert count(db, HouseholdMember) == before[HouseholdMember] + households * 3
    assert count(db, HouseholdKind) == before[HouseholdKind] + households
    # Dates read back whichever way the cell held them; the only child is the one 子女 row.
    first = hh.list_households(db, ALL, kind=KindCode.only_child, limit=2)
    for h in first:
        facts = hh.facts_of(db, ALL, h.id)
        cert = facts.kind(KindCode.only_child)
        assert cert is not None and facts.registered and h.registered_on.year in (2005, 2006)
        assert facts.member(cert.child_id or 0) is not None  # type: ignore[union-attr]
        assert len(facts.members) == 3

    after = {m: count(db, m) for m in tables}
    again = import_households(db, ALL, io.BytesIO(good), dry_run=False)
    assert again.created == 0 and again.unchanged == households and again.errors == []
    assert {m: count(db, m) for m in tables} == after


def test_conventions_and_whole_file_mistakes(db: Session, tree: Tree) -> None:
    rid = [factories.resident_id(date(1980, 1, 1 + i)) for i in range(6)]
    kid = factories.resident_id(date(2010, 5, 1))
    village = tree.village_a1.name
    text = ("户编号,姓名,身份证号,与户主关系,所属组织,登记日期,家庭类别,认定日期,认定依据\n"
            f"A,甲,{rid[0]},户主,{village},2009-01-01,,,\n"
            f"B,乙,{rid[1]},户主,{village},39814,特困家庭、二女户,2015年3月1日,民政低保证\n"  # 39814 = 2009-01-01
            f"A,丙,{rid[2]},配偶,,,,,\n"  # household A again after B: not contiguous
            f"C,丁,{rid[0]},户主,{village},2009-01-01,,,\n"  # the same person as row 2
            f"D,戊,{rid[3]},户主,{village},2009-01-01,特困家庭,2099-01-01,证明\n"  # recognised in the future
            f"E,己,{rid[4]},户主,{village},2009-01-01,独生子女户,2011-01-01,\n"  # two children: not an only child
            f"E,庚,{kid},子女,,,,,\n"
            f"E,辛,{factories.resident_id(date(2012, 1, 1))},子女,,,,,\n"
            f"F,{'长' * 3},{rid[5]},户主,{village},2009-01-01,特困家庭,2015-01-01,{'很长的依据' * 50}\n")
    report = import_households(db, ALL, io.BytesIO(text.encode("gb18030")), dry_run=True)
    assert {(e.row, e.field) for e in report.errors} == {
        (4, "户编号"), (5, "身份证号"), (6, "认定日期"), (7, "家庭类别"), (10, "认定依据")}
    assert "第2行" in next(e.message for e in report.errors if e.row == 5)
    assert count(db, Household) == 0
    assert roster_date(39814) == date(2009, 1, 1) == roster_date("39814") == roster_date("2009年1月1日")

    # A person already in another household is refused with a pointer to it (the caller can see it).
    ok = import_households(db, ALL, io.BytesIO(("户编号,姓名,身份证号,与户主关系,所属组织,登记日期\n"
                                                f"X,壬,{rid[5]},户主,{village},2009-01-01\n").encode()), dry_run=False)
    assert ok.committed and ok.created == 1
    existing = db.scalar(select(HouseholdMember.household_id))
    clash = import_households(db, ALL, io.BytesIO(("户编号,姓名,身份证号,与户主关系,所属组织,登记日期\n"
                                                   f"Y,癸,{rid[1]},户主,{village},2009-01-01\n"
                                                   f"Y,壬,{rid[5]},配偶,,\n").encode()), dry_run=False)
    assert [(e.row, e.field) for e in clash.errors] == [(3, "身份证号")]
    assert f"家庭编号 {existing}" in clash.errors[0].message
    assert count(db, Household) == 1
