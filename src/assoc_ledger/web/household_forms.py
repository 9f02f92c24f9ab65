"""登记家庭 page form: a household with its members (each registered as a person first) and one kind.

The checks are the API's: the body is validated by the household API's own schema
(:class:`~assoc_ledger.households.schemas.HouseholdCreate`), people by ``people.services.create_person``, the
household by ``households.services.register_household``, all in one transaction. A refusal rolls it all
back (nothing written) and shows the form again with each Chinese message under its field and everything
typed kept. A member's birth date, when typed, must agree with the one in the resident ID.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import anyio
from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import ValidationError
from sqlalchemy.orm import Session

from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.errors import DomainError, Invalid, Problem, message_zh
from assoc_ledger.households import services as households
from assoc_ledger.households.rules import KIND_ZH, Relation
from assoc_ledger.households.schemas import HouseholdCreate
from assoc_ledger.orgs import services as orgs
from assoc_ledger.orgs.models import OrgKind
from assoc_ledger.people import services as people
from assoc_ledger.web.context import page_context
from assoc_ledger.web.forms import clean, errors_of, form_date

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
MEMBER_ROWS = 4
MEMBER_PARTS = ("name", "resident_id", "relation", "birth_date")
KIND_PARTS = ("kind", "kind_since", "kind_certificate_no", "kind_evidence")
FIELDS = ("org_id", "address", "registered_on",
          *(f"m{i}_{p}" for i in range(MEMBER_ROWS) for p in MEMBER_PARTS), *KIND_PARTS)
# Where the API's field names land on this form.
_KIND_FIELD = {"kind": "kind", "since": "kind_since", "certificate_no": "kind_certificate_no",
               "evidence": "kind_evidence", "child_id": "kind_certificate_no"}


def _field_of(loc: tuple[Any, ...], rows: list[int]) -> str:
    """``members.0.person_id`` → ``m{row}_name``; ``kinds.0.since`` → ``kind_since``; others as they are."""
    parts = [str(p) for p in loc]
    if parts and parts[0] == "members":
        if len(parts) < 2 or not parts[1].isdigit():
            return "m0_name"
        row = rows[int(parts[1])] if int(parts[1]) < len(rows) else 0
        return f"m{row}_relation" if parts[2:3] == ["relation"] else f"m{row}_name"
    if parts and parts[0] == "kinds":
        return _KIND_FIELD.get(parts[2] if len(parts) > 2 else "kind", "kind")
    return parts[0] if parts else ""


def _api_field(name: str, rows: list[int]) -> str:
    """A service problem's field (``members[1].person_id``, ``kinds[0].since``) on this form."""
    flat = name.replace("[", ".").replace("]", "")
    return _field_of(tuple(flat.split(".")), rows)


def _page(request: Request[Any, Any, Any], db: Session, scope: Scope, values: dict[str, str],
          errors: dict[str, str] | None = None, status_code: int = 200) -> Template:
    homes = [(str(o.id), o.name) for kind in (OrgKind.village, OrgKind.community)
             for o in orgs.list_orgs(db, scope, kind=kind, limit=500)[0]]
    return Template("household_new.html", status_code=status_code, context=page_context(
        request, values=values, errors=errors or {}, homes=homes, rows=range(MEMBER_ROWS),
        relations=[(r.value, r.value) for r in Relation], kinds=[(k.value, z) for k, z in KIND_ZH.items()]))


@get("/households/new", opt=requires(Perm.household_write), include_in_schema=False)
async def household_new(request: Request[Any, Any, Any], db: Session, org_scope: Scope) -> Template:
    values = dict.fromkeys(FIELDS, "")
    values.update(registered_on=dt.date.today().isoformat(), m0_relation="户主")
    page: Template = await anyio.to_thread.run_sync(lambda: _page(request, db, org_scope, values))
    return page


def _register(db: Session, scope: Scope, values: dict[str, str]) -> int:
    rows = [i for i in range(MEMBER_ROWS) if any(values[f"m{i}_{p}"] for p in ("name", "resident_id"))]
    if not rows:
        raise Invalid("请至少填写一位家庭成员（户主）", field="m0_name")
    if not values["org_id"].isdigit():
        raise Invalid("请选择所属村（社区）", field="org_id")
    problems: list[Problem] = []
    person_ids: list[int] = []
    for i in rows:
        try:
            person = people.create_person(db, scope, name=values[f"m{i}_name"],
                                          resident_id=values[f"m{i}_resident_id"], org_id=int(values["org_id"]),
                                          address=values["address"] or None)
        except DomainError as exc:
            if exc.field == "org_id" or (exc.status_code == 404 and not exc.problems):
                raise DomainError("组织不存在或不在您的管理范围内", field="org_id", status_code=exc.status_code) \
                    from None
            names = {"name": f"m{i}_name", "resident_id": f"m{i}_resident_id"}
            problems.extend(Problem(names.get(p.field, f"m{i}_name"), p.message)
                            for p in (exc.problems or [Problem(exc.field or "", exc.detail)]))
            continue
        typed = values[f"m{i}_birth_date"]
        if typed and typed != person.birth_date.isoformat():
            problems.append(Problem(f"m{i}_birth_date", f"出生日期与身份证号不符（身份证号为 {person.birth_date}）"))
        person_ids.append(person.id)
    if problems:
        raise Invalid(problems=problems)
    # The only child (光荣证) is the one member entered as 子女; with none or several the service names it.
    children = [p for p, i in zip(person_ids, rows, strict=True) if values[f"m{i}_relation"] == Relation.child.value]
    body: dict[str, Any] = {
        "org_id": values["org_id"], "address": values["address"] or None, "registered_on": values["registered_on"],
        "members": [{"person_id": p, "relation": values[f"m{i}_relation"]} for p, i in zip(person_ids, rows,
                                                                                          strict=True)],
        "kinds": [{"kind": values["kind"], "since": values["kind_since"],
                   "certificate_no": values["kind_certificate_no"] or None,
                   "evidence": values["kind_evidence"] or None,
                   "child_id": children[0] if len(children) == 1 else None}] if values["kind"] else []}
    try:
        data = HouseholdCreate.model_validate(body)
    except ValidationError as exc:
        raise Invalid(problems=[Problem(_field_of(tuple(e["loc"]), rows),
                                        message_zh(e["type"], e["msg"])) for e in exc.errors()]) from None
    try:
        h = households.register_household(
            db, scope, org_id=data.org_id, address=data.address, registered_on=data.registered_on,
            members=[(m.person_id, m.relation.value) for m in data.members],
            kinds=[households.KindSpec(k.kind.value, k.since, k.evidence, k.certificate_no, k.child_id)
                   for k in data.kinds])
    except DomainError as exc:
        if exc.problems:
            raise DomainError(problems=[Problem(_api_field(p.field, rows), p.message) for p in exc.problems],
                              status_code=exc.status_code) from None
        raise DomainError(exc.detail, field=_api_field(exc.field or "", rows), status_code=exc.status_code) \
            from None
    return h.id


@post("/households/new", opt=requires(Perm.household_write), include_in_schema=False, sync_to_thread=True)
def household_register(request: Request[Any, Any, Any], db: Session, org_scope: Scope, data: Form) -> Response[Any]:
    values = clean(data, FIELDS)
    try:
        form_date(values["registered_on"], "registered_on")
        household_id = _register(db, org_scope, values)
    except DomainError as exc:
        db.rollback()
        return _page(request, db, org_scope, values, errors_of(exc, FIELDS), status_code=exc.status_code)
    return Redirect(f"/households/{household_id}", status_code=303)


ROUTES = [household_new, household_register]
