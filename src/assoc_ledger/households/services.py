"""Households: registration, events, facts as of a date, lists; everything through the caller's scope.

Every change is an event appended to ``household_events``; the current projection (members, kinds,
home organisation) is rebuilt from the fold of all events after each one, never edited by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, exists, or_, select
from sqlalchemy.orm import Session

from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.db import utcnow
from assoc_ledger.core.errors import Conflict, DomainError, Invalid, NotFound, Problem
from assoc_ledger.households.models import (
    Household,
    HouseholdEvent,
    HouseholdKind,
    HouseholdMember,
    HouseholdReview,
)
from assoc_ledger.households.rules import (
    Event,
    EventKind,
    Facts,
    KindCode,
    check_history,
    check_registration,
    check_timeline,
    fold,
    in_force,
    people_in,
)
from assoc_ledger.orgs.models import Organisation, OrgKind
from assoc_ledger.orgs.services import get_org
from assoc_ledger.people import services as people_services
from assoc_ledger.people.models import Person
from assoc_ledger.people.services import get_person

HOME_KINDS = frozenset({OrgKind.village.value, OrgKind.community.value})
PAGE_MAX = 200


@dataclass(frozen=True)
class KindSpec:
    """A kind claimed at registration; becomes its own event (certificate, hardship or kind_added)."""

    kind: str
    since: date
    evidence: str | None = None
    certificate_no: str | None = None
    child_id: int | None = None


def _home(session: Session, scope: Scope, org_id: int, field: str) -> Organisation:
    try:
        org = get_org(session, org_id, scope)
    except NotFound as exc:
        raise NotFound("组织不存在", field=field) from exc
    if org.kind not in HOME_KINDS:
        raise DomainError("家庭应登记在村或社区", field=field)
    if org.closed_on is not None:
        raise DomainError("该组织已撤销", field=field)
    return org


def _births(session: Session, person_ids: Iterable[int]) -> dict[int, date]:
    wanted = set(person_ids)
    if not wanted:
        return {}
    return {r.id: r.birth_date for r in session.execute(select(Person.id, Person.birth_date)
                                                         .where(Person.id.in_(wanted)))}


def _claimed_elsewhere(session: Session, scope: Scope, person_ids: Sequence[int], household_id: int | None,
                       field_of: dict[int, str]) -> None:
    """One household per person at a time: refuse with a pointer to the other household, if the caller may see it."""
    rows = session.execute(select(HouseholdMember.person_id, HouseholdMember.household_id, Organisation.path)
                           .join(Household, Household.id == HouseholdMember.household_id)
                           .join(Organisation, Organisation.id == Household.org_id)
                           .where(HouseholdMember.person_id.in_(person_ids))).all()
    clashes = [r for r in rows if r.household_id != household_id]
    if not clashes:
        return
    visible = [r.household_id for r in clashes if scope.contains(r.path)]
    problems = [Problem(field_of[r.person_id], "该人员已是另一户的成员，同一人同一时间只能属于一户") for r in clashes]
    raise Conflict(problems=problems, extra={"existing_household_ids": sorted(set(visible))} if visible else {})


def recorder(session: Session) -> tuple[int | None, str | None]:
    actor = session.info.get("actor")
    return getattr(actor, "user_id", None), getattr(actor, "username", None)


def event_value(row: HouseholdEvent) -> Event:
    return Event(kind=EventKind(row.kind), effective_on=row.effective_on, person_id=row.person_id,
                 data=row.data or {}, id=row.id, recorded_at=row.recorded_at)


def events_of(session: Session, household_id: int) -> list[HouseholdEvent]:
    return list(session.scalars(select(HouseholdEvent).where(HouseholdEvent.household_id == household_id)
                                .order_by(HouseholdEvent.effective_on, HouseholdEvent.id)))


def register_household(session: Session, scope: Scope, *, org_id: int, address: str | None, registered_on: date,
                       members: Sequence[tuple[int, str]], kinds: Sequence[KindSpec] = (),
                       today: date | None = None) -> Household:
    """登记：the household, its members and its kinds, each kind an event judged by the same rule as later ones."""
    today = today or date.today()
    org = _home(session, scope, org_id, "org_id")
    for i, (person_id, _) in enumerate(members):
        try:
            get_person(session, scope, person_id)
        except NotFound as exc:
            raise NotFound("人员不存在", field=f"members[{i}].person_id") from exc
    births = _births(session, [p for p, _ in members])
    problems = check_registration(list(members), births, registered_on, today)
    if problems:
        raise DomainError(problems=problems)
    _claimed_elsewhere(session, scope, [p for p, _ in members], None,
                       {p: f"members[{i}].person_id" for i, (p, _) in enumerate(members)})
    household = Household(org_id=org.id, address=address, registered_on=registered_on, active=True)
    session.add(household)
    session.flush()
    _append(session, household, Event(EventKind.registered, registered_on, data={
        "org_id": org.id, "address": address, "members": [{"person_id": p, "relation": r} for p, r in members]}))
    kind_problems: list[Problem] = []
    for i, spec in enumerate(kinds):
        try:
            record(session, household, _kind_event(spec), today=today, scope=scope)
        except DomainError as exc:
            renamed = {"date": "since", "household_kind": "kind"}
            kind_problems.extend(Problem(f"kinds[{i}].{renamed.get(p.field, p.field)}", p.message)
                                 for p in exc.problems)
    if kind_problems:
        raise DomainError(problems=kind_problems)
    return household


def _kind_event(spec: KindSpec) -> Event:
    extra = {"evidence": spec.evidence}
    if spec.kind == KindCode.only_child:
        return Event(EventKind.certificate_issued, spec.since,
                     data={**extra, "certificate_no": spec.certificate_no, "child_id": spec.child_id})
    if spec.kind == KindCode.hardship:
        return Event(EventKind.hardship_start, spec.since, data=extra)
    return Event(EventKind.kind_added, spec.since, data={**extra, "kind": spec.kind})


def get_household(session: Session, scope: Scope, household_id: int) -> Household:
    """404 for a household outside the caller's subtree, as for one that does not exist."""
    row = session.execute(select(Household, Organisation.path).join(Organisation, Organisation.id == Household.org_id)
                          .where(Household.id == household_id)).first()
    if row is None or not scope.contains(row.path):
        raise NotFound("家庭不存在", field="household_id")
    household: Household = row[0]
    return household


