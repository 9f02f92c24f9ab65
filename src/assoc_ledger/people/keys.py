"""Start-up check: a database that holds encrypted resident IDs is not served without the key that opens them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.core.config import Settings
from assoc_ledger.core.crypto import BadKey, IdCipher, KeyMissing, configured_key
from assoc_ledger.people.models import Person


def check_key(settings: Settings, session_factory: sessionmaker[Session]) -> None:
    """Raise :class:`KeyMissing` or :class:`BadKey` with a clear message; a database without people passes."""
    try:
        with session_factory() as db:
            row = db.execute(select(Person.resident_id_cipher, Person.resident_id_hash).limit(1)).first()
    except DBAPIError:  # not migrated yet: `assoc-ledger migrate` creates the key
        return
    if row is None:
        return
    key = configured_key(settings)
    if key is None:
        raise KeyMissing(
            f"数据库中有加密的身份证号，但找不到密钥（ASSOC_ID_KEY 未设置，密钥文件 {settings.key_file} 不存在）。"
            "请恢复原密钥文件或设置 ASSOC_ID_KEY 后再启动；不要生成新密钥，否则已有身份证号将无法查看")
    try:
        IdCipher(key).open(row.resident_id_cipher, row.resident_id_hash)
    except BadKey as exc:
        raise BadKey("配置的身份证号密钥与数据库不符（不是加密这些记录的密钥），拒绝启动") from exc


def check_key_on_startup(app: Any) -> None:
    """Litestar ``on_startup`` hook: refuses to serve, before any request, when the key is missing or wrong."""
    check_key(app.state.settings, app.state.session_factory)
