"""Relief demo (帮扶救助): a scheme in each of the ten categories and cases in every state, worked by three users.

Runs after the fund demo (whose books pay the cases), idempotently: schemes by code, households by their
demo address, cases by idempotency key, each case only moved forward to its target state, payments by the
case's own key. Includes emergency cases reviewed on time, late and not at all (overdue), a case reversed
through the books and paid again, and a special-family case the town's restricted fund cannot pay.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from stdnum.cn import ric

from assoc_ledger.auth import services as auth_services
from assoc_ledger.auth.audit import Actor, set_actor
from assoc_ledger.auth.models import User
from assoc_ledger.auth.scope import Grant, Perm, Principal, Role, Scope
from assoc_ledger.core.config import Settings
from assoc_ledger.core.errors import Conflict, DomainError
from assoc_ledger.fund.books import BOOK_KINDS
from assoc_ledger.households import services as households
from assoc_ledger.households.models import Household
from assoc_ledger.orgs.models import Organisation, OrgKind
from assoc_ledger.people import services as people
from assoc_ledger.people.models import Person
from assoc_ledger.relief import services as relief
from assoc_ledger.relief.models import ReliefCase, Scheme
from assoc_ledger.relief.rules import Action, State

PASSWORD = "demo-password-2026"  # noqa: S105 - the demo's documented password (demo/load.py)
YEAR = 2026
EVERYTHING = Scope.everything(Perm.household_write)


@dataclass(frozen=True)
class SchemeSpec:
    code: str
    name: str
    category: str
    spec: relief.VersionSpec
    town: bool = False  # run (and paid) by the town instead of the county


def _v(amount_rule: str, amount: str | None, **kw: object) -> relief.VersionSpec:
    return relief.VersionSpec(effective_from=dt.date(2025, 1, 1), amount_rule=amount_rule, amount=amount,
                              basis="演示县计生协〔2025〕1号", **kw)  # type: ignore[arg-type]


SCHEMES: tuple[SchemeSpec, ...] = (
    SchemeSpec("demo-general", "困难计生家庭一般帮扶", "general",
               _v("ceiling", "2000.00", documents=["申请书", "困难证明"], yearly_limit=2)),
    SchemeSpec("demo-key", "重病重残计生家庭重点救助", "key",
               _v("ceiling", "10000.00", documents=["申请书", "困难证明", "医疗费用单据"], yearly_limit=1,
                  household_kinds=["hardship", "only_child_disabled", "only_child_deceased"])),
    SchemeSpec("demo-emergency", "计生家庭意外应急救助", "emergency",
               _v("ceiling", "5000.00", documents=["事故证明"], review_steps=["approve"], review_due_days=15)),
    SchemeSpec("demo-long-term", "特困计生家庭长效帮扶", "long_term",
               _v("monthly", "150.00", months=12, documents=["申请书"], household_kinds=["hardship"])),
    SchemeSpec("demo-visits", "节日走访慰问", "visits", _v("fixed", "200.00")),
    SchemeSpec("demo-insurance", "计生家庭意外伤害保险（三保）", "insurance",
               _v("fixed", "120.00", documents=["投保单"])),
    SchemeSpec("demo-student", "特困独生子女大学生救助", "student",
               _v("fixed", "3000.00", documents=["录取通知书", "困难证明"], household_kinds=["only_child"],
                  yearly_limit=1)),
    SchemeSpec("demo-only-child-reward", "独生子女父母奖励（补发）", "only_child_reward",
               _v("monthly", None, standard="only_child_reward", months=24, fund="JiangLiFuZhu",
                  household_kinds=["only_child"], documents=["光荣证"])),
    SchemeSpec("demo-special-family", "独生子女伤残/死亡家庭一次性扶助", "special_family",
               _v("ceiling", "3000.00", fund="JiangLiFuZhu", documents=["申请书"],
                  household_kinds=["only_child_disabled", "only_child_deceased"]), town=True),
    SchemeSpec("demo-production", "少生快富生产帮扶", "production",
               _v("ceiling", "5000.00", documents=["申请书", "项目计划"],
                  household_kinds=["two_daughter", "only_child"])),
)
# A changed standard: festival visits pay 300 yuan from July; cases registered before keep 200.
VISITS_V2 = relief.VersionSpec(effective_from=dt.date(YEAR, 7, 1), amount_rule="fixed", amount="300.00",
                               basis="演示县计生协〔2026〕7号")
# 长效帮扶 by the month rises to 180 yuan from July 2025: running cases are paid the new amount from then on.
LONG_TERM_V2 = relief.VersionSpec(effective_from=dt.date(2025, 7, 1), amount_rule="monthly", amount="180.00",
                                  months=12, documents=["申请书"], household_kinds=["hardship"],
                                  basis="演示县计生协〔2025〕6号")


@dataclass(frozen=True)
class HouseholdSpec:
    tag: str
    head: str
    kinds: tuple[str, ...] = ()
    child: str | None = None  # an only child (子女), for the certificate


HOUSEHOLDS: tuple[HouseholdSpec, ...] = (
    HouseholdSpec("H1", "张桂兰", ("hardship",)),
    HouseholdSpec("H2", "李建国", ("hardship",)),
    HouseholdSpec("H3", "王志强", ("only_child",), child="王小雨"),
    HouseholdSpec("H4", "刘玉兰", ("only_child_deceased",)),
    HouseholdSpec("H5", "陈德明", ("two_daughter",)),
    HouseholdSpec("H6", "赵春花", ("accident",)),
    HouseholdSpec("H7", "周永福"),
    HouseholdSpec("H8", "吴丽娟"),
)


@dataclass(frozen=True)
class CaseSpec:
    """A demo case: scheme, household, date, amount; the state it is taken to and when its steps happen."""

    key: str
    scheme: str
    household: str
    on: dt.date
    target: State
    amount: str | None = None
    months: int | None = None
    summary: str = "困难救助"
    paid_on: dt.date | None = None
    reviewed_after: int | None = None  # emergency: days after payment when reviewed (None: not yet)
    reversed_once: bool = False  # paid, reversed through the books, paid again
    extra: dict[str, str] = field(default_factory=dict)


def d(month: int, day: int) -> dt.date:
    return dt.date(YEAR, month, day)


CASES: tuple[CaseSpec, ...] = (
    CaseSpec("g1", "demo-general", "H7", d(2, 3), State.closed, "1200.00", summary="因病致贫，医药费负担重"),
    CaseSpec("g2", "demo-general", "H8", d(3, 6), State.paid, "800.00", summary="家庭主要劳力受伤"),
    CaseSpec("g3", "demo-general", "H1", d(4, 8), State.approved, "1500.00", summary="住房漏雨修缮"),
    CaseSpec("g4", "demo-general", "H2", d(5, 12), State.reviewed, "600.00", summary="子女就学困难"),
    CaseSpec("g5", "demo-general", "H6", d(6, 2), State.registered, "900.00", summary="因灾减收"),
    CaseSpec("g6", "demo-general", "H5", d(6, 15), State.rejected, "2000.00", summary="经核实家庭收入已超标准"),
    CaseSpec("g7", "demo-general", "H3", d(7, 1), State.withdrawn, "500.00", summary="家庭申请撤回"),
    CaseSpec("g8", "demo-general", "H7", d(8, 20), State.paid, "700.00", summary="冬季取暖困难",
             reversed_once=True),
    CaseSpec("k1", "demo-key", "H1", d(3, 18), State.closed, "6000.00", summary="重病住院，自付医疗费过高"),
    CaseSpec("k2", "demo-key", "H4", d(9, 3), State.approved, "8000.00", summary="独生子女死亡家庭父亲重病"),
    CaseSpec("e1", "demo-emergency", "H6", d(4, 2), State.closed, "3000.00", summary="房屋火灾",
             paid_on=d(4, 3), reviewed_after=10),
    CaseSpec("e2", "demo-emergency", "H8", d(6, 20), State.paid, "2500.00", summary="洪灾房屋受损",
             paid_on=d(6, 21), reviewed_after=28),
    CaseSpec("e3", "demo-emergency", "H2", d(10, 5), State.paid, "1800.00", summary="交通事故致伤",
             paid_on=d(10, 6)),
    CaseSpec("e4", "demo-emergency", "H5", d(11, 2), State.registered, "1000.00", summary="农机事故"),
    # Paid by the month by the entitlement runs once approved (no one-off payment): January–June.
    CaseSpec("l1", "demo-long-term", "H2", d(1, 15), State.approved, months=6, summary="特困家庭按月帮扶（上半年）"),
    CaseSpec("v1", "demo-visits", "H1", d(2, 10), State.closed, summary="春节走访慰问"),
    CaseSpec("v2", "demo-visits", "H4", d(9, 25), State.paid, summary="中秋走访慰问"),
    CaseSpec("i1", "demo-insurance", "H1", d(3, 1), State.paid, summary="计生家庭意外伤害保险保费"),
    CaseSpec("s1", "demo-student", "H3", d(8, 28), State.closed, summary="考入大学，家庭困难"),
    CaseSpec("r1", "demo-only-child-reward", "H3", d(5, 6), State.paid, months=12,
             summary="光荣证登记迟延，补发 12 个月奖励金"),
    CaseSpec("f1", "demo-special-family", "H4", d(9, 10), State.approved, "1500.00",
             summary="独生子女死亡家庭一次性扶助（乡镇限定用途资金不足，暂未发放）", paid_on=d(9, 15)),
    CaseSpec("p1", "demo-production", "H5", d(4, 12), State.closed, "4000.00", summary="养殖项目启动资金"),
)


@dataclass
class Cast:
    """The three (four) users who work the cases, as principals with their county grants."""

    recorder: Principal
    reviewer: Principal
    approver: Principal
    town_secretary: Principal

    def scope(self, who: Principal, perm: Perm) -> Scope:
        return Scope(perm=perm, paths=tuple(who.paths_for(perm)), principal=who)


def _user(session: Session, username: str, display: str, role: Role, org: Organisation) -> Principal:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        user = auth_services.create_user(session, username, PASSWORD, display_name=display)
    auth_services.grant_role(session, user, role, org.id)
    session.flush()
    return Principal(user.id, username, (Grant(role, org.id, org.path),))


def _orgs(session: Session) -> tuple[Organisation, Organisation, Organisation]:
    """The county, the town whose households the demo uses (河口镇 if present), and a village of it."""
    county = session.scalars(select(Organisation).where(Organisation.kind == OrgKind.county.value)
                             .order_by(Organisation.id)).first()
    if county is None:
        raise DomainError("先载入演示县（组织）再载入救助演示", field="org")
    towns = session.scalars(select(Organisation).where(Organisation.parent_id == county.id,
                                                       Organisation.kind.in_(BOOK_KINDS))
                            .order_by(Organisation.id)).all()
    town = next((t for t in towns if t.name == "河口镇"), towns[0] if towns else None)
    if town is None:
        raise DomainError("演示县没有乡镇", field="org")
    village = session.scalars(select(Organisation).where(
        Organisation.parent_id == town.id, Organisation.kind.in_([OrgKind.village.value, OrgKind.community.value]),
        Organisation.closed_on.is_(None)).order_by(Organisation.id)).first()
    if village is None:
        raise DomainError("演示乡镇没有村", field="org")
    return county, town, village


def _households(session: Session, village: Organisation, region: str) -> dict[str, int]:
    """The demo's households, made through the household services if not there yet (found by address)."""
    rng = random.Random(f"relief-demo-{village.id}")  # noqa: S311 - demo data
    found: dict[str, int] = {}
    for spec in HOUSEHOLDS:
        address = f"{village.name}救助演示户{spec.tag}"
        existing = session.scalar(select(Household.id).where(Household.address == address))
        if existing is not None:
            found[spec.tag] = existing
            continue
        head = _person(session, village, spec.head, dt.date(1968, 1 + rng.randrange(12), 1 + rng.randrange(28)),
                       rng, region)
        members = [(head.id, "户主")]
        child_id = None
        if spec.child:
            child = _person(session, village, spec.child, dt.date(2007, 9, 1), rng, region)
            members.append((child.id, "子女"))
            child_id = child.id
        kinds = [households.KindSpec(kind, dt.date(2024, 6, 1), evidence="演示：乡镇认定文件",
                                     certificate_no=f"GRZ-DEMO-{spec.tag}" if kind == "only_child" else None,
                                     child_id=child_id if kind == "only_child" else None) for kind in spec.kinds]
        h = households.register_household(session, EVERYTHING, org_id=village.id, address=address,
                                          registered_on=dt.date(2024, 1, 1), members=members, kinds=kinds)
        found[spec.tag] = h.id
    return found


