"""The demo county's households (计生家庭), their history, volunteer pairings and visits: plain values from a fixed
seed, written in bulk, judged by the registry's own rules (``households.bulk.check_plan``).

Numbers for a county of 470,000 people: about 3,000 only-child households holding the 光荣证 (children born
2008–2025, most certificates issued within a year of the birth, some years late), 150 two-daughter
households, dozens of special families (only child disabled or dead; their children were born 1982–2000,
so the parents are of the age 特殊家庭扶助 is paid at), 120 hardship and 15 accident households. Over the
years: second births (the certificate then revoked), deaths (an only child's among them), moves to a
village of another township and out of the county, hardship starting and ending. Volunteers of each village
are paired with its special, hardship and accident households and one only-child household, and visit them
month by month through 2024–2025, skipping some months. Visits hand over goods, not cash: the demo books
close every month of 2025, and a visit's cash is a payment in them.

Idempotent: a household whose people are registered already is left alone, and only pairings of
households created in this run are added.
"""

from __future__ import annotations

import random
import struct
import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from assoc_ledger.auth import audit
from assoc_ledger.core.crypto import IdCipher
from assoc_ledger.demo import county
from assoc_ledger.households.bulk import HouseholdPlan, check_plan, insert_rows, next_ids, write_plans
from assoc_ledger.households.models import Pairing, Visit
from assoc_ledger.households.rules import Event, EventKind, KindCode
from assoc_ledger.households.uploads import judge, stored
from assoc_ledger.members.models import Membership
from assoc_ledger.people.models import Person
from assoc_ledger.people.rules import PersonDetails, check_person
from assoc_ledger.people.services import current_cipher, insert_people, registered

SEED = county.SEED + 11
TODAY = county.TODAY
TOTALS = {"only_child": 3000, "two_daughter": 150, "hardship": 120, "only_child_disabled": 25,
          "only_child_deceased": 20, "accident": 15}
VISIT_MONTHS = [(y, m) for y in (2024, 2025) for m in range(1, 13)]


@dataclass(frozen=True)
class DemoPerson:
    name: str
    resident_id: str
    female: bool

    @property
    def born(self) -> date:
        rid = self.resident_id
        return date(int(rid[6:10]), int(rid[10:12]), int(rid[12:14]))


@dataclass
class DemoHousehold:
    org_key: str
    kind: str  # the kind it was drawn for
    address: str
    registered_on: date
    people: list[DemoPerson]
    members: list[tuple[int, str]]
    events: list[Event]
    pairable: bool  # at home through 2024–2025 (no move, no death of its head): volunteers visit it


def plan(orgs: list[county.OrgSpec]) -> list[DemoHousehold]:
    """Every demo household, by village, in a fixed order."""
    homes = [o for o in orgs if o.kind.value in ("village", "community")]
    others_by_unit: dict[str | None, list[str]] = {}
    for o in homes:
        others_by_unit.setdefault(o.parent_key, []).append(o.key)
    weights = [float(o.population or 1) for o in homes]
    shares = {kind: county._split(total, weights) for kind, total in TOTALS.items()}
    rng = random.Random(SEED)  # noqa: S311 - reproducible demo data
    used: set[str] = set()
    out: list[DemoHousehold] = []
    serial = 0
    for i, home in enumerate(homes):
        elsewhere = [k for unit, keys in others_by_unit.items() if unit != home.parent_key for k in keys]
        for kind in TOTALS:
            for _ in range(shares[kind][i]):
                serial += 1
                out.append(_household(rng, used, home, kind, serial, elsewhere))
    return out


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏"
GIVEN_F = "秀英桂兰玉华丽娟海燕春梅红霞芳敏静婷雪琳佳欣怡"
GIVEN_M = "建国志强文军明德伟刚勇军杰涛磊超浩宇鹏辉斌"


