"""The organisation tree as access control sees it: ids and their paths, nothing more.

Access control sits below the organisation area (every area's routes are guarded), so it cannot import
it; the orgs area fills this port in when its models load (dependency inversion, like a plugin).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

from sqlalchemy import Select
from sqlalchemy.orm import Session

from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.errors import NotFound


class OrgTree(Protocol):
    def paths(self, session: Session, org_ids: Collection[int], *, open_only: bool = False) -> dict[int, str]:
        """The path of each organisation that exists (and is not closed, with ``open_only``)."""

    def ids_in(self, scope: Scope) -> Select[Any]:
        """A subquery of the ids of the organisations in a scope."""


_tree: OrgTree | None = None


def provide(tree: OrgTree) -> None:
    global _tree  # noqa: PLW0603 - one process-wide implementation, set once by the orgs area
    _tree = tree


def org_tree() -> OrgTree:
    if _tree is None:
        raise RuntimeError("the organisation area is not loaded (import assoc_ledger.orgs.models)")
    return _tree


def require_org(session: Session, org_id: int, scope: Scope) -> str:
    """The path of an organisation in the scope; 404 if it does not exist or lies outside."""
    path = org_tree().paths(session, [org_id]).get(org_id)
    if path is None or not scope.contains(path):
        raise NotFound("组织不存在", field="org_id")
    return path
