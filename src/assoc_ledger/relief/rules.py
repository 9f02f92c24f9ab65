"""The rules of relief cases as pure values and checks: states and steps, the three-users rule, amounts,
eligibility on the case date. No database: ``services`` reads the facts and hands them here.

规范救助标准和程序: a case is registered (登记), reviewed (审核), approved (审批), paid (发放) and closed
(结案), or rejected (驳回) / withdrawn (撤回) before payment. Emergency relief (应急救助) is approved and
paid first and reviewed afterwards, within the days its scheme sets.

长效帮扶 paid by the month (a ``long_term`` scheme whose version's amount rule is ``monthly``) has no pay step:
once approved it is paid month by month by the monthly entitlement run (``entitlements.long_term``), from its
start month through its end month, and it is never paid as a one-off. It is closed (结案/终止) from approved;
the month of closing becomes its end month when that is earlier than the planned end. It can be rejected or
withdrawn only before approval (an approved case may already have months paid).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from assoc_ledger.core.errors import Problem
from assoc_ledger.fund.chart import CATEGORIES, FUND_ZH, RESTRICTED_PURPOSES, Category, Fund
from assoc_ledger.households.rules import KIND_ZH, Facts, KindCode


class State(StrEnum):
    registered = "registered"
    reviewed = "reviewed"
    approved = "approved"
    paid = "paid"
    closed = "closed"
    rejected = "rejected"
    withdrawn = "withdrawn"


STATE_ZH = {State.registered: "已登记", State.reviewed: "已审核", State.approved: "已审批", State.paid: "已发放",
            State.closed: "已结案", State.rejected: "已驳回", State.withdrawn: "已撤回"}


class Action(StrEnum):
    register = "register"  # 登记
    review = "review"  # 审核
    approve = "approve"  # 审批
    pay = "pay"  # 发放（记入公益金账簿）
    close = "close"  # 结案
    reject = "reject"  # 驳回
    withdraw = "withdraw"  # 撤回
    pay_refused = "pay_refused"  # 账簿拒绝付款（余额不足、月份已结账），案件仍为已审批
    reversed = "reversed"  # 账簿冲销了付款分录，案件重新打开为已审批


ACTION_ZH = {Action.register: "登记", Action.review: "审核", Action.approve: "审批", Action.pay: "发放",
             Action.close: "结案", Action.reject: "驳回", Action.withdraw: "撤回",
             Action.pay_refused: "发放未成功", Action.reversed: "冲销重开"}

# The steps a user takes through the case API; pay_refused and reversed are recorded by the system.
USER_ACTIONS = (Action.review, Action.approve, Action.pay, Action.close, Action.reject, Action.withdraw)
BEFORE_PAYMENT = frozenset({State.registered, State.reviewed, State.approved})
FINAL = frozenset({State.closed, State.rejected, State.withdrawn})


class AmountRule(StrEnum):
    fixed = "fixed"  # 定额
    ceiling = "ceiling"  # 限额以内
    monthly = "monthly"  # 按月，若干月


AMOUNT_RULE_ZH = {AmountRule.fixed: "定额", AmountRule.ceiling: "限额以内", AmountRule.monthly: "按月"}

# The ten relief categories (帮扶救助类别) of fund/chart.py; publicity and administration are not relief.
RELIEF_CATEGORIES: tuple[Category, ...] = tuple(c for c in Category if CATEGORIES[c].relief)


@dataclass(frozen=True)
class Flow:
    """How a scheme's cases move: a review before approval, or (emergency) approval first, review after payment."""

    review_first: bool
    review_due_days: int | None = None
    monthly: bool = False  # 长效帮扶 paid by the month: no pay step, closed from approved

    @classmethod
    def of(cls, review_steps: Sequence[str], review_due_days: int | None, monthly: bool = False) -> Flow:
        return cls(review_first=list(review_steps) == ["review", "approve"], review_due_days=review_due_days,
                   monthly=monthly)


def paid_monthly(category: str, amount_rule: str) -> bool:
    """Whether cases of a scheme version are paid month by month by the entitlement runs (长效帮扶 按月)."""
    return category == Category.long_term.value and amount_rule == AmountRule.monthly.value


def next_state(flow: Flow, state: State, action: Action, *, reviewed: bool) -> State | None:
    """The state after ``action``, or None when the step is out of order (the one table of the state machine)."""
    if flow.monthly:
        if action is Action.pay:
            return None  # paid by the monthly runs, never as a one-off
        if action is Action.close:
            return State.closed if state is State.approved else None
        if action in (Action.reject, Action.withdraw):
            if state not in (State.registered, State.reviewed):
                return None
            return State.rejected if action is Action.reject else State.withdrawn
    if action is Action.review:
        if flow.review_first:
            return State.reviewed if state is State.registered else None
        # Emergency: reviewed once, after payment (paid, or closed only after review).
        return state if state is State.paid and not reviewed else None
    if action is Action.approve:
        wanted = State.reviewed if flow.review_first else State.registered
        return State.approved if state is wanted else None
    if action is Action.pay:
        return State.paid if state is State.approved else None
    if action is Action.close:
        return State.closed if state is State.paid and (flow.review_first or reviewed) else None
    if action in (Action.reject, Action.withdraw):
        if state not in BEFORE_PAYMENT:
            return None
        return State.rejected if action is Action.reject else State.withdrawn
    if action is Action.pay_refused:
        return state if state is State.approved else None
    if action is Action.reversed:
        return State.approved if state in (State.paid, State.closed) else None
    return None


