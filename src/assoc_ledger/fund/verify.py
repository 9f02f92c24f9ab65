"""``ledger verify``: recompute each book's hash chain from the files and compare them with the database.

Reports every problem with file and line; the first one (lowest sequence number) is the entry to look at.
A clean book is checked by streaming (constant memory) and incrementally: a checkpoint per year file
holds the sha256 of the prefix already verified, so the next verify hashes that prefix (any edit in it
changes the digest) and compares only what was appended since. Only a book with a problem is parsed
whole, to name each problem as Beancount sees it.

:func:`verify_rolls` checks the payment rolls attached to entries, separately from the chain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from beancount.core import data
from beancount.parser import parser
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from assoc_ledger.core.money import from_fen
from assoc_ledger.fund import files, plugin, render, rolls
from assoc_ledger.fund.models import GENESIS, FundBook, FundEntry, FundRoll, FundVerifyCheckpoint, FundYearFile


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    seq: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where} seq {self.seq}：{self.message}" if self.seq is not None else f"{where}：{self.message}"


@dataclass
class Report:
    book: str
    entries: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        with_seq = [p for p in self.problems if p.seq is not None]
        return min(with_seq, key=lambda p: p.seq or 0) if with_seq else (self.problems[0] if self.problems else None)


def _seq(entry: Any) -> int | None:
    try:
        return int(str(entry.meta.get("seq")))
    except (TypeError, ValueError):
        return None


Progress = Callable[[int, int], None]
"""Called with (entries checked, entries to check) as a verify goes."""

CHUNK = 1 << 20


def verify_book(session: Session, ledger_dir: Path, book: FundBook, *, full: bool = False,
                progress: Progress | None = None) -> Report:
    """Verify a book: from its checkpoints (only what was appended is compared), or ``full`` from the start.

    A clean result moves the checkpoints to the end of the files (committing ``session``); a problem
    leaves them, so the next verify finds it again, and is named by reading the files whole.
    """
    report = _streamed(session, ledger_dir, book, full=full, progress=progress)
    if report.ok:
        return report
    named = _parsed(session, ledger_dir, book)
    return named if named.problems else report


@dataclass
class _YearState:
    year: int
    size: int  # what the database says the file holds
    on_disk: int  # the file's length when the snapshot was taken (later appends are not ours to judge)


@contextmanager
def _snapshot(session: Session, ledger_dir: Path, book: FundBook) -> Iterator[list[_YearState]]:
    """Read the book as of one moment: the database snapshot is taken under the book lock, with the files'
    lengths, so entries appended while the verify runs are neither missing nor extra."""
    book_id, paths = book.id, files.book_paths(ledger_dir, book)
    session.rollback()
    with files.locked([paths]):
        postgres = session.get_bind().dialect.name == "postgresql"
        conn = session.connection(execution_options={"isolation_level": "REPEATABLE READ"} if postgres else {})
        raw = conn.connection.dbapi_connection
        if not postgres and not getattr(raw, "in_transaction", True):
            conn.exec_driver_sql("BEGIN")  # pysqlite reads outside a transaction unless told
        years = [_YearState(yf.year, yf.size, paths.year(yf.year).stat().st_size
                            if paths.year(yf.year).exists() else -1)
                 for yf in session.scalars(select(FundYearFile).where(FundYearFile.book_id == book_id)
                                           .order_by(FundYearFile.year)).all()]
    try:
        yield years
    finally:
        session.rollback()


def _streamed(session: Session, ledger_dir: Path, book: FundBook, *, full: bool,
              progress: Progress | None) -> Report:
    report = Report(book.slug)
    paths = files.book_paths(ledger_dir, book)
    checkpoints: dict[int, FundVerifyCheckpoint] = {}
    with _snapshot(session, ledger_dir, book) as years:
        book = session.get_one(FundBook, book.id)
        if not full:
            checkpoints = {c.year: c for c in session.scalars(select(FundVerifyCheckpoint).where(
                FundVerifyCheckpoint.book_id == book.id)).all()}
        heads = {(c.seq, c.hash) for c in checkpoints.values()}
        head_seq, head_hash = heads.pop() if len(heads) == 1 else (0, GENESIS)
        if head_seq == 0:
            checkpoints = {}
        total = book.next_seq - 1 - head_seq
        done = 0
        digests: dict[int, tuple[int, str]] = {}
        for ys in years:
            path = paths.year(ys.year)
            if ys.on_disk < 0:
                report.problems.append(Problem(str(path), 0, None, "年度账簿文件缺失"))
                continue
            def step(checked: int, before: int = done) -> None:
                if progress is not None:
                    progress(min(before + checked, total), total)

            found, digest, checked = _compare_year(session, book, ys, path, checkpoints.get(ys.year), step)
            report.problems.extend(found)
            digests[ys.year] = (ys.size, digest)
            done += checked
            step(0, done)
        report.problems.extend(_chain_after(session, book, head_seq, head_hash))
        report.entries = book.next_seq - 1
        last_seq, last_hash = book.next_seq - 1, book.last_hash
    if report.ok:
        session.execute(delete(FundVerifyCheckpoint).where(FundVerifyCheckpoint.book_id == book.id))
        session.add_all(FundVerifyCheckpoint(book_id=book.id, year=year, size=size, digest=digest, seq=last_seq,
                                             hash=last_hash) for year, (size, digest) in digests.items())
        session.commit()
    return report


def _compare_year(session: Session, book: FundBook, ys: _YearState, path: Path,
                  checkpoint: FundVerifyCheckpoint | None,
                  progress: Callable[[int], None]) -> tuple[list[Problem], str, int]:
    """Hash the checkpointed prefix, then compare the rest byte for byte with the committed entries."""
    digest = hashlib.sha256()
    checked = 0
    with open(path, "rb") as fh:
        start = after_seq = 0
        if checkpoint is not None and checkpoint.size <= ys.size:
            left = checkpoint.size
            while left:
                chunk = fh.read(min(CHUNK, left))
                if not chunk:
                    break
                digest.update(chunk)
                left -= len(chunk)
            if left or digest.hexdigest() != checkpoint.digest:
                changed = "上次核对过的部分已改变（可能被手工修改）；ledger verify --full 从头核对"
                return [Problem(str(path), 0, None, changed)], "", 0
            start, after_seq = checkpoint.size, checkpoint.seq
        wanted: Iterator[tuple[int | None, bytes]] = (
            (e.seq, render.render(v).encode()) for e, v in files.iter_entries(
            session, book.id, year=ys.year, after_offset=start or None, after_seq=after_seq))
        if not start:
            wanted = _chain([(None, render.year_header(book.slug, ys.year).encode())], wanted)
        for seq, want in wanted:
            got = fh.read(len(want))
            digest.update(got)
            if got != want:
                return [Problem(str(path), 0, seq, "账簿文件内容与数据库记录不符（可能被手工修改）")], "", checked
            checked += seq is not None
            if checked % 1000 == 0:
                progress(checked)
        if ys.on_disk != ys.size or fh.tell() != ys.size:
            return [Problem(str(path), 0, None, "账簿文件长度与数据库记录不符")], "", checked
    return [], digest.hexdigest(), checked


def _chain_after(session: Session, book: FundBook, head_seq: int, head_hash: str) -> list[Problem]:
    """Recompute the chain of the database's entries after the checkpoint's head, each hash from its content."""
    problems: list[Problem] = []
    where = f"{book.slug}（数据库）"
    if head_seq:
        kept = session.scalar(select(FundEntry.hash).where(FundEntry.book_id == book.id, FundEntry.seq == head_seq))
        if kept != head_hash:
            problems.append(Problem(where, 0, head_seq, "上次核对后数据库中的分录被改动"))
    prev, expected = head_hash, head_seq + 1
    for entry, value in files.iter_entries(session, book.id, after_seq=head_seq):
        if entry.seq != expected or entry.prev_hash != prev or render.entry_hash(value) != entry.hash:
            problems.append(Problem(where, 0, entry.seq, "数据库中的哈希链断开"))
            break
        prev, expected = entry.hash, expected + 1
    if prev != book.last_hash:
        problems.append(Problem(where, 0, expected - 1, "链尾哈希与账簿记录不符"))
    return problems


def _parsed(session: Session, ledger_dir: Path, book: FundBook) -> Report:
    """The whole files parsed by Beancount: slower and memory-bound, used to name what streaming found."""
    report = Report(book.slug)
    paths = files.book_paths(ledger_dir, book)
    years = list(session.scalars(select(FundYearFile).where(FundYearFile.book_id == book.id)
                                 .order_by(FundYearFile.year)).all())
    chained: list[Any] = []
    balances_by_seq: dict[str, list[Any]] = {}
    for yf in years:
        path = paths.year(yf.year)
        if not path.exists():
            report.problems.append(Problem(str(path), 0, None, "年度账簿文件缺失"))
            continue
        entries, errors, _ = parser.parse_file(str(path))
        for err in errors:
            report.problems.append(Problem(str(path), int(err.source.get("lineno", 0)) if err.source else 0, None,
                                           f"语法错误：{err.message}"))
        for entry in entries:
            if isinstance(entry, data.Transaction) or (isinstance(entry, data.Custom)
                                                       and entry.type == render.CLOSE_DIRECTIVE):
                chained.append(entry)
            elif isinstance(entry, data.Balance) and "seq" in entry.meta:
                balances_by_seq.setdefault(str(entry.meta["seq"]), []).append(entry)
        report.problems.extend(_byte_problems(session, book, yf, path))
    for err in plugin.chain_problems(chained, balances_by_seq):
        report.problems.append(Problem(err.source["filename"], err.source["lineno"], _seq(err.entry), err.message))
    # The files must hold exactly the committed entries, each once, with the committed hashes.
    in_files: dict[int, Any] = {}
    for entry in chained:
        seq = _seq(entry)
        if seq is None:
            continue
        if seq in in_files:
            report.problems.append(Problem(entry.meta["filename"], entry.meta["lineno"], seq, "分录重复出现"))
        in_files[seq] = entry
    db_hashes = dict(session.execute(select(FundEntry.seq, FundEntry.hash)
                                     .where(FundEntry.book_id == book.id)).tuples().all())
    report.entries = len(db_hashes)
    for seq, digest in sorted(db_hashes.items()):
        found = in_files.get(seq)
        if found is None:
            report.problems.append(Problem(str(paths.root), 0, seq, "数据库中已提交的分录在账簿文件中缺失"))
        elif found.meta.get("hash") != digest:
            report.problems.append(Problem(found.meta["filename"], found.meta["lineno"], seq,
                                           "账簿文件中的哈希与数据库记录不符"))
    for seq in sorted(set(in_files) - set(db_hashes)):
        extra = in_files[seq]
        report.problems.append(Problem(extra.meta["filename"], extra.meta["lineno"], seq,
                                       "账簿文件中有数据库没有的分录"))
    if db_hashes and book.last_hash != db_hashes[max(db_hashes)]:
        report.problems.append(Problem(str(paths.root), 0, max(db_hashes), "链尾哈希与账簿记录不符"))
    return report


def _byte_problems(session: Session, book: FundBook, yf: FundYearFile, path: Path) -> list[Problem]:
    """The file must be byte-identical to the rendering of the committed entries; name the first difference."""
    with open(path, "rb") as fh:
        offset = 0
        line = 1
        expected_iter = files.iter_entries(session, book.id, year=yf.year)
        header = render.year_header(book.slug, yf.year).encode()
        chunks: list[tuple[int | None, bytes]] = [(None, header)]
        chunks_iter = ((e.seq, render.render(v).encode()) for e, v in expected_iter)
        for seq, want in _chain(chunks, chunks_iter):
            got = fh.read(len(want))
            if got != want:
                return [Problem(str(path), line, seq,
                                "账簿文件内容与数据库记录不符（可能被手工修改）；可用 ledger rebuild 恢复")]
            offset += len(want)
            line += want.count(b"\n")
        if fh.read(1):
            return [Problem(str(path), line, None, "账簿文件末尾有多余内容")]
    return []


def _chain(first: list[tuple[int | None, bytes]], rest: Any) -> Any:
    yield from first
    yield from rest


def verify_rolls(session: Session, ledger_dir: Path, book: FundBook) -> list[Problem]:
    """Every payment roll of the book against its voucher: digest, line count and total recomputed from the
    file (the same check the plugin makes), and no roll file that no entry names."""
    paths = files.book_paths(ledger_dir, book)
    problems: list[Problem] = []
    known: set[str] = set()
    for roll, seq in session.execute(select(FundRoll, FundEntry.seq).join(FundEntry, FundEntry.id == FundRoll.entry_id)
                                     .where(FundRoll.book_id == book.id).order_by(FundEntry.seq)).tuples():
        path = paths.root / rolls.relative_path(roll.name)
        known.add(path.name)
        for message in rolls.check_roll(path, sha256=roll.sha256, lines=roll.line_count,
                                        total=from_fen(roll.total_fen)):
            problems.append(Problem(str(path), 0, seq, message))
    if paths.rolls.is_dir():
        for stray in sorted(p for p in paths.rolls.iterdir() if p.name not in known):
            problems.append(Problem(str(stray), 0, None, "发放花名册目录中有不属于任何分录的文件"))
    return problems


def verify_book_and_rolls(session: Session, ledger_dir: Path, book: FundBook, *, full: bool = False,
                          progress: Progress | None = None) -> Report:
    """What ``ledger verify`` and the server's verify job report: the chain and files, then the rolls."""
    report = verify_book(session, ledger_dir, book, full=full, progress=progress)
    report.problems.extend(verify_rolls(session, ledger_dir, book))
    return report
