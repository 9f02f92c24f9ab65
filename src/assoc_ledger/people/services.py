"""People: registration (one person per resident ID), visibility, the logged full-ID view, changes, death.

Areas to the right (members) link people to themselves; people cannot import them, so they
register here: ``VISIBLE_THROUGH`` (a person is visible through, e.g., a membership in scope)
and ``ON_DEATH`` (what a recorded death ends; it may refuse the date).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from assoc_ledger.auth import audit
from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.config import get_settings
from assoc_ledger.core.crypto import IdCipher, cipher_for
from assoc_ledger.core.errors import Conflict, DomainError, Invalid, NotFound, Problem
from assoc_ledger.core.personal import ResidentId
from assoc_ledger.orgs.models import Organisation
from assoc_ledger.orgs.services import get_org
from assoc_ledger.people.models import Person
from assoc_ledger.people.rules import PersonDetails, check_person, check_phone

VisibleThrough = Callable[[Session, Scope, int], bool]
OnDeath = Callable[[Session, Person, date], None]
VISIBLE_THROUGH: list[VisibleThrough] = []
ON_DEATH: list[OnDeath] = []


def current_cipher() -> IdCipher:
    """The cipher of this process's settings (CLI, demo, tests); the app passes its own."""
    return cipher_for(get_settings())


def id_columns(cipher: IdCipher, rid: ResidentId) -> dict[str, Any]:
    """The stored form of a resident ID: ciphertext bound to its lookup hash, and the derived facts."""
    lookup = cipher.lookup(rid.number)
    return {"resident_id_cipher": cipher.seal(rid.number, lookup), "resident_id_hash": lookup,
            "resident_id_region": rid.number[:6], "resident_id_tail": rid.number[-4:],
            "birth_date": rid.birth_date, "sex": rid.sex}


def registered(session: Session, lookups: Iterable[str]) -> dict[str, Any]:
    """One person per ID: who is already registered under these lookup hashes (id, name, org_id, died_on)."""
    wanted = list(lookups)
    if not wanted:
        return {}
    rows = session.execute(select(Person.resident_id_hash, Person.id, Person.name, Person.org_id, Person.died_on)
                           .where(Person.resident_id_hash.in_(wanted)))
    return {r.resident_id_hash: r for r in rows}


def insert_people(session: Session, cipher: IdCipher, people: list[tuple[PersonDetails, int]]) -> dict[str, int]:
    """Bulk registration (roster import): one executemany; returns lookup hash -> new person id."""
    if not people:
        return {}
    session.execute(Person.__table__.insert(), [  # type: ignore[attr-defined]
        {"name": d.name, "phone": d.phone, "address": d.address, "org_id": org_id,
         **id_columns(cipher, d.resident_id)} for d, org_id in people])
    lookups = [cipher.lookup(d.resident_id.number) for d, _ in people]
    return {h: r.id for h, r in registered(session, lookups).items()}


def _org_path(session: Session, org_id: int) -> str:
    org = session.get(Organisation, org_id)
    return org.path if org else ""


def create_person(session: Session, scope: Scope, *, name: str, resident_id: str, org_id: int,
                  phone: str | None = None, address: str | None = None, cipher: IdCipher | None = None) -> Person:
    cipher = cipher or current_cipher()
    org = get_org(session, org_id, scope)
    if org.closed_on is not None:
        raise DomainError("所属组织已撤销", field="org_id")
    details, problems = check_person(name, resident_id, phone, address)
    if details is None:
        raise Invalid(problems=problems)
    lookup = cipher.lookup(details.resident_id.number)
    clash = registered(session, [lookup]).get(lookup)
    if clash is not None:
        # Point at the existing record only if the caller may see it; otherwise just refuse.
        visible = scope.contains(_org_path(session, clash.org_id))
        raise Conflict("该身份证号已登记，同一人只能登记一次", field="resident_id",
                       extra={"existing_person_id": clash.id} if visible else {})
    person = Person(name=details.name, phone=details.phone, address=details.address, org_id=org.id,
                    **id_columns(cipher, details.resident_id))
    person.__dict__["_number_as_given"] = details.resident_id.number
    session.add(person)
    session.flush()
    return person


def get_person(session: Session, scope: Scope, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None or not _person_visible(session, scope, person):
        raise NotFound("人员不存在", field="person_id")
    return person


def _person_visible(session: Session, scope: Scope, person: Person) -> bool:
    if scope.contains(_org_path(session, person.org_id)):
        return True
    return any(through(session, scope, person.id) for through in VISIBLE_THROUGH)


def open_resident_id(cipher: IdCipher, person: Person) -> str:
    return cipher.open(person.resident_id_cipher, person.resident_id_hash)


def reveal_resident_id(session: Session, scope: Scope, person_id: int, reason: str | None,
                       cipher: IdCipher | None = None) -> str:
    """The full number, for a user allowed to see it; the view itself goes on the audit log."""
    cipher = cipher or current_cipher()
    view_scope = scope.narrowed(Perm.id_view)
    person = get_person(session, view_scope, person_id)
    number = open_resident_id(cipher, person)
    audit.note(session, "person.id_viewed", "people", str(person.id), _org_path(session, person.org_id),
               note_text=reason)
    return number


def update_person(session: Session, scope: Scope, person_id: int, *, name: str | None = None,
                  phone: str | None = None, address: str | None = None, org_id: int | None = None,
                  died_on: date | None = None) -> Person:
    person = get_person(session, scope, person_id)
    if name is not None:
        person.name = name.strip()
    if phone is not None:
        checked = check_phone(phone) if phone else None
        if isinstance(checked, Problem):
            raise Invalid(problems=[checked])
        person.phone = checked
    if address is not None:
        person.address = address
    if org_id is not None:
        person.org_id = get_org(session, org_id, scope).id
    if died_on is not None:
        record_death(session, person, died_on)
    session.flush()
    return person


def record_death(session: Session, person: Person, died_on: date) -> None:
    """A death date is a business fact: not before birth, not in the future; linked areas may refuse it too."""
    if died_on < person.birth_date or died_on > date.today():
        raise DomainError("死亡日期无效（早于出生日期或晚于今天）", field="died_on")
    for hook in ON_DEATH:
        hook(session, person, died_on)
    person.died_on = died_on