def _person(session: Session, village: Organisation, name: str, born: dt.date, rng: random.Random,
            region: str) -> Person:
    for _ in range(50):
        body = f"{region}{born:%Y%m%d}{rng.randrange(900, 1000):03d}"
        number = body + ric.calc_check_digit(body + "0")
        try:
            with session.begin_nested():
                return people.create_person(session, EVERYTHING, name=name, resident_id=number, org_id=village.id)
        except Conflict:
            continue
    raise RuntimeError("no free demo resident ID")


def _schemes(session: Session, county: Organisation, town: Organisation) -> dict[str, int]:
    ids: dict[str, int] = {}
    for spec in SCHEMES:
        existing = session.scalar(select(Scheme.id).where(Scheme.code == spec.code))
        if existing is None:
            existing = relief.create_scheme(session, EVERYTHING, code=spec.code, name=spec.name,
                                            category=spec.category, org_id=(town if spec.town else county).id,
                                            spec=spec.spec).id
        ids[spec.code] = existing
    if len(relief.versions_of(session, ids["demo-visits"])) == 1:
        relief.add_version(session, EVERYTHING, ids["demo-visits"], VISITS_V2)
    if len(relief.versions_of(session, ids["demo-long-term"])) == 1:
        relief.add_version(session, EVERYTHING, ids["demo-long-term"], LONG_TERM_V2)
    return ids


