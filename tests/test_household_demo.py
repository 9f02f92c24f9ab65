"""The demo county's households: every kind in realistic numbers, history over the years, loaded once; and the
unvisited report on it lists exactly the pairings the demo left without a visit (expectation built from rows)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth.scope import Role
from assoc_ledger.demo import county, load
from assoc_ledger.demo.households import load_households
from assoc_ledger.households.models import Household, HouseholdEvent, HouseholdKind, Pairing, Visit
from assoc_ledger.households.rules import KindCode
from assoc_ledger.people.models import Person
from tests.conftest import AuthFor


def _counts(s: Session) -> dict[str, int]:
    return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0
            for m in (Household, HouseholdEvent, Person, Pairing, Visit)}


def test_demo_households_and_the_unvisited_report(session_factory: sessionmaker[Session], client: TestClient[Any],
                                                  auth_for: AuthFor) -> None:
    orgs = county.organisations()
    with session_factory() as s:
        ids = load.load_orgs(s, orgs)
        load.load_members(s, ids, list(county.members(orgs)))
        first = load_households(s, ids)
        s.commit()
    assert first.households > 3000 and first.visits > 5000
    with session_factory() as s:
        kinds = dict(s.execute(select(HouseholdKind.kind, func.count()).group_by(HouseholdKind.kind)).tuples().all())
        assert set(kinds) == {k.value for k in KindCode}
        assert kinds["only_child"] >= 2000  # thousands of certificate holders
        assert 20 <= kinds["only_child_disabled"] + kinds["only_child_deceased"] <= 100  # dozens of 特殊家庭
        events = s.execute(select(HouseholdEvent.kind, HouseholdEvent.effective_on, HouseholdEvent.person_id,
                                  HouseholdEvent.data)).all()
        by_kind = {e.kind for e in events}
        assert {"birth", "death", "move_out", "certificate_issued", "certificate_revoked", "hardship_start",
                "hardship_end", "kind_added"} <= by_kind
        moves = [e.data for e in events if e.kind == "move_out"]
        assert any(d.get("to_org_id") for d in moves) and any(d.get("out_of_county") for d in moves)
        births = dict(s.execute(select(Person.id, Person.birth_date)).tuples().all())
        certs = [(e.effective_on, births[e.data["child_id"]]) for e in events if e.kind == "certificate_issued"]
        young = [(on, born) for on, born in certs if born >= date(2008, 1, 1)]
        assert all(born <= date(2025, 12, 31) for _, born in young) and len(young) >= 2000
        assert sum(on - born <= timedelta(days=366) for on, born in young) > 0.7 * len(young)  # mostly within a year
        assert any(on - born > timedelta(days=2 * 365) for on, born in young)  # some years late
        cert_children = {e.data["child_id"] for e in events if e.kind == "certificate_issued"}
        dead = {e.person_id for e in events if e.kind == "death"}
        assert dead & cert_children  # an only child's death
        assert all(births[p] is not None for p in dead)
        assert s.scalar(select(func.count()).select_from(Person).where(Person.died_on.is_not(None))) == len(dead)
        before = _counts(s)
    with session_factory() as s:
        again = load_households(s, ids)
        s.commit()
        assert again.households == 0 and again.visits == 0 and _counts(s) == before

    admin = auth_for(Role.admin, ids[county.COUNTY_CODE])
    with session_factory() as s:
        pairings = s.execute(select(Pairing.id, Pairing.from_date, Pairing.until_date, Pairing.household_id)).all()
        visited = set(s.execute(select(Visit.pairing_id, Visit.visited_on)).tuples().all())
        whole = s.execute(select(HouseholdEvent.id, HouseholdEvent.household_id, HouseholdEvent.kind,
                                 HouseholdEvent.effective_on, HouseholdEvent.data)
                          .where(HouseholdEvent.person_id.is_(None))
                          .order_by(HouseholdEvent.effective_on, HouseholdEvent.id)).all()
    voided = {e.data.get("corrects") for e in whole if e.kind == "correction"}

    def in_county(household_id: int, day: date) -> bool:
        """From the household's own whole-household events: registered by then and not moved out of the county."""
        here = False
        for e in whole:
            if e.household_id != household_id or e.id in voided or e.effective_on > day:
                continue
            if e.kind in ("registered", "move_in"):
                here = True
            elif e.kind == "move_out" and not e.data.get("to_org_id"):
                here = False
        return here

    for month in ("2024-03", "2025-08"):
        year, mon = (int(x) for x in month.split("-"))
        first_day = date(year, mon, 1)
        last_day = date(year + mon // 12, mon % 12 + 1, 1) - timedelta(days=1)
        in_force = {p.id for p in pairings if p.from_date <= last_day
                    and (p.until_date is None or p.until_date >= first_day)
                    and (in_county(p.household_id, first_day) or in_county(p.household_id, last_day))}
        seen = {pid for pid, on in visited if first_day <= on <= last_day}
        expected = in_force - seen
        assert expected and in_force & seen  # the demo skipped some months and kept others
        r = client.get(f"/api/pairings/unvisited?month={month}", headers=admin)
        assert r.status_code == 200, r.text
        assert sorted(x["pairing_id"] for x in r.json()) == sorted(expected)
