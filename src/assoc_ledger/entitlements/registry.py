"""What the entitlements read from the registry and the standards, in batches of households (set-based SQL).

A batch is a few thousand households of a subtree: their events, the births of the people the events name,
the current head (the payee), and the months already paid. Standards and programmes are read once per run
and priced from memory, so no query is made per household.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import and_, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from assoc_ledger.core.bulk import insert_rows
from assoc_ledger.core.db import Base, utcnow
from assoc_ledger.core.money import from_fen, to_fen
from assoc_ledger.core.personal import mask_id_parts
from assoc_ledger.entitlements import rules
from assoc_ledger.entitlements.models import (
    LINE_STANDS,
    EntitlementLine,
    EntitlementOutlook,
    EntitlementOutlookMark,
    EntitlementProgramme,
)
from assoc_ledger.entitlements.rules import DueRange, PaidRange, Scheme, month_index, month_start
from assoc_ledger.fund import standards
from assoc_ledger.fund.models import FundAidStandard, FundBook
from assoc_ledger.households.models import Household, HouseholdEvent, HouseholdMember
from assoc_ledger.households.rules import Event, EventKind, Relation, people_in
from assoc_ledger.orgs.models import Organisation
from assoc_ledger.people.models import Person

BATCH = 4000


def core_rows(session: Session, stmt: Any) -> Any:
    """A read as plain Core rows on the session's connection (its transaction): no ORM loading per row."""
    return session.connection().execute(stmt)


def among(column: Any, ids: Sequence[int]) -> Any:
    """``column`` is one of ``ids`` (sorted, distinct): a range when they are every id from the first to the last
    (a batch of a whole county usually is), which the database reads off its index without a list of thousands."""
    if ids and ids[-1] - ids[0] + 1 == len(ids):
        return column.between(ids[0], ids[-1])
    return column.in_(ids)


def near(column: Any, ids: Sequence[int]) -> Any:
    """A clause that holds for every one of ``ids`` (sorted, distinct) and a few others at most: a range when
    the ids lie close together, the list itself otherwise. The caller keeps the rows it wants."""
    if ids and ids[-1] - ids[0] + 1 <= 2 * len(ids):
        return column.between(ids[0], ids[-1])
    return column.in_(ids)


@dataclass(slots=True)
class Payee:
    person_id: int | None
    name: str
    resident_id: str


class PaidLine(NamedTuple):
    """What reconciliation reads of a roll line (a row, not an ORM object: there are hundreds of thousands)."""

    household_id: int
    scheme: str
    first: int
    last: int
    monthly_fen: int
    # Read only for a household whose paid months differ from its due (to say why): None in the common case.
    run_id: int = 0
    org_id: int | None = None
    child_id: int | None = None
    child_birth: dt.date | None = None


SCHEME_OF = {s.value: s for s in Scheme}
EXIT_OF = {r.value: r for r in rules.ExitReason}


@dataclass
class Batch:
    household_ids: list[int]
    events: dict[int, list[Event]] = field(default_factory=dict)
    births: dict[int, dt.date] = field(default_factory=dict)
    payees: dict[int, Payee] = field(default_factory=dict)
    paid: dict[int, list[PaidRange]] = field(default_factory=dict)
    paid_lines: dict[int, list[PaidLine]] = field(default_factory=dict)
    outlooks: dict[int, Outlook] = field(default_factory=dict)


def subtree_households(session: Session, path: str) -> list[int]:
    """Ids of the households whose home is in the subtree now, in id order."""
    return [r[0] for r in core_rows(session, select(Household.id)
                                    .join(Organisation, Organisation.id == Household.org_id)
                                    .where(Organisation.path.startswith(path, autoescape=True))
                                    .order_by(Household.id))]