ORDER = {State.registered: 0, State.reviewed: 1, State.approved: 2, State.paid: 3, State.closed: 4}


def load_relief_demo(session_factory: sessionmaker[Session], settings: Settings,
                     today: dt.date | None = None) -> dict[str, int]:
    """Schemes, households and cases; returns the number of cases in each state."""
    today = today or dt.date.today()
    ledger_dir = Path(settings.ledger_dir)
    cast, homes, schemes = prepare(session_factory)
    for spec in CASES:
        if spec.on > today:
            continue
        _case(session_factory, ledger_dir, Path(settings.upload_dir), cast, spec, schemes[spec.scheme],
              homes[spec.household], today)
    with session_factory() as s:
        states = s.execute(select(ReliefCase.state).where(ReliefCase.idem_key.like("demo-relief-%"))).scalars().all()
    return {st: states.count(st) for st in sorted(set(states))}


def prepare(session_factory: sessionmaker[Session]) -> tuple[Cast, dict[str, int], dict[str, int]]:
    """The users who work the cases, the demo's households and its schemes (made if not there yet)."""
    with session_factory() as s:
        set_actor(s, Actor(None, "demo", None))
        county, town, village = _orgs(s)
        cast = Cast(_user(s, "county-secretary", "县计生协秘书长", Role.secretary, county),
                    _user(s, "reviewer", "县计生协常务副会长（审核）", Role.reviewer, county),
                    _user(s, "approver", "县计生协会长（审批）", Role.approver, county),
                    _user(s, "hekou-secretary", f"{town.name}计生协秘书长", Role.secretary, town))
        region = (county.code or "341799")[:6]
        homes = _households(s, village, region)
        schemes = _schemes(s, county, town)
        s.commit()
    return cast, homes, schemes


