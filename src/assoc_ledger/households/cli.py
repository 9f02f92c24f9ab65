"""``assoc-ledger households export``: the household list out to Excel, resident IDs masked."""

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


def register(app: typer.Typer) -> None:
    app.add_typer(households_app, name="households")
