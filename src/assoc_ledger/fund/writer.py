"""The one write path of the fund books: lock → validate → insert → commit → append → fsync.

:func:`write` takes a command value: flock the book(s) → serialise on the book rows in the database →
repair the files if a crash left them behind → idempotency check → build the drafts and check every
rule against the index, collecting all problems → insert entries + postings with the next sequence
number and the chained hash → COMMIT (the one commit point) → append the deterministic text and
fsync → unlock. Callers check the caller's scope before they parse (see ``service``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import case, event, select, update
from sqlalchemy.orm import ORMExecuteState, Session

from assoc_ledger.auth import audit
from assoc_ledger.core.bulk import insert_rows
from assoc_ledger.core.db import Base
from assoc_ledger.core.errors import Conflict, DomainError, Problems
from assoc_ledger.core.money import from_fen, to_fen
from assoc_ledger.fund import files, render, rules
from assoc_ledger.fund.books import org_path
from assoc_ledger.fund.chart import RESTRICTED_PURPOSES
from assoc_ledger.fund.commands import Command, request_hash
from assoc_ledger.fund.drafts import Draft, RollDraft, books_touched, drafts_for
from assoc_ledger.fund.models import (
    FundAccount,
    FundBook,
    FundEntry,
    FundMonthTotal,
    FundPosting,
    FundRoll,
    FundRollLine,
    FundYearFile,
)

log = logging.getLogger("assoc_ledger.fund")

Within = Callable[[Session, list[FundEntry]], None]
"""The caller's own rows, committed with the entries (e.g. a relief case marked paid with its entry).

