"""A book's earmark rules (限定用途提取规则): listing them and adding one from a date on.

The default figures are in ``standards``; a book adopts them when it opens and may change them here,
never for a date it already holds entries on. ``accounts.beancount`` carries the rules to ``bean-check``.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assoc_ledger.auth import audit
from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.errors import Conflict, DomainError, Invalid, Problems
from assoc_ledger.fund import files, rules
from assoc_ledger.fund.books import get_book, org_path
from assoc_ledger.fund.chart import SOURCES, Fund, Source
from assoc_ledger.fund.commands import choice_of, date_of, percent_of
from assoc_ledger.fund.models import FundEarmark, FundEntry
from assoc_ledger.fund.writer import writing

log = logging.getLogger("assoc_ledger.fund")


def earmarks(session: Session, book_id: int) -> list[FundEarmark]:
    return list(session.scalars(select(FundEarmark).where(FundEarmark.book_id == book_id)
                                .order_by(FundEarmark.effective_from, FundEarmark.id)).all())


def set_earmark(session: Session, ledger_dir: Path, scope: Scope, book_id: int, *, source: str, fund: str,
                percent: object, effective_from: object) -> tuple[FundEarmark, bool]:
    """From a date on, ``percent`` of every receipt from ``source`` goes to a restricted fund.

    A rule may only start after the book's last entry, so no posted entry is ever read under a rule it was
    not written under (the plugin re-checks every receipt against the rule in force on its date). The same
    rule twice is one rule (returns ``created=False``); ``percent`` 0 ends an earmark. Returns (rule, created).
    """
    get_book(session, book_id, scope)
    p = Problems()
    src = choice_of(p, Source, source, "source", "收入来源")
    fund_ = choice_of(p, Fund, fund, "fund", "限定基金")
    bp = percent_of(p, percent)
    since = date_of(p, effective_from, "effective_from")
    p.raise_if_any(Invalid)
    if fund_ is Fund.general:
        raise DomainError("非限定资金不需要提取规则：请选择限定用途基金", field="fund")
    account = SOURCES[src].account
    with writing(session, ledger_dir, [book_id]) as books:
        book = books[book_id]
        same = session.scalar(select(FundEarmark).where(
            FundEarmark.book_id == book_id, FundEarmark.income_account == account,
            FundEarmark.fund == fund_.value, FundEarmark.effective_from == since))
        if same is not None:
            if same.basis_points != bp:
                raise Conflict(f"{since} 起已有一条该收入来源的提取规则（{Decimal(same.basis_points) / 100}%），"
                               "规则一经生效不能修改；请另选生效日期", field="effective_from")
            return same, False
        last = session.scalar(select(func.max(FundEntry.date)).where(FundEntry.book_id == book_id))
        if last is not None and since <= last:
            raise DomainError(f"生效日期须晚于本账簿最后一笔分录的日期（{last}），已记账的分录不能按新规则改变",
                              field="effective_from")
        others = rules.active_earmarks(files.earmark_rules(session, book_id), since)  # type: ignore[arg-type]
        total = bp + sum(v for (acct, f), v in others.items() if acct == account and f != fund_.value)
        if total > 10000:
            raise DomainError("同一收入来源提取到各限定基金的比例合计不能超过 100%", field="percent")
        rule = FundEarmark(book_id=book_id, income_account=account, fund=fund_.value, basis_points=bp,
                           effective_from=since)
        session.add(rule)
        session.flush()
        audit.note(session, "fund.earmark", "fund_earmark", f"{book_id}:{rule.id}", org_path(session, book),
                   after={"source": src.value, "fund": fund_.value, "percent": str(Decimal(bp) / 100),
                          "effective_from": since.isoformat()})
        session.commit()  # the commit point; the accounts file is its projection
        try:
            files.atomic_write(files.book_paths(ledger_dir, book).accounts, files.accounts_text(session, book))
        except OSError:  # committed: the next write or `ledger recover` rewrites the file
            log.exception("rewriting accounts.beancount failed after commit; recovery will complete it")
    return rule, True