def _person(rng: random.Random, used: set[str], born: date, female: bool) -> DemoPerson:
    rid = county._resident_id(rng, born, female, used, county.REGION)
    given = GIVEN_F if female else GIVEN_M
    name = rng.choice(SURNAMES) + "".join(rng.choice(given) for _ in range(rng.choice((1, 2, 2))))
    return DemoPerson(name, rid, female)


def _day(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randrange(0, max((end - start).days, 1)))


def _household(rng: random.Random, used: set[str], home: county.OrgSpec, kind: str, serial: int,
               elsewhere: list[str]) -> DemoHousehold:
    special = kind in ("only_child_disabled", "only_child_deceased")
    if kind == "only_child":
        child_born = _day(rng, date(2008, 1, 1), date(2025, 10, 1))
    elif special:
        child_born = _day(rng, date(1982, 1, 1), date(2000, 12, 31))
    else:
        child_born = _day(rng, date(1990, 1, 1), date(2015, 12, 31))
    father = _person(rng, used, child_born - timedelta(days=rng.randrange(365 * 23, 365 * 36)), False)
    mother = _person(rng, used, child_born - timedelta(days=rng.randrange(365 * 21, 365 * 34)), True)
    married = child_born - timedelta(days=rng.randrange(200, 1200))
    married = max(married, father.born + timedelta(days=365 * 22), mother.born + timedelta(days=365 * 20))
    married = min(married, child_born)
    female_child = rng.random() < 0.48 or kind == "two_daughter"
    child = _person(rng, used, child_born, female_child)
    people = [father, mother, child]
    events: list[Event] = [Event(EventKind.birth, child_born, 2, {"relation": "子女"})]
    last = child_born
    pairable = True
    if kind in ("only_child", "only_child_disabled", "only_child_deceased"):
        late = rng.random() < 0.15 and kind == "only_child"
        issued = child_born + timedelta(days=rng.randrange(365, 365 * 5) if late else rng.randrange(20, 365))
        issued = min(issued, TODAY - timedelta(days=10))
        events.append(Event(EventKind.certificate_issued, issued, data={
            "certificate_no": f"皖{home.key[4:9]}{issued.year}{serial:05d}", "child_id": 2,
            "evidence": "乡镇计生办审核发证" + ("（补办）" if late else "")}))
        last = issued
        if kind == "only_child" and child_born < date(2016, 6, 1) and rng.random() < 0.08:
            second_born = _day(rng, max(date(2016, 1, 1), last + timedelta(days=60)), TODAY - timedelta(days=60))
            people.append(_person(rng, used, second_born, rng.random() < 0.5))
            events.append(Event(EventKind.birth, second_born, 3, {"relation": "子女"}))
            revoked = second_born + timedelta(days=rng.randrange(20, 120))
            events.append(Event(EventKind.certificate_revoked, min(revoked, TODAY - timedelta(days=1)),
                                data={"note": "再生育子女，光荣证注销"}))
            last = revoked
    if kind == "only_child_disabled":
        on = _day(rng, max(last, date(2010, 1, 1)) + timedelta(days=30), date(2024, 12, 31))
        events.append(Event(EventKind.kind_added, on, data={"kind": KindCode.only_child_disabled.value,
                                                            "evidence": f"残疾人证（{rng.choice('二三四')}级）"}))
    if kind == "only_child_deceased":
        died = _day(rng, max(last, date(2008, 1, 1)) + timedelta(days=30), date(2024, 6, 30))
        events.append(Event(EventKind.death, died, 2))
        events.append(Event(EventKind.kind_added, died + timedelta(days=rng.randrange(30, 200)),
                            data={"kind": KindCode.only_child_deceased.value,
                                  "evidence": "死亡医学证明、户籍注销证明"}))
    if kind == "two_daughter":
        second_born = _day(rng, child_born + timedelta(days=500), min(child_born + timedelta(days=365 * 8),
                                                                       TODAY - timedelta(days=400)))
        people.append(_person(rng, used, second_born, True))
        events.append(Event(EventKind.birth, second_born, 3, {"relation": "子女"}))
        events.append(Event(EventKind.kind_added, second_born + timedelta(days=rng.randrange(60, 365)),
                            data={"kind": KindCode.two_daughter.value, "evidence": "二女结扎证明"}))
    if kind == "hardship":
        start = _day(rng, date(2015, 1, 1), date(2024, 12, 31))
        events.append(Event(EventKind.hardship_start, start, data={"evidence": "农村低保证"}))
        if rng.random() < 0.3:
            events.append(Event(EventKind.hardship_end, _day(rng, start + timedelta(days=365), TODAY),
                                data={"note": "家庭收入提高，退出特困"}))
            pairable = False
    if kind == "accident":
        events.append(Event(EventKind.kind_added, _day(rng, date(2020, 1, 1), date(2025, 10, 1)),
                            data={"kind": KindCode.accident.value, "evidence": "交通事故认定书"}))
    pick = rng.random()
    if kind == "only_child" and pick < 0.03:  # moved to a village of another township
        when = _day(rng, max(e.effective_on for e in events) + timedelta(days=1), TODAY - timedelta(days=30))
        events.append(Event(EventKind.move_out, when, data={"to_org_key": rng.choice(elsewhere)}))
        pairable = False
    elif kind == "only_child" and pick < 0.045:  # left the county
        when = _day(rng, max(e.effective_on for e in events) + timedelta(days=1), TODAY - timedelta(days=30))
        events.append(Event(EventKind.move_out, when, data={"out_of_county": True}))
        pairable = False
    elif kind == "only_child" and pick < 0.055:  # the father died
        when = _day(rng, max(e.effective_on for e in events) + timedelta(days=1), TODAY - timedelta(days=30))
        events.append(Event(EventKind.death, when, 0))
        pairable = False
    address = f"演示县{home.name}{rng.randrange(1, 12)}组{rng.randrange(1, 120)}号"
    return DemoHousehold(home.key, kind, address, married, people, [(0, "户主"), (1, "配偶")], events, pairable)