def out_of_order(state: State, action: Action, flow: Flow, reviewed: bool) -> str:
    """Why a step cannot be taken now, in the user's words."""
    if action is Action.pay and flow.monthly:
        return "长效帮扶按月发放：审批后由奖励扶助月度发放（entitlements run）逐月支付，不能一次性发放"
    if action in (Action.reject, Action.withdraw) and flow.monthly and state is State.approved:
        return "长效帮扶已审批、可能已按月发放，不能驳回或撤回；如需停止请结案（终止）"
    if action is Action.close and state is State.paid and not flow.review_first and not reviewed:
        return "应急救助须在发放后完成审核，才能结案"
    if action is Action.review and not flow.review_first and state is not State.paid:
        return "应急救助先审批发放、后审核：案件发放后才能审核" if not reviewed else "该案件已审核"
    return f"步骤顺序不对：案件当前为“{STATE_ZH[state]}”，不能{ACTION_ZH[action]}"


@dataclass(frozen=True)
class Duties:
    """Who took the case's roles so far (user ids)."""

    recorded_by: int | None
    reviewed_by: int | None
    approved_by: int | None


def check_duties(action: Action, user_id: int, duties: Duties) -> list[Problem]:
    """Separation of duties: the recorder, the reviewer and the approver are three different users."""
    problems: list[Problem] = []
    if action is Action.review:
        if user_id == duties.recorded_by:
            problems.append(Problem("user", "登记人不能审核自己登记的案件（登记、审核、审批须由三人分别进行）"))
        elif user_id == duties.approved_by:
            problems.append(Problem("user", "审批人不能再审核同一案件（登记、审核、审批须由三人分别进行）"))
    elif action is Action.approve:
        if user_id == duties.recorded_by:
            problems.append(Problem("user", "登记人不能审批自己登记的案件（登记、审核、审批须由三人分别进行）"))
        elif user_id == duties.reviewed_by:
            problems.append(Problem("user", "审核人不能再审批同一案件（登记、审核、审批须由三人分别进行）"))
    elif action is Action.reject and user_id == duties.recorded_by:
        problems.append(Problem("user", "登记人不能驳回自己登记的案件，如需取消请撤回"))
    return problems


@dataclass(frozen=True)
class Standard:
    """A scheme version's amount rule as values (amounts in yuan)."""

    rule: AmountRule
    amount: Decimal  # the fixed amount, the ceiling, or the amount per month
    months: int | None = None


def case_amount(standard: Standard, asked: Decimal | None, months: int | None) -> tuple[Decimal, list[Problem]]:
    """The amount a case pays under its standard, or the problems with what was asked."""
    if standard.rule is AmountRule.fixed:
        if asked is not None and asked != standard.amount:
            return asked, [Problem("amount", f"该项目为定额 {standard.amount} 元，申请金额 {asked} 元不符")]
        return standard.amount, []
    if standard.rule is AmountRule.ceiling:
        if asked is None:
            return Decimal(0), [Problem("amount", f"请填写申请金额（上限 {standard.amount} 元）")]
        if asked > standard.amount:
            return asked, [Problem("amount", f"申请金额 {asked} 元超过该项目上限 {standard.amount} 元")]
        return asked, []
    if months is None or months < 1:
        return Decimal(0), [Problem("months", "按月救助须填写月数（至少 1 个月）")]
    if standard.months is not None and months > standard.months:
        return Decimal(0), [Problem("months", f"月数 {months} 超过该项目最长期限 {standard.months} 个月")]
    total = standard.amount * months
    if asked is not None and asked != total:
        return asked, [Problem("amount", f"按月 {standard.amount} 元 × {months} 个月应为 {total} 元，"
                                         f"申请金额 {asked} 元不符")]
    return total, []


def check_eligible(facts: Facts, kinds: Iterable[str], home_path: str | None, scheme_path: str,
                   on_text: str) -> list[Problem]:
    """The household on the case date: registered, still in the county, in the scheme's area, of an eligible kind."""
    if not facts.registered:
        return [Problem("case_date", f"该家庭在 {on_text} 尚未登记")]
    if not facts.active:
        return [Problem("household_id", f"该家庭在 {on_text} 已迁出本县，不能申请")]
    problems: list[Problem] = []
    if home_path is None or not home_path.startswith(scheme_path):
        problems.append(Problem("household_id", f"该家庭在 {on_text} 不在本项目的实施范围内"))
    wanted = [KindCode(k) for k in kinds]
    held = {k.kind for k in facts.kinds}
    if wanted and not held.intersection(wanted):
        names = "、".join(KIND_ZH[k] for k in wanted)
        problems.append(Problem("household_id", f"该家庭在 {on_text} 不是本项目的救助对象（须为：{names}）"))
    return problems


def check_fund(category: Category, fund: Fund) -> list[Problem]:
    """A restricted fund pays only the categories it is earmarked for (限定用途, fund/chart.py)."""
    if fund is Fund.general:
        return []
    if CATEGORIES[category].account not in RESTRICTED_PURPOSES.get(fund, frozenset()):
        return [Problem("fund", f"{FUND_ZH[fund]}不能用于{CATEGORIES[category].zh}")]
    return []


def missing_documents(required: Iterable[str], uploaded: Iterable[str]) -> list[str]:
    have = set(uploaded)
    return [d for d in required if d not in have]
