"""The ledger files of a book: where they live, the per-book lock, durable appends, recovery and rebuild.

The database commit is the one commit point. Files are a deterministic projection of the committed
entries: under the book lock, :func:`sync_book` truncates any partial tail and appends whatever is
committed but missing, so after a crash at any moment the next write (or ``ledger recover``, or
start-up) restores ``file == render(DB)`` with no human help.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from assoc_ledger.core.errors import Conflict
from assoc_ledger.core.money import from_fen
from assoc_ledger.fund import render, rolls
from assoc_ledger.fund.chart import RESTRICTED_PURPOSES
from assoc_ledger.fund.models import (
    FundAccount,
    FundBook,
    FundEarmark,
    FundEntry,
    FundPosting,
    FundRoll,
    FundRollLine,
    FundYearFile,
)


@dataclass(frozen=True)
class BookPaths:
    root: Path

    @property
    def main(self) -> Path:
        return self.root / "main.beancount"

    @property
    def accounts(self) -> Path:
        return self.root / "accounts.beancount"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    def year(self, year: int) -> Path:
        return self.root / f"{year}.beancount"

    @property
    def rolls(self) -> Path:
        return self.root / rolls.ROLLS_DIR


def book_paths(ledger_dir: Path, book: FundBook) -> BookPaths:
    return BookPaths(Path(ledger_dir) / book.slug)


@contextmanager
def locked(paths: Sequence[BookPaths]) -> Iterator[None]:
    """Exclusive flock on each book, always taken in the same (sorted) order so two writers cannot deadlock."""
    with ExitStack() as stack:
        for p in sorted(paths, key=lambda b: str(b.root)):
            p.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(p.lock, os.O_RDWR | os.O_CREAT, 0o644)
            stack.callback(os.close, fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
            stack.callback(fcntl.flock, fd, fcntl.LOCK_UN)
        yield


def fsync_path(path: Path) -> None:
    """Make a file's (or a directory's entries') bytes durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, text: str) -> bool:
    """Replace a small file atomically (tmp + fsync + rename); returns False if it already said this."""
    data = text.encode()
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    _replace_durably(path, [data])
    return True


def _replace_durably(path: Path, chunks: Iterable[bytes]) -> None:
    """tmp + fsync + rename + directory fsync: after a crash the file is the old one or the new one, whole."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        for chunk in chunks:
            fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


def append_durably(path: Path, data: bytes) -> None:
    created = not path.exists()
    with open(path, "ab") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    if created:
        fsync_path(path.parent)


def write_roll(paths: BookPaths, relative: str, chunks: Iterable[bytes]) -> Path:
    """Write a roll file atomically (tmp + fsync + rename + directory fsync): it is whole or absent."""
    path = paths.root / relative
    created = not path.parent.is_dir()
    path.parent.mkdir(parents=True, exist_ok=True)
    if created:
        fsync_path(paths.root)
    _replace_durably(path, chunks)
    return path


# --- projections of the database --------------------------------------------------------------


def entry_value(entry: FundEntry, postings: Sequence[FundPosting]) -> render.EntryValue:
    return render.EntryValue(
        seq=entry.seq, kind=entry.kind, date=entry.date, narration=entry.narration, payee=entry.payee,
        links=tuple(entry.links or ()), meta=tuple((k, v) for k, v in entry.meta),
        postings=tuple((p.account, from_fen(p.amount_fen)) for p in postings),
        balances=tuple((a, from_fen(int(f))) for a, f in (entry.balances or [])),
        prev_hash=entry.prev_hash, hash=entry.hash)


def iter_entries(session: Session, book_id: int, *, year: int | None = None, after_offset: int | None = None,
                 after_seq: int = 0) -> Iterator[tuple[FundEntry, render.EntryValue]]:
    """Stream a book's entries in sequence order with their postings (two ordered queries, merged)."""
    cond = [FundEntry.book_id == book_id]
    if after_seq:  # a range of the (book, seq) index: reading the tail of a long book costs the tail only
        cond.append(FundEntry.seq > after_seq)
    if year is not None:
        cond.append(FundEntry.year == year)
    if after_offset is not None:
        cond.append(FundEntry.end_offset > after_offset)
    entries = session.scalars(select(FundEntry).where(*cond).order_by(FundEntry.seq)).yield_per(2000)
    min_seq_q = select(FundEntry.seq).where(*cond).order_by(FundEntry.seq).limit(1)
    first_seq = session.scalar(min_seq_q)
    if first_seq is None:
        return
    pcond = [FundPosting.book_id == book_id, FundPosting.seq >= first_seq]
    postings = iter(session.scalars(select(FundPosting).where(*pcond)
                                    .order_by(FundPosting.seq, FundPosting.id)).yield_per(5000))
    pending = next(postings, None)
    for entry in entries:
        mine: list[FundPosting] = []
        while pending is not None and pending.seq <= entry.seq:
            if pending.seq == entry.seq:
                mine.append(pending)
            pending = next(postings, None)
        yield entry, entry_value(entry, mine)


