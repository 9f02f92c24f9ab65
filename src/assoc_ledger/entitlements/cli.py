"""``assoc-ledger entitlements …``: programme, preview, run, reconcile, roll (奖励扶助按月发放).

Commands act as the system over the whole tree (Scope.everything), audited as the CLI, unless ``--user`` names a
user: then ``preview`` and ``run`` act with that user's own scope, as the API would (a township secretary's run
leaves the county's lines to the county and says so). Long work shows a progress bar, and ``run`` stays
synchronous. ``reconcile`` exits 0 only when every column is zero.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.orm import Session

from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.cli import refused
from assoc_ledger.core.errors import DomainError

entitlements_app = typer.Typer(help="奖励扶助按月发放 entitlements", no_args_is_help=True)
console = Console(emoji=False)


def _session() -> Session:
    from assoc_ledger.auth.audit import Actor, audited_sessions, set_actor

    db = audited_sessions()()
    set_actor(db, Actor(None, "cli", None))
    return db


def _scope(db: Session, username: str | None, perm: Perm) -> Scope:
    """The system's scope, or the named user's own for ``perm`` (their actions audited in their name)."""
    if username is None:
        return Scope.everything(perm)
    from sqlalchemy import select

    from assoc_ledger.auth.audit import Actor, set_actor
    from assoc_ledger.auth.models import User
    from assoc_ledger.auth.services import principal_for

    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        raise DomainError(f"找不到用户：{username}", field="user")
    principal = principal_for(db, user)
    set_actor(db, Actor(user.id, user.username, None))
    return Scope(perm, tuple(principal.paths_for(perm)), principal)


def _ledger_dir() -> Path:
    from assoc_ledger.core.config import get_settings

    return Path(get_settings().ledger_dir)


def _org_id(db: Session, ref: str | None) -> int | None:
    if ref is None:
        return None
    from assoc_ledger.orgs.services import find_by_name_or_code

    org = find_by_name_or_code(db, ref)
    if org is None and ref.isdigit():
        from assoc_ledger.orgs.models import Organisation

        org = db.get(Organisation, int(ref))
    if org is None:
        console.print(f"[red]找不到组织：{ref}[/red]")
        raise typer.Exit(2)
    return org.id


@contextmanager
def _bar() -> Iterator[Callable[[str, int, int], None]]:
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        tasks: dict[str, TaskID] = {}

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        yield advance


@entitlements_app.command("programme")
def programme_command(
    org: str = typer.Argument(..., help="发放组织（区划代码、名称或编号），用其公益金账簿发放本级及下级"),
    scheme: str = typer.Option(..., "--scheme", help="only_child_reward、special_family 或 long_term（长效帮扶）"),
    first_month: str = typer.Option(..., "--from", help="自该月起由本系统发放（YYYY-MM）"),
    fund: str = typer.Option("General", "--fund", help="资金：General 或限定用途资金（如 JiangLiFuZhu）"),
) -> None:
    """Name the paying organisation of a scheme for its subtree, from a month on (发放项目)."""
    from assoc_ledger.entitlements import services

    with _session() as db:
        try:
            row, created = services.set_programme(db, Scope.everything(Perm.fund_write), _org_id(db, org) or 0,
                                                  scheme=scheme, first_month=first_month, fund=fund)
        except DomainError as exc:
            raise refused(exc, console) from exc
        console.print(("[green]已设定[/green]" if created else "已存在，未改动") +
                      f" 项目 {row.id}：{row.scheme} 自 {row.first_month:%Y-%m} 起，资金 {row.fund}")


@entitlements_app.command("preview")
def preview_command(month: str = typer.Argument(..., help="发放月份 YYYY-MM"),
                    org: str = typer.Option(None, "--org", help="只算该组织及其下级"),
                    user: str = typer.Option(None, "--user", help="以该用户的权限预览（默认：系统）")) -> None:
    """What a run would pay (counts, totals by village, new entrants, exits, arrears); writes nothing."""
    from assoc_ledger.entitlements import services

    with _session() as db, _bar() as bar:
        try:
            summary = services.preview(db, _scope(db, user, Perm.fund_read), month, _org_id(db, org), progress=bar)
        except DomainError as exc:
            raise refused(exc, console) from exc
    _print_summary(summary)


def _print_summary(s: dict[str, object]) -> None:
    console.print(f"{s['org']} {s['month']}：审核 {s['households_examined']} 户，发放 {s['households_paid']} 户，"
                  f"{s['lines']} 行 {s['months']} 户月，合计 {s['total']} 元；其中补发 {s['arrears_months']} 户月 "
                  f"{s['arrears_total']} 元；新纳入 {s['new_entrants']} 户，退出 {s['exit_count']} 户")
    table = Table(title="按村（社区）")
    for col in ("组织", "行", "户月", "金额（元）"):
        table.add_column(col)
    for v in s["by_village"]:  # type: ignore[attr-defined]
        table.add_row(v["org"], str(v["lines"]), str(v["months"]), v["total"])
    console.print(table)
    for warning in s.get("warnings", []):  # type: ignore[attr-defined]
        console.print(f"[yellow]注意：{warning}[/yellow]")


@entitlements_app.command("run")
def run_command(month: str = typer.Argument(..., help="发放月份 YYYY-MM"),
                org: str = typer.Option(None, "--org", help="只发放该组织及其下级"),
                pay_date: str = typer.Option(None, "--date", help="凭证日期（默认今天）"),
                user: str = typer.Option(None, "--user", help="以该用户的记账权限发放（默认：系统，全县）")) -> None:
    """Pay every household-month due up to MONTH not yet paid (incl. arrears); the same month again pays nothing."""
    from assoc_ledger.entitlements import services

    on = dt.date.fromisoformat(pay_date) if pay_date else None
    with _session() as db, _bar() as bar:
        try:
            row = services.run(db, _ledger_dir(), _scope(db, user, Perm.fund_write), month, _org_id(db, org),
                               pay_date=on, progress=bar)
        except DomainError as exc:
            raise refused(exc, console) from exc
        out = services.run_out(row)
    done = "完成" if out["status"] == "done" else "部分完成（其余项目由其发放组织发放）"
    console.print(f"[green]发放批次 {out['id']} {done}[/green]：{out['month']}，"
                  f"{out['lines']} 行 {out['months']} 户月，"
                  f"合计 {out['total']} 元（补发 {out['arrears_months']} 户月），记录退出 {out['exits']} 户")
    for warning in out["basis"].get("warnings", []):
        console.print(f"[yellow]注意：{warning}[/yellow]")


@entitlements_app.command("reconcile")
def reconcile_command(first: str = typer.Option(..., "--from", help="起始月份 YYYY-MM"),
                      last: str = typer.Option(..., "--to", help="截止月份 YYYY-MM"),
                      org: str = typer.Option(None, "--org", help="只核对该组织及其下级"),
                      xlsx: Path = typer.Option(None, "--xlsx", dir_okay=False, help="差异明细写入 XLSX")) -> None:
    """Due (today's registry) against paid, per household-month; exit 0 only when every column is zero."""
    from assoc_ledger.entitlements import rolls_xlsx, services

    with _session() as db, _bar() as bar:
        try:
            if xlsx is not None:
                with xlsx.open("wb") as fh:
                    report = rolls_xlsx.reconciliation_xlsx(db, Scope.everything(Perm.fund_read), first, last,
                                                            _org_id(db, org), fh, progress=bar)
            else:
                report = services.reconcile(db, Scope.everything(Perm.fund_read), first, last, _org_id(db, org),
                                            progress=bar, keep=50)
        except DomainError as exc:
            raise refused(exc, console) from exc
    table = Table(title=f"{report.org.name} 对账 {first} 至 {last}：{report.households} 户，"
                        f"应发 {report.household_months_due} 户月，实发 {report.household_months_paid} 户月")
    for zh in services.KINDS_ZH.values():
        table.add_column(zh)
    table.add_row(*(str(report.counts[k]) for k in services.KINDS_ZH))
    console.print(table)
    for d in report.rows[:50]:
        console.print(f"  {services.KINDS_ZH[d.kind]}：户 {d.household_id} {d.payee} {d.resident_id} "
                      f"{d.scheme.value} {d.month // 12}-{d.month % 12 + 1:02d}：{d.reason}")
    if not report.clean:
        raise typer.Exit(1)


@entitlements_app.command("roll")
def roll_command(month: str = typer.Argument(..., help="发放月份 YYYY-MM"),
                 village: str = typer.Option(..., "--village", help="村（社区）：区划代码、名称或编号"),
                 file: Path = typer.Argument(..., dir_okay=False, help="写入的 XLSX 文件")) -> None:
    """The village's 发放花名册 for a month as XLSX (IDs masked, arrears marked, a column to sign)."""
    from assoc_ledger.entitlements import rolls_xlsx

    with _session() as db:
        try:
            with file.open("wb") as fh:
                result = rolls_xlsx.village_roll(db, Scope.everything(Perm.fund_read), _org_id(db, village) or 0,
                                                 month, fh)
        except DomainError as exc:
            file.unlink(missing_ok=True)
            raise refused(exc, console) from exc
        db.commit()
    console.print(f"[green]已写入[/green] {file}：{result['lines']} 行，合计 {result['total']} 元")


def register(app: typer.Typer) -> None:
    app.add_typer(entitlements_app, name="entitlements")
