"""HTTP routes of the fund books under /api/fund; thin: validate, call the service, shape the answer.

Reads need ``fund:read``, writes ``fund:write``, month close ``fund:close``; a book outside the caller's
organisation scope answers 404. Every write needs an idempotency key (``Idempotency-Key`` header or the
``idempotency_key`` body field): repeating a request returns the first answer and posts nothing more.
"""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from sqlalchemy.orm import Session

from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.errors import Invalid
from assoc_ledger.core.schemas import MAX_ID, Id
from assoc_ledger.fund import files, service
from assoc_ledger.fund.chart import SOURCES
from assoc_ledger.fund.models import FundBook, FundEarmark
from assoc_ledger.fund.schemas import (
    AccountOut,
    BalanceOut,
    BalancesOut,
    BookOpen,
    BookOut,
    CloseIn,
    EarmarkIn,
    EarmarkOut,
    EntryIn,
    FundBalanceOut,
    IncomeIn,
    JournalOut,
    JournalPageOut,
    PaymentIn,
    PostedOut,
    ReverseIn,
    RollIn,
    TransferIn,
    VerifyOut,
)
from assoc_ledger.fund.verify_jobs import Job, VerifyJobs

IDEM_HEADER = Parameter(header="Idempotency-Key", default=None, max_length=120, required=False)


def _ledger_dir(request: Request[Any, Any, Any]) -> Path:
    ledger_dir = Path(request.app.state.settings.ledger_dir)
    if not request.app.state.get("fund_recovered"):
        # Start-up recovery, once per process, before the first fund request is served.
        with request.app.state.session_factory() as db:
            service.recover_all(db, ledger_dir)
        request.app.state.fund_recovered = True
    return ledger_dir


def _key(header: str | None, body: str | None) -> str | None:
    if header and body and header != body:
        raise Invalid("Idempotency-Key 请求头与 idempotency_key 字段不一致", field="idempotency_key")
    return header or body


def _earmark(rule: FundEarmark) -> EarmarkOut:
    source = next((src.value for src, line in SOURCES.items() if line.account == rule.income_account), None)
    return EarmarkOut(id=rule.id, source=source, income_account=rule.income_account, fund=rule.fund,
                      percent=f"{Decimal(rule.basis_points) / 100:.2f}", effective_from=rule.effective_from)


def _posted(p: service.Posted) -> PostedOut:
    return PostedOut(book_id=p.book_id, seq=p.seq, entry_id=p.entry_id, hash=p.hash, replayed=p.replayed)


