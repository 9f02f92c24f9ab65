"""Backups a person can restore: one consistent snapshot of the database and the books, with a manifest.

The books' locks are held while the database snapshot is taken, so no write sits between its commit and
its append: the snapshot and the copied files describe the same moment. SQLite is copied with its online
backup API; PostgreSQL is dumped by ``pg_dump`` inside the very snapshot this process reads (exported with
``pg_export_snapshot``). Year files are then cut to the sizes the snapshot records, so an entry appended by a
book opened meanwhile cannot slip in. Restore refuses to write over live data and checks every digest
before it writes anything.
"""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, make_url, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from assoc_ledger import __version__
from assoc_ledger.core.errors import DomainError, Invalid
from assoc_ledger.fund import files
from assoc_ledger.fund.models import FundBook, FundYearFile

MANIFEST = "manifest.json"
FORMAT = 1
SQLITE_NAME = "database.sqlite3"
PG_NAME = "database.pgdump"


@dataclass(frozen=True)
class BackupResult:
    directory: Path
    books: int
    entries: int
    files: int
    database: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pg_tool(name: str) -> str:
    """``pg_dump``/``pg_restore`` from PATH, else the newest Debian server's binaries."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)),
                                       None)
    if found is None:
        raise DomainError(f"找不到 {name}：请安装 PostgreSQL 客户端（postgresql-client）", field="database")
    return found


def _libpq_uri(url: str) -> str:
    u = make_url(url).set(drivername="postgresql")
    return u.render_as_string(hide_password=False)


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise Invalid("内存数据库无法备份", field="database")
    return Path(database)


def _empty_target(dest: Path) -> None:
    if dest.exists() and any(dest.iterdir()):
        raise DomainError(f"备份目录 {dest} 不是空目录；请指定一个新目录", field="dir")
    dest.mkdir(parents=True, exist_ok=True)


@contextmanager
def _all_books_locked(session: Session, ledger_dir: Path) -> Iterator[ExitStack]:
    """The locks of every book the database knows, in one sorted order (the writers' order)."""
    with ExitStack() as stack:
        books = list(session.scalars(select(FundBook).order_by(FundBook.id)).all())
        session.rollback()
        stack.enter_context(files.locked([files.book_paths(ledger_dir, b) for b in books]))
        yield stack


def _books_in(conn: Connection) -> list[tuple[str, int, str, dict[int, int]]]:
    """(slug, entries, chain head, {year: size}) of every book in a snapshot."""
    with Session(bind=conn) as s:
        out = []
        for book in s.scalars(select(FundBook).order_by(FundBook.id)).all():
            sizes = dict(s.execute(select(FundYearFile.year, FundYearFile.size)
                                   .where(FundYearFile.book_id == book.id)).tuples().all())
            out.append((book.slug, book.next_seq - 1, book.last_hash, sizes))
        return out


def _copy_books(ledger_dir: Path, dest: Path, snapshot: list[tuple[str, int, str, dict[int, int]]]) -> None:
    for slug, _entries, _head, sizes in snapshot:
        src = Path(ledger_dir) / slug
        target = dest / "ledgers" / slug
        target.mkdir(parents=True, exist_ok=True)
        if not src.is_dir():
            continue
        for path in sorted(src.rglob("*")):
            if path.is_dir() or path.name == ".lock":
                continue
            out = target / path.relative_to(src)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out)
            year = path.stem
            if path.suffix == ".beancount" and year.isdigit() and int(year) in sizes:
                with out.open("r+b") as fh:  # entries appended after the snapshot are not part of it
                    fh.truncate(sizes[int(year)])
            files.fsync_path(out)


def _copy_uploads(upload_dir: Path | None, dest: Path) -> None:
    """Signed sheets and scans: content-addressed and never rewritten, so a plain copy is consistent (a file
    written after the snapshot is merely unreferenced)."""
    if upload_dir is None or not Path(upload_dir).is_dir():
        return
    for path in sorted(Path(upload_dir).rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            out = dest / "uploads" / path.relative_to(upload_dir)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out)
            files.fsync_path(out)


