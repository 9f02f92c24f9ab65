"""结对帮扶 forms: pair a volunteer with a household, end a pairing, and every pairing in scope.

Writes go through ``households.visits.create_pairings`` / ``end_pairing``; a refusal shows the form again
with the Chinese message under its field and what was typed kept (nothing written).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import anyio
from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm, Principal, Scope
from assoc_ledger.core.errors import DomainError, Invalid
from assoc_ledger.core.schemas import Id
from assoc_ledger.households import visits
from assoc_ledger.households.models import Household
from assoc_ledger.members import services as members
from assoc_ledger.members.models import Membership
from assoc_ledger.orgs.models import Organisation
from assoc_ledger.people.models import Person
from assoc_ledger.web.context import page_context
from assoc_ledger.web.forms import clean, errors_of, form_date

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
NEW_FIELDS = ("membership_id", "household_id", "from_date", "until_date")
END_FIELDS = ("until_date",)


def _volunteer_name(db: Session, membership_id: int) -> str:
    m = db.get(Membership, membership_id)
    person = db.get(Person, m.person_id) if m is not None else None
    return person.name if person is not None else str(membership_id)


@get("/pairings/all", opt=requires(Perm.household_read), include_in_schema=False, sync_to_thread=True)
def pairings_all(request: Request[Any, Any, Any], db: Session, org_scope: Scope,
                 after: int | None = Parameter(default=None, ge=0, le=2_147_483_647),
                 ended: int | None = Parameter(default=None, ge=1, le=2_147_483_647),
                 made: int | None = Parameter(default=None, ge=1, le=2_147_483_647)) -> Template:
    rows = visits.list_pairings(db, org_scope, after=after, limit=100)
    homes = {}
    for p in rows:
        h = db.get(Household, p.household_id)
        org = db.get(Organisation, h.org_id) if h is not None else None
        homes[p.id] = org.name if org is not None else ""
    principal = request.scope.get("user")
    return Template("pairings_all.html", context=page_context(
        request, rows=rows, homes=homes, names={p.id: _volunteer_name(db, p.membership_id) for p in rows},
        ended=ended, made=made, today=dt.date.today(),
        can_write=isinstance(principal, Principal) and principal.can(Perm.household_write)))


def _new_page(request: Request[Any, Any, Any], db: Session, scope: Scope, values: dict[str, str],
              errors: dict[str, str] | None = None, status_code: int = 200) -> Template:
    rows, _ = members.list_members(db, scope.narrowed(Perm.member_read), members.MemberFilter(volunteer=True),
                                   limit=200)
    volunteers = [(str(m.id), f"{m.person.name}（会员 {m.id}）") for m in rows]
    return Template("pairing_new.html", status_code=status_code, context=page_context(
        request, values=values, errors=errors or {}, volunteers=volunteers))


@get("/pairings/new", opt=requires(Perm.household_write), include_in_schema=False)
async def pairing_new(request: Request[Any, Any, Any], db: Session, org_scope: Scope,
                      household_id: int | None = Parameter(default=None, ge=1, le=2_147_483_647)) -> Template:
    values = dict.fromkeys(NEW_FIELDS, "")
    values.update(household_id=str(household_id or ""), from_date=dt.date.today().isoformat())
    page: Template = await anyio.to_thread.run_sync(lambda: _new_page(request, db, org_scope, values))
    return page


def _int(value: str, field: str, label: str) -> int:
    if not value.isdigit():
        raise Invalid(f"请选择或填写{label}", field=field)
    return int(value)


@post("/pairings/new", opt=requires(Perm.household_write), include_in_schema=False, sync_to_thread=True)
def pairing_create(request: Request[Any, Any, Any], db: Session, org_scope: Scope, data: Form) -> Response[Any]:
    values = clean(data, NEW_FIELDS)
    try:
        made = visits.create_pairings(
            db, org_scope, membership_id=_int(values["membership_id"], "membership_id", "志愿者"),
            household_ids=[_int(values["household_id"], "household_id", "家庭编号")],
            from_date=form_date(values["from_date"], "from_date"),
            until_date=form_date(values["until_date"], "until_date") if values["until_date"] else None)
    except DomainError as exc:
        db.rollback()
        if exc.status_code == 404:
            exc = (DomainError("家庭不存在或不在您的管理范围内", field="household_id", status_code=404)
                   if (exc.field or "").startswith("household") else
                   DomainError("志愿者不存在或不在您的管理范围内", field="membership_id", status_code=404))
        errors = errors_of(exc, NEW_FIELDS, {"household_ids[0]": "household_id"})
        return _new_page(request, db, org_scope, values, errors, status_code=exc.status_code)
    return Redirect(f"/pairings/all?made={made[0].id}", status_code=303)


def _end_page(request: Request[Any, Any, Any], db: Session, scope: Scope, pairing_id: int, values: dict[str, str],
              errors: dict[str, str] | None = None, status_code: int = 200) -> Template:
    pairing = visits.get_pairing(db, scope, pairing_id)
    return Template("pairing_end.html", status_code=status_code, context=page_context(
        request, p=pairing, volunteer=_volunteer_name(db, pairing.membership_id), values=values,
        errors=errors or {}))


@get("/pairings/{pairing_id:int}/end", opt=requires(Perm.household_write), include_in_schema=False)
async def pairing_end_form(request: Request[Any, Any, Any], db: Session, org_scope: Scope,
                           pairing_id: Id) -> Template:
    values = {"until_date": dt.date.today().isoformat()}
    page: Template = await anyio.to_thread.run_sync(lambda: _end_page(request, db, org_scope, pairing_id, values))
    return page


@post("/pairings/{pairing_id:int}/end", opt=requires(Perm.household_write), include_in_schema=False,
      sync_to_thread=True)
def pairing_end(request: Request[Any, Any, Any], db: Session, org_scope: Scope, pairing_id: Id,
                data: Form) -> Response[Any]:
    values = clean(data, END_FIELDS)
    try:
        visits.end_pairing(db, org_scope, pairing_id, form_date(values["until_date"], "until_date"))
    except DomainError as exc:
        db.rollback()
        if exc.status_code == 404:
            raise
        return _end_page(request, db, org_scope, pairing_id, values, errors_of(exc, END_FIELDS),
                         status_code=exc.status_code)
    return Redirect(f"/pairings/all?ended={pairing_id}", status_code=303)


ROUTES = [pairings_all, pairing_new, pairing_create, pairing_end_form, pairing_end]