def purposes_of_book() -> dict[str, list[str]]:
    return {fund.value: sorted(accounts) for fund, accounts in RESTRICTED_PURPOSES.items()}


def earmark_rules(session: Session, book_id: int) -> list[tuple[str, str, int, object]]:
    rows = session.scalars(select(FundEarmark).where(FundEarmark.book_id == book_id)
                           .order_by(FundEarmark.effective_from, FundEarmark.id)).all()
    return [(r.income_account, r.fund, r.basis_points, r.effective_from) for r in rows]


def accounts_text(session: Session, book: FundBook) -> str:
    accounts = session.scalars(select(FundAccount).where(FundAccount.book_id == book.id)
                               .order_by(FundAccount.id)).all()
    lines = [render.AccountLine(a.name, a.zh, book.opened_on) for a in accounts]
    return render.accounts_file(book.slug, lines, earmark_rules(session, book.id),  # type: ignore[arg-type]
                                purposes_of_book(), book.opened_on)


def main_text(session: Session, book: FundBook) -> str:
    years = session.scalars(select(FundYearFile.year).where(FundYearFile.book_id == book.id)).all()
    return render.main_file(book.slug, book.title, years)


def year_bytes(session: Session, book: FundBook, year: int) -> Iterator[bytes]:
    yield render.year_header(book.slug, year).encode()
    for _, value in iter_entries(session, book.id, year=year):
        yield render.render(value).encode()


def roll_chunks(session: Session, roll: FundRoll) -> Iterator[bytes]:
    """A roll file's bytes from its committed lines, streamed (the same renderer as at write time)."""
    rows = session.scalars(select(FundRollLine).where(FundRollLine.roll_id == roll.id)
                           .order_by(FundRollLine.line_no)).yield_per(5000)
    yield from rolls.csv_chunks(rolls.RollLine(r.payee, r.resident_id, r.period, from_fen(r.amount_fen), r.reference)
                                for r in rows)


def book_rolls(session: Session, book: FundBook, entry_ids: Sequence[int] | None = None) -> list[FundRoll]:
    stmt = select(FundRoll).where(FundRoll.book_id == book.id).order_by(FundRoll.id)
    if entry_ids is not None:
        stmt = stmt.where(FundRoll.entry_id.in_(entry_ids))
    return list(session.scalars(stmt).all())


def restore_rolls(session: Session, paths: BookPaths, found: Sequence[FundRoll]) -> list[Path]:
    return [write_roll(paths, rolls.relative_path(roll.name), roll_chunks(session, roll)) for roll in found]


# --- recovery and rebuild ---------------------------------------------------------------------


@dataclass
class Repair:
    path: Path
    truncated_bytes: int = 0
    appended_entries: int = 0


def sync_book(session: Session, ledger_dir: Path, book: FundBook, *, check_tail: bool = False) -> list[Repair]:
    """Bring a book's files into agreement with its committed entries. Call only under the book lock."""
    paths = book_paths(ledger_dir, book)
    paths.root.mkdir(parents=True, exist_ok=True)
    repairs: list[Repair] = []
    atomic_write(paths.accounts, accounts_text(session, book))
    for yf in session.scalars(select(FundYearFile).where(FundYearFile.book_id == book.id)
                              .order_by(FundYearFile.year)).all():
        path = paths.year(yf.year)
        actual = path.stat().st_size if path.exists() else -1
        if actual == yf.size and not (check_tail and not _tail_ok(session, book, yf, path)):
            continue
        repairs.append(_repair_year(session, ledger_dir, book, yf, path, actual))
    atomic_write(paths.main, main_text(session, book))
    return repairs


