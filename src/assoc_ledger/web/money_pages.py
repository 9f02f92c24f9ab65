"""Forms that move money (公益金记账): receipt, payment, transfer to a lower level, reversal, month close.

Each is three steps on plain forms, no JavaScript needed: fill in → 核对 (a confirmation page listing what
will be posted, nothing written yet) → 确认 (posted through ``fund.service``). A refused step renders the
form again with the typed values and each Chinese message under its field. The form carries a hidden
idempotency key made when it is first shown, so a double click or a resubmitted confirmation posts once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import anyio
from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.handlers import HTTPRouteHandler
from litestar.params import Body
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.errors import DomainError, Problem
from assoc_ledger.core.schemas import Id
from assoc_ledger.fund import service
from assoc_ledger.fund.chart import CATEGORIES, FUND_ZH, SOURCES, VIA_ZH
from assoc_ledger.fund.commands import Close, Income, Payment, Reversal, Transfer
from assoc_ledger.web.context import page_context
from assoc_ledger.web.forms import KEY_FIELD, clean, errors_of, new_key

Options = list[tuple[str, str]]
Checker = Callable[[Session, Scope, int, dict[str, str]], None]
Poster = Callable[[Session, Path, Scope, int, dict[str, str]], int]  # -> the seq of the (first) entry


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text | date | month | money | select
    required: bool = True
    options: Options | None = None
    hint: str = ""


def _options(table: Mapping[Any, Any], attr: str | None = "zh") -> Options:
    return [(str(getattr(k, "value", k)), getattr(v, attr) if attr else str(v)) for k, v in table.items()]


SOURCE_OPTIONS = _options(SOURCES)
CATEGORY_OPTIONS = _options(CATEGORIES)
FUND_OPTIONS = _options(FUND_ZH, None)
VIA_OPTIONS = _options(VIA_ZH, None)

DATE = Field("date", "日期", "date")
AMOUNT = Field("amount", "金额（元）", "money", hint="如 1200.00")
VOUCHER = Field("voucher", "凭证号")
VIA = Field("via", "收付方式", "select", options=VIA_OPTIONS)
NARRATION = Field("narration", "摘要", required=False)


@dataclass(frozen=True)
class MoneyForm:
    slug: str
    title: str
    verb: str  # the confirmation button
    fields: tuple[Field, ...]
    check: Checker
    post: Poster
    defaults: Mapping[str, str]
    perm: Perm = Perm.fund_write  # month close is a reviewer's act: fund:close


def _seq(posted: list[service.Posted] | service.Posted, book_id: int) -> int:
    if isinstance(posted, service.Posted):
        return posted.seq
    return next((p.seq for p in posted if p.book_id == book_id), posted[0].seq)


def _checked(db: Session, scope: Scope, book_id: int, parse: Callable[[], object]) -> None:
    """The book in scope (404 otherwise), then the command parsed as the writer would: nothing is written."""
    service.get_book(db, book_id, scope)
    parse()


RECEIPT = MoneyForm(
    "receipt", "记录收入", "确认入账",
    (DATE, AMOUNT, Field("source", "收入来源", "select", options=SOURCE_OPTIONS), Field("payer", "交款单位或个人"),
     VOUCHER, VIA, NARRATION),
    lambda db, scope, book, v: _checked(db, scope, book, lambda: Income.parse(
        book, key=v[KEY_FIELD], date=v["date"], amount=v["amount"], source=v["source"], payer=v["payer"],
        voucher=v["voucher"], narration=v["narration"] or None, via=v["via"])),
    lambda db, d, scope, book, v: _seq(service.post_income(
        db, d, scope, book, key=v[KEY_FIELD], date=v["date"], amount=v["amount"], source=v["source"],
        payer=v["payer"], voucher=v["voucher"], narration=v["narration"] or None, via=v["via"]), book),
    {"via": "Bank", "source": "budget"})

PAYMENT = MoneyForm(
    "payment", "记录支出", "确认付款",
    (DATE, AMOUNT, Field("category", "支出类别", "select", options=CATEGORY_OPTIONS),
     Field("fund", "资金", "select", options=FUND_OPTIONS, hint="限定用途资金只能用于规定用途"),
     Field("payee", "收款人"), VOUCHER, VIA, NARRATION),
    lambda db, scope, book, v: _checked(db, scope, book, lambda: Payment.parse(
        book, key=v[KEY_FIELD], date=v["date"], amount=v["amount"], category=v["category"], payee=v["payee"],
        voucher=v["voucher"], fund=v["fund"], narration=v["narration"] or None, via=v["via"])),
    lambda db, d, scope, book, v: _seq(service.post_payment(
        db, d, scope, book, key=v[KEY_FIELD], date=v["date"], amount=v["amount"], category=v["category"],
        payee=v["payee"], voucher=v["voucher"], fund=v["fund"], narration=v["narration"] or None,
        via=v["via"]), book),
    {"via": "Bank", "fund": "General", "category": "general"})


def _to_book(v: dict[str, str]) -> int:
    try:
        return int(v["to_book_id"])
    except ValueError:
        raise DomainError("请选择收款账簿", field="to_book_id") from None


def _check_transfer(db: Session, scope: Scope, book: int, v: dict[str, str]) -> None:
    service.get_book(db, book, scope)
    to = _to_book(v)
    found = []
    try:
        service.get_book(db, to, scope)
    except DomainError:
        found.append(Problem("to_book_id", "收款账簿不存在"))
    Transfer.parse(book, to, key=v[KEY_FIELD], date=v["date"], amount=v["amount"], voucher=v["voucher"],
                   fund=v["fund"], narration=v["narration"] or None, via=v["via"], found=found)


TRANSFER = MoneyForm(
    "transfer", "拨付下级", "确认拨付",
    (Field("to_book_id", "收款账簿（下级协会）", "select"), DATE, AMOUNT,
     Field("fund", "资金", "select", options=FUND_OPTIONS), VOUCHER, VIA, NARRATION),
    _check_transfer,
    lambda db, d, scope, book, v: _seq(service.post_transfer(
        db, d, scope, book, _to_book(v), key=v[KEY_FIELD], date=v["date"], amount=v["amount"],
        voucher=v["voucher"], fund=v["fund"], narration=v["narration"] or None, via=v["via"]), book),
    {"via": "Bank", "fund": "General"})


def _entry_seq(v: dict[str, str]) -> int:
    try:
        return int(v["seq"])
    except ValueError:
        raise DomainError("请填写要冲销的分录序号", field="seq") from None


REVERSAL = MoneyForm(
    "reverse", "冲销分录", "确认冲销",
    (Field("seq", "要冲销的分录序号"), DATE, Field("reason", "冲销原因"), VOUCHER),
    lambda db, scope, book, v: _checked(db, scope, book, lambda: Reversal.parse(
        book, _entry_seq(v), key=v[KEY_FIELD], date=v["date"], reason=v["reason"], voucher=v["voucher"])),
    lambda db, d, scope, book, v: _seq(service.reverse(
        db, d, scope, book, _entry_seq(v), key=v[KEY_FIELD], date=v["date"], reason=v["reason"],
        voucher=v["voucher"]), book),
    {})

CLOSE = MoneyForm(
    "close", "月结", "确认月结",
    (Field("month", "月份", "month", hint="YYYY-MM；月结后该月不能再记账"),),
    lambda db, scope, book, v: _checked(db, scope, book, lambda: Close.parse(book, v["month"], key=v[KEY_FIELD])),
    lambda db, d, scope, book, v: _seq(service.close_month(db, d, scope, book, v["month"], key=v[KEY_FIELD]), book),
    {}, Perm.fund_close)

FORMS = {f.slug: f for f in (RECEIPT, PAYMENT, TRANSFER, REVERSAL, CLOSE)}


def _names(form: MoneyForm) -> list[str]:
    return [f.name for f in form.fields]


def _render(request: Request[Any, Any, Any], db: Session, scope: Scope, form: MoneyForm, book_id: int,
            values: dict[str, str], errors: dict[str, str] | None = None, *, confirm: bool = False,
            status_code: int = 200) -> Template:
    book = service.get_book(db, book_id, scope)
    fields = list(form.fields)
    if form is TRANSFER:
        choices = [(str(b.id), o.name) for b, o in service.list_books(db, scope) if b.id != book_id]
        fields[0] = Field("to_book_id", "收款账簿（下级协会）", "select", options=choices)
    shown = {f.name: dict(f.options or []).get(values.get(f.name, ""), values.get(f.name, "")) for f in fields}
    return Template("money_form.html", status_code=status_code, context=page_context(
        request, form=form, fields=fields, book=book, values=values, shown=shown, errors=errors or {},
        confirm=confirm, key_field=KEY_FIELD))


def _show(request: Request[Any, Any, Any], db: Session, scope: Scope, form: MoneyForm, book_id: int,
          query: Mapping[str, str]) -> Template:
    values = {**dict.fromkeys(_names(form), ""), "date": dt.date.today().isoformat(), **form.defaults}
    values.update({k: v for k, v in query.items() if k in values and isinstance(v, str)})
    values[KEY_FIELD] = new_key(form.slug)
    return _render(request, db, scope, form, book_id, values)


def _submit(request: Request[Any, Any, Any], db: Session, scope: Scope, form: MoneyForm, book_id: int,
            data: dict[str, str]) -> Response[Any]:
    values = clean(data, [*_names(form), KEY_FIELD])
    step = data.get("step", "check")
    if step == "edit":
        return _render(request, db, scope, form, book_id, values)
    try:
        form.check(db, scope, book_id, values)
        if step != "confirm":
            return _render(request, db, scope, form, book_id, values, confirm=True)
        seq = form.post(db, Path(request.app.state.settings.ledger_dir), scope, book_id, values)
    except DomainError as exc:
        if exc.status_code == 404 and exc.field in (None, "", "book_id"):
            raise
        db.rollback()
        return _render(request, db, scope, form, book_id, values, errors_of(exc, _names(form)),
                       status_code=exc.status_code)
    return Redirect(f"/fund/books/{book_id}?posted={seq}#e-{seq}", status_code=303)


Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


async def _in_thread(fn: Callable[..., Template], *args: Any) -> Template:
    """A form page's reads in a worker thread. Its GET is async: a sync GET beside a sync POST on one path
    is wrapped twice by Litestar 2 and answers a coroutine instead of the page."""
    return await anyio.to_thread.run_sync(lambda: fn(*args))


def _handlers(form: MoneyForm) -> list[HTTPRouteHandler]:
    """The form's GET (show) and POST (check, confirm) at ``/fund/books/{id}/<slug>``, named ``<slug>_form``
    and ``<slug>_submit``: one piece of code for the five forms, which differ only in their spec."""
    path = f"/fund/books/{{book_id:int}}/{form.slug}"
    name = form.slug

    async def show(request: Request[Any, Any, Any], db: Session, org_scope: Scope, book_id: Id) -> Template:
        return await _in_thread(_show, request, db, org_scope, form, book_id, dict(request.query_params))

    def submit(request: Request[Any, Any, Any], db: Session, org_scope: Scope, book_id: Id,
               data: Form) -> Response[Any]:
        return _submit(request, db, org_scope, form, book_id, data)

    for fn, suffix in ((show, "form"), (submit, "submit")):
        fn.__name__ = fn.__qualname__ = f"{name}_{suffix}"
    return [get(path, opt=requires(form.perm), include_in_schema=False, name=f"{name}_form")(show),
            post(path, opt=requires(form.perm), include_in_schema=False, sync_to_thread=True,
                 name=f"{name}_submit")(submit)]


ROUTES = [handler for form in FORMS.values() for handler in _handlers(form)]