@dataclass
class Loaded:
    households: int = 0
    people: int = 0
    events: int = 0
    pairings: int = 0
    visits: int = 0


def demo_sheet() -> bytes:
    """The scanned signed sheet every demo visit points to: a small grey PNG, the same bytes every time."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    rows = b"".join(b"\x00" + bytes([200]) * 32 for _ in range(16))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 32, 16, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def load_households(session: Session, ids: dict[str, int], upload_dir: Path | None = None,
                    cipher: IdCipher | None = None) -> Loaded:
    """Write the demo households (and their pairings and visits) that are not there yet. The caller commits."""
    cipher = cipher or current_cipher()
    done = Loaded()
    demo = plan(county.organisations())
    details: list[list[PersonDetails]] = []
    for h in demo:
        checked = []
        for person in h.people:
            d, problems = check_person(person.name, person.resident_id)
            if d is None:
                raise RuntimeError(f"demo person fails the person rules: {problems}")
            checked.append(d)
        details.append(checked)
    lookups = [[cipher.lookup(d.resident_id.number) for d in ds] for ds in details]
    known = registered(session, [x for ls in lookups for x in ls])
    fresh = [(h, ds, ls) for h, ds, ls in zip(demo, details, lookups, strict=True) if not any(x in known for x in ls)]
    if not fresh:
        return done
    was_off = session.info.get("audit_off")
    session.info["audit_off"] = True
    try:
        plans: list[HouseholdPlan] = []
        for h, ds, ls in fresh:
            events = [_placed(e, ids) for e in h.events]
            p = HouseholdPlan(org_id=ids[h.org_key], address=h.address, registered_on=h.registered_on, people=ls,
                              members=h.members, events=events)
            problems = check_plan(p, {i: d.resident_id.birth_date for i, d in enumerate(ds)}, TODAY)
            if problems:
                raise RuntimeError(f"demo household fails the registry rules: {problems}")
            plans.append(p)
        person_ids = insert_people(session, cipher, [(d, ids[h.org_key]) for h, ds, _ in fresh for d in ds])
        household_ids = write_plans(session, plans, person_ids)
        # The people area's record of each death too, as a death recorded one at a time would have told it.
        for written in plans:
            for e in written.events:
                if e.kind is EventKind.death and e.person_id is not None:
                    dead = person_ids[written.people[e.person_id]]
                    session.execute(update(Person).where(Person.id == dead).values(died_on=e.effective_on))
        done.households, done.people = len(plans), len(person_ids)
        done.events = sum(1 + len(p.events) for p in plans)
        done.pairings, done.visits = _pairings(session, ids, [(h, hid) for (h, _, _), hid in
                                                              zip(fresh, household_ids, strict=True)], upload_dir)
        session.flush()
    finally:
        if not was_off:
            session.info.pop("audit_off", None)
    audit.note(session, "demo.households", "households", None, None,
               after={"households": done.households, "people": done.people, "events": done.events,
                      "pairings": done.pairings, "visits": done.visits}, note_text="演示县：登记计生家庭、结对与走访")
    return done


def _placed(event: Event, ids: dict[str, int]) -> Event:
    if "to_org_key" not in event.data:
        return event
    data = {k: v for k, v in event.data.items() if k != "to_org_key"}
    return Event(event.kind, event.effective_on, event.person_id, {**data, "to_org_id": ids[event.data["to_org_key"]]})


def _pairings(session: Session, ids: dict[str, int], made: list[tuple[DemoHousehold, int]],
              upload_dir: Path | None) -> tuple[int, int]:
    """Volunteers of each village with its pairable special, hardship and accident households and one only-child
    household; visits month by month in 2024–2025, some months skipped, some pairings ended mid-2025."""
    rng = random.Random(SEED + 1)  # noqa: S311
    volunteers: dict[int, list[int]] = {}
    for member_id, member_org in session.execute(select(Membership.id, Membership.org_id).where(
            Membership.is_volunteer.is_(True), Membership.left_on.is_(None)).order_by(Membership.id)).tuples():
        volunteers.setdefault(member_org, []).append(member_id)
    sheet = judge(demo_sheet())
    if upload_dir is not None:
        with stored(upload_dir, sheet):
            pass
    taken_only_child: set[int] = set()
    pairings: list[dict[str, Any]] = []
    visits: list[dict[str, Any]] = []
    candidates = []
    for h, hid in made:
        org_id = ids[h.org_key]
        if not h.pairable or org_id not in volunteers:
            continue
        if h.kind == "only_child":
            if org_id in taken_only_child:
                continue
            taken_only_child.add(org_id)
        candidates.append((hid, org_id))
    for (hid, org_id), pairing_id in zip(candidates, next_ids(session, Pairing, len(candidates)), strict=True):
        start = date(2024, 1, 1) if rng.random() < 0.8 else date(2024, rng.randrange(2, 13), 1)
        until = date(2025, 6, 30) if rng.random() < 0.1 else None
        pairings.append({"id": pairing_id, "membership_id": rng.choice(volunteers[org_id]), "household_id": hid,
                         "from_date": start, "until_date": until})
        for y, m in VISIT_MONTHS:
            first = date(y, m, 1)
            if first < start or (until is not None and first > until) or rng.random() < 0.12:
                continue  # not paired yet, ended, or a month without a visit
            visits.append({"pairing_id": pairing_id, "household_id": hid,
                           "visited_on": date(y, m, rng.randrange(3, 26)),
                           "services": rng.sample(["生产", "生活", "生育"], rng.randrange(1, 3)),
                           "notes": rng.choice(["了解家庭近况", "宣传生育关怀政策", "帮助联系就医", "协助春耕",
                                                "陪同老人体检"]),
                           "goods": rng.choice([None, "米一袋", "食用油一桶", "牛奶一箱"]),
                           "signer_name": "户主本人", "sheet_sha256": sheet.sha256, "sheet_type": sheet.media_type,
                           "recorded_by": "demo"})
    insert_rows(session, Pairing, pairings)
    insert_rows(session, Visit, visits)
    return len(pairings), len(visits)
