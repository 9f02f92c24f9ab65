"""Index tables of the fund books. The Beancount files are the books; these rows are the same postings,
written in the same database transaction that is the commit point, so reports never reload a ledger."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column

from assoc_ledger.core.db import Base, UTCDateTime, utcnow
from assoc_ledger.fund.search import entry_search_text

GENESIS = "0" * 64

# The journal's text search index lives outside the models (migration 0008_fund_search): an FTS5 table and
# its shadow tables on SQLite, a GIN index on an expression on PostgreSQL. Schema comparisons leave these
# names alone (and 0006's pg_trgm indexes, for a database not yet at 0008).
SEARCH_INDEX_NAMES = frozenset({
    "fund_entries_fts", *(f"fund_entries_fts_{part}" for part in ("data", "idx", "docsize", "config")),
    *(f"ix_fund_entries_trgm_{col}" for col in ("narration", "payee", "voucher")), "ix_fund_entries_search",
})


def _search_text(context: DefaultExecutionContext) -> str:
    """Column default: every insert of an entry, by the writer or in bulk, carries its search tokens."""
    row = context.get_current_parameters()  # type: ignore[no-untyped-call]
    return entry_search_text(row.get(key) for key in ("narration", "payee", "voucher"))


class FundBook(Base):
    """One book per organisation that keeps a fund (county, township, town, street)."""

    __tablename__ = "fund_books"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), unique=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    opened_on: Mapped[date] = mapped_column(Date)
    next_seq: Mapped[int] = mapped_column(Integer, default=1)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS)
    # Last day of the last closed month (月结); nothing may be dated on or before it.
    closed_through: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FundAccount(Base):
    __tablename__ = "fund_accounts"
    __table_args__ = (UniqueConstraint("book_id", "name"),)
    __audit__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("fund_books.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    zh: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))
    fund: Mapped[str | None] = mapped_column(String(40))
    category: Mapped[str | None] = mapped_column(String(40))
    # Running totals so a write checks "no overdraw" without summing the whole history.
    balance_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    last_date: Mapped[date | None] = mapped_column(Date)


class FundEarmark(Base):
    """限定用途 rule: ``basis_points``/10000 of every receipt on ``income_account`` goes to ``fund``, from a date."""

    __tablename__ = "fund_earmarks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("fund_books.id"), index=True)
    income_account: Mapped[str] = mapped_column(String(120))
    fund: Mapped[str] = mapped_column(String(40))
    # 1000 = 10.00 %; integers keep the rule exact on both backends.
    basis_points: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(Date)


class FundAidStandard(Base):
    """An aid standard an organisation sets for its subtree from a date on (see ``fund.standards``)."""

    __tablename__ = "fund_aid_standards"
    __table_args__ = (UniqueConstraint("scheme", "org_id", "effective_from"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scheme: Mapped[str] = mapped_column(String(40))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    effective_from: Mapped[date] = mapped_column(Date)
    basis: Mapped[str | None] = mapped_column(String(300))  # the document that fixed it (文件依据)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FundEntry(Base):
    """One ledger entry: a transaction, or a month close (balance assertions)."""

    __tablename__ = "fund_entries"
    __table_args__ = (UniqueConstraint("book_id", "seq"), UniqueConstraint("book_id", "idem_key"),
                      # Journal order (date, seq) is this index's order: keyset pages read only their rows.
                      Index("ix_fund_entries_book_date_seq", "book_id", "date", "seq"))
    __audit__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("fund_books.id"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))  # txn | close
    date: Mapped[date] = mapped_column(Date)
    year: Mapped[int] = mapped_column(Integer)
    payee: Mapped[str | None] = mapped_column(String(200))
    narration: Mapped[str] = mapped_column(String(500))
    voucher: Mapped[str | None] = mapped_column(String(60))
    category: Mapped[str | None] = mapped_column(String(40))
    # Tokens of narration, payee and voucher for the search index (``fund/search.py``); nullable only
    # because SQLite cannot add a NOT NULL column to a filled table without rebuilding it.
    search: Mapped[str | None] = mapped_column(Text, default=_search_text)
    idem_key: Mapped[str] = mapped_column(String(120))
    request_hash: Mapped[str] = mapped_column(String(64))
    links: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Ordered metadata exactly as written to the file (without the hashes).
    meta: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    # Month close: [[account, amount]] balance assertions.
    balances: Mapped[list[list[str]] | None] = mapped_column(JSON)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("fund_entries.id"), unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # Size of the year file once this entry is appended: recovery compares it with the file.
    end_offset: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FundPosting(Base):
    __tablename__ = "fund_postings"
    __table_args__ = (Index("ix_fund_postings_book_account_date", "book_id", "account", "date"),)
    __audit__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("fund_entries.id"), index=True)
    book_id: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    date: Mapped[date] = mapped_column(Date)
    account: Mapped[str] = mapped_column(String(120))
    amount_fen: Mapped[int] = mapped_column(BigInteger)


class FundYearFile(Base):
    """Expected size of each year file; a mismatch under the book lock means a crash to repair."""

    __tablename__ = "fund_year_files"
    __table_args__ = (UniqueConstraint("book_id", "year"),)
    __audit__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("fund_books.id"))
    year: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)


class FundRoll(Base):
    """发放花名册 attached to one entry: ``rolls/<name>.csv`` in the book's folder, its digest and totals.

    Written in the entry's transaction with its lines, so recovery and ``ledger rebuild`` re-create the
    file byte for byte from the database."""

    __tablename__ = "fund_rolls"
    __table_args__ = (UniqueConstraint("book_id", "name"),)
    __audit__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("fund_books.id"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("fund_entries.id"), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    line_count: Mapped[int] = mapped_column(Integer)
    total_fen: Mapped[int] = mapped_column(BigInteger)


class FundRollLine(Base):
    """One line of a roll, in file order (``line_no`` from 1)."""

    __tablename__ = "fund_roll_lines"
    __table_args__ = (UniqueConstraint("roll_id", "line_no"),)
    __audit__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    roll_id: Mapped[int] = mapped_column(ForeignKey("fund_rolls.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    payee: Mapped[str] = mapped_column(String(60))
    resident_id: Mapped[str] = mapped_column(String(18))  # masked: region code and last four only
    period: Mapped[str] = mapped_column(String(7))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str] = mapped_column(String(60))


class FundMonthTotal(Base):
    """Sum of one account's postings in one month, kept by the writer in the entry's transaction.

    A balance at any date is the month totals before that date's month plus that month's postings up to
    the date, so reading it costs the same at 1k and at 300k entries.
    """

    __tablename__ = "fund_month_totals"
    __table_args__ = (UniqueConstraint("book_id", "account", "month"),)
    __audit__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("fund_books.id"))
    account: Mapped[str] = mapped_column(String(120))
    month: Mapped[date] = mapped_column(Date)  # the 1st of the month
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class FundVerifyCheckpoint(Base):
    """What the last clean ``verify`` of a year file proved: its first ``size`` bytes hash to ``digest``.

    The next verify hashes that prefix again (any edit in it changes the digest) and parses only what
    was appended after it; ``seq``/``hash`` are the chain head the book had when the checkpoint was set.
    """

    __tablename__ = "fund_verify_checkpoints"
    __table_args__ = (UniqueConstraint("book_id", "year"),)
    __audit__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("fund_books.id"))
    year: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