def record_event(session: Session, scope: Scope, household_id: int, event: Event,
                 today: date | None = None, review_id: int | None = None) -> HouseholdEvent:
    """An event from a user: people and organisations it names must be in scope too; it may close a review item."""
    household = get_household(session, scope, household_id)
    review = _open_review(session, household.id, review_id) if review_id is not None else None
    for name, pid in (("person_id", event.person_id), ("child_id", event.data.get("child_id"))):
        if isinstance(pid, int):
            try:
                get_person(session, scope, pid)
            except NotFound as exc:
                raise NotFound("人员不存在", field=name) from exc
    to_org = event.data.get("to_org_id")
    if isinstance(to_org, int):
        _home(session, scope, to_org, "to_org_id")
    row = record(session, household, event, today=today, scope=scope)
    if review is not None:
        _close(session, review, "recorded", event_id=row.id)
    return row


# What a visitor may flag on a household (走访发现的变化), each closed by recording the matching event.
CHANGES: dict[str, str] = {"birth": "子女出生", "death": "死亡", "moved": "迁移", "hardship_ended": "特困结束"}


def open_review(session: Session, household_id: int, change: str, note: str | None, visit_id: int | None,
                field: str = "change") -> HouseholdReview:
    if change not in CHANGES:
        raise Invalid("变化类型应为 " + "、".join(CHANGES), field=field)
    review = HouseholdReview(household_id=household_id, change=change, note=note, visit_id=visit_id,
                             opened_by=recorder(session)[1])
    session.add(review)
    session.flush()
    return review


def reviews_of(session: Session, scope: Scope, household_id: int, open_only: bool = True) -> list[HouseholdReview]:
    get_household(session, scope, household_id)
    stmt = select(HouseholdReview).where(HouseholdReview.household_id == household_id)
    if open_only:
        stmt = stmt.where(HouseholdReview.closed_at.is_(None))
    return list(session.scalars(stmt.order_by(HouseholdReview.id)))


def dismiss_review(session: Session, scope: Scope, household_id: int, review_id: int, reason: str) -> HouseholdReview:
    get_household(session, scope, household_id)
    review = _open_review(session, household_id, review_id)
    if not reason.strip():
        raise Invalid("须写明不予登记的理由", field="reason")
    _close(session, review, "dismissed", reason=reason.strip())
    return review


def _open_review(session: Session, household_id: int, review_id: int) -> HouseholdReview:
    review = session.get(HouseholdReview, review_id)
    if review is None or review.household_id != household_id:
        raise NotFound("待核实事项不存在", field="review_id")
    if review.closed_at is not None:
        raise Conflict("该事项已处理", field="review_id")
    return review


