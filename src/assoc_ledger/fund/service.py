"""The fund area's public face for routes, CLI, web pages and the demo: scope check → parse → write.

Each ``post_*`` function checks the caller's scope (a book outside it is 404, before anything in the
request is judged), parses raw input into a command value (``commands``) and hands it to the one
writer (``writer.write``). Book lifecycle, queries, earmarks, standards and recovery live in their own
modules and are re-exported here so callers keep one import.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.errors import NotFound, Problem
from assoc_ledger.fund.books import BOOK_KINDS, DEFAULT_OPENED_ON, book_org, get_book, iter_books, list_books, open_book
from assoc_ledger.fund.commands import Close, Entry, Income, Payment, Reversal, RollPayment, Transfer
from assoc_ledger.fund.earmarks import earmarks, set_earmark
from assoc_ledger.fund.models import FundEntry
from assoc_ledger.fund.queries import (
    JournalFilter,
    balance_of,
    balances,
    book_accounts,
    cursor_text,
    fund_balances,
    funds_of,
    journal,
    journal_page,
    parse_cursor,
)
from assoc_ledger.fund.recovery import recover_all
from assoc_ledger.fund.writer import Posted, Within, write

__all__ = [
    "BOOK_KINDS", "DEFAULT_OPENED_ON", "JournalFilter", "Posted", "balance_of", "balances", "book_accounts",
    "book_org", "close_month", "cursor_text", "earmarks", "fund_balances", "funds_of", "get_book", "iter_books",
    "journal", "journal_page", "list_books", "open_book", "parse_cursor", "post_entry", "post_income",
    "post_payment", "post_roll", "post_transfer", "recover_all", "reverse", "set_earmark",
]


def post_income(session: Session, ledger_dir: Path, scope: Scope, book_id: int, *, key: str | None,
                date: object, amount: object, source: str, payer: str | None, voucher: str | None,
                narration: str | None = None, via: str = "Bank", meta: Mapping[str, str] | None = None) -> Posted:
    """收入：a receipt; earmarked sources are split into their restricted fund automatically."""
    get_book(session, book_id, scope)
    command = Income.parse(book_id, key=key, date=date, amount=amount, source=source, payer=payer,
                           voucher=voucher, narration=narration, via=via, meta=meta)
    return write(session, ledger_dir, command)[0]


def post_payment(session: Session, ledger_dir: Path, scope: Scope, book_id: int, *, key: str | None,
                 date: object, amount: object, category: str, payee: str | None, voucher: str | None,
                 fund: str = "General", narration: str | None = None, via: str = "Bank",
                 meta: Mapping[str, str] | None = None, within: Within | None = None) -> Posted:
    """支出：a payment for a relief category (or publicity, administration) from one fund."""
    get_book(session, book_id, scope)
    command = Payment.parse(book_id, key=key, date=date, amount=amount, category=category, payee=payee,
                            voucher=voucher, fund=fund, narration=narration, via=via, meta=meta)
    return write(session, ledger_dir, command, within=within)[0]


def post_roll(session: Session, ledger_dir: Path, scope: Scope, book_id: int, *, key: str | None, date: object,
              category: str, roll: str | None, lines: Sequence[Mapping[str, Any]], voucher: str | None,
              fund: str = "General", narration: str | None = None, via: str = "Bank",
              within: Within | None = None) -> Posted:
    """发放花名册：a batch payment as one voucher whose roll file (one line per payee and period) is attached.

    Each line: ``payee``, ``resident_id`` (masked, see ``core.personal.mask_resident_id``), ``period``
    (YYYY-MM), ``amount`` (yuan, a string) and ``reference`` (e.g. the certificate number).
    """
    get_book(session, book_id, scope)
    command = RollPayment.parse(book_id, key=key, date=date, category=category, roll=roll, lines=lines,
                                voucher=voucher, fund=fund, narration=narration, via=via)
    return write(session, ledger_dir, command, within=within)[0]


def post_transfer(session: Session, ledger_dir: Path, scope: Scope, from_book_id: int, to_book_id: int, *,
                  key: str | None, date: object, amount: object, voucher: str | None, fund: str = "General",
                  narration: str | None = None, via: str = "Bank") -> list[Posted]:
    """拨付下级：one balanced, linked entry in each book, committed together."""
    get_book(session, from_book_id, scope)
    found: list[Problem] = []
    try:
        get_book(session, to_book_id, scope)
    except NotFound:
        found.append(Problem("to_book_id", "收款账簿不存在"))
    command = Transfer.parse(from_book_id, to_book_id, key=key, date=date, amount=amount, voucher=voucher,
                             fund=fund, narration=narration, via=via, found=found)
    return write(session, ledger_dir, command)


def post_entry(session: Session, ledger_dir: Path, scope: Scope, book_id: int, *, key: str | None, date: object,
               narration: str | None, voucher: str | None, postings: Sequence[Mapping[str, Any]],
               payee: str | None = None, meta: Mapping[str, str] | None = None) -> Posted:
    """通用分录：explicit postings (e.g. bank ↔ cash, interest); the same rules as every other write."""
    get_book(session, book_id, scope)
    command = Entry.parse(book_id, key=key, date=date, narration=narration, voucher=voucher, postings=postings,
                          payee=payee, meta=meta)
    return write(session, ledger_dir, command)[0]


def reverse(session: Session, ledger_dir: Path, scope: Scope, book_id: int, seq: int, *, key: str | None,
            date: object, reason: str | None, voucher: str | None) -> list[Posted]:
    """冲销：a reversing entry linked to the original; a transfer is reversed on both sides together."""
    book = get_book(session, book_id, scope)
    if session.scalar(select(FundEntry.id).where(FundEntry.book_id == book.id, FundEntry.seq == seq)) is None:
        raise NotFound(f"分录 {seq} 不存在", field="seq")
    command = Reversal.parse(book_id, seq, key=key, date=date, reason=reason, voucher=voucher)
    return write(session, ledger_dir, command)


def close_month(session: Session, ledger_dir: Path, scope: Scope, book_id: int, month: str,
                key: str | None = None, today: dt.date | None = None) -> Posted:
    """月结：balance assertions for bank and cash accounts; nothing dated in the month may be posted after."""
    get_book(session, book_id, scope)
    return write(session, ledger_dir, Close.parse(book_id, month, key=key, today=today))[0]
