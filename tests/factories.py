"""Small builders for test data: valid resident IDs, people, members."""

from __future__ import annotations

import itertools
from datetime import date

from sqlalchemy.orm import Session
from stdnum.cn import ric

from assoc_ledger.auth.scope import Scope
from assoc_ledger.members import services as members
from assoc_ledger.members.models import Membership
from assoc_ledger.people import services as people
from assoc_ledger.people.models import Person

_serial = itertools.count(1)


def resident_id(birth: date = date(1980, 5, 17), region: str = "341122", serial: int | None = None) -> str:
    """A valid 18-character resident ID (GB 11643 check character computed)."""
    n = next(_serial) if serial is None else serial
    body = f"{region}{birth:%Y%m%d}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def person(session: Session, org_id: int, name: str = "测试人") -> Person:
    return people.create_person(session, Scope.everything(), name=name, resident_id=unique_resident_id(),
                                 org_id=org_id, phone="13900001111")


def unique_resident_id() -> str:
    n = next(_serial)
    year = 1950 + n % 50
    return resident_id(date(year, 1 + n % 12, 1 + n % 28), serial=n)


def membership(session: Session, org_id: int, joined: date = date(2020, 1, 1)) -> Membership:
    p = person(session, org_id)
    return members.join(session, Scope.everything(), person_id=p.id, org_id=org_id, joined_on=joined)
