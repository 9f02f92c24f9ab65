"""``assoc-ledger demo [--scale N]``: load the demo county (idempotent) and show how to log in."""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()


def demo_command(scale: int = typer.Option(1, "--scale", min=1, max=1000,
                                           help="会员规模倍数（1 约三千余名会员；更大用于性能测试）")) -> None:
    """Load the demo county (演示县): 8 towns, 5 townships, 1 street office, 317 villages, members, users."""
    from assoc_ledger.auth.audit import Actor, audited_sessions, set_actor
    from assoc_ledger.core.config import get_settings
    from assoc_ledger.core.migrate import upgrade
    from assoc_ledger.demo import county, load

    settings = get_settings()
    started = time.monotonic()
    upgrade(settings.database_url)
    factory = audited_sessions()
    orgs = county.organisations()
    people = list(county.members(orgs, scale=scale))
    events = county.history(orgs, people)
    users = load.demo_users(orgs)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress, factory() as db:
        set_actor(db, Actor(None, "demo", None))
        t_orgs = progress.add_task("组织", total=len(orgs))
        ids = load.load_orgs(db, orgs, progress=lambda n: progress.advance(t_orgs, n))
        t_members = progress.add_task("会员", total=len(people))
        report = load.load_members(db, ids, people, progress=lambda n: progress.advance(t_members, n))
        t_history = progress.add_task("离会/转会/去世", total=1)
        moved = load.apply_history(db, ids, events)
        progress.advance(t_history)
        t_users = progress.add_task("演示账号", total=1)
        new_users = load.load_users(db, ids, users)
        progress.advance(t_users)
        from assoc_ledger.demo.households import load_households
        load_households(db, ids, settings.upload_dir)  # 计生家庭、结对与走访
        db.commit()
    from assoc_ledger.core.errors import DomainError
    from assoc_ledger.demo.entitlements import load_entitlements_demo
    from assoc_ledger.fund.demo import load_fund_demo

    try:
        load_entitlements_demo(factory, settings)  # 2024–2025 monthly runs, before the fund year closes its months
        posted = load_fund_demo(factory, settings)
    except DomainError as exc:
        # A demo made by an older version closed its months before the entries this version adds: the books
        # are append-only, so the demo cannot be brought up to date in place; it can only be made afresh.
        console.print(f"[red]演示公益金账簿无法补齐：[/red]{exc.detail}")
        console.print(f"这个数据库中的演示数据来自旧版本（其月份已结账，新版本要补记的分录不能再记入）。演示数据可以重建："
                      f"删除 {settings.database_url.removeprefix('sqlite:///')} 与 {settings.ledger_dir} "
                      "后重新运行 make run。")
        raise typer.Exit(1) from exc

    from assoc_ledger.demo.relief import load_relief_demo

    cases = load_relief_demo(factory, settings)  # 帮扶救助：十类项目、各状态案件
    load_entitlements_demo(factory, settings)  # households the relief cases registered: their months as arrears
    console.print("救助案件：" + "，".join(f"{k} {v} 件" for k, v in cases.items()))
    console.print(f"[green]演示县已就绪[/green]（{time.monotonic() - started:.1f} 秒）：组织 {len(orgs)} 个，"
                  f"新增会员 {report.created} 名（已存在 {report.unchanged} 名），历史变动 {moved} 条，"
                  f"新增账号 {new_users} 个，公益金账簿新增分录 {sum(posted.values())} 条")
    table = Table(title=f"演示账号（统一密码：{load.DEMO_PASSWORD}，仅用于演示）")
    table.add_column("用户名")
    table.add_column("身份")
    table.add_column("角色")
    table.add_column("管理范围")
    names = {o.key: o.name for o in orgs}
    from assoc_ledger.auth.scope import ROLE_ZH

    for u in users:
        table.add_row(u.username, u.display_name, ROLE_ZH[u.role], names[u.org_key])
    console.print(table)
    console.print(f"登录：浏览器打开 http://{settings.host}:{settings.port}/ ，或 "
                  f"POST /api/auth/login {{\"username\": \"admin\", \"password\": \"{load.DEMO_PASSWORD}\"}}")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
