"""救助项目 pages: the schemes in scope, one scheme with its versions, a new scheme, a new version of its standard.

Schemes are versioned data (``relief.services``): a changed amount, fund or procedure is a new version from a
date on, and cases registered earlier keep theirs. Both forms change money rules, so each goes fill in →
核对 (the service judges the whole form in the request's transaction, which is then rolled back: nothing is
written) → 确认 (the same call, committed). A refusal renders the form again with every Chinese message under
its field and everything typed kept.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

import anyio
from litestar import Request, Response, get, post
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm, Principal, Scope
from assoc_ledger.core.errors import DomainError, Invalid, Problem
from assoc_ledger.core.money import from_fen
from assoc_ledger.core.schemas import Id
from assoc_ledger.fund import service as fund_service
from assoc_ledger.fund.chart import CATEGORIES, FUND_ZH
from assoc_ledger.fund.standards import SCHEMES as STANDARDS
from assoc_ledger.households.rules import KIND_ZH
from assoc_ledger.relief import services as relief
from assoc_ledger.relief.rules import AMOUNT_RULE_ZH, RELIEF_CATEGORIES
from assoc_ledger.web.context import page_context
from assoc_ledger.web.forms import clean, errors_of
from assoc_ledger.web.fund_pages import yuan

Options = list[tuple[str, str]]
SCHEME_FIELDS = ("code", "name", "category", "org_id")
VERSION_FIELDS = ("effective_from", "amount_rule", "amount", "standard", "months", "fund", "documents",
                  "review_steps", "review_due_days", "yearly_limit", "ends_on", "basis")
KINDS_FIELD = "household_kinds"
STEPS: Options = [("review,approve", "先审核、后审批（一般）"), ("approve", "先审批发放、限期补审核（仅应急救助）")]
CATEGORY_OPTIONS: Options = [(c.value, CATEGORIES[c].zh) for c in RELIEF_CATEGORIES]
RULE_OPTIONS: Options = [(r.value, z) for r, z in AMOUNT_RULE_ZH.items()]
STANDARD_OPTIONS: Options = [(s.value, spec.zh) for s, spec in STANDARDS.items()]
FUND_OPTIONS: Options = [(f.value, z) for f, z in FUND_ZH.items()]
KIND_OPTIONS: Options = [(k.value, z) for k, z in KIND_ZH.items()]
LABELS = {"category_zh": {c.value: line.zh for c, line in CATEGORIES.items()},
          "rule_zh": {r.value: z for r, z in AMOUNT_RULE_ZH.items()},
          "fund_zh": {f.value: z for f, z in FUND_ZH.items()},
          "kind_zh": {k.value: z for k, z in KIND_ZH.items()}, "standard_zh": dict(STANDARD_OPTIONS)}
_LIST_SPLIT = re.compile(r"[、，,；;\n]+")


def _can(request: Request[Any, Any, Any], perm: Perm) -> bool:
    p = request.scope.get("user")
    return isinstance(p, Principal) and p.can(perm)


@get("/schemes", opt=requires(Perm.household_read), include_in_schema=False, sync_to_thread=True)
def schemes_page(request: Request[Any, Any, Any], db: Session, org_scope: Scope) -> Template:
    rows = [(s, relief.versions_of(db, s.id)[-1]) for s in relief.list_schemes(db, org_scope)]
    return Template("schemes.html", context=page_context(
        request, rows=rows, can_write=_can(request, Perm.fund_write), yuan=_yuan, **LABELS))


def _yuan(fen: int | None) -> str:
    return "" if fen is None else yuan(from_fen(fen))


@get("/schemes/{scheme_id:int}", opt=requires(Perm.household_read), include_in_schema=False, sync_to_thread=True)
def scheme_page(request: Request[Any, Any, Any], db: Session, org_scope: Scope, scheme_id: Id,
                added: int | None = None) -> Template:
    scheme = relief.get_scheme(db, org_scope, scheme_id)
    return Template("scheme.html", context=page_context(
        request, s=scheme, versions=relief.versions_of(db, scheme.id), added=added, yuan=_yuan,
        can_write=_can(request, Perm.fund_write) and _own(db, org_scope, scheme_id), **LABELS))


def _own(db: Session, scope: Scope, scheme_id: int) -> bool:
    """A scheme of a level above is seen from below but changed only by its own level (``write=True``)."""
    try:
        relief.get_scheme(db, scope, scheme_id, write=True)
    except DomainError:
        return False
    return True


# --- the two forms ---------------------------------------------------------------------------------------


def _date(value: str, name: str, problems: list[Problem], required: bool = True) -> dt.date | None:
    if not value and not required:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        problems.append(Problem(name, "日期格式无效，应为 YYYY-MM-DD"))
        return None


def _count(value: str, name: str, problems: list[Problem]) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        problems.append(Problem(name, "应为整数"))
        return None
    return int(value)


def _spec(values: Mapping[str, Any]) -> relief.VersionSpec:
    """The typed standard as the service takes it; malformed dates and numbers are named here."""
    problems: list[Problem] = []
    effective_from = _date(values["effective_from"], "effective_from", problems)
    ends_on = _date(values["ends_on"], "ends_on", problems, required=False)
    counts = {n: _count(values[n], n, problems) for n in ("months", "review_due_days", "yearly_limit")}
    if problems or effective_from is None:
        raise Invalid(problems=problems)
    return relief.VersionSpec(
        effective_from=effective_from, amount_rule=values["amount_rule"], amount=values["amount"] or None,
        standard=values["standard"] or None, fund=values["fund"] or "General",
        household_kinds=list(values[KINDS_FIELD]),
        documents=[d for d in _LIST_SPLIT.split(values["documents"]) if d.strip()],
        review_steps=[s for s in values["review_steps"].split(",") if s], ends_on=ends_on,
        basis=values["basis"] or None, **counts)


def _book_orgs(db: Session, scope: Scope) -> Options:
    return [(str(o.id), o.name) for _, o in fund_service.list_books(db, scope)]


def _shown(values: Mapping[str, Any], orgs: Options) -> dict[str, str]:
    """What the confirmation lists, in words."""
    kinds = "、".join(LABELS["kind_zh"].get(k, k) for k in values[KINDS_FIELD]) or "不限"
    return {"category": LABELS["category_zh"].get(values.get("category", ""), ""),
            "org_id": dict(orgs).get(values.get("org_id", ""), ""), "amount_rule": LABELS["rule_zh"].get(
                values["amount_rule"], values["amount_rule"]), "standard": LABELS["standard_zh"].get(
                values["standard"], ""), "fund": LABELS["fund_zh"].get(values["fund"], values["fund"]),
            "review_steps": dict(STEPS).get(values["review_steps"], values["review_steps"]), KINDS_FIELD: kinds}


def _render(request: Request[Any, Any, Any], db: Session, scope: Scope, values: dict[str, Any],
            errors: dict[str, str] | None = None, *, scheme_id: int | None = None, confirm: bool = False,
            status_code: int = 200) -> Template:
    scheme = relief.get_scheme(db, scope, scheme_id, write=True) if scheme_id is not None else None
    versions = relief.versions_of(db, scheme.id) if scheme is not None else []
    orgs = _book_orgs(db, scope)
    return Template("scheme_form.html", status_code=status_code, context=page_context(
        request, values=values, errors=errors or {}, scheme=scheme, latest=versions[-1] if versions else None,
        confirm=confirm, shown=_shown(values, orgs), orgs=orgs, categories=CATEGORY_OPTIONS, rules=RULE_OPTIONS,
        standards=STANDARD_OPTIONS, funds=FUND_OPTIONS, kinds=KIND_OPTIONS, steps=STEPS, yuan=_yuan, **LABELS))


def _typed(form: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = clean(form, fields)
    values[KINDS_FIELD] = [k for k in form.getall(KINDS_FIELD) if isinstance(k, str)] if KINDS_FIELD in form else []
    return values


def _blank(fields: tuple[str, ...], **defaults: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict.fromkeys(fields, "")
    values.update({KINDS_FIELD: [], "effective_from": dt.date.today().isoformat(), "amount_rule": "ceiling",
                   "fund": "General", "review_steps": "review,approve", **defaults})
    return values


def _submit(request: Request[Any, Any, Any], db: Session, scope: Scope, values: dict[str, Any], step: str,
            fields: tuple[str, ...], act: Callable[[], str], scheme_id: int | None = None) -> Response[Any]:
    """Check (judged, rolled back), confirm (judged, kept) or edit; a refusal shows the form again."""
    if step == "edit":
        return _render(request, db, scope, values, scheme_id=scheme_id)
    try:
        target = act()
    except DomainError as exc:
        if exc.status_code == 404 and exc.field == "scheme_id":
            raise
        db.rollback()
        errors = errors_of(exc, [*fields, KINDS_FIELD], {p.field: p.field.split("[")[0] for p in exc.problems or ()})
        return _render(request, db, scope, values, errors, scheme_id=scheme_id, status_code=exc.status_code)
    if step != "confirm":
        db.rollback()  # the check wrote nothing
        return _render(request, db, scope, values, scheme_id=scheme_id, confirm=True)
    return Redirect(target, status_code=303)


async def _form(request: Request[Any, Any, Any]) -> Any:
    return await request.form()


@get("/schemes/new", opt=requires(Perm.fund_write), include_in_schema=False)
async def scheme_new(request: Request[Any, Any, Any], db: Session, org_scope: Scope) -> Template:
    values = _blank((*SCHEME_FIELDS, *VERSION_FIELDS))
    page: Template = await anyio.to_thread.run_sync(lambda: _render(request, db, org_scope, values))
    return page


@post("/schemes/new", opt=requires(Perm.fund_write), include_in_schema=False)
async def scheme_create(request: Request[Any, Any, Any], db: Session, org_scope: Scope) -> Response[Any]:
    fields = (*SCHEME_FIELDS, *VERSION_FIELDS)
    form = await _form(request)
    values = _typed(form, fields)

    def act() -> str:
        org_id = int(values["org_id"]) if values["org_id"].isdigit() else 0
        if not org_id:
            raise Invalid("请选择实施并付款的组织", field="org_id")
        scheme = relief.create_scheme(db, org_scope, code=values["code"], name=values["name"],
                                      category=values["category"], org_id=org_id, spec=_spec(values))
        return f"/schemes/{scheme.id}?added=1"

    response: Response[Any] = await anyio.to_thread.run_sync(
        lambda: _submit(request, db, org_scope, values, str(form.get("step", "check")), fields, act))
    return response


@get("/schemes/{scheme_id:int}/versions/new", opt=requires(Perm.fund_write), include_in_schema=False)
async def version_new(request: Request[Any, Any, Any], db: Session, org_scope: Scope, scheme_id: Id) -> Template:
    def page() -> Template:
        scheme = relief.get_scheme(db, org_scope, scheme_id, write=True)
        v = relief.versions_of(db, scheme.id)[-1]
        # The form starts from the standard in force: a secretary changes what changed.
        values = _blank(VERSION_FIELDS, effective_from="", amount_rule=v.amount_rule, fund=v.fund,
                        amount=_yuan(v.amount_fen).replace(",", ""), standard=v.standard or "",
                        months=str(v.months or ""), documents="、".join(v.documents),
                        review_steps=",".join(v.review_steps), review_due_days=str(v.review_due_days or ""),
                        yearly_limit=str(v.yearly_limit or ""), basis=v.basis or "")
        values[KINDS_FIELD] = list(v.household_kinds)
        return _render(request, db, org_scope, values, scheme_id=scheme_id)

    result: Template = await anyio.to_thread.run_sync(page)
    return result


@post("/schemes/{scheme_id:int}/versions/new", opt=requires(Perm.fund_write), include_in_schema=False)
async def version_create(request: Request[Any, Any, Any], db: Session, org_scope: Scope,
                         scheme_id: Id) -> Response[Any]:
    form = await _form(request)
    values = _typed(form, VERSION_FIELDS)

    def act() -> str:
        version = relief.add_version(db, org_scope, scheme_id, _spec(values))
        return f"/schemes/{scheme_id}?added={version.version}"

    response: Response[Any] = await anyio.to_thread.run_sync(
        lambda: _submit(request, db, org_scope, values, str(form.get("step", "check")), VERSION_FIELDS, act,
                        scheme_id))
    return response


ROUTES = [schemes_page, scheme_page, scheme_new, scheme_create, version_new, version_create]
