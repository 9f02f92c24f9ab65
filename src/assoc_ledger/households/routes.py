"""HTTP routes for households (计生家庭); thin: validate, call the service, shape the answer."""

from __future__ import annotations

from datetime import date, datetime

from litestar import Controller, get, post
from litestar.params import Parameter
from sqlalchemy.orm import Session

from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.schemas import MAX_ID, Id, OptionalId
from assoc_ledger.households import services
from assoc_ledger.households.rules import Event, KindCode
from assoc_ledger.households.schemas import (
    CorrectionIn,
    CorrectionOut,
    DismissIn,
    EventIn,
    EventOut,
    HouseholdCreate,
    HouseholdDetail,
    HouseholdOut,
    HouseholdPage,
    ReviewOut,
)


class HouseholdController(Controller):
    path = "/api/households"
    tags = ["计生家庭 households"]  # noqa: RUF012

    @get("/", opt=requires(Perm.household_read), sync_to_thread=True)
    def list_households(self, db: Session, org_scope: Scope, kind: KindCode | None = None, under: OptionalId = None,
                        q: str | None = Parameter(default=None, max_length=50),
                        after: int | None = Parameter(default=None, ge=0, le=MAX_ID),
                        limit: int = Parameter(default=50, ge=1, le=services.PAGE_MAX)) -> HouseholdPage:
        rows = services.list_households(db, org_scope, kind=kind, under=under, q=q, after=after, limit=limit)
        kinds = services.kinds_of(db, [h.id for h in rows])
        return HouseholdPage(items=[HouseholdOut.of(h, kinds[h.id]) for h in rows], limit=limit,
                             next_after=rows[-1].id if len(rows) == limit else None)

    @post("/", opt=requires(Perm.household_write), sync_to_thread=True)
    def register(self, db: Session, org_scope: Scope, data: HouseholdCreate) -> HouseholdDetail:
        h = services.register_household(
            db, org_scope, org_id=data.org_id, address=data.address, registered_on=data.registered_on,
            members=[(m.person_id, m.relation.value) for m in data.members],
            kinds=[services.KindSpec(k.kind.value, k.since, k.evidence, k.certificate_no, k.child_id)
                   for k in data.kinds])
        return _detail(db, org_scope, h.id, None, None)

    @get("/{household_id:int}", opt=requires(Perm.household_read), sync_to_thread=True)
    def detail(self, db: Session, org_scope: Scope, household_id: Id,
               on: date | None = Parameter(default=None, description="按此日期的事实（YYYY-MM-DD）"),
               known_at: datetime | None = Parameter(default=None, description="只看此时刻前已登记的事件")
               ) -> HouseholdDetail:
        return _detail(db, org_scope, household_id, on, known_at)

    @post("/{household_id:int}/events", opt=requires(Perm.household_write), sync_to_thread=True)
    def record_event(self, db: Session, org_scope: Scope, household_id: Id, data: EventIn) -> EventOut:
        return EventOut.of(services.record_event(db, org_scope, household_id, _event(data),
                                                 review_id=data.review_id))

    @post("/{household_id:int}/events/{event_id:int}/correct", opt=requires(Perm.household_write),
          sync_to_thread=True)
    def correct_event(self, db: Session, org_scope: Scope, household_id: Id, event_id: Id,
                      data: CorrectionIn) -> CorrectionOut:
        """更正：以一条更正事件作废登记有误的事件（原事件保留），并可同时登记实际发生的事件。"""
        correction, replacement = services.correct_event(
            db, org_scope, household_id, event_id, data.reason,
            _event(data.replacement) if data.replacement is not None else None)
        return CorrectionOut(correction=EventOut.of(correction),
                             replacement=EventOut.of(replacement) if replacement is not None else None)

    @get("/{household_id:int}/reviews", opt=requires(Perm.household_read), sync_to_thread=True)
    def reviews(self, db: Session, org_scope: Scope, household_id: Id, include_closed: bool = False) -> list[ReviewOut]:
        """待核实事项：走访发现的变化，直到登记相应事件或注明理由不予登记。"""
        rows = services.reviews_of(db, org_scope, household_id, open_only=not include_closed)
        return [ReviewOut.of(r, services.CHANGES) for r in rows]

    @post("/{household_id:int}/reviews/{review_id:int}/dismiss", opt=requires(Perm.household_write),
          sync_to_thread=True)
    def dismiss(self, db: Session, org_scope: Scope, household_id: Id, review_id: Id, data: DismissIn) -> ReviewOut:
        review = services.dismiss_review(db, org_scope, household_id, review_id, data.reason)
        return ReviewOut.of(review, services.CHANGES)


def _event(data: EventIn) -> Event:
    return services.event_from(
        data.kind.value, data.date, data.person_id, relation=data.relation.value if data.relation else None,
        to_org_id=data.to_org_id, out_of_county=data.out_of_county, address=data.address,
        certificate_no=data.certificate_no, child_id=data.child_id,
        kind=data.household_kind.value if data.household_kind else None, evidence=data.evidence, note=data.note)


def _detail(db: Session, scope: Scope, household_id: int, on: date | None,
            known_at: datetime | None) -> HouseholdDetail:
    facts = services.facts_of(db, scope, household_id, on=on, known_at=known_at)
    history = [e for e in services.events_of(db, household_id) if known_at is None or e.recorded_at <= known_at]
    people = services.people_of(db, [m.person_id for m in facts.members])
    return HouseholdDetail.of(household_id, facts, people, history, on, known_at)


ROUTES = [HouseholdController]
