"""长效帮扶 (long_term) in the monthly entitlement runs: approved relief cases paid month by month.

The rule (README, "长效帮扶"):

- A case of a ``long_term`` relief scheme whose version pays by the month (``relief.rules.paid_monthly``) carries
  a start month (the case date's month, or a later one asked for) and an end month (start + months − 1; the month
  it is closed, if earlier). It is due for every month from start through end, once.
- It is paid here and only here: the relief area's pay step refuses it (``relief.rules.next_state``), so a
  long-term case is never paid both as a one-off payment and monthly. A case paid as a one-off before this rule
  (it has a payment entry) is never paid monthly.
- Paid from approval on: a run pays every month from start through the run's month (and not after the end) not
  yet paid, the months before the run's month as arrears (补发) — a case approved late gets its earlier months.
  Cases still registered or reviewed, rejected or withdrawn are not paid; a closed case is paid through its end.
- Each month at the monthly amount of the scheme version in force on the month's first day: the case's own
  version, or a later version once in force (``rules.long_term_months``). A roll line names the case and the
  version that priced it.
- Paid by the organisation the relief scheme names, from its book, under its ``long_term`` programme
  (``entitlement_programmes``: from which month on, which fund): one roll per paying book and scheme, like the
  other schemes. A scheme whose organisation has no such programme is not paid; the preview says so.
- Which cases a run takes: those whose household's home is in the run's subtree now.
- One long-term case per household at a time (the relief area refuses overlapping months), so a household-month
  of long-term relief is due at most once, and reconciliation counts household-months as for the other schemes.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from assoc_ledger.core.money import from_fen, to_fen
from assoc_ledger.core.personal import mask_id_parts
from assoc_ledger.entitlements import registry, rules
from assoc_ledger.entitlements.models import LINE_STANDS, EntitlementLine
from assoc_ledger.entitlements.rules import MonthlyVersion, PaidRange, Scheme, month_index, month_start, month_text
from assoc_ledger.households.models import Household, HouseholdMember
from assoc_ledger.households.rules import Relation
from assoc_ledger.orgs.models import Organisation
from assoc_ledger.people.models import Person
from assoc_ledger.relief import services as relief
from assoc_ledger.relief.models import ReliefCase, SchemeVersion
from assoc_ledger.relief.models import Scheme as ReliefScheme
from assoc_ledger.relief.rules import AmountRule, State

if TYPE_CHECKING:
    from assoc_ledger.entitlements.services import Difference, Plan, Reconciliation

PAYING_STATES = (State.approved.value, State.closed.value)


@dataclass(frozen=True, slots=True)
class Case:
    """A long-term case as the runs read it."""

    case_id: int
    household_id: int
    home_org_id: int  # the household's home now
    scheme_id: int
    scheme_org_id: int  # the paying organisation the scheme names
    version: int  # the version number the case was registered under
    case_date: dt.date
    start: int
    end: int
    payee: str
    state: str


def load_cases(session: Session, path: str) -> list[Case]:
    """Approved and closed long-term cases paid by the month, of households whose home is in the subtree now."""
    rows = session.execute(
        select(ReliefCase.id, ReliefCase.household_id, Household.org_id, ReliefCase.scheme_id, ReliefScheme.org_id,
               SchemeVersion.version, ReliefCase.case_date, ReliefCase.start_month, ReliefCase.end_month,
               ReliefCase.payee, ReliefCase.state)
        .join(Household, Household.id == ReliefCase.household_id)
        .join(Organisation, Organisation.id == Household.org_id)
        .join(ReliefScheme, ReliefScheme.id == ReliefCase.scheme_id)
        .join(SchemeVersion, SchemeVersion.id == ReliefCase.version_id)
        .where(ReliefCase.start_month.is_not(None), ReliefCase.end_month.is_not(None),
               ReliefCase.fund_entry_id.is_(None), ReliefCase.state.in_(PAYING_STATES),
               Organisation.path.startswith(path, autoescape=True))
        .order_by(ReliefCase.household_id, ReliefCase.id)).all()
    return [Case(r[0], r[1], r[2], r[3], r[4], r[5], r[6], month_index(r[7]), month_index(r[8]), r[9], r[10])
            for r in rows if r[7] is not None and r[8] is not None]


def monthly_versions(session: Session, scheme_ids: set[int]) -> dict[int, list[MonthlyVersion]]:
    """Each scheme's monthly versions with their amount in fen (a version naming a dated standard: that standard
    on the version's first day)."""
    out: dict[int, list[MonthlyVersion]] = defaultdict(list)
    if not scheme_ids:
        return out
    schemes = {s.id: s for s in session.scalars(select(ReliefScheme).where(ReliefScheme.id.in_(scheme_ids)))}
    for v in session.scalars(select(SchemeVersion).where(SchemeVersion.scheme_id.in_(scheme_ids),
                                                         SchemeVersion.amount_rule == AmountRule.monthly.value)
                             .order_by(SchemeVersion.scheme_id, SchemeVersion.version)):
        fen = v.amount_fen
        if fen is None:
            fen = to_fen(relief.standard_of(session, schemes[v.scheme_id], v, v.effective_from).amount)
        out[v.scheme_id].append(MonthlyVersion(v.id, v.version, rules.first_priced_month(v.effective_from), fen,
                                               v.effective_from))
    return out


