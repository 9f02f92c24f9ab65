"""Relief schemes and cases through the caller's scope: register, review, approve, pay, close.

Every refusal is judged before anything is written (the rules are in ``rules``). Paying posts exactly one
entry through the books (``fund.service.post_payment``) and marks the case paid inside the writer's own
transaction (``within``); a payment the books refuse (balance too low, month closed) leaves the case
approved with the reason recorded. A case is reopened only by the books' reversal of its entry: the
flush hook below sees the reversing entry and reopens the case in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session, aliased

from assoc_ledger.auth.scope import Perm, Principal, Scope
from assoc_ledger.core.errors import Conflict, DomainError, Invalid, NotFound, Problems
from assoc_ledger.core.money import MoneyError, from_fen, parse_amount, to_fen
from assoc_ledger.fund import service as fund_service
from assoc_ledger.fund import standards
from assoc_ledger.fund.chart import CATEGORIES, Category, Fund
from assoc_ledger.fund.models import FundBook, FundEntry
from assoc_ledger.households import services as households
from assoc_ledger.households.rules import KindCode
from assoc_ledger.households.uploads import judge, stored
from assoc_ledger.orgs.models import Organisation
from assoc_ledger.orgs.services import get_org
from assoc_ledger.relief.models import CaseDocument, CaseStep, ReliefCase, Scheme, SchemeVersion
from assoc_ledger.relief.rules import (
    FINAL,
    RELIEF_CATEGORIES,
    Action,
    AmountRule,
    Duties,
    Flow,
    Standard,
    State,
    case_amount,
    check_duties,
    check_eligible,
    check_fund,
    missing_documents,
    next_state,
    out_of_order,
    paid_monthly,
)

PAGE_MAX = 200
REVIEW_STEPS = (["review", "approve"], ["approve"])


# --- schemes -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionSpec:
    """A scheme's standard as typed (amount as text: money never passes through a float)."""

    effective_from: date
    amount_rule: str
    amount: str | None = None
    standard: str | None = None
    months: int | None = None
    fund: str = Fund.general.value
    household_kinds: Sequence[str] = ()
    documents: Sequence[str] = ()
    review_steps: Sequence[str] = ("review", "approve")
    review_due_days: int | None = None
    yearly_limit: int | None = None
    ends_on: date | None = None
    basis: str | None = None


def _version_row(category: Category, spec: VersionSpec, problems: Problems) -> SchemeVersion:
    """The version's columns from the spec; every problem with it goes to ``problems``."""
    try:
        fund = Fund(spec.fund)
    except ValueError:
        problems.add("fund", "资金应为 " + "、".join(f.value for f in Fund))
        fund = Fund.general
    for p in check_fund(category, fund):
        problems.add(p.field, p.message)
    try:
        rule = AmountRule(spec.amount_rule)
    except ValueError:
        problems.add("amount_rule", "金额规则应为 fixed（定额）、ceiling（限额以内）或 monthly（按月）")
        rule = AmountRule.fixed
    amount_fen: int | None = None
    if spec.amount not in (None, ""):
        try:
            amount_fen = to_fen(parse_amount(spec.amount))
        except MoneyError as exc:
            problems.add("amount", str(exc))
    if (amount_fen is None) == (spec.standard is None):
        problems.add("amount", "须填写金额，或注明按哪项救助标准（二者选一）")
    if spec.standard is not None and spec.standard not in {s.value for s in standards.AidScheme}:
        problems.add("standard", "救助标准应为 " + "、".join(s.value for s in standards.AidScheme))
    if spec.months is not None and spec.months < 1:
        problems.add("months", "月数至少为 1")
    for i, kind in enumerate(spec.household_kinds):
        if kind not in {k.value for k in KindCode}:
            problems.add(f"household_kinds[{i}]", "家庭类别应为 " + "、".join(k.value for k in KindCode))
    docs = [d.strip() for d in spec.documents]
    if any(not d or len(d) > 40 for d in docs) or len(set(docs)) != len(docs):
        problems.add("documents", "材料名称不能为空、不能重复、每项最多 40 字")
    steps = list(spec.review_steps)
    if steps not in REVIEW_STEPS:
        problems.add("review_steps", "审核步骤应为 [review, approve]，或应急救助的 [approve]（发放后限期审核）")
    elif steps == ["approve"] and category is not Category.emergency:
        problems.add("review_steps", "只有应急救助可以先审批发放、后审核")
    elif steps == ["approve"] and not spec.review_due_days:
        problems.add("review_due_days", "应急救助须规定发放后几天内完成审核")
    if spec.review_due_days is not None and not 1 <= spec.review_due_days <= 365:
        problems.add("review_due_days", "审核期限应为 1–365 天")
    if spec.yearly_limit is not None and spec.yearly_limit < 1:
        problems.add("yearly_limit", "每户每年次数至少为 1（不限请留空）")
    if spec.ends_on is not None and spec.ends_on < spec.effective_from:
        problems.add("ends_on", "结束日期早于生效日期")
    return SchemeVersion(effective_from=spec.effective_from, ends_on=spec.ends_on, fund=fund.value,
                         amount_rule=rule.value, amount_fen=amount_fen, standard=spec.standard, months=spec.months,
                         household_kinds=list(spec.household_kinds), documents=docs, review_steps=steps,
                         review_due_days=spec.review_due_days, yearly_limit=spec.yearly_limit,
                         basis=(spec.basis or "").strip() or None)