def backup(session: Session, database_url: str, ledger_dir: Path, dest: Path,
           upload_dir: Path | None = None) -> BackupResult:
    """Write a consistent snapshot of the database, every book and the uploads into an empty directory."""
    dest = Path(dest)
    _empty_target(dest)
    backend = make_url(database_url).get_backend_name()
    with _all_books_locked(session, Path(ledger_dir)):
        if backend == "sqlite":
            db_file = dest / SQLITE_NAME
            source = sqlite3.connect(_sqlite_path(database_url), timeout=60)
            target = sqlite3.connect(db_file)
            try:
                source.backup(target)  # one step: a consistent copy while writers go on
            finally:
                target.close()
                source.close()
            engine = create_engine(f"sqlite:///{db_file}")
            with engine.connect() as conn:
                snapshot = _books_in(conn)
                revision = conn.scalar(text("SELECT version_num FROM alembic_version LIMIT 1"))
            engine.dispose()
        elif backend == "postgresql":
            db_file = dest / PG_NAME
            engine = create_engine(database_url)
            with engine.connect() as conn:
                conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
                snapshot_id = conn.scalar(text("SELECT pg_export_snapshot()"))
                snapshot = _books_in(conn)
                revision = conn.scalar(text("SELECT version_num FROM alembic_version LIMIT 1"))
                subprocess.run([pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                                f"--snapshot={snapshot_id}", "-f", str(db_file), "-d", _libpq_uri(database_url)],
                               check=True, capture_output=True, text=True)
                conn.rollback()
            engine.dispose()
        else:
            raise Invalid(f"不支持备份该数据库：{backend}", field="database")
        files.fsync_path(db_file)
        _copy_books(Path(ledger_dir), dest, snapshot)
    _copy_uploads(upload_dir, dest)
    digests = {str(p.relative_to(dest)): _sha256(p) for p in sorted(dest.rglob("*")) if p.is_file()}
    manifest: dict[str, Any] = {
        "format": FORMAT, "program": "assoc-ledger", "version": __version__,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "database": {"backend": backend, "file": db_file.name, "alembic_revision": revision},
        "books": [{"slug": slug, "entries": entries, "chain_head": head} for slug, entries, head, _ in snapshot],
        "files": digests,
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    files.fsync_path(dest / MANIFEST)
    return BackupResult(dest, len(snapshot), sum(e for _, e, _, _ in snapshot), len(digests), backend)


def read_manifest(source: Path) -> dict[str, Any]:
    """The manifest, after checking that every file it lists is present with its digest (and no more)."""
    path = Path(source) / MANIFEST
    if not path.is_file():
        raise Invalid(f"{source} 不是 assoc-ledger 备份（缺少 {MANIFEST}）", field="dir")
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT or manifest.get("program") != "assoc-ledger":
        raise Invalid("备份格式无法识别", field="dir")
    bad = [name for name, digest in manifest["files"].items()
           if not (Path(source) / name).is_file() or _sha256(Path(source) / name) != digest]
    extra = [str(p.relative_to(source)) for p in Path(source).rglob("*")
             if p.is_file() and p.name != MANIFEST and str(p.relative_to(source)) not in manifest["files"]]
    if bad or extra:
        raise DomainError("备份已损坏或被改动：" + "、".join(sorted(bad + extra)[:10]) + "；未恢复任何数据",
                          field="dir")
    return manifest


def _database_is_empty(database_url: str) -> bool:
    if make_url(database_url).get_backend_name() == "sqlite":
        path = _sqlite_path(database_url)
        if not path.exists() or path.stat().st_size == 0:
            return True
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return not inspect(conn).get_table_names()
    finally:
        engine.dispose()


def restore(source: Path, database_url: str, ledger_dir: Path, upload_dir: Path | None = None) -> dict[str, Any]:
    """Restore a backup into an empty database, ledger and upload directory; never over live data."""
    source = Path(source)
    manifest = read_manifest(source)
    ledger_dir = Path(ledger_dir)
    if ledger_dir.exists() and any(p for p in ledger_dir.iterdir() if p.name != "README.md"):
        raise DomainError(f"账簿目录 {ledger_dir} 中已有数据；恢复只能写入空目录，未恢复任何数据", field="ledger_dir")
    if upload_dir is not None and Path(upload_dir).is_dir() and any(Path(upload_dir).iterdir()):
        raise DomainError(f"上传文件目录 {upload_dir} 中已有文件；恢复只能写入空目录，未恢复任何数据",
                          field="upload_dir")
    if not _database_is_empty(database_url):
        raise DomainError("目标数据库中已有数据；恢复只能写入空数据库，未恢复任何数据", field="database")
    backend = make_url(database_url).get_backend_name()
    if backend != manifest["database"]["backend"]:
        raise DomainError(f"备份来自 {manifest['database']['backend']}，不能恢复到 {backend}", field="database")
    db_file = source / manifest["database"]["file"]
    if backend == "sqlite":
        target = _sqlite_path(database_url)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            with db_file.open("rb") as fh:
                shutil.copyfileobj(fh, tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        for stale in (Path(f"{target}-wal"), Path(f"{target}-shm")):
            stale.unlink(missing_ok=True)
        os.replace(tmp.name, target)
    else:
        subprocess.run([pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
                        "-d", _libpq_uri(database_url), str(db_file)], check=True, capture_output=True, text=True)
    targets = {"ledgers": ledger_dir, "uploads": Path(upload_dir) if upload_dir is not None else None}
    for name in manifest["files"]:
        top = Path(name).parts[0]
        base = targets.get(top)
        if base is None:
            continue
        out = base / Path(name).relative_to(top)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, out)
        files.fsync_path(out)
    return manifest