def load_facts(session: Session, batch: Batch, ids: Sequence[int]) -> None:
    """Events (as values), the births of the people they name, and the payee, of the households ``ids``."""
    if not ids:
        return
    asked = set(ids)
    wanted = sorted(asked)
    for r in core_rows(session, select(HouseholdEvent.household_id, HouseholdEvent.id, HouseholdEvent.kind,
                                       HouseholdEvent.effective_on, HouseholdEvent.person_id, HouseholdEvent.data,
                                       HouseholdEvent.recorded_at)
                       .where(near(HouseholdEvent.household_id, wanted))
                       .order_by(HouseholdEvent.household_id, HouseholdEvent.effective_on, HouseholdEvent.id)):
        if r.household_id not in asked:
            continue
        batch.events.setdefault(r.household_id, []).append(
            Event(EventKind(r.kind), r.effective_on, r.person_id, r.data or {}, r.id, r.recorded_at))
    people = people_in(e for h in ids for e in batch.events.get(h, []))
    if people:
        batch.births.update((r[0], r[1]) for r in core_rows(session, select(Person.id, Person.birth_date)
                                                             .where(near(Person.id, sorted(people))))
                            if r[0] in people)
    candidates: dict[int, list[tuple[int, Payee]]] = {}
    for r in core_rows(session, select(HouseholdMember.household_id, HouseholdMember.relation, Person.id,
                                       Person.name, Person.resident_id_region, Person.resident_id_tail,
                                       Person.died_on)
                       .join(Person, Person.id == HouseholdMember.person_id)
                       .where(near(HouseholdMember.household_id, wanted),
                              HouseholdMember.relation.in_([Relation.head.value, Relation.spouse.value]))):
        if r.household_id not in asked:
            continue
        # The head signs, unless dead and a living spouse can: rank (dead, not head).
        rank = (r.died_on is not None) * 2 + (r.relation != Relation.head.value)
        candidates.setdefault(r.household_id, []).append(
            (rank, Payee(r.id, r.name[:58], mask_id_parts(r.resident_id_region, r.resident_id_tail))))
    batch.payees.update({h: min(c, key=lambda x: x[0])[1] for h, c in candidates.items()})


OPEN_END = month_index(rules.FAR)
OPEN_MONTH = month_start(OPEN_END)


@dataclass
class Outlook:
    """A household as the rule reads it, for every month (open-ended) and every exit, with its payee."""

    dues: list[DueRange]
    exits: list[rules.Exit]
    payee: Payee


def batches(session: Session, household_ids: Sequence[int], *, with_lines: bool = False,
            paid_from: dt.date | None = None, persist: bool = True,
            window: tuple[int, int] | None = None) -> Iterator[Batch]:
    """The households' outlooks and what was paid to them, a batch at a time.

    A household whose outlook is missing or stale (a later event, a person record changed since, another rule
    version) is read from its events and folded again; with ``persist`` its new outlook is kept for the next run.
    Every read is one set-based query per batch returning rows, never one per household.

    ``window`` (first, last month indexes): of a kept outlook only the due ranges that touch those months and
    the exits in them known by the end of the last are read (``within`` would drop the others anyway).
    ``with_lines``: the paid lines themselves (household, scheme, months, monthly amount) for reconciliation;
    otherwise the months paid per household and scheme as ranges (``_paid_coverage``).
    """
    for start in range(0, len(household_ids), BATCH):
        ids = list(household_ids[start:start + BATCH])
        lo, hi = ids[0], ids[-1]
        batch = Batch(ids)
        wanted = set(ids)
        marks = {r[0]: r for r in core_rows(session, select(
            EntitlementOutlookMark.household_id, EntitlementOutlookMark.max_event_id,
            EntitlementOutlookMark.rule_version, EntitlementOutlookMark.payee_person_id,
            EntitlementOutlookMark.payee, EntitlementOutlookMark.resident_id)
            .where(EntitlementOutlookMark.household_id.between(lo, hi)))}
        stale = _stale(session, lo, hi, wanted, marks)
        load_facts(session, batch, sorted(stale))
        for hid in stale:
            events = batch.events.get(hid, [])
            dues, exits = rules.household_dues(events, batch.births, 0, OPEN_END) if events else ([], [])
            batch.outlooks[hid] = Outlook(dues, exits, batch.payees.get(hid) or Payee(None, f"户{hid}", ""))
        if persist and stale:
            _keep(session, stale, batch)
        clean = wanted - stale
        if clean:
            _read_outlooks(session, lo, hi, clean, batch, marks, window)
        if with_lines:
            _paid_lines(session, lo, hi, wanted, paid_from, batch)
        else:
            _paid_coverage(session, lo, hi, wanted, paid_from, batch)
        yield batch


