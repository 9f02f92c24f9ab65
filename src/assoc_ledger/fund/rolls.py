"""Payment rolls (发放花名册): the CSV attached to a batch-payment voucher, its one format and its one check.

A roll is ``rolls/<name>.csv`` in the book's folder: UTF-8, ``\\n`` line ends, the header :data:`HEADER`,
then one line per payee and period in :meth:`RollLine.sort_key` order, so the same lines always give
the same bytes. The voucher's entry names the file with its sha256 and line count; :func:`check_roll`
recomputes them and the total from the file in one streaming pass, for ``ledger verify`` and for the
Beancount plugin (``bean-check``) alike. Pure: no database here.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

HEADER = ("领款人", "公民身份号码", "期间", "金额", "参考号")
ROLLS_DIR = "rolls"
NAME_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,99}$")
MASKED_ID_RE = re.compile(r"^\d{6}\*{8}[\dX]{4}$")
PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
META_FILE, META_SHA256, META_LINES = "roll", "roll-sha256", "roll-lines"
_CHUNK_LINES = 2000


@dataclass(frozen=True, slots=True)
class RollLine:
    """One payee for one period: name, masked resident ID, YYYY-MM, amount in yuan, reference."""

    payee: str
    resident_id: str
    period: str
    amount: Decimal
    reference: str

    def sort_key(self) -> tuple[str, str, str, str, Decimal]:
        return (self.period, self.reference, self.payee, self.resident_id, self.amount)


def relative_path(name: str) -> str:
    """Where a roll lives, relative to the book's folder (and to its year files, which name it)."""
    return f"{ROLLS_DIR}/{name}.csv"


def csv_chunks(lines: Iterable[RollLine]) -> Iterator[bytes]:
    """The roll's bytes, header first, in chunks of a few thousand lines (lines already in sort order)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for count, line in enumerate(lines, start=1):
        writer.writerow((line.payee, line.resident_id, line.period, f"{line.amount:.2f}", line.reference))
        if count % _CHUNK_LINES == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


@dataclass(frozen=True)
class Summary:
    sha256: str
    lines: int
    total: Decimal
    problem: str | None = None  # the first line that is not a roll line, if any


def summarise(path: Path) -> Summary:
    """Digest, line count and total of a roll file, read once, streaming."""
    digest = hashlib.sha256()
    undecodable: list[str] = []

    def text_lines(raw: Iterable[bytes]) -> Iterator[str]:
        for chunk in raw:
            digest.update(chunk)
            try:
                yield chunk.decode()
            except UnicodeDecodeError:
                undecodable.append("不是 UTF-8 文本")
                yield chunk.decode(errors="replace")

    count = 0
    total = Decimal(0)
    problem: str | None = None
    with open(path, "rb") as fh:
        reader = csv.reader(text_lines(fh))
        header = next(reader, None)
        if header is not None and tuple(header) != HEADER:
            problem = "表头不符"
        for row_no, row in enumerate(reader, start=2):
            count += 1
            try:
                total += Decimal(row[3])
            except (IndexError, InvalidOperation):
                problem = problem or f"第 {row_no} 行不是花名册行"
    return Summary(digest.hexdigest(), count, total, problem or next(iter(undecodable), None))


def check_roll(path: Path, *, sha256: str, lines: int, total: Decimal) -> list[str]:
    """What is wrong with a roll file against its voucher (digest, line count, total); each names the file."""
    if not path.is_file():
        return [f"发放花名册文件缺失：{path}"]
    found = summarise(path)
    problems = []
    if found.problem:
        problems.append(f"发放花名册 {path} 格式错误：{found.problem}")
    if found.sha256 != sha256:
        problems.append(f"发放花名册 {path} 的 sha256 与凭证记录不符（被改动过）；可用 ledger rebuild 恢复")
    if found.lines != lines:
        problems.append(f"发放花名册 {path} 有 {found.lines} 行，凭证记录为 {lines} 行")
    if found.total != total:
        problems.append(f"发放花名册 {path} 合计 {found.total} 元，与凭证金额 {total} 元不符")
    return problems
