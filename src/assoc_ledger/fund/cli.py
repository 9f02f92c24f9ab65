"""``assoc-ledger ledger …``: post, reverse, journal, balance, verify, rebuild, close, earmark, standard,
bean-check, recover.

Commands act as the system over the whole tree (Scope.everything); every write is audited as such.
A post without ``--key`` uses a key derived from kind, book and voucher number, so re-running the same
command after an interruption posts nothing twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.cli import refused
from assoc_ledger.core.errors import DomainError, Invalid

ledger_app = typer.Typer(help="公益金账簿（Beancount）", no_args_is_help=True)
console = Console(emoji=False)  # account names contain ':bank:'-like text


def _session() -> Session:
    from assoc_ledger.auth.audit import audited_sessions

    return audited_sessions()()


def _ledger_dir() -> Path:
    from assoc_ledger.core.config import get_settings

    return Path(get_settings().ledger_dir)


def _book_id(db: Session, ref: str) -> int:
    from assoc_ledger.fund.models import FundBook

    book = db.scalar(select(FundBook).where(FundBook.slug == ref))
    if book is None and ref.isdigit():
        book = db.get(FundBook, int(ref))
    if book is None:
        raise Invalid(f"找不到账簿：{ref}（用账簿编号或目录名，如 county-1）", field="book")
    return book.id


@ledger_app.command("init")
def init(opened_on: str = typer.Option("2020-01-01", help="账簿启用日")) -> None:
    """Open a fund book for every county, township, town and street association that has none."""
    from assoc_ledger.fund import service
    from assoc_ledger.orgs.models import Organisation

    with _session() as db:
        orgs = db.scalars(select(Organisation).where(Organisation.kind.in_(service.BOOK_KINDS),
                                                     Organisation.closed_on.is_(None)).order_by(Organisation.path)).all()
        for org in orgs:
            book = service.open_book(db, _ledger_dir(), org.id, Scope.everything(Perm.fund_write),
                                     dt.date.fromisoformat(opened_on))
            console.print(f"{book.slug}\t{book.title}")


@ledger_app.command("post")
def post(kind: str = typer.Argument(..., help="income | payment | transfer"),
         book: str = typer.Option(..., help="账簿（编号或目录名）"),
         date: str = typer.Option(..., help="YYYY-MM-DD"),
         amount: str = typer.Option(..., help="金额（元），如 1234.50"),
         voucher: str = typer.Option(..., help="凭证号"),
         source: str = typer.Option("budget", help="收入来源"),
         category: str = typer.Option("general", help="支出类别"),
         fund: str = typer.Option("General", help="General 或 JiangLiFuZhu"),
         party: str = typer.Option("", "--party", help="交款人/收款人"),
         to_book: str = typer.Option("", help="划拨的收款账簿"),
         narration: str = typer.Option("", help="摘要"),
         via: str = typer.Option("Bank", help="Bank 或 Cash"),
         key: str = typer.Option("", help="幂等键（默认由类别、账簿和凭证号生成）")) -> None:
    """Record income, a payment or a transfer to another book."""
    from assoc_ledger.fund import service

    scope = Scope.everything(Perm.fund_write)
    try:
        with _session() as db:
            book_id = _book_id(db, book)
            k = key or f"cli:{kind}:{book_id}:{hashlib.sha256(voucher.encode()).hexdigest()[:20]}"
            if kind == "income":
                posted = [service.post_income(db, _ledger_dir(), scope, book_id, key=k, date=date, amount=amount,
                                              source=source, payer=party, voucher=voucher,
                                              narration=narration or None, via=via)]
            elif kind == "payment":
                posted = [service.post_payment(db, _ledger_dir(), scope, book_id, key=k, date=date, amount=amount,
                                               category=category, fund=fund, payee=party, voucher=voucher,
                                               narration=narration or None, via=via)]
            elif kind == "transfer":
                posted = service.post_transfer(db, _ledger_dir(), scope, book_id, _book_id(db, to_book), key=k,
                                               date=date, amount=amount, fund=fund, voucher=voucher,
                                               narration=narration or None, via=via)
            else:
                raise Invalid("类别只能是 income、payment 或 transfer", field="kind")
    except DomainError as exc:
        raise refused(exc, console) from exc
    for p in posted:
        state = "（重复请求，未重复记账）" if p.replayed else ""
        console.print(f"[green]已记账[/green] 账簿 {p.book_id} 分录 {p.seq} hash {p.hash[:12]}{state}")


@ledger_app.command("reverse")
def reverse_cmd(book: str, seq: int, date: str = typer.Option(...), reason: str = typer.Option(...),
                voucher: str = typer.Option(...), key: str = typer.Option("")) -> None:
    """Reverse an entry (冲销) with a reason; the reversal is linked to the original."""
    from assoc_ledger.fund import service

    try:
        with _session() as db:
            book_id = _book_id(db, book)
            posted = service.reverse(db, _ledger_dir(), Scope.everything(Perm.fund_write), book_id, seq,
                                     key=key or f"cli:reverse:{book_id}:{seq}", date=date, reason=reason,
                                     voucher=voucher)
    except DomainError as exc:
        raise refused(exc, console) from exc
    for p in posted:
        console.print(f"[green]已冲销[/green] 账簿 {p.book_id} 冲销分录 {p.seq}")


@ledger_app.command("journal")
def journal_cmd(book: str, account: str = typer.Option(""), date_from: str = typer.Option("", "--from"),
                date_to: str = typer.Option("", "--to"), category: str = typer.Option(""),
                text: str = typer.Option(""), limit: int = typer.Option(50), offset: int = typer.Option(0)) -> None:
    """List the journal of a book (filters: account, dates, category, text)."""
    from assoc_ledger.fund import service

    with _session() as db:
        try:
            book_id = _book_id(db, book)
        except DomainError as exc:
            raise refused(exc, console) from exc
        flt = service.JournalFilter(account or None, dt.date.fromisoformat(date_from) if date_from else None,
                                    dt.date.fromisoformat(date_to) if date_to else None, category or None,
                                    text or None)
        rows, total = service.journal(db, book_id, flt, limit=limit, offset=offset)
        table = Table("seq", "日期", "凭证", "往来", "摘要", "分录")
        for entry, legs in rows:
            lines = "\n".join(f"{p.account} {p.amount_fen / 100:,.2f}" for p in legs) or "（结账）"
            table.add_row(str(entry.seq), entry.date.isoformat(), entry.voucher or "", entry.payee or "",
                          entry.narration, lines)
    console.print(table)
    console.print(f"共 {total} 条，显示 {offset + 1}–{offset + len(rows)}")


@ledger_app.command("balance")
def balance_cmd(book: str, on: str = typer.Option("", help="截至日期（含），默认全部"),
                account: str = typer.Option("", help="科目（含下级）")) -> None:
    """Balances of a book's accounts at a date."""
    from assoc_ledger.fund import service

    with _session() as db:
        try:
            book_id = _book_id(db, book)
        except DomainError as exc:
            raise refused(exc, console) from exc
        when = dt.date.fromisoformat(on) if on else None
        table = Table("科目", "名称", "余额（元）")
        if account:
            table.add_row(account, "", f"{service.balance_of(db, book_id, account, when):,.2f}")
        else:
            for acc, amount in service.balances(db, book_id, when):
                table.add_row(acc.name, acc.zh, f"{amount:,.2f}")
            funds = service.fund_balances(db, book_id, when)
    console.print(table)
    if not account:
        for fund, zh, amount in funds:
            console.print(f"{zh}（{fund}）：{amount:,.2f} 元")


