"""Reads over a book's index: balances of accounts and of funds, and the filtered journal."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, delete, func, insert, or_, select, tuple_
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from assoc_ledger.core.money import from_fen
from assoc_ledger.fund.chart import FUND_ZH, Fund
from assoc_ledger.fund.models import FundAccount, FundBook, FundEntry, FundMonthTotal, FundPosting
from assoc_ledger.fund.search import query_tokens


def book_accounts(session: Session, book_id: int) -> list[FundAccount]:
    return list(session.scalars(select(FundAccount).where(FundAccount.book_id == book_id)
                                .order_by(FundAccount.id)).all())


def balance_of(session: Session, book_id: int, account: str, on: dt.date | None = None) -> Decimal:
    """Balance of an account (and its sub-accounts) at the end of a date."""
    names = list(session.scalars(select(FundAccount.name).where(
        FundAccount.book_id == book_id,
        or_(FundAccount.name == account, FundAccount.name.startswith(account + ":", autoescape=True)))).all())
    return from_fen(sum(_fen_at(session, book_id, names, on).values()))


def balances(session: Session, book_id: int, on: dt.date | None = None) -> list[tuple[FundAccount, Decimal]]:
    accounts = book_accounts(session, book_id)
    if on is None:  # the writer's running balance is every posting so far
        return [(a, from_fen(a.balance_fen)) for a in accounts]
    sums = _fen_at(session, book_id, [a.name for a in accounts], on)
    return [(a, from_fen(sums.get(a.name, 0))) for a in accounts]


def _fen_at(session: Session, book_id: int, names: list[str], on: dt.date | None) -> dict[str, int]:
    """Fen per account at the end of ``on``: month totals before its month + that month's postings up to it.

    Both reads go through indexes by (book, account, month/date), so the cost is the number of accounts
    and of one month's postings, whatever the length of the book.
    """
    if not names:
        return {}
    if on is None:
        return dict(session.execute(select(FundAccount.name, FundAccount.balance_fen).where(
            FundAccount.book_id == book_id, FundAccount.name.in_(names))).tuples().all())
    month = on.replace(day=1)
    before = select(FundMonthTotal.account, func.sum(FundMonthTotal.amount_fen)).where(
        FundMonthTotal.book_id == book_id, FundMonthTotal.account.in_(names), FundMonthTotal.month < month
    ).group_by(FundMonthTotal.account)
    within = select(FundPosting.account, func.sum(FundPosting.amount_fen)).where(
        FundPosting.book_id == book_id, FundPosting.account.in_(names), FundPosting.date >= month,
        FundPosting.date <= on).group_by(FundPosting.account)
    sums: dict[str, int] = {}
    for stmt in (before, within):
        for name, fen in session.execute(stmt).tuples():
            sums[name] = sums.get(name, 0) + int(fen or 0)
    return sums


def rebuild_month_totals(session: Session, book_id: int) -> int:
    """Recompute a book's month totals from its postings (for books whose rows were loaded in bulk)."""
    session.execute(delete(FundMonthTotal).where(FundMonthTotal.book_id == book_id))
    totals: dict[tuple[str, dt.date], int] = {}
    rows = session.execute(select(FundPosting.account, FundPosting.date, FundPosting.amount_fen)
                           .where(FundPosting.book_id == book_id).execution_options(yield_per=10000)).tuples()
    for account, day, fen in rows:
        key = (account, day.replace(day=1))
        totals[key] = totals.get(key, 0) + fen
    if totals:
        session.execute(insert(FundMonthTotal), [{"book_id": book_id, "account": a, "month": m, "amount_fen": f}
                                                 for (a, m), f in sorted(totals.items())])
    return len(totals)


def fund_balances(session: Session, book_id: int, on: dt.date | None = None) -> list[tuple[str, str, Decimal]]:
    """Restricted and unrestricted money side by side: (fund, Chinese name, bank + cash balance)."""
    return funds_of(balances(session, book_id, on))


def funds_of(account_balances: Iterable[tuple[FundAccount, Decimal]]) -> list[tuple[str, str, Decimal]]:
    """The fund totals of account balances already read (see ``balances``)."""
    totals: dict[str, Decimal] = {}
    for account, amount in account_balances:
        if account.kind == "asset" and account.fund:
            totals[account.fund] = totals.get(account.fund, Decimal(0)) + amount
    return [(f.value, FUND_ZH[f], totals.get(f.value, Decimal("0.00"))) for f in Fund]


@dataclass(frozen=True)
class JournalFilter:
    account: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    category: str | None = None
    text: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.account or self.date_from or self.date_to or self.category or self.text)


Cursor = tuple[dt.date, int]
"""A place in the journal's order (date, seq): pages start after or end before one."""

SEARCH_FEW = 2000
"""Up to this many matches a search reads them from the index first (see ``_text_matches``)."""

