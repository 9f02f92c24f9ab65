"""Reading an uploaded sheet (a roster, an organisation tree): sniff XLSX or CSV, find the header row, stream rows.

The file's first bytes decide its type, never its name. XLSX is read with openpyxl in read-only
mode and CSV with the csv module over the file, so rows arrive one at a time. CSV may be UTF-8
(with or without BOM) or GB18030, the two encodings Excel on a Chinese Windows produces.
What a sheet must contain (its headers and their spellings) is a :class:`Columns` value given
by the area that reads it. Columns declared as dates arrive as :class:`datetime.date` when the
sheet holds them as Excel serial numbers (45000 is 2023-03-15: a date cell formatted as 常规).
Everything a user can get wrong about the file as a whole is a
:class:`DomainError` (400 or 415); mistakes inside rows are reported later, row by row.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import os
import re
import struct
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, overload

from assoc_ledger.core.errors import DomainError, Invalid, Problem, UnsupportedMedia

HEADER_SCAN_ROWS = 10
# An import reports at most this many problems (a file of 100,000 bad rows must not answer 100,000 of them).
MAX_REPORTED_ERRORS = 5000

_XLS_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_BINARY_MAGICS = (b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\x1f\x8b", b"Rar!", b"7z\xbc\xaf", b"BM")


class BadFile(Invalid):
    title = "文件无法导入"


class NoHeader(BadFile):
    """No row in the first ten holds the columns that mark the header."""


@dataclass(kw_only=True)
class BoundedErrors:
    """An import report's problems: the first ``MAX_REPORTED_ERRORS`` of them, and whether any were left out."""

    errors: list[Problem] = field(default_factory=list)
    errors_truncated: bool = False

    def add_error(self, problem: Problem) -> None:
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(problem)
        else:
            self.errors_truncated = True


@dataclass(frozen=True)
class Columns:
    """What one kind of sheet holds: canonical header -> spellings seen in users' sheets.

    ``required`` columns must be present (any other column may be left out of the sheet: the area
    reads an absent column as empty); the header row is the first row holding all of ``marks`` (the
    columns no data row would contain as text, e.g. 姓名 and 身份证号). ``dates`` are columns whose
    Excel serial numbers are turned into dates.
    """

    aliases: Mapping[str, tuple[str, ...]]
    required: tuple[str, ...]
    marks: tuple[str, ...]
    dates: tuple[str, ...] = ()
    _canonical: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        known = {alias: canon for canon, spellings in self.aliases.items() for alias in (canon, *spellings)}
        object.__setattr__(self, "_canonical", known)

    def canonical(self, header: Any) -> str | None:
        return self._canonical.get(normalise_header(header))


@dataclass
class Sheet:
    """An opened sheet: where each known column is, and the data rows after the header."""

    format: str  # "xlsx" | "csv"
    encoding: str | None
    header_row: int
    columns: dict[str, int]  # canonical header -> 0-based column index
    rows: Iterator[tuple[int, Sequence[Any]]]  # (row number as the user sees it, cells)
    total_hint: int | None  # data rows, if the file says (for progress bars)


# Five digits, 10000 (1927-05-18) to 73050 (2099-12-31): a bare year such as 2024 is not a day count, and
# eight digits stay 20240301-style text.
_SERIAL = re.compile(r"\d{5}")
_SERIAL_RANGE = range(10000, 73051)


