"""Signed sheets (签字单) as uploaded files: judged by content, cleaned of metadata, stored by content hash.

Only JPEG, PNG and PDF are taken, recognised by their bytes and a structural check (no image library is
installed, so nothing is decoded); a JPEG loses its APP1 segments (EXIF, with any GPS position, and XMP),
a PNG its eXIf chunk. Files live under ``upload_dir/<2 hex>/<sha256>.<ext>``, outside any served folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from assoc_ledger.core.errors import TooLarge, UnsupportedMedia

MAX_SHEET_BYTES = 5 * 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}
# Metadata chunks of a PNG that may carry where and when a photo was taken.
PNG_DROPPED = frozenset({b"eXIf", b"tEXt", b"iTXt", b"zTXt", b"tIME"})


@dataclass(frozen=True)
class Sheet:
    """A judged upload: its media type, its cleaned bytes and their SHA-256 (the stored name)."""

    media_type: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def judge(content: bytes, field: str = "file") -> Sheet:
    """The cleaned sheet, or a refusal (413 too large, 415 not a JPEG, PNG or PDF by its content)."""
    if len(content) > MAX_SHEET_BYTES:
        raise TooLarge(f"签字单文件过大（最大 {MAX_SHEET_BYTES // (1024 * 1024)} MB）", field=field)
    if content.startswith(b"\xff\xd8\xff"):
        return Sheet("image/jpeg", _clean_jpeg(content, field))
    if content.startswith(PNG_SIGNATURE):
        return Sheet("image/png", _clean_png(content, field))
    if content.startswith(b"%PDF-1.") and b"%%EOF" in content[-1024:]:
        return Sheet("application/pdf", content)
    raise UnsupportedMedia("签字单只接受 JPEG、PNG 或 PDF 文件（按文件内容判断，与文件名无关）", field=field)


def _broken(field: str) -> UnsupportedMedia:
    return UnsupportedMedia("签字单文件已损坏或不是完整的 JPEG/PNG 图片", field=field)


def _clean_jpeg(data: bytes, field: str) -> bytes:
    """Copy the segments up to the scan, leaving out APP1 (EXIF/XMP); the scan data is kept as is."""
    out = bytearray(data[:2])
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise _broken(field)
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if length < 2 or i + 2 + length > len(data):
            raise _broken(field)
        if marker != 0xE1:
            out += data[i:i + 2 + length]
        i += 2 + length
        if marker == 0xDA:  # start of scan: the compressed image follows to the end
            if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
                raise _broken(field)
            out += data[i:]
            return bytes(out)
    raise _broken(field)


def _clean_png(data: bytes, field: str) -> bytes:
    """Copy the chunks, leaving out the metadata ones; the first must be IHDR and the last IEND."""
    out = bytearray(PNG_SIGNATURE)
    i = len(PNG_SIGNATURE)
    first = True
    while i + 12 <= len(data):
        length = struct.unpack(">I", data[i:i + 4])[0]
        kind = data[i + 4:i + 8]
        end = i + 12 + length
        if end > len(data) or (first and kind != b"IHDR"):
            raise _broken(field)
        first = False
        if kind not in PNG_DROPPED:
            out += data[i:end]
        i = end
        if kind == b"IEND":
            return bytes(out)
    raise _broken(field)


def path_of(upload_dir: Path, sha256: str, media_type: str) -> Path:
    return upload_dir / sha256[:2] / f"{sha256}.{EXTENSIONS[media_type]}"


@contextlib.contextmanager
def stored(upload_dir: Path, sheet: Sheet) -> Iterator[Path]:
    """Write the sheet (atomically) for the block; if the block fails, remove it again unless it was there before.

    The same content uploaded twice is one file, so a refused second visit never removes the first one's sheet.
    """
    target = path_of(upload_dir, sheet.sha256, sheet.media_type)
    existed = target.exists()
    if not existed:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(sheet.content)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    try:
        yield target
    except BaseException:
        if not existed:
            target.unlink(missing_ok=True)
        raise
