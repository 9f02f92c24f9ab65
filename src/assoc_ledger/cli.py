"""The ``assoc-ledger`` command line: serve, migrate, users, audit and each domain's commands."""

from __future__ import annotations

import getpass
import importlib
import sys

import typer
from rich.console import Console

from assoc_ledger.core.config import get_settings

app = typer.Typer(help="assoc-ledger：计生协会会员与公益金账务系统", no_args_is_help=True,
                  pretty_exceptions_enable=False)
users_app = typer.Typer(help="用户与权限", no_args_is_help=True)
audit_app = typer.Typer(help="审计日志", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
console = Console()


@app.callback()
def _load_every_mapper() -> None:
    """Runs before any command: every area's models are imported before a session is opened.

    SQLAlchemy resolves a foreign key (``users.person_id`` -> ``people``) only when the target
    table's model is imported; a command that imports just its own area would otherwise fail in a
    fresh process. Doing it here, once, covers every command, present and future.
    """
    import assoc_ledger.models  # noqa: F401


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (Alembic)."""
    from assoc_ledger.core.migrate import upgrade

    upgrade(get_settings().database_url)
    console.print(f"[green]数据库已迁移到最新版本[/green] {get_settings().database_url}")


@app.command()
def serve(host: str = typer.Option(None, help="默认取 ASSOC_HOST 或 127.0.0.1"),
          port: int = typer.Option(None, help="默认取 ASSOC_PORT 或 8000"),
          workers: int = typer.Option(1, help="进程数（生产环境配合 PostgreSQL 使用多个）")) -> None:
    """Serve the web UI and API."""
    import uvicorn

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    console.print(f"assoc-ledger 正在运行：请在浏览器打开 [bold]http://{host}:{port}/[/bold]  "
                  f"（API 文档：http://{host}:{port}/schema）")
    uvicorn.run("assoc_ledger.app:app_factory", factory=True, host=host, port=port, workers=workers,
                log_level="info", proxy_headers=True)


@users_app.command("create-admin")
def create_admin(username: str = typer.Argument(..., help="用户名"),
                 org: str = typer.Option(..., help="授权的组织（区划代码或名称），通常是县协会"),
                 password: str = typer.Option(None, help="不给则交互输入（或读取 ASSOC_ADMIN_PASSWORD）")) -> None:
    """Create the first administrator, with the admin role on an organisation subtree."""
    import os

    from assoc_ledger.auth import audit, services
    from assoc_ledger.auth.scope import Role
    from assoc_ledger.core.db import session_scope
    from assoc_ledger.core.errors import DomainError, Invalid
    from assoc_ledger.orgs.services import find_by_name_or_code

    password = password or os.environ.get("ASSOC_ADMIN_PASSWORD") or ""
    if not password:
        password = getpass.getpass("密码（至少10位）：")
    try:
        with session_scope(audit.audited_sessions()) as db:
            target = find_by_name_or_code(db, org)
            if target is None:
                raise Invalid(f"找不到组织：{org}")
            user = services.create_user(db, username, password, display_name=username)
            services.grant_role(db, user, Role.admin, target.id)
    except DomainError as exc:
        console.print(f"[red]失败：[/red]{exc.detail}")
        raise typer.Exit(2) from exc
    console.print(f"[green]已创建管理员[/green] {username}，管理范围：{target.name}")


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the audit log's hash chain; name every entry that was altered or removed."""
    from assoc_ledger.auth import audit

    factory = audit.audited_sessions()
    with factory() as db:
        count, problems = audit.verify(db)
    if problems:
        for p in problems:
            console.print(f"[red]审计日志第 {p.entry_id} 条：{p.reason}[/red]")
        raise typer.Exit(1)
    console.print(f"[green]审计日志完整[/green]：{count} 条记录，哈希链无断裂")


def _register_optional() -> None:
    """Domain areas add their own commands: a module exposing ``register(app)``."""
    for module in ("assoc_ledger.orgs.cli", "assoc_ledger.demo.cli", "assoc_ledger.members.cli",
                   "assoc_ledger.fund.cli", "assoc_ledger.ops.cli", "assoc_ledger.households.cli",
                   "assoc_ledger.relief.cli", "assoc_ledger.entitlements.cli", "assoc_ledger.reports.cli"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise
            continue
        mod.register(app)


_register_optional()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
