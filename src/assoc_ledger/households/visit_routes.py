"""HTTP routes for pairings (结对帮扶) and visits (走访, multipart with the signed sheet); thin."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from pydantic import Field
from sqlalchemy.orm import Session

from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.errors import Invalid
from assoc_ledger.core.money import fmt, from_fen
from assoc_ledger.core.schemas import MAX_ID, Id, IdField, OptionalId, Schema
from assoc_ledger.households import visits
from assoc_ledger.households.models import Pairing, Visit
from assoc_ledger.households.services import PAGE_MAX, recorder
from assoc_ledger.households.uploads import MAX_SHEET_BYTES


class PairingCreate(Schema):
    membership_id: IdField = Field(description="志愿者的会员记录编号")
    household_ids: list[IdField] = Field(min_length=1, max_length=50, description="结对家庭")
    from_date: dt.date
    until_date: dt.date | None = None


class PairingOut(Schema):
    id: int
    membership_id: int
    household_id: int
    from_date: dt.date
    until_date: dt.date | None

    @classmethod
    def of(cls, p: Pairing) -> PairingOut:
        return cls(id=p.id, membership_id=p.membership_id, household_id=p.household_id, from_date=p.from_date,
                   until_date=p.until_date)


class PairingPage(Schema):
    items: list[PairingOut]
    limit: int
    next_after: int | None = Field(description="下一页传入 after= 此值；为空表示没有更多")


class PairingEnd(Schema):
    until_date: dt.date = Field(description="结对的最后一天")


class UnvisitedOut(Schema):
    org_id: int
    org_name: str
    pairing_id: int
    household_id: int
    membership_id: int
    volunteer: str


class VisitOut(Schema):
    id: int
    pairing_id: int
    household_id: int
    visited_on: dt.date
    services: list[str]
    notes: str | None
    goods: str | None
    cash: str | None = Field(description="慰问金（元，字符串）")
    fund_entry_id: int | None
    signer_name: str
    sheet_type: str
    recorded_at: dt.datetime
    recorded_by: str | None

    @classmethod
    def of(cls, v: Visit) -> VisitOut:
        return cls(id=v.id, pairing_id=v.pairing_id, household_id=v.household_id, visited_on=v.visited_on,
                   services=v.services, notes=v.notes, goods=v.goods,
                   cash=fmt(from_fen(v.cash_fen)) if v.cash_fen is not None else None,
                   fund_entry_id=v.fund_entry_id, signer_name=v.signer_name, sheet_type=v.sheet_type,
                   recorded_at=v.recorded_at, recorded_by=v.recorded_by)


@dataclass
class VisitUpload:
    """The multipart form: text fields as typed, the signed sheet as ``file``."""

    pairing_id: str
    visited_on: str
    services: str
    signer_name: str
    file: UploadFile
    notes: str | None = None
    goods: str | None = None
    cash: str | None = None
    voucher: str | None = None
    idempotency_key: str | None = None
    flag: str | None = None
    flag_note: str | None = None


def _form(data: VisitUpload) -> visits.VisitForm:
    try:
        pairing_id = int(data.pairing_id)
    except ValueError as exc:
        raise Invalid("应为整数", field="pairing_id") from exc
    try:
        visited_on = dt.date.fromisoformat(data.visited_on)
    except ValueError as exc:
        raise Invalid("日期格式无效，应为 YYYY-MM-DD", field="visited_on") from exc
    services = [s.strip().removesuffix("服务") for s in re.split(r"[,，、]", data.services) if s.strip()]
    return visits.VisitForm(pairing_id=pairing_id, visited_on=visited_on, services=services,
                            signer_name=data.signer_name, notes=data.notes or None, goods=data.goods or None,
                            cash=data.cash or None, voucher=data.voucher or None,
                            idempotency_key=data.idempotency_key or None, flag=data.flag or None,
                            flag_note=data.flag_note or None)


class PairingController(Controller):
    path = "/api/pairings"
    tags = ["结对帮扶 pairings"]  # noqa: RUF012

    @post("/", opt=requires(Perm.household_write), sync_to_thread=True)
    def create(self, db: Session, org_scope: Scope, data: PairingCreate) -> list[PairingOut]:
        made = visits.create_pairings(db, org_scope, membership_id=data.membership_id,
                                      household_ids=data.household_ids, from_date=data.from_date,
                                      until_date=data.until_date)
        return [PairingOut.of(p) for p in made]

    @get("/", opt=requires(Perm.household_read), sync_to_thread=True)
    def list_pairings(self, db: Session, org_scope: Scope, under: OptionalId = None,
                      household_id: OptionalId = None, membership_id: OptionalId = None,
                      active_on: dt.date | None = Parameter(default=None, description="只列此日有效的结对"),
                      after: int | None = Parameter(default=None, ge=0, le=MAX_ID),
                      limit: int = Parameter(default=50, ge=1, le=PAGE_MAX)) -> PairingPage:
        rows = visits.list_pairings(db, org_scope, under=under, household_id=household_id,
                                    membership_id=membership_id, active_on=active_on, after=after, limit=limit)
        return PairingPage(items=[PairingOut.of(p) for p in rows], limit=limit,
                           next_after=rows[-1].id if len(rows) == limit else None)

    @post("/{pairing_id:int}/end", opt=requires(Perm.household_write), sync_to_thread=True)
    def end(self, db: Session, org_scope: Scope, pairing_id: Id, data: PairingEnd) -> PairingOut:
        """结束结对（填写最后一天）。"""
        return PairingOut.of(visits.end_pairing(db, org_scope, pairing_id, data.until_date))

    @get("/unvisited", opt=requires(Perm.household_read), sync_to_thread=True)
    def unvisited(self, db: Session, org_scope: Scope,
                  month: str = Parameter(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")) -> list[UnvisitedOut]:
        return [UnvisitedOut(**u.__dict__) for u in visits.unvisited(db, org_scope, month)]


class VisitController(Controller):
    path = "/api/visits"
    tags = ["走访 visits"]  # noqa: RUF012

    @post("/", opt=requires(Perm.household_write), sync_to_thread=True)
    def record(self, request: Request[Any, Any, Any], db: Session, org_scope: Scope,
               data: Annotated[VisitUpload, Body(media_type=RequestEncodingType.MULTI_PART)]) -> VisitOut:
        """走访登记：签字单（JPEG/PNG/PDF，≤5 MB）随表单上传；有慰问金时同一事务记入公益金账簿（走访慰问）。"""
        if not isinstance(data.file, UploadFile):
            raise Invalid("请上传签字单文件（字段名 file）", field="file")
        content = data.file.file.read(MAX_SHEET_BYTES + 1)
        settings = request.app.state.settings
        visit = visits.record_visit(db, org_scope, Path(settings.ledger_dir), Path(settings.upload_dir),
                                    _form(data), content, recorded_by=recorder(db)[1])
        return VisitOut.of(visit)

    @get("/{visit_id:int}", opt=requires(Perm.household_read), sync_to_thread=True)
    def detail(self, db: Session, org_scope: Scope, visit_id: Id) -> VisitOut:
        return VisitOut.of(visits.get_visit(db, org_scope, visit_id))

    @get("/{visit_id:int}/sheet", opt=requires(Perm.household_read), sync_to_thread=True)
    def sheet(self, request: Request[Any, Any, Any], db: Session, org_scope: Scope, visit_id: Id) -> Response[bytes]:
        path, media_type = visits.sheet_of(db, org_scope, Path(request.app.state.settings.upload_dir), visit_id)
        # Served as a download, never rendered in our origin; the content was judged at upload.
        return Response(path.read_bytes(), media_type=media_type, headers={
            "Content-Disposition": f'attachment; filename="visit-{visit_id}{path.suffix}"',
            "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})


ROUTES = [PairingController, VisitController]
