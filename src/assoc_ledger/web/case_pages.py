"""Relief cases (救助案件): the register, a case's page, and one page per step — 审核, 审批, 发放.

Each step page shows what the person taking that step must decide: the household's kinds against the
scheme's, the required documents against those uploaded, the amount against the standard, who did the
earlier steps (the three-users rule is the service's: ``relief.services.act``), and for payment the fund's
balance. Every step goes through ``relief.services``; a refusal renders the page again with the Chinese
message under the field. Paying is idempotent by the case's own key (``relief.services.pay_key``), so a
double click pays once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import anyio
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm, Principal, Scope
from assoc_ledger.core.errors import DomainError, Invalid
from assoc_ledger.core.money import from_fen
from assoc_ledger.core.schemas import Id
from assoc_ledger.fund import service as fund_service
from assoc_ledger.fund.chart import CATEGORIES, FUND_ZH, Category, Fund
from assoc_ledger.households import services as households
from assoc_ledger.households.rules import KIND_ZH
from assoc_ledger.households.uploads import MAX_SHEET_BYTES
from assoc_ledger.orgs.models import Organisation
from assoc_ledger.relief import services as relief
from assoc_ledger.relief.rules import ACTION_ZH, STATE_ZH, Action, State
from assoc_ledger.web.context import page_context
from assoc_ledger.web.forms import KEY_FIELD, clean, errors_of, form_date, new_key
from assoc_ledger.web.fund_pages import yuan

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
CASE_FIELDS = ("scheme_id", "household_id", "case_date", "payee", "summary", "amount", "months", "start_month",
               "comment")
STEP_PERM = {"review": Perm.case_review, "approve": Perm.case_approve, "pay": Perm.fund_write}
STEP_TITLE = {"review": "审核", "approve": "审批", "pay": "发放"}
LABELS = {"state_zh": {s.value: z for s, z in STATE_ZH.items()},
          "action_zh": {a.value: z for a, z in ACTION_ZH.items()},
          "category_zh": {c.value: line.zh for c, line in CATEGORIES.items()},
          "fund_zh": {f.value: z for f, z in FUND_ZH.items()}, "kind_zh": {k.value: z for k, z in KIND_ZH.items()}}


async def _in_thread(fn: Callable[[], Any]) -> Any:
    return await anyio.to_thread.run_sync(fn)


def _principal(request: Request[Any, Any, Any]) -> Principal | None:
    p = request.scope.get("user")
    return p if isinstance(p, Principal) else None


@get("/cases", opt=requires(Perm.household_read), include_in_schema=False, sync_to_thread=True)
def cases_page(request: Request[Any, Any, Any], db: Session, org_scope: Scope,
               case_state: State | None = Parameter(query="state", default=None), mine: bool = False,
               overdue: bool = False,
               after: int | None = Parameter(default=None, ge=0, le=2_147_483_647)) -> Template:
    state = case_state
    rows = relief.list_cases(db, org_scope, relief.CaseFilter(state=state.value if state else None,
                                                             waiting_for_me=mine, overdue_review=overdue,
                                                             after=after, limit=50))
    return Template("cases.html", context=page_context(
        request, rows=rows, state=state.value if state else "", mine=mine, overdue=overdue, yuan=yuan,
        from_fen=from_fen, states=list(State), can_register=_can(request, Perm.household_write), **LABELS))


def _can(request: Request[Any, Any, Any], perm: Perm) -> bool:
    principal = _principal(request)
    return principal is not None and principal.can(perm)


def _new_page(request: Request[Any, Any, Any], db: Session, scope: Scope, values: dict[str, str],
              errors: dict[str, str] | None = None, status_code: int = 200) -> Template:
    schemes = [(str(s.id), f"{s.name}（{LABELS['category_zh'].get(s.category, s.category)}）")
               for s in relief.list_schemes(db, scope)]
    return Template("case_new.html", status_code=status_code, context=page_context(
        request, values=values, errors=errors or {}, schemes=schemes, key_field=KEY_FIELD))


@get("/cases/new", opt=requires(Perm.household_write), include_in_schema=False)
async def case_new(request: Request[Any, Any, Any], db: Session, org_scope: Scope,
                   household_id: int | None = Parameter(default=None, ge=1, le=2_147_483_647)) -> Template:
    values = dict.fromkeys(CASE_FIELDS, "")
    values.update(household_id=str(household_id or ""), case_date=dt.date.today().isoformat(),
                  **{KEY_FIELD: new_key("case")})
    return await _in_thread(lambda: _new_page(request, db, org_scope, values))  # type: ignore[no-any-return]


def _month(value: str) -> dt.date | None:
    """长效帮扶's first month as the month input sends it (YYYY-MM); blank: the service's default."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(f"{value}-01" if len(value) == 7 else value)
    except ValueError:
        raise Invalid("月份格式无效，应为 YYYY-MM", field="start_month") from None


