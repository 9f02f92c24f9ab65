"""Household list import (计生家庭名册) from XLSX/CSV with the roster's conventions.

One row per person; rows sharing a 户编号 form one household (the head's row carries its kind). Every bad
row is reported at once (row, column, reason); one bad row and nothing is written; a dry run writes
nothing either. Each household goes through ``services.register_household``, so the file meets exactly
the rules of the API; a household whose people are already registered together is left unchanged, so
the same file twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.crypto import IdCipher
from assoc_ledger.core.errors import DomainError, Problem
from assoc_ledger.core.tabular import Columns, open_sheet
from assoc_ledger.households.models import HouseholdMember
from assoc_ledger.households.rules import KIND_ZH, KindCode, Relation
from assoc_ledger.households.services import HOME_KINDS, KindSpec, register_household
from assoc_ledger.members.import_roster import cell_text, parse_date
from assoc_ledger.orgs.services import find_by_name_or_code
from assoc_ledger.people.rules import PersonDetails, check_person
from assoc_ledger.people.services import current_cipher, insert_people, registered

COLUMNS = Columns(
    aliases={"户编号": ("户号", "家庭编号"), "姓名": ("名字",), "身份证号": ("公民身份号码", "身份证号码"),
             "与户主关系": ("关系", "与户主的关系"), "所属组织": ("所属村", "村（社区）", "所属村（社区）"),
             "住址": ("地址", "家庭住址"), "登记日期": ("建档日期",), "家庭类别": ("类别",),
             "认定日期": ("发证日期",), "光荣证号": ("独生子女父母光荣证号", "证号"), "认定依据": ("依据",)},
    required=("户编号", "姓名", "身份证号", "与户主关系", "所属组织", "登记日期"),
    marks=("姓名", "身份证号"))
KIND_BY_TEXT = {**{k.value: k for k in KindCode}, **{v: k for k, v in KIND_ZH.items()},
                "二女结扎户": KindCode.two_daughter}
# Where a rule's field lands in the file.
FIELD_COLUMN = {"name": "姓名", "resident_id": "身份证号", "relation": "与户主关系", "org_id": "所属组织",
                "registered_on": "登记日期", "since": "认定日期", "certificate_no": "光荣证号", "kind": "家庭类别",
                "evidence": "认定依据", "child_id": "家庭类别", "person_id": "身份证号", "members": "与户主关系"}


@dataclass
class _Row:
    row: int
    person: PersonDetails
    relation: str


@dataclass
class _Household:
    key: str
    rows: list[_Row] = field(default_factory=list)
    org_id: int | None = None
    address: str | None = None
    registered_on: date | None = None
    kind: KindSpec | None = None
    kind_row: int | None = None


@dataclass
class Report:
    dry_run: bool
    committed: bool = False
    households: int = 0
    created: int = 0
    unchanged: int = 0
    errors: list[Problem] = field(default_factory=list)


def import_households(session: Session, scope: Scope, f: IO[bytes], *, dry_run: bool,
                      cipher: IdCipher | None = None) -> Report:
    cipher = cipher or current_cipher()
    report = Report(dry_run=dry_run)
    with open_sheet(f, COLUMNS) as sheet:
        groups = _read(session, scope, sheet.columns, sheet.rows, report)
    report.households = len(groups)
    if not report.errors:
        for household in groups.values():
            _write(session, scope, cipher, household, report)
    if report.errors or dry_run:
        session.rollback()
    else:
        session.commit()
        report.committed = True
    return report


def _read(session: Session, scope: Scope, columns: dict[str, int], rows: Iterator[tuple[int, Any]],
          report: Report) -> dict[str, _Household]:
    groups: dict[str, _Household] = {}
    orgs: dict[str, int | str] = {}  # cell text -> organisation id, or why not

    def cell(cells: Any, name: str) -> str:
        i = columns.get(name)
        return cell_text(cells[i]) if i is not None and i < len(cells) else ""

    for number, cells in rows:
        if not any(cell_text(c) for c in cells):
            continue
        bad = report.errors.append
        key = cell(cells, "户编号")
        if not key:
            bad(Problem("户编号", "必填", number))
            continue
        details, problems = check_person(cell(cells, "姓名"), cell(cells, "身份证号"))
        for p in problems:
            bad(Problem(FIELD_COLUMN.get(p.field, p.field), p.message, number))
        relation = cell(cells, "与户主关系")
        if relation not in {r.value for r in Relation}:
            bad(Problem("与户主关系", "应为 户主、配偶、子女、父母 或 其他", number))
        household = groups.setdefault(key, _Household(key))
        if details is not None:
            household.rows.append(_Row(number, details, relation))
        if relation != Relation.head:
            continue
        org_text = cell(cells, "所属组织")
        if org_text not in orgs:
            orgs[org_text] = _org(session, scope, org_text)
        found = orgs[org_text]
        if isinstance(found, str):
            bad(Problem("所属组织", found, number))
        else:
            household.org_id = found
        household.address = cell(cells, "住址") or None
        try:
            household.registered_on = parse_date(cells[columns["登记日期"]])
        except (ValueError, IndexError) as exc:
            bad(Problem("登记日期", str(exc), number))
        kind_text = cell(cells, "家庭类别")
        if kind_text:
            household.kind_row = number
            kind = KIND_BY_TEXT.get(kind_text)
            if kind is None:
                bad(Problem("家庭类别", "未知类别，可选：" + "、".join(KIND_ZH.values()), number))
                continue
            try:
                since = parse_date(cells[columns["认定日期"]]) if "认定日期" in columns else None
            except ValueError as exc:
                bad(Problem("认定日期", str(exc), number))
                continue
            if since is None:
                bad(Problem("认定日期", "填写家庭类别时必填", number))
                continue
            household.kind = KindSpec(kind.value, since, cell(cells, "认定依据") or None,
                                      cell(cells, "光荣证号") or None)
    for household in groups.values():
        heads = [r for r in household.rows if r.relation == Relation.head]
        if len(heads) != 1 and household.rows:
            report.errors.append(Problem("与户主关系", f"户编号 {household.key} 须有且只有一名户主",
                                         household.rows[0].row))
    return groups


def _org(session: Session, scope: Scope, text: str) -> int | str:
    try:
        org = find_by_name_or_code(session, text) if text else None
    except DomainError as exc:
        return exc.detail
    if org is None or not scope.contains(org.path):
        return "组织不存在或不在您的管理范围内"
    if org.kind not in HOME_KINDS:
        return "家庭应登记在村或社区"
    return org.id


def _write(session: Session, scope: Scope, cipher: IdCipher, household: _Household, report: Report) -> None:
    lookups = [cipher.lookup(r.person.resident_id.number) for r in household.rows]
    known = registered(session, lookups)
    homes = {m.person_id: m.household_id for m in session.scalars(
        select(HouseholdMember).where(HouseholdMember.person_id.in_([k.id for k in known.values()])))}
    if len(known) == len(lookups) and len({homes.get(k.id) for k in known.values()}) == 1 and \
            None not in {homes.get(k.id) for k in known.values()}:
        report.unchanged += 1  # already registered together: the same file again
        return
    assert household.org_id is not None and household.registered_on is not None  # checked in _read
    new = [(r.person, household.org_id) for r, h in zip(household.rows, lookups, strict=True) if h not in known]
    ids = {h: k.id for h, k in known.items()} | insert_people(session, cipher, new)
    members = [(ids[h], r.relation) for r, h in zip(household.rows, lookups, strict=True)]
    head_row = next(r.row for r in household.rows if r.relation == Relation.head)
    kinds: list[KindSpec] = []
    if household.kind is not None:
        child = [ids[h] for r, h in zip(household.rows, lookups, strict=True) if r.relation == Relation.child]
        kinds.append(KindSpec(household.kind.kind, household.kind.since, household.kind.evidence,
                              household.kind.certificate_no, child[0] if len(child) == 1 else None))
    try:
        with session.begin_nested():
            register_household(session, scope, org_id=household.org_id, address=household.address,
                               registered_on=household.registered_on, members=members, kinds=kinds)
    except DomainError as exc:
        for p in exc.problems or (Problem(exc.field or "", exc.detail),):
            row = _row_of(p.field, household, head_row)
            column = FIELD_COLUMN.get(p.field.rsplit(".", 1)[-1], p.field)
            report.errors.append(Problem(column, p.message, row))
        return
    report.created += 1


def _row_of(field_name: str, household: _Household, head_row: int) -> int:
    """members[i].x is the i-th row of the household; anything about its kinds is the head's row."""
    if field_name.startswith("members[") and "]" in field_name:
        i = int(field_name[len("members["):field_name.index("]")])
        return household.rows[i].row
    return household.kind_row or head_row if field_name.startswith("kinds[") else head_row