def work_case(session_factory: sessionmaker[Session], settings: Settings, cast: Cast, spec: CaseSpec,
              scheme_id: int, household_id: int, today: dt.date) -> int:
    """A demo case registered and taken to its target state (idempotent by its key); its id."""
    _case(session_factory, Path(settings.ledger_dir), Path(settings.upload_dir), cast, spec, scheme_id, household_id,
          today)
    with session_factory() as s:
        found = s.scalar(select(ReliefCase.id).where(ReliefCase.idem_key == f"demo-relief-{spec.key}"))
        assert found is not None
        return found


def close_case(session_factory: sessionmaker[Session], cast: Cast, case_id: int, on: dt.date, comment: str) -> None:
    """结案 (a long-term case: 终止, paid through the month of ``on``), unless it is closed already."""
    if _state(session_factory, case_id)[0] is not State.closed:
        _act(session_factory, cast, cast.recorder, Perm.household_write, case_id, Action.close, comment, on)


def _session(factory: sessionmaker[Session], who: Principal) -> Session:
    s = factory()
    set_actor(s, Actor(who.user_id, who.username, None))
    return s


def _case(factory: sessionmaker[Session], ledger_dir: Path, upload_dir: Path, cast: Cast, spec: CaseSpec,
          scheme_id: int, household_id: int, today: dt.date) -> None:
    with _session(factory, cast.recorder) as s:
        case = relief.register_case(s, cast.scope(cast.recorder, Perm.household_write), relief.CaseForm(
            scheme_id=scheme_id, household_id=household_id, case_date=spec.on, payee=_payee(s, household_id),
            summary=spec.summary, amount=spec.amount, months=spec.months, idempotency_key=f"demo-relief-{spec.key}"),
            today=today)
        s.commit()
        case_id, state = case.id, State(case.state)
        _, version = relief.scheme_and_version(s, case)
        needed = list(version.documents)
        have = {doc.doc_type for doc in relief.documents_of(s, case_id)}
    for doc_type in needed:
        if doc_type not in have:
            with _session(factory, cast.recorder) as s:
                relief.add_document(s, cast.scope(cast.recorder, Perm.household_write), upload_dir, case_id,
                                    doc_type, _demo_sheet(doc_type))
    if spec.target in (State.rejected, State.withdrawn):
        if state is State.registered:
            who, action, perm = ((cast.reviewer, Action.reject, Perm.case_review) if spec.target is State.rejected
                                 else (cast.recorder, Action.withdraw, Perm.household_write))
            _act(factory, cast, who, perm, case_id, action, spec.summary, spec.on + dt.timedelta(days=3))
        return
    emergency = version.review_steps == ["approve"]
    paid_on = spec.paid_on or spec.on + dt.timedelta(days=7)
    goal = ORDER[spec.target]
    steps: Sequence[Action] = ((Action.approve, Action.pay, Action.review, Action.close) if emergency
                               else (Action.review, Action.approve, Action.pay, Action.close))
    for action in steps:
        now, reviewed = _state(factory, case_id)
        if action is Action.review and emergency:
            if now is State.paid and not reviewed and spec.reviewed_after is not None:
                _act(factory, cast, cast.reviewer, Perm.case_review, case_id, action, "事后审核：材料齐全，情况属实",
                     paid_on + dt.timedelta(days=spec.reviewed_after))
        elif action is Action.review:
            if now is State.registered and goal >= ORDER[State.reviewed]:
                _act(factory, cast, cast.reviewer, Perm.case_review, case_id, action, "材料齐全，情况属实",
                     spec.on + dt.timedelta(days=2))
        elif action is Action.approve:
            if now is (State.registered if emergency else State.reviewed) and goal >= ORDER[State.approved]:
                _act(factory, cast, cast.approver, Perm.case_approve, case_id, action, "同意",
                     spec.on + dt.timedelta(days=4))
        elif action is Action.pay:
            if now is State.approved and (goal >= ORDER[State.paid] or _try_unpayable(factory, case_id, spec)):
                _pay(factory, ledger_dir, cast, spec, case_id, paid_on)
        elif now is State.paid and spec.target is State.closed:
            _act(factory, cast, cast.recorder, Perm.household_write, case_id, action, "已发放到户，结案",
                 paid_on + dt.timedelta(days=30))