def _paid_lines(session: Session, lo: int, hi: int, wanted: set[int], paid_from: dt.date | None,
                batch: Batch) -> None:
    """The lines paid to the batch's households (from ``paid_from`` on), read off the lines' covering index."""
    stmt = select(EntitlementLine.household_id, EntitlementLine.scheme, EntitlementLine.from_month,
                  EntitlementLine.to_month, EntitlementLine.monthly_fen).where(
        EntitlementLine.household_id.between(lo, hi), LINE_STANDS)
    if paid_from is not None:
        stmt = stmt.where(EntitlementLine.to_month >= paid_from)
    paid = batch.paid_lines
    for h, scheme, f, t, fen in core_rows(session, stmt):
        if h in wanted:
            line = PaidLine(h, scheme, f.year * 12 + f.month - 1, t.year * 12 + t.month - 1, fen)
            got = paid.get(h)
            if got is None:
                paid[h] = [line]
            else:
                got.append(line)


def paid_line_details(session: Session, household_ids: Sequence[int], paid_from: dt.date | None
                      ) -> dict[int, list[PaidLine]]:
    """The paid lines of a few households with the run and the frozen facts on them (to explain a difference)."""
    out: dict[int, list[PaidLine]] = {}
    if not household_ids:
        return out
    asked = set(household_ids)
    stmt = select(EntitlementLine.household_id, EntitlementLine.scheme, EntitlementLine.from_month,
                  EntitlementLine.to_month, EntitlementLine.monthly_fen, EntitlementLine.run_id,
                  EntitlementLine.org_id, EntitlementLine.child_id, EntitlementLine.child_birth).where(
        near(EntitlementLine.household_id, sorted(asked)), LINE_STANDS)
    if paid_from is not None:
        stmt = stmt.where(EntitlementLine.to_month >= paid_from)
    for h, scheme, f, t, fen, run_id, org_id, child_id, child_birth in core_rows(session, stmt):
        if h not in asked:
            continue
        out.setdefault(h, []).append(PaidLine(h, scheme, month_index(f), month_index(t), fen, run_id, org_id,
                                              child_id, child_birth))
    return out


def _paid_coverage(session: Session, lo: int, hi: int, wanted: set[int], paid_from: dt.date | None,
                   batch: Batch) -> None:
    """The months paid to each household, per scheme: one range where the lines cover it once without a gap
    (counted in SQL: months summed equal the span, off the lines' covering index), the lines themselves only
    where they do not.

    Runs never write overlapping lines (each pays only months not yet paid, and the database refuses the same
    first month twice); were a gap and an overlap ever to cancel out, the run would pay too little, never twice,
    and reconciliation would name both.
    """
    agg = (select(EntitlementLine.household_id, EntitlementLine.scheme, func.min(EntitlementLine.from_month),
                  func.max(EntitlementLine.to_month), func.sum(EntitlementLine.months))
           .where(EntitlementLine.household_id.between(lo, hi), LINE_STANDS)
           .group_by(EntitlementLine.household_id, EntitlementLine.scheme))
    if paid_from is not None:
        agg = agg.where(EntitlementLine.to_month >= paid_from)
    irregular: set[int] = set()
    paid = batch.paid
    for hid, scheme, first, last, months in core_rows(session, agg):
        if hid not in wanted:
            continue
        a, b = first.year * 12 + first.month - 1, last.year * 12 + last.month - 1
        if int(months) == b - a + 1:
            paid.setdefault(hid, []).append(PaidRange(SCHEME_OF[scheme], a, b, 0))
        else:
            irregular.add(hid)
    if not irregular:
        return
    for hid in irregular:
        paid.pop(hid, None)
    cols = select(EntitlementLine.household_id, EntitlementLine.scheme, EntitlementLine.from_month,
                  EntitlementLine.to_month, EntitlementLine.monthly_fen).where(
        EntitlementLine.household_id.in_(sorted(irregular)), LINE_STANDS)
    if paid_from is not None:
        cols = cols.where(EntitlementLine.to_month >= paid_from)
    for r in core_rows(session, cols):
        paid.setdefault(r.household_id, []).append(
            PaidRange(SCHEME_OF[r.scheme], month_index(r.from_month), month_index(r.to_month), r.monthly_fen))


