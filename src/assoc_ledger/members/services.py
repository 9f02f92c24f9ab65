"""Membership: joining, roles, volunteers, leaving and moving chapter. People themselves live in ``people``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, exists, func, or_, select, tuple_
from sqlalchemy.orm import Session

from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.errors import Conflict, DomainError, NotFound
from assoc_ledger.members.admission import Spell, join_date_problems, spell_problems
from assoc_ledger.members.models import (
    LeftReason,
    MemberGroup,
    MemberRole,
    Membership,
    RoleTerm,
)
from assoc_ledger.orgs.models import Organisation
from assoc_ledger.orgs.services import get_org
from assoc_ledger.people import services as people
from assoc_ledger.people.models import Person


def _org_path(session: Session, org_id: int) -> str:
    org = session.get(Organisation, org_id)
    return org.path if org else ""


def _visible_as_member(session: Session, scope: Scope, person_id: int) -> bool:
    """A member of a chapter in scope is visible to that chapter, wherever they live."""
    return bool(session.scalar(
        select(exists().where(Membership.person_id == person_id, Membership.org_id == Organisation.id,
                              scope.clause(Organisation.path)))
    ))


def _end_spells_on_death(session: Session, person: Person, died_on: date) -> None:
    """A recorded death ends the person's open memberships; it cannot precede one of them."""
    open_spells = list(session.scalars(select(Membership).where(Membership.person_id == person.id,
                                                                Membership.left_on.is_(None))))
    if any(died_on < m.joined_on for m in open_spells):
        raise DomainError("死亡日期早于入会日期", field="died_on")
    for m in open_spells:
        _end_membership(m, died_on, LeftReason.died)


people.VISIBLE_THROUGH.append(_visible_as_member)
people.ON_DEATH.append(_end_spells_on_death)


def spells_of(session: Session, person_ids: list[int]) -> dict[int, list[Spell]]:
    """Every membership of these people, as plain values for the admission rule."""
    out: dict[int, list[Spell]] = {}
    if person_ids:
        for m in session.execute(select(Membership.person_id, Membership.org_id, Membership.joined_on,
                                        Membership.left_on).where(Membership.person_id.in_(person_ids))):
            out.setdefault(m.person_id, []).append(Spell(m.org_id, m.joined_on, m.left_on))
    return out


def _active_membership(session: Session, person_id: int) -> Membership | None:
    return session.scalar(select(Membership).where(Membership.person_id == person_id,
                                                   Membership.left_on.is_(None)))


def join(session: Session, scope: Scope, *, person_id: int, org_id: int, joined_on: date,
         roles: list[MemberRole] | None = None, is_volunteer: bool = False,
         volunteer_skills: str | None = None, group_id: int | None = None) -> Membership:
    person = people.get_person(session, scope, person_id)
    org = get_org(session, org_id, scope)
    if org.closed_on is not None:
        raise DomainError("该组织已撤销，不能入会", field="org_id")
    dates = join_date_problems(person.birth_date, joined_on, date.today())
    if dates:
        raise DomainError(problems=dates)
    refused = spell_problems(person.died_on, org.id, joined_on, spells_of(session, [person.id]).get(person.id, []))
    if refused.rules:
        raise DomainError(problems=refused.rules)
    if refused.clashes:
        current = _active_membership(session, person.id)
        here = current is not None and current.org_id == org.id
        raise Conflict(problems=refused.clashes,
                       extra={"existing_membership_id": current.id} if here and current else {})
    if group_id is not None:
        _check_group(session, group_id, org.id)
    m = Membership(person_id=person.id, org_id=org.id, joined_on=joined_on, is_volunteer=is_volunteer,
                   volunteer_skills=volunteer_skills, group_id=group_id)
    session.add(m)
    session.flush()
    for role in roles or [MemberRole.member]:
        session.add(RoleTerm(membership_id=m.id, role=role.value, start_on=joined_on))
    session.flush()
    session.refresh(m)
    return m


def _check_group(session: Session, group_id: int, org_id: int) -> None:
    group = session.get(MemberGroup, group_id)
    if group is None or group.org_id != org_id:
        raise NotFound("会员小组不存在", field="group_id")