def create_scheme(session: Session, scope: Scope, *, code: str, name: str, category: str, org_id: int,
                  spec: VersionSpec) -> Scheme:
    """A scheme and its first standard (version 1), run by a fund-keeping organisation in scope."""
    org = get_org(session, org_id, scope)
    problems = Problems()
    code, name = code.strip(), name.strip()
    if not code or len(code) > 60:
        problems.add("code", "项目代码不能为空，最多 60 字符")
    if not name or len(name) > 100:
        problems.add("name", "项目名称不能为空，最多 100 字")
    try:
        cat = Category(category)
        if cat not in RELIEF_CATEGORIES:
            raise ValueError(category)
    except ValueError:
        problems.add("category", "类别应为 " + "、".join(c.value for c in RELIEF_CATEGORIES))
        cat = Category.general
    problems.raise_if_any(Invalid)
    if org.kind not in fund_service.BOOK_KINDS:
        problems.add("org_id", "救助项目由设公益金账簿的组织（县、乡镇、街道）实施")
    version = _version_row(cat, spec, problems)
    problems.raise_if_any()
    if session.scalar(select(Scheme.id).where(Scheme.code == code)) is not None:
        raise Conflict("项目代码已存在", field="code")
    by = households.recorder(session)[1]
    scheme = Scheme(code=code, name=name, category=cat.value, org_id=org.id, created_by=by)
    session.add(scheme)
    session.flush()
    version.scheme_id, version.version, version.created_by = scheme.id, 1, by
    session.add(version)
    session.flush()
    return scheme


def add_version(session: Session, scope: Scope, scheme_id: int, spec: VersionSpec) -> SchemeVersion:
    """A changed standard from a date on: a new version; cases registered earlier keep theirs."""
    scheme = get_scheme(session, scope, scheme_id, write=True)
    latest = versions_of(session, scheme.id)[-1]
    problems = Problems()
    version = _version_row(Category(scheme.category), spec, problems)
    if spec.effective_from <= latest.effective_from:
        problems.add("effective_from", f"新标准的生效日期须晚于现行第 {latest.version} 版的 {latest.effective_from}")
    problems.raise_if_any()
    version.scheme_id, version.version = scheme.id, latest.version + 1
    version.created_by = households.recorder(session)[1]
    session.add(version)
    session.flush()
    return version


def _visible(scope: Scope, path: str) -> bool:
    """A scheme is seen inside its organisation's subtree and by those above it."""
    return scope.contains(path) or any(p.startswith(path) for p in scope.paths)


def get_scheme(session: Session, scope: Scope, scheme_id: int, write: bool = False) -> Scheme:
    row = session.execute(select(Scheme, Organisation.path).join(Organisation, Organisation.id == Scheme.org_id)
                          .where(Scheme.id == scheme_id)).first()
    if row is None or not (scope.contains(row.path) if write else _visible(scope, row.path)):
        raise NotFound("救助项目不存在", field="scheme_id")
    scheme: Scheme = row[0]
    return scheme