SEARCH_TOTAL_CAP = 10_000
"""A text search counts its matches up to this many (then the page says ``total_exact: false``): counting
all 200k entries that mention 县财政局 costs what the book's length costs, and nobody pages through them."""


def cursor_text(cursor: Cursor) -> str:
    return f"{cursor[0].isoformat()}:{cursor[1]}"


def parse_cursor(text: str) -> Cursor | None:
    day, _, seq = text.partition(":")
    try:
        return dt.date.fromisoformat(day), int(seq)
    except ValueError:
        return None


@dataclass(frozen=True)
class JournalPage:
    rows: list[tuple[FundEntry, list[FundPosting]]]
    total: int
    total_exact: bool  # False when a text search stopped counting at SEARCH_TOTAL_CAP + 1
    offset: int | None  # None when the page was reached by a cursor (counting rows before it would scan)
    next: Cursor | None
    prev: Cursor | None


def journal(session: Session, book_id: int, flt: JournalFilter, *, limit: int = 100,
            offset: int = 0) -> tuple[list[tuple[FundEntry, list[FundPosting]]], int]:
    page = journal_page(session, book_id, flt, limit=limit, offset=offset)
    return page.rows, page.total


def journal_page(session: Session, book_id: int, flt: JournalFilter, *, limit: int = 100, offset: int = 0,
                 after: Cursor | None = None, before: Cursor | None = None, last: bool = False) -> JournalPage:
    """A page of the journal in (date, seq) order: by offset, after or before a cursor, or the last page.

    Cursor pages and the last page read only their own rows through the (book, date, seq) index, so
    they cost the same anywhere in a 300k-entry book; an offset page reads every row before it.
    """
    few = _few_matches(session, flt.text)
    common = bool(flt.text) and few is None and session.get_bind().dialect.name == "sqlite"
    key = tuple_(FundEntry.date, FundEntry.seq)
    backwards = last or before is not None
    selected: Select[Any] = select(FundEntry)
    if common:  # walked in chunks of ids (``_walk_matches``), the entries read once found
        selected = select(FundEntry.id, FundEntry.date, FundEntry.seq)  # type: ignore[assignment]
    stmt = _journal_where(session, selected, book_id, replace(flt, text=None) if common else flt, few)
    if after is not None:
        stmt = stmt.where(key > tuple_(*after))
    if before is not None:
        stmt = stmt.where(key < tuple_(*before))
    order = (FundEntry.date.desc(), FundEntry.seq.desc()) if backwards else (FundEntry.date, FundEntry.seq)
    skip = 0 if backwards or after is not None else offset
    if common:
        rows = _walk_matches(session, stmt.order_by(*order), str(flt.text), backwards, skip + limit + 1)[skip:]
    else:
        rows = list(session.scalars(stmt.order_by(*order).limit(limit + 1).offset(skip or None)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    total, exact = _journal_total(session, book_id, flt, few)
    first = (rows[0].date, rows[0].seq) if rows else None
    final = (rows[-1].date, rows[-1].seq) if rows else None
    if backwards:
        nxt, prev = (final if before is not None else None), (first if more else None)
        at = max(total - len(rows), 0) if last and exact else None
    else:
        nxt, prev = (final if more else None), (first if after is not None or offset else None)
        at = None if after is not None else offset
    return JournalPage(_with_legs(session, rows), total, exact, at, nxt, prev)


WALK_CHUNK = 1000
"""Journal rows a common text's page reads at a time before asking the index which of them match."""


def _walk_matches(session: Session, ordered: Select[Any], text: str, backwards: bool, want: int) -> list[FundEntry]:
    """The first ``want`` entries in ``ordered`` (ids, dates and seqs in journal order) that contain a common
    text (SQLite). ``id IN (matches)`` would first gather all 200k ids of 县财政局, and probing the index once
    per row costs a phrase lookup each; so the journal is read in chunks, and the index is asked for its
    matches between the chunk's lowest and highest id, which are close together unless entries were
    written far from their date order (then the answer is still right, only slower)."""
    key = tuple_(FundEntry.date, FundEntry.seq)
    found: list[int] = []
    stmt = ordered
    while len(found) < want:
        chunk = session.execute(stmt.limit(WALK_CHUNK)).tuples().all()
        if not chunk:
            break
        ids = [row[0] for row in chunk]
        hits = set(session.scalars(sql_text(FTS_MATCHES + " AND rowid BETWEEN :lo AND :hi").bindparams(
            phrase=_fts_phrase(text), lo=min(ids), hi=max(ids))).all())
        found.extend(i for i in ids if i in hits)
        at = tuple_(chunk[-1][1], chunk[-1][2])
        stmt = ordered.where(key < at if backwards else key > at)
    found = found[:want]
    by_id = {e.id: e for e in session.scalars(select(FundEntry).where(FundEntry.id.in_(found))).all()}
    return [by_id[i] for i in found]


def _journal_where(session: Session, stmt: Select[Any], book_id: int, flt: JournalFilter,
                   few: list[int] | None) -> Select[Any]:
    if few is not None:
        # ``book_id + 0`` keeps SQLite from walking the whole book by its (book, date, seq) index to
        # probe a handful of ids: it reads those rows by id and sorts them.
        return _journal_filters(session, stmt.where(FundEntry.book_id + 0 == book_id, FundEntry.id.in_(few)),
                                book_id, replace(flt, text=None))
    return _journal_filters(session, stmt.where(FundEntry.book_id == book_id), book_id, flt)


def _journal_filters(session: Session, stmt: Select[Any], book_id: int, flt: JournalFilter) -> Select[Any]:
    if flt.account:
        sub = select(FundPosting.entry_id).where(
            FundPosting.book_id == book_id,
            or_(FundPosting.account == flt.account,
                FundPosting.account.startswith(flt.account + ":", autoescape=True)))
        stmt = stmt.where(FundEntry.id.in_(sub))
    if flt.date_from:
        stmt = stmt.where(FundEntry.date >= flt.date_from)
    if flt.date_to:
        stmt = stmt.where(FundEntry.date <= flt.date_to)
    if flt.category:
        stmt = stmt.where(FundEntry.category == flt.category)
    if flt.text:
        stmt = stmt.where(_text_matches(session, flt.text))
    return stmt


FTS_MATCHES = "SELECT rowid FROM fund_entries_fts WHERE fund_entries_fts MATCH :phrase"
PG_MATCHES = "to_tsvector('simple', fund_entries.search) @@ to_tsquery('simple', :phrase)"


def _fts_phrase(text: str) -> str:
    """FTS5 phrase syntax: the query's tokens (ASCII letters and digits only) in double quotes."""
    return '"' + " ".join(query_tokens(text)) + '"'


def _few_matches(session: Session, text: str | None) -> list[int] | None:
    """The ids of a rare text's entries, read from SQLite's search index; None for a common text (the
    journal is then walked in order and stops at a page) and for PostgreSQL."""
    if not text or session.get_bind().dialect.name != "sqlite":
        return None
    few = list(session.scalars(sql_text(FTS_MATCHES + " LIMIT :cap").bindparams(
        phrase=_fts_phrase(text), cap=SEARCH_FEW + 1)).all())
    return few if len(few) <= SEARCH_FEW else None


def _text_matches(session: Session, text: str) -> ColumnElement[bool]:
    """Entries whose narration, payee or voucher contains ``text``: a phrase of its tokens in the index
    (``fund/search.py``), on SQLite the FTS5 table, on PostgreSQL the GIN index on the same expression."""
    if session.get_bind().dialect.name == "sqlite":
        return FundEntry.id.in_(sql_text(FTS_MATCHES).bindparams(phrase=_fts_phrase(text)).columns(rowid=Integer))
    return sql_text(PG_MATCHES).bindparams(phrase=" <-> ".join(query_tokens(text)))  # type: ignore[return-value]


def _journal_total(session: Session, book_id: int, flt: JournalFilter,
                   few: list[int] | None) -> tuple[int, bool]:
    """How many entries the filter matches, and whether that is exact (a text search stops counting)."""
    if flt.empty:  # sequence numbers have no gaps, so the book row knows how many entries it has
        return int(session.scalar(select(FundBook.next_seq).where(FundBook.id == book_id)) or 1) - 1, True
    if flt.text and few is None and session.get_bind().dialect.name == "sqlite":
        # A common text is counted from the index's side: its matches in rowid order joined to their
        # entries by id (``book_id + 0`` keeps SQLite from walking the book instead), stopping at the cap.
        matches = sql_text(FTS_MATCHES).bindparams(phrase=_fts_phrase(flt.text)).columns(rowid=Integer).subquery()
        counted = _journal_filters(session, select(FundEntry.id).select_from(matches).join(
            FundEntry, FundEntry.id == matches.c.rowid).where(FundEntry.book_id + 0 == book_id), book_id,
            replace(flt, text=None))
    else:
        counted = _journal_where(session, select(FundEntry.id), book_id, flt, few)
    if not flt.text:
        return int(session.scalar(select(func.count()).select_from(counted.subquery())) or 0), True
    total = int(session.scalar(select(func.count()).select_from(counted.limit(SEARCH_TOTAL_CAP + 1).subquery())) or 0)
    return (SEARCH_TOTAL_CAP, False) if total > SEARCH_TOTAL_CAP else (total, True)


def _with_legs(session: Session, rows: list[FundEntry]) -> list[tuple[FundEntry, list[FundPosting]]]:
    if not rows:
        return []
    legs = session.scalars(select(FundPosting).where(FundPosting.entry_id.in_([r.id for r in rows]))
                           .order_by(FundPosting.id)).all()
    by_entry: dict[int, list[FundPosting]] = {}
    for leg in legs:
        by_entry.setdefault(leg.entry_id, []).append(leg)
    return [(r, by_entry.get(r.id, [])) for r in rows]
