"""``ledger verify``: recompute each book's hash chain from the files and compare them with the database.

Reports every problem with file and line; the first one (lowest sequence number) is the entry to look at.
:func:`verify_rolls` checks the payment rolls attached to entries, separately from the chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from beancount.core import data
from beancount.parser import parser
from sqlalchemy import select
from sqlalchemy.orm import Session

from assoc_ledger.core.money import from_fen
from assoc_ledger.fund import files, plugin, render, rolls
from assoc_ledger.fund.models import FundBook, FundEntry, FundRoll, FundYearFile


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


def verify_book(session: Session, ledger_dir: Path, book: FundBook) -> Report:
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
