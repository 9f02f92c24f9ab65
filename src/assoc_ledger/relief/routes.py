"""HTTP routes for relief schemes and cases (帮扶救助); thin: validate, call the service, shape the answer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from sqlalchemy.orm import Session

from assoc_ledger.auth.guards import requires
from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.errors import Invalid
from assoc_ledger.core.schemas import MAX_ID, Id, OptionalId
from assoc_ledger.fund.chart import Category
from assoc_ledger.households.uploads import MAX_SHEET_BYTES
from assoc_ledger.relief import services
from assoc_ledger.relief.rules import Action, State, missing_documents
from assoc_ledger.relief.schemas import (
    CaseCreate,
    CaseDetail,
    CaseOut,
    CasePage,
    DocumentOut,
    PayIn,
    SchemeCreate,
    SchemeOut,
    StepIn,
    StepOut,
    VersionIn,
    VersionOut,
)


class SchemeController(Controller):
    path = "/api/relief/schemes"
    tags = ["救助项目 relief schemes"]  # noqa: RUF012

    @get("/", opt=requires(Perm.household_read), sync_to_thread=True)
    def list_schemes(self, db: Session, org_scope: Scope, category: Category | None = None) -> list[SchemeOut]:
        rows = services.list_schemes(db, org_scope, category.value if category else None)
        return [SchemeOut.of(s, services.versions_of(db, s.id)) for s in rows]

    @post("/", opt=requires(Perm.fund_write), sync_to_thread=True)
    def create(self, db: Session, org_scope: Scope, data: SchemeCreate) -> SchemeOut:
        """新建救助项目及其第一版标准（救助标准和程序事先规定）。"""
        scheme = services.create_scheme(db, org_scope, code=data.code, name=data.name, category=data.category.value,
                                        org_id=data.org_id, spec=data.spec())
        return SchemeOut.of(scheme, services.versions_of(db, scheme.id))

    @get("/{scheme_id:int}", opt=requires(Perm.household_read), sync_to_thread=True)
    def detail(self, db: Session, org_scope: Scope, scheme_id: Id) -> SchemeOut:
        scheme = services.get_scheme(db, org_scope, scheme_id)
        return SchemeOut.of(scheme, services.versions_of(db, scheme.id))

    @post("/{scheme_id:int}/versions", opt=requires(Perm.fund_write), sync_to_thread=True)
    def new_version(self, db: Session, org_scope: Scope, scheme_id: Id, data: VersionIn) -> VersionOut:
        """调整标准：自某日起的新版本；此前登记的案件仍按原版本办理。"""
        return VersionOut.of(services.add_version(db, org_scope, scheme_id, data.spec()))


@dataclass
class DocumentUpload:
    """The multipart form: the document's type (申请书, 困难证明 …) and the file as ``file``."""

    doc_type: str
    file: UploadFile