def list_schemes(session: Session, scope: Scope, category: str | None = None) -> list[Scheme]:
    stmt = select(Scheme, Organisation.path).join(Organisation, Organisation.id == Scheme.org_id)
    if category is not None:
        stmt = stmt.where(Scheme.category == category)
    return [r[0] for r in session.execute(stmt.order_by(Scheme.id)) if _visible(scope, r.path)]


def versions_of(session: Session, scheme_id: int) -> list[SchemeVersion]:
    return list(session.scalars(select(SchemeVersion).where(SchemeVersion.scheme_id == scheme_id)
                                .order_by(SchemeVersion.version)))


def version_on(session: Session, scheme_id: int, on: date) -> SchemeVersion | None:
    """The version in force on a date: the latest one effective by then, unless the scheme ended before."""
    found = session.scalars(select(SchemeVersion).where(SchemeVersion.scheme_id == scheme_id,
                                                        SchemeVersion.effective_from <= on)
                            .order_by(SchemeVersion.effective_from.desc()).limit(1)).first()
    if found is None or (found.ends_on is not None and on > found.ends_on):
        return None
    return found


def standard_of(session: Session, scheme: Scheme, version: SchemeVersion, on: date) -> Standard:
    if version.amount_fen is not None:
        amount = from_fen(version.amount_fen)
    else:
        amount = standards.aid_standard(session, version.standard or "", scheme.org_id, on).amount
    return Standard(AmountRule(version.amount_rule), amount, version.months)


def flow_of(version: SchemeVersion, case: ReliefCase | None = None) -> Flow:
    """The case's flow; a case carrying a start month is 长效帮扶 paid by the month (``rules.paid_monthly``)."""
    return Flow.of(version.review_steps, version.review_due_days,
                   monthly=case is not None and case.start_month is not None)


