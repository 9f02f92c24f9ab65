"""Two years (2024 and 2025) of monthly 奖励扶助 runs over the demo county's households, reconciled to zero.

The county association pays both schemes from its own book from January 2024 (独生子女父母奖励 at the
built-in 20 yuan of seed 004, 特殊家庭扶助 at a per-parent standard the demo sets). Beside whatever
households the registry holds, a few showcase households tell each story the rule knows, their events
recorded month by month between the runs as a secretary would: certificates registered late (paid as
arrears, 补发), a child turning 14, a second birth, an only child's death (special family from the next
month), a parent's death, a move to another township, a move out of the county, a revoked certificate.

长效帮扶 (long_term) rides in the same runs: the relief demo's scheme 特困计生家庭长效帮扶 (paid by the county,
150 yuan a month, 180 from July 2025) has two cases worked between the runs: one for all of 2025, and one from
March 2025 entered only before the June run (March–May paid as arrears) and closed in July (paid through July).
Idempotent: months already run are not run again, events already recorded are not recorded again, cases are
found by their key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from stdnum.cn import ric

from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.config import Settings
from assoc_ledger.demo import relief as relief_demo
from assoc_ledger.entitlements import services as ent
from assoc_ledger.entitlements.models import EntitlementRun
from assoc_ledger.entitlements.rules import month_index, month_text
from assoc_ledger.fund import service, standards
from assoc_ledger.fund.models import FundEntry
from assoc_ledger.households import services as hh
from assoc_ledger.households.models import Household, HouseholdEvent
from assoc_ledger.orgs.models import Organisation, OrgKind
from assoc_ledger.people import services as people
from assoc_ledger.people.models import Person
from assoc_ledger.relief.rules import State

FIRST, LAST = "2024-01", "2025-12"
SPECIAL_FAMILY_PER_PARENT = "590.00"  # the demo county's standard, per parent and month
FUND_KEY = "demo-entitlements-fund"
EVERYTHING = Scope.everything()
REGION = "341799"


@dataclass
class Story:
    key: str
    village: int  # index into the demo's villages
    child_born: dt.date
    certificate_on: dt.date | None
    registered_before: str = FIRST  # recorded before the run of this month (late registration)
    events: list[tuple[str, str, dt.date, dict[str, object]]] = field(default_factory=list)
    special_since: dt.date | None = None  # already a special family (kind recorded) when registered


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


STORIES = [
    *(Story(f"长期{n}", n % 4, dt.date(2015 + n % 5, 1 + n, 10 + n), dt.date(2016 + n % 5, 2 + n % 7, 1 + n))
      for n in range(8)),
    Story("满14周岁", 1, d("2010-06-30"), d("2011-03-02")),  # paid through June 2024
    Story("3月1日满14", 2, d("2011-03-01"), d("2012-05-31")),  # 14 on 1 March 2025: March paid
    Story("晚登记一", 0, d("2022-08-08"), d("2024-03-10"), registered_before="2024-09"),  # arrears Mar–Aug 2024
    Story("晚登记二", 3, d("2021-01-05"), d("2023-05-31"), registered_before="2025-02"),  # arrears from Jan 2024
    Story("再生育", 1, d("2019-04-04"), d("2019-09-30"),
          events=[("2024-12", "birth", d("2024-11-12"), {"relation": "子女"})]),  # paid through Nov 2024
    Story("独生子女死亡", 2, d("2013-10-10"), d("2014-01-31"),
          events=[("2024-09", "death", d("2024-08-20"), {})]),  # special family from Sept 2024, two parents
    Story("特殊家庭", 3, d("2002-02-02"), None, special_since=d("2021-06-01"),
          events=[("2025-05", "death_parent", d("2025-04-03"), {})]),  # one share from May 2025
    Story("县内迁移", 0, d("2016-12-12"), d("2017-06-06"),
          events=[("2024-11", "move_out", d("2024-10-15"), {"to_village": 5})]),  # paid on, once a month
    Story("迁出县外", 1, d("2017-02-14"), d("2018-02-14"),
          events=[("2025-07", "move_out", d("2025-06-01"), {"out_of_county": True})]),  # paid through June 2025
    Story("光荣证注销", 2, d("2015-05-05"), d("2016-05-05"),
          events=[("2025-02", "certificate_revoked", d("2025-01-20"), {})]),  # paid through January 2025
]


@dataclass(frozen=True)
class LongTermStory:
    case: relief_demo.CaseSpec
    worked_before: str  # registered, reviewed and approved before the run of this month
    closed_on: dt.date | None = None  # 终止: paid through this day's month
    closed_before: str | None = None


LONG_TERM = (
    LongTermStory(relief_demo.CaseSpec("lt-2025a", "demo-long-term", "H1", d("2025-01-10"), State.approved,
                                       months=12, summary="特困家庭按月帮扶（2025 年全年）"), "2025-01"),
    LongTermStory(relief_demo.CaseSpec("lt-2025b", "demo-long-term", "H2", d("2025-03-05"), State.approved,
                                       months=6, summary="特困家庭按月帮扶（材料迟交，补发 3–5 月）"), "2025-06",
                  closed_on=d("2025-07-20"), closed_before="2025-08"),
)


def _long_term(session_factory: sessionmaker[Session], settings: Settings, month: str) -> int:
    """The long-term cases worked before this month's run; how many steps were taken."""
    stories = [s for s in LONG_TERM if month in (s.worked_before, s.closed_before)]
    if not stories:
        return 0
    cast, homes, schemes = relief_demo.prepare(session_factory)
    for story in stories:
        spec = story.case
        case_id = relief_demo.work_case(session_factory, settings, cast, spec, schemes[spec.scheme],
                                        homes[spec.household], dt.date.today())
        if story.closed_on is not None and month == story.closed_before:
            relief_demo.close_case(session_factory, cast, case_id, story.closed_on, "家庭收入已改善，终止长效帮扶")
    return len(stories)