class CaseController(Controller):
    path = "/api/relief/cases"
    tags = ["救助案件 relief cases"]  # noqa: RUF012

    @get("/", opt=requires(Perm.household_read), sync_to_thread=True)
    def list_cases(self, db: Session, org_scope: Scope,
                   case_state: str | None = Parameter(query="state", default=None, max_length=20,
                                                      description="案件状态：" + "、".join(State)),
                   category: Category | None = None,
                   scheme: OptionalId = None, household: OptionalId = None, under: OptionalId = None,
                   waiting_for_me: bool = False, overdue_review: bool = False,
                   after: int | None = Parameter(default=None, ge=0, le=MAX_ID),
                   limit: int = Parameter(default=50, ge=1, le=services.PAGE_MAX)) -> CasePage:
        """案件列表：按状态、类别、项目、家庭、组织筛选。

        waiting_for_me 只列出等我办理的；overdue_review 列出逾期未审核的应急救助。
        """
        if case_state is not None and case_state not in set(State):
            raise Invalid("状态应为 " + "、".join(State), field="state")
        f = services.CaseFilter(state=case_state,
                                category=category.value if category else None,
                                scheme_id=scheme, household_id=household, under=under, waiting_for_me=waiting_for_me,
                                overdue_review=overdue_review, after=after, limit=limit)
        rows = services.list_cases(db, org_scope, f)
        return CasePage(items=[CaseOut.of(c) for c in rows], limit=limit,
                        next_after=rows[-1].id if len(rows) == limit else None)

    @post("/", opt=requires(Perm.household_write), sync_to_thread=True)
    def register(self, db: Session, org_scope: Scope, data: CaseCreate) -> CaseDetail:
        """登记：按救助日期的家庭情况和项目标准审查；超上限、超次数、不符合条件的当场拒绝，不写入任何数据。"""
        case = services.register_case(db, org_scope, services.CaseForm(
            scheme_id=data.scheme_id, household_id=data.household_id, case_date=data.case_date, payee=data.payee,
            summary=data.summary, amount=data.amount, months=data.months, comment=data.comment,
            idempotency_key=data.idempotency_key, start_month=data.start_month))
        return _detail(db, case.id, org_scope)

    @get("/{case_id:int}", opt=requires(Perm.household_read), sync_to_thread=True)
    def detail(self, db: Session, org_scope: Scope, case_id: Id) -> CaseDetail:
        return _detail(db, case_id, org_scope)

    @post("/{case_id:int}/review", opt=requires(Perm.case_review), sync_to_thread=True)
    def review(self, db: Session, org_scope: Scope, case_id: Id, data: StepIn | None = None) -> CaseDetail:
        """审核：必备材料齐全；审核人不能是登记人或审批人。"""
        return _act(db, org_scope, case_id, Action.review, data)

    @post("/{case_id:int}/approve", opt=requires(Perm.case_approve), sync_to_thread=True)
    def approve(self, db: Session, org_scope: Scope, case_id: Id, data: StepIn | None = None) -> CaseDetail:
        """审批：审批人不能是登记人或审核人。"""
        return _act(db, org_scope, case_id, Action.approve, data)

    @post("/{case_id:int}/reject", opt=requires(Perm.case_review), sync_to_thread=True)
    def reject(self, db: Session, org_scope: Scope, case_id: Id, data: StepIn) -> CaseDetail:
        """驳回（发放前），须写明理由。"""
        return _act(db, org_scope, case_id, Action.reject, data)

    @post("/{case_id:int}/withdraw", opt=requires(Perm.household_write), sync_to_thread=True)
    def withdraw(self, db: Session, org_scope: Scope, case_id: Id, data: StepIn) -> CaseDetail:
        """撤回（发放前），须写明理由。"""
        return _act(db, org_scope, case_id, Action.withdraw, data)

    @post("/{case_id:int}/close", opt=requires(Perm.household_write), sync_to_thread=True)
    def close(self, db: Session, org_scope: Scope, case_id: Id, data: StepIn | None = None) -> CaseDetail:
        """结案（发放后；应急救助须已审核）。"""
        return _act(db, org_scope, case_id, Action.close, data)

    @post("/{case_id:int}/pay", opt=requires(Perm.fund_write), sync_to_thread=True)
    def pay(self, request: Request[Any, Any, Any], db: Session, org_scope: Scope, case_id: Id,
            data: PayIn | None = None) -> CaseDetail:
        """发放：从项目的资金记一笔支出，同一事务标记已发放；账簿拒绝时案件仍为已审批并记下原因（422）。"""
        data = data or PayIn()
        case = services.pay_case(db, org_scope, Path(request.app.state.settings.ledger_dir), case_id,
                                 on=data.date, voucher=data.voucher, via=data.via)
        return _detail(db, case.id, org_scope)

    @post("/{case_id:int}/documents", opt=requires(Perm.household_write), sync_to_thread=True)
    def upload(self, request: Request[Any, Any, Any], db: Session, org_scope: Scope, case_id: Id,
               data: Annotated[DocumentUpload, Body(media_type=RequestEncodingType.MULTI_PART)]) -> DocumentOut:
        """上传材料（JPEG/PNG/PDF，≤5 MB，按内容判断，与走访签字单同一规则）。"""
        if not isinstance(data.file, UploadFile):
            raise Invalid("请上传材料文件（字段名 file）", field="file")
        content = data.file.file.read(MAX_SHEET_BYTES + 1)
        doc = services.add_document(db, org_scope, Path(request.app.state.settings.upload_dir), case_id,
                                    data.doc_type, content)
        return DocumentOut.of(doc)


def _act(db: Session, scope: Scope, case_id: int, action: Action, data: StepIn | None) -> CaseDetail:
    case = services.act(db, scope, case_id, action, data.comment if data else None)
    return _detail(db, case.id, scope)


def _detail(db: Session, case_id: int, scope: Scope, today: dt.date | None = None) -> CaseDetail:
    case = services.get_case(db, scope, case_id)
    _scheme, version = services.scheme_and_version(db, case)
    docs = services.documents_of(db, case.id)
    base = CaseOut.of(case, today)
    return CaseDetail(**base.model_dump(), scheme_version=version.version, required_documents=list(version.documents),
                      missing_documents=missing_documents(version.documents, [d.doc_type for d in docs]),
                      steps=[StepOut.of(s) for s in services.steps_of(db, case.id)],
                      documents=[DocumentOut.of(d) for d in docs])


ROUTES = [SchemeController, CaseController]