def _stale(session: Session, lo: int, hi: int, wanted: set[int], marks: dict[int, Any]) -> set[int]:
    """The batch's households whose kept outlook is missing or out of date (``marks``: the batch's outlook marks,
    household id first, then the last event id and the rule version it was computed from)."""
    latest = {r[0]: r[1] for r in core_rows(session, select(HouseholdEvent.household_id, func.max(HouseholdEvent.id))
                                            .where(HouseholdEvent.household_id.between(lo, hi))
                                            .group_by(HouseholdEvent.household_id))}
    changed_people = {r[0] for r in core_rows(session, select(HouseholdMember.household_id)
                      .join(Person, Person.id == HouseholdMember.person_id)
                      .join(EntitlementOutlookMark, EntitlementOutlookMark.household_id == HouseholdMember.household_id)
                      .where(HouseholdMember.household_id.between(lo, hi),
                             Person.updated_at > EntitlementOutlookMark.computed_at))}
    stale = set()
    version = rules.RULE_VERSION
    for hid in wanted:
        mark = marks.get(hid)
        if mark is None or mark[2] != version or mark[1] < latest.get(hid, 0) or hid in changed_people:
            stale.add(hid)
    return stale


def _keep(session: Session, stale: set[int], batch: Batch) -> None:
    ids = sorted(stale)
    session.execute(delete(EntitlementOutlook).where(among(EntitlementOutlook.household_id, ids)))
    session.execute(delete(EntitlementOutlookMark).where(among(EntitlementOutlookMark.household_id, ids)))
    rows: list[tuple[object, ...]] = []
    marks: list[dict[str, object]] = []
    now = utcnow()
    for hid in ids:
        view = batch.outlooks[hid]
        for d in view.dues:
            rows.append((hid, d.scheme.value, "due", month_start(d.first), month_start(min(d.last, OPEN_END)),
                         d.units, d.org_id, d.qualified_on, d.certificate_no, d.child_id, d.child_birth, None))
        for e in view.exits:
            rows.append((hid, e.scheme.value, "exit", month_start(e.month), e.known_on, 0, None, None, None, None,
                         None, e.reason.value))
        events = batch.events.get(hid, [])
        marks.append({"household_id": hid, "max_event_id": max((e.id for e in events), default=0),
                      "rule_version": rules.RULE_VERSION, "computed_at": now,
                      "payee_person_id": view.payee.person_id, "payee": view.payee.name,
                      "resident_id": view.payee.resident_id})
    insert_rows(session, Base.metadata.tables[EntitlementOutlook.__tablename__], OUTLOOK_KEYS, rows)
    session.connection().execute(insert(Base.metadata.tables[EntitlementOutlookMark.__tablename__]), marks)


OUTLOOK_KEYS = ("household_id", "scheme", "kind", "first_month", "last_month", "units", "org_id", "qualified_on",
                "certificate_no", "child_id", "child_birth", "reason")


def _read_outlooks(session: Session, lo: int, hi: int, clean: set[int], batch: Batch, marks: dict[int, Any],
                   window: tuple[int, int] | None = None) -> None:
    for hid in clean:
        _, _, _, person_id, name, resident_id = marks[hid]
        batch.outlooks[hid] = Outlook([], [], Payee(person_id, name, resident_id))
    stmt = (select(EntitlementOutlook.household_id, EntitlementOutlook.scheme, EntitlementOutlook.kind,
                   EntitlementOutlook.first_month, EntitlementOutlook.last_month, EntitlementOutlook.units,
                   EntitlementOutlook.org_id, EntitlementOutlook.qualified_on, EntitlementOutlook.certificate_no,
                   EntitlementOutlook.child_id, EntitlementOutlook.child_birth, EntitlementOutlook.reason)
            .where(EntitlementOutlook.household_id.between(lo, hi))
            .order_by(EntitlementOutlook.household_id, EntitlementOutlook.id))
    if window is not None:
        first_day, last_day = month_start(window[0]), month_start(window[1])
        # a due range touching the window; an exit in it, known by the window's end (its day in last_month)
        stmt = stmt.where(or_(and_(EntitlementOutlook.kind == "due", EntitlementOutlook.first_month <= last_day,
                                   EntitlementOutlook.last_month >= first_day),
                              and_(EntitlementOutlook.kind == "exit", EntitlementOutlook.first_month >= first_day,
                                   EntitlementOutlook.last_month <= rules.month_end(window[1]))))
    outlooks = batch.outlooks
    for (hid, scheme, kind, first, last, units, org_id, qualified_on, certificate_no, child_id, child_birth,
         reason) in core_rows(session, stmt):
        view = outlooks.get(hid)
        if view is None or hid not in clean:
            continue
        if kind == "due":
            end = last.year * 12 + last.month - 1
            view.dues.append(DueRange(SCHEME_OF[scheme], first.year * 12 + first.month - 1,
                                      OPEN_END if end >= OPEN_END else end, units, org_id,
                                      qualified_on or dt.date.min, certificate_no, child_id, child_birth))
        else:
            view.exits.append(rules.Exit(SCHEME_OF[scheme], first.year * 12 + first.month - 1,
                                         EXIT_OF[reason], last))


