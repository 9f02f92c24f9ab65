"""HTTP routes for roster import (multipart upload) and export (XLSX download)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import quote

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from pydantic import Field
from sqlalchemy.orm import Session

from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.config import Settings
from assoc_ledger.core.crypto import cipher_for
from assoc_ledger.core.errors import Invalid, TooLarge
from assoc_ledger.core.schemas import Schema
from assoc_ledger.members.import_export import export_members
from assoc_ledger.members.import_roster import ImportReport, import_roster, report_dict
from assoc_ledger.members.models import MemberRole
from assoc_ledger.members.services import MemberFilter

XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A county's whole roster fits many times over; a zip that inflates to millions of rows does not.
MAX_IMPORT_ROWS = 200_000
MAX_RECORD_ID = 2_147_483_647  # ids are 32-bit on PostgreSQL; larger ones are refused, not looked up


@dataclass
class RosterUpload:
    file: UploadFile


class RowErrorOut(Schema):
    row: int = Field(description="行号（与 Excel 中显示的一致）")
    column: str = Field(description="列名（表头）")
    message: str = Field(description="原因")


class ImportReportOut(Schema):
    dry_run: bool
    committed: bool = Field(description="是否已写入")
    format: str
    encoding: str | None
    file_sha256: str
    total: int = Field(description="数据行数")
    would_create: int = Field(description="将新增的会员记录数")
    created: int = Field(description="已新增的会员记录数（试导入为0）")
    unchanged: int = Field(description="已存在、无需改动的行数")
    error_rows: int = Field(description="有错误的行数")
    groups_created: int
    errors_truncated: bool
    errors: list[RowErrorOut]


def _out(report: ImportReport) -> ImportReportOut:
    return ImportReportOut(**report_dict(report),
                           errors=[RowErrorOut(row=e.row or 0, column=e.field, message=e.message)
                                   for e in report.errors])


@post("/api/members/import", opt=requires(Perm.member_write), sync_to_thread=True, tags=["会员 members"],
      summary="导入会员名册（XLSX 或 CSV）")
def import_members(request: Request[Any, Any, Any], db: Session, org_scope: Scope,
                   data: Annotated[RosterUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
                   dry_run: bool = False) -> Response[ImportReportOut]:
    """试导入（dry_run=true）报告每一行错误但不写入；正式导入全部成功才写入，有一行错误则什么也不写（422）。"""
    settings: Settings = request.app.state.settings
    upload = data.file
    if not isinstance(upload, UploadFile):
        raise Invalid("请用 multipart/form-data 上传文件（字段名 file）", field="file")
    f = upload.file
    f.seek(0, io.SEEK_END)
    size = f.tell()
    f.seek(0)
    if size > settings.max_upload_bytes:
        raise TooLarge(f"文件过大：上限为 {settings.max_upload_bytes // (1024 * 1024)} MB", field="file")
    report = import_roster(db, org_scope, f, dry_run=dry_run, filename=upload.filename,  # type: ignore[arg-type]
                           max_rows=MAX_IMPORT_ROWS, cipher=cipher_for(settings))
    status = 201 if report.committed and report.created else 200
    return Response(_out(report), status_code=status)


@get("/api/members/export.xlsx", opt=requires(Perm.member_read), sync_to_thread=True, tags=["会员 members"],
     summary="导出会员名册（XLSX，身份证号和电话已脱敏）", media_type=XLSX_MEDIA)
def export_members_xlsx(db: Session, org_scope: Scope,
                        under: int | None = Parameter(default=None, ge=1, le=MAX_RECORD_ID),
                        role: MemberRole | None = None,
                        status: Literal["active", "left", "all"] = "active", volunteer: bool | None = None,
                        q: str | None = Parameter(default=None, max_length=50),
                        group_id: int | None = Parameter(default=None, ge=1, le=MAX_RECORD_ID)) -> Response[bytes]:
    f = MemberFilter(under=under, role=role, status=status, volunteer=volunteer, q=q, group_id=group_id)
    buf = io.BytesIO()
    export_members(db, org_scope, f, buf)
    name = f"会员名册-{date.today():%Y%m%d}.xlsx"
    return Response(buf.getvalue(), media_type=XLSX_MEDIA, headers={
        "Content-Disposition": f"attachment; filename=\"members.xlsx\"; filename*=UTF-8''{quote(name)}"})


ROUTES = [import_members, export_members_xlsx]