def _tail_ok(session: Session, book: FundBook, yf: FundYearFile, path: Path) -> bool:
    last = session.scalar(select(FundEntry).where(FundEntry.book_id == book.id, FundEntry.year == yf.year)
                          .order_by(FundEntry.seq.desc()).limit(1))
    if last is None:
        return path.read_bytes() == render.year_header(book.slug, yf.year).encode()
    postings = session.scalars(select(FundPosting).where(FundPosting.entry_id == last.id)
                               .order_by(FundPosting.id)).all()
    text = render.render(entry_value(last, postings)).encode()
    with open(path, "rb") as fh:
        fh.seek(max(0, yf.size - len(text)))
        return fh.read() == text


def _repair_year(session: Session, ledger_dir: Path, book: FundBook, yf: FundYearFile, path: Path,
                 actual: int) -> Repair:
    header = render.year_header(book.slug, yf.year).encode()
    repair = Repair(path)
    # The longest prefix made of whole committed entries that the file still holds.
    keep = len(header) if actual >= len(header) else 0
    if actual > 0:
        done = session.scalar(select(FundEntry.end_offset).where(
            FundEntry.book_id == book.id, FundEntry.year == yf.year, FundEntry.end_offset <= actual)
            .order_by(FundEntry.end_offset.desc()).limit(1))
        if done is not None:
            keep = done
            if not _entry_bytes_ok(session, book, yf.year, done, path):
                raise Conflict(f"账簿文件 {path.name} 已被改动，不能自动修复；请运行 assoc-ledger ledger verify 查明，"
                               "再用 ledger rebuild 恢复", field="book_id")
    chunks: list[bytes] = [] if keep else [header]
    appended: list[int] = []
    for entry, value in iter_entries(session, book.id, year=yf.year, after_offset=keep):
        chunks.append(render.render(value).encode())
        appended.append(entry.id)
        repair.appended_entries += 1
    # A crash after the commit may also have left an entry's roll unwritten; the writer writes a roll
    # before its entry's text, so only the entries appended now can lack theirs.
    for start in range(0, len(appended), 500):
        restore_rolls(session, book_paths(ledger_dir, book), book_rolls(session, book, appended[start:start + 500]))
    mode = "r+b" if path.exists() else "wb"
    with open(path, mode) as fh:
        fh.seek(keep)
        fh.truncate(keep)
        repair.truncated_bytes = max(0, actual - keep)
        for chunk in chunks:
            fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    fsync_path(path.parent)
    return repair


def _entry_bytes_ok(session: Session, book: FundBook, year: int, end_offset: int, path: Path) -> bool:
    entry = session.scalar(select(FundEntry).where(FundEntry.book_id == book.id, FundEntry.year == year,
                                                   FundEntry.end_offset == end_offset))
    if entry is None:
        return False
    postings = session.scalars(select(FundPosting).where(FundPosting.entry_id == entry.id)
                               .order_by(FundPosting.id)).all()
    text = render.render(entry_value(entry, postings)).encode()
    with open(path, "rb") as fh:
        fh.seek(end_offset - len(text))
        return fh.read(len(text)) == text


def rebuild_book(session: Session, ledger_dir: Path, book: FundBook) -> list[Path]:
    """Regenerate every file of a book from the database; the result is byte-identical to what was appended."""
    paths = book_paths(ledger_dir, book)
    paths.root.mkdir(parents=True, exist_ok=True)
    written = []
    atomic_write(paths.accounts, accounts_text(session, book))
    for year in session.scalars(select(FundYearFile.year).where(FundYearFile.book_id == book.id)).all():
        path = paths.year(year)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            for chunk in year_bytes(session, book, year):
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        written.append(path)
    written += restore_rolls(session, paths, book_rolls(session, book))
    atomic_write(paths.main, main_text(session, book))
    fsync_path(paths.root)
    return [paths.main, paths.accounts, *written]
