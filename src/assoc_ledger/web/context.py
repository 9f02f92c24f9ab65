"""What every page template is given: the signed-in user, the CSRF token and the Chinese labels."""

from __future__ import annotations

from typing import Any

from litestar import Request

from assoc_ledger.auth.scope import ROLE_ZH, Principal
from assoc_ledger.members.models import LEFT_REASON_ZH, MEMBER_ROLE_ZH
from assoc_ledger.orgs.models import ORG_KIND_ZH


def page_context(request: Request[Any, Any, Any], **extra: Any) -> dict[str, Any]:
    principal = request.scope.get("user")
    auth = request.scope.get("auth") or {}
    return {"principal": principal if isinstance(principal, Principal) else None,
            "csrf": auth.get("csrf") if isinstance(auth, dict) else None, "ROLE_ZH": ROLE_ZH,
            "ORG_KIND_ZH": {k.value: v for k, v in ORG_KIND_ZH.items()},
            "MEMBER_ROLE_ZH": {k.value: v for k, v in MEMBER_ROLE_ZH.items()},
            "LEFT_REASON_ZH": {k.value: v for k, v in LEFT_REASON_ZH.items()}, **extra}