def _month_after(day: date, months: int) -> date:
    """The first day of the month ``months`` after ``day``'s month (negative: before)."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


# --- cases ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseForm:
    scheme_id: int
    household_id: int
    case_date: date
    payee: str
    summary: str
    amount: str | None = None
    months: int | None = None
    comment: str | None = None
    idempotency_key: str | None = None
    start_month: date | None = None  # 长效帮扶 by the month: the first month paid (default: the case date's month)


def _actor(session: Session, scope: Scope) -> tuple[int, str | None]:
    """Who is acting: the request's principal, else the session's actor (CLI, demo). Steps need a user."""
    if scope.principal is not None:
        return scope.principal.user_id, scope.principal.username
    by_id, by_name = households.recorder(session)
    if by_id is None:
        raise DomainError("办理救助案件须以具体用户身份进行（登记、审核、审批分别由三人办理）", field="user")
    return by_id, by_name


def _text(problems: Problems, value: str | None, name: str, label: str, max_len: int, required: bool) -> str | None:
    cleaned = (value or "").strip()
    if not cleaned:
        if required:
            problems.add(name, f"{label}不能为空")
        return None
    if len(cleaned) > max_len:
        problems.add(name, f"{label}过长（最多 {max_len} 字）")
    return cleaned


def register_case(session: Session, scope: Scope, form: CaseForm, today: date | None = None) -> ReliefCase:
    """登记：judge the case against its scheme's version on the case date and the household's facts then."""
    today = today or date.today()
    user_id, username = _actor(session, scope)
    if form.idempotency_key:
        done = session.scalar(select(ReliefCase).where(ReliefCase.idem_key == form.idempotency_key))
        if done is not None:
            same = (done.scheme_id, done.household_id, done.case_date) == (form.scheme_id, form.household_id,
                                                                           form.case_date)
            if not same:
                raise Conflict("该幂等键已用于另一件案件，未写入任何数据", field="idempotency_key")
            return get_case(session, scope, done.id)
    scheme = get_scheme(session, scope, form.scheme_id)
    households.get_household(session, scope, form.household_id)
    shape = Problems()
    payee = _text(shape, form.payee, "payee", "收款人", 100, True) or ""
    summary = _text(shape, form.summary, "summary", "救助事由", 500, True) or ""
    comment = _text(shape, form.comment, "comment", "意见", 500, False)
    asked: Decimal | None = None
    if form.amount not in (None, ""):
        try:
            asked = parse_amount(form.amount)
        except MoneyError as exc:
            shape.add("amount", str(exc))
    if form.idempotency_key is not None and not 1 <= len(form.idempotency_key) <= 120:
        shape.add("idempotency_key", "幂等键为 1–120 个字符")
    shape.raise_if_any(Invalid)
    on_text = form.case_date.isoformat()
    if form.case_date > today:
        raise DomainError("救助日期不能晚于今天", field="case_date")
    version = version_on(session, scheme.id, form.case_date)
    if version is None:
        raise DomainError(f"{on_text} 该救助项目不在实施期内", field="case_date")
    problems = Problems()
    facts = households.facts_of(session, scope, form.household_id, on=form.case_date)
    home = session.get(Organisation, facts.org_id) if facts.org_id else None
    scheme_org = session.get(Organisation, scheme.org_id)
    assert scheme_org is not None  # foreign key
    for p in check_eligible(facts, version.household_kinds, home.path if home else None, scheme_org.path, on_text):
        problems.add(p.field, p.message)
    amount, amount_problems = case_amount(standard_of(session, scheme, version, form.case_date), asked, form.months)
    for p in amount_problems:
        problems.add(p.field, p.message)
    if version.yearly_limit is not None:
        year = form.case_date.year
        taken = session.scalar(select(func.count()).select_from(ReliefCase).where(
            ReliefCase.scheme_id == scheme.id, ReliefCase.household_id == form.household_id,
            ReliefCase.case_date >= date(year, 1, 1), ReliefCase.case_date <= date(year, 12, 31),
            ReliefCase.state.not_in([State.rejected.value, State.withdrawn.value]))) or 0
        if taken >= version.yearly_limit:
            problems.add("household_id", f"该家庭 {year} 年已有本项目案件 {taken} 件，"
                                         f"每户每年最多 {version.yearly_limit} 件")
    start, end = _monthly_span(session, scheme, version, form, problems)
    problems.raise_if_any()
    assert home is not None  # check_eligible refused a household with no home on the date
    case = ReliefCase(start_month=start, end_month=end,
                      scheme_id=scheme.id, version_id=version.id, household_id=form.household_id, org_id=home.id,
                      category=scheme.category, case_date=form.case_date, amount_fen=to_fen(amount),
                      months=form.months if version.amount_rule == AmountRule.monthly else None, payee=payee,
                      summary=summary, state=State.registered.value, recorded_by_id=user_id, pay_attempt=0,
                      idem_key=form.idempotency_key)
    session.add(case)
    session.flush()
    _step(session, case, Action.register, None, State.registered, user_id, username, today, comment)
    return case


def _monthly_span(session: Session, scheme: Scheme, version: SchemeVersion, form: CaseForm,
                  problems: Problems) -> tuple[date | None, date | None]:
    """长效帮扶 paid by the month: its start and planned end month; one such case per household at a time, so a
    household-month of long-term relief is due once (the runs and the reconciliation count household-months)."""
    if not paid_monthly(scheme.category, version.amount_rule) or not form.months or form.months < 1:
        if form.start_month is not None:
            problems.add("start_month", "只有按月发放的长效帮扶案件才有起始月份")
        return None, None
    first = _month_after(form.case_date, 0)
    start = _month_after(form.start_month, 0) if form.start_month is not None else first
    if start < first:
        problems.add("start_month", f"起始月份不能早于救助日期所在月（{first:%Y-%m}）")
    end = _month_after(start, form.months - 1)
    other = session.scalars(select(ReliefCase).where(
        ReliefCase.household_id == form.household_id, ReliefCase.start_month.is_not(None),
        ReliefCase.state.not_in([State.rejected.value, State.withdrawn.value]),
        ReliefCase.start_month <= end, ReliefCase.end_month >= start).order_by(ReliefCase.id).limit(1)).first()
    if other is not None and other.start_month is not None and other.end_month is not None:
        problems.add("household_id", f"该家庭已有长效帮扶案件 {other.id}（{other.start_month:%Y-%m} 至 "
                                     f"{other.end_month:%Y-%m} 按月发放），期间不能重叠；如需调整请先将其结案")
    return start, end


def _step(session: Session, case: ReliefCase, action: Action, from_state: State | None, to_state: State,
          user_id: int | None, username: str | None, on: date, comment: str | None,
          data: dict[str, Any] | None = None) -> CaseStep:
    with session.no_autoflush:
        seq = (session.scalar(select(func.max(CaseStep.seq)).where(CaseStep.case_id == case.id)) or 0) + 1
    step = CaseStep(case_id=case.id, seq=seq, action=action.value, from_state=from_state.value if from_state else None,
                    to_state=to_state.value, user_id=user_id, username=username, step_date=on, comment=comment,
                    data=data or {})
    session.add(step)
    return step


def get_case(session: Session, scope: Scope, case_id: int) -> ReliefCase:
    """404 for a case whose household's organisation is outside the caller's subtree, as for a missing one."""
    row = session.execute(select(ReliefCase, Organisation.path).join(Organisation, Organisation.id == ReliefCase.org_id)
                          .where(ReliefCase.id == case_id)).first()
    if row is None or not scope.contains(row.path):
        raise NotFound("救助案件不存在", field="case_id")
    case: ReliefCase = row[0]
    return case


def act(session: Session, scope: Scope, case_id: int, action: Action, comment: str | None = None,
        today: date | None = None) -> ReliefCase:
    """审核、审批、驳回、撤回、结案: one step, in order, by a user allowed to take it on this case."""
    if action not in (Action.review, Action.approve, Action.reject, Action.withdraw, Action.close):
        raise Invalid("不支持的操作", field="action")
    today = today or date.today()
    case = get_case(session, scope, case_id)
    user_id, username = _actor(session, scope)
    shape = Problems()
    text = _text(shape, comment, "comment", "意见", 500, action in (Action.reject, Action.withdraw))
    shape.raise_if_any(Invalid)
    version = session.get(SchemeVersion, case.version_id)
    assert version is not None  # foreign key
    flow = flow_of(version, case)
    state = State(case.state)
    reviewed = case.reviewed_by_id is not None
    after = next_state(flow, state, action, reviewed=reviewed)
    if after is None:
        raise DomainError(out_of_order(state, action, flow, reviewed), field="action")
    duties = check_duties(action, user_id, Duties(case.recorded_by_id, case.reviewed_by_id, case.approved_by_id))
    if duties:
        raise DomainError(problems=duties)
    values: dict[str, Any] = {"state": after.value}
    data: dict[str, Any] = {}
    if action is Action.review:
        have = session.scalars(select(CaseDocument.doc_type).where(CaseDocument.case_id == case.id)).all()
        missing = missing_documents(version.documents, have)
        if missing:
            raise DomainError(f"缺少必备材料：{'、'.join(missing)}，请先上传再审核", field="documents")
        values.update(reviewed_by_id=user_id, reviewed_on=today)
        if case.review_due_on is not None:
            data["late_days"] = max(0, (today - case.review_due_on).days)
    elif action is Action.approve:
        values["approved_by_id"] = user_id
    elif action is Action.close and flow.monthly and case.end_month is not None:
        # 终止: paid through the month of closing, not after (never later than the planned end).
        values["end_month"] = min(case.end_month, _month_after(today, 0))
        data["end_month"] = f"{values['end_month']:%Y-%m}"
    done = session.execute(update(ReliefCase).where(ReliefCase.id == case.id, ReliefCase.state == state.value)
                           .values(**values).execution_options(synchronize_session=False))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("案件状态已被他人改变，请刷新后再办理", field="action")
    _step(session, case, action, state, after, user_id, username, today, text, data)
    session.flush()
    session.refresh(case)
    return case


def _book_of(session: Session, scheme: Scheme) -> FundBook | None:
    return session.scalar(select(FundBook).where(FundBook.org_id == scheme.org_id))


def pay_key(case: ReliefCase) -> str:
    """The payment's idempotency key: a retry after a crash answers the first entry; a reversal moves it on."""
    return f"relief-case-{case.id}-{case.pay_attempt}"


