"""API shapes for relief schemes and cases: amounts are strings in yuan, states and categories by code and label."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field

from assoc_ledger.core.money import from_fen
from assoc_ledger.core.schemas import IdField, Schema
from assoc_ledger.fund.chart import CATEGORIES, Category
from assoc_ledger.households.rules import KindCode
from assoc_ledger.relief.models import CaseDocument, CaseStep, ReliefCase, Scheme, SchemeVersion
from assoc_ledger.relief.rules import ACTION_ZH, AMOUNT_RULE_ZH, STATE_ZH, Action, AmountRule, State
from assoc_ledger.relief.services import VersionSpec

Amount = str
Step = Literal["review", "approve"]


def _two_steps() -> list[Step]:
    return ["review", "approve"]


def _yuan(fen: int | None) -> str | None:
    return None if fen is None else str(from_fen(fen))


class VersionIn(Schema):
    effective_from: dt.date = Field(description="新标准自何日起施行")
    amount_rule: AmountRule = Field(description="fixed 定额 / ceiling 限额以内 / monthly 按月")
    amount: Amount | None = Field(default=None, max_length=20, description="定额、上限或每月金额（元，字符串）")
    standard: str | None = Field(default=None, max_length=40, description="不填金额时按此救助标准（fund.standards）")
    months: int | None = Field(default=None, ge=1, le=600, description="按月救助的最长月数")
    fund: str = Field(default="General", max_length=40, description="付款资金：General 或限定用途资金")
    household_kinds: list[KindCode] = Field(default_factory=list, max_length=6,
                                            description="可申请的家庭类别；空为不限")
    documents: list[str] = Field(default_factory=list, max_length=20, description="审核时必备的材料")
    review_steps: list[Step] = Field(default_factory=_two_steps, max_length=2,
                                     description="[review, approve]；应急救助 [approve]（发放后限期审核）")
    review_due_days: int | None = Field(default=None, ge=1, le=365, description="应急救助：发放后几天内审核")
    yearly_limit: int | None = Field(default=None, ge=1, le=366, description="每户每年最多件数；空为不限")
    ends_on: dt.date | None = None
    basis: str | None = Field(default=None, max_length=300, description="文件依据")

    def spec(self) -> VersionSpec:
        return VersionSpec(effective_from=self.effective_from, amount_rule=self.amount_rule.value, amount=self.amount,
                           standard=self.standard, months=self.months, fund=self.fund,
                           household_kinds=[k.value for k in self.household_kinds], documents=self.documents,
                           review_steps=list(self.review_steps), review_due_days=self.review_due_days,
                           yearly_limit=self.yearly_limit, ends_on=self.ends_on, basis=self.basis)


class SchemeCreate(VersionIn):
    code: str = Field(min_length=1, max_length=60, description="项目代码（唯一）")
    name: str = Field(min_length=1, max_length=100, description="项目名称")
    category: Category = Field(description="帮扶救助类别（十类之一）")
    org_id: IdField = Field(description="实施并付款的组织（县、乡镇、街道）")


class VersionOut(Schema):
    id: int
    version: int
    effective_from: dt.date
    ends_on: dt.date | None
    fund: str
    amount_rule: str
    amount_rule_zh: str
    amount: str | None
    standard: str | None
    months: int | None
    household_kinds: list[str]
    documents: list[str]
    review_steps: list[str]
    review_due_days: int | None
    yearly_limit: int | None
    basis: str | None

    @classmethod
    def of(cls, v: SchemeVersion) -> VersionOut:
        return cls(id=v.id, version=v.version, effective_from=v.effective_from, ends_on=v.ends_on, fund=v.fund,
                   amount_rule=v.amount_rule, amount_rule_zh=AMOUNT_RULE_ZH[AmountRule(v.amount_rule)],
                   amount=_yuan(v.amount_fen), standard=v.standard, months=v.months,
                   household_kinds=list(v.household_kinds), documents=list(v.documents),
                   review_steps=list(v.review_steps), review_due_days=v.review_due_days, yearly_limit=v.yearly_limit,
                   basis=v.basis)


class SchemeOut(Schema):
    id: int
    code: str
    name: str
    category: str
    category_zh: str
    expense_account: str
    org_id: int
    versions: list[VersionOut]

    @classmethod
    def of(cls, s: Scheme, versions: list[SchemeVersion]) -> SchemeOut:
        line = CATEGORIES[Category(s.category)]
        return cls(id=s.id, code=s.code, name=s.name, category=s.category, category_zh=line.zh,
                   expense_account=line.account, org_id=s.org_id, versions=[VersionOut.of(v) for v in versions])


class CaseCreate(Schema):
    scheme_id: IdField
    household_id: IdField
    case_date: dt.date = Field(description="救助事由发生（申请）日期：按此日的家庭情况和项目标准审查")
    payee: str = Field(min_length=1, max_length=100, description="收款人")
    summary: str = Field(min_length=1, max_length=500, description="救助事由")
    amount: Amount | None = Field(default=None, max_length=20, description="申请金额（元，字符串）；定额项目可省略")
    months: int | None = Field(default=None, ge=1, le=600, description="按月救助的月数")
    comment: str | None = Field(default=None, max_length=500)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=120)
    start_month: dt.date | None = Field(default=None,
                                        description="长效帮扶按月发放的起始月（该月任一日；默认救助日期所在月）")


class StepIn(Schema):
    comment: str | None = Field(default=None, max_length=500, description="意见；驳回、撤回须写明理由")


class PayIn(Schema):
    date: dt.date | None = Field(default=None, description="发放日期（默认今天）")
    voucher: str | None = Field(default=None, max_length=60, description="凭证号（默认 救-案件号）")
    via: Literal["Bank", "Cash"] = "Bank"


class StepOut(Schema):
    seq: int
    action: str
    action_zh: str
    from_state: str | None
    to_state: str
    user_id: int | None
    username: str | None
    at: dt.datetime
    date: dt.date
    comment: str | None
    data: dict[str, Any]

    @classmethod
    def of(cls, s: CaseStep) -> StepOut:
        return cls(seq=s.seq, action=s.action, action_zh=ACTION_ZH[Action(s.action)], from_state=s.from_state,
                   to_state=s.to_state, user_id=s.user_id, username=s.username, at=s.at, date=s.step_date,
                   comment=s.comment, data=dict(s.data or {}))


class DocumentOut(Schema):
    id: int
    doc_type: str
    media_type: str
    sha256: str
    uploaded_at: dt.datetime
    uploaded_by: str | None

    @classmethod
    def of(cls, d: CaseDocument) -> DocumentOut:
        return cls(id=d.id, doc_type=d.doc_type, media_type=d.media_type, sha256=d.sha256, uploaded_at=d.uploaded_at,
                   uploaded_by=d.uploaded_by)


class CaseOut(Schema):
    id: int
    scheme_id: int
    version_id: int
    household_id: int
    org_id: int
    category: str
    category_zh: str
    case_date: dt.date
    amount: str
    months: int | None
    start_month: str | None = Field(description="长效帮扶按月发放：起始月份 YYYY-MM（由月度发放逐月支付）")
    end_month: str | None = Field(description="长效帮扶按月发放：截止月份 YYYY-MM（结案提前终止时为结案月份）")
    payee: str
    summary: str
    state: str
    state_zh: str
    recorded_by_id: int | None
    reviewed_by_id: int | None
    approved_by_id: int | None
    fund_entry_id: int | None
    paid_on: dt.date | None
    pay_problem: str | None = Field(description="账簿未能付款的原因（案件仍为已审批）")
    review_due_on: dt.date | None
    reviewed_on: dt.date | None
    review_late: bool = Field(description="应急救助：审核晚于期限")
    review_overdue: bool = Field(description="应急救助：已过期限仍未审核")

    @classmethod
    def of(cls, c: ReliefCase, today: dt.date | None = None) -> CaseOut:
        today = today or dt.date.today()
        due = c.review_due_on
        return cls(id=c.id, scheme_id=c.scheme_id, version_id=c.version_id, household_id=c.household_id,
                   org_id=c.org_id, category=c.category, category_zh=CATEGORIES[Category(c.category)].zh,
                   case_date=c.case_date, amount=str(from_fen(c.amount_fen)), months=c.months, payee=c.payee,
                   start_month=f"{c.start_month:%Y-%m}" if c.start_month else None,
                   end_month=f"{c.end_month:%Y-%m}" if c.end_month else None, summary=c.summary,
                   state=c.state, state_zh=STATE_ZH[State(c.state)],
                   recorded_by_id=c.recorded_by_id, reviewed_by_id=c.reviewed_by_id, approved_by_id=c.approved_by_id,
                   fund_entry_id=c.fund_entry_id, paid_on=c.paid_on, pay_problem=c.pay_problem, review_due_on=due,
                   reviewed_on=c.reviewed_on,
                   review_late=bool(due and c.reviewed_on and c.reviewed_on > due),
                   review_overdue=bool(due and c.reviewed_on is None and c.state == State.paid.value and today > due))


class CaseDetail(CaseOut):
    scheme_version: int
    required_documents: list[str]
    missing_documents: list[str]
    steps: list[StepOut]
    documents: list[DocumentOut]


class CasePage(Schema):
    items: list[CaseOut]
    limit: int
    next_after: int | None