@ledger_app.command("close")
def close_cmd(book: str, month: str = typer.Argument(..., help="YYYY-MM")) -> None:
    """Close a month: write balance assertions; later entries dated in it are refused."""
    from assoc_ledger.fund import service

    try:
        with _session() as db:
            posted = service.close_month(db, _ledger_dir(), Scope.everything(Perm.fund_close), _book_id(db, book),
                                         month)
    except DomainError as exc:
        raise refused(exc, console) from exc
    console.print(f"[green]已结账[/green] {month}（分录 {posted.seq}）")


@ledger_app.command("earmark")
def earmark_cmd(book: str,
                source: str = typer.Option("", help="收入来源，如 maintenance_fee、central_transfer；不填则列出规则"),
                percent: str = typer.Option("", help="提取比例（百分数），如 10 或 12.5；0 表示停止提取"),
                since: str = typer.Option("", "--from", help="生效日期 YYYY-MM-DD，须晚于账簿最后一笔分录"),
                fund: str = typer.Option("JiangLiFuZhu", help="限定基金")) -> None:
    """List a book's earmark rules (限定用途提取规则), or add one from a date on."""
    from assoc_ledger.fund import service

    try:
        with _session() as db:
            book_id = _book_id(db, book)
            if source:
                rule, created = service.set_earmark(db, _ledger_dir(), Scope.everything(Perm.fund_close), book_id,
                                                    source=source, fund=fund, percent=percent,
                                                    effective_from=since)
                console.print(("[green]已新增规则[/green]" if created else "规则已存在，未重复记录")
                              + f"：{rule.income_account} → {rule.fund} {rule.basis_points / 100:.2f}%，"
                                f"自 {rule.effective_from} 起")
            table = Table(title="限定用途提取规则")
            for col in ("生效日期", "收入科目", "限定基金", "比例"):
                table.add_column(col)
            for r in service.earmarks(db, book_id):
                table.add_row(str(r.effective_from), r.income_account, r.fund, f"{r.basis_points / 100:.2f}%")
            console.print(table)
    except DomainError as exc:
        raise refused(exc, console) from exc