def pay_case(session: Session, scope: Scope, ledger_dir: Path, case_id: int, *, on: date | None = None,
             voucher: str | None = None, via: str = "Bank") -> ReliefCase:
    """发放：one entry from the scheme's fund, with the case marked paid in the same transaction.

    A refusal by the books (balance too low, month closed, no book) leaves the case approved and records the
    reason on it (a ``pay_refused`` step), then answers the books' problems.
    """
    on = on or date.today()
    case = get_case(session, scope, case_id)
    user_id, username = _actor(session, scope)
    version = session.get(SchemeVersion, case.version_id)
    scheme = session.get(Scheme, case.scheme_id)
    assert version is not None and scheme is not None  # foreign keys
    state = State(case.state)
    flow = flow_of(version, case)
    if next_state(flow, state, Action.pay, reviewed=case.reviewed_by_id is not None) is None:
        raise DomainError(out_of_order(state, Action.pay, flow, case.reviewed_by_id is not None), field="action")
    if on < case.case_date:
        raise DomainError(f"发放日期 {on} 早于救助日期 {case.case_date}", field="date")
    case_id, attempt, key = case.id, case.pay_attempt, pay_key(case)
    book = _book_of(session, scheme)
    runner = session.get(Organisation, scheme.org_id)
    assert runner is not None  # foreign key
    if not scope.narrowed(Perm.fund_write).contains(runner.path):
        # The case is in the caller's subtree but the paying book is above it (a county scheme, a town clerk).
        raise DomainError(f"该项目由{runner.name}的公益金账簿支付，须由有权在该账簿记账的人员发放", field="book")
    book_id = book.id if book is not None else None
    payment: dict[str, Any] = {
        "amount": str(from_fen(case.amount_fen)), "category": scheme.category, "payee": case.payee,
        "fund": version.fund, "via": via, "voucher": voucher or f"救-{case_id}" + (f"-{attempt}" if attempt else ""),
        "narration": f"{scheme.name}（{CATEGORIES[Category(scheme.category)].zh}）案件{case_id}",
        "meta": {"relief-case": str(case_id), "scheme-version": f"{scheme.code}/v{version.version}",
                 "household": str(case.household_id)}}
    due = on + timedelta(days=version.review_due_days) if version.review_due_days else None

    def within(s: Session, entries: list[FundEntry]) -> None:
        entry = entries[0]
        done = s.execute(update(ReliefCase).where(ReliefCase.id == case_id, ReliefCase.state == State.approved.value,
                                                  ReliefCase.pay_attempt == attempt)
                         .values(state=State.paid.value, fund_entry_id=entry.id, paid_on=on, pay_problem=None,
                                 review_due_on=due).execution_options(synchronize_session=False))
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("案件已发放或状态已改变，未记账", field="case_id")
        row = s.get(ReliefCase, case_id)
        assert row is not None
        _step(s, row, Action.pay, State.approved, State.paid, user_id, username, on, None,
              {"book_id": entry.book_id, "seq": entry.seq, "entry_id": entry.id, "key": key})

    try:
        if book_id is None:
            raise DomainError("实施该项目的组织尚未开设公益金账簿", field="book")
        session.rollback()  # only reads so far; the writer owns the commit point
        fund_service.post_payment(session, ledger_dir, scope.narrowed(Perm.fund_write), book_id, key=key, date=on,
                                  within=within, **payment)
    except DomainError as exc:
        if type(exc) is DomainError:  # the books refused (422): the case stays approved and shows why
            _record_refusal(session, case_id, exc, user_id, username, on)
        raise
    session.expire_all()
    paid = session.get(ReliefCase, case_id)
    assert paid is not None
    return paid


