"""The audit log: every write and every full resident-ID view, append-only and hash-chained.

Writes are captured in one place, a SQLAlchemy session hook, so no service can forget to
log: after each flush the changed rows are noted (personal data masked), and just before
commit they are appended to the chain under a lock on the chain head, so concurrent
transactions on either backend extend one unbroken chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth.models import AuditEntry, AuditHead, LoginAttempt, WebSession
from assoc_ledger.auth.tree import org_tree
from assoc_ledger.core.db import utcnow
from assoc_ledger.core.personal import mask_phone, mask_resident_id

GENESIS = "0" * 64
_SKIP_TABLES = {AuditEntry.__tablename__, LoginAttempt.__tablename__, WebSession.__tablename__}
_MASKERS = {"resident_id": mask_resident_id, "phone": mask_phone}
# Ciphertext and keyed hash of a resident ID are never copied into the log, not even as they are stored.
_SECRET_FIELDS = {"password_hash", "token_hash", "csrf_token", "resident_id_cipher", "resident_id_hash"}


@dataclass
class Actor:
    user_id: int | None
    username: str | None
    client: str | None


def set_actor(session: Session, actor: Actor) -> None:
    session.info["actor"] = actor


def _plain(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _safe(key: str, value: Any) -> Any:
    if key in _SECRET_FIELDS:
        return "***"
    masker = _MASKERS.get(key)
    if masker is not None and isinstance(value, str):
        return masker(value)
    return _plain(value)


def _row(obj: Any) -> dict[str, Any]:
    state = inspect(obj)
    row = {attr.key: _safe(attr.key, attr.value) for attr in state.mapper.column_attrs
           for attr in [state.attrs[attr.key]]}
    # A model may say what the log keeps of it (a person: the masked number from its stored parts).
    view = getattr(type(obj), "audit_view", None)
    return view(row) if callable(view) else row


def _org_path(session: Session, obj: Any) -> str | None:
    """The organisation an audited row belongs to, so auditors see only their subtree's entries."""
    own = getattr(obj, "org_path", None)  # an organisation itself says where it sits
    if isinstance(own, str):
        return own
    org_id = getattr(obj, "org_id", None)
    if isinstance(org_id, int):
        with session.no_autoflush:
            return org_tree().paths(session, [org_id]).get(org_id)
    return None


def _pending(session: Session) -> list[dict[str, Any]]:
    return session.info.setdefault("audit_pending", [])  # type: ignore[no-any-return]


def note(session: Session, action: str, object_type: str, object_id: str | None, org_path: str | None,
         *, before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
         note_text: str | None = None) -> None:
    """Record an event that is not a row change (e.g. viewing a full resident ID, a ledger post)."""
    _pending(session).append({"action": action, "object_type": object_type, "object_id": object_id,
                              "org_path": org_path, "before": before, "after": after, "note": note_text})


def _after_flush(session: Session, _ctx: Any) -> None:
    if session.info.get("audit_off"):
        return
    pending = _pending(session)
    for kind, objs in (("create", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in objs:
            table = getattr(obj, "__tablename__", None)
            if table is None or table in _SKIP_TABLES or table == AuditHead.__tablename__:
                continue
            if getattr(obj, "__audit__", True) is False:
                continue
            state = inspect(obj)
            before: dict[str, Any] | None = None
            after: dict[str, Any] | None = None
            if kind == "update":
                before, after = {}, {}
                for attr in state.mapper.column_attrs:
                    hist = state.attrs[attr.key].history
                    if hist.has_changes():
                        before[attr.key] = _safe(attr.key, hist.deleted[0] if hist.deleted else None)
                        after[attr.key] = _safe(attr.key, hist.added[0] if hist.added else None)
                if not after:
                    continue
            elif kind == "create":
                after = _row(obj)
            else:
                before = _row(obj)
            ident = state.mapper.primary_key_from_instance(obj)
            object_id = ",".join(str(i) for i in ident) if ident and None not in ident else None
            if kind == "update" and after is not None:
                # A row created earlier in this same transaction: fold the change into its creation.
                created = next((p for p in pending if p["action"] == f"{table}.create"
                                and p["object_id"] == object_id), None)
                if created is not None:
                    created["after"].update(after)
                    created["org_path"] = _org_path(session, obj)
                    continue
            pending.append({"action": f"{table}.{kind}", "object_type": table, "object_id": object_id,
                            "org_path": _org_path(session, obj), "before": before, "after": after,
                            "note": None})


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    payload = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + payload).encode()).hexdigest()


