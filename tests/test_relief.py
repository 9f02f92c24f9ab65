"""Relief cases (帮扶救助): the state machine, every refusal leaving the database and the books unchanged, the
three-users rule on both backends, emergency relief reviewed after payment, payments the books refuse,
reversal through the books, scheme versions."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth.scope import Grant, Perm, Principal, Role, Scope
from assoc_ledger.core.db import make_engine, make_sessionmaker
from assoc_ledger.core.errors import DomainError
from assoc_ledger.fund import service as fund_service
from assoc_ledger.fund.models import FundEntry
from assoc_ledger.households import services as households
from assoc_ledger.models import Base
from assoc_ledger.relief import services as relief
from assoc_ledger.relief.models import CaseStep, ReliefCase
from assoc_ledger.relief.rules import USER_ACTIONS, Action, Flow, State, next_state
from tests import factories
from tests.conftest import Tree
from tests.fund_support import EVERYTHING, snapshot
from tests.test_access_matrix import _png

DAY = dt.date(2026, 3, 2)
_ids = itertools.count(1000)


def user(tree: Tree, name: str) -> Scope:
    """A distinct user acting with every permission over the county (roles are the access matrix's business)."""
    principal = Principal(next(_ids), name, (Grant(Role.admin, tree.county.id, tree.county.path),))
    return Scope(perm=Perm.household_write, paths=("/",), principal=principal)


@dataclass
class World:
    factory: sessionmaker[Session]
    ledger_dir: Path
    upload_dir: Path
    tree: Tree
    town_book: int
    plain: int  # a household of village A1 since 2024
    hardship: int  # 特困 since 2026-02-01
    moved: int  # moved out of the county on 2026-02-01

    def session(self) -> Session:
        return self.factory()

    def scheme(self, category: str = "general", *, org: int | None = None, **spec: Any) -> int:
        values: dict[str, Any] = {"effective_from": dt.date(2024, 1, 1), "amount_rule": "ceiling", "amount": "1000.00",
                                  "documents": ["申请书"], **spec}
        with self.session() as s:
            scheme = relief.create_scheme(s, EVERYTHING, code=f"s{next(_ids)}", name=f"{category}项目",
                                          category=category, org_id=org or self.tree.town_a.id,
                                          spec=relief.VersionSpec(**values))
            s.commit()
            return scheme.id

    def register(self, scheme: int, who: Scope, household: int | None = None, amount: str | None = "500.00",
                 on: dt.date = DAY, months: int | None = None) -> int:
        with self.session() as s:
            case = relief.register_case(s, who, relief.CaseForm(
                scheme_id=scheme, household_id=household or self.plain, case_date=on, payee="王秀英",
                summary="因病致贫", amount=amount, months=months))
            s.commit()
            return case.id

    def document(self, case_id: int, doc_type: str = "申请书") -> None:
        with self.session() as s:
            relief.add_document(s, EVERYTHING, self.upload_dir, case_id, doc_type, _png())

    def act(self, case_id: int, action: Action, who: Scope, comment: str | None = "同意",
            today: dt.date | None = None) -> ReliefCase:
        with self.session() as s:
            case = relief.act(s, who, case_id, action, comment, today=today)
            s.commit()
            return case

    def pay(self, case_id: int, who: Scope, on: dt.date = DAY) -> ReliefCase:
        with self.session() as s:
            return relief.pay_case(s, who, self.ledger_dir, case_id, on=on)

    def case(self, case_id: int) -> ReliefCase:
        with self.session() as s:
            case = s.get(ReliefCase, case_id)
            assert case is not None
            s.expunge(case)
            return case

    def steps(self, case_id: int) -> list[tuple[str, str | None, str]]:
        with self.session() as s:
            return [(st.action, st.from_state, st.to_state) for st in relief.steps_of(s, case_id)]


def make_world(factory: sessionmaker[Session], root: Path) -> World:
    ledger_dir, upload_dir = root / "ledgers", root / "uploads"
    with factory() as s:
        tree = Tree(s)
        s.commit()
    with factory() as s:
        town_book = fund_service.open_book(s, ledger_dir, tree.town_a.id, EVERYTHING).id
        fund_service.open_book(s, ledger_dir, tree.county.id, EVERYTHING)
        fund_service.open_book(s, ledger_dir, tree.town_b.id, EVERYTHING)
    with factory() as s:
        fund_service.post_income(s, ledger_dir, EVERYTHING, town_book, key="fund-town", date="2026-01-05",
                                 amount="50000.00", source="budget", payer="镇财政所", voucher="收-1")
    with factory() as s:
        made = []
        for _ in range(3):
            head = factories.person(s, tree.village_a1.id)
            made.append(households.register_household(s, EVERYTHING, org_id=tree.village_a1.id, address="一组",
                                                      registered_on=dt.date(2024, 1, 1),
                                                      members=[(head.id, "户主")]).id)
        plain, hardship, moved = made
        households.record_event(s, EVERYTHING, hardship, households.event_from(
            "hardship_start", dt.date(2026, 2, 1), None, evidence="低保证"))
        households.record_event(s, EVERYTHING, moved, households.event_from(
            "move_out", dt.date(2026, 2, 1), None, out_of_county=True))
        s.commit()
    return World(factory, ledger_dir, upload_dir, tree, town_book, plain, hardship, moved)


@pytest.fixture
def world(session_factory: sessionmaker[Session], tmp_path: Path) -> World:
    return make_world(session_factory, tmp_path)


@pytest.fixture
def sqlite_world(sqlite_url: str, tmp_path: Path) -> World:
    return make_world(make_sessionmaker(make_engine(sqlite_url)), tmp_path)


def database(w: World) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in id order: what "nothing written" is compared against."""
    with w.session() as s:
        return {t.name: [tuple(r) for r in s.execute(select(t).order_by(*t.primary_key.columns))]
                for t in Base.metadata.sorted_tables}


def unchanged(w: World) -> tuple[dict[str, list[tuple[Any, ...]]], dict[str, bytes]]:
    return database(w), snapshot(w.ledger_dir)


# --- 1. the state machine ------------------------------------------------------------------------------

NORMAL, EMERGENCY = Flow(review_first=True), Flow(review_first=False, review_due_days=7)
# Every allowed (state, reviewed, action) -> state, written out from the issue; everything else is refused.
ALLOWED: dict[Flow, dict[tuple[State, bool, Action], State]] = {
    NORMAL: {
        (State.registered, False, Action.review): State.reviewed,
        (State.registered, False, Action.reject): State.rejected,
        (State.registered, False, Action.withdraw): State.withdrawn,
        (State.reviewed, True, Action.approve): State.approved,
        (State.reviewed, True, Action.reject): State.rejected,
        (State.reviewed, True, Action.withdraw): State.withdrawn,
        (State.approved, True, Action.pay): State.paid,
        (State.approved, True, Action.reject): State.rejected,
        (State.approved, True, Action.withdraw): State.withdrawn,
        (State.paid, True, Action.close): State.closed,
    },
    EMERGENCY: {
        (State.registered, False, Action.approve): State.approved,
        (State.registered, False, Action.reject): State.rejected,
        (State.registered, False, Action.withdraw): State.withdrawn,
        (State.approved, False, Action.pay): State.paid,
        (State.approved, False, Action.reject): State.rejected,
        (State.approved, False, Action.withdraw): State.withdrawn,
        (State.paid, False, Action.review): State.paid,
        (State.paid, True, Action.close): State.closed,
    },
}
# The states a case of each flow can be in, with whether it has been reviewed.
REACHABLE = {
    NORMAL: [(State.registered, False), (State.reviewed, True), (State.approved, True), (State.paid, True),
             (State.closed, True), (State.rejected, False), (State.withdrawn, False)],
    EMERGENCY: [(State.registered, False), (State.approved, False), (State.paid, False), (State.paid, True),
                (State.closed, True), (State.rejected, False), (State.withdrawn, False)],
}


@pytest.mark.parametrize("flow", [NORMAL, EMERGENCY], ids=["normal", "emergency"])
def test_state_table(flow: Flow) -> None:
    for (state, reviewed), action in itertools.product(REACHABLE[flow], USER_ACTIONS):
        assert next_state(flow, state, action, reviewed=reviewed) == ALLOWED[flow].get((state, reviewed, action)), \
            (state, reviewed, action)


def _walk(w: World, scheme: int, flow: Flow, target: tuple[State, bool]) -> int:
    """A case brought to ``target`` by the allowed steps, each by a new user."""
    case_id = w.register(scheme, user(w.tree, "登记人"))
    w.document(case_id)
    path = {NORMAL: [Action.review, Action.approve, Action.pay, Action.close],
            EMERGENCY: [Action.approve, Action.pay, Action.review, Action.close]}[flow]
    state = target[0]
    if state in (State.rejected, State.withdrawn):
        w.act(case_id, Action.reject if state is State.rejected else Action.withdraw, user(w.tree, "x"), "理由")
        return case_id
    for action in path:
        c = w.case(case_id)
        if (State(c.state), c.reviewed_by_id is not None) == target:
            break
        if action is Action.pay:
            w.pay(case_id, user(w.tree, "出纳"))
        else:
            w.act(case_id, action, user(w.tree, action.value))
    c = w.case(case_id)
    assert (State(c.state), c.reviewed_by_id is not None) == target
    return case_id


@pytest.mark.parametrize("flow", [NORMAL, EMERGENCY], ids=["normal", "emergency"])
def test_every_transition_through_the_service(sqlite_world: World, flow: Flow) -> None:
    w = sqlite_world
    scheme = w.scheme("general" if flow is NORMAL else "emergency",
                      **({} if flow is NORMAL else {"review_steps": ["approve"], "review_due_days": 7}))
    walked = 0
    for target in REACHABLE[flow]:
        for action in USER_ACTIONS:
            case_id = _walk(w, scheme, flow, target)
            expected = ALLOWED[flow].get((*target, action))
            before = unchanged(w)
            who = user(w.tree, "办理人")

            def attempt(case_id: int = case_id, action: Action = action, who: Scope = who) -> None:
                if action is Action.pay:
                    w.pay(case_id, who)
                else:
                    w.act(case_id, action, who, "意见")

            if expected is None:
                with pytest.raises(DomainError) as refused:
                    attempt()
                assert refused.value.status_code == 422 and refused.value.problems[0].field == "action"
                assert unchanged(w) == before
                continue
            attempt()
            assert State(w.case(case_id).state) is expected
            assert w.steps(case_id)[-1] == (action.value, target[0].value, expected.value)
            walked += 1
    assert walked == len(ALLOWED[flow])


# --- 2. refusals: nothing written ----------------------------------------------------------------------


def _refused(w: World, call: Any, field: str, words: str) -> DomainError:
    before = unchanged(w)
    with pytest.raises(DomainError) as refused:
        call()
    assert refused.value.status_code == 422
    assert any(p.field == field and words in p.message for p in refused.value.problems), refused.value.errors
    assert unchanged(w) == before
    return refused.value


def test_refused_above_the_ceiling(sqlite_world: World) -> None:
    w = sqlite_world
    scheme = w.scheme(amount="800.00")
    _refused(w, lambda: w.register(scheme, user(w.tree, "r"), amount="800.01"), "amount", "超过该项目上限 800.00 元")
    assert w.case(w.register(scheme, user(w.tree, "r"), amount="800.00")).amount_fen == 80000


def test_refused_beyond_the_yearly_limit(sqlite_world: World) -> None:
    w = sqlite_world
    scheme = w.scheme(yearly_limit=1)
    first = w.register(scheme, user(w.tree, "r"))
    _refused(w, lambda: w.register(scheme, user(w.tree, "r"), on=dt.date(2026, 9, 1)), "household_id",
             "每户每年最多 1 件")
    w.act(first, Action.withdraw, user(w.tree, "r"), "重复登记")  # a withdrawn case does not count
    w.register(scheme, user(w.tree, "r"), on=dt.date(2026, 9, 1))
    w.register(scheme, user(w.tree, "r"), on=dt.date(2025, 12, 31))  # another year


def test_refused_when_the_household_is_not_eligible_on_the_case_date(sqlite_world: World) -> None:
    w = sqlite_world
    scheme = w.scheme("key", household_kinds=["hardship"])
    _refused(w, lambda: w.register(scheme, user(w.tree, "r"), household=w.hardship, on=dt.date(2026, 1, 31)),
             "household_id", "不是本项目的救助对象")
    w.register(scheme, user(w.tree, "r"), household=w.hardship, on=dt.date(2026, 2, 1))
    general = w.scheme()
    _refused(w, lambda: w.register(general, user(w.tree, "r"), household=w.moved, on=dt.date(2026, 2, 2)),
             "household_id", "已迁出本县")
    w.register(general, user(w.tree, "r"), household=w.moved, on=dt.date(2026, 1, 31))
    # A household of town A is outside a scheme run by town B.
    town_b = w.scheme(org=w.tree.town_b.id)
    _refused(w, lambda: w.register(town_b, user(w.tree, "r")), "household_id", "不在本项目的实施范围内")


def test_refused_review_without_the_required_documents(sqlite_world: World) -> None:
    w = sqlite_world
    scheme = w.scheme(documents=["申请书", "困难证明"])
    case_id = w.register(scheme, user(w.tree, "r"))
    w.document(case_id, "申请书")
    _refused(w, lambda: w.act(case_id, Action.review, user(w.tree, "v")), "documents", "缺少必备材料：困难证明")
    w.document(case_id, "困难证明")
    assert w.act(case_id, Action.review, user(w.tree, "v")).state == State.reviewed


def test_refused_step_out_of_order(sqlite_world: World) -> None:
    w = sqlite_world
    case_id = w.register(w.scheme(), user(w.tree, "r"))
    _refused(w, lambda: w.act(case_id, Action.approve, user(w.tree, "a")), "action", "不能审批")
    _refused(w, lambda: w.pay(case_id, user(w.tree, "p")), "action", "不能发放")
    w.document(case_id)
    w.act(case_id, Action.review, user(w.tree, "v"))
    w.act(case_id, Action.approve, user(w.tree, "a"))
    _refused(w, lambda: w.pay(case_id, user(w.tree, "p"), on=DAY - dt.timedelta(days=1)), "date", "早于救助日期")


def test_refused_same_user_in_two_roles(sqlite_world: World) -> None:
    w = sqlite_world
    recorder, reviewer = user(w.tree, "r"), user(w.tree, "v")
    case_id = w.register(w.scheme(), recorder)
    w.document(case_id)
    _refused(w, lambda: w.act(case_id, Action.review, recorder), "user", "登记人不能审核")
    w.act(case_id, Action.review, reviewer)
    _refused(w, lambda: w.act(case_id, Action.approve, reviewer), "user", "审核人不能再审批")
    _refused(w, lambda: w.act(case_id, Action.approve, recorder), "user", "登记人不能审批")


# --- 3. three users, both backends ---------------------------------------------------------------------


def test_three_users_on_both_backends(world: World) -> None:
    w = world
    recorder, reviewer, approver, payer = (user(w.tree, n) for n in ("登记人", "审核人", "审批人", "出纳"))
    case_id = w.register(w.scheme(), recorder)
    w.document(case_id)
    for who, words in ((recorder, "登记人不能审核"),):
        _refused(w, lambda who=who: w.act(case_id, Action.review, who), "user", words)
    w.act(case_id, Action.review, reviewer)
    _refused(w, lambda: w.act(case_id, Action.approve, reviewer), "user", "审核人不能再审批")
    _refused(w, lambda: w.act(case_id, Action.approve, recorder), "user", "登记人不能审批")
    w.act(case_id, Action.approve, approver)
    paid = w.pay(case_id, payer)
    assert paid.state == State.paid
    c = w.case(case_id)
    assert len({c.recorded_by_id, c.reviewed_by_id, c.approved_by_id}) == 3
    # Emergency: approved and paid first, reviewed afterwards by a third user.
    emergency = w.scheme("emergency", review_steps=["approve"], review_due_days=5)
    e = w.register(emergency, recorder)
    w.document(e)
    _refused(w, lambda: w.act(e, Action.approve, recorder), "user", "登记人不能审批")
    w.act(e, Action.approve, approver)
    w.pay(e, payer)
    _refused(w, lambda: w.act(e, Action.review, approver), "user", "审批人不能再审核")
    _refused(w, lambda: w.act(e, Action.review, recorder), "user", "登记人不能审核")
    w.act(e, Action.review, reviewer)


# --- paying: one entry, refusals by the books, reversal ------------------------------------------------


def _approved(w: World, scheme: int, amount: str = "500.00", household: int | None = None) -> int:
    case_id = w.register(scheme, user(w.tree, "r"), amount=amount, household=household)
    w.document(case_id)
    w.act(case_id, Action.review, user(w.tree, "v"))
    w.act(case_id, Action.approve, user(w.tree, "a"))
    return case_id


def test_paying_posts_one_entry_with_the_case_in_its_metadata(sqlite_world: World) -> None:
    w = sqlite_world
    case_id = _approved(w, w.scheme(), "432.10")
    case = w.pay(case_id, user(w.tree, "p"))
    with w.session() as s:
        entry = s.get(FundEntry, case.fund_entry_id)
        assert entry is not None and entry.category == "general"
        meta = dict(entry.meta)
        assert meta["relief-case"] == str(case_id) and meta["household"] == str(w.plain)
        assert meta["scheme-version"].endswith("/v1")
        assert fund_service.balance_of(s, w.town_book, "Expenses:Relief:General") == Decimal("432.10")
    text_of_book = (w.ledger_dir / f"town-{w.tree.town_a.id}" / "2026.beancount").read_text()
    assert f'relief-case: "{case_id}"' in text_of_book
    # Paying again is out of order and posts nothing.
    _refused(w, lambda: w.pay(case_id, user(w.tree, "p")), "action", "不能发放")


def test_a_restricted_fund_too_low_leaves_the_case_approved_with_the_reason(sqlite_world: World) -> None:
    w = sqlite_world
    scheme = w.scheme("special_family", fund="JiangLiFuZhu", amount="2000.00")
    case_id = _approved(w, scheme, "1500.00")
    files_before = snapshot(w.ledger_dir)
    with w.session() as s:
        entries = s.scalar(select(func.count()).select_from(FundEntry))
    with pytest.raises(DomainError) as refused:
        w.pay(case_id, user(w.tree, "p"))
    assert "余额不足" in refused.value.detail
    case = w.case(case_id)
    assert case.state == State.approved and case.pay_problem is not None and "余额不足" in case.pay_problem
    assert w.steps(case_id)[-1] == ("pay_refused", "approved", "approved")
    assert snapshot(w.ledger_dir) == files_before
    with w.session() as s:
        assert s.scalar(select(func.count()).select_from(FundEntry)) == entries
    # Money arrives in the restricted fund (20 % of a central transfer share): the case is paid.
    with w.session() as s:
        fund_service.post_income(s, w.ledger_dir, EVERYTHING, w.town_book, key="ct-1", date="2026-03-01",
                                 amount="10000.00", source="central_transfer", payer="县财政局", voucher="收-2")
    paid = w.pay(case_id, user(w.tree, "p"))
    assert paid.state == State.paid and paid.pay_problem is None


def test_a_closed_month_leaves_the_case_approved(sqlite_world: World) -> None:
    w = sqlite_world
    case_id = _approved(w, w.scheme())
    with w.session() as s:
        fund_service.close_month(s, w.ledger_dir, EVERYTHING, w.town_book, "2026-03", key="close-03")
    with pytest.raises(DomainError):
        w.pay(case_id, user(w.tree, "p"), on=dt.date(2026, 3, 20))
    case = w.case(case_id)
    assert case.state == State.approved and "已结账" in (case.pay_problem or "")
    assert w.pay(case_id, user(w.tree, "p"), on=dt.date(2026, 4, 2)).state == State.paid


def test_only_the_books_reversal_reopens_a_paid_case(sqlite_world: World) -> None:
    w = sqlite_world
    case_id = _approved(w, w.scheme())
    first = w.pay(case_id, user(w.tree, "p"))
    with w.session() as s:
        entry = s.get(FundEntry, first.fund_entry_id)
        assert entry is not None
        seq = entry.seq
    # Through the books' own reversal (as the fund API does), not through the case.
    with w.session() as s:
        fund_service.reverse(s, w.ledger_dir, EVERYTHING, w.town_book, seq, key="rev-1", date="2026-03-05",
                             reason="收款人账号错误", voucher="冲-1")
    case = w.case(case_id)
    assert case.state == State.approved and case.fund_entry_id is None and case.pay_attempt == 1
    last = w.steps(case_id)[-1]
    assert last == ("reversed", "paid", "approved")
    with w.session() as s:
        assert relief.steps_of(s, case_id)[-1].comment == "收款人账号错误"
    again = w.pay(case_id, user(w.tree, "p"), on=dt.date(2026, 3, 6))
    assert again.state == State.paid and again.fund_entry_id != first.fund_entry_id
    with w.session() as s:
        # The history keeps both payments and the reversal; the books net one payment.
        assert [a for a, _, _ in w.steps(case_id)].count("pay") == 2
        assert fund_service.balance_of(s, w.town_book, "Expenses:Relief:General") == Decimal("500.00")
        # The history is append-only.
        step = s.scalars(select(CaseStep).where(CaseStep.case_id == case_id)).first()
        assert step is not None
        step.comment = "改写"
        with pytest.raises(RuntimeError):
            s.flush()
        s.rollback()
        s.delete(s.scalars(select(CaseStep).where(CaseStep.case_id == case_id)).first())
        with pytest.raises(RuntimeError):
            s.flush()


# --- emergency relief ----------------------------------------------------------------------------------


def test_emergency_is_paid_first_and_reviewed_within_its_days(sqlite_world: World) -> None:
    w = sqlite_world
    scheme = w.scheme("emergency", review_steps=["approve"], review_due_days=10, documents=["事故证明"])
    on_time, late, overdue = (w.register(scheme, user(w.tree, "r")) for _ in range(3))
    for case_id in (on_time, late, overdue):
        w.act(case_id, Action.approve, user(w.tree, "a"))
        w.pay(case_id, user(w.tree, "p"), on=dt.date(2026, 3, 3))
        w.document(case_id, "事故证明")
    assert w.case(on_time).review_due_on == dt.date(2026, 3, 13)
    w.act(on_time, Action.review, user(w.tree, "v"), today=dt.date(2026, 3, 12))
    w.act(late, Action.review, user(w.tree, "v"), today=dt.date(2026, 3, 20))
    with w.session() as s:
        found = relief.list_cases(s, EVERYTHING, relief.CaseFilter(overdue_review=True, today=dt.date(2026, 3, 21)))
        assert [c.id for c in found] == [overdue]
        assert relief.list_cases(s, EVERYTHING, relief.CaseFilter(overdue_review=True,
                                                                  today=dt.date(2026, 3, 13))) == []
    with w.session() as s:
        steps = relief.steps_of(s, late)
        assert steps[-1].data["late_days"] == 7
    _refused(w, lambda: w.act(overdue, Action.close, user(w.tree, "c")), "action", "发放后完成审核")
    w.act(on_time, Action.close, user(w.tree, "c"))


# --- versions ------------------------------------------------------------------------------------------


def test_a_new_standard_is_a_new_version_and_cases_keep_theirs(sqlite_world: World) -> None:
    w = sqlite_world
    scheme = w.scheme("visits", amount_rule="fixed", amount="200.00", documents=[])
    old = w.register(scheme, user(w.tree, "r"), amount=None, on=dt.date(2026, 2, 1))
    with w.session() as s:
        relief.add_version(s, EVERYTHING, scheme, relief.VersionSpec(
            effective_from=dt.date(2026, 3, 1), amount_rule="fixed", amount="300.00", basis="县计生协〔2026〕3号"))
        s.commit()
    new = w.register(scheme, user(w.tree, "r"), amount=None, on=dt.date(2026, 3, 1))
    assert (w.case(old).amount_fen, w.case(new).amount_fen) == (20000, 30000)
    assert w.case(old).version_id != w.case(new).version_id
    _refused(w, lambda: w.register(scheme, user(w.tree, "r"), amount="200.00", on=dt.date(2026, 3, 2)),
             "amount", "定额 300.00 元")
    with w.session() as s, pytest.raises(DomainError):
        relief.add_version(s, EVERYTHING, scheme, relief.VersionSpec(
            effective_from=dt.date(2026, 2, 15), amount_rule="fixed", amount="250.00"))


def test_monthly_rule_and_scheme_shape_checks(sqlite_world: World) -> None:
    w = sqlite_world
    scheme = w.scheme("long_term", amount_rule="monthly", amount="150.00", months=12)
    case_id = w.register(scheme, user(w.tree, "r"), amount=None, months=6)
    assert w.case(case_id).amount_fen == 90000
    _refused(w, lambda: w.register(scheme, user(w.tree, "r"), amount=None, months=13), "months", "超过该项目最长期限")
    with w.session() as s, pytest.raises(DomainError) as bad:
        relief.create_scheme(s, EVERYTHING, code="bad", name="错误项目", category="general", org_id=w.tree.town_a.id,
                             spec=relief.VersionSpec(effective_from=DAY, amount_rule="ceiling", amount="100.00",
                                                     fund="JiangLiFuZhu", review_steps=["approve"]))
    fields = {p.field for p in bad.value.problems}
    assert {"fund", "review_steps"} <= fields
    with w.session() as s, pytest.raises(DomainError) as village:
        relief.create_scheme(s, EVERYTHING, code="v", name="村项目", category="general", org_id=w.tree.village_a1.id,
                             spec=relief.VersionSpec(effective_from=DAY, amount_rule="ceiling", amount="100.00"))
    assert village.value.problems[0].field == "org_id"


def test_a_town_clerk_cannot_pay_from_the_county_book(sqlite_world: World) -> None:
    w = sqlite_world
    case_id = _approved(w, w.scheme(org=w.tree.county.id))
    clerk = Principal(next(_ids), "镇出纳", (Grant(Role.secretary, w.tree.town_a.id, w.tree.town_a.path),))
    scope = Scope(perm=Perm.fund_write, paths=(w.tree.town_a.path,), principal=clerk)
    _refused(w, lambda: w.pay(case_id, scope), "book", "测试县计生协的公益金账簿支付")
    assert w.case(case_id).pay_problem is None


def test_the_database_refuses_to_rewrite_a_step(world: World) -> None:
    from sqlalchemy import delete, update
    from sqlalchemy.exc import DBAPIError

    w = world
    case_id = w.register(w.scheme(), user(w.tree, "r"))
    with w.session() as s:
        with pytest.raises(DBAPIError, match="append-only"):
            s.execute(update(CaseStep).where(CaseStep.case_id == case_id).values(comment="改写"))
        s.rollback()
        with pytest.raises(DBAPIError, match="append-only"):
            s.execute(delete(CaseStep).where(CaseStep.case_id == case_id))
        s.rollback()
    assert w.steps(case_id) == [("register", None, "registered")]


def test_two_payers_at_once_post_one_entry(world: World) -> None:
    from concurrent.futures import ThreadPoolExecutor

    w = world
    case_id = _approved(w, w.scheme())

    def pay(_: int) -> str:
        try:
            return w.pay(case_id, user(w.tree, "p")).state
        except DomainError as exc:
            return type(exc).__name__

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(pay, range(2)))
    assert answers.count(State.paid.value) >= 1, answers
    with w.session() as s:
        entries = s.scalars(select(FundEntry).where(FundEntry.idem_key.like(f"relief-case-{case_id}-%"))).all()
        assert len(entries) == 1
        assert w.case(case_id).fund_entry_id == entries[0].id


def test_waiting_for_me_names_who_can_pay(sqlite_world: World) -> None:
    """An approved case of a county scheme waits for the county's clerk, not for the town's."""
    w = sqlite_world
    county_case = _approved(w, w.scheme(org=w.tree.county.id))
    town_case = _approved(w, w.scheme())

    def waiting(org_id: int, path: str) -> list[int]:
        clerk = Principal(next(_ids), "出纳", (Grant(Role.secretary, org_id, path),))
        scope = Scope(perm=Perm.household_read, paths=(path,), principal=clerk)
        with w.session() as s:
            return [c.id for c in relief.list_cases(s, scope, relief.CaseFilter(waiting_for_me=True))]

    assert waiting(w.tree.town_a.id, w.tree.town_a.path) == [town_case]
    assert waiting(w.tree.county.id, w.tree.county.path) == [county_case, town_case]
