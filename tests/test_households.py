"""The household registry on both backends: one household per person, impossible dates refused,
facts as of a past date (by effective date and by recorded time), every event kept with who and when."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assoc_ledger.auth.audit import Actor, set_actor
from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.errors import Conflict, DomainError, NotFound
from assoc_ledger.households import services as hh
from assoc_ledger.households.models import HouseholdEvent
from assoc_ledger.households.rules import KindCode, Relation
from assoc_ledger.members import services as members
from assoc_ledger.people import services as people
from assoc_ledger.people.models import Person
from tests import factories
from tests.conftest import Tree

ALL = Scope.everything(Perm.household_write)


def born(session: Session, org_id: int, birth: date, name: str = "成员") -> Person:
    return people.create_person(session, ALL, name=name, resident_id=factories.resident_id(birth), org_id=org_id)


def family(db: Session, tree: Tree) -> tuple[Person, Person, Person]:
    head = born(db, tree.village_a1.id, date(1975, 3, 1), "张父")
    wife = born(db, tree.village_a1.id, date(1977, 6, 1), "李母")
    child = born(db, tree.village_a1.id, date(2005, 9, 1), "张女")
    return head, wife, child


def register(db: Session, tree: Tree, *members: tuple[Person, Relation], **kw: object) -> int:
    h = hh.register_household(db, ALL, org_id=tree.village_a1.id, address="一组12号",
                              registered_on=kw.pop("registered_on", date(2006, 1, 1)),  # type: ignore[arg-type]
                              members=[(p.id, r.value) for p, r in members], **kw)  # type: ignore[arg-type]
    return h.id


def fields(exc: DomainError) -> set[str]:
    return {p.field for p in exc.problems}


def test_register_with_certificate_and_read_back(db: Session, tree: Tree) -> None:
    head, wife, child = family(db, tree)
    hid = register(db, tree, (head, Relation.head), (wife, Relation.spouse), (child, Relation.child),
                   kinds=[hh.KindSpec("only_child", date(2008, 5, 1), "乡计生办", "341122-0001", child.id)])
    db.commit()
    facts = hh.facts_of(db, ALL, hid)
    assert facts.org_id == tree.village_a1.id and facts.active
    assert {(m.person_id, m.relation) for m in facts.members} == {
        (head.id, Relation.head), (wife.id, Relation.spouse), (child.id, Relation.child)}
    cert = facts.kind(KindCode.only_child)
    assert cert is not None and cert.certificate_no == "341122-0001" and cert.child_id == child.id
    assert cert.since == date(2008, 5, 1)
    assert [h.id for h in hh.list_households(db, ALL, kind=KindCode.only_child)] == [hid]
    assert hh.list_households(db, ALL, kind=KindCode.hardship) == []
    assert [h.id for h in hh.list_households(db, ALL, q="张女")] == [hid]


def test_a_person_in_two_households_is_refused_with_a_pointer(db: Session, tree: Tree) -> None:
    head, wife, child = family(db, tree)
    first = register(db, tree, (head, Relation.head), (child, Relation.child))
    db.commit()
    with pytest.raises(Conflict) as caught:
        register(db, tree, (wife, Relation.head), (child, Relation.child))
    assert caught.value.status_code == 409
    assert fields(caught.value) == {"members[1].person_id"}
    assert caught.value.extra == {"existing_household_ids": [first]}
    db.rollback()
    # Moving in through an event is the same rule.
    other = register(db, tree, (wife, Relation.head))
    with pytest.raises(Conflict):
        hh.record_event(db, ALL, other, hh.event_from("move_in", date(2020, 1, 1), child.id, relation="子女"))
    db.rollback()
    # A caller who cannot see the other household is refused without the pointer.
    town_b_only = Scope(perm=Perm.household_write, paths=(tree.town_b.path,))
    stranger = born(db, tree.village_b1.id, date(1970, 1, 1))
    db.flush()
    with pytest.raises(NotFound):  # the child is not in this caller's scope at all
        hh.register_household(db, town_b_only, org_id=tree.village_b1.id, address=None,
                              registered_on=date(2020, 1, 1),
                              members=[(stranger.id, "户主"), (child.id, "子女")])


def test_impossible_dates_are_refused_with_the_field_named(db: Session, tree: Tree) -> None:
    head, wife, child = family(db, tree)
    older_child = born(db, tree.village_a1.id, date(1970, 1, 1), "年长子女")
    with pytest.raises(DomainError) as caught:
        register(db, tree, (head, Relation.head), (older_child, Relation.child))
    assert caught.value.status_code == 422 and fields(caught.value) == {"members[1].person_id"}
    with pytest.raises(DomainError) as caught:
        register(db, tree, (head, Relation.head), registered_on=date.today() + timedelta(days=1))
    assert fields(caught.value) == {"registered_on"}
    with pytest.raises(DomainError) as caught:  # a member registered before being born
        register(db, tree, (head, Relation.head), (child, Relation.child), registered_on=date(2000, 1, 1))
    assert fields(caught.value) == {"members[1].person_id"}
    with pytest.raises(DomainError) as caught:
        register(db, tree, (head, Relation.head), (child, Relation.child),
                 kinds=[hh.KindSpec("only_child", date(2005, 1, 1), None, "X-1", child.id)])
    assert fields(caught.value) == {"kinds[0].since"}  # the certificate predates the child
    db.rollback()
    head, wife, child = family(db, tree)
    hid = register(db, tree, (head, Relation.head), (wife, Relation.spouse), registered_on=date(2000, 1, 1))
    hh.record_event(db, ALL, hid, hh.event_from("birth", child.birth_date, child.id))
    with pytest.raises(DomainError) as caught:  # a certificate before the child's birth
        hh.record_event(db, ALL, hid, hh.event_from("certificate_issued", date(2004, 1, 1), None,
                                                    certificate_no="C-9", child_id=child.id))
    assert fields(caught.value) == {"date"}
    with pytest.raises(DomainError) as caught:  # an event in the future
        hh.record_event(db, ALL, hid, hh.event_from("death", date.today() + timedelta(days=3), head.id))
    assert fields(caught.value) == {"date"}
    baby_before_mother = born(db, tree.village_a1.id, date(1976, 1, 1), "不可能的孩子")
    with pytest.raises(DomainError) as caught:
        hh.record_event(db, ALL, hid, hh.event_from("birth", date(2000, 1, 2), baby_before_mother.id))
    assert "person_id" in fields(caught.value)
    with pytest.raises(DomainError) as caught:  # a death before the person was born
        hh.record_event(db, ALL, hid, hh.event_from("death", date(2004, 1, 1), child.id))
    assert fields(caught.value) == {"date"}


def test_history_as_of_a_date_and_as_known_at_a_time(db: Session, tree: Tree) -> None:
    set_actor(db, Actor(None, "秘书长甲", None))
    head, wife, child = family(db, tree)
    hid = register(db, tree, (head, Relation.head), (wife, Relation.spouse), (child, Relation.child),
                   registered_on=date(2006, 1, 1),
                   kinds=[hh.KindSpec("only_child", date(2008, 5, 1), None, "C-1", child.id)])
    db.commit()
    before_late_news = datetime.now(UTC)
    second = born(db, tree.village_a1.id, date(2015, 2, 2), "二孩")
    hh.record_event(db, ALL, hid, hh.event_from("birth", date(2015, 2, 2), second.id, relation="子女"))
    hh.record_event(db, ALL, hid, hh.event_from("certificate_revoked", date(2015, 3, 1), None))
    hh.record_event(db, ALL, hid, hh.event_from("hardship_start", date(2019, 7, 1), None, evidence="低保证"))
    hh.record_event(db, ALL, hid, hh.event_from("hardship_end", date(2022, 7, 1), None))
    db.commit()
    # What was true on a date, by effective date.
    on_2010 = hh.facts_of(db, ALL, hid, on=date(2010, 1, 1))
    assert [k.kind for k in on_2010.kinds] == [KindCode.only_child] and len(on_2010.members) == 3
    on_2020 = hh.facts_of(db, ALL, hid, on=date(2020, 1, 1))
    assert [k.kind for k in on_2020.kinds] == [KindCode.hardship] and len(on_2020.members) == 4
    assert hh.facts_of(db, ALL, hid, on=date(2005, 1, 1)).registered is False
    assert hh.facts_of(db, ALL, hid).kinds == ()
    # What we knew before the later events were recorded: still an only-child household in 2020.
    known = hh.facts_of(db, ALL, hid, on=date(2020, 1, 1), known_at=before_late_news)
    assert [k.kind for k in known.kinds] == [KindCode.only_child] and len(known.members) == 3
    # Every event kept, with who recorded it and when; nothing overwritten.
    rows = db.scalars(select(HouseholdEvent).where(HouseholdEvent.household_id == hid)
                      .order_by(HouseholdEvent.id)).all()
    assert [r.kind for r in rows] == ["registered", "certificate_issued", "birth", "certificate_revoked",
                                      "hardship_start", "hardship_end"]
    assert all(r.recorded_by == "秘书长甲" and r.recorded_at is not None for r in rows)
    assert hh.list_households(db, ALL, kind=KindCode.only_child) == []


def test_a_member_who_leaves_is_free_to_join_another_household(db: Session, tree: Tree) -> None:
    head, wife, child = family(db, tree)
    hid = register(db, tree, (head, Relation.head), (wife, Relation.spouse), (child, Relation.child))
    hh.record_event(db, ALL, hid, hh.event_from("divorce", date(2018, 1, 1), wife.id))
    other = born(db, tree.village_a2.id, date(1974, 1, 1), "新户主")
    db.flush()
    second = hh.register_household(db, ALL, org_id=tree.village_a2.id, address=None, registered_on=date(2019, 1, 1),
                                   members=[(other.id, "户主"), (wife.id, "配偶")])
    db.commit()
    assert hh.facts_of(db, ALL, hid, on=date(2017, 1, 1)).member(wife.id) is not None
    assert hh.facts_of(db, ALL, hid).member(wife.id) is None
    assert hh.facts_of(db, ALL, second.id).member(wife.id) is not None
    # The whole household moves to another village, then out of the county: kept, inactive.
    hh.record_event(db, ALL, hid, hh.event_from("move_out", date(2020, 1, 1), None, to_org_id=tree.village_a2.id))
    hh.record_event(db, ALL, hid, hh.event_from("move_out", date(2021, 1, 1), None, out_of_county=True))
    db.commit()
    assert hh.facts_of(db, ALL, hid, on=date(2019, 6, 1)).org_id == tree.village_a1.id
    assert hh.facts_of(db, ALL, hid, on=date(2020, 6, 1)).org_id == tree.village_a2.id
    assert hh.facts_of(db, ALL, hid).active is False
    assert db.scalar(select(func.count()).select_from(HouseholdEvent)) == 5


def test_outside_scope_is_not_found(db: Session, tree: Tree) -> None:
    head, _, _ = family(db, tree)
    hid = register(db, tree, (head, Relation.head))
    db.commit()
    town_b = Scope(perm=Perm.household_read, paths=(tree.town_b.path,))
    with pytest.raises(NotFound):
        hh.facts_of(db, town_b, hid)
    assert hh.list_households(db, town_b) == []


def test_a_backdated_event_cannot_contradict_a_later_one(db: Session, tree: Tree) -> None:
    head, wife, child = family(db, tree)
    hid = register(db, tree, (head, Relation.head), (wife, Relation.spouse), (child, Relation.child))
    hh.record_event(db, ALL, hid, hh.event_from("divorce", date(2018, 1, 1), wife.id))
    with pytest.raises(DomainError) as caught:  # an earlier divorce would leave the recorded 2018 one impossible
        hh.record_event(db, ALL, hid, hh.event_from("divorce", date(2017, 1, 1), wife.id))
    assert fields(caught.value) == {"date"} and "2018-01-01" in caught.value.detail
    # ...while a backdated event that fits the later history is taken, and read back in its place.
    hh.record_event(db, ALL, hid, hh.event_from("hardship_start", date(2016, 1, 1), None, evidence="低保"))
    db.commit()
    assert hh.facts_of(db, ALL, hid, on=date(2016, 6, 1)).kind(KindCode.hardship) is not None
    assert hh.facts_of(db, ALL, hid, on=date(2017, 6, 1)).member(wife.id) is not None


def test_a_death_is_one_fact_whichever_door_it_comes_through(db: Session, tree: Tree) -> None:
    head, wife, child = family(db, tree)
    hid = register(db, tree, (head, Relation.head), (wife, Relation.spouse), (child, Relation.child))
    head_member = members.join(db, ALL, person_id=head.id, org_id=tree.village_a1.id, joined_on=date(2010, 1, 1))
    hh.record_event(db, ALL, hid, hh.event_from("death", date(2020, 5, 1), head.id))
    db.commit()
    db.refresh(head)
    assert head.died_on == date(2020, 5, 1) and head_member.left_on == date(2020, 5, 1)
    wife_member = members.join(db, ALL, person_id=wife.id, org_id=tree.village_a1.id, joined_on=date(2010, 1, 1))
    people.update_person(db, ALL, wife.id, died_on=date(2021, 6, 1))
    assert wife_member.left_on == date(2021, 6, 1)  # the members area heard of it once, through the people area
    db.commit()
    facts = hh.facts_of(db, ALL, hid)
    assert facts.member(wife.id) is not None and facts.member(wife.id).died_on == date(2021, 6, 1)  # type: ignore[union-attr]
    kinds = db.scalars(select(HouseholdEvent.kind).where(HouseholdEvent.household_id == hid)).all()
    assert sorted(kinds) == ["death", "death", "registered"]
