"""HTTP routes for monthly entitlements (奖励扶助按月发放); thin: validate, call the service, shape the answer."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from pydantic import Field
from sqlalchemy.orm import Session

from assoc_ledger.auth.audit import Actor
from assoc_ledger.auth.deps import client_of
from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.schemas import Id, IdField, OptionalId, Schema
from assoc_ledger.entitlements import jobs, registry, rolls_xlsx, services
from assoc_ledger.entitlements.models import EntitlementRun
from assoc_ledger.orgs.models import Organisation

XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MONTH = Parameter(pattern=r"^\d{4}-\d{2}$", description="月份 YYYY-MM")


class ProgrammeIn(Schema):
    org_id: IdField = Field(description="发放组织（其公益金账簿发放本级及下级）")
    scheme: str = Field(max_length=30, description="only_child_reward 独生子女父母奖励 | special_family 特殊家庭扶助 | "
                                                   "long_term 长效帮扶（救助项目所属组织按月发放已审批案件）")
    first_month: str = Field(max_length=7, description="自该月起由本系统发放，YYYY-MM")
    fund: str = Field(default="General", max_length=30, description="General 或限定用途资金，如 JiangLiFuZhu")


class RunIn(Schema):
    month: str = Field(max_length=7, description="发放月份 YYYY-MM：发放该月及以前应发未发的各户月")
    org_id: IdField | None = Field(default=None, description="只发放该组织及其下级（默认：本人范围的最上级）")
    pay_date: dt.date | None = Field(default=None, description="凭证日期（默认今天）")


def _programme_out(p: Any) -> dict[str, Any]:
    return {"id": p.id, "scheme": p.scheme, "org_id": p.org_id, "fund": p.fund,
            "first_month": p.first_month.strftime("%Y-%m"), "scheme_version_id": p.scheme_version_id}


def _run_view(db: Session, ledger_dir: Path, row: EntitlementRun) -> dict[str, Any]:
    """The run as stored, with the worker's progress while it runs here; a run left "running" by a process that
    died (nobody holds the run lock) shows as interrupted, as the next run will mark it."""
    org = db.get(Organisation, row.org_id)
    out = services.run_out(row, org.name if org else None)
    out["progress"] = jobs.progress_of(ledger_dir, row.id)
    if (row.status == "running" and out["progress"] is None
            and not jobs.lock_held(ledger_dir, services.LOCK_NAME)):
        out["status"] = "interrupted"
    return out


def _xlsx(data: bytes, name: str, ascii_name: str) -> Response[bytes]:
    return Response(data, media_type=XLSX_MEDIA, headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"})


class EntitlementController(Controller):
    path = "/api/entitlements"
    tags = ["奖励扶助 entitlements"]  # noqa: RUF012

    @get("/programmes", opt=requires(Perm.fund_read), sync_to_thread=True)
    def list_programmes(self, db: Session, org_scope: Scope) -> list[dict[str, Any]]:
        return [_programme_out(p) for p in services.list_programmes(db, org_scope)]

    @post("/programmes", opt=requires(Perm.fund_write), sync_to_thread=True)
    def set_programme(self, db: Session, org_scope: Scope, data: ProgrammeIn) -> Response[dict[str, Any]]:
        row, created = services.set_programme(db, org_scope, data.org_id, scheme=data.scheme,
                                              first_month=data.first_month, fund=data.fund)
        return Response(_programme_out(row), status_code=201 if created else 200)

    @get("/preview", opt=requires(Perm.fund_read), sync_to_thread=True, summary="预览：发放某月将付什么，不写入")
    def preview(self, db: Session, org_scope: Scope, month: str = MONTH, org_id: OptionalId = None) -> dict[str, Any]:
        return services.preview(db, org_scope, month, org_id)

    @post("/runs", opt=requires(Perm.fund_write), sync_to_thread=True, status_code=202,
          summary="发放（后台进行）：该月及以前应发未发的各户月；答复 202 与发放批次编号，轮询 Location 查看进度")
    def run(self, request: Request[Any, Any, Any], org_scope: Scope, data: RunIn) -> Response[dict[str, Any]]:
        # No request session here: the worker writes with its own (on SQLite a write request's session would hold
        # the write lock the worker needs to record its start).
        ledger_dir = Path(request.app.state.settings.ledger_dir)
        principal = org_scope.principal
        actor = Actor(principal.user_id if principal else None, principal.username if principal else None,
                      client_of(request))
        factory = request.app.state.session_factory
        run_id = jobs.start(factory, ledger_dir, org_scope, actor, data.month, data.org_id, data.pay_date)
        with factory() as db:
            body = _run_view(db, ledger_dir, services.get_run(db, org_scope, run_id))
        return Response(body, status_code=202, headers={"Location": f"/api/entitlements/runs/{run_id}"})

    @get("/runs", opt=requires(Perm.fund_read), sync_to_thread=True)
    def list_runs(self, db: Session, org_scope: Scope) -> list[dict[str, Any]]:
        return [services.run_out(r) for r in services.list_runs(db, org_scope)]

    @get("/runs/{run_id:int}", opt=requires(Perm.fund_read), sync_to_thread=True,
         summary="发放批次：状态 running/done/partial/interrupted/failed、计数与进度")
    def get_run(self, request: Request[Any, Any, Any], db: Session, org_scope: Scope, run_id: Id) -> dict[str, Any]:
        return _run_view(db, Path(request.app.state.settings.ledger_dir), services.get_run(db, org_scope, run_id))

    @get("/reconcile", opt=requires(Perm.fund_read), sync_to_thread=True,
         summary="对账：现登记应发与实发逐户逐月核对")
    def reconcile(self, db: Session, org_scope: Scope, from_: str = Parameter(query="from", pattern=r"^\d{4}-\d{2}$"),
                  to: str = MONTH, org_id: OptionalId = None) -> dict[str, Any]:
        report = services.reconcile(db, org_scope, from_, to, org_id, keep=500)
        orgs = registry.Orgs(db)
        return {"from": from_, "to": to, "org_id": report.org.id, "org": report.org.name,
                "households": report.households, "household_months_due": report.household_months_due,
                "household_months_paid": report.household_months_paid, "counts": report.counts,
                "clean": report.clean, "rows": [d.out(orgs) for d in report.rows]}

    @get("/reconcile.xlsx", opt=requires(Perm.fund_read), sync_to_thread=True, media_type=XLSX_MEDIA)
    def reconcile_xlsx(self, db: Session, org_scope: Scope,
                       from_: str = Parameter(query="from", pattern=r"^\d{4}-\d{2}$"), to: str = MONTH,
                       org_id: OptionalId = None) -> Response[bytes]:
        buf = io.BytesIO()
        rolls_xlsx.reconciliation_xlsx(db, org_scope, from_, to, org_id, buf)
        return _xlsx(buf.getvalue(), f"奖励扶助对账-{from_}至{to}.xlsx", "reconcile.xlsx")

    @get("/villages/{village_id:int}/roll.xlsx", opt=requires(Perm.fund_read), sync_to_thread=True,
         media_type=XLSX_MEDIA, summary="村级发放花名册（XLSX，身份证号已脱敏，含签名栏）")
    def village_roll(self, db: Session, org_scope: Scope, village_id: Id, month: str = MONTH) -> Response[bytes]:
        buf = io.BytesIO()
        rolls_xlsx.village_roll(db, org_scope, village_id, month, buf)
        db.commit()  # the export's audit note
        return _xlsx(buf.getvalue(), f"发放花名册-{village_id}-{month}.xlsx", "roll.xlsx")


ROUTES = [EntitlementController]
