"""Form conventions shared by every page that writes: values kept, Chinese errors by field, one key per form.

A refused submit renders the same form again (status 400 or the refusal's own) with what the user typed
and each :class:`~assoc_ledger.core.errors.Problem` shown next to its field; a problem that names no field
of the form is shown above it. A form that moves money carries a hidden idempotency key made when the
form is first shown, so a double click or a resubmit posts once (the fund writer dedupes by key).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from assoc_ledger.core.errors import DomainError, Invalid

KEY_FIELD = "idempotency_key"


def new_key(prefix: str = "web") -> str:
    return f"{prefix}-{secrets.token_urlsafe(18)}"


def errors_of(exc: DomainError, fields: Iterable[str], aliases: Mapping[str, str] | None = None) -> dict[str, str]:
    """Field -> message (several joined) for the form's own fields; everything else under ``""``."""
    known = set(fields)
    out: dict[str, str] = {}
    problems = exc.problems or ()
    for p in problems:
        name = (aliases or {}).get(p.field, p.field)
        slot = name if name in known else ""
        text = p.message if p.row is None else f"第{p.row}行：{p.message}"
        out[slot] = f"{out[slot]}；{text}" if slot in out else text
    if not problems:
        name = (aliases or {}).get(exc.field or "", exc.field or "")
        out[name if name in known else ""] = exc.detail
    return out


def clean(data: Mapping[str, Any], fields: Iterable[str]) -> dict[str, str]:
    """The form's own text fields, stripped; anything else the browser sent is ignored."""
    out: dict[str, str] = {}
    for name in fields:
        value = data.get(name)
        out[name] = value.strip() if isinstance(value, str) else ""
    return out


def form_date(value: str, field: str) -> dt.date:
    """A date typed into a form (YYYY-MM-DD), or a Chinese refusal naming its field."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid("日期格式无效，应为 YYYY-MM-DD", field=field) from None