def _record_refusal(session: Session, case_id: int, exc: DomainError, user_id: int, username: str | None,
                    on: date) -> None:
    session.rollback()
    reason = exc.detail[:500]
    done = session.execute(update(ReliefCase).where(ReliefCase.id == case_id, ReliefCase.state == State.approved.value)
                           .values(pay_problem=reason).execution_options(synchronize_session=False))
    if done.rowcount == 1:  # type: ignore[attr-defined]
        case = session.get(ReliefCase, case_id)
        assert case is not None
        _step(session, case, Action.pay_refused, State.approved, State.approved, user_id, username, on, reason,
              {"problems": exc.errors})
        session.commit()
    else:
        session.rollback()


def reverse_case(session: Session, scope: Scope, ledger_dir: Path, case_id: int, *, reason: str, on: date,
                 voucher: str, key: str | None = None) -> ReliefCase:
    """冲销: the books reverse the case's entry (``fund.service.reverse``); the flush hook reopens the case."""
    case = get_case(session, scope, case_id)
    if case.fund_entry_id is None:
        raise DomainError("该案件没有已记账的发放，不能冲销", field="case_id")
    entry = session.get(FundEntry, case.fund_entry_id)
    assert entry is not None
    key = key or f"relief-case-{case.id}-{case.pay_attempt}-reversal"
    session.rollback()
    fund_service.reverse(session, ledger_dir, scope.narrowed(Perm.fund_write), entry.book_id, entry.seq, key=key,
                         date=on, reason=reason, voucher=voucher)
    session.expire_all()
    return get_case(session, scope, case_id)