def load_entitlements_demo(session_factory: sessionmaker[Session], settings: Settings,
                           progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Runs every month of 2024–2025 not yet run; returns counts of what it did this time."""
    ledger_dir = Path(settings.ledger_dir)
    with session_factory() as db:
        county = db.scalar(select(Organisation).where(Organisation.parent_id.is_(None),
                                                      Organisation.kind == OrgKind.county.value)
                           .order_by(Organisation.id))
        if county is None:
            return {}
        county_id = county.id
        villages = list(db.scalars(select(Organisation.id).where(Organisation.kind == OrgKind.village.value,
                                                                 Organisation.closed_on.is_(None))
                                   .order_by(Organisation.id)))
        # Villages of different townships: the move goes across a township line.
        chosen = villages[:4] + villages[-4:] if len(villages) >= 8 else (villages * 8)[:8]
        book = service.open_book(db, ledger_dir, county_id, EVERYTHING).id
        done = {month_text(month_index(m)) for m in db.scalars(
            select(EntitlementRun.month).where(EntitlementRun.status == "done"))}
        funded = db.scalar(select(FundEntry.id).where(FundEntry.idem_key == FUND_KEY)) is not None
    months = [month_text(m) for m in range(month_index(d(FIRST + "-01")), month_index(d(LAST + "-01")) + 1)]
    if all(m in done for m in months):
        return _catch_up(session_factory, ledger_dir, county_id)
    with session_factory() as db:
        standards.set_aid_standard(db, Scope.everything(Perm.fund_write), county_id, scheme="special_family",
                                   amount=SPECIAL_FAMILY_PER_PARENT, effective_from="2024-01-01",
                                   basis="演示县：独生子女死亡家庭扶助金，每人每月（演示标准）")
        for scheme in ("only_child_reward", "special_family"):
            ent.set_programme(db, EVERYTHING, county_id, scheme=scheme, first_month=FIRST)
    relief_demo.prepare(session_factory)  # the relief scheme 长效帮扶 (the county runs it) and its households
    with session_factory() as db:
        ent.set_programme(db, EVERYTHING, county_id, scheme="long_term", first_month=FIRST)
    counts = {"runs": 0, "lines": 0, "households": 0, "events": 0}
    for n, month in enumerate(months, start=1):
        with session_factory() as db:
            counts["households"] += _register(db, chosen, month)
            counts["events"] += _record(db, chosen, month)
            db.commit()
        counts["cases"] = counts.get("cases", 0) + _long_term(session_factory, settings, month)
        if not funded:
            _fund(session_factory, ledger_dir, book)
            funded = True
        if month not in done:
            with session_factory() as db:
                row = ent.run(db, ledger_dir, EVERYTHING, month, county_id, pay_date=d(month + "-25"))
                counts["runs"] += 1
                counts["lines"] += row.lines
        if progress:
            progress(n, len(months))
    return counts


def _catch_up(session_factory: sessionmaker[Session], ledger_dir: Path, county_id: int) -> dict[str, int]:
    """After later demo steps registered households (relief cases): what is due for 2024–2025 and unpaid, today,
    as arrears (补发); nothing when nothing is due."""
    with session_factory() as db:
        due = ent.preview(db, EVERYTHING, LAST, county_id)
    if not due["lines"]:
        return {}
    with session_factory() as db:
        row = ent.run(db, ledger_dir, EVERYTHING, LAST, county_id, pay_date=dt.date.today())
    return {"runs": 1, "lines": row.lines, "households": 0, "events": 0}


def _fund(session_factory: sessionmaker[Session], ledger_dir: Path, book: int) -> None:
    """The county budget's allocation for both schemes over the two years: what the runs will pay, and a margin."""
    with session_factory() as db:
        due = ent.preview(db, EVERYTHING, LAST)
    amount = (int(Decimal(due["total"])) * 2 // 1000 + 20) * 1000  # twice the preview, a round figure in yuan
    with session_factory() as db:
        service.post_income(db, ledger_dir, EVERYTHING, book, key=FUND_KEY, date="2024-01-03",
                            amount=f"{amount}.00", source="budget", payer="县财政局", voucher="收-奖扶-2024",
                            narration="县财政拨付独生子女父母奖励和特殊家庭扶助资金（2024–2025 年）")


def _rid(db: Session, born: dt.date, seed: int) -> str:
    cipher = people.current_cipher()
    for serial in range(800 + seed % 150, 1000):
        body = f"{REGION}{born:%Y%m%d}{serial:03d}"
        number = body + ric.calc_check_digit(body + "0")
        if db.scalar(select(Person.id).where(Person.resident_id_hash == cipher.lookup(number))) is None:
            return number
    raise RuntimeError("no free demo resident ID")


def _address(story: Story) -> str:
    return f"奖扶演示·{story.key}"


def _household(db: Session, story: Story) -> Household | None:
    return db.scalar(select(Household).where(Household.address == _address(story)))


def _register(db: Session, villages: list[int], month: str) -> int:
    made = 0
    for i, story in enumerate(STORIES):
        if story.registered_before != month or _household(db, story) is not None:
            continue
        org = villages[story.village]
        surname = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"[i % 20]
        head = people.create_person(db, EVERYTHING, name=f"{surname}建国", org_id=org,
                                    resident_id=_rid(db, story.child_born.replace(year=story.child_born.year - 30), i))
        spouse = people.create_person(db, EVERYTHING, name=f"陈{surname}兰", org_id=org,
                                      resident_id=_rid(db, story.child_born.replace(year=story.child_born.year - 28),
                                                       i + 7))
        members = [(head.id, "户主"), (spouse.id, "配偶")]
        child = None
        if story.special_since is None:  # a special family's only child is no longer in the household
            child = people.create_person(db, EVERYTHING, name=f"{surname}小{i}", org_id=org,
                                         resident_id=_rid(db, story.child_born, i + 3))
            members.append((child.id, "子女"))
        kinds = []
        if story.certificate_on is not None and child is not None:
            kinds.append(hh.KindSpec("only_child", story.certificate_on, "乡镇计生办审核", f"光荣证演示{i:03d}",
                                     child.id))
        if story.special_since is not None:
            kinds.append(hh.KindSpec("only_child_deceased", story.special_since, "独生子女死亡证明（演示）"))
        hh.register_household(db, EVERYTHING, org_id=org, address=_address(story), registered_on=story.child_born,
                              members=members, kinds=kinds)
        made += 1
    return made


def _record(db: Session, villages: list[int], month: str) -> int:
    recorded = 0
    for i, story in enumerate(STORIES):
        for before, kind, on, data in story.events:
            if before != month:
                continue
            household = _household(db, story)
            if household is None:
                continue
            what = "death" if kind == "death_parent" else kind
            if db.scalar(select(HouseholdEvent.id).where(HouseholdEvent.household_id == household.id,
                                                         HouseholdEvent.kind == what,
                                                         HouseholdEvent.effective_on == on)) is not None:
                continue
            facts = hh.facts_of(db, EVERYTHING, household.id)
            person_id: int | None = None
            extra: dict[str, object] = {}
            if kind == "birth":
                person_id = people.create_person(db, EVERYTHING, name=f"二孩{i}", org_id=household.org_id,
                                                 resident_id=_rid(db, on, i + 11)).id
                extra = {"relation": "子女"}
            elif kind == "death":
                person_id = next(m.person_id for m in facts.members if m.relation.value == "子女")
            elif kind == "death_parent":
                person_id = next(m.person_id for m in facts.members if m.relation.value == "配偶")
            elif kind == "move_out":
                extra = {"to_org_id": villages[int(str(data["to_village"]))]} if "to_village" in data else {
                    "out_of_county": True}
            hh.record_event(db, EVERYTHING, household.id, hh.event_from(what, on, person_id, **extra))
            recorded += 1
    return recorded