@ledger_app.command("standard")
def standard_cmd(org: int = typer.Argument(..., help="组织编号"),
                 scheme: str = typer.Option("only_child_reward", help="救助项目"),
                 on: str = typer.Option("", help="查询某日适用的标准 YYYY-MM-DD（默认今天）"),
                 amount: str = typer.Option("", help="新标准金额（元），如 30；不填则只查询"),
                 since: str = typer.Option("", "--from", help="新标准生效日期 YYYY-MM-DD"),
                 basis: str = typer.Option("", help="文件依据")) -> None:
    """Show the aid standard (救助标准) in force for an organisation on a date, or set one for its subtree."""
    from assoc_ledger.fund import standards

    try:
        with _session() as db:
            if amount:
                added, created = standards.set_aid_standard(
                    db, Scope.everything(Perm.fund_close), org, scheme=scheme, amount=amount,
                    effective_from=since, basis=basis or None)
                unit = standards.SCHEMES[added.scheme].unit
                console.print(("[green]已设定标准[/green]" if created else "标准已存在，未重复记录")
                              + f"：{added.amount} {unit}，自 {added.effective_from} 起")
            day = dt.date.fromisoformat(on) if on else dt.date.today()
            found = standards.aid_standard(db, scheme, org, day)
    except ValueError as exc:  # --on that is not a date
        console.print(f"[red]失败：[/red]日期格式无效，应为 YYYY-MM-DD（{exc}）")
        raise typer.Exit(2) from exc
    except DomainError as exc:
        raise refused(exc, console) from exc
    spec = standards.SCHEMES[found.scheme]
    where = "默认标准" if found.org_id is None else f"组织 {found.org_id} 设定"
    console.print(f"{spec.zh}：{found.amount} {spec.unit}（{day} 适用；{where}，自 "
                  f"{'始' if found.effective_from == standards.SINCE_ALWAYS else found.effective_from} 起）")


def _books(db: Session, book: str) -> list[object]:
    from assoc_ledger.fund import service

    return list(service.iter_books(db, [_book_id(db, book)] if book else None))


@ledger_app.command("verify")
def verify_cmd(book: str = typer.Argument("", help="默认全部账簿"),
               full: bool = typer.Option(False, "--full", help="从头完整核对，不用上次核对留下的检查点")) -> None:
    """Recompute each book's hash chain from its files and compare them with the database.

    By default only what was appended since the last clean verify is compared (the prefix verified
    then is hashed again, so an edit anywhere is still found); ``--full`` checks everything again.
    """
    from assoc_ledger.fund import verify
    from assoc_ledger.fund.models import FundBook

    bad = 0
    with _session() as db:
        books = [b for b in _books(db, book) if isinstance(b, FundBook)]
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("核对账簿", total=len(books))
            reports = []
            for b in books:
                reports.append(verify.verify_book_and_rolls(db, _ledger_dir(), b, full=full))
                progress.advance(task)
    for report in reports:
        if report.ok:
            console.print(f"[green]{report.book}[/green]：{report.entries} 条分录，哈希链完整，文件与数据库一致")
        else:
            bad += 1
            console.print(f"[red]{report.book}：第一个问题 {report.first}[/red]")
            for p in report.problems[1:20]:
                console.print(f"  {p}")
    if bad:
        raise typer.Exit(1)


@ledger_app.command("rebuild")
def rebuild_cmd(book: str = typer.Argument("", help="默认全部账簿")) -> None:
    """Regenerate the ledger files from the database (byte-identical to what was appended)."""
    from assoc_ledger.fund import files
    from assoc_ledger.fund.models import FundBook

    with _session() as db:
        books = [b for b in _books(db, book) if isinstance(b, FundBook)]
        with Progress(console=console) as progress:
            task = progress.add_task("重建账簿文件", total=len(books))
            for b in books:
                with files.locked([files.book_paths(_ledger_dir(), b)]):
                    files.rebuild_book(db, _ledger_dir(), b)
                progress.advance(task)
    console.print(f"[green]已重建[/green] {len(books)} 本账簿")


@ledger_app.command("recover")
def recover_cmd() -> None:
    """Bring every book's files back to the committed entries after a crash (also done on start-up)."""
    from assoc_ledger.fund import service

    with _session() as db:
        repairs = service.recover_all(db, _ledger_dir())
    for r in repairs:
        console.print(f"{r.path}：截去 {r.truncated_bytes} 字节，补写 {r.appended_entries} 条分录")
    console.print("[green]账簿文件与数据库一致[/green]")


@ledger_app.command("bean-check")
def bean_check_cmd(book: str = typer.Argument("", help="默认全部账簿")) -> None:
    """Run Beancount's own checker (with our plugin) on each book's main file."""
    from assoc_ledger.fund import files
    from assoc_ledger.fund.models import FundBook

    with _session() as db:
        mains = [files.book_paths(_ledger_dir(), b).main for b in _books(db, book) if isinstance(b, FundBook)]
    exe = str(Path(sys.executable).with_name("bean-check"))
    failed = 0
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("bean-check", total=len(mains))
        for main in mains:
            result = subprocess.run([exe, str(main)], capture_output=True, text=True, check=False)
            progress.advance(task)
            if result.returncode:
                failed += 1
                console.print(f"[red]{main}[/red]\n{result.stderr[:4000]}")
            else:
                console.print(f"[green]{main}：0 个错误[/green]")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(ledger_app, name="ledger")
