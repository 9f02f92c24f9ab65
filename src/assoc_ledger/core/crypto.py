"""Resident IDs at rest (GB/T 35273, PIPL): AES-GCM ciphertext, an HMAC lookup hash, a key kept outside the database.

One master key (32 random bytes) gives two subkeys through HKDF-SHA256: one encrypts, one hashes.
Neither the key nor anything derived from it is stored in the database, so a copied database file
holds ciphertext and hashes only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from assoc_ledger.core.config import Settings

KEY_BYTES = 32
NONCE_BYTES = 12
_ENCRYPT_INFO = b"assoc-ledger resident-id aes-gcm v1"
_LOOKUP_INFO = b"assoc-ledger resident-id hmac-sha256 v1"


class KeyMissing(RuntimeError):
    """No resident-ID key is configured (ASSOC_ID_KEY or the key file)."""


class BadKey(RuntimeError):
    """The configured key is malformed, or does not open what this database holds."""


def new_key_text() -> str:
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def parse_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadKey(f"{where}: 身份证号密钥应为 base64 编码的 32 字节") from exc
    if len(key) != KEY_BYTES:
        raise BadKey(f"{where}: 身份证号密钥应为 32 字节，实际 {len(key)} 字节")
    return key


def configured_key(settings: Settings) -> bytes | None:
    """The key from ASSOC_ID_KEY, else from the key file; None if neither exists."""
    if settings.id_key is not None:
        return parse_key(settings.id_key.get_secret_value(), "ASSOC_ID_KEY")
    path = settings.key_file
    if path.exists():
        return parse_key(path.read_text(encoding="ascii"), str(path))
    return None


def ensure_key_file(settings: Settings) -> bool:
    """Create the key file (mode 0600) unless a key is configured already; True if one was created."""
    if settings.id_key is not None or settings.key_file.exists():
        return False
    path = settings.key_file
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two processes migrating at once cannot each write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(new_key_text() + "\n")
        f.flush()
        os.fsync(f.fileno())
    return True


@dataclass(frozen=True)
class IdCipher:
    """Seals and opens resident ID numbers; ``lookup`` is the keyed hash that finds a person by number."""

    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES:
            raise BadKey("身份证号密钥应为 32 字节")

    def lookup(self, number: str) -> str:
        return hmac.new(_lookup_key(self.key), number.encode("ascii"), hashlib.sha256).hexdigest()

    def seal(self, number: str, bound_to: str) -> bytes:
        """Nonce + ciphertext; ``bound_to`` (the row's lookup hash) is authenticated with it."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + _aead(self.key).encrypt(nonce, number.encode("ascii"), bound_to.encode("ascii"))

    def open(self, sealed: bytes, bound_to: str) -> str:
        try:
            plain = _aead(self.key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], bound_to.encode("ascii"))
        except InvalidTag as exc:
            raise BadKey("身份证号无法解密：密钥与数据库不符，或记录已被改动") from exc
        return plain.decode("ascii")


# Derived once per key, not per number: a roster import seals thousands.
@lru_cache(maxsize=8)
def _aead(key: bytes) -> AESGCM:
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=_ENCRYPT_INFO).derive(key))


@lru_cache(maxsize=8)
def _lookup_key(key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=_LOOKUP_INFO).derive(key)


def cipher_for(settings: Settings) -> IdCipher:
    key = configured_key(settings)
    if key is None:
        raise KeyMissing(
            f"没有身份证号密钥：请设置 ASSOC_ID_KEY，或把密钥文件放在 {settings.key_file}"
            "（首次运行 `assoc-ledger migrate` 时自动创建）")
    return IdCipher(key)