def excel_serial_date(value: Any, *, epoch_1904: bool = False) -> dt.date | None:
    """The date an Excel serial number stands for (45000 -> 2023-03-15), or None if ``value`` is not one.

    Excel keeps dates as day counts; a date column formatted as 常规 (or saved to CSV) shows the count.
    Whole numbers of five digits only: a fraction is a time of day, not a date.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and _SERIAL.fullmatch(value.strip()):
        value = int(value.strip())
    if not isinstance(value, int) or value not in _SERIAL_RANGE:
        return None
    from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

    found = from_excel(value, epoch=CALENDAR_MAC_1904 if epoch_1904 else CALENDAR_WINDOWS_1900)
    return found.date() if isinstance(found, dt.datetime) else None


def _dated(rows: Iterator[tuple[int, Sequence[Any]]], columns: dict[str, int], spec: Columns,
           epoch_1904: bool = False) -> Iterator[tuple[int, Sequence[Any]]]:
    """Rows with the serial numbers in ``spec.dates`` columns read as dates."""
    at = [columns[c] for c in spec.dates if c in columns]
    if not at:
        yield from rows
        return
    for row_no, cells in rows:
        if not any(i < len(cells) and excel_serial_date(cells[i]) is not None for i in at):
            yield row_no, cells
            continue
        changed = list(cells)
        for i in at:
            found = excel_serial_date(changed[i], epoch_1904=epoch_1904) if i < len(changed) else None
            if found is not None:
                changed[i] = found
        yield row_no, changed


def normalise_header(value: Any) -> str:
    text = "" if value is None else str(value)
    text = "".join(text.split()).strip("*＊")
    for suffix in ("（必填）", "(必填)", "（选填）", "(选填)"):
        text = text.removesuffix(suffix)
    return text.strip("*＊")


def _find_header(rows: Iterator[tuple[int, Sequence[Any]]], spec: Columns) -> tuple[int, dict[str, int]]:
    for row_no, cells in rows:
        canon = [spec.canonical(c) for c in cells]
        if all(m in canon for m in spec.marks):
            columns: dict[str, int] = {}
            for idx, c in enumerate(canon):
                if c is None:
                    continue
                if c in columns:
                    raise BadFile(f"表头“{c}”出现了不止一次（第{row_no}行）", field=c)
                columns[c] = idx
            missing = [h for h in spec.required if h not in columns]
            if missing:
                raise Invalid(problems=[Problem(h, f"缺少必填列“{h}”") for h in missing],
                              detail="缺少必填列：" + "、".join(missing))
            return row_no, columns
        if row_no >= HEADER_SCAN_ROWS:
            break
    marks = "和".join(f"“{m}”" for m in spec.marks)
    raise NoHeader(f"找不到表头：前{HEADER_SCAN_ROWS}行中没有同时包含{marks}的行", field="file")


def _numbered(rows: Iterator[Sequence[Any]], start: int = 1) -> Iterator[tuple[int, Sequence[Any]]]:
    yield from enumerate(rows, start=start)


def sniff(head: bytes) -> str:
    """'xlsx' or 'csv' from the first bytes; refuse everything else."""
    if not head.lstrip(b"\xef\xbb\xbf \t\r\n"):
        raise BadFile("文件为空", field="file")
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(_XLS_OLE):
        raise UnsupportedMedia("不支持旧版 Excel（.xls）文件，请在 Excel 中“另存为” .xlsx 或 CSV 后再导入",
                               field="file")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnsupportedMedia("不支持 UTF-16 编码的文本，请另存为“CSV UTF-8”或 .xlsx", field="file")
    if head.startswith(_BINARY_MAGICS) or b"\x00" in head:
        raise UnsupportedMedia("不支持的文件类型：只能导入 XLSX 或 CSV 文件", field="file")
    return "csv"


def _csv_encoding(f: IO[bytes]) -> tuple[str, int]:
    """UTF-8 if the whole file decodes as UTF-8, else GB18030. Also counts lines for progress."""
    f.seek(0)
    decoder: codecs.IncrementalDecoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0
    utf8 = True
    while chunk := f.read(1 << 20):
        lines += chunk.count(b"\n")
        if utf8:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                utf8 = False
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    if utf8:
        return "utf-8-sig", lines
    f.seek(0)
    decoder = codecs.getincrementaldecoder("gb18030")()
    try:
        while chunk := f.read(1 << 20):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise BadFile("无法识别文件编码：CSV 应为 UTF-8 或 GB18030（GBK）编码", field="file") from exc
    return "gb18030", lines


@contextmanager
def open_sheet(f: IO[bytes], spec: Columns) -> Iterator[Sheet]:
    """Open an uploaded sheet laid out as ``spec`` says. ``f`` must be seekable; it is not closed."""
    f.seek(0)
    kind = sniff(f.read(8192))
    if kind == "xlsx":
        with _open_xlsx(f, spec) as sheet:
            yield sheet
        return
    encoding, lines = _csv_encoding(f)
    f.seek(0)
    text = io.TextIOWrapper(f, encoding=encoding, newline="")
    try:
        first = text.readline()
        text.seek(0)
        delimiter = "\t" if first.count("\t") > first.count(",") else ","
        reader = csv.reader(text, delimiter=delimiter)
        rows = _numbered(iter(reader))
        header_row, columns = _find_header(rows, spec)
        yield Sheet(format="csv", encoding="gb18030" if encoding == "gb18030" else "utf-8",
                    header_row=header_row, columns=columns, rows=_dated(rows, columns, spec),
                    total_hint=max(lines - header_row + 1, 0))
    except csv.Error as exc:
        raise BadFile(f"CSV 格式错误：{exc}", field="file") from exc
    finally:
        text.detach()


@contextmanager
def _open_xlsx(f: IO[bytes], spec: Columns) -> Iterator[Sheet]:
    try:
        f.seek(0)
        with zipfile.ZipFile(f) as zf:
            names = set(zf.namelist())
    except Exception as exc:  # BadZipFile, OSError, ValueError, NotImplementedError (odd zip versions)...
        raise BadFile("XLSX 文件已损坏，无法读取", field="file") from exc
    if "xl/workbook.xml" not in names:
        raise UnsupportedMedia("这是一个压缩文件但不是 Excel 工作簿（.xlsx）", field="file")
    f.seek(0)
    reader = _StreamingExcelReader(f)
    try:
        reader.read()
    except Exception as exc:  # openpyxl raises many kinds on malformed parts
        reader.close_strings()
        raise BadFile("XLSX 文件已损坏，无法读取", field="file") from exc
    wb = reader.wb
    try:
        if not wb.worksheets:
            raise BadFile("工作簿中没有工作表", field="file")
        # The data is on the first sheet with a header row (a “填表说明” sheet may come first).
        for n, ws in enumerate(wb.worksheets):
            try:
                rows = _guarded(_stream_rows(ws))
                header_row, columns = _find_header(rows, spec)
                break
            except NoHeader:
                if n == len(wb.worksheets) - 1:
                    raise
        max_row = ws.max_row if isinstance(ws.max_row, int) else None
        epoch_1904 = getattr(wb, "epoch", None) == _epoch_1904()
        yield Sheet(format="xlsx", encoding=None, header_row=header_row, columns=columns,
                    rows=_dated(rows, columns, spec, epoch_1904),
                    total_hint=(max_row - header_row) if max_row else None)
    finally:
        wb.close()
        reader.close_strings()


def _epoch_1904() -> dt.datetime:
    from openpyxl.utils.datetime import CALENDAR_MAC_1904

    return CALENDAR_MAC_1904  # type: ignore[no-any-return]


# openpyxl's read-only mode streams cells, but two things in it still grow with the file: the
# shared-string table (every distinct text in the workbook, held as a Python list) and the
# iterparse tree (each finished <row> stays attached to <sheetData>, emptied but not removed).
# The two helpers below use openpyxl's own parsers and keep both out of memory.


class _SpooledStrings(Sequence[str]):
    """Excel's shared-string table in an anonymous temporary file, looked up by index with pread."""

    def __init__(self, src: IO[bytes]) -> None:
        from openpyxl.cell.text import Text
        from openpyxl.xml.constants import SHEET_MAIN_NS
        from openpyxl.xml.functions import iterparse

        self._data = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the workbook; see close()
        self._index = tempfile.TemporaryFile()  # noqa: SIM115
        si_tag = f"{{{SHEET_MAIN_NS}}}si"
        offset, count = 0, 0
        root = None
        for event, node in iterparse(src, events=("start", "end")):
            if event == "start":
                if root is None:
                    root = node
                continue
            if node.tag == si_tag:
                text = Text.from_tree(node).content.replace("x005F_", "").encode()
                self._data.write(text)
                self._index.write(struct.pack("<QI", offset, len(text)))
                offset += len(text)
                count += 1
                if root is not None:
                    root.clear()  # drop finished <si> elements
        self._data.flush()
        self._index.flush()
        self._len = count

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...

    def __getitem__(self, i: int | slice) -> str | Sequence[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._len))]
        if not 0 <= i < self._len:
            raise IndexError(i)
        offset, length = struct.unpack("<QI", os.pread(self._index.fileno(), 12, i * 12))
        return os.pread(self._data.fileno(), length, offset).decode()

    def close(self) -> None:
        self._data.close()
        self._index.close()