def _close(session: Session, review: HouseholdReview, resolution: str, *, event_id: int | None = None,
           reason: str | None = None) -> None:
    review.closed_at = utcnow()
    review.closed_by = recorder(session)[1]
    review.resolution = resolution
    review.event_id = event_id
    review.reason = reason
    session.flush()


def record(session: Session, household: Household, event: Event, today: date | None = None,
           scope: Scope | None = None, *, tell_person: bool = True) -> HouseholdEvent:
    """Judge the event at its place in the household's history, append it, rebuild the projection."""
    today = today or date.today()
    # One writer per household at a time (PostgreSQL; SQLite's write lock already serialises): the fold
    # below must see every event committed before this one, or the projection would miss it.
    session.execute(select(Household.id).where(Household.id == household.id).with_for_update())
    past = in_force(event_value(r) for r in events_of(session, household.id))
    births = _births(session, people_in([*past, event]))
    problems = check_timeline(past, event, births, today, household.registered_on)
    if problems:
        raise DomainError(problems=problems)
    if event.person_id is not None and event.kind in (EventKind.birth, EventKind.move_in):
        # Without a caller's scope (imports, the demo) the clash is refused without a pointer.
        _claimed_elsewhere(session, scope or Scope(perm=Scope.everything().perm), [event.person_id], household.id,
                           {event.person_id: "person_id"})
    row = _append(session, household, event)
    if tell_person and event.kind is EventKind.death and event.person_id is not None:
        # The person's own record (and the areas hooked to it, e.g. memberships ending) learns of it too.
        person = session.get(Person, event.person_id)
        if person is not None and person.died_on is None:
            people_services.record_death(session, person, event.effective_on)
    return row


# Not corrected here: a registration (re-register the household instead) and a death (the person's own
# record and their memberships heard of it through the people area, which keeps deaths final).
NOT_CORRECTABLE = frozenset({EventKind.registered, EventKind.correction, EventKind.death})


def correct_event(session: Session, scope: Scope, household_id: int, event_id: int, reason: str,
                  replacement: Event | None = None, today: date | None = None
                  ) -> tuple[HouseholdEvent, HouseholdEvent | None]:
    """更正: void a wrongly recorded event with a correcting event (the wrong one stays in the log), and record
    what was really true, if anything, in its place. The history without it must still hold together."""
    today = today or date.today()
    household = get_household(session, scope, household_id)
    session.execute(select(Household.id).where(Household.id == household.id).with_for_update())
    if not reason.strip():
        raise Invalid("须写明更正理由", field="reason")
    rows = events_of(session, household.id)
    target = next((r for r in rows if r.id == event_id), None)
    if target is None:
        raise NotFound("事件不存在", field="event_id")
    values = [event_value(r) for r in rows]
    standing = in_force(values)
    if all(e.id != event_id for e in standing):
        raise Conflict("该事件已被更正", field="event_id")
    if EventKind(target.kind) in NOT_CORRECTABLE:
        raise DomainError("登记与死亡事件不能在此更正" if target.kind != EventKind.correction else "更正不能再更正",
                          field="event_id")
    remaining = [e for e in standing if e.id != event_id]
    births = _births(session, people_in([*values, *([replacement] if replacement else [])]))
    if replacement is not None:
        for name, pid in (("person_id", replacement.person_id), ("child_id", replacement.data.get("child_id"))):
            if isinstance(pid, int):
                try:
                    get_person(session, scope, pid)
                except NotFound as exc:
                    raise NotFound("人员不存在", field=name) from exc
        problems = check_timeline(remaining, replacement, births, today, household.registered_on) or check_history(
            [*remaining, replace(replacement, id=max(e.id for e in values) + 1)], births, today,
            household.registered_on)
    else:
        problems = check_history(remaining, births, today, household.registered_on)
    if problems:
        raise DomainError(problems=problems)
    correction = _append(session, household, Event(EventKind.correction, target.effective_on,
                                                   data={"corrects": event_id, "reason": reason.strip()}))
    new = record(session, household, replacement, today=today, scope=scope) if replacement is not None else None
    return correction, new


def _death_in_household(session: Session, person: Person, died_on: date) -> None:
    """A death recorded on the person (people area) is also an event of their household, judged the same way."""
    household_id = session.scalar(select(HouseholdMember.household_id).where(HouseholdMember.person_id == person.id))
    if household_id is None:
        return
    already = session.scalar(select(HouseholdEvent.id).where(HouseholdEvent.household_id == household_id,
                                                             HouseholdEvent.person_id == person.id,
                                                             HouseholdEvent.kind == EventKind.death.value))
    if already is None:  # not None when the death came through this area: record() has appended it already
        household = session.get(Household, household_id)
        assert household is not None  # foreign key
        if not household.active:
            return  # the household has left the county: its log no longer follows its members
        # The people area is recording this death right now (and runs its other hooks itself).
        record(session, household, Event(EventKind.death, died_on, person.id), tell_person=False)


