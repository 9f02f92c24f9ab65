"""Roster and household import pages (名册导入, 家庭导入): upload → dry run with every problem in Chinese → confirm.

The upload is kept under the upload directory (named by the user and a random token) between the dry run
and the confirmation, so the secretary does not pick the file twice; the confirmation imports exactly the
file that was checked (its SHA-256 is carried in the form) with the same services as the API and CLI.
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Annotated, Any
from urllib.parse import quote

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Template
from sqlalchemy.orm import Session

from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm, Principal, Scope
from assoc_ledger.core.config import Settings
from assoc_ledger.core.crypto import cipher_for
from assoc_ledger.core.errors import DomainError, Problem
from assoc_ledger.households.export import export_households
from assoc_ledger.households.import_households import import_households
from assoc_ledger.members.import_roster import ImportRefused, import_roster
from assoc_ledger.web.context import page_context
from assoc_ledger.web.forms import errors_of

XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_WEB_IMPORT_ROWS = 200_000
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


@dataclass
class Outcome:
    """What the page shows of an import run, whichever service ran it."""

    total: int
    would_create: int
    created: int
    unchanged: int
    committed: bool
    problems: list[Problem] = field(default_factory=list)


Runner = Callable[[Session, Scope, IO[bytes], bool, Settings], Outcome]


def _run_roster(db: Session, scope: Scope, f: IO[bytes], dry_run: bool, settings: Settings) -> Outcome:
    try:
        r = import_roster(db, scope, f, dry_run=dry_run, max_rows=MAX_WEB_IMPORT_ROWS, cipher=cipher_for(settings))
    except ImportRefused as exc:
        db.rollback()
        r = exc.report
    return Outcome(r.total, r.would_create, r.created, r.unchanged, r.committed, list(r.errors))


def _run_households(db: Session, scope: Scope, f: IO[bytes], dry_run: bool, settings: Settings) -> Outcome:
    r = import_households(db, scope, f, dry_run=dry_run, cipher=cipher_for(settings))
    return Outcome(r.households, r.created if dry_run else 0, 0 if dry_run else r.created, r.unchanged,
                   r.committed, list(r.errors))


@dataclass(frozen=True)
class Kind:
    slug: str
    title: str
    perm: Perm
    run: Runner
    export_href: str
    columns: str


KINDS = {
    "members": Kind("members", "会员名册导入", Perm.member_write, _run_roster, "/api/members/export.xlsx",
                    "姓名、身份证号、联系电话、所属组织（区划代码或名称）、职务、入会日期；可选：是否志愿者（不填为否）、"
                    "住址、志愿服务技能、会员小组"),
    "households": Kind("households", "计生家庭导入", Perm.household_write, _run_households, "/households/export.xlsx",
                       "户编号、姓名、身份证号、与户主关系、所属组织、登记日期；可选：家庭类别、认定日期、光荣证号、认定依据、住址"),
}


def _held(settings: Settings, principal: Principal, token: str) -> Path:
    return Path(settings.upload_dir) / "web-imports" / f"{principal.user_id}-{token}.upload"


def _page(request: Request[Any, Any, Any], kind: Kind, *, status_code: int = 200, **extra: Any) -> Template:
    extra.setdefault("errors", {})
    return Template("import.html", status_code=status_code, context=page_context(request, kind=kind, **extra))


def _check(request: Request[Any, Any, Any], db: Session, scope: Scope, principal: Principal, kind: Kind,
           upload: Any) -> Template:
    settings: Settings = request.app.state.settings
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _page(request, kind, status_code=400, errors={"file": "请选择要导入的 XLSX 或 CSV 文件"})
    content = upload.file.read(settings.max_upload_bytes + 1)
    if len(content) > settings.max_upload_bytes:
        return _page(request, kind, status_code=413,
                     errors={"file": f"文件过大：上限为 {settings.max_upload_bytes // (1024 * 1024)} MB"})
    try:
        outcome = kind.run(db, scope, io.BytesIO(content), True, settings)
    except DomainError as exc:  # the file as a whole (not a sheet, no header, a missing column)
        db.rollback()
        return _page(request, kind, status_code=exc.status_code, errors=errors_of(exc, ["file"], {"": "file"}),
                     filename=upload.filename, problems=list(exc.problems))
    token = ""
    if not outcome.problems:
        token = secrets.token_urlsafe(24)
        held = _held(settings, principal, token)
        held.parent.mkdir(parents=True, exist_ok=True)
        held.write_bytes(content)
    return _page(request, kind, outcome=outcome, filename=upload.filename, token=token,
                 sha256=hashlib.sha256(content).hexdigest(), status_code=200 if token else 422)


def _confirm(request: Request[Any, Any, Any], db: Session, scope: Scope, principal: Principal, kind: Kind,
             data: dict[str, str]) -> Template:
    settings: Settings = request.app.state.settings
    token = data.get("token", "")
    held = _held(settings, principal, token) if _TOKEN.match(token) else None
    if held is None or not held.is_file():
        return _page(request, kind, status_code=400, errors={"file": "待导入的文件已失效，请重新上传并检查"})
    content = held.read_bytes()
    if hashlib.sha256(content).hexdigest() != data.get("sha256"):
        return _page(request, kind, status_code=400, errors={"file": "文件与检查时不一致，请重新上传并检查"})
    outcome = kind.run(db, scope, io.BytesIO(content), False, settings)
    if outcome.committed:
        held.unlink(missing_ok=True)
        return _page(request, kind, outcome=outcome, done=True, filename=data.get("filename", ""))
    return _page(request, kind, status_code=422, outcome=outcome, filename=data.get("filename", ""))


@dataclass
class ImportUpload:
    file: UploadFile | None = None


@get("/members/import", opt=requires(Perm.member_write), include_in_schema=False)
async def members_import_page(request: Request[Any, Any, Any]) -> Template:
    return _page(request, KINDS["members"])


@post("/members/import", opt=requires(Perm.member_write), include_in_schema=False, sync_to_thread=True)
def members_import_check(request: Request[Any, Any, Any], db: Session, org_scope: Scope, principal: Principal,
                         data: Annotated[ImportUpload, Body(media_type=RequestEncodingType.MULTI_PART)]) -> Template:
    return _check(request, db, org_scope, principal, KINDS["members"], data.file)


@post("/members/import/confirm", opt=requires(Perm.member_write), include_in_schema=False, sync_to_thread=True)
def members_import_confirm(request: Request[Any, Any, Any], db: Session, org_scope: Scope, principal: Principal,
                           data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
                           ) -> Template:
    return _confirm(request, db, org_scope, principal, KINDS["members"], data)


@get("/households/import", opt=requires(Perm.household_write), include_in_schema=False)
async def households_import_page(request: Request[Any, Any, Any]) -> Template:
    return _page(request, KINDS["households"])


@post("/households/import", opt=requires(Perm.household_write), include_in_schema=False, sync_to_thread=True)
def households_import_check(request: Request[Any, Any, Any], db: Session, org_scope: Scope, principal: Principal,
                            data: Annotated[ImportUpload, Body(media_type=RequestEncodingType.MULTI_PART)]
                            ) -> Template:
    return _check(request, db, org_scope, principal, KINDS["households"], data.file)


@post("/households/import/confirm", opt=requires(Perm.household_write), include_in_schema=False,
      sync_to_thread=True)
def households_import_confirm(request: Request[Any, Any, Any], db: Session, org_scope: Scope, principal: Principal,
                              data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
                              ) -> Template:
    return _confirm(request, db, org_scope, principal, KINDS["households"], data)


@get("/households/export.xlsx", opt=requires(Perm.household_read), include_in_schema=False, sync_to_thread=True)
def households_export(db: Session, org_scope: Scope) -> Response[bytes]:
    buf = io.BytesIO()
    export_households(db, org_scope, buf)
    name = f"计生家庭-{date.today():%Y%m%d}.xlsx"
    return Response(buf.getvalue(), media_type=XLSX_MEDIA, headers={
        "Content-Disposition": f"attachment; filename=\"households.xlsx\"; filename*=UTF-8''{quote(name)}"})


ROUTES = [members_import_page, members_import_check, members_import_confirm, households_import_page,
          households_import_check, households_import_confirm, households_export]
