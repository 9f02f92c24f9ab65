"""HTTP routes of reports (/api/reports) and statements (/api/statements); thin: parse, call, shape.

Reports and their drill-downs need ``fund:read``; preparing a statement ``fund:write``; signing it
``statement:sign`` (an auditor who did not prepare it). Anything outside the caller's subtree answers 404.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.schemas import MAX_ID, Id
from assoc_ledger.reports import export, pdf, queries, statements
from assoc_ledger.reports.models import Statement


class ReportOut(BaseModel):
    name: str
    title: str
    org_id: int
    date_from: dt.date
    date_to: dt.date
    columns: list[str]
    rows: list[dict[str, Any]]
    notes: list[str]


class PostingOut(BaseModel):
    posting_id: int = Field(description="分页：下一页以最后一行的 posting_id 作为 after")
    book_id: int
    book: str
    seq: int
    date: dt.date
    voucher: str | None
    narration: str
    account: str
    amount: str
    reverses_seq: int | None


class DrillOut(BaseModel):
    total: str
    postings: list[PostingOut]


class RollLineOut(BaseModel):
    book: str
    roll: str
    line_no: int
    payee: str
    resident_id: str
    period: str
    amount: str


class StatementIn(BaseModel):
    org_id: int = Field(ge=1, le=MAX_ID)
    year: int = Field(ge=2000, le=2100)


class SignIn(BaseModel):
    comment: str = Field(min_length=1, max_length=1000)


class ChangeOut(BaseModel):
    book: str
    seq: int
    date: dt.date
    voucher: str | None
    narration: str
    reverses_seq: int | None
    amount: str


class StatementOut(BaseModel):
    id: int
    org_id: int
    org: str
    year: int
    version: int
    state: str
    state_zh: str
    prepared_by: str
    prepared_at: dt.datetime
    signed_by: str | None
    signed_at: dt.datetime | None
    sign_comment: str | None
    program_version: str
    fingerprint: dict[str, Any]
    summary: dict[str, Any]
    changes: list[ChangeOut]
    pdf_internal: str
    pdf_public: str


def statement_out(db: Session, row: Statement) -> StatementOut:
    state = statements.state_of(db, row)
    changes = statements.changes_since(db, row)
    return StatementOut(
        id=row.id, org_id=row.org_id, org=row.figures["org"]["name"], year=row.year, version=row.version,
        state=state, state_zh=statements.STATE_ZH[state], prepared_by=row.prepared_by, prepared_at=row.prepared_at,
        signed_by=row.signed_by, signed_at=row.signed_at, sign_comment=row.sign_comment,
        program_version=row.program_version, fingerprint=row.fingerprint, summary=row.figures["summary"],
        changes=[ChangeOut(**c.__dict__) for c in changes],
        pdf_internal=f"/api/statements/{row.id}/pdf?variant=internal",
        pdf_public=f"/api/statements/{row.id}/pdf?variant=public")


def _drill(org: int, date_from: dt.date, date_to: dt.date, account: list[str] | None, book: list[int] | None,
           category: str | None, rolls: bool = False) -> queries.Drill:
    return queries.Drill(org, date_from, date_to, tuple(account or ()), tuple(book or ()), category, rolls)


def pdf_response(db: Session, ledger_dir: Path, row: Statement, variant: str) -> Response[bytes]:
    state = statements.state_of(db, row)
    data = pdf.render_pdf(row, variant, state, statements.STATE_ZH[state], statements.changes_since(db, row),
                          ledger_dir)
    name = f"statement-{row.id}-v{row.version}-{variant}.pdf"
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


class ReportController(Controller):
    path = "/api/reports"
    tags = ["报表 reports"]  # noqa: RUF012

    @get("", opt=requires(Perm.fund_read), sync_to_thread=False)
    def names(self) -> list[dict[str, str]]:
        """可用的报表。"""
        return [{"name": n, "title": t} for n, (t, _) in queries.REPORTS.items()]

    @get("/{name:str}", opt=requires(Perm.fund_read), sync_to_thread=True)
    def run(self, db: Session, org_scope: Scope, name: str, org: Id,
            date_from: dt.date = Parameter(query="from"), date_to: dt.date = Parameter(query="to"),
            fmt: Literal["json", "csv", "xlsx"] = Parameter(query="format", default="json")) -> Any:
        """某组织（含下级）某期间的报表；每行的 drill 链接列出其背后的分录。format=csv|xlsx 下载。"""
        report = queries.run_report(db, org_scope, name, org, date_from, date_to)
        period = f"{date_from.isoformat()} 至 {date_to.isoformat()}"
        if fmt == "csv":
            return Response(export.to_csv(report, period=period), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
        if fmt == "xlsx":
            return Response(export.to_xlsx(report, period=period), media_type=export.XLSX_MEDIA,
                            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
        body = report.as_json()
        return ReportOut(name=report.name, title=report.title, org_id=org, date_from=date_from, date_to=date_to,
                         columns=body["columns"], rows=body["rows"], notes=body["notes"])

    @get("/drill/postings", opt=requires(Perm.fund_read), sync_to_thread=True)
    def postings(self, db: Session, org_scope: Scope, org: Id, date_from: dt.date = Parameter(query="from"),
                 date_to: dt.date = Parameter(query="to"),
                 account: list[str] | None = Parameter(default=None, max_items=40),
                 book: list[int] | None = Parameter(default=None, max_items=200),
                 category: str | None = Parameter(default=None, max_length=40),
                 limit: int = Parameter(default=500, ge=1, le=queries.MAX_DRILL),
                 after: int = Parameter(default=0, ge=0, le=MAX_ID)) -> DrillOut:
        """一个数字背后的分录（含子科目），以及它们的合计。"""
        drill = _drill(org, date_from, date_to, account, book, category)
        lines = queries.postings(db, org_scope, drill, limit=limit, after=after)
        return DrillOut(total=queries.cell_text(queries.postings_total(db, org_scope, drill)),
                        postings=[PostingOut(posting_id=p.posting_id, book_id=p.book_id, book=p.book, seq=p.seq,
                                             date=p.date,
                                             voucher=p.voucher, narration=p.narration, account=p.account,
                                             amount=queries.cell_text(p.amount), reverses_seq=p.reverses_seq)
                                  for p in lines])

    @get("/drill/roll-lines", opt=requires(Perm.fund_read), sync_to_thread=True)
    def roll_lines(self, db: Session, org_scope: Scope, org: Id, date_from: dt.date = Parameter(query="from"),
                   date_to: dt.date = Parameter(query="to"),
                   book: list[int] | None = Parameter(default=None, max_items=200),
                   category: str | None = Parameter(default=None, max_length=40),
                   limit: int = Parameter(default=500, ge=1, le=queries.MAX_DRILL)) -> list[RollLineOut]:
        """受助家庭数字背后的发放花名册行（身份证号已脱敏）。"""
        drill = _drill(org, date_from, date_to, None, book, category, rolls=True)
        return [RollLineOut(book=r.book, roll=r.roll, line_no=r.line_no, payee=r.payee, resident_id=r.resident_id,
                            period=r.period, amount=queries.cell_text(r.amount))
                for r in queries.roll_lines(db, org_scope, drill, limit=limit)]


class StatementController(Controller):
    path = "/api/statements"
    tags = ["年度报告 statements"]  # noqa: RUF012

    @get("", opt=requires(Perm.fund_read), sync_to_thread=True)
    def list(self, db: Session, org_scope: Scope, org: Id | None = None) -> list[StatementOut]:
        return [statement_out(db, r) for r in statements.list_statements(db, org_scope, org)]

    @post("", opt=requires(Perm.fund_write), sync_to_thread=True)
    def prepare(self, request: Request[Any, Any, Any], db: Session, org_scope: Scope,
                data: StatementIn) -> Response[StatementOut]:
        """编制年度报告：冻结数据与账簿指纹（已有版本时编制新版本）。"""
        row = statements.prepare(db, org_scope, Path(request.app.state.settings.ledger_dir), data.org_id, data.year,
                                 statements.actor_of(org_scope))
        return Response(statement_out(db, row), status_code=201)

    @get("/{statement_id:int}", opt=requires(Perm.fund_read), sync_to_thread=True)
    def show(self, db: Session, org_scope: Scope, statement_id: Id) -> StatementOut:
        return statement_out(db, statements.get(db, org_scope, statement_id))

    @post("/{statement_id:int}/sign", opt=requires(Perm.statement_sign), sync_to_thread=True, status_code=200)
    def sign(self, db: Session, org_scope: Scope, statement_id: Id, data: SignIn) -> StatementOut:
        """审计签发：不能由编制人签发；签发后不可修改并公开。"""
        row = statements.sign(db, org_scope, statement_id, statements.actor_of(org_scope), data.comment)
        return statement_out(db, row)

    @get("/{statement_id:int}/pdf", opt=requires(Perm.fund_read), sync_to_thread=True)
    def pdf(self, request: Request[Any, Any, Any], db: Session, org_scope: Scope, statement_id: Id,
            variant: Literal["internal", "public"] = "internal") -> Response[bytes]:
        row = statements.get(db, org_scope, statement_id)
        return pdf_response(db, Path(request.app.state.settings.ledger_dir), row, variant)

    @get("/{statement_id:int}/figures.csv", opt=requires(Perm.fund_read), sync_to_thread=True)
    def figures(self, db: Session, org_scope: Scope, statement_id: Id) -> Response[bytes]:
        row = statements.get(db, org_scope, statement_id)
        return Response(pdf.figures_csv(row), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="statement-{row.id}.csv"'})


ROUTES = [ReportController, StatementController]