def payees(session: Session, cases: Sequence[Case]) -> dict[int, registry.Payee]:
    """Per case: the household member the case names as payee (收款人), else the head (or a living spouse);
    resident IDs masked."""
    ids = {c.household_id for c in cases}
    members: dict[int, list[tuple[int, registry.Payee, str]]] = defaultdict(list)
    for chunk in _chunks(sorted(ids)):
        for r in session.execute(select(HouseholdMember.household_id, HouseholdMember.relation, Person.id,
                                        Person.name, Person.resident_id_region, Person.resident_id_tail,
                                        Person.died_on)
                                 .join(Person, Person.id == HouseholdMember.person_id)
                                 .where(HouseholdMember.household_id.in_(chunk))):
            rank = (r.died_on is not None) * 4 + (r.relation != Relation.head.value) + (
                r.relation not in (Relation.head.value, Relation.spouse.value)) * 2
            members[r.household_id].append(
                (rank, registry.Payee(r.id, r.name[:58], mask_id_parts(r.resident_id_region, r.resident_id_tail)),
                 r.name))
    out: dict[int, registry.Payee] = {}
    for c in cases:
        found = members.get(c.household_id, [])
        named = [m[1] for m in found if m[2] == c.payee]
        out[c.case_id] = named[0] if named else (min(found, key=lambda m: m[0])[1] if found
                                                 else registry.Payee(None, c.payee[:58], ""))
    return out


