"""``assoc-ledger orgs import``: a county's organisation tree from XLSX/CSV, with a summary table."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from assoc_ledger.orgs.import_tree import TreeImportReport

orgs_app = typer.Typer(help="组织架构（县—乡镇街道—村社区）", no_args_is_help=True)
console = Console()

# Below this many rows the import takes well under a second; a bar would only flicker.
PROGRESS_FROM_ROWS = 500
MAX_SHOWN_PROBLEMS = 200


@orgs_app.command("import")
def import_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                help="XLSX 或 CSV（UTF-8/GB18030），列：名称、区划代码、上级、类型"),
    dry_run: bool = typer.Option(False, "--dry-run", help="试导入：检查每一行并报告全部错误，不写入"),
) -> None:
    """Import the organisation tree. All or nothing; the same file twice changes nothing.

    Exit status: 0 imported (or dry run clean), 1 bad rows (nothing written), 2 the file cannot be read.
    """
    from sqlalchemy.exc import IntegrityError

    from assoc_ledger.auth.audit import Actor, audited_sessions, set_actor
    from assoc_ledger.auth.scope import Perm, Scope
    from assoc_ledger.core.errors import DomainError
    from assoc_ledger.orgs.import_tree import import_tree

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=console, transient=True)
    task = progress.add_task("试导入" if dry_run else "导入", total=None, visible=False)

    def advance(done: int, total: int) -> None:
        if total < PROGRESS_FROM_ROWS:
            return
        if not progress.live.is_started:
            progress.update(task, total=total, visible=True)
            progress.start()
        progress.update(task, completed=done)

    with audited_sessions()() as db:
        set_actor(db, Actor(None, f"cli:{getpass.getuser()}", None))
        try:
            with file.open("rb") as f:
                report = import_tree(db, Scope.everything(Perm.org_write), f, dry_run=dry_run, progress=advance)
            if not (dry_run or report.problems):
                db.commit()
                report.committed = True
        except DomainError as exc:
            db.rollback()
            progress.stop()
            console.print(f"[red]无法导入：[/red]{exc.detail}")
            raise typer.Exit(2) from exc
        except IntegrityError as exc:
            db.rollback()
            progress.stop()
            console.print("[red]无法导入：[/red]与同时进行的其他修改冲突，未写入任何数据，请重试")
            raise typer.Exit(2) from exc
        finally:
            progress.stop()
    _print_report(report, file.name)
    if report.problems:
        raise typer.Exit(1)


def _print_report(report: TreeImportReport, filename: str) -> None:
    from assoc_ledger.orgs.import_tree import kinds_in_order
    from assoc_ledger.orgs.models import ORG_KIND_ZH

    done = report.committed
    title = f"{filename}：" + ("导入结果" if done else "试导入结果（未写入）" if report.dry_run else "未导入")
    table = Table(title=title)
    table.add_column("类型")
    table.add_column("已新增" if done else "将新增", justify="right")
    table.add_column("已存在、不变", justify="right")
    for kind in kinds_in_order([report.created, report.unchanged]):
        table.add_row(ORG_KIND_ZH[kind], str(report.created[kind]), str(report.unchanged[kind]))
    table.add_section()
    table.add_row("合计", str(sum(report.created.values())), str(sum(report.unchanged.values())))
    console.print(table)
    console.print(f"数据行 {report.total}，有错误的行 {report.bad_rows}"
                  + (f"，因上级有错未检查 {report.unchecked}" if report.unchecked else ""))
    if report.problems:
        errors = Table(title="错误明细")
        errors.add_column("行", justify="right")
        errors.add_column("列")
        errors.add_column("原因", overflow="fold")
        for p in report.problems[:MAX_SHOWN_PROBLEMS]:
            errors.add_row(str(p.row), p.field, p.message)
        console.print(errors)
        if len(report.problems) > MAX_SHOWN_PROBLEMS:
            console.print(f"……另有 {len(report.problems) - MAX_SHOWN_PROBLEMS} 条错误未显示")
        console.print("[red]有错误，未写入任何数据。[/red]请修改后重新导入。")
    elif done and not report.created:
        console.print("[green]组织架构已是文件中的样子[/green]，没有任何变化。")
    elif done:
        console.print("[green]导入完成[/green]，已记入审计日志。")
        console.print("下一步：assoc-ledger users create-admin 用户名 --org 县协会的区划代码")
    else:
        console.print("[green]没有发现错误[/green]。去掉 --dry-run 即可正式导入。")


def register(app: typer.Typer) -> None:
    app.add_typer(orgs_app, name="orgs")
