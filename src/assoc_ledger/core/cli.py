"""What every area's CLI shares: how a refused command is told (in Chinese, exit status 2)."""

from __future__ import annotations

import typer
from rich.console import Console

from assoc_ledger.core.errors import DomainError


def refused(exc: DomainError, console: Console) -> typer.Exit:
    """Print the refusal, each problem on its own line when there are several; return the exit to raise."""
    if len(exc.problems) > 1:
        for item in exc.problems:
            console.print(f"[red]{item.field}：{item.message}[/red]")
    else:
        console.print(f"[red]失败：[/red]{exc.detail}" + (f"（{exc.field}）" if exc.field else ""))
    return typer.Exit(2)