def _hashed_fields(entry: AuditEntry) -> dict[str, Any]:
    return {"at": entry.at.astimezone(UTC).isoformat() if entry.at else None, "user_id": entry.user_id,
            "username": entry.username, "action": entry.action, "object_type": entry.object_type,
            "object_id": entry.object_id, "org_path": entry.org_path, "client": entry.client,
            "before": entry.before, "after": entry.after, "note": entry.note}


def _lock_head(session: Session) -> str:
    # The UPDATE takes the row lock (PostgreSQL) or the database write lock (SQLite)
    # before the last hash is read, so two committers cannot fork the chain.
    res = session.execute(text("UPDATE audit_head SET hash = hash WHERE name = 'audit'"))
    if res.rowcount == 0:  # type: ignore[attr-defined]
        session.execute(text("INSERT INTO audit_head (name, hash) VALUES ('audit', :g)"), {"g": GENESIS})
    last = session.scalar(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))
    return last or GENESIS


def _before_commit(session: Session) -> None:
    if session.info.get("audit_off"):
        session.info.pop("audit_pending", None)
        return
    session.flush()
    pending = session.info.pop("audit_pending", [])
    if not pending:
        return
    actor: Actor = session.info.get("actor") or Actor(None, "system", None)
    prev = _lock_head(session)
    for item in pending:
        entry = AuditEntry(at=utcnow(), user_id=actor.user_id, username=actor.username, client=actor.client,
                           action=item["action"], object_type=item["object_type"],
                           object_id=item["object_id"], org_path=item["org_path"],
                           before=item["before"], after=item["after"], note=item["note"], prev_hash=prev)
        entry.hash = entry_hash(prev, _hashed_fields(entry))
        prev = entry.hash
        session.add(entry)
    session.info["audit_writing"] = True
    try:
        session.flush()
    finally:
        session.info.pop("audit_writing", None)
    session.execute(text("UPDATE audit_head SET hash = :h WHERE name = 'audit'"), {"h": prev})


def _after_rollback(session: Session) -> None:
    session.info.pop("audit_pending", None)


def install(session_cls: type[Session] = Session) -> None:
    if getattr(session_cls, "_audit_installed", False):
        return
    event.listen(session_cls, "after_flush", _after_flush)
    event.listen(session_cls, "before_commit", _before_commit)
    event.listen(session_cls, "after_soft_rollback", lambda s, _t: _after_rollback(s))
    session_cls._audit_installed = True  # type: ignore[attr-defined]


def audited_sessions() -> sessionmaker[Session]:
    """Sessions for commands run outside a request (CLI, demo, jobs): every write audited as the system."""
    from assoc_ledger.core.config import get_settings
    from assoc_ledger.core.db import make_engine, make_sessionmaker

    install()
    return make_sessionmaker(make_engine(get_settings().database_url))


@dataclass
class ChainProblem:
    entry_id: int
    reason: str


def verify(session: Session) -> tuple[int, list[ChainProblem]]:
    """Recompute the chain; report every entry whose hash or link does not hold."""
    prev = GENESIS
    count = 0
    problems: list[ChainProblem] = []
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id)).yield_per(2000):
        count += 1
        if entry.prev_hash != prev:
            problems.append(ChainProblem(entry.id, "prev_hash 与上一条不符（记录被删除或插入）"))
        expected = entry_hash(entry.prev_hash, _hashed_fields(entry))
        if expected != entry.hash:
            problems.append(ChainProblem(entry.id, "内容与哈希不符（记录被修改）"))
        prev = entry.hash
    head = session.scalar(select(AuditHead.hash).where(AuditHead.name == "audit"))
    if head is not None and head != prev:
        problems.append(ChainProblem(0, "链尾哈希与记录不符（末尾记录被删除）"))
    return count, problems