Called once, after the entries are inserted (ids and ``seq`` known) and before the one commit; it adds
or updates rows through the session it is given and raises a :class:`DomainError` to refuse, which
rolls back everything. Not called on a replay: the caller's rows were committed with the first answer.
"""

# Marks a session that has written (flushed ORM changes or executed INSERT/UPDATE/DELETE) since its last
# commit or rollback, so `writing` can refuse a caller's earlier work that its rollback would discard unseen.
_UNCOMMITTED = "fund.uncommitted-writes"


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _context: object) -> None:
    session.info[_UNCOMMITTED] = True


@event.listens_for(Session, "do_orm_execute")
def _note_write_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_UNCOMMITTED] = True


@event.listens_for(Session, "after_transaction_end")
def _forget_flush(session: Session, transaction: object) -> None:
    if getattr(transaction, "parent", None) is None:
        session.info.pop(_UNCOMMITTED, None)


@dataclass(frozen=True)
class Posted:
    book_id: int
    seq: int
    entry_id: int
    hash: str
    replayed: bool = False


def write(session: Session, ledger_dir: Path, command: Command, *, within: Within | None = None) -> list[Posted]:
    """Post a command; the same key with the same command again returns the first answer, posting nothing."""
    book_ids = books_touched(session, command)
    digest = request_hash(command)
    with writing(session, ledger_dir, book_ids) as books:
        done = session.scalars(select(FundEntry).where(FundEntry.book_id.in_(book_ids),
                                                       FundEntry.idem_key == command.key)
                               .order_by(FundEntry.id)).first()
        if done is not None:
            if done.request_hash != digest:
                raise Conflict("该幂等键已用于另一笔不同的请求，未写入任何数据", field="idempotency_key")
            replay = session.scalars(select(FundEntry).where(FundEntry.idem_key == command.key,
                                                             FundEntry.request_hash == digest)
                                     .order_by(FundEntry.id)).all()
            session.rollback()
            return [Posted(e.book_id, e.seq, e.id, e.hash, replayed=True) for e in replay]
        problems = Problems()
        drafts = drafts_for(session, books, command, problems)
        problems.raise_if_any(DomainError)
        for i, draft in enumerate(drafts):
            # The receiving side of a transfer reports under "to." so a user can tell the books apart.
            validate(session, draft, problems, prefix="to." if i else "")
        problems.raise_if_any(DomainError)
        entries, texts = _insert(session, drafts, command.key, digest)
        if within is not None:
            within(session, entries)
        for entry in entries:
            audit.note(session, f"fund.{command.kind}", "fund_entry", f"{entry.book_id}:{entry.seq}",
                       org_path(session, books[entry.book_id]),
                       after={"seq": entry.seq, "date": entry.date.isoformat(), "key": command.key,
                              "hash": entry.hash, "narration": entry.narration})
        session.commit()  # ← the commit point
        for book_id, year, text, new_year, roll in texts:
            try:
                book = books[book_id]
                paths = files.book_paths(ledger_dir, book)
                if roll is not None:
                    # Before the entry's text: an entry in the file always has its roll (recovery relies on it).
                    files.write_roll(paths, roll.path, [roll.data])
                path = paths.year(year)
                if new_year:
                    files.append_durably(path, render.year_header(book.slug, year).encode())
                files.append_durably(path, text.encode())
                if new_year:
                    files.atomic_write(paths.main, files.main_text(session, book))
            except OSError:  # committed: the next write or `ledger recover` completes the file
                log.exception("append to ledger file failed after commit; recovery will complete it")
    return [Posted(e.book_id, e.seq, e.id, e.hash) for e in entries]


@contextmanager
def writing(session: Session, ledger_dir: Path, book_ids: Sequence[int]) -> Iterator[dict[int, FundBook]]:
    """Every write to books: flock their files, take their rows, bring the files up to the database.

    Yields the locked books; the block commits (the one commit point), then writes the files while it
    still holds the lock. An error before the commit rolls everything back.
    """
    # The writer owns the commit point: work done before the call would be lost to the rollback below
    # or committed without the caller knowing. A caller's rows belong in ``within``.
    if session.new or session.dirty or session.deleted or session.info.get(_UNCOMMITTED):
        raise RuntimeError("fund writes commit their own transaction; pass a session without uncommitted changes "
                           "and add the caller's rows in `within`")
    session.rollback()
    book_rows = {b.id: b for b in session.scalars(select(FundBook).where(FundBook.id.in_(book_ids))).all()}
    paths = [files.book_paths(ledger_dir, b) for b in book_rows.values()]
    session.rollback()
    with files.locked(paths):
        try:
            books = _lock_rows(session, book_ids)
            for book in books.values():
                files.sync_book(session, ledger_dir, book)
            yield books
        except BaseException:
            session.rollback()
            raise
        session.rollback()


def _lock_rows(session: Session, book_ids: Sequence[int]) -> dict[int, FundBook]:
    # The first statement writes, so SQLite takes its write lock here (not on a later upgrade)
    # and PostgreSQL holds the book row until commit: one writer per book at a time.
    for book_id in sorted(book_ids):
        session.execute(update(FundBook).where(FundBook.id == book_id).values(next_seq=FundBook.next_seq))
    session.expire_all()
    return {b.id: b for b in session.scalars(select(FundBook).where(FundBook.id.in_(book_ids))).all()}


def validate(session: Session, draft: Draft, problems: Problems, prefix: str = "") -> None:
    """Every rule the books must keep, checked against the index under the book lock."""
    book = draft.book
    if book.closed_through is not None and draft.date <= book.closed_through:
        problems.add(prefix + "date", f"{draft.date} 所在月份已结账（已结账至 {book.closed_through}），不能再记账")
    if draft.date < book.opened_on:
        problems.add(prefix + "date", f"日期早于账簿启用日 {book.opened_on}")
    if draft.kind != "txn":
        return
    names = {a for a, _ in draft.postings}
    known = {a.name: a for a in session.scalars(select(FundAccount).where(
        FundAccount.book_id == book.id, FundAccount.name.in_(names))).all()}
    for name in sorted(names - set(known)):
        problems.add(prefix + "account", f"科目不存在或未开立：{name}")
    for field_name, message in rules.check_balanced(draft.postings):
        problems.add(prefix + field_name, message)
    earmarks = rules.active_earmarks(files.earmark_rules(session, book.id), draft.date)  # type: ignore[arg-type]
    for field_name, message in rules.check_earmarks(draft.postings, earmarks):
        problems.add(prefix + field_name, message)
    purposes = {f.value: accounts for f, accounts in RESTRICTED_PURPOSES.items()}
    for field_name, message in rules.check_restricted(draft.postings, purposes):
        problems.add(prefix + field_name, message)
    if names - set(known):
        return
    deltas: dict[str, Decimal] = {}
    for account, number in draft.postings:
        deltas[account] = deltas.get(account, Decimal(0)) + number
    for account, delta in sorted(deltas.items()):
        if delta >= 0 or not account.startswith("Assets:"):
            continue
        lowest = _lowest_balance_from(session, known[account], draft.date)
        if lowest + delta < 0:
            zh = known[account].zh
            problems.add(prefix + "amount", f"余额不足：{zh}（{account}）在 {draft.date} 及以后最低余额 {lowest} 元，"
                                            f"不能支出 {-delta} 元")


def _lowest_balance_from(session: Session, account: FundAccount, on: dt.date) -> Decimal:
    """The lowest running balance of an account from the end of ``on`` onwards (Beancount's order)."""
    current = account.balance_fen
    if account.last_date is None or on >= account.last_date:
        return from_fen(current)
    later = session.execute(select(FundPosting.amount_fen).where(
        FundPosting.book_id == account.book_id, FundPosting.account == account.name, FundPosting.date > on)
        .order_by(FundPosting.date, FundPosting.seq)).scalars().all()
    running = current - sum(later)
    lowest = running
    for amount in later:
        running += amount
        lowest = min(lowest, running)
    return from_fen(lowest)


Appended = tuple[int, int, str, bool, RollDraft | None]
"""What to write once committed: book id, year, the entry's text, whether the year file is new, its roll."""


def _insert(session: Session, drafts: list[Draft], key: str, digest: str) -> tuple[list[FundEntry], list[Appended]]:
    entries: list[FundEntry] = []
    texts: list[Appended] = []
    seqs: dict[int, int] = {}
    for draft in drafts:
        seqs[id(draft)] = draft.book.next_seq
        draft.book.next_seq += 1
        draft.links.add(f"{draft.book.slug}-{seqs[id(draft)]}")
    for draft in drafts:  # sides of a transfer carry each other's link
        for other in draft.link_to:
            draft.links.add(f"{other.book.slug}-{seqs[id(other)]}")
    for draft in drafts:
        book = draft.book
        seq = seqs[id(draft)]
        meta = [("key", key), ("seq", str(seq))]
        if draft.voucher:
            meta.append(("voucher", draft.voucher))
        meta.extend(draft.meta)
        value = render.EntryValue(seq=seq, kind=draft.kind, date=draft.date, narration=draft.narration,
                                  payee=draft.payee, links=tuple(sorted(draft.links)), meta=tuple(meta),
                                  postings=tuple(draft.postings), balances=tuple(draft.balances),
                                  prev_hash=book.last_hash)
        entry_hash = render.entry_hash(value)
        value = render.EntryValue(**{**value.__dict__, "hash": entry_hash})
        text = render.render(value)
        year = draft.date.year
        yf = session.scalar(select(FundYearFile).where(FundYearFile.book_id == book.id, FundYearFile.year == year))
        new_year = yf is None
        if yf is None:
            yf = FundYearFile(book_id=book.id, year=year, size=len(render.year_header(book.slug, year).encode()))
            session.add(yf)
        yf.size += len(text.encode())
        entry = FundEntry(book_id=book.id, seq=seq, kind=draft.kind, date=draft.date, year=year,
                          payee=draft.payee, narration=draft.narration, voucher=draft.voucher,
                          category=draft.category, idem_key=key, request_hash=digest,
                          links=sorted(draft.links), meta=[list(p) for p in meta],
                          balances=[[a, str(to_fen(n))] for a, n in draft.balances] or None,
                          reverses_id=draft.reverses.id if draft.reverses else None,
                          prev_hash=book.last_hash, hash=entry_hash, end_offset=yf.size)
        session.add(entry)
        session.flush()
        for account, number in draft.postings:
            session.add(FundPosting(entry_id=entry.id, book_id=book.id, seq=seq, date=draft.date, account=account,
                                    amount_fen=to_fen(number)))
        if draft.roll is not None:
            _insert_roll(session, book.id, entry.id, draft.roll)
        _bump_balances(session, book.id, draft)
        if draft.kind == "close":
            book.closed_through = draft.date - dt.timedelta(days=1)
        book.last_hash = entry_hash
        entries.append(entry)
        texts.append((book.id, year, text, new_year, draft.roll))
    session.flush()
    return entries, texts


def _insert_roll(session: Session, book_id: int, entry_id: int, roll: RollDraft) -> None:
    """The roll's lines in the entry's transaction, so the file can always be re-created from the database."""
    row = FundRoll(book_id=book_id, entry_id=entry_id, name=roll.name, sha256=roll.sha256,
                   line_count=len(roll.lines), total_fen=sum(to_fen(line.amount) for line in roll.lines))
    session.add(row)
    session.flush()
    insert_rows(session, Base.metadata.tables[FundRollLine.__tablename__], ROLL_LINE_KEYS, (
        (row.id, line_no, line.payee, line.resident_id, line.period, to_fen(line.amount), line.reference)
        for line_no, line in enumerate(roll.lines, start=1)))


ROLL_LINE_KEYS = ("roll_id", "line_no", "payee", "resident_id", "period", "amount_fen", "reference")


def _bump_balances(session: Session, book_id: int, draft: Draft) -> None:
    deltas: dict[str, int] = {}
    for account, number in draft.postings:
        deltas[account] = deltas.get(account, 0) + to_fen(number)
    later = case((FundAccount.last_date.is_(None), draft.date), (FundAccount.last_date < draft.date, draft.date),
                 else_=FundAccount.last_date)
    month = draft.date.replace(day=1)
    for account, fen in sorted(deltas.items()):
        session.execute(update(FundAccount).where(FundAccount.book_id == book_id, FundAccount.name == account)
                        .values(balance_fen=FundAccount.balance_fen + fen, last_date=later))
        # Month totals make a balance at any date a read of a few rows (see ``queries.balances``);
        # update-then-insert is safe because the book lock admits one writer.
        bumped = session.execute(update(FundMonthTotal).where(
            FundMonthTotal.book_id == book_id, FundMonthTotal.account == account, FundMonthTotal.month == month)
            .values(amount_fen=FundMonthTotal.amount_fen + fen))
        if not bumped.rowcount:  # type: ignore[attr-defined]
            session.add(FundMonthTotal(book_id=book_id, account=account, month=month, amount_fen=fen))