@event.listens_for(Session, "before_flush")
def _steps_append_only_and_reversals_reopen(session: Session, _ctx: object, _instances: object) -> None:
    """Steps are never changed; a reversing entry of a paid case's payment reopens the case (same transaction)."""
    for obj in session.deleted:
        if isinstance(obj, CaseStep):
            raise RuntimeError("救助案件的办理记录只能追加，不能删除")
    for obj in session.dirty:
        if isinstance(obj, CaseStep) and session.is_modified(obj):
            raise RuntimeError("救助案件的办理记录只能追加，不能修改")
    for obj in list(session.new):
        if isinstance(obj, FundEntry) and obj.reverses_id is not None:
            _reopen(session, obj)


def _reopen(session: Session, reversal: FundEntry) -> None:
    with session.no_autoflush:
        case = session.scalar(select(ReliefCase).where(ReliefCase.fund_entry_id == reversal.reverses_id))
    if case is None or case.state not in (State.paid.value, State.closed.value):
        return
    reason = next((v for k, v in reversal.meta if k == "reason"), None) if reversal.meta else None
    by_id, by_name = households.recorder(session)
    before = State(case.state)
    _step(session, case, Action.reversed, before, State.approved, by_id, by_name, reversal.date, reason,
          {"reversed_entry_id": case.fund_entry_id, "reversal_key": reversal.idem_key})
    case.state = State.approved.value
    case.fund_entry_id = None
    case.paid_on = None
    case.pay_problem = None
    case.pay_attempt += 1


# --- documents -----------------------------------------------------------------------------------------


def add_document(session: Session, scope: Scope, upload_dir: Path, case_id: int, doc_type: str,
                 content: bytes) -> CaseDocument:
    """An application, a certificate, a photo: judged, cleaned and stored like a visit's signed sheet."""
    case = get_case(session, scope, case_id)
    name = (doc_type or "").strip()
    if not name or len(name) > 40:
        raise Invalid("材料名称不能为空，最多 40 字", field="doc_type")
    sheet = judge(content)
    if State(case.state) in FINAL:
        raise DomainError("案件已办结，不能再上传材料", field="case_id")
    doc = CaseDocument(case_id=case.id, doc_type=name, sha256=sheet.sha256, media_type=sheet.media_type,
                       uploaded_by=households.recorder(session)[1])
    with stored(upload_dir, sheet):
        session.add(doc)
        session.commit()
    return doc


def documents_of(session: Session, case_id: int) -> list[CaseDocument]:
    return list(session.scalars(select(CaseDocument).where(CaseDocument.case_id == case_id).order_by(CaseDocument.id)))


def steps_of(session: Session, case_id: int) -> list[CaseStep]:
    return list(session.scalars(select(CaseStep).where(CaseStep.case_id == case_id).order_by(CaseStep.seq)))


# --- lists ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFilter:
    state: str | None = None
    category: str | None = None
    scheme_id: int | None = None
    household_id: int | None = None
    under: int | None = None
    waiting_for_me: bool = False
    overdue_review: bool = False
    after: int | None = None
    limit: int = 50
    today: date = field(default_factory=date.today)


