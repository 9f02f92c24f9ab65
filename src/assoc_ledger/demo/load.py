"""Writes the demo county into the database, idempotently: what exists (by code, by ID) is left alone.

Organisations go through the org service (so each has its “created” history); members go
through the roster import pipeline (so they pass the same checks as a secretary's file);
a few leave, die or move chapter through the member services. Bulk steps run with the
per-row audit switched off and leave one summary note each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from assoc_ledger.auth import audit
from assoc_ledger.auth.scope import Perm, Role, Scope
from assoc_ledger.core.crypto import IdCipher
from assoc_ledger.demo.county import COUNTY_CODE, HistorySpec, MemberSpec, OrgSpec
from assoc_ledger.members import services as members
from assoc_ledger.members.import_roster import ImportReport, RosterImport, RosterRow
from assoc_ledger.members.models import LeftReason, Membership
from assoc_ledger.orgs.models import Organisation
from assoc_ledger.orgs.services import create_org
from assoc_ledger.people import services as people
from assoc_ledger.people.models import Person
from assoc_ledger.people.rules import check_person

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - documented, demo only


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    role: Role
    org_key: str


Progress = Callable[[int], None]


def load_orgs(session: Session, specs: list[OrgSpec], progress: Progress | None = None) -> dict[str, int]:
    """Create missing organisations; return key -> id for all of them."""
    everything = Scope.everything(Perm.org_write)
    ids: dict[str, int] = {}
    existing_codes = dict(session.execute(select(Organisation.code, Organisation.id)
                                          .where(Organisation.code.is_not(None))).tuples().all())
    created = 0
    was_off = session.info.get("audit_off")
    session.info["audit_off"] = True
    try:
        for spec in specs:
            parent_id = ids[spec.parent_key] if spec.parent_key else None
            found = existing_codes.get(spec.code) if spec.code else session.scalar(
                select(Organisation.id).where(Organisation.name == spec.name, Organisation.parent_id == parent_id))
            if found is None:
                org = create_org(session, everything, name=spec.name, kind=spec.kind, parent_id=parent_id,
                                 code=spec.code, population=spec.population,
                                 married_women_cba=spec.married_women_cba,
                                 constituted=spec.constituted_on is not None, constituted_on=spec.constituted_on)
                found = org.id
                created += 1
            ids[spec.key] = found
            if progress:
                progress(1)
        session.flush()  # the last org's history event too, while the per-row audit is off
    finally:
        if not was_off:
            session.info.pop("audit_off", None)
    if created:
        audit.note(session, "demo.orgs", "organisations", None, None, after={"created": created},
                   note_text="演示县：创建组织")
    return ids


def load_members(session: Session, ids: dict[str, int], people: Iterable[MemberSpec],
                 progress: Progress | None = None, cipher: IdCipher | None = None) -> ImportReport:
    """Members through the import pipeline; those already registered come back as unchanged."""

    def rows() -> Iterable[RosterRow]:
        for n, p in enumerate(people, start=2):
            details, problems = check_person(p.name, p.resident_id, p.phone, p.address)
            if details is None:
                raise RuntimeError(f"demo person {n} fails the person rules: {problems}")
            yield RosterRow(row=n, person=details, org_id=ids[p.org_key], joined_on=p.joined_on, roles=p.roles,
                            is_volunteer=p.is_volunteer, volunteer_skills=p.skills, group=p.group)

    job = RosterImport(session, Scope.everything(Perm.member_write), dry_run=False, progress=progress,
                       cipher=cipher)
    report = job.run_rows(rows())
    if report.error_rows:
        problems = "; ".join(f"{e.row}/{e.field}: {e.message}" for e in report.errors[:5])
        raise RuntimeError(f"demo data failed the roster checks: {problems}")
    report.created = report.would_create
    if report.created:
        audit.note(session, "roster.import", "roster_import", None, None, after=report.summary(),
                   note_text="演示县：导入会员")
    return report


def apply_history(session: Session, ids: dict[str, int], events: list[HistorySpec],
                  cipher: IdCipher | None = None) -> int:
    """Leave, die, move: only where the member is still in the chapter, so a second run does nothing."""
    scope = Scope.everything(Perm.member_write)
    cipher = cipher or people.current_cipher()
    done = 0
    for ev in events:
        m = session.scalar(select(Membership).join(Person, Person.id == Membership.person_id)
                           .where(Person.resident_id_hash == cipher.lookup(ev.resident_id),
                                  Membership.org_id == ids[ev.org_key], Membership.left_on.is_(None)))
        if m is None:
            continue
        if ev.reason is LeftReason.moved and ev.to_org_key:
            members.transfer(session, scope, m.id, ids[ev.to_org_key], ev.on)
        elif ev.reason is LeftReason.died:
            people.update_person(session, scope, m.person_id, died_on=ev.on)
        else:
            members.leave(session, scope, m.id, ev.on, ev.reason)
        done += 1
    return done


def demo_users(specs: list[OrgSpec]) -> list[DemoUser]:
    town = next(s for s in specs if s.name == "河口镇")
    village = next(s for s in specs if s.parent_key == town.key and s.name == "王庄村")
    return [
        DemoUser("admin", "演示管理员", Role.admin, COUNTY_CODE),
        DemoUser("county-secretary", "县计生协秘书长", Role.secretary, COUNTY_CODE),
        DemoUser("hekou-secretary", "河口镇计生协秘书长", Role.secretary, town.key),
        DemoUser("wangzhuang-secretary", "河口镇王庄村计生专干", Role.secretary, village.key),
        DemoUser("reviewer", "县计生协常务副会长（审核）", Role.reviewer, COUNTY_CODE),
        DemoUser("approver", "县计生协会长（审批）", Role.approver, COUNTY_CODE),
        DemoUser("auditor", "县财政审计", Role.auditor, COUNTY_CODE),
    ]


def load_users(session: Session, ids: dict[str, int], users: list[DemoUser]) -> int:
    from assoc_ledger.auth import services
    from assoc_ledger.auth.models import User

    created = 0
    for u in users:
        user = session.scalar(select(User).where(User.username == u.username))
        if user is None:
            user = services.create_user(session, u.username, DEMO_PASSWORD, display_name=u.display_name)
            created += 1
        services.grant_role(session, user, u.role, ids[u.org_key])
    return created
