"""Reading an uploaded roster (会员名册): sniff XLSX or CSV from its bytes, find the header row, stream rows.

The file's first bytes decide its type, never its name. XLSX is read with openpyxl in read-only
mode and CSV with the csv module over the file, so rows arrive one at a time. CSV may be UTF-8
(with or without BOM) or GB18030, the two encodings Excel on a Chinese Windows produces.
Everything a user can get wrong about the file as a whole is a :class:`DomainError`
(400 or 415); mistakes inside rows are reported later, row by row.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from assoc_ledger.core.errors import DomainError, FieldErrors

# Canonical header -> spellings seen in secretaries' sheets.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "姓名": ("姓名", "会员姓名"),
    "身份证号": ("身份证号", "身份证号码", "公民身份号码", "身份证"),
    "联系电话": ("联系电话", "电话", "手机", "手机号", "手机号码", "联系方式"),
    "所属组织": ("所属组织", "所属协会", "组织"),
    "职务": ("职务", "会内职务"),
    "入会日期": ("入会日期", "入会时间"),
    "是否志愿者": ("是否志愿者", "志愿者"),
    "住址": ("住址", "家庭住址", "地址"),
    "志愿服务技能": ("志愿服务技能", "服务技能", "技能"),
    "会员小组": ("会员小组", "小组"),
}
REQUIRED_HEADERS = ("姓名", "身份证号", "联系电话", "所属组织", "职务", "入会日期", "是否志愿者")
OPTIONAL_HEADERS = ("住址", "志愿服务技能", "会员小组")
_ALIAS = {alias: canon for canon, aliases in HEADER_ALIASES.items() for alias in aliases}
HEADER_SCAN_ROWS = 10

_XLS_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_BINARY_MAGICS = (b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\x1f\x8b", b"Rar!", b"7z\xbc\xaf", b"BM")


class UnsupportedFile(DomainError):
    status_code = 415
    title = "不支持的文件类型"


class BadFile(DomainError):
    status_code = 400
    title = "文件无法导入"


@dataclass
class Sheet:
    """An opened roster: where each known column is, and the data rows after the header."""

    format: str  # "xlsx" | "csv"
    encoding: str | None
    header_row: int
    columns: dict[str, int]  # canonical header -> 0-based column index
    rows: Iterator[tuple[int, Sequence[Any]]]  # (row number as the user sees it, cells)
    total_hint: int | None  # data rows, if the file says (for progress bars)


def normalise_header(value: Any) -> str:
    text = "" if value is None else str(value)
    text = "".join(text.split()).strip("*＊")
    for suffix in ("（必填）", "(必填)", "（选填）", "(选填)"):
        text = text.removesuffix(suffix)
    return text.strip("*＊")


def _find_header(rows: Iterator[tuple[int, Sequence[Any]]]) -> tuple[int, dict[str, int]]:
    for row_no, cells in rows:
        names = [normalise_header(c) for c in cells]
        canon = [_ALIAS.get(n) for n in names]
        if "姓名" in canon and "身份证号" in canon:
            columns: dict[str, int] = {}
            for idx, c in enumerate(canon):
                if c is None:
                    continue
                if c in columns:
                    raise BadFile(f"表头“{c}”出现了不止一次（第{row_no}行）", field=c)
                columns[c] = idx
            missing = [h for h in REQUIRED_HEADERS if h not in columns]
            if missing:
                raise FieldErrors([{"field": h, "message": f"缺少必填列“{h}”"} for h in missing],
                                  detail="缺少必填列：" + "、".join(missing))
            return row_no, columns
        if row_no >= HEADER_SCAN_ROWS:
            break
    raise BadFile("找不到表头：前10行中没有同时包含“姓名”和“身份证号”的行", field="file")


def _numbered(rows: Iterator[Sequence[Any]], start: int = 1) -> Iterator[tuple[int, Sequence[Any]]]:
    yield from enumerate(rows, start=start)


def sniff(head: bytes) -> str:
    """'xlsx' or 'csv' from the first bytes; refuse everything else."""
    if not head.lstrip(b"\xef\xbb\xbf \t\r\n"):
        raise BadFile("文件为空", field="file")
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(_XLS_OLE):
        raise UnsupportedFile("不支持旧版 Excel（.xls）文件，请在 Excel 中“另存为” .xlsx 或 CSV 后再导入", field="file")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnsupportedFile("不支持 UTF-16 编码的文本，请另存为“CSV UTF-8”或 .xlsx", field="file")
    if head.startswith(_BINARY_MAGICS) or b"\x00" in head:
        raise UnsupportedFile("不支持的文件类型：只能导入 XLSX 或 CSV 文件", field="file")
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
def open_sheet(f: IO[bytes]) -> Iterator[Sheet]:
    """Open an uploaded roster. ``f`` must be seekable; it is not closed."""
    f.seek(0)
    kind = sniff(f.read(8192))
    if kind == "xlsx":
        with _open_xlsx(f) as sheet:
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
        header_row, columns = _find_header(rows)
        yield Sheet(format="csv", encoding="gb18030" if encoding == "gb18030" else "utf-8",
                    header_row=header_row, columns=columns, rows=rows,
                    total_hint=max(lines - header_row + 1, 0))
    except csv.Error as exc:
        raise BadFile(f"CSV 格式错误：{exc}", field="file") from exc
    finally:
        text.detach()


@contextmanager
def _open_xlsx(f: IO[bytes]) -> Iterator[Sheet]:
    from openpyxl import load_workbook

    try:
        f.seek(0)
        with zipfile.ZipFile(f) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise BadFile("XLSX 文件已损坏，无法读取", field="file") from exc
    if "xl/workbook.xml" not in names:
        raise UnsupportedFile("这是一个压缩文件但不是 Excel 工作簿（.xlsx）", field="file")
    f.seek(0)
    try:
        wb = load_workbook(f, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on malformed parts
        raise BadFile("XLSX 文件已损坏，无法读取", field="file") from exc
    try:
        if not wb.worksheets:
            raise BadFile("工作簿中没有工作表", field="file")
        ws = wb.worksheets[0]
        try:
            rows = _numbered(ws.iter_rows(min_row=1, values_only=True))
            header_row, columns = _find_header(rows)
        except DomainError:
            raise
        except Exception as exc:
            raise BadFile("XLSX 文件已损坏，无法读取", field="file") from exc
        max_row = ws.max_row if isinstance(ws.max_row, int) else None
        yield Sheet(format="xlsx", encoding=None, header_row=header_row, columns=columns,
                    rows=_guarded(rows), total_hint=(max_row - header_row) if max_row else None)
    finally:
        wb.close()


def _guarded(rows: Iterator[tuple[int, Sequence[Any]]]) -> Iterator[tuple[int, Sequence[Any]]]:
    """A sheet that breaks half-way (truncated zip, bad XML) is a bad file, not a server error."""
    try:
        yield from rows
    except DomainError:
        raise
    except Exception as exc:
        raise BadFile("XLSX 文件已损坏，读取中途出错", field="file") from exc
