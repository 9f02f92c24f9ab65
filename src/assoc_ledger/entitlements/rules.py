"""Who is due what, month by month: the one reading of the entitlement rules, pure (no database).

独生子女父母奖励, seed 004: “从其领证之日起至该独生子女满14周岁止，每月发给独生子女父母奖励金20元” —
a household is due for every calendar month in which it qualifies on at least one day: from the month
the certificate was issued through the month the only child turns 14, and through the month in which
it stops qualifying (another child born, certificate revoked, moved out of the county, a death), not
after. A day on which something changes counts for the state before it and for the state after it.

特殊家庭扶助 (only child died or disabled): from the month after the qualifying event, for life, per
living parent; a month is judged on the facts at the end of the month before it.

长效帮扶 (long_term): not a rule over the household's events but over its relief case: every month from the
case's start month through its end month (the planned end, or the month it was closed), each month at the
monthly amount of the scheme version in force on the month's first day — the case's own version, or a later
version of the same scheme once it is in force (``long_term_months``).

The month amounts are not here: they come from the dated standards (``fund.standards``). A month is an
integer index (``year * 12 + month - 1``) so that ranges of months are cheap to compare.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from assoc_ledger.households.rules import PARENTS, Event, Facts, KindCode, Relation, apply, in_force

RULE_VERSION = "entitlements-rule/2026-11-23"
"""Recorded on every run: which reading of the rules the run used."""


class Scheme(StrEnum):
    """Recurring schemes, keyed by the category code the books and relief schemes use."""

    only_child_reward = "only_child_reward"
    special_family = "special_family"
    long_term = "long_term"  # from relief cases (``long_term``), not from the household's events


SCHEME_ZH: dict[Scheme, str] = {
    Scheme.only_child_reward: "独生子女父母奖励",
    Scheme.special_family: "特殊家庭扶助",
    Scheme.long_term: "长效帮扶",
}


class ExitReason(StrEnum):
    turned_14 = "turned_14"
    another_child = "another_child"
    moved_out = "moved_out"
    death = "death"
    revoked = "revoked"
    kind_ended = "kind_ended"


EXIT_ZH: dict[ExitReason, str] = {
    ExitReason.turned_14: "孩子满14周岁",
    ExitReason.another_child: "再生育",
    ExitReason.moved_out: "迁出",
    ExitReason.death: "死亡",
    ExitReason.revoked: "光荣证注销",
    ExitReason.kind_ended: "特殊家庭类别退出",
}

FAR = dt.date(9999, 12, 31)


def month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def month_start(index: int) -> dt.date:
    return dt.date(index // 12, index % 12 + 1, 1)


def month_end(index: int) -> dt.date:
    return month_start(index + 1) - dt.timedelta(days=1) if index < month_index(FAR) else FAR


def month_text(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def parse_month(text: str) -> int:
    """``YYYY-MM`` → month index; ValueError for anything else."""
    year, _, month = text.strip().partition("-")
    if len(year) != 4 or len(month) != 2 or not (year.isdigit() and month.isdigit()) or not 1 <= int(month) <= 12:
        raise ValueError(text)
    if not 1900 <= int(year) <= 2999:
        raise ValueError(text)
    return int(year) * 12 + int(month) - 1


def turns_14(birth: dt.date) -> dt.date:
    """The 14th birthday; a child born on 29 February turns 14 on 1 March in a common year."""
    try:
        return birth.replace(year=birth.year + 14)
    except ValueError:
        return dt.date(birth.year + 14, 3, 1)


@dataclass(frozen=True, slots=True)
class DueRange:
    """Months ``first``..``last`` (indexes, inclusive) of one scheme, with the facts that made them due."""

    scheme: Scheme
    first: int
    last: int
    units: int  # households (1) or living parents (special family)
    org_id: int | None  # the household's home organisation in those months
    qualified_on: dt.date  # certificate issue date, or the qualifying event of a special family
    certificate_no: str | None = None
    child_id: int | None = None
    child_birth: dt.date | None = None
    case_id: int | None = None  # long_term: the relief case
    version_id: int | None = None  # long_term: the scheme version whose monthly amount prices these months


@dataclass(frozen=True, slots=True)
class Exit:
    scheme: Scheme
    month: int  # the last month paid
    reason: ExitReason
    known_on: dt.date = FAR  # the first day the household no longer qualifies


@dataclass(frozen=True)
class Segment:
    """A state of the household and the days it covers: from ``start`` through ``end`` (the next change day)."""

    facts: Facts
    start: dt.date
    end: dt.date


def segments(events: Sequence[Event]) -> list[Segment]:
    """The household's states over time; a change day belongs to the state before it and the one after it.

    Only the events that stand count: a correction voids the event it corrects (``households.rules.in_force``).
    """
    ordered = sorted(in_force(events), key=lambda e: (e.effective_on, e.id))
    out: list[Segment] = []
    facts = Facts()
    i = 0
    while i < len(ordered):
        day = ordered[i].effective_on
        while i < len(ordered) and ordered[i].effective_on == day:
            facts = apply(facts, ordered[i])
            i += 1
        if out:
            out[-1] = Segment(out[-1].facts, out[-1].start, day)
        out.append(Segment(facts, day, FAR))
    return out


def _living_parents(facts: Facts) -> int:
    return sum(1 for m in facts.members if m.relation in PARENTS and m.died_on is None)


def _only_child_fails(facts: Facts) -> ExitReason | None:
    """Why a household's state does not qualify for the reward (None: it qualifies, age aside)."""
    if not facts.active:
        return ExitReason.moved_out
    kind = facts.kind(KindCode.only_child)
    if kind is None or kind.child_id is None:
        return ExitReason.revoked
    child = facts.member(kind.child_id)
    if child is None:
        return ExitReason.moved_out
    if child.died_on is not None or _living_parents(facts) == 0:
        return ExitReason.death
    if any(m.relation is Relation.child and m.person_id != kind.child_id for m in facts.members):
        return ExitReason.another_child
    return None