def within(view: Outlook, first: int, last: int) -> tuple[list[DueRange], list[rules.Exit]]:
    """The outlook's dues in months ``first``..``last`` and the exits known by the end of ``last``."""
    horizon = rules.month_end(last)
    dues = []
    for d in view.dues:
        lo, hi = max(d.first, first), min(d.last, last)
        if lo <= hi:
            dues.append(d if (lo, hi) == (d.first, d.last) else DueRange(
                d.scheme, lo, hi, d.units, d.org_id, d.qualified_on, d.certificate_no, d.child_id, d.child_birth))
    return dues, [e for e in view.exits if e.known_on <= horizon]


@dataclass(frozen=True)
class Programme:
    id: int
    scheme: Scheme
    org_id: int
    org_path: str
    fund: str
    first_month: int
    book_id: int | None
    scheme_version_id: int | None


class Orgs:
    """The organisation tree in memory: ids, paths, names (a county has a few hundred units)."""

    def __init__(self, session: Session) -> None:
        rows = session.execute(select(Organisation.id, Organisation.path, Organisation.name)).all()
        self.path = {r.id: r.path for r in rows}
        self.name = {r.id: r.name for r in rows}

    def ancestors(self, org_id: int) -> list[int]:
        return [int(p) for p in self.path[org_id].strip("/").split("/") if p]


def load_programmes(session: Session, orgs: Orgs) -> list[Programme]:
    books = dict(session.execute(select(FundBook.org_id, FundBook.id)).tuples().all())
    return [Programme(p.id, Scheme(p.scheme), p.org_id, orgs.path[p.org_id], p.fund, month_index(p.first_month),
                      books.get(p.org_id), p.scheme_version_id)
            for p in session.scalars(select(EntitlementProgramme).order_by(EntitlementProgramme.id))]


class Programmes:
    """Which programme pays a scheme for a home organisation: the nearest one above it (itself included)."""

    def __init__(self, programmes: Sequence[Programme], orgs: Orgs) -> None:
        self.orgs = orgs
        self.by_key = {(p.scheme, p.org_id): p for p in programmes}
        self._cache: dict[tuple[Scheme, int], Programme | None] = {}
        self.all = list(programmes)

    def for_org(self, scheme: Scheme, org_id: int | None) -> Programme | None:
        if org_id is None:
            return None
        key = (scheme, org_id)
        if key not in self._cache:
            found = None
            for ancestor in reversed(self.orgs.ancestors(org_id)):
                found = self.by_key.get((scheme, ancestor))
                if found is not None:
                    break
            self._cache[key] = found
        return self._cache[key]

    def earliest(self) -> int | None:
        return min((p.first_month for p in self.all), default=None)


@dataclass(frozen=True, slots=True)
class Price:
    first: int
    last: int
    unit_fen: int  # per household or per parent, per month
    standard_from: dt.date


class MissingStandard(Exception):
    def __init__(self, scheme: Scheme, org_id: int, month: int) -> None:
        super().__init__(scheme, org_id, month)
        self.scheme, self.org_id, self.month = scheme, org_id, month