people_services.ON_DEATH.append(_death_in_household)


def _append(session: Session, household: Household, event: Event) -> HouseholdEvent:
    by_id, by_name = recorder(session)
    row = HouseholdEvent(household_id=household.id, kind=event.kind.value, effective_on=event.effective_on,
                         person_id=event.person_id, data={k: v for k, v in event.data.items() if v is not None},
                         recorded_by_id=by_id, recorded_by=by_name)
    session.add(row)
    session.flush()
    _project(session, household)
    return row


def _project(session: Session, household: Household) -> None:
    """The current projection from every event known now (none is dated after today)."""
    facts = fold(event_value(r) for r in events_of(session, household.id))
    household.org_id = facts.org_id or household.org_id
    household.address = facts.address
    household.active = facts.active
    # Core deletes run at once, before the inserts below: a member who stays never meets their own row.
    session.execute(delete(HouseholdMember).where(HouseholdMember.household_id == household.id))
    session.execute(delete(HouseholdKind).where(HouseholdKind.household_id == household.id))
    session.add_all([HouseholdMember(household_id=household.id, person_id=m.person_id, relation=m.relation.value,
                                     since=m.since) for m in facts.members])
    session.add_all([HouseholdKind(household_id=household.id, kind=k.kind.value, since=k.since)
                     for k in facts.kinds])
    session.flush()


def facts_of(session: Session, scope: Scope, household_id: int, on: date | None = None,
             known_at: datetime | None = None) -> Facts:
    """What was true on ``on``, as recorded by ``known_at`` (either may be None: no limit)."""
    get_household(session, scope, household_id)
    return fold((event_value(r) for r in events_of(session, household_id)), on=on, known_at=known_at)


def people_of(session: Session, person_ids: Iterable[int]) -> dict[int, Person]:
    wanted = set(person_ids)
    return {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(wanted)))} if wanted else {}


def list_households(session: Session, scope: Scope, *, kind: KindCode | None = None, under: int | None = None,
                    q: str | None = None, after: int | None = None, limit: int = 50) -> list[Household]:
    """Keyset pages by id: ``after`` is the last id of the previous page."""
    stmt = (select(Household).join(Organisation, Organisation.id == Household.org_id)
            .where(scope.clause(Organisation.path)))
    if under is not None:
        stmt = stmt.where(Organisation.path.startswith(get_org(session, under, scope).path, autoescape=True))
    if kind is not None:
        stmt = stmt.where(exists().where(HouseholdKind.household_id == Household.id, HouseholdKind.kind == kind.value))
    if q:
        text = q.strip()
        named = (select(HouseholdMember.id).join(Person, Person.id == HouseholdMember.person_id)
                 .where(HouseholdMember.household_id == Household.id,
                        or_(Person.name.contains(text, autoescape=True), Person.resident_id_tail == text.upper())))
        stmt = stmt.where(or_(Household.address.contains(text, autoescape=True), named.exists()))
    if after is not None:
        stmt = stmt.where(Household.id > after)
    return list(session.scalars(stmt.order_by(Household.id).limit(min(limit, PAGE_MAX))))


def kinds_of(session: Session, household_ids: Sequence[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {h: [] for h in household_ids}
    for r in session.execute(select(HouseholdKind.household_id, HouseholdKind.kind)
                             .where(HouseholdKind.household_id.in_(household_ids)).order_by(HouseholdKind.kind)):
        out[r.household_id].append(r.kind)
    return out


def event_from(event_kind: str, effective_on: date, person_id: int | None, **data: Any) -> Event:
    """An event value from request fields (``kind`` in ``data`` is the household kind of kind_added/removed)."""
    if event_kind == EventKind.registered:
        raise DomainError("登记通过新建家庭完成，不能作为事件补录", field="kind")
    if event_kind == EventKind.correction:
        raise DomainError("更正请通过 /api/households/{id}/events/{event_id}/correct 登记", field="kind")
    return Event(EventKind(event_kind), effective_on, person_id, {k: v for k, v in data.items() if v is not None})


__all__ = ["KindSpec", "correct_event", "event_from", "facts_of", "get_household", "kinds_of",
           "list_households", "people_of", "record_event", "register_household"]
