"""Roster export (会员名册导出) to XLSX, with resident IDs and phones masked.

Columns use the import's Chinese headers so a secretary recognises the sheet; IDs come out as
110101********123X and phones as 138****5678 (an exported sheet cannot be re-imported as is,
on purpose: full numbers never leave the service in bulk). Rows are streamed from the database
in chunks into openpyxl's write-only workbook, so memory does not grow with the roster.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assoc_ledger.auth import audit
from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.personal import mask_id_parts, mask_phone
from assoc_ledger.members.import_roster import OrgDirectory
from assoc_ledger.members.models import (
    LEFT_REASON_ZH,
    MEMBER_ROLE_ZH,
    LeftReason,
    MemberGroup,
    MemberRole,
    Membership,
    RoleTerm,
)
from assoc_ledger.members.services import MemberFilter, member_query
from assoc_ledger.orgs.models import Organisation
from assoc_ledger.people.models import Person

EXPORT_HEADERS = ("姓名", "身份证号", "联系电话", "所属组织", "区划代码", "职务", "入会日期", "是否志愿者",
                  "志愿服务技能", "会员小组", "住址", "状态", "离会日期", "离会原因")
_WIDTHS = (10, 22, 16, 24, 15, 22, 12, 10, 20, 14, 36, 8, 12, 10)
CHUNK = 1000


def count_members(session: Session, scope: Scope, f: MemberFilter) -> int:
    stmt = member_query(session, scope, f)
    return session.scalar(select(func.count()).select_from(stmt.subquery())) or 0


def export_members(session: Session, scope: Scope, f: MemberFilter, out: IO[bytes],
                   progress: Callable[[int], None] | None = None) -> int:
    """Write the filtered roster to ``out`` as XLSX; returns the number of rows."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    stmt = (member_query(session, scope, f)
            .with_only_columns(Membership.id, Membership.org_id, Membership.group_id, Membership.joined_on,
                               Membership.left_on, Membership.left_reason, Membership.is_volunteer,
                               Membership.volunteer_skills, Person.name, Person.resident_id_region,
                               Person.resident_id_tail, Person.phone, Person.address)
            .order_by(Organisation.path, Person.name, Membership.id))
    orgs = OrgDirectory(session, scope)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("会员名册")
    ws.freeze_panes = "A2"
    for i, width in enumerate(_WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    bold = Font(bold=True)
    header = []
    for h in EXPORT_HEADERS:
        cell = WriteOnlyCell(ws, value=h)
        cell.font = bold
        header.append(cell)
    ws.append(header)

    group_names: dict[int, str] = {}
    count = 0
    for chunk in session.execute(stmt.execution_options(yield_per=CHUNK)).partitions():
        ids = [r.id for r in chunk]
        roles: dict[int, list[tuple[str, date | None]]] = {}
        for t in session.execute(select(RoleTerm.membership_id, RoleTerm.role, RoleTerm.end_on)
                                 .where(RoleTerm.membership_id.in_(ids)).order_by(RoleTerm.id)):
            roles.setdefault(t.membership_id, []).append((t.role, t.end_on))
        wanted = {r.group_id for r in chunk if r.group_id and r.group_id not in group_names}
        if wanted:
            for g in session.execute(select(MemberGroup.id, MemberGroup.name).where(MemberGroup.id.in_(wanted))):
                group_names[g.id] = g.name
        for r in chunk:
            ws.append(_row(r, roles.get(r.id, []), orgs, group_names))
        count += len(chunk)
        if progress:
            progress(len(chunk))
    wb.save(out)
    audit.note(session, "roster.export", "memberships", None, scope.paths[0] if len(scope.paths) == 1 else None,
               after={"rows": count, "filter": {k: v for k, v in f.__dict__.items() if v is not None}},
               note_text="导出会员名册（身份证号、电话已脱敏）")
    return count


def _row(r: Any, terms: list[tuple[str, date | None]], orgs: OrgDirectory, groups: dict[int, str]) -> list[Any]:
    # Current roles for members in office; for former members, the roles they held when they left.
    held = [MEMBER_ROLE_ZH[MemberRole(role)] for role, end in terms
            if end is None or (r.left_on is not None and end == r.left_on)]
    org = orgs.by_id.get(r.org_id)
    return [
        r.name, mask_id_parts(r.resident_id_region, r.resident_id_tail), mask_phone(r.phone), orgs.display(r.org_id),
        org.code if org else None, "、".join(dict.fromkeys(held)), r.joined_on, "是" if r.is_volunteer else "否",
        r.volunteer_skills, groups.get(r.group_id) if r.group_id else None, r.address,
        "在册" if r.left_on is None else "离会", r.left_on,
        LEFT_REASON_ZH[LeftReason(r.left_reason)] if r.left_reason else None,
    ]
