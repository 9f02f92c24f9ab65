"""Corrections and backdated moves: a wrong event is voided by a correcting event (never overwritten), the as-of
view tells what was true from what we knew when; a backdated move that contradicts later events is refused."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth.audit import Actor, set_actor
from assoc_ledger.auth.scope import Perm, Role, Scope
from assoc_ledger.core.errors import Conflict, DomainError, Invalid
from assoc_ledger.households import services as hh
from assoc_ledger.households.models import HouseholdEvent
from assoc_ledger.households.rules import KindCode
from assoc_ledger.people import services as people
from assoc_ledger.people.models import Person
from tests import factories
from tests.conftest import AuthFor, Tree

ALL = Scope.everything(Perm.household_write)


def household(db: Session, tree: Tree) -> tuple[int, int, int]:
    """(household, head, child): an only-child household of 甲一村 since 2006."""
    head = people.create_person(db, ALL, name="张父", resident_id=factories.resident_id(date(1975, 3, 1)),
                                org_id=tree.village_a1.id)
    child = people.create_person(db, ALL, name="张女", resident_id=factories.resident_id(date(2005, 9, 1)),
                                 org_id=tree.village_a1.id)
    h = hh.register_household(db, ALL, org_id=tree.village_a1.id, address="一组", registered_on=date(2006, 1, 1),
                              members=[(head.id, "户主"), (child.id, "子女")],
                              kinds=[hh.KindSpec("only_child", date(2006, 6, 1), None, "C-1", child.id)])
    db.commit()
    return h.id, head.id, child.id


def test_a_wrong_event_is_corrected_not_overwritten(db: Session, tree: Tree) -> None:
    set_actor(db, Actor(None, "专干甲", None))
    hid, _, _ = household(db, tree)
    wrong = hh.record_event(db, ALL, hid, hh.event_from("hardship_start", date(2019, 1, 1), None, evidence="低保"))
    db.commit()
    before_fix = datetime.now(UTC)
    set_actor(db, Actor(None, "专干乙", None))
    # Hardship really started in 2021: void the 2019 event and record the right one, in one step.
    correction, right = hh.correct_event(db, ALL, hid, wrong.id, "低保证日期看错",
                                         hh.event_from("hardship_start", date(2021, 1, 1), None, evidence="低保"))
    db.commit()
    assert right is not None and correction.data == {"corrects": wrong.id, "reason": "低保证日期看错"}
    # What was true in 2020 (as we know now): not yet a hardship household. What we knew then: it was.
    assert hh.facts_of(db, ALL, hid, on=date(2020, 1, 1)).kind(KindCode.hardship) is None
    known = hh.facts_of(db, ALL, hid, on=date(2020, 1, 1), known_at=before_fix)
    assert known.kind(KindCode.hardship) is not None and known.kind(KindCode.hardship).since == date(2019, 1, 1)  # type: ignore[union-attr]
    assert hh.facts_of(db, ALL, hid, on=date(2022, 1, 1)).kind(KindCode.hardship).since == date(2021, 1, 1)  # type: ignore[union-attr]
    # The wrong event is still there, with who recorded it; the correction says who corrected it.
    rows = db.scalars(select(HouseholdEvent).where(HouseholdEvent.household_id == hid).order_by(HouseholdEvent.id))
    log = [(r.kind, r.effective_on, r.recorded_by) for r in rows]
    assert ("hardship_start", date(2019, 1, 1), "专干甲") in log
    assert ("correction", date(2019, 1, 1), "专干乙") in log and ("hardship_start", date(2021, 1, 1), "专干乙") in log
    with pytest.raises(Conflict):
        hh.correct_event(db, ALL, hid, wrong.id, "再更正一次")
    with pytest.raises(Invalid):
        hh.correct_event(db, ALL, hid, right.id, "  ")
    db.rollback()


def test_a_correction_that_would_break_later_events_is_refused(db: Session, tree: Tree) -> None:
    hid, _, _ = household(db, tree)
    start = hh.record_event(db, ALL, hid, hh.event_from("hardship_start", date(2019, 1, 1), None, evidence="低保"))
    hh.record_event(db, ALL, hid, hh.event_from("hardship_end", date(2022, 1, 1), None))
    db.commit()
    with pytest.raises(DomainError) as caught:  # without the start, the recorded end would end nothing
        hh.correct_event(db, ALL, hid, start.id, "录入错误")
    assert caught.value.problems[0].field == "event_id" and "2022-01-01" in caught.value.problems[0].message
    with pytest.raises(DomainError) as caught:  # nor can the start be moved after the end
        hh.correct_event(db, ALL, hid, start.id, "日期有误",
                         hh.event_from("hardship_start", date(2023, 1, 1), None, evidence="低保"))
    db.rollback()
    assert hh.facts_of(db, ALL, hid, on=date(2020, 1, 1)).kind(KindCode.hardship) is not None


def test_backdated_moves(db: Session, tree: Tree) -> None:
    hid, head, _ = household(db, tree)
    baby = people.create_person(db, ALL, name="二孩", resident_id=factories.resident_id(date(2018, 4, 1)),
                                org_id=tree.village_a1.id)
    hh.record_event(db, ALL, hid, hh.event_from("birth", date(2018, 4, 1), baby.id, relation="子女"))
    hh.record_event(db, ALL, hid, hh.event_from("move_out", date(2020, 1, 1), None, to_org_id=tree.village_b1.id))
    db.commit()
    # Out of the county before the recorded birth: the birth could not have been registered here. Refused, named.
    with pytest.raises(DomainError) as caught:
        hh.record_event(db, ALL, hid, hh.event_from("move_out", date(2017, 1, 1), None, out_of_county=True))
    assert caught.value.problems[0].field == "date" and "2018-04-01" in caught.value.problems[0].message
    db.rollback()
    # A backdated move within the county between the birth and the later move fits, and reads back in place.
    hh.record_event(db, ALL, hid, hh.event_from("move_out", date(2019, 1, 1), None, to_org_id=tree.village_a2.id))
    db.commit()
    assert [hh.facts_of(db, ALL, hid, on=d).org_id for d in (date(2018, 6, 1), date(2019, 6, 1), date(2021, 1, 1))] \
        == [tree.village_a1.id, tree.village_a2.id, tree.village_b1.id]
    # After leaving the county, nothing more happens here until the household comes back.
    hh.record_event(db, ALL, hid, hh.event_from("move_out", date(2023, 1, 1), None, out_of_county=True))
    with pytest.raises(DomainError):
        hh.record_event(db, ALL, hid, hh.event_from("hardship_start", date(2024, 1, 1), None, evidence="低保"))
    hh.record_event(db, ALL, hid, hh.event_from("move_in", date(2024, 6, 1), None, to_org_id=tree.village_a1.id))
    db.commit()
    facts = hh.facts_of(db, ALL, hid)
    assert facts.active and facts.org_id == tree.village_a1.id and facts.member(head) is not None


def test_correction_over_http(client: TestClient[Any], tree: Tree, auth_for: AuthFor,
                              session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        hid, _, _ = household(s, tree)
        wrong = hh.record_event(s, ALL, hid, hh.event_from("kind_added", date(2020, 1, 1), None,
                                                           kind="accident", evidence="事故证明")).id
        s.commit()
    mine, theirs = auth_for(Role.secretary, tree.town_a.id), auth_for(Role.secretary, tree.town_b.id)
    url = f"/api/households/{hid}/events/{wrong}/correct"
    assert client.post(url, headers=theirs, json={"reason": "误登"}).status_code == 404
    r = client.post(url, headers=mine, json={"reason": "误登为意外家庭"})
    assert r.status_code == 201, r.text
    assert r.json()["correction"]["label"] == "更正" and r.json()["replacement"] is None
    assert client.post(url, headers=mine, json={"reason": "再次"}).status_code == 409
    detail = client.get(f"/api/households/{hid}", headers=mine).json()
    assert "accident" not in [k["kind"] for k in detail["kinds"]]
    assert [e["kind"] for e in detail["history"]].count("kind_added") == 1  # kept in the history, marked void
    assert next(e for e in detail["history"] if e["id"] == wrong)["voided_by"] == r.json()["correction"]["id"]
    bad = client.post(f"/api/households/{hid}/events", headers=mine,
                      json={"kind": "correction", "date": "2020-01-01"})
    assert bad.status_code == 422


def test_a_death_after_the_household_left_the_county_is_still_recorded_on_the_person(db: Session, tree: Tree) -> None:
    hid, head, _ = household(db, tree)
    hh.record_event(db, ALL, hid, hh.event_from("move_out", date(2020, 1, 1), None, out_of_county=True))
    db.commit()
    people.update_person(db, ALL, head, died_on=date(2024, 2, 1))
    db.commit()
    kinds = db.scalars(select(HouseholdEvent.kind).where(HouseholdEvent.household_id == hid)).all()
    assert "death" not in kinds and db.get(Person, head).died_on == date(2024, 2, 1)  # type: ignore[union-attr]