def _payee(session: Session, household_id: int) -> str:
    facts = households.facts_of(session, EVERYTHING, household_id)
    head = next((m for m in facts.members if m.relation.value == "户主"), None)
    person = session.get(Person, head.person_id) if head else None
    return person.name if person else f"家庭{household_id}"


def _demo_sheet(doc_type: str) -> bytes:
    """A small, well-formed PDF standing for a scanned document."""
    body = f"relief demo document: {doc_type.encode('unicode_escape').decode()}".encode()
    return b"%PDF-1.4\n% demo\n" + body + b"\n%%EOF\n"


def _state(factory: sessionmaker[Session], case_id: int) -> tuple[State, bool]:
    with factory() as s:
        case = s.get(ReliefCase, case_id)
        assert case is not None
        return State(case.state), case.reviewed_by_id is not None


def _try_unpayable(factory: sessionmaker[Session], case_id: int, spec: CaseSpec) -> bool:
    """The case the fund cannot pay is tried once (it has a payment date); its reason stays on the case."""
    if spec.target is not State.approved or spec.paid_on is None:
        return False
    with factory() as s:
        case = s.get(ReliefCase, case_id)
        return case is not None and case.pay_problem is None


def _act(factory: sessionmaker[Session], cast: Cast, who: Principal, perm: Perm, case_id: int, action: Action,
         comment: str, on: dt.date) -> None:
    with _session(factory, who) as s:
        relief.act(s, cast.scope(who, perm), case_id, action, comment, today=on)
        s.commit()


def _pay(factory: sessionmaker[Session], ledger_dir: Path, cast: Cast, spec: CaseSpec, case_id: int,
         on: dt.date) -> None:
    payer = cast.town_secretary if spec.scheme == "demo-special-family" else cast.recorder
    scope = cast.scope(payer, Perm.fund_write)
    try:
        with _session(factory, payer) as s:
            relief.pay_case(s, scope, ledger_dir, case_id, on=on, voucher=f"救-{spec.key}")
    except DomainError:
        if spec.target is not State.approved:
            raise
        return  # the restricted fund is too low: the case stays approved with the reason recorded
    with factory() as s:
        case = s.get(ReliefCase, case_id)
        again = spec.reversed_once and case is not None and case.pay_attempt == 0
    if again:
        with _session(factory, payer) as s:
            relief.reverse_case(s, scope, ledger_dir, case_id, reason="收款账号有误，冲销后重新发放",
                                on=on + dt.timedelta(days=2), voucher=f"冲-{spec.key}")
        with _session(factory, payer) as s:
            relief.pay_case(s, scope, ledger_dir, case_id, on=on + dt.timedelta(days=3), voucher=f"救-{spec.key}-2")
