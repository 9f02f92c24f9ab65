"""One typed settings object, read from the environment (ASSOC_*)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr


class Settings(BaseModel):
    """Process-wide settings. Every field can be set with ``ASSOC_<NAME>``."""

    # Data lives where the service is started (``make run`` sets both explicitly to the checkout).
    database_url: str = Field(default_factory=lambda: f"sqlite:///{Path.cwd() / 'var' / 'assoc.sqlite3'}")
    ledger_dir: Path = Field(default_factory=lambda: Path.cwd() / "ledgers")
    # Signed visit sheets and other uploads: never under a served folder; read back only through a scoped route.
    upload_dir: Path = Field(default_factory=lambda: Path.cwd() / "var" / "uploads")
    host: str = "127.0.0.1"
    port: int = 8000
    secret_key: str = "dev-insecure-secret-change-me"  # noqa: S105 - overridden in production via env
    debug: bool = False
    # Secure cookies only make sense behind HTTPS (a reverse proxy in production).
    secure_cookies: bool = False
    max_upload_bytes: int = 20 * 1024 * 1024
    # The resident-ID key lives outside the database: base64 of 32 bytes here, or else in ``key_file``
    # (created by the first ``migrate``, owner-only). A database copied without it shows no ID.
    # Read from the environment even when Settings is built in code: a key is never written into code.
    id_key: SecretStr | None = Field(default_factory=lambda: _env_secret("ASSOC_ID_KEY"))
    key_file: Path = Field(default_factory=lambda: Path.cwd() / "var" / "assoc.key")

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        values: dict[str, object] = {}
        for name in cls.model_fields:
            env = os.environ.get(f"ASSOC_{name.upper()}")
            if env is not None:
                values[name] = env
        values.update(overrides)
        return cls.model_validate(values)


def _env_secret(name: str) -> SecretStr | None:
    value = os.environ.get(name)
    return SecretStr(value) if value else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
