"""``assoc-ledger import`` and ``assoc-ledger export``: the roster in and out of Excel, with a progress bar."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from assoc_ledger.auth.scope import Perm, Scope
    from assoc_ledger.members.import_roster import ImportReport

console = Console()


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=False)


def import_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="XLSX 或 CSV（UTF-8/GB18030）"),
    dry_run: bool = typer.Option(False, "--dry-run", help="试导入：只检查并报告错误，不写入"),
    org_root: str = typer.Option(None, "--org-root", help="只允许导入到该组织（区划代码或名称）及其下级"),
) -> None:
    """Import a roster (会员名册). All or nothing: one bad row and nothing is written."""
    from sqlalchemy.exc import IntegrityError

    from assoc_ledger.auth.audit import Actor, audited_sessions, set_actor
    from assoc_ledger.auth.scope import Perm, Scope
    from assoc_ledger.core.errors import DomainError
    from assoc_ledger.core.tabular import Sheet
    from assoc_ledger.members.import_roster import ImportRefused, import_roster

    factory = audited_sessions()
    report: ImportReport | None = None
    with factory() as db, _progress() as progress:
        set_actor(db, Actor(None, f"cli:{getpass.getuser()}", None))
        task = progress.add_task("试导入" if dry_run else "导入", total=None)
        try:
            scope = _scope_for(db, org_root, Perm.member_write) if org_root else Scope.everything(Perm.member_write)

            def opened(sheet: Sheet) -> None:
                progress.update(task, total=sheet.total_hint)

            with file.open("rb") as f:
                report = import_roster(db, scope, f, dry_run=dry_run, filename=file.name,
                                       progress=lambda n: progress.advance(task, n), on_open=opened)
            if not dry_run:
                db.commit()
        except ImportRefused as exc:
            db.rollback()
            report = exc.report
        except DomainError as exc:
            db.rollback()
            progress.stop()
            console.print(f"[red]无法导入：[/red]{exc.detail}")
            raise typer.Exit(2) from exc
        except IntegrityError as exc:
            db.rollback()
            progress.stop()
            console.print("[red]无法导入：[/red]与同时进行的其他导入冲突，未写入任何数据，请重试")
            raise typer.Exit(2) from exc
    assert report is not None
    _print_report(report)
    if report.error_rows:
        raise typer.Exit(1)


def _scope_for(db: Session, org: str, perm: Perm) -> Scope:
    from assoc_ledger.auth.scope import Scope
    from assoc_ledger.core.errors import Invalid
    from assoc_ledger.members.import_roster import OrgDirectory

    found = OrgDirectory(db, Scope.everything(perm)).resolve(org)
    if isinstance(found, str):
        raise Invalid(found)
    return Scope(perm=perm, paths=(found.path,))


def _print_report(report: ImportReport) -> None:
    table = Table(title="导入结果" if not report.dry_run else "试导入结果（未写入）")
    table.add_column("项目")
    table.add_column("数量", justify="right")
    table.add_row("数据行", str(report.total))
    table.add_row("已新增" if report.committed else "将新增", str(report.created if report.committed
                                                            else report.would_create))
    table.add_row("已存在、不变", str(report.unchanged))
    table.add_row("有错误的行", str(report.error_rows))
    console.print(table)
    if report.errors:
        errors = Table(title="错误明细" + ("（仅显示前若干条）" if report.errors_truncated else ""))
        errors.add_column("行", justify="right")
        errors.add_column("列")
        errors.add_column("原因")
        for e in report.errors[:200]:
            errors.add_row(str(e.row), e.field, e.message)
        console.print(errors)
        if len(report.errors) > 200:
            console.print(f"……另有 {len(report.errors) - 200} 条错误未显示")
        console.print("[red]有错误，未写入任何数据。[/red]请修改后重新导入。")
    elif report.committed:
        console.print(f"[green]导入完成[/green]：文件 SHA-256 {report.sha256[:16]}…，已记入审计日志")


def export_command(
    file: Path = typer.Argument(..., dir_okay=False, help="输出的 .xlsx 文件"),
    under: str = typer.Option(None, "--under", help="只导出该组织（区划代码、名称或“镇名/村名”）及其下级"),
    status: str = typer.Option("active", "--status", help="active 在册 / left 离会 / all 全部"),
) -> None:
    """Export members to XLSX; resident IDs and phones are masked."""
    from assoc_ledger.auth.audit import Actor, audited_sessions, set_actor
    from assoc_ledger.auth.scope import Perm, Scope
    from assoc_ledger.core.errors import DomainError
    from assoc_ledger.members.import_export import count_members, export_members
    from assoc_ledger.members.services import MemberFilter

    if status not in ("active", "left", "all"):
        console.print("[red]--status 只能是 active、left 或 all[/red]")
        raise typer.Exit(2)
    factory = audited_sessions()
    with factory() as db:
        set_actor(db, Actor(None, f"cli:{getpass.getuser()}", None))
        try:
            scope = _scope_for(db, under, Perm.member_read) if under else Scope.everything(Perm.member_read)
        except DomainError as exc:
            console.print(f"[red]{exc.detail}[/red]")
            raise typer.Exit(2) from exc
        f = MemberFilter(status=status)
        total = count_members(db, scope, f)
        tmp = file.with_name(file.name + ".part")
        with _progress() as progress, tmp.open("wb") as out:
            task = progress.add_task("导出", total=total)
            rows = export_members(db, scope, f, out, progress=lambda n: progress.advance(task, n))
        tmp.replace(file)
        db.commit()
    console.print(f"[green]已导出[/green] {rows} 名会员到 {file}（身份证号、电话已脱敏）")


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)
    app.command("export")(export_command)
