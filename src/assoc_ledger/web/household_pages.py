"""计生家庭: the households in scope and one household's page with its history (every recorded event, the
kinds it holds, its members, open review items and its relief cases). Reads only; the writes are the
household API and the import page.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.params import Parameter
from litestar.response import Template
from sqlalchemy.orm import Session

from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm, Principal, Scope
from assoc_ledger.core.money import from_fen
from assoc_ledger.core.personal import mask_phone
from assoc_ledger.core.schemas import Id
from assoc_ledger.households import services as households
from assoc_ledger.households.rules import EVENT_ZH, KIND_ZH, KindCode
from assoc_ledger.members import services as members
from assoc_ledger.orgs.models import Organisation
from assoc_ledger.people import services as people
from assoc_ledger.relief import services as relief
from assoc_ledger.relief.rules import STATE_ZH
from assoc_ledger.web.context import page_context
from assoc_ledger.web.fund_pages import yuan

LABELS = {"kind_zh": {k.value: z for k, z in KIND_ZH.items()}, "event_zh": {k.value: z for k, z in EVENT_ZH.items()},
          "case_state_zh": {s.value: z for s, z in STATE_ZH.items()}}


@get("/households", opt=requires(Perm.household_read), include_in_schema=False, sync_to_thread=True)
def households_page(request: Request[Any, Any, Any], db: Session, org_scope: Scope, kind: KindCode | None = None,
                    q: str | None = Parameter(default=None, max_length=50),
                    after: int | None = Parameter(default=None, ge=0, le=2_147_483_647)) -> Template:
    rows = households.list_households(db, org_scope, kind=kind, q=q or None, after=after, limit=50)
    kinds = households.kinds_of(db, [h.id for h in rows])
    orgs = {o.id: o.name for o in (db.get(Organisation, i) for i in {h.org_id for h in rows}) if o is not None}
    principal = request.scope.get("user")
    return Template("households.html", context=page_context(
        request, rows=rows, kinds=kinds, orgs=orgs, kind=kind.value if kind else "", q=q or "",
        can_write=isinstance(principal, Principal) and principal.can(Perm.household_write), **LABELS))


@get("/households/{household_id:int}", opt=requires(Perm.household_read), include_in_schema=False,
     sync_to_thread=True)
def household_page(request: Request[Any, Any, Any], db: Session, org_scope: Scope, household_id: Id) -> Template:
    household = households.get_household(db, org_scope, household_id)
    facts = households.facts_of(db, org_scope, household_id)
    events = households.events_of(db, household_id)
    people = households.people_of(db, [m.person_id for m in facts.members]
                                  + [e.person_id for e in events if e.person_id])
    org = db.get(Organisation, household.org_id)
    cases = relief.list_cases(db, org_scope, relief.CaseFilter(household_id=household_id, limit=100))
    return Template("household.html", context=page_context(
        request, h=household, facts=facts, events=events, people=people, org=org, cases=cases,
        reviews=households.reviews_of(db, org_scope, household_id), yuan=yuan, from_fen=from_fen, **LABELS))


ROUTES = [households_page, household_page]


@get("/people/{person_id:int}", opt=requires(Perm.member_read), include_in_schema=False, sync_to_thread=True)
def person_page(request: Request[Any, Any, Any], db: Session, org_scope: Scope, person_id: Id) -> Template:
    """A person: masked ID, phone masked, and every membership with its roles over time (history)."""
    spells = members.person_history(db, org_scope, person_id)
    person = spells[0].person if spells else None
    if person is None:
        person = people.get_person(db, org_scope, person_id)
    orgs = {o.id: o.name for o in (db.get(Organisation, m.org_id) for m in spells) if o is not None}
    return Template("person.html", context=page_context(
        request, p=person, spells=spells, orgs=orgs, phone=mask_phone(person.phone) if person.phone else ""))


ROUTES.append(person_page)
