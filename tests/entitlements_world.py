"""A small county with households of every case the entitlement rule knows, a funded county book and
programmes: shared by the entitlement tests (runs, API, crash)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.entitlements import services as ent
from assoc_ledger.fund import service, standards
from assoc_ledger.households import services as hh
from assoc_ledger.households.rules import Relation
from assoc_ledger.people import services as people
from tests import factories
from tests.conftest import Tree

ALL = Scope.everything()
SPECIAL_PER_PARENT = "590.00"  # the test county's own standard (no built-in amount exists)


@dataclass
class World:
    ledger_dir: Path
    county_book: int
    households: dict[str, int] = field(default_factory=dict)
    children: dict[str, int] = field(default_factory=dict)


def _person(db: Session, org_id: int, birth: date, name: str) -> int:
    return people.create_person(db, ALL, name=name, resident_id=factories.resident_id(birth), org_id=org_id).id


def household(db: Session, org_id: int, name: str, child_born: date, certificate_on: date | None,
              registered_on: date | None = None) -> tuple[int, int]:
    head = _person(db, org_id, date(1980, 4, 4), f"{name}父")
    spouse = _person(db, org_id, date(1982, 7, 7), f"{name}母")
    child = _person(db, org_id, child_born, f"{name}子")
    kinds = [hh.KindSpec("only_child", certificate_on, "乡计生办", f"GRZ-{name}", child)] if certificate_on else []
    h = hh.register_household(db, ALL, org_id=org_id, address=f"{name}家", registered_on=registered_on or child_born,
                              members=[(head, Relation.head.value), (spouse, Relation.spouse.value),
                                       (child, Relation.child.value)], kinds=kinds, today=date(2026, 11, 1))
    return h.id, child


def event(db: Session, household_id: int, kind: str, on: date, person_id: int | None = None, **data: object) -> None:
    hh.record_event(db, ALL, household_id, hh.event_from(kind, on, person_id, **data), today=date(2026, 11, 1))


def build(factory: sessionmaker[Session], ledger_dir: Path, tree: Tree, extra: int = 0) -> World:
    """Households A–G (see the names) plus ``extra`` plain only-child households spread over the villages."""
    with factory() as db:
        county = service.open_book(db, ledger_dir, tree.county.id, ALL).id
        service.open_book(db, ledger_dir, tree.town_a.id, ALL)
        service.open_book(db, ledger_dir, tree.town_b.id, ALL)
    world = World(ledger_dir, county)
    with factory() as db:
        service.post_income(db, ledger_dir, ALL, county, key="ent-fund", date="2024-01-02", amount="500000.00",
                            source="budget", payer="县财政局", voucher="收-ent-1", narration="奖励扶助资金")
    with factory() as db:
        standards.set_aid_standard(db, Scope.everything(Perm.fund_write), tree.county.id, scheme="special_family",
                                   amount=SPECIAL_PER_PARENT, effective_from="2024-01-01", basis="测试县标准")
        for scheme in ("only_child_reward", "special_family"):
            ent.set_programme(db, ALL, tree.county.id, scheme=scheme, first_month="2024-01")
    with factory() as db:
        a1, b1 = tree.village_a1.id, tree.village_b1.id
        cases = {
            "A": (a1, date(2015, 2, 3), date(2023, 6, 10)),  # paid all along
            "B": (a1, date(2019, 11, 11), date(2022, 3, 10)),  # certificate issued 2022, registered late
            "C": (b1, date(2010, 5, 31), date(2011, 1, 15)),  # turns 14 on 31 May 2024
            "D": (b1, date(2016, 9, 9), date(2017, 2, 3)),  # only child dies 15 March 2024
            "E": (a1, date(2018, 1, 20), date(2018, 6, 6)),  # moves to 乙一村 (other township) 15 June 2024
            "F": (a1, date(2018, 1, 20), date(2018, 6, 6)),  # leaves the county 1 April 2024
            "G": (b1, date(2018, 4, 2), date(2019, 1, 10)),  # second child born 15 July 2024
        }
        for name, (org, born, cert) in cases.items():
            world.households[name], world.children[name] = household(db, org, name, born, cert)
        event(db, world.households["D"], "death", date(2024, 3, 15), world.children["D"])
        event(db, world.households["E"], "move_out", date(2024, 6, 15), to_org_id=b1)
        event(db, world.households["F"], "move_out", date(2024, 4, 1), out_of_county=True)
        second = _person(db, b1, date(2024, 7, 15), "G次子")
        event(db, world.households["G"], "birth", date(2024, 7, 15), second, relation="子女")
        villages = [tree.village_a1.id, tree.village_a2.id, tree.village_b1.id, tree.village_b2.id]
        for i in range(extra):
            hid, _ = household(db, villages[i % 4], f"X{i}", date(2016, 1 + i % 12, 1 + i % 28),
                               date(2017, 1 + i % 12, 1 + i % 28))
            world.households[f"X{i}"] = hid
        db.commit()
    return world
