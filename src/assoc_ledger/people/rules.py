"""What makes a person's details acceptable: one check shared by the API, the roster import and the demo.

Problems name the API's fields (``name``, ``resident_id``, ``phone``, ``address``); the roster
import maps them to its column headers. Every problem here is malformed input (400).
"""

from __future__ import annotations

from dataclasses import dataclass

from assoc_ledger.core.errors import Problem
from assoc_ledger.core.personal import ResidentId, ResidentIdError, parse_resident_id, validate_phone

NAME_MAX = 50
ADDRESS_MAX = 200


@dataclass(frozen=True)
class PersonDetails:
    """A person's details once checked: the resident ID parsed, the phone normalised."""

    name: str
    resident_id: ResidentId
    phone: str | None
    address: str | None


def check_person(name: str, resident_id: str, phone: str | None = None,
                 address: str | None = None) -> tuple[PersonDetails | None, list[Problem]]:
    """The checked details, or every problem with them."""
    problems: list[Problem] = []
    name = name.strip()
    if not name:
        problems.append(Problem("name", "必填"))
    elif len(name) > NAME_MAX:
        problems.append(Problem("name", f"姓名过长（最多{NAME_MAX}个字）"))
    rid: ResidentId | None = None
    if not resident_id.strip():
        problems.append(Problem("resident_id", "必填"))
    else:
        try:
            rid = parse_resident_id(resident_id)
        except ResidentIdError as exc:
            problems.append(Problem("resident_id", str(exc)))
    if phone:
        checked = check_phone(phone)
        if isinstance(checked, Problem):
            problems.append(checked)
        else:
            phone = checked
    if address and len(address) > ADDRESS_MAX:
        problems.append(Problem("address", f"住址过长（最多{ADDRESS_MAX}个字）"))
    if problems or rid is None:
        return None, problems
    return PersonDetails(name=name, resident_id=rid, phone=phone or None, address=address or None), []


def check_phone(phone: str) -> str | Problem:
    """The phone normalised, or why it is not one."""
    try:
        return validate_phone(phone)
    except ValueError as exc:
        return Problem("phone", str(exc))
