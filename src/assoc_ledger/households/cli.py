"""``assoc-ledger households import|export``: household lists in from Excel/CSV and out to Excel (IDs masked)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console()
households_app = typer.Typer(help="计生家庭 households", no_args_is_help=True)


@households_app.command("export")
def export_command(
    file: Path = typer.Argument(..., dir_okay=False, help="写入的 XLSX 文件"),
    under: str = typer.Option(None, "--under", help="只导出该组织（区划代码或名称）及其下级"),
) -> None:
    """Export the households (计生家庭名册) with their current members; IDs masked."""
    from assoc_ledger.auth.audit import Actor, audited_sessions, set_actor
    from assoc_ledger.auth.scope import Perm, Scope
    from assoc_ledger.households.export import export_households
    from assoc_ledger.orgs.services import find_by_name_or_code

    factory = audited_sessions()
    with factory() as db:
        set_actor(db, Actor(None, "cli", None))
        path = None
        if under:
            org = find_by_name_or_code(db, under)
            if org is None:
                console.print(f"[red]找不到组织：{under}[/red]")
                raise typer.Exit(2)
            path = org.path
        with file.open("wb") as out:
            count = export_households(db, Scope.everything(Perm.household_read), out, under_path=path)
        db.commit()
    console.print(f"[green]已导出[/green] {count} 户到 {file}（身份证号已脱敏）")


@households_app.command("import")
def import_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="XLSX 或 CSV（UTF-8/GB18030）"),
    dry_run: bool = typer.Option(False, "--dry-run", help="试导入：只检查并报告错误，不写入"),
) -> None:
    """Import a household list (计生家庭名册). All or nothing: one bad row and nothing is written."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from assoc_ledger.auth.audit import Actor, audited_sessions, set_actor
    from assoc_ledger.auth.scope import Perm, Scope
    from assoc_ledger.households.import_households import import_households

    factory = audited_sessions()
    with factory() as db, file.open("rb") as f, Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=True) as bar:
        set_actor(db, Actor(None, "cli", None))
        task = bar.add_task("检查并导入" if not dry_run else "检查（试导入）", total=None)
        report = import_households(db, Scope.everything(Perm.household_write), f, dry_run=dry_run,
                                   filename=file.name, progress=lambda n: bar.advance(task, n))
    for e in report.errors:
        console.print(f"[red]第 {e.row} 行 {e.field}：{e.message}[/red]")
    if report.errors:
        more = "（仅列出前 5000 处）" if report.errors_truncated else ""
        console.print(f"[red]{report.error_rows} 行有错误{more}，未写入任何数据[/red]")
        raise typer.Exit(1)
    verb = "可导入" if dry_run else "已导入"
    console.print(f"[green]{verb}[/green] {report.created} 户（共 {report.rows} 行）；"
                  f"已存在未改动 {report.unchanged} 户")


def register(app: typer.Typer) -> None:
    app.add_typer(households_app, name="households")