def _excel_reader_class() -> type[Any]:
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.xml.constants import SHARED_STRINGS

    class StreamingExcelReader(ExcelReader):  # type: ignore[misc]
        def __init__(self, f: IO[bytes]) -> None:
            super().__init__(f, read_only=True, data_only=True)

        def read_strings(self) -> None:
            ct = self.package.find(SHARED_STRINGS)
            if ct is not None:
                with self.archive.open(ct.PartName[1:]) as src:
                    self.shared_strings = _SpooledStrings(src)

        def close_strings(self) -> None:
            if isinstance(self.shared_strings, _SpooledStrings):
                self.shared_strings.close()

    return StreamingExcelReader


def _StreamingExcelReader(f: IO[bytes]) -> Any:  # noqa: N802 - reads like the class it builds
    return _excel_reader_class()(f)


def _stream_rows(ws: Any) -> Iterator[tuple[int, Sequence[Any]]]:
    """(row number, values) for every row from 1, gaps filled, with finished rows let go."""
    from openpyxl.worksheet._reader import ROW_TAG, WorkSheetParser
    from openpyxl.xml.constants import SHEET_MAIN_NS
    from openpyxl.xml.functions import iterparse

    wb = ws.parent
    sheet_data_tag = f"{{{SHEET_MAIN_NS}}}sheetData"
    with ws._get_source() as src:
        parser = WorkSheetParser(src, ws._shared_strings, data_only=True, epoch=wb.epoch,
                                 date_formats=wb._date_formats, timedelta_formats=wb._timedelta_formats)
        expected = 1
        sheet_data = None
        for event, element in iterparse(src, events=("start", "end")):
            if event == "start":
                if element.tag == sheet_data_tag:
                    sheet_data = element
                continue
            if element.tag != ROW_TAG:
                continue
            number, cells = parser.parse_row(element)
            if sheet_data is not None:
                sheet_data.clear()
            parser.row_dimensions.clear()
            for missing in range(expected, number):
                yield missing, ()
            width = max((c["column"] for c in cells), default=0)
            values: list[Any] = [None] * width
            for c in cells:
                values[c["column"] - 1] = c["value"]
            yield number, values
            expected = number + 1


def _guarded(rows: Iterator[tuple[int, Sequence[Any]]]) -> Iterator[tuple[int, Sequence[Any]]]:
    """A sheet that breaks half-way (truncated zip, bad XML) is a bad file, not a server error."""
    try:
        yield from rows
    except DomainError:
        raise
    except Exception as exc:
        raise BadFile("XLSX 文件已损坏，读取中途出错", field="file") from exc
