"""Household list import: every bad row named (row, column), all or nothing; the fixed file imports once."""

from __future__ import annotations

import io
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.households.import_households import import_households
from assoc_ledger.households.models import Household, HouseholdKind
from assoc_ledger.people.models import Person
from tests import factories
from tests.conftest import Tree

ALL = Scope.everything(Perm.household_write)
HEADER = "户编号,姓名,身份证号,与户主关系,所属组织,住址,登记日期,家庭类别,认定日期,光荣证号\n"


def sheet(tree: Tree, n: int, bad_child_birth: bool = False) -> tuple[bytes, list[str]]:
    lines, numbers = [HEADER], []
    for i in range(n):
        head = factories.resident_id(date(1970, 1, 1 + i % 28))
        child_birth = date(1960, 1, 1) if bad_child_birth and i == n - 1 else date(2000, 1, 1 + i % 28)
        child = factories.resident_id(child_birth)
        numbers += [head, child]
        lines.append(f"H{i},户主{i},{head},户主,{tree.village_a1.name},{i}号,2001-01-01,独生子女户,2002-01-01,C-{i}\n")
        lines.append(f"H{i},子女{i},{child},子女,,,,,,\n")
    return "".join(lines).encode("utf-8"), numbers


def count(db: Session, table: type) -> int:
    return db.scalar(select(func.count()).select_from(table)) or 0


def test_one_bad_row_writes_nothing_then_the_fixed_file_imports_once(db: Session, tree: Tree) -> None:
    people_before = count(db, Person)
    bad, _ = sheet(tree, 50, bad_child_birth=True)
    report = import_households(db, ALL, io.BytesIO(bad), dry_run=False)
    assert not report.committed
    # The child older than the head: named on its own row (header is row 1, households take two rows each).
    assert [(e.row, e.field) for e in report.errors] == [(101, "身份证号")]
    assert count(db, Household) == 0 and count(db, Person) == people_before

    good, _ = sheet(tree, 50)
    dry = import_households(db, ALL, io.BytesIO(good), dry_run=True)
    assert dry.errors == [] and dry.created == 50 and not dry.committed
    assert count(db, Household) == 0
    done = import_households(db, ALL, io.BytesIO(good), dry_run=False)
    assert done.committed and done.created == 50 and done.errors == []
    assert count(db, Household) == 50 and count(db, HouseholdKind) == 50
    again = import_households(db, ALL, io.BytesIO(good), dry_run=False)
    assert again.created == 0 and again.unchanged == 50
    assert count(db, Household) == 50 and count(db, Person) == people_before + 100


def test_every_bad_row_is_reported_at_once(db: Session, tree: Tree) -> None:
    rid = factories.resident_id(date(1980, 1, 1))
    text = (HEADER
            + f"A,张三,{rid},户主,没有这个村,,2001-01-01,,,\n"
            + "A,李四,123,配偶,,,,,,\n"
            + f"B,王五,{factories.resident_id(date(1981, 1, 1))},户主,{tree.village_a1.name},,2001-13-01,外星户,,\n"
            + f"C,赵六,{factories.resident_id(date(1982, 1, 1))},叔叔,{tree.village_a1.name},,2001-01-01,,,\n")
    report = import_households(db, ALL, io.BytesIO(text.encode("utf-8")), dry_run=True)
    assert {(e.row, e.field) for e in report.errors} == {
        (2, "所属组织"), (3, "身份证号"), (4, "登记日期"), (4, "家庭类别"), (5, "与户主关系")}
    assert count(db, Household) == 0