def waiting_for(principal: Principal, case: ReliefCase, path: str, flow: Flow, paying_path: str) -> Action | None:
    """The step this user could take on the case now, if any (their permission there, not their own earlier role).

    ``path`` is the case's organisation, ``paying_path`` that of the scheme whose book pays it: a county scheme's
    case waits for the county's payer, not the town's.
    """
    state = State(case.state)
    me = principal.user_id
    if state is State.registered and flow.review_first:
        if principal.can(Perm.case_review, path) and me != case.recorded_by_id:
            return Action.review
    elif (state is State.reviewed or (state is State.registered and not flow.review_first)):
        if principal.can(Perm.case_approve, path) and me not in (case.recorded_by_id, case.reviewed_by_id):
            return Action.approve
    elif state is State.approved:
        if principal.can(Perm.fund_write, paying_path) and not (flow.monthly or case.start_month is not None):
            return Action.pay
    elif (state is State.paid and not flow.review_first and case.reviewed_by_id is None
          and principal.can(Perm.case_review, path) and me not in (case.recorded_by_id, case.approved_by_id)):
        return Action.review
    return None


def list_cases(session: Session, scope: Scope, f: CaseFilter) -> list[ReliefCase]:
    """Keyset pages by id; ``waiting_for_me`` keeps the cases whose next step the caller may take."""
    runner = aliased(Organisation)
    stmt = (select(ReliefCase, Organisation.path, SchemeVersion.review_steps, SchemeVersion.review_due_days,
                   runner.path)
            .join(Organisation, Organisation.id == ReliefCase.org_id)
            .join(Scheme, Scheme.id == ReliefCase.scheme_id).join(runner, runner.id == Scheme.org_id)
            .join(SchemeVersion, SchemeVersion.id == ReliefCase.version_id)
            .where(scope.clause(Organisation.path)))
    if f.state is not None:
        stmt = stmt.where(ReliefCase.state == f.state)
    if f.category is not None:
        stmt = stmt.where(ReliefCase.category == f.category)
    if f.scheme_id is not None:
        stmt = stmt.where(ReliefCase.scheme_id == f.scheme_id)
    if f.household_id is not None:
        stmt = stmt.where(ReliefCase.household_id == f.household_id)
    if f.under is not None:
        stmt = stmt.where(Organisation.path.startswith(get_org(session, f.under, scope).path, autoescape=True))
    if f.overdue_review:
        stmt = stmt.where(ReliefCase.review_due_on < f.today, ReliefCase.reviewed_by_id.is_(None),
                          ReliefCase.state == State.paid.value)
    if f.waiting_for_me:
        stmt = stmt.where(ReliefCase.state.in_([State.registered.value, State.reviewed.value, State.approved.value,
                                                State.paid.value]))
    limit = min(f.limit, PAGE_MAX)
    principal = scope.principal
    out: list[ReliefCase] = []
    for case, path, steps, due_days, paying_path in _chunks(session, stmt, f.after):
        flow = Flow.of(steps, due_days, case.start_month is not None)
        if f.waiting_for_me and (principal is None or waiting_for(principal, case, path, flow, paying_path) is None):
            continue
        out.append(case)
        if len(out) == limit:
            break
    return out


def _chunks(session: Session, stmt: Any, after: int | None, size: int = 500) -> Iterator[Any]:
    last = after or 0
    while True:
        rows = session.execute(stmt.where(ReliefCase.id > last).order_by(ReliefCase.id).limit(size)).all()
        yield from rows
        if len(rows) < size:
            return
        last = rows[-1][0].id


def scheme_and_version(session: Session, case: ReliefCase) -> tuple[Scheme, SchemeVersion]:
    scheme = session.get(Scheme, case.scheme_id)
    version = session.get(SchemeVersion, case.version_id)
    assert scheme is not None and version is not None  # foreign keys
    return scheme, version


__all__ = ["CaseFilter", "CaseForm", "VersionSpec", "act", "add_document", "add_version", "create_scheme",
           "get_case", "get_scheme", "list_cases", "list_schemes", "pay_case", "register_case", "reverse_case",
           "version_on", "versions_of"]