class FundController(Controller):
    path = "/api/fund"
    tags = ["公益金 fund"]  # noqa: RUF012

    @get("/books", opt=requires(Perm.fund_read), sync_to_thread=True)
    def list_books(self, request: Request[Any, Any, Any], db: Session, org_scope: Scope) -> list[BookOut]:
        ledger_dir = _ledger_dir(request)
        return [BookOut.of(b, str(files.book_paths(ledger_dir, b).main)) for b, _ in service.list_books(db, org_scope)]

    @post("/books", opt=requires(Perm.fund_write), sync_to_thread=True)
    def open_book(self, request: Request[Any, Any, Any], db: Session, org_scope: Scope, data: BookOpen) -> BookOut:
        ledger_dir = _ledger_dir(request)
        book = service.open_book(db, ledger_dir, data.org_id, org_scope)
        return BookOut.of(book, str(files.book_paths(ledger_dir, book).main))

    @get("/books/{book_id:int}", opt=requires(Perm.fund_read), sync_to_thread=True)
    def get_book(self, request: Request[Any, Any, Any], db: Session, org_scope: Scope, book_id: Id) -> BookOut:
        book = service.get_book(db, book_id, org_scope)
        return BookOut.of(book, str(files.book_paths(_ledger_dir(request), book).main))

    @get("/books/{book_id:int}/accounts", opt=requires(Perm.fund_read), sync_to_thread=True)
    def accounts(self, db: Session, org_scope: Scope, book_id: Id) -> list[AccountOut]:
        service.get_book(db, book_id, org_scope)
        return [AccountOut(name=a.name, zh=a.zh, kind=a.kind, fund=a.fund, category=a.category,
                           balance=str(amount)) for a, amount in service.balances(db, book_id)]

    @get("/books/{book_id:int}/journal", opt=requires(Perm.fund_read), sync_to_thread=True)
    def journal(self, db: Session, org_scope: Scope, book_id: Id,
                account: str | None = Parameter(default=None, max_length=120),
                date_from: dt.date | None = Parameter(query="from", default=None),
                date_to: dt.date | None = Parameter(query="to", default=None),
                category: str | None = Parameter(default=None, max_length=40),
                q: str | None = Parameter(default=None, max_length=100),
                limit: int = Parameter(default=100, ge=1, le=1000),
                offset: int = Parameter(default=0, ge=0, le=MAX_ID),
                after: str | None = Parameter(default=None, max_length=30,
                                              description="游标（日期:序号）：此条之后的一页，见上页的 next"),
                before: str | None = Parameter(default=None, max_length=30,
                                               description="游标（日期:序号）：此条之前的一页，见本页的 prev"),
                last: bool = Parameter(default=False, description="最后一页（不逐条跳过前面的分录）")
                ) -> JournalPageOut:
        """分录日记账，按（日期，序号）排列。翻页用 after/before 游标或 last=true；offset 仍可用但越往后越慢。"""
        service.get_book(db, book_id, org_scope)
        if (after is not None) + (before is not None) + last + (offset > 0) > 1:
            raise Invalid("after、before、last 与 offset 只能选用一个", field="after")
        cursors = {name: service.parse_cursor(value) for name, value in (("after", after), ("before", before))
                   if value is not None}
        for name, cursor in cursors.items():
            if cursor is None:
                raise Invalid("游标格式应为 日期:序号，例如 2026-01-05:17", field=name)
        page = service.journal_page(db, book_id, service.JournalFilter(account, date_from, date_to, category, q),
                                    limit=limit, offset=offset, after=cursors.get("after"),
                                    before=cursors.get("before"), last=last)
        return JournalPageOut(items=[JournalOut.of(e, legs) for e, legs in page.rows], total=page.total,
                              total_exact=page.total_exact, limit=limit, offset=page.offset,
                              next=service.cursor_text(page.next) if page.next else None,
                              prev=service.cursor_text(page.prev) if page.prev else None)

    @get("/books/{book_id:int}/balances", opt=requires(Perm.fund_read), sync_to_thread=True)
    def balances(self, db: Session, org_scope: Scope, book_id: Id, on: dt.date | None = None,
                 account: str | None = Parameter(default=None, max_length=120)) -> BalancesOut:
        service.get_book(db, book_id, org_scope)
        if account:
            accounts = {a.name: a for a in service.book_accounts(db, book_id)}
            if account not in accounts and not any(n.startswith(account + ":") for n in accounts):
                raise Invalid(f"科目不存在：{account}", field="account")
            zh = accounts[account].zh if account in accounts else account
            rows = [BalanceOut.of(account, zh, service.balance_of(db, book_id, account, on))]
        else:
            rows = [BalanceOut.of(a.name, a.zh, amount) for a, amount in service.balances(db, book_id, on)]
        return BalancesOut(book_id=book_id, on=on, accounts=rows)

    @get("/books/{book_id:int}/funds", opt=requires(Perm.fund_read), sync_to_thread=True)
    def funds(self, db: Session, org_scope: Scope, book_id: Id, on: dt.date | None = None) -> list[FundBalanceOut]:
        """限定/非限定资金余额：restricted and unrestricted money, bank and cash together."""
        service.get_book(db, book_id, org_scope)
        return [FundBalanceOut(fund=f, zh=zh, restricted=f != "General", balance=str(amount))
                for f, zh, amount in service.fund_balances(db, book_id, on)]

    @get("/books/{book_id:int}/earmarks", opt=requires(Perm.fund_read), sync_to_thread=True)
    def earmarks(self, db: Session, org_scope: Scope, book_id: Id) -> list[EarmarkOut]:
        """限定用途提取规则，按生效日期排列；某日适用的是不晚于该日的最新一条。"""
        service.get_book(db, book_id, org_scope)
        return [_earmark(r) for r in service.earmarks(db, book_id)]

    @post("/books/{book_id:int}/earmarks", opt=requires(Perm.fund_close), sync_to_thread=True)
    def set_earmark(self, request: Request[Any, Any, Any], db: Session, org_scope: Scope, book_id: Id,
                    data: EarmarkIn) -> Response[EarmarkOut]:
        """新增一条提取规则（需 fund:close 权限）。同一规则重复提交只记一次（200）；新规则 201。"""
        rule, created = service.set_earmark(db, _ledger_dir(request), org_scope, book_id, source=data.source,
                                            fund=data.fund, percent=data.percent,
                                            effective_from=data.effective_from)
        return Response(_earmark(rule), status_code=201 if created else 200)

    @post("/books/{book_id:int}/income", opt=requires(Perm.fund_write), sync_to_thread=True)
    def income(self, request: Request[Any, Any, Any], db: Session, org_scope: Scope, book_id: Id, data: IncomeIn,
               idempotency_key: str | None = IDEM_HEADER) -> PostedOut:
        return _posted(service.post_income(
            db, _ledger_dir(request), org_scope, book_id, key=_key(idempotency_key, data.idempotency_key),
            date=data.date, amount=data.amount, source=data.source, payer=data.payer, voucher=data.voucher,
            narration=data.narration, via=data.via, meta=data.meta))

    @post("/books/{book_id:int}/payments", opt=requires(Perm.fund_write), sync_to_thread=True)
    def payment(self, request: Request[Any, Any, Any], db: Session, org_scope: Scope, book_id: Id,
                data: PaymentIn, idempotency_key: str | None = IDEM_HEADER) -> PostedOut:
        return _posted(service.post_payment(
            db, _ledger_dir(request), org_scope, book_id, key=_key(idempotency_key, data.idempotency_key),
            date=data.date, amount=data.amount, category=data.category, fund=data.fund, payee=data.payee,
            voucher=data.voucher, narration=data.narration, via=data.via, meta=data.meta))

    @post("/books/{book_id:int}/rolls", opt=requires(Perm.fund_write), sync_to_thread=True)
    def roll(self, request: Request[Any, Any, Any], db: Session, org_scope: Scope, book_id: Id, data: RollIn,
             idempotency_key: str | None = IDEM_HEADER) -> PostedOut:
        return _posted(service.post_roll(
            db, _ledger_dir(request), org_scope, book_id, key=_key(idempotency_key, data.idempotency_key),
            date=data.date, category=data.category, fund=data.fund, roll=data.roll,
            lines=[line.model_dump() for line in data.lines], voucher=data.voucher, narration=data.narration,
            via=data.via))

    @post("/books/{book_id:int}/entries", opt=requires(Perm.fund_write), sync_to_thread=True)
    def entry(self, request: Request[Any, Any, Any], db: Session, org_scope: Scope, book_id: Id, data: EntryIn,
              idempotency_key: str | None = IDEM_HEADER) -> PostedOut:
        return _posted(service.post_entry(
            db, _ledger_dir(request), org_scope, book_id, key=_key(idempotency_key, data.idempotency_key),
            date=data.date, narration=data.narration, payee=data.payee, voucher=data.voucher,
            postings=[leg.model_dump() for leg in data.postings], meta=data.meta))

    @post("/transfers", opt=requires(Perm.fund_write), sync_to_thread=True)
    def transfer(self, request: Request[Any, Any, Any], db: Session, org_scope: Scope, data: TransferIn,
                 idempotency_key: str | None = IDEM_HEADER) -> list[PostedOut]:
        return [_posted(p) for p in service.post_transfer(
            db, _ledger_dir(request), org_scope, data.from_book_id, data.to_book_id,
            key=_key(idempotency_key, data.idempotency_key), date=data.date, amount=data.amount, fund=data.fund,
            voucher=data.voucher, narration=data.narration, via=data.via)]

    @post("/books/{book_id:int}/entries/{seq:int}/reverse", opt=requires(Perm.fund_write), sync_to_thread=True)
    def reverse(self, request: Request[Any, Any, Any], db: Session, org_scope: Scope, book_id: Id, seq: Id,
                data: ReverseIn, idempotency_key: str | None = IDEM_HEADER) -> list[PostedOut]:
        return [_posted(p) for p in service.reverse(
            db, _ledger_dir(request), org_scope, book_id, seq, key=_key(idempotency_key, data.idempotency_key),
            date=data.date, reason=data.reason, voucher=data.voucher)]

    @post("/books/{book_id:int}/close", opt=requires(Perm.fund_close), sync_to_thread=True)
    def close(self, request: Request[Any, Any, Any], db: Session, org_scope: Scope, book_id: Id, data: CloseIn,
              idempotency_key: str | None = IDEM_HEADER) -> PostedOut:
        return _posted(service.close_month(db, _ledger_dir(request), org_scope, book_id, data.month,
                                           key=_key(idempotency_key, data.idempotency_key)))

    @get("/books/{book_id:int}/verify", opt=requires(Perm.fund_read), sync_to_thread=True)
    def verify(self, request: Request[Any, Any, Any], db: Session, org_scope: Scope,
               book_id: Id) -> Response[VerifyOut]:
        """核对账簿：在后台开始一次增量核对（已有进行中的则加入），最多等 VERIFY_WAIT 秒；
        完成则 200 返回结果，否则 202 返回进度，之后用 …/verify/status 查询。"""
        book = service.get_book(db, book_id, org_scope)
        job = _verify_jobs(request).start(book)
        job.done_event.wait(VERIFY_WAIT)
        return _verify_out(book, job)

    @post("/books/{book_id:int}/verify", opt=requires(Perm.fund_read), sync_to_thread=True)
    def start_verify(self, request: Request[Any, Any, Any], db: Session, org_scope: Scope, book_id: Id,
                     full: bool = Parameter(default=False, description="从头完整核对，不用上次的检查点")
                     ) -> Response[VerifyOut]:
        """开始一次后台核对（202），用 …/verify/status 查询进度和结果。"""
        book = service.get_book(db, book_id, org_scope)
        return _verify_out(book, _verify_jobs(request).start(book, full=full))

    @get("/books/{book_id:int}/verify/status", opt=requires(Perm.fund_read), sync_to_thread=True)
    def verify_status(self, request: Request[Any, Any, Any], db: Session, org_scope: Scope,
                      book_id: Id) -> Response[VerifyOut]:
        """本账簿最近一次核对的状态、进度和结果（state=none：本进程启动后还没有核对过）。"""
        book = service.get_book(db, book_id, org_scope)
        return _verify_out(book, _verify_jobs(request).latest(book_id))


