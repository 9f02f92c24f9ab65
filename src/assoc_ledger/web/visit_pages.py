"""Pairings (结对帮扶) and the quick visit form (走访登记) with a photo of the signed sheet.

The form is made for a phone in a village: the sheet is a file input that opens the camera
(``accept="image/*,application/pdf" capture``), the services are three checkboxes, cash is optional (it is
posted as 走访慰问 through the books by ``households.visits``, with an idempotency key so a resubmit pays
once). A refused visit shows each message under its field with everything typed kept; only the file
must be chosen again (browsers never refill a file input).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import anyio
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import Parameter
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.errors import DomainError, Invalid, Problem
from assoc_ledger.households import visits
from assoc_ledger.households.services import CHANGES, recorder
from assoc_ledger.households.uploads import MAX_SHEET_BYTES
from assoc_ledger.web.context import page_context
from assoc_ledger.web.forms import KEY_FIELD, errors_of, new_key

TEXT_FIELDS = ("pairing_id", "visited_on", "signer_name", "notes", "goods", "cash", "voucher", "flag", "flag_note",
               "cash_confirmed")
FIELDS = (*TEXT_FIELDS, "services", "file")


@get("/pairings", opt=requires(Perm.household_read), include_in_schema=False, sync_to_thread=True)
def pairings_page(request: Request[Any, Any, Any], db: Session, org_scope: Scope,
                  month: str | None = Parameter(default=None, pattern=r"^\d{4}-\d{2}$"),
                  visited: int | None = Parameter(default=None, ge=1, le=2_147_483_647)) -> Template:
    shown = month or f"{dt.date.today():%Y-%m}"
    rows = visits.unvisited(db, org_scope, shown)
    year, mon = (int(p) for p in shown.split("-"))
    prev = f"{year - 1}-12" if mon == 1 else f"{year}-{mon - 1:02d}"
    return Template("pairings.html", context=page_context(request, rows=rows, month=shown, prev=prev,
                                                          visited=visited))


def _visit_page(request: Request[Any, Any, Any], values: dict[str, Any], errors: dict[str, str] | None = None,
                status_code: int = 200) -> Template:
    return Template("visit_form.html", status_code=status_code, context=page_context(
        request, values=values, errors=errors or {}, services=visits.SERVICES, changes=CHANGES,
        key_field=KEY_FIELD, max_mb=MAX_SHEET_BYTES // (1024 * 1024)))


@get("/visits/new", opt=requires(Perm.household_write), include_in_schema=False)
async def visit_form(request: Request[Any, Any, Any],
                     pairing_id: int | None = Parameter(default=None, ge=1, le=2_147_483_647)) -> Template:
    values: dict[str, Any] = dict.fromkeys(TEXT_FIELDS, "")
    values.update(pairing_id=str(pairing_id or ""), visited_on=dt.date.today().isoformat(), services=[],
                  **{KEY_FIELD: new_key("visit")})
    return _visit_page(request, values)


def _parsed(values: dict[str, Any]) -> visits.VisitForm:
    problems: dict[str, str] = {}
    try:
        pairing_id = int(values["pairing_id"])
    except ValueError:
        problems["pairing_id"] = "请填写结对编号（整数）"
        pairing_id = 0
    try:
        visited_on = dt.date.fromisoformat(values["visited_on"])
    except ValueError:
        problems["visited_on"] = "日期格式无效，应为 YYYY-MM-DD"
        visited_on = dt.date.today()
    if values["cash"] and not values["cash_confirmed"]:
        # Cash moves money: the secretary confirms the amount on the form itself (the sheet cannot be
        # carried to a second confirmation page).
        problems["cash"] = f"请勾选“确认支付慰问金 {values['cash']} 元”后再保存"
    if problems:
        raise Invalid(problems=[Problem(k, v) for k, v in problems.items()])
    return visits.VisitForm(pairing_id=pairing_id, visited_on=visited_on, services=list(values["services"]),
                            signer_name=values["signer_name"], notes=values["notes"] or None,
                            goods=values["goods"] or None, cash=values["cash"] or None,
                            voucher=values["voucher"] or None, idempotency_key=values[KEY_FIELD] or None,
                            flag=values["flag"] or None, flag_note=values["flag_note"] or None)


@post("/visits/new", opt=requires(Perm.household_write), include_in_schema=False)
async def visit_submit(request: Request[Any, Any, Any], db: Session, org_scope: Scope) -> Response[Any]:
    form = await request.form()
    values: dict[str, Any] = {k: str(form.get(k) or "").strip() for k in (*TEXT_FIELDS, KEY_FIELD)}
    values["services"] = [s for s in form.getall("services") if isinstance(s, str)] if "services" in form else []
    upload = form.get("file")
    content = await upload.read(MAX_SHEET_BYTES + 1) if isinstance(upload, UploadFile) else b""
    settings = request.app.state.settings

    def record() -> int:
        return visits.record_visit(db, org_scope, Path(settings.ledger_dir), Path(settings.upload_dir),
                                   _parsed(values), content, recorded_by=recorder(db)[1]).id

    try:
        if not content:
            raise Invalid("请拍照或选择签字单（照片或 PDF）", field="file")
        visit_id = await anyio.to_thread.run_sync(record)
    except DomainError as exc:
        if exc.status_code == 404 and exc.field not in FIELDS:
            exc = DomainError("结对不存在或不在您的管理范围内", field="pairing_id", status_code=404)
        await anyio.to_thread.run_sync(db.rollback)
        return _visit_page(request, values, errors_of(exc, FIELDS), status_code=exc.status_code)
    month = values["visited_on"][:7]
    return Redirect(f"/pairings?month={month}&visited={visit_id}", status_code=303)


ROUTES = [pairings_page, visit_form, visit_submit]
