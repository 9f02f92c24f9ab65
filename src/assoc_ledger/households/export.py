"""Household list export (计生家庭名册) to XLSX: one row per current member, resident IDs masked.

Rows stream from the database in chunks into openpyxl's write-only workbook, so memory stays flat.
"""

from __future__ import annotations

from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from assoc_ledger.auth import audit
from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.personal import mask_id_parts
from assoc_ledger.households.models import Household, HouseholdKind, HouseholdMember
from assoc_ledger.households.rules import KIND_ZH, KindCode, Relation
from assoc_ledger.orgs.models import Organisation
from assoc_ledger.people.models import Person

EXPORT_HEADERS = ("户编号", "所属组织", "住址", "家庭类别", "姓名", "身份证号", "与户主关系", "出生日期", "死亡日期",
                  "登记日期")
CHUNK = 1000
# The head first, then the others in the order a household register lists them.
_RELATION_ORDER = {r.value: i for i, r in enumerate(Relation)}


def export_households(session: Session, scope: Scope, out: IO[bytes], under_path: str | None = None) -> int:
    """Write the current members of every household in scope to ``out``; returns the number of households."""
    from openpyxl import Workbook

    stmt = (select(Household.id, Household.address, Household.registered_on, Organisation.name.label("org"),
                   Person.name, Person.resident_id_region, Person.resident_id_tail, Person.birth_date,
                   Person.died_on, HouseholdMember.relation)
            .join(Organisation, Organisation.id == Household.org_id)
            .join(HouseholdMember, HouseholdMember.household_id == Household.id)
            .join(Person, Person.id == HouseholdMember.person_id)
            .where(scope.clause(Organisation.path)))
    if under_path is not None:
        stmt = stmt.where(Organisation.path.startswith(under_path, autoescape=True))
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("计生家庭名册")
    ws.append(list(EXPORT_HEADERS))
    households: set[int] = set()
    for chunk in session.execute(stmt.order_by(Household.id).execution_options(yield_per=CHUNK)).partitions():
        ids = sorted({r.id for r in chunk})
        kinds: dict[int, list[str]] = {}
        for k in session.execute(select(HouseholdKind.household_id, HouseholdKind.kind)
                                 .where(HouseholdKind.household_id.in_(ids)).order_by(HouseholdKind.kind)):
            kinds.setdefault(k.household_id, []).append(KIND_ZH[KindCode(k.kind)])
        for r in sorted(chunk, key=lambda r: (r.id, _RELATION_ORDER.get(r.relation, 99), r.name)):
            ws.append(_row(r, kinds.get(r.id, [])))
            households.add(r.id)
    wb.save(out)
    audit.note(session, "households.export", "households", None, scope.paths[0] if len(scope.paths) == 1 else None,
               after={"households": len(households)}, note_text="导出计生家庭名册（身份证号已脱敏）")
    return len(households)


def _row(r: Any, kinds: list[str]) -> list[Any]:
    return [r.id, r.org, r.address, "、".join(kinds), r.name, mask_id_parts(r.resident_id_region, r.resident_id_tail),
            r.relation, r.birth_date, r.died_on, r.registered_on]