def _special_since(facts: Facts) -> dt.date | None:
    """When the household became a special family (the only child died, or a kind recorded), if it is one."""
    found: list[dt.date] = [k.since for k in facts.kinds
                            if k.kind in (KindCode.only_child_deceased, KindCode.only_child_disabled)]
    kind = facts.kind(KindCode.only_child)
    if kind is not None and kind.child_id is not None:
        child = facts.member(kind.child_id)
        others_alive = any(m.relation is Relation.child and m.person_id != kind.child_id and m.died_on is None
                           for m in facts.members)
        if child is not None and child.died_on is not None and not others_alive:
            found.append(child.died_on)
    return min(found) if found else None


def _special_fails(facts: Facts) -> ExitReason | None:
    if not facts.active:
        return ExitReason.moved_out
    if _special_since(facts) is None:
        return ExitReason.kind_ended
    if _living_parents(facts) == 0:
        return ExitReason.death
    return None


def household_dues(events: Sequence[Event], births: Mapping[int, dt.date], first: int, last: int
                   ) -> tuple[list[DueRange], list[Exit]]:
    """Every month from ``first`` through ``last`` (indexes) a household is due, by scheme, and its exits.

    An exit is given once the day the household stops qualifying is on or before the end of ``last``;
    its month is the last month paid.
    """
    segs = segments(events)
    dues: list[DueRange] = []
    exits: list[Exit] = []
    horizon = month_end(last)
    _only_child(segs, births, first, last, horizon, dues, exits)
    _special_family(segs, first, last, horizon, dues, exits)
    return dues, exits


def _add(dues: list[DueRange], due: DueRange, first: int, last: int) -> None:
    """Clip to the window; a month claimed by two states goes to the later one (a move mid-month)."""
    lo, hi = max(due.first, first), min(due.last, last)
    if lo > hi:
        return
    if dues and dues[-1].scheme is due.scheme and dues[-1].last >= lo:
        prev = dues.pop()
        if prev.first < lo:
            dues.append(_with(prev, prev.first, lo - 1))
    if (dues and dues[-1].scheme is due.scheme and dues[-1].last == lo - 1
            and _same(dues[-1], due)):
        prev = dues.pop()
        dues.append(_with(prev, prev.first, hi))
        return
    dues.append(_with(due, lo, hi))


def _same(a: DueRange, b: DueRange) -> bool:
    return (a.units, a.org_id, a.qualified_on, a.certificate_no, a.child_id, a.child_birth) == (
        b.units, b.org_id, b.qualified_on, b.certificate_no, b.child_id, b.child_birth)


def _with(d: DueRange, first: int, last: int) -> DueRange:
    return DueRange(d.scheme, first, last, d.units, d.org_id, d.qualified_on, d.certificate_no, d.child_id,
                    d.child_birth)


def _only_child(segs: list[Segment], births: Mapping[int, dt.date], first: int, last: int, horizon: dt.date,
                dues: list[DueRange], exits: list[Exit]) -> None:
    paid_through: dt.date | None = None  # the last qualifying day of the current block
    for seg in segs:
        fails = _only_child_fails(seg.facts)
        kind = seg.facts.kind(KindCode.only_child)
        child_birth = births.get(kind.child_id) if kind is not None and kind.child_id is not None else None
        if fails is None and child_birth is not None and kind is not None:
            fourteen = turns_14(child_birth)
            if seg.start <= fourteen:
                end = min(seg.end, fourteen)
                _add(dues, DueRange(Scheme.only_child_reward, month_index(seg.start), month_index(end), 1,
                                    seg.facts.org_id, kind.since, kind.certificate_no, kind.child_id, child_birth),
                     first, last)
                paid_through = end
                if fourteen < seg.end:
                    _exit(exits, Scheme.only_child_reward, end, ExitReason.turned_14, horizon)
                    paid_through = None
                continue
        if paid_through is not None:
            _exit(exits, Scheme.only_child_reward, paid_through, fails or ExitReason.turned_14, horizon)
            paid_through = None