def get_membership(session: Session, scope: Scope, membership_id: int) -> Membership:
    m = session.get(Membership, membership_id)
    if m is None or not scope.contains(_org_path(session, m.org_id)):
        raise NotFound("会员记录不存在", field="membership_id")
    return m


def _end_membership(m: Membership, on: date, reason: LeftReason) -> None:
    m.left_on = on
    m.left_reason = reason.value
    for term in m.roles:
        if term.end_on is None:
            term.end_on = on


def leave(session: Session, scope: Scope, membership_id: int, left_on: date, reason: LeftReason) -> Membership:
    m = get_membership(session, scope, membership_id)
    if m.left_on is not None:
        raise Conflict("该会员已离会", field="membership_id")
    if left_on < m.joined_on:
        raise DomainError("离会日期早于入会日期", field="left_on")
    _end_membership(m, left_on, reason)
    if reason is LeftReason.died:
        person = session.get(Person, m.person_id)
        if person is not None and person.died_on is None:
            person.died_on = left_on
    session.flush()
    return m


def transfer(session: Session, scope: Scope, membership_id: int, to_org_id: int, on: date) -> Membership:
    """Move a member to another chapter: the old spell ends (moved), a new one starts; history stays."""
    m = get_membership(session, scope, membership_id)
    if m.left_on is not None:
        raise Conflict("该会员已离会", field="membership_id")
    target = get_org(session, to_org_id, scope)
    if target.id == m.org_id:
        raise DomainError("转入组织与当前组织相同", field="to_org_id")
    if on < m.joined_on:
        raise DomainError("转会日期早于入会日期", field="on")
    roles = [MemberRole(t.role) for t in m.roles if t.end_on is None and t.role == MemberRole.member.value]
    _end_membership(m, on, LeftReason.moved)
    session.flush()
    return join(session, scope, person_id=m.person_id, org_id=target.id, joined_on=on,
                roles=roles or [MemberRole.member], is_volunteer=m.is_volunteer,
                volunteer_skills=m.volunteer_skills)


def assign_role(session: Session, scope: Scope, membership_id: int, role: MemberRole, start_on: date) -> RoleTerm:
    m = get_membership(session, scope, membership_id)
    if m.left_on is not None:
        raise DomainError("已离会人员不能任职", field="membership_id")
    if start_on < m.joined_on:
        raise DomainError("任职日期早于入会日期", field="start_on")
    if any(t.role == role.value and t.end_on is None for t in m.roles):
        raise Conflict("已担任该职务", field="role")
    term = RoleTerm(membership_id=m.id, role=role.value, start_on=start_on)
    session.add(term)
    session.flush()
    return term


def end_role(session: Session, scope: Scope, membership_id: int, term_id: int, end_on: date) -> RoleTerm:
    m = get_membership(session, scope, membership_id)
    term = session.get(RoleTerm, term_id)
    if term is None or term.membership_id != m.id:
        raise NotFound("任职记录不存在", field="term_id")
    if term.end_on is not None:
        raise Conflict("该任职已结束", field="term_id")
    if end_on < term.start_on:
        raise DomainError("结束日期早于开始日期", field="end_on")
    term.end_on = end_on
    session.flush()
    return term


def set_volunteer(session: Session, scope: Scope, membership_id: int, is_volunteer: bool,
                  skills: str | None) -> Membership:
    m = get_membership(session, scope, membership_id)
    m.is_volunteer = is_volunteer
    m.volunteer_skills = skills
    session.flush()
    return m


def create_group(session: Session, scope: Scope, org_id: int, name: str) -> MemberGroup:
    org = get_org(session, org_id, scope)
    if session.scalar(select(MemberGroup.id).where(MemberGroup.org_id == org.id, MemberGroup.name == name)):
        raise Conflict("同名会员小组已存在", field="name")
    group = MemberGroup(org_id=org.id, name=name.strip())
    session.add(group)
    session.flush()
    return group


def list_groups(session: Session, scope: Scope, org_id: int) -> list[MemberGroup]:
    get_org(session, org_id, scope)
    return list(session.scalars(select(MemberGroup).where(MemberGroup.org_id == org_id)
                                .order_by(MemberGroup.name)))


@dataclass
class MemberFilter:
    under: int | None = None
    role: MemberRole | None = None
    status: str = "active"  # active | left | all
    volunteer: bool | None = None
    q: str | None = None
    group_id: int | None = None


