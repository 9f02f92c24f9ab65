"""HTTP routes for organisations; thin: validate, call the service, shape the answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from litestar import Controller, Request, get, patch, post
from litestar.params import Parameter
from sqlalchemy.orm import Session

from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.schemas import MAX_ID, Id, OptionalId, Page
from assoc_ledger.orgs import services
from assoc_ledger.orgs.models import Organisation, OrgKind
from assoc_ledger.orgs.schemas import (
    CoverageRow,
    OrgClose,
    OrgCreate,
    OrgEventOut,
    OrgMove,
    OrgOut,
    OrgUpdate,
)

OrgCreated = Callable[[Request[Any, Any, Any], Session, Organisation, Scope], None]
"""What other areas do when an organisation is created in the same request (areas above this one
register theirs where the application is assembled; this area does not know them)."""


class OrgController(Controller):
    path = "/api/orgs"
    tags = ["组织 organisations"]  # noqa: RUF012

    @get("/", opt=requires(Perm.org_read), sync_to_thread=True)
    def list_orgs(self, db: Session, org_scope: Scope, under: OptionalId = None,
                  kind: OrgKind | None = None, q: str | None = Parameter(default=None, max_length=50),
                  include_closed: bool = False, limit: int = Parameter(default=100, ge=1, le=1000),
                  offset: int = Parameter(default=0, ge=0, le=MAX_ID)) -> Page[OrgOut]:
        rows, total = services.list_orgs(db, org_scope, under=under, kind=kind, include_closed=include_closed,
                                         q=q, limit=limit, offset=offset)
        return Page(items=[OrgOut.model_validate(r) for r in rows], total=total, limit=limit, offset=offset)

    @post("/", opt=requires(Perm.org_write), sync_to_thread=True)
    def create_org(self, request: Request[Any, Any, Any], db: Session, org_scope: Scope, data: OrgCreate,
                   on_org_created: Sequence[OrgCreated]) -> OrgOut:
        org = services.create_org(db, org_scope, **data.model_dump())
        for hook in on_org_created:
            hook(request, db, org, org_scope)
        return OrgOut.model_validate(org)

    @get("/{org_id:int}", opt=requires(Perm.org_read), sync_to_thread=True)
    def get_org(self, db: Session, org_scope: Scope, org_id: Id) -> OrgOut:
        return OrgOut.model_validate(services.get_org(db, org_id, org_scope))

    @patch("/{org_id:int}", opt=requires(Perm.org_write), sync_to_thread=True)
    def update_org(self, db: Session, org_scope: Scope, org_id: Id, data: OrgUpdate) -> OrgOut:
        changes = data.model_dump(exclude_unset=True)
        version = changes.pop("version", None)
        org = services.update_org(db, org_scope, org_id, changes, expected_version=version)
        return OrgOut.model_validate(org)

    @post("/{org_id:int}/move", opt=requires(Perm.org_write), sync_to_thread=True)
    def move_org(self, db: Session, org_scope: Scope, org_id: Id, data: OrgMove) -> OrgOut:
        org = services.move_org(db, org_scope, org_id, data.parent_id, data.effective_on)
        return OrgOut.model_validate(org)

    @post("/{org_id:int}/close", opt=requires(Perm.org_write), sync_to_thread=True)
    def close_org(self, db: Session, org_scope: Scope, org_id: Id, data: OrgClose) -> OrgOut:
        return OrgOut.model_validate(services.close_org(db, org_scope, org_id, data.closed_on, data.reason))

    @get("/{org_id:int}/history", opt=requires(Perm.org_read), sync_to_thread=True)
    def org_history(self, db: Session, org_scope: Scope, org_id: Id) -> list[OrgEventOut]:
        return [OrgEventOut.model_validate(e) for e in services.history(db, org_scope, org_id)]

    @get("/{org_id:int}/coverage", opt=requires(Perm.org_read), sync_to_thread=True)
    def org_coverage(self, db: Session, org_scope: Scope, org_id: Id) -> list[CoverageRow]:
        return [CoverageRow(org_id=c.org_id, name=c.name, units=c.units, constituted=c.constituted,
                            percent=c.percent) for c in services.coverage(db, org_scope, org_id)]