def _exit(exits: list[Exit], scheme: Scheme, last_day: dt.date, reason: ExitReason, horizon: dt.date) -> None:
    if last_day + dt.timedelta(days=1) <= horizon:
        exits.append(Exit(scheme, month_index(last_day), reason, last_day + dt.timedelta(days=1)))


def _special_family(segs: list[Segment], first: int, last: int, horizon: dt.date, dues: list[DueRange],
                    exits: list[Exit]) -> None:
    # Month M is judged on the state at the end of M-1. A segment's state is the end-of-day state of its
    # days start..end-1 (of every day on, for the last one).
    qualifying = False
    last_month = 0
    for seg in segs:
        fails = _special_fails(seg.facts)
        until = seg.end - dt.timedelta(days=1) if seg.end < FAR else FAR
        if until < seg.start:
            continue
        lo = month_index(seg.start)
        hi = month_index(until) if until == month_end(month_index(until)) else month_index(until) - 1
        if fails is None:
            since = _special_since(seg.facts)
            assert since is not None
            if hi >= lo:
                _add(dues, DueRange(Scheme.special_family, lo + 1, hi + 1, _living_parents(seg.facts),
                                    seg.facts.org_id, since), first, last)
                qualifying = True
                last_month = hi + 1
        elif qualifying:
            if seg.start <= horizon:
                exits.append(Exit(Scheme.special_family, last_month, fails, seg.start))
            qualifying = False


@dataclass(frozen=True, slots=True)
class PaidRange:
    """Months already paid to a household under a scheme (a roll line of an earlier run)."""

    scheme: Scheme
    first: int
    last: int
    monthly_fen: int


@dataclass(frozen=True, slots=True)
class Owed:
    """Months due and not yet paid; ``arrears`` when they are before the run's month (补发)."""

    due: DueRange
    first: int
    last: int
    arrears: bool


def unpaid(dues: Sequence[DueRange], paid: Sequence[PaidRange], run_month: int) -> list[Owed]:
    """What a run for ``run_month`` pays: each due month not yet paid, once; earlier months as arrears."""
    out: list[Owed] = []
    for due in dues:
        pieces = [(due.first, min(due.last, run_month))]
        for p in paid:
            if p.scheme is not due.scheme:
                continue
            cut: list[tuple[int, int]] = []
            for lo, hi in pieces:
                if p.last < lo or p.first > hi:
                    cut.append((lo, hi))
                    continue
                if lo < p.first:
                    cut.append((lo, p.first - 1))
                if p.last < hi:
                    cut.append((p.last + 1, hi))
            pieces = cut
        for lo, hi in pieces:
            if lo > hi:
                continue
            if lo < run_month:
                out.append(Owed(due, lo, min(hi, run_month - 1), True))
            if hi >= run_month:
                out.append(Owed(due, max(lo, run_month), hi, False))
    return out


# --- 长效帮扶 (long_term) --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MonthlyVersion:
    """A version of a long-term relief scheme: its monthly amount, in force from the first day of ``from_month``."""

    version_id: int
    version: int
    from_month: int
    monthly_fen: int
    effective_from: dt.date


def first_priced_month(effective_from: dt.date) -> int:
    """A month is priced by the version in force on its first day: one effective mid-month prices the next."""
    return month_index(effective_from) + (effective_from.day != 1)


def long_term_months(start: int, end: int, case_version: int, versions: Sequence[MonthlyVersion], first: int,
                     last: int) -> list[tuple[int, int, MonthlyVersion]]:
    """The months ``start``..``end`` of a case within ``first``..``last``, each priced: (from, to, version).

    The case's own version (``case_version``, a version number) prices every month until a later version of the
    scheme is in force on a month's first day; an earlier version never does. An end before the start (a case
    closed before its first month) is no month at all.
    """
    lo, hi = max(start, first), min(end, last)
    if lo > hi:
        return []
    own = [v for v in versions if v.version == case_version]
    if not own:
        raise ValueError(f"version {case_version} not among the scheme's versions")
    later = sorted(((v.from_month, v) for v in versions if v.version > case_version),
                   key=lambda s: (s[0], s[1].version))
    steps = [(lo, own[0]), *later]
    out: list[tuple[int, int, MonthlyVersion]] = []
    for i, (from_month, version) in enumerate(steps):
        a = max(lo, from_month)
        b = min(hi, steps[i + 1][0] - 1) if i + 1 < len(steps) else hi
        if a <= b:
            out.append((a, b, version))  # one range per version: a roll line names the version that priced it
    return out