def member_query(session: Session, scope: Scope, f: MemberFilter) -> Select[Membership]:
    """Memberships matching the filter inside the scope (joined to Organisation and Person)."""
    stmt = (select(Membership).join(Organisation, Organisation.id == Membership.org_id)
            .join(Person, Person.id == Membership.person_id)
            .where(scope.clause(Organisation.path)))
    if f.under is not None:
        root = get_org(session, f.under, scope)
        stmt = stmt.where(Organisation.path.startswith(root.path, autoescape=True))
    if f.status == "active":
        stmt = stmt.where(Membership.left_on.is_(None))
    elif f.status == "left":
        stmt = stmt.where(Membership.left_on.is_not(None))
    if f.volunteer is not None:
        stmt = stmt.where(Membership.is_volunteer.is_(f.volunteer))
    if f.group_id is not None:
        stmt = stmt.where(Membership.group_id == f.group_id)
    if f.role is not None:
        stmt = stmt.where(exists().where(RoleTerm.membership_id == Membership.id,
                                         RoleTerm.role == f.role.value, RoleTerm.end_on.is_(None)))
    if f.q:
        q = f.q.strip().upper()
        conds = [Person.name.contains(q, autoescape=True)]
        if 1 <= len(q) <= 4 and all(c.isdigit() or c == "X" for c in q):
            conds.append(Person.resident_id_tail.endswith(q, autoescape=True))
        stmt = stmt.where(or_(*conds))
    return stmt


def list_members(session: Session, scope: Scope, f: MemberFilter, limit: int = 50,
                 offset: int = 0) -> tuple[list[Membership], int]:
    page = member_page(session, scope, f, limit=limit, offset=offset)
    return page.rows, page.total


@dataclass(frozen=True)
class MemberPage:
    rows: list[Membership]
    total: int
    offset: int | None  # None when reached by a cursor
    next: int | None  # membership id to pass as ``after``
    prev: int | None  # membership id to pass as ``before``


def member_page(session: Session, scope: Scope, f: MemberFilter, *, limit: int = 50, offset: int = 0,
                after: int | None = None, before: int | None = None, last: bool = False) -> MemberPage:
    """A page of the roster in (organisation, name, id) order, by offset or by keyset.

    A cursor is a membership id on the previous page; the page after (or before) it starts at that
    row's place in the order, so no row before it is read and skipped as an offset would.
    """
    stmt = member_query(session, scope, f)
    key = tuple_(Organisation.path, Person.name, Membership.id)
    backwards = last or before is not None
    for cursor, newer in ((after, True), (before, False)):
        if cursor is not None:
            place = session.execute(select(Organisation.path, Person.name, Membership.id)
                                    .join(Organisation, Organisation.id == Membership.org_id)
                                    .join(Person, Person.id == Membership.person_id)
                                    .where(Membership.id == cursor)).first()
            if place is None:
                raise NotFound("游标所指的会员记录不存在", field="after" if newer else "before")
            stmt = stmt.where(key > tuple_(*place) if newer else key < tuple_(*place))
    order = ((Organisation.path.desc(), Person.name.desc(), Membership.id.desc()) if backwards
             else (Organisation.path, Person.name, Membership.id))
    paged = stmt.order_by(*order).limit(limit + 1)
    if not (backwards or after is not None):
        paged = paged.offset(offset)
    rows = list(session.scalars(paged).unique().all())
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    total = session.scalar(select(func.count()).select_from(member_query(session, scope, f).subquery())) or 0
    first, final = (rows[0].id, rows[-1].id) if rows else (None, None)
    if backwards:
        return MemberPage(rows, total, max(total - len(rows), 0) if last else None,
                          final if before is not None else None, first if more else None)
    return MemberPage(rows, total, None if after is not None else offset, final if more else None,
                      first if after is not None or offset else None)


def person_history(session: Session, scope: Scope, person_id: int) -> list[Membership]:
    person = people.get_person(session, scope, person_id)
    return list(session.scalars(select(Membership).where(Membership.person_id == person.id)
                                .order_by(Membership.joined_on, Membership.id)))


def active_roles(m: Membership) -> list[MemberRole]:
    return [MemberRole(t.role) for t in m.roles if t.end_on is None]