def _chunks(ids: list[int], size: int = 1000) -> list[list[int]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def _paid(session: Session, household_ids: Sequence[int]) -> dict[int, list[PaidRange]]:
    out: dict[int, list[PaidRange]] = defaultdict(list)
    for chunk in _chunks(sorted(set(household_ids))):
        for r in session.execute(select(EntitlementLine.household_id, EntitlementLine.from_month,
                                        EntitlementLine.to_month, EntitlementLine.monthly_fen)
                                 .where(EntitlementLine.scheme == Scheme.long_term.value, LINE_STANDS,
                                        EntitlementLine.household_id.in_(chunk))):
            out[r.household_id].append(PaidRange(Scheme.long_term, month_index(r.from_month),
                                                 month_index(r.to_month), r.monthly_fen))
    return out


def _due(case: Case, versions: dict[int, list[MonthlyVersion]], first: int, last: int
         ) -> list[tuple[rules.DueRange, MonthlyVersion]]:
    out = []
    for a, b, v in rules.long_term_months(case.start, case.end, case.version, versions.get(case.scheme_id, []),
                                          first, last):
        out.append((rules.DueRange(Scheme.long_term, a, b, 1, case.home_org_id, case.case_date,
                                   case_id=case.case_id, version_id=v.version_id), v))
    return out


def plan_into(session: Session, result: Plan, programmes: registry.Programmes, orgs: registry.Orgs) -> None:
    """Add the long-term months due up to the plan's month and not yet paid to the plan, as roll lines of the
    paying organisation's ``long_term`` programme; cases whose scheme has no programme are named in the plan."""
    from assoc_ledger.entitlements.services import PlannedLine

    cases = load_cases(session, result.org.path)
    if not cases:
        return
    versions = monthly_versions(session, {c.scheme_id for c in cases})
    paid = _paid(session, [c.household_id for c in cases])
    who = payees(session, cases)
    used: dict[int, str] = {}
    unpaid_schemes: dict[int, int] = defaultdict(int)
    for case in cases:
        programme = programmes.by_key.get((Scheme.long_term, case.scheme_org_id))
        if programme is None:
            unpaid_schemes[case.scheme_org_id] += 1
            continue
        had = bool(paid.get(case.household_id))
        for due, version in _due(case, versions, programme.first_month, result.month):
            for owed in rules.unpaid([due], paid.get(case.household_id, []), result.month):
                result.lines[(programme.id, Scheme.long_term)].append(PlannedLine(
                    case.household_id, Scheme.long_term, programme, case.home_org_id, who[case.case_id], owed.first,
                    owed.last, 1, version.monthly_fen, owed.arrears, due, version.effective_from))
                used[version.version_id] = str(from_fen(version.monthly_fen))
                if not had:
                    result.new_entrants.add((case.household_id, Scheme.long_term))
    result.basis["long_term"] = {"cases": len(cases),
                                 "versions": [{"version_id": k, "monthly": v} for k, v in sorted(used.items())]}
    for org_id, n in sorted(unpaid_schemes.items()):
        result.warnings.append(f"长效帮扶：{orgs.name.get(org_id, org_id)}尚未设定长效帮扶发放项目"
                               f"（entitlements programme --scheme long_term），其 {n} 件已审批案件本次不发放")


def reconcile_into(session: Session, result: Reconciliation, programmes: registry.Programmes,
                   found: Callable[[Difference], None]) -> None:
    """Long-term household-months of the period: the cases as they stand today against the roll lines paid."""
    from assoc_ledger.entitlements.services import Difference

    lo, hi = result.first, result.last
    cases = load_cases(session, result.org.path)
    versions = monthly_versions(session, {c.scheme_id for c in cases})
    who = payees(session, cases)
    due: dict[tuple[int, int], tuple[int, Case, MonthlyVersion]] = {}
    for case in cases:
        programme = programmes.by_key.get((Scheme.long_term, case.scheme_org_id))
        if programme is None:
            continue
        for d, version in _due(case, versions, max(lo, programme.first_month), hi):
            for m in range(d.first, d.last + 1):
                due[(case.household_id, m)] = (version.monthly_fen, case, version)
    paid: dict[tuple[int, int], list[tuple[int, int, int, int | None, str, str, int]]] = defaultdict(list)
    for r in session.execute(
            select(EntitlementLine.household_id, EntitlementLine.from_month, EntitlementLine.to_month,
                   EntitlementLine.monthly_fen, EntitlementLine.run_id, EntitlementLine.relief_case_id,
                   EntitlementLine.payee, EntitlementLine.resident_id, EntitlementLine.org_id)
            .join(Household, Household.id == EntitlementLine.household_id)
            .join(Organisation, Organisation.id == Household.org_id)
            # Long-term lines carry their case: its index finds them without a scan of a county's other lines.
            .where(EntitlementLine.relief_case_id.is_not(None), EntitlementLine.scheme == Scheme.long_term.value,
                   LINE_STANDS, EntitlementLine.to_month >= month_start(lo),
                   EntitlementLine.from_month <= month_start(hi),
                   Organisation.path.startswith(result.org.path, autoescape=True))):
        for m in range(max(lo, month_index(r.from_month)), min(hi, month_index(r.to_month)) + 1):
            paid[(r.household_id, m)].append((r.monthly_fen, r.run_id, m, r.relief_case_id, r.payee, r.resident_id,
                                              r.org_id))
    result.household_months_due += len(due)
    result.household_months_paid += sum(len(v) for v in paid.values())
    ended = {c.household_id: c for c in cases}
    for key in sorted(set(due) | set(paid), key=lambda k: (k[1], k[0])):
        hid, m = key
        owed, lines = due.get(key), paid.get(key, [])
        paid_fen = sum(x[0] for x in lines)
        if owed is None:
            last_case = ended.get(hid)
            why = (f"长效帮扶案件 {last_case.case_id} 按月发放期为 {month_text(last_case.start)} 至 "
                   f"{month_text(last_case.end)}（{'已结案' if last_case.state == State.closed.value else '已审批'}）"
                   if last_case is not None
                   else "该户该月没有生效的按月长效帮扶案件")
            kind, reason = "not_eligible", f"{why}，该月不应发放（发放批次 {'、'.join(str(x[1]) for x in lines)}）"
        elif not lines:
            kind, reason = "missing", f"长效帮扶案件 {owed[1].case_id} 该月应发未发"
        elif len(lines) > 1:
            kind, reason = "twice", f"同月发放 {len(lines)} 次（发放批次 {'、'.join(str(x[1]) for x in lines)}）"
        elif paid_fen != owed[0]:
            kind, reason = "wrong_amount", (f"应发 {from_fen(owed[0])} 元（案件 {owed[1].case_id}，项目第 "
                                            f"{owed[2].version} 版标准），实发 {from_fen(paid_fen)} 元")
        else:
            continue
        if owed is not None:
            payee = who[owed[1].case_id]
            name, rid, home = payee.name, payee.resident_id, owed[1].home_org_id
        else:
            name, rid, home = lines[0][4], lines[0][5], lines[0][6]
        found(Difference(kind, hid, home, name, rid, Scheme.long_term, m, owed[0] if owed else 0, paid_fen,
                         len(lines), reason))