def _int(value: str, field: str, label: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise Invalid(f"请选择或填写{label}", field=field) from None


@post("/cases/new", opt=requires(Perm.household_write), include_in_schema=False, sync_to_thread=True)
def case_register(request: Request[Any, Any, Any], db: Session, org_scope: Scope, data: Form) -> Response[Any]:
    values = clean(data, [*CASE_FIELDS, KEY_FIELD])
    try:
        case_date = form_date(values["case_date"], "case_date")
        form = relief.CaseForm(scheme_id=_int(values["scheme_id"], "scheme_id", "救助项目"),
                               household_id=_int(values["household_id"], "household_id", "家庭编号"),
                               case_date=case_date, payee=values["payee"], summary=values["summary"],
                               amount=values["amount"] or None,
                               months=_int(values["months"], "months", "月数") if values["months"] else None,
                               comment=values["comment"] or None, idempotency_key=values[KEY_FIELD] or None,
                               start_month=_month(values["start_month"]))
        case = relief.register_case(db, org_scope, form)
    except DomainError as exc:
        db.rollback()
        if exc.status_code == 404 and exc.field in ("household_id", "scheme_id"):
            exc = DomainError("家庭不存在或不在您的管理范围内" if exc.field == "household_id" else "救助项目不存在",
                              field=exc.field, status_code=404)
        return _new_page(request, db, org_scope, values, errors_of(exc, CASE_FIELDS), status_code=exc.status_code)
    return Redirect(f"/cases/{case.id}", status_code=303)


def _case_page(request: Request[Any, Any, Any], db: Session, scope: Scope, case_id: int, step: str | None,
               errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
               status_code: int = 200) -> Template:
    case = relief.get_case(db, scope, case_id)
    scheme, version = relief.scheme_and_version(db, case)
    org = db.get(Organisation, case.org_id)
    assert org is not None  # foreign key
    documents = relief.documents_of(db, case.id)
    have = {d.doc_type for d in documents}
    missing = [d for d in version.documents if d not in have]
    try:
        facts = households.facts_of(db, scope, case.household_id, on=case.case_date)
        kinds = [k.kind for k in facts.kinds]
    except DomainError:
        kinds = []
    principal = _principal(request)
    runner = db.get(Organisation, scheme.org_id)
    assert runner is not None  # foreign key
    next_action = (relief.waiting_for(principal, case, org.path, relief.flow_of(version, case), runner.path)
                   if principal else None)
    balance = None
    if step == "pay":
        for b, o in fund_service.list_books(db, scope.narrowed(Perm.fund_read)):
            if o.id == scheme.org_id:
                balance = next((a for f, _, a in fund_service.fund_balances(db, b.id) if f == version.fund), None)
    return Template("case.html", status_code=status_code, context=page_context(
        request, case=case, scheme=scheme, version=version, org=org, documents=documents, missing=missing,
        kinds=kinds, steps=relief.steps_of(db, case.id), step=step, step_title=STEP_TITLE.get(step or "", ""),
        next_action=next_action.value if next_action else None, amount=from_fen(case.amount_fen),
        balance=balance, errors=errors or {}, values=values or {"date": dt.date.today().isoformat(), "via": "Bank"},
        yuan=yuan, today=dt.date.today(), Fund=Fund, Category=Category, **LABELS))


@get("/cases/{case_id:int}", opt=requires(Perm.household_read), include_in_schema=False, sync_to_thread=True)
def case_page(request: Request[Any, Any, Any], db: Session, org_scope: Scope, case_id: Id) -> Template:
    return _case_page(request, db, org_scope, case_id, None)


def _step_get(step: str) -> Any:
    async def page(request: Request[Any, Any, Any], db: Session, org_scope: Scope, case_id: Id) -> Template:
        return await _in_thread(lambda: _case_page(request, db, org_scope, case_id, step))  # type: ignore[no-any-return]
    page.__name__ = page.__qualname__ = f"case_{step}_page"
    return get(f"/cases/{{case_id:int}}/{step}", opt=requires(STEP_PERM[step]), include_in_schema=False)(page)


def _act(request: Request[Any, Any, Any], db: Session, scope: Scope, case_id: int, step: str,
         data: dict[str, str]) -> Response[Any]:
    values = clean(data, ["decision", "comment", "date", "voucher", "via"])
    try:
        if step == "pay":
            on = form_date(values["date"], "date")
            relief.pay_case(db, scope, Path(request.app.state.settings.ledger_dir), case_id, on=on,
                            voucher=values["voucher"] or None, via=values["via"] or "Bank")
        else:
            action = Action.reject if values["decision"] == "reject" else Action(step)
            relief.act(db, scope, case_id, action, values["comment"] or None)
    except DomainError as exc:
        if exc.status_code == 404 and exc.field == "case_id":
            raise
        db.rollback()
        errors = errors_of(exc, ["comment", "date", "voucher", "via"], {"action": "", "documents": ""})
        return _case_page(request, db, scope, case_id, step, errors, values, status_code=exc.status_code)
    return Redirect(f"/cases/{case_id}", status_code=303)


def _step_post(step: str, perm: Perm) -> Any:
    def submit(request: Request[Any, Any, Any], db: Session, org_scope: Scope, case_id: Id, data: Form
               ) -> Response[Any]:
        return _act(request, db, org_scope, case_id, step, data)
    submit.__name__ = submit.__qualname__ = f"case_{step}_submit"
    return post(f"/cases/{{case_id:int}}/{step}", opt=requires(perm), include_in_schema=False,
                sync_to_thread=True)(submit)


@post("/cases/{case_id:int}/documents", opt=requires(Perm.household_write), include_in_schema=False)
async def case_document(request: Request[Any, Any, Any], db: Session, org_scope: Scope, case_id: Id) -> Response[Any]:
    form = await request.form()
    doc_type = str(form.get("doc_type") or "").strip()
    upload = form.get("file")
    content = await upload.read(MAX_SHEET_BYTES + 1) if isinstance(upload, UploadFile) else b""
    settings = request.app.state.settings

    def store() -> None:
        if not content:
            raise Invalid("请选择材料文件（照片或 PDF）", field="file")
        relief.add_document(db, org_scope, Path(settings.upload_dir), case_id, doc_type, content)

    try:
        await _in_thread(store)
    except DomainError as exc:
        if exc.status_code == 404 and exc.field == "case_id":
            raise
        await _in_thread(db.rollback)
        errors, status = errors_of(exc, ["doc_type", "file"]), exc.status_code
        return await _in_thread(lambda: _case_page(  # type: ignore[no-any-return]
            request, db, org_scope, case_id, None, errors, {"doc_type": doc_type}, status_code=status))
    return Redirect(f"/cases/{case_id}", status_code=303)


@post("/cases/{case_id:int}/close", opt=requires(Perm.household_write), include_in_schema=False,
      sync_to_thread=True)
def case_close(request: Request[Any, Any, Any], db: Session, org_scope: Scope, case_id: Id, data: Form
               ) -> Response[Any]:
    action = Action.withdraw if data.get("decision") == "withdraw" else Action.close
    try:
        relief.act(db, org_scope, case_id, action, (data.get("comment") or "").strip() or None)
    except DomainError as exc:
        if exc.status_code == 404 and exc.field == "case_id":
            raise
        db.rollback()
        return _case_page(request, db, org_scope, case_id, None, errors_of(exc, ["comment"], {"action": ""}),
                          {"comment": data.get("comment", "")}, status_code=exc.status_code)
    return Redirect(f"/cases/{case_id}", status_code=303)


ROUTES = [cases_page, case_new, case_register, case_page, case_document, case_close,
          *(_step_get(s) for s in STEP_PERM), *(_step_post(s, p) for s, p in STEP_PERM.items())]