class Prices:
    """The dated standards (``fund.standards``) as step functions per scheme and home organisation."""

    def __init__(self, session: Session, orgs: Orgs) -> None:
        self.orgs = orgs
        rows = session.scalars(select(FundAidStandard).where(
            FundAidStandard.scheme.in_([s.value for s in Scheme]))).all()
        self.candidates: dict[str, list[standards.AidStandard]] = defaultdict(list)
        for s in standards.DEFAULT_AID_STANDARDS:
            self.candidates[s.scheme.value].append(s)
        for r in rows:
            self.candidates[r.scheme].append(standards.AidStandard(
                standards.AidScheme(r.scheme), from_fen(r.amount_fen), r.effective_from, r.org_id, r.basis))
        self._steps: dict[tuple[Scheme, int], list[tuple[int, standards.AidStandard | None]]] = {}
        self.used: dict[tuple[str, str, int | None], str] = {}
        self._memo: dict[tuple[Scheme, int, int, int], list[Price]] = {}

    def _step_list(self, scheme: Scheme, org_id: int) -> list[tuple[int, standards.AidStandard | None]]:
        key = (scheme, org_id)
        if key not in self._steps:
            ancestors = self.orgs.ancestors(org_id)
            mine = [c for c in self.candidates[scheme.value] if c.org_id is None or c.org_id in ancestors]
            # A month is priced by the standard in force on its first day.
            starts = sorted({month_index(c.effective_from) + (c.effective_from.day != 1)
                             for c in mine if c.effective_from != standards.SINCE_ALWAYS} | {0})
            steps = [(m, standards.in_force(mine, ancestors, month_start(m) if m else dt.date.min)) for m in starts]
            self._steps[key] = steps
        return self._steps[key]

    def price(self, scheme: Scheme, org_id: int, first: int, last: int) -> list[Price]:
        """The months ``first``..``last`` as ranges of one standard each (a county's lines share a few answers:
        kept, and not to be changed by the caller)."""
        key = (scheme, org_id, first, last)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._price(scheme, org_id, first, last)
        return found

    def _price(self, scheme: Scheme, org_id: int, first: int, last: int) -> list[Price]:
        steps = self._step_list(scheme, org_id)
        out: list[Price] = []
        for i, (start, standard) in enumerate(steps):
            end = steps[i + 1][0] - 1 if i + 1 < len(steps) else last
            lo, hi = max(first, start), min(last, end)
            if lo > hi:
                continue
            if standard is None:
                raise MissingStandard(scheme, org_id, lo)
            self.used[(scheme.value, standard.effective_from.isoformat(), standard.org_id)] = str(standard.amount)
            out.append(Price(lo, hi, to_fen(standard.amount), standard.effective_from))
        return out


def watermarks(session: Session) -> dict[str, int]:
    """What a run's dues depend on besides the households: the rule, the standards and the programmes in force
    (standards and programmes are only ever added, so their largest ids say whether anything changed)."""
    return {"standards_max_id": int(session.scalar(select(func.coalesce(func.max(FundAidStandard.id), 0))) or 0),
            "programmes_max_id": int(session.scalar(select(func.coalesce(func.max(EntitlementProgramme.id), 0)))
                                     or 0)}


def changed_households(session: Session, path: str, max_event_id: int, since: dt.datetime) -> list[int]:
    """Households of the subtree with an event recorded after ``max_event_id``, a member whose person record
    (birth date from a corrected ID, death) changed after ``since``, or a line whose voucher was reversed.

    Each is few: they are found first, by their own conditions, and only then kept to the subtree (a planner
    that starts from the subtree's 100,000 households takes a second for what is usually nothing)."""
    by_event = select(HouseholdEvent.household_id).where(HouseholdEvent.id > max_event_id)
    by_person = (select(HouseholdMember.household_id).join(Person, Person.id == HouseholdMember.person_id)
                 .where(Person.updated_at > since))
    # Lines whose voucher the books reversed: their months are due again (looked at until paid again).
    by_reversal = select(EntitlementLine.household_id).where(EntitlementLine.reversed_by_entry_id.is_not(None))
    found = sorted(set(session.scalars(by_event)) | set(session.scalars(by_person))
                   | set(session.scalars(by_reversal)))
    kept: list[int] = []
    for i in range(0, len(found), 5000):
        kept += session.scalars(select(Household.id).join(Organisation, Organisation.id == Household.org_id)
                                .where(Household.id.in_(found[i:i + 5000]),
                                       Organisation.path.startswith(path, autoescape=True))).all()
    return sorted(kept)


def max_event_id(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(HouseholdEvent.id), 0))) or 0)


def due_in_programmes(dues: Sequence[DueRange], programmes: Programmes) -> list[tuple[DueRange, Programme]]:
    """Each due range within the months its paying programme covers (a range outside every programme is dropped)."""
    out: list[tuple[DueRange, Programme]] = []
    for due in dues:
        programme = programmes.for_org(due.scheme, due.org_id)
        if programme is None or due.last < programme.first_month:
            continue
        if due.first < programme.first_month:
            out.append((DueRange(due.scheme, programme.first_month, due.last, due.units, due.org_id,
                                 due.qualified_on, due.certificate_no, due.child_id, due.child_birth), programme))
        else:
            out.append((due, programme))
    return out
