"""``assoc-ledger backup DIR`` and ``assoc-ledger restore DIR``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from assoc_ledger.core.errors import DomainError

console = Console(emoji=False)


def backup_cmd(directory: Path = typer.Argument(..., help="新的空目录（例如 /backup/assoc-2026-11-23）")) -> None:
    """Back up the database and every book consistently while the server keeps running."""
    from assoc_ledger.auth.audit import audited_sessions
    from assoc_ledger.core.config import get_settings
    from assoc_ledger.ops.backup import backup

    settings = get_settings()
    try:
        with audited_sessions()() as db:
            result = backup(db, settings.database_url, Path(settings.ledger_dir), directory, Path(settings.upload_dir))
    except DomainError as exc:
        console.print(f"[red]备份失败：[/red]{exc.detail}")
        raise typer.Exit(2) from exc
    console.print(f"[green]备份完成[/green] {result.directory}：数据库（{result.database}）、账簿 {result.books} 本、"
                  f"分录 {result.entries} 条，共 {result.files} 个文件，摘要见 manifest.json")


def restore_cmd(directory: Path = typer.Argument(..., help="assoc-ledger backup 写出的目录")) -> None:
    """Restore a backup into an empty database and ledger directory, then verify the books and the audit log."""
    from sqlalchemy import select

    from assoc_ledger.auth import audit
    from assoc_ledger.core.config import get_settings
    from assoc_ledger.core.crypto import BadKey, KeyMissing
    from assoc_ledger.fund import verify
    from assoc_ledger.fund.models import FundBook
    from assoc_ledger.ops.backup import restore
    from assoc_ledger.people.keys import check_key

    settings = get_settings()
    try:
        manifest = restore(directory, settings.database_url, Path(settings.ledger_dir), Path(settings.upload_dir))
    except DomainError as exc:
        console.print(f"[red]恢复失败：[/red]{exc.detail}")
        raise typer.Exit(2) from exc
    failed = 0
    with audit.audited_sessions()() as db:
        for book in db.scalars(select(FundBook).order_by(FundBook.id)).all():
            report = verify.verify_book_and_rolls(db, Path(settings.ledger_dir), book, full=True)
            if not report.ok:
                failed += 1
                console.print(f"[red]{report.book}：{report.first}[/red]")
        count, problems = audit.verify(db)
    for p in problems:
        console.print(f"[red]审计日志第 {p.entry_id} 条：{p.reason}[/red]")
    if failed or problems:
        raise typer.Exit(1)
    try:  # the key is kept apart from backups on purpose: without it the restored IDs stay sealed
        check_key(settings, audit.audited_sessions())
    except (KeyMissing, BadKey) as exc:
        console.print(f"[yellow]数据已恢复并核对无误，但服务还不能启动：[/yellow]{exc}")
        raise typer.Exit(1) from exc
    console.print(f"[green]已恢复[/green] {manifest['created_at']} 的备份：账簿 {len(manifest['books'])} 本核对无误，"
                  f"审计日志 {count} 条哈希链完整")


def register(app: typer.Typer) -> None:
    app.command("backup")(backup_cmd)
    app.command("restore")(restore_cmd)