VERIFY_WAIT = 2.0
"""Seconds ``GET …/verify`` waits for its job: an incremental verify of a busy book finishes within it,
so existing clients keep getting the report in one call; a longer one answers 202 with progress."""
_JOBS_LOCK = threading.Lock()


def _verify_jobs(request: Request[Any, Any, Any]) -> VerifyJobs:
    state = request.app.state
    with _JOBS_LOCK:
        jobs = state.get("verify_jobs")
        if jobs is None:
            jobs = state.verify_jobs = VerifyJobs(state.session_factory, _ledger_dir(request))
    return cast(VerifyJobs, jobs)


def _verify_out(book: FundBook, job: Job | None) -> Response[VerifyOut]:
    if job is None:
        return Response(VerifyOut(book=book.slug, entries=book.next_seq - 1, ok=None, first=None, problems=[],
                                  state="none"))
    report = job.report
    out = VerifyOut(book=book.slug, entries=report.entries if report else book.next_seq - 1,
                    ok=report.ok if report else None, first=str(report.first) if report and report.first else None,
                    problems=[str(p) for p in report.problems[:100]] if report else [], job_id=job.id,
                    state=job.state, full=job.full, checked=job.checked, total=job.total, error=job.error)
    return Response(out, status_code=202 if job.state == "running" else 200)


ROUTES = [FundController]
