"""``assoc-ledger report NAME …`` and ``assoc-ledger statement prepare|sign|show|list|pdf``.

Reports run as the system over the whole tree. Statements are prepared and signed in a user's name
(``--user``), with that user's own permissions: the preparer needs fund:write on the organisation, the
signer statement:sign, and may not be the preparer.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.cli import refused
from assoc_ledger.core.errors import DomainError, Invalid

console = Console(emoji=False)
statement_app = typer.Typer(help="年度公益金收支报告：编制、签发、PDF", no_args_is_help=True)


def _session() -> Session:
    from assoc_ledger.auth.audit import audited_sessions

    return audited_sessions()()


def _ledger_dir() -> Path:
    from assoc_ledger.core.config import get_settings

    return Path(get_settings().ledger_dir)


def _org_id(db: Session, ref: str) -> int:
    from assoc_ledger.orgs.models import Organisation
    from assoc_ledger.orgs.services import find_by_name_or_code

    org = find_by_name_or_code(db, ref)
    if org is None and ref.isdigit():
        org = db.get(Organisation, int(ref))
    if org is None:
        raise Invalid(f"找不到组织：{ref}（用区划代码、名称或编号）", field="org")
    return org.id


def _user_scope(db: Session, username: str, perm: Perm) -> tuple[Scope, str, int]:
    from assoc_ledger.auth.models import User
    from assoc_ledger.auth.services import principal_for

    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        raise Invalid(f"找不到用户：{username}", field="user")
    principal = principal_for(db, user)
    if not principal.paths_for(perm):
        raise DomainError(f"用户 {username} 没有所需权限（{perm.value}）", field="user")
    return Scope(perm, tuple(principal.paths_for(perm)), principal), user.username, user.id


def report_command(
    name: str = typer.Argument(..., help="报表名：trial-balance、income-by-source、spending-by-category、"
                                         "spending-by-household-kind、restricted-funds、fund-targets、publicity、"
                                         "households-aided、monthly、progress"),
    org: str = typer.Option(..., "--org", help="组织（区划代码、名称或编号），含其全部下级"),
    date_from: str = typer.Option(..., "--from", help="起始日期 YYYY-MM-DD"),
    date_to: str = typer.Option(..., "--to", help="截止日期 YYYY-MM-DD"),
    fmt: str = typer.Option("table", "--format", help="table | csv | xlsx"),
    out: Path | None = typer.Option(None, "--out", help="csv/xlsx 写入的文件（默认 报表名.csv/.xlsx）"),
) -> None:
    """打印或导出报表（数据取自账簿索引，不重新加载账簿）。"""
    from assoc_ledger.reports import export, queries

    if fmt not in ("table", "csv", "xlsx"):
        console.print("[red]--format 只能是 table、csv 或 xlsx[/red]")
        raise typer.Exit(2)
    try:
        start, end = dt.date.fromisoformat(date_from), dt.date.fromisoformat(date_to)
    except ValueError as exc:
        console.print("[red]日期格式应为 YYYY-MM-DD[/red]")
        raise typer.Exit(2) from exc
    with _session() as db:
        try:
            report = queries.run_report(db, Scope.everything(Perm.fund_read), name, _org_id(db, org), start, end)
        except DomainError as exc:
            raise refused(exc, console) from exc
    period = f"{start.isoformat()} 至 {end.isoformat()}"
    if fmt == "table":
        table = Table(title=f"{report.title}（{period}）")
        for i, col in enumerate(report.columns):
            table.add_column(col, justify="right" if i and any(
                isinstance(r.cells[i], int | Decimal) for r in report.rows) else "left")
        for row in report.rows:
            table.add_row(*(queries.cell_text(c) for c in row.cells), style="bold" if row.total else None)
        console.print(table)
        for note in report.notes:
            console.print(f"[dim]{note}[/dim]")
        return
    target = out or Path(f"{name}.{fmt}")
    target.write_bytes(export.to_csv(report, period=period) if fmt == "csv" else export.to_xlsx(report, period=period))
    console.print(f"[green]已写入[/green] {target}（{len(report.rows)} 行）")


@statement_app.command("prepare")
def prepare_command(org: str = typer.Option(..., "--org"), year: int = typer.Option(..., "--year"),
                    user: str = typer.Option(..., "--user", help="编制人用户名（需有公益金记账权限）")) -> None:
    """编制年度报告：冻结本年数据，记录账簿指纹（哈希链头与文件摘要）和程序版本。"""
    from assoc_ledger.auth.audit import Actor as AuditActor
    from assoc_ledger.auth.audit import set_actor
    from assoc_ledger.reports import statements

    with _session() as db, Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                    console=console) as progress:
        task = progress.add_task("编制报告：读取账簿索引、计算文件摘要…", total=None)
        try:
            scope, username, uid = _user_scope(db, user, Perm.fund_write)
            set_actor(db, AuditActor(uid, username, "cli"))
            row = statements.prepare(db, scope, _ledger_dir(), _org_id(db, org), year,
                                     statements.Actor(uid, username))
        except DomainError as exc:
            raise refused(exc, console) from exc
        progress.update(task, completed=1, total=1)
    console.print(f"[green]已编制[/green] 报告 {row.id}：{row.figures['org']['name']} {row.year} 年度 "
                  f"第 {row.version} 版；收入 {row.figures['summary']['income']} 元，"
                  f"支出 {row.figures['summary']['spending']} 元")


@statement_app.command("sign")
def sign_command(statement_id: int = typer.Argument(...), user: str = typer.Option(..., "--user"),
                 comment: str = typer.Option(..., "--comment", help="审计意见")) -> None:
    """审计签发（不能是编制人）；签发后报告不可修改，并在 /public/statements 公开。"""
    from assoc_ledger.auth.audit import Actor as AuditActor
    from assoc_ledger.auth.audit import set_actor
    from assoc_ledger.reports import statements

    with _session() as db:
        try:
            scope, username, uid = _user_scope(db, user, Perm.statement_sign)
            set_actor(db, AuditActor(uid, username, "cli"))
            row = statements.sign(db, scope, statement_id, statements.Actor(uid, username), comment)
        except DomainError as exc:
            raise refused(exc, console) from exc
    console.print(f"[green]已签发[/green] 报告 {row.id}（{row.signed_by}）")


@statement_app.command("show")
def show_command(statement_id: int = typer.Argument(...)) -> None:
    """报告状态；过期时列出编制后变动的分录。"""
    from assoc_ledger.reports import statements

    with _session() as db:
        try:
            row = statements.get(db, Scope.everything(Perm.fund_read), statement_id)
        except DomainError as exc:
            raise refused(exc, console) from exc
        state = statements.state_of(db, row)
        console.print(f"报告 {row.id}：{row.figures['org']['name']} {row.year} 年度 第 {row.version} 版 · "
                      f"{statements.STATE_ZH[state]}")
        for key, value in row.figures["summary"].items():
            console.print(f"  {key}: {value}")
        changes = statements.changes_since(db, row)
        if changes:
            table = Table(title="编制后变动的本期分录")
            for col in ("账簿", "序号", "日期", "凭证号", "摘要", "冲销序号", "金额"):
                table.add_column(col)
            for c in changes:
                table.add_row(c.book, str(c.seq), c.date.isoformat(), c.voucher or "", c.narration,
                              str(c.reverses_seq or ""), c.amount)
            console.print(table)


@statement_app.command("list")
def list_command() -> None:
    from assoc_ledger.reports import statements

    with _session() as db:
        table = Table(title="年度公益金收支报告")
        for col in ("编号", "组织", "年度", "版本", "状态", "编制人", "签发人"):
            table.add_column(col)
        for row in statements.list_statements(db, Scope.everything(Perm.fund_read)):
            table.add_row(str(row.id), row.figures["org"]["name"], str(row.year), str(row.version),
                          statements.STATE_ZH[statements.state_of(db, row)], row.prepared_by, row.signed_by or "")
        console.print(table)


@statement_app.command("pdf")
def pdf_command(statement_id: int = typer.Argument(...),
                variant: str = typer.Option("internal", "--variant", help="internal | public"),
                out: Path = typer.Option(..., "--out")) -> None:
    """生成 PDF：internal（PDF/A-3b，附账簿文件、花名册与数据 CSV）或 public（不含姓名与身份证号）。"""
    from assoc_ledger.reports import pdf, statements

    with _session() as db, Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                    console=console) as progress:
        task = progress.add_task(f"排版 {variant} PDF…", total=None)
        try:
            row = statements.get(db, Scope.everything(Perm.fund_read), statement_id)
            state = statements.state_of(db, row)
            data = pdf.render_pdf(row, variant, state, statements.STATE_ZH[state],
                                  statements.changes_since(db, row), _ledger_dir())
        except DomainError as exc:
            raise refused(exc, console) from exc
        progress.update(task, completed=1, total=1)
    out.write_bytes(data)
    console.print(f"[green]已写入[/green] {out}（{len(data):,} 字节）")


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
    app.add_typer(statement_app, name="statement")
