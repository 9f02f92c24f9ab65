"""Who may join a chapter, and when: the one admission rule for the API, the roster import and the demo.

Pure checks over plain values, returning problems (never raising). Fields are the API's
(``person_id``, ``joined_on``); the roster import maps them to its column headers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from assoc_ledger.core.errors import Problem


@dataclass(frozen=True)
class Spell:
    """One existing membership of the person: where, from, until (None while it lasts)."""

    org_id: int
    joined_on: date
    left_on: date | None


def join_date_problems(birth_date: date, joined_on: date, today: date) -> list[Problem]:
    """A joining date must lie between the person's birth and today (business rule, 422)."""
    if joined_on > today:
        return [Problem("joined_on", "入会日期不能晚于今天")]
    if joined_on < birth_date:
        return [Problem("joined_on", "入会日期早于出生日期")]
    return []


@dataclass(frozen=True)
class Refusals:
    """Why a person may not join: ``rules`` are business-rule refusals (422), ``clashes`` conflicts (409)."""

    rules: list[Problem]
    clashes: list[Problem]

    def __bool__(self) -> bool:
        return bool(self.rules or self.clashes)

    @property
    def all(self) -> list[Problem]:
        return [*self.rules, *self.clashes]


def spell_problems(died_on: date | None, org_id: int, joined_on: date, spells: Sequence[Spell]) -> Refusals:
    """Against the person's record: the dead do not join, one open membership at a time, no joining into the past."""
    rules: list[Problem] = []
    clashes: list[Problem] = []
    if died_on is not None:
        rules.append(Problem("person_id", "该人员已登记为已故，不能入会"))
    current = [s for s in spells if s.left_on is None]
    if current:
        here = any(s.org_id == org_id for s in current)
        clashes.append(Problem("person_id", "该人员已是本会会员" if here
                               else "该人员已是其他协会的在册会员，请先办理转会"))
    elif any(s.joined_on > joined_on for s in spells):
        rules.append(Problem("joined_on", "入会日期早于该人员已有的会员记录"))
    return Refusals(rules, clashes)
