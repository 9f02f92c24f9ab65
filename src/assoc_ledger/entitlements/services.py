"""Entitlement runs, previews and reconciliation: the rule (``rules``) over the registry (``registry``), paid
through the books' payment rolls (``fund.service.post_roll``), one roll per paying book and scheme per run.

A run: take the run lock (one run at a time; a second is refused) → mark runs left "running" by a killed
process as interrupted → compute, household batch by batch, every month due up to the run's month and not
yet paid → record the exits → post each roll with its lines written in the voucher's own transaction
(``within``). A run killed anywhere leaves every household-month either paid with its voucher or not paid
at all; the next run pays what is still due, so nothing is paid twice (the database refuses a second line
for the same months too).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, aliased

from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.bulk import insert_rows
from assoc_ledger.core.db import Base, utcnow
from assoc_ledger.core.errors import Conflict, DomainError, Invalid, NotFound, Problem
from assoc_ledger.core.money import from_fen
from assoc_ledger.entitlements import jobs, long_term, payers, registry, rules
from assoc_ledger.entitlements.models import EntitlementExit, EntitlementLine, EntitlementProgramme, EntitlementRun
from assoc_ledger.entitlements.rules import EXIT_ZH, SCHEME_ZH, Scheme, month_index, month_start, month_text
from assoc_ledger.fund import service as fund_service
from assoc_ledger.fund.chart import Fund
from assoc_ledger.fund.commands import MAX_ROLL_LINES
from assoc_ledger.fund.models import FundBook, FundEntry
from assoc_ledger.households.models import Household
from assoc_ledger.households.rules import Event
from assoc_ledger.orgs.models import Organisation

Progress = Callable[[str, int, int], None]
"""(stage, done, total): the CLI's progress bar."""

ROLL_CHUNK = min(MAX_ROLL_LINES, 100_000)
"""A run with more lines than this for one book and scheme files them as several rolls (分册), each its own voucher:
the books' writer holds a roll in memory, and this keeps a run of a 100,000-household county under 300 MB."""
LOCK_NAME = ".entitlements-run.lock"


def parse_month_of(value: object, field_name: str = "month") -> int:
    try:
        return rules.parse_month(str(value))
    except ValueError as exc:
        raise Invalid("月份格式应为 YYYY-MM，例如 2025-11", field=field_name) from exc


def org_in_scope(session: Session, scope: Scope, org_id: int | None) -> Organisation:
    """The run's subtree: the organisation named, or the top of the caller's scope; 404 outside it."""
    if org_id is None:
        org = session.scalar(select(Organisation).where(Organisation.parent_id.is_(None),
                                                        scope.clause(Organisation.path))
                             .order_by(Organisation.id))
        if org is None:
            org = session.scalar(select(Organisation).where(scope.clause(Organisation.path))
                                 .order_by(Organisation.depth, Organisation.id))
    else:
        org = session.get(Organisation, org_id)
    if org is None or not scope.contains(org.path):
        raise NotFound("组织不存在", field="org_id")
    return org


# --- programmes --------------------------------------------------------------------------------------


def set_programme(session: Session, scope: Scope, org_id: int, *, scheme: object, first_month: object,
                  fund: object = Fund.general.value) -> tuple[EntitlementProgramme, bool]:
    """An organisation pays a scheme for its subtree from its own book, from a month on; returns (row, created)."""
    org = org_in_scope(session, scope, org_id)
    problems: list[Problem] = []
    try:
        code = Scheme(str(scheme))
    except ValueError:
        problems.append(Problem("scheme", "项目应为 " + "、".join(f"{s.value}（{SCHEME_ZH[s]}）" for s in Scheme)))
    try:
        first = rules.parse_month(str(first_month))
    except ValueError:
        problems.append(Problem("first_month", "起始月份格式应为 YYYY-MM"))
    try:
        fund_ = Fund(str(fund))
    except ValueError:
        problems.append(Problem("fund", "资金应为 " + "、".join(f.value for f in Fund)))
    if problems:
        raise Invalid(problems=problems)
    if session.scalar(select(FundBook.id).where(FundBook.org_id == org.id)) is None:
        raise DomainError(f"{org.name} 没有公益金账簿，不能发放", field="org_id")
    existing = session.scalar(select(EntitlementProgramme).where(EntitlementProgramme.scheme == code.value,
                                                                 EntitlementProgramme.org_id == org.id))
    version = _relief_version(session, code, org.id, first)
    if existing is not None:
        if (existing.first_month, existing.fund) != (month_start(first), fund_.value):
            raise Conflict(f"{org.name} 已设定{SCHEME_ZH[code]}自 {existing.first_month:%Y-%m} 起由本级发放，不能修改",
                           field="first_month")
        if existing.scheme_version_id is None and version is not None:
            existing.scheme_version_id = version  # the relief scheme arrived after the programme
            session.commit()
        return existing, False
    actor = session.info.get("actor")
    row = EntitlementProgramme(scheme=code.value, org_id=org.id, fund=fund_.value, first_month=month_start(first),
                               scheme_version_id=version, created_by=getattr(actor, "username", None))
    session.add(row)
    session.commit()
    return row, True


def _relief_version(session: Session, scheme: Scheme, org_id: int, first: int) -> int | None:
    """The relief scheme (帮扶救助项目) of this category the organisation runs, its version in force then."""
    from assoc_ledger.relief import services as relief
    from assoc_ledger.relief.models import Scheme as ReliefScheme

    found = session.scalar(select(ReliefScheme.id).where(ReliefScheme.category == scheme.value,
                                                         ReliefScheme.org_id == org_id).order_by(ReliefScheme.id))
    if found is None:
        return None
    version = relief.version_on(session, found, month_start(first))
    return version.id if version is not None else None


def list_programmes(session: Session, scope: Scope) -> list[EntitlementProgramme]:
    rows = session.execute(select(EntitlementProgramme, Organisation.path)
                           .join(Organisation, Organisation.id == EntitlementProgramme.org_id)
                           .order_by(EntitlementProgramme.id)).all()
    return [r[0] for r in rows if scope.contains(r.path)]


# --- the plan: what a run for a month would pay ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedLine:
    household_id: int
    scheme: Scheme
    programme: registry.Programme
    org_id: int
    payee: registry.Payee
    first: int
    last: int
    units: int
    monthly_fen: int
    arrears: bool
    due: rules.DueRange
    standard_from: dt.date

    @property
    def months(self) -> int:
        return self.last - self.first + 1

    @property
    def amount_fen(self) -> int:
        return self.monthly_fen * self.months

    @property
    def reference(self) -> str:
        span = month_text(self.first)
        if self.last != self.first:
            span += f"..{month_text(self.last)}"
        return f"H{self.household_id}/{span}" + ("/补发" if self.arrears else "")


@dataclass
class Plan:
    month: int
    org: Organisation
    lines: dict[tuple[int, Scheme], list[PlannedLine]] = field(default_factory=lambda: defaultdict(list))
    exits: list[tuple[int, rules.Exit]] = field(default_factory=list)
    new_entrants: set[tuple[int, Scheme]] = field(default_factory=set)
    households: int = 0
    max_event_id: int = 0
    basis: dict[str, Any] = field(default_factory=dict)
    skipped: list[dict[str, Any]] = field(default_factory=list)  # lines of payers outside the caller's scope
    warnings: list[str] = field(default_factory=list)

    def all_lines(self) -> Iterator[PlannedLine]:
        for group in self.lines.values():
            yield from group

    def summary(self, orgs: registry.Orgs) -> dict[str, Any]:
        by_village: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
        by_scheme: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        arrears_months = arrears_fen = months = total = 0
        paid_households: set[int] = set()
        for line in self.all_lines():
            v = by_village[line.org_id]
            v[0] += 1
            v[1] += line.months
            v[2] += line.amount_fen
            s = by_scheme[line.scheme.value]
            s[0] += 1
            s[1] += line.months
            s[2] += line.amount_fen
            months += line.months
            total += line.amount_fen
            paid_households.add(line.household_id)
            if line.arrears:
                arrears_months += line.months
                arrears_fen += line.amount_fen
        return {
            "month": month_text(self.month), "org_id": self.org.id, "org": self.org.name,
            "households_examined": self.households, "households_paid": len(paid_households),
            "lines": sum(len(g) for g in self.lines.values()), "months": months, "total": str(from_fen(total)),
            "arrears_months": arrears_months, "arrears_total": str(from_fen(arrears_fen)),
            "new_entrants": len(self.new_entrants),
            "exits": [{"household_id": h, "scheme": e.scheme.value, "month": month_text(e.month),
                       "reason": e.reason.value, "reason_zh": EXIT_ZH[e.reason]} for h, e in self.exits[:200]],
            "exit_count": len(self.exits),
            "by_scheme": [{"scheme": k, "scheme_zh": SCHEME_ZH[Scheme(k)], "lines": v[0], "months": v[1],
                           "total": str(from_fen(v[2]))} for k, v in sorted(by_scheme.items())],
            "by_village": [{"org_id": k, "org": orgs.name.get(k, ""), "lines": v[0], "months": v[1],
                            "total": str(from_fen(v[2]))}
                           for k, v in sorted(by_village.items(), key=lambda kv: orgs.path.get(kv[0], ""))],
            **payers.out(self),
        }


def plan(session: Session, scope: Scope, month: int, org_id: int | None = None,
         progress: Progress | None = None, household_ids: Sequence[int] | None = None,
         incremental: bool = True, persist: bool = True) -> Plan:
    """Every household-month due in the subtree up to ``month`` and not yet paid, priced; exits not yet recorded.

    ``incremental``: after a complete run for this month or later over this subtree (or a larger one), with
    the same standards and programmes, only the households whose facts changed since are examined; the others
    had everything due through that month paid by it.
    """
    org = org_in_scope(session, scope, org_id)
    orgs = registry.Orgs(session)
    programmes = registry.Programmes(registry.load_programmes(session, orgs), orgs)
    earliest = programmes.earliest()
    result = Plan(month, org)
    result.max_event_id = registry.max_event_id(session)
    if earliest is None:
        raise DomainError("尚未设定任何发放项目（entitlements programme）：须先指定由哪一级、自哪个月起发放",
                          field="programme")
    prices = registry.Prices(session, orgs)
    watermarks = registry.watermarks(session)
    since = _complete_run_covering(session, org, month, watermarks) if incremental else None
    if household_ids is not None:
        ids = list(household_ids)
    elif since is not None:
        ids = registry.changed_households(session, org.path, since.max_event_id, since.started_at)
    else:
        ids = registry.subtree_households(session, org.path)
    recorded = _recorded_exits(session, ids)
    done = 0
    missing: list[Problem] = []
    for batch in registry.batches(session, ids, persist=persist, window=(earliest, month)):
        for hid in batch.household_ids:
            view = batch.outlooks.get(hid)
            if view is None or not (view.dues or view.exits):
                continue
            dues, exits = registry.within(view, earliest, month)
            covered = registry.due_in_programmes(dues, programmes)
            paid = batch.paid.get(hid, [])
            paid_schemes = {p.scheme for p in paid}
            for due, programme in covered:
                for owed in rules.unpaid([due], paid, month):
                    try:
                        priced = prices.price(due.scheme, due.org_id or org.id, owed.first, owed.last)
                    except registry.MissingStandard as exc:
                        if len(missing) < 20:
                            where = orgs.name.get(exc.org_id, "")
                            missing.append(Problem("standard", f"{where} {month_text(exc.month)} "
                                                               f"没有{SCHEME_ZH[exc.scheme]}标准（救助标准未设定）"))
                        continue
                    for price in priced:
                        line = PlannedLine(hid, due.scheme, programme, due.org_id or org.id, view.payee, price.first,
                                           price.last, due.units, price.unit_fen * due.units, owed.arrears, due,
                                           price.standard_from)
                        result.lines[(programme.id, due.scheme)].append(line)
                        if due.scheme not in paid_schemes:
                            result.new_entrants.add((hid, due.scheme))
            for e in exits:
                if (hid, e.scheme.value, month_start(e.month), e.reason.value) in recorded:
                    continue
                homes = [d.org_id for d in view.dues if d.scheme is e.scheme and d.first <= e.month]
                payer = programmes.for_org(e.scheme, homes[-1] if homes else None)
                if payer is None or e.month < payer.first_month:
                    continue
                result.exits.append((hid, e))
        result.households += len(batch.household_ids)
        done += len(batch.household_ids)
        if progress:
            progress("计算", done, len(ids))
    if missing:
        raise DomainError(problems=missing)
    result.basis = {"rule_version": rules.RULE_VERSION, **watermarks,
                    "examined": "all households of the subtree" if since is None
                    else f"households changed since run {since.id}",
                    "standards": [{"scheme": k[0], "from": k[1], "org_id": k[2], "amount": v}
                                  for k, v in sorted(prices.used.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                                                           kv[0][2] or 0))],
                    "programmes": [{"id": p.id, "scheme": p.scheme.value, "org_id": p.org_id, "fund": p.fund,
                                    "first_month": month_text(p.first_month), "book_id": p.book_id,
                                    "scheme_version_id": p.scheme_version_id} for p in programmes.all]}
    long_term.plan_into(session, result, programmes, orgs)  # 长效帮扶: relief cases paid by the month
    payers.set_aside(result, scope, orgs)  # lines of books the caller may not post to: named, not paid
    return result


def _complete_run_covering(session: Session, org: Organisation, month: int,
                           watermarks: dict[str, int]) -> EntitlementRun | None:
    rows = session.execute(select(EntitlementRun, Organisation.path)
                           .join(Organisation, Organisation.id == EntitlementRun.org_id)
                           .where(EntitlementRun.status == "done", EntitlementRun.month >= month_start(month))
                           .order_by(EntitlementRun.id.desc()).limit(20)).all()
    for run_row, path in rows:
        same_rules = all(run_row.basis.get(k) == v for k, v in watermarks.items())
        if same_rules and org.path.startswith(path):
            found: EntitlementRun = run_row
            return found
    return None


def _home(events: Sequence[Event]) -> int | None:
    org: int | None = None
    for e in events:
        org = e.data.get("to_org_id") or e.data.get("org_id") or org
    return org


def _recorded_exits(session: Session, household_ids: Sequence[int]) -> set[tuple[int, str, dt.date, str]]:
    if not household_ids:
        return set()
    rows = registry.core_rows(session, select(EntitlementExit.household_id, EntitlementExit.scheme,
                                              EntitlementExit.month, EntitlementExit.reason)
                              .where(EntitlementExit.household_id.between(household_ids[0], household_ids[-1])))
    return {(r[0], r[1], r[2], r[3]) for r in rows}


def preview(session: Session, scope: Scope, month: object, org_id: int | None = None,
            progress: Progress | None = None) -> dict[str, Any]:
    """What a run would pay, without writing anything."""
    result = plan(session, scope, parse_month_of(month), org_id, progress, persist=False)
    summary = result.summary(registry.Orgs(session))
    session.rollback()
    return summary


# --- runs ----------------------------------------------------------------------------------------------


@contextmanager
def run_lock(ledger_dir: Path) -> Iterator[None]:
    """One run at a time (per set of books); a second run at once is refused, never queued into a duplicate.

    An flock: a run killed with SIGKILL releases it with its process.
    """
    ledger_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(ledger_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise Conflict("另一次奖励扶助发放正在进行，请稍后再试", field="month") from exc
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def run(session: Session, ledger_dir: Path, scope: Scope, month: object, org_id: int | None = None, *,
        pay_date: dt.date | None = None, progress: Progress | None = None,
        on_started: Callable[[int], None] | None = None) -> EntitlementRun:
    """Pay every household-month due up to ``month`` in the subtree and not yet paid; see the module docstring."""
    target = parse_month_of(month)
    pay_on = pay_date or dt.date.today()
    if target > month_index(pay_on):
        raise DomainError(f"不能预先发放 {month_text(target)}：发放日期 {pay_on} 早于该月", field="month")
    payers.require_some(session, scope, org_in_scope(session, scope, org_id))
    with run_lock(ledger_dir):
        session.execute(update(EntitlementRun).where(EntitlementRun.status == "running")
                        .values(status="interrupted"))
        session.commit()
        started = utcnow()  # before reading the registry: a later change of a person is seen by the next run
        claimed = jobs.claim(session, scope, target, org_id, pay_on, started, on_started)
        result = plan(session, scope, target, org_id, progress)
        actor = session.info.get("actor")
        row = session.get(EntitlementRun, claimed) if claimed else EntitlementRun(
            month=month_start(target), org_id=result.org.id, pay_date=pay_on, status="running", started_at=started,
            started_by=getattr(actor, "username", None), rule_version=rules.RULE_VERSION)
        assert row is not None
        row.max_event_id, row.households = result.max_event_id, result.households
        row.basis = {**result.basis, **payers.out(result)}
        session.add(row)
        session.flush()
        run_id = row.id
        if result.exits:
            session.execute(insert(EntitlementExit), [
                {"household_id": h, "scheme": e.scheme.value, "month": month_start(e.month), "reason": e.reason.value,
                 "run_id": run_id, "recorded_at": utcnow()} for h, e in result.exits])
        row.exits = len(result.exits)
        session.commit()
        n_lines = n_months = n_arrears = total_fen = 0
        groups = sorted(result.lines.items(), key=lambda kv: (kv[0][0], kv[0][1].value))
        result.lines.clear()
        for n, ((_, scheme), lines) in enumerate(groups, start=1):
            programme = lines[0].programme
            if programme.book_id is None:
                raise DomainError(f"发放组织没有公益金账簿（项目 {programme.id}）", field="programme")
            lines.sort(key=lambda x: (x.last, x.reference))  # the roll's order: period (as a month index), reference
            for part, start in enumerate(range(0, len(lines), ROLL_CHUNK), start=1):
                chunk = lines[start:start + ROLL_CHUNK]
                _post_roll(session, ledger_dir, scope, run_id, target, pay_on, programme, scheme, chunk, part)
                n_lines += len(chunk)
                n_months += sum(x.months for x in chunk)
                n_arrears += sum(x.months for x in chunk if x.arrears)
                total_fen += sum(x.amount_fen for x in chunk)
            lines.clear()  # posted: its memory goes before the next roll's
            if progress:
                progress("发放", n, len(groups))
        finished = session.get(EntitlementRun, run_id)
        assert finished is not None
        finished.status = "partial" if result.skipped else "done"
        finished.finished_at = utcnow()
        finished.lines, finished.months, finished.arrears_months = n_lines, n_months, n_arrears
        finished.total_fen = total_fen
        finished.households = result.households
        session.commit()
        return finished


NO_ID = "000000********0000"
LINE_KEYS = ("run_id", "programme_id", "scheme", "household_id", "org_id", "payee_person_id", "payee", "resident_id",
             "from_month", "to_month", "months", "units", "monthly_fen", "amount_fen", "arrears", "book_id",
             "entry_id", "reference", "qualified_on", "certificate_no", "child_id", "child_birth", "standard_from",
             "relief_case_id", "scheme_version_id")


def roll_name(target: int, scheme: Scheme, run_id: int, part: int) -> str:
    return f"{month_text(target)}-{scheme.value.replace('_', '-')}-run{run_id}" + (f"-{part}" if part > 1 else "")


def _post_roll(session: Session, ledger_dir: Path, scope: Scope, run_id: int, target: int, pay_on: dt.date,
               programme: registry.Programme, scheme: Scheme, lines: Sequence[PlannedLine], part: int) -> None:
    book_id = programme.book_id
    assert book_id is not None
    amounts: dict[int, str] = {}
    periods: dict[int, str] = {}

    def amount_text(fen: int) -> str:
        text = amounts.get(fen)
        if text is None:
            text = amounts[fen] = str(from_fen(fen))
        return text

    def period(month: int) -> str:
        text = periods.get(month)
        if text is None:
            text = periods[month] = month_text(month)
        return text

    rows = [{"payee": x.payee.name, "resident_id": x.payee.resident_id or NO_ID, "period": period(x.last),
             "amount": amount_text(x.amount_fen), "reference": x.reference} for x in lines]

    def within(db: Session, entries: list[FundEntry]) -> None:
        # Each line once, in the voucher's transaction, with the facts the run read (its frozen snapshot).
        entry_id = entries[0].id
        firsts: dict[int, dt.date] = {}

        def day(month: int) -> dt.date:
            found = firsts.get(month)
            if found is None:
                found = firsts[month] = month_start(month)
            return found

        insert_rows(db, Base.metadata.tables[EntitlementLine.__tablename__], LINE_KEYS, (
            (run_id, programme.id, scheme.value, x.household_id, x.org_id, x.payee.person_id, x.payee.name,
             x.payee.resident_id or NO_ID, day(x.first), day(x.last), x.last - x.first + 1, x.units, x.monthly_fen,
             x.amount_fen, x.arrears, book_id, entry_id, x.reference, x.due.qualified_on, x.due.certificate_no,
             x.due.child_id, x.due.child_birth, x.standard_from, x.due.case_id, x.due.version_id) for x in lines))

    suffix = f"-{part}" if part > 1 else ""
    narration = f"{month_text(target)} {SCHEME_ZH[scheme]}（发放花名册，第 {run_id} 次发放）"
    fund_service.post_roll(session, ledger_dir, scope, book_id, key=f"entitlements-run{run_id}-{programme.id}{suffix}",
                           date=pay_on, category=scheme.value, roll=roll_name(target, scheme, run_id, part),
                           lines=rows, voucher=f"奖扶-{month_text(target)}-{run_id}-{programme.id}{suffix}",
                           fund=programme.fund, narration=narration, within=within)


def list_runs(session: Session, scope: Scope, limit: int = 50) -> list[EntitlementRun]:
    rows = session.execute(select(EntitlementRun, Organisation.path)
                           .join(Organisation, Organisation.id == EntitlementRun.org_id)
                           .order_by(EntitlementRun.id.desc()).limit(limit * 4)).all()
    return [r[0] for r in rows if scope.contains(r.path)][:limit]


def get_run(session: Session, scope: Scope, run_id: int) -> EntitlementRun:
    row = session.execute(select(EntitlementRun, Organisation.path)
                          .join(Organisation, Organisation.id == EntitlementRun.org_id)
                          .where(EntitlementRun.id == run_id)).first()
    if row is None or not scope.contains(row.path):
        raise NotFound("发放批次不存在", field="run_id")
    run_row: EntitlementRun = row[0]
    return run_row


def run_out(row: EntitlementRun, org_name: str | None = None) -> dict[str, Any]:
    return {"id": row.id, "month": row.month.strftime("%Y-%m"), "org_id": row.org_id, "org": org_name,
            "pay_date": row.pay_date.isoformat(), "status": row.status,
            "started_at": row.started_at.isoformat() if row.started_at else None,
            "finished_at": row.finished_at.isoformat() if row.finished_at else None, "started_by": row.started_by,
            "rule_version": row.rule_version, "max_event_id": row.max_event_id, "basis": row.basis,
            "households": row.households, "lines": row.lines, "months": row.months,
            "arrears_months": row.arrears_months, "total": str(from_fen(row.total_fen)), "exits": row.exits,
            "problem": row.problem}


# --- reconciliation ------------------------------------------------------------------------------------

KINDS_ZH = {"missing": "应发未发", "twice": "重复发放", "not_eligible": "不符合条件仍发放", "wrong_amount": "金额不符",
            "reversed": "发放凭证已冲销"}


@dataclass(frozen=True, slots=True)
class Difference:
    kind: str
    household_id: int
    org_id: int | None
    payee: str
    resident_id: str
    scheme: Scheme
    month: int
    due_fen: int
    paid_fen: int
    times_paid: int
    reason: str

    def out(self, orgs: registry.Orgs) -> dict[str, Any]:
        return {"kind": self.kind, "kind_zh": KINDS_ZH[self.kind], "household_id": self.household_id,
                "org_id": self.org_id, "org": orgs.name.get(self.org_id or 0, ""), "payee": self.payee,
                "resident_id": self.resident_id, "scheme": self.scheme.value, "scheme_zh": SCHEME_ZH[self.scheme],
                "month": month_text(self.month), "due": str(from_fen(self.due_fen)),
                "paid": str(from_fen(self.paid_fen)), "times_paid": self.times_paid, "reason": self.reason}


@dataclass
class Reconciliation:
    first: int
    last: int
    org: Organisation
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS_ZH, 0))
    rows: list[Difference] = field(default_factory=list)
    households: int = 0
    household_months_due: int = 0
    household_months_paid: int = 0

    @property
    def clean(self) -> bool:
        return not any(self.counts.values())


def reconcile(session: Session, scope: Scope, first: object, last: object, org_id: int | None = None, *,
              progress: Progress | None = None, keep: int = 1000,
              sink: Callable[[Difference], None] | None = None) -> Reconciliation:
    """Today's registry's due against what was paid, for every household-month of the period and subtree."""
    lo, hi = parse_month_of(first, "from"), parse_month_of(last, "to")
    if lo > hi:
        raise Invalid("起始月份晚于截止月份", field="from")
    if hi - lo >= 120:
        raise Invalid("对账期间最长 10 年", field="to")
    org = org_in_scope(session, scope, org_id)
    orgs = registry.Orgs(session)
    programmes = registry.Programmes(registry.load_programmes(session, orgs), orgs)
    prices = registry.Prices(session, orgs)
    runs = {r.id: r for r in session.scalars(select(EntitlementRun))}
    result = Reconciliation(lo, hi, org)
    ids = registry.subtree_households(session, org.path)
    done = 0

    taken_back = _taken_back(session, result)

    def found(d: Difference) -> None:
        if d.kind == "missing" and (d.household_id, d.scheme.value, d.month) in taken_back:
            d = replace(d, kind="reversed", reason=taken_back[(d.household_id, d.scheme.value, d.month)])
        result.counts[d.kind] += 1
        if len(result.rows) < keep:
            result.rows.append(d)
        if sink is not None:
            sink(d)

    for batch in registry.batches(session, ids, with_lines=True, paid_from=month_start(lo), persist=False,
                                  window=(lo, hi)):
        differing: list[tuple[int, list[tuple[rules.DueRange, registry.Price]]]] = []
        for hid in batch.household_ids:
            view = batch.outlooks.get(hid)
            # What today's registry says each household of the batch was due in the period, priced.
            dues = registry.within(view, lo, hi)[0] if view is not None else []
            priced_dues: list[tuple[rules.DueRange, registry.Price]] = []
            for due, _programme in registry.due_in_programmes(dues, programmes):
                try:
                    priced = prices.price(due.scheme, due.org_id or org.id, due.first, due.last)
                except registry.MissingStandard as exc:
                    raise DomainError(f"{month_text(exc.month)} 没有{SCHEME_ZH[exc.scheme]}标准",
                                      field="standard") from exc
                priced_dues.extend((due, p) for p in priced)
            paid_lines = [x for x in batch.paid_lines.get(hid, []) if x.scheme != Scheme.long_term.value]
            result.households += 1
            if not priced_dues and not paid_lines:
                continue
            if _same_months(priced_dues, paid_lines, lo, hi):  # the common case, without a month-by-month walk
                due_months = sum(p.last - p.first + 1 for _, p in priced_dues)
                result.household_months_due += due_months
                result.household_months_paid += due_months
                continue
            differing.append((hid, priced_dues))
        if differing:  # the few that differ: their lines with the facts frozen on them, and their events, say why
            hids = [h for h, _ in differing]
            details = registry.paid_line_details(session, hids, month_start(lo))
            registry.load_facts(session, batch, [h for h in hids if h not in batch.events])
            for hid, priced_dues in differing:
                view = batch.outlooks.get(hid)
                payee = view.payee if view is not None else registry.Payee(None, f"户{hid}", "")
                lines = [x for x in details.get(hid, []) if x.scheme != Scheme.long_term.value]  # see long_term
                _differences(hid, priced_dues, lines, batch.events.get(hid, []), batch.births, runs, payee, lo,
                             hi, result, found)
        done += len(batch.household_ids)
        session.expunge_all()
        if progress:
            progress("对账", done, len(ids))
    long_term.reconcile_into(session, result, programmes, found)  # 长效帮扶: the cases against their lines
    session.rollback()
    return result


def _taken_back(session: Session, result: Reconciliation) -> dict[tuple[int, str, int], str]:
    """Household-months whose roll line's voucher the books have reversed (冲销), with why: a line so taken back
    no longer counts as paid, so until a run pays the month again it is a difference of its own kind."""
    reversal = aliased(FundEntry)
    rows = session.execute(
        select(EntitlementLine.household_id, EntitlementLine.scheme, EntitlementLine.from_month,
               EntitlementLine.to_month, FundBook.slug, FundEntry.seq, reversal.seq, reversal.date)
        .join(FundEntry, FundEntry.id == EntitlementLine.entry_id)
        .join(reversal, reversal.id == EntitlementLine.reversed_by_entry_id)
        .join(FundBook, FundBook.id == FundEntry.book_id)
        .join(Household, Household.id == EntitlementLine.household_id)
        .join(Organisation, Organisation.id == Household.org_id)
        .where(EntitlementLine.reversed_by_entry_id.is_not(None),  # the partial index of the few reversed
               EntitlementLine.to_month >= month_start(result.first),
               EntitlementLine.from_month <= month_start(result.last),
               Organisation.path.startswith(result.org.path, autoescape=True))).tuples()
    out: dict[tuple[int, str, int], str] = {}
    for hid, scheme, first, last, slug, seq, rseq, on in rows:
        reason = f"发放凭证 {slug} 第 {seq} 号已于 {on.isoformat()} 冲销（第 {rseq} 号），该月尚未重新发放"
        for m in range(max(result.first, month_index(first)), min(result.last, month_index(last)) + 1):
            out[(hid, scheme, m)] = reason
    return out


def _differences(hid: int, priced_dues: list[tuple[rules.DueRange, registry.Price]],
                 paid_lines: list[registry.PaidLine], events: Sequence[Event], births: dict[int, dt.date],
                 runs: dict[int, EntitlementRun], payee: registry.Payee, lo: int, hi: int, result: Reconciliation,
                 found: Callable[[Difference], None]) -> None:
    """A household whose paid months differ from its due, month by month, each difference with its reason."""
    due_map: dict[tuple[Scheme, int], tuple[int, rules.DueRange]] = {}
    for due, p in priced_dues:
        for m in range(p.first, p.last + 1):
            due_map[(due.scheme, m)] = (p.unit_fen * due.units, due)
    paid_map: dict[tuple[Scheme, int], list[registry.PaidLine]] = {}
    for line in paid_lines:
        for m in range(max(lo, line.first), min(hi, line.last) + 1):
            paid_map.setdefault((registry.SCHEME_OF[line.scheme], m), []).append(line)
    result.household_months_due += len(due_map)
    result.household_months_paid += sum(len(v) for v in paid_map.values())
    for key in sorted(set(due_map) | set(paid_map), key=lambda k: (k[1], k[0].value)):
        scheme, m = key
        owed = due_map.get(key)
        paid = paid_map.get(key, [])
        paid_fen = sum(x.monthly_fen for x in paid)
        kind, reason = _judge(owed, paid, paid_fen, events, births, runs, m)
        if kind is None:
            continue
        home = owed[1].org_id if owed is not None else paid[0].org_id
        found(Difference(kind, hid, home, payee.name, payee.resident_id, scheme, m,
                         owed[0] if owed else 0, paid_fen, len(paid), reason))


def _same_months(dues: list[tuple[rules.DueRange, registry.Price]], paid: list[registry.PaidLine], lo: int,
                 hi: int) -> bool:
    """Whether the paid lines cover exactly the due months, once each, at the due amount (range by range)."""
    def merged(spans: list[tuple[str, int, int, int]]) -> list[tuple[str, int, int, int]] | None:
        out: list[tuple[str, int, int, int]] = []
        for scheme, first, last, fen in sorted(spans):
            if out and out[-1][0] == scheme and first <= out[-1][2]:
                return None  # overlap: some month twice
            if out and out[-1][0] == scheme and first == out[-1][2] + 1 and fen == out[-1][3]:
                out[-1] = (scheme, out[-1][1], last, fen)
            else:
                out.append((scheme, first, last, fen))
        return out

    due = merged([(d.scheme.value, p.first, p.last, p.unit_fen * d.units) for d, p in dues])
    got = merged([(x.scheme, max(lo, x.first), min(hi, x.last), x.monthly_fen) for x in paid
                  if x.first <= hi and x.last >= lo])
    return due is not None and got is not None and due == got


def _judge(owed: tuple[int, rules.DueRange] | None, paid: list[registry.PaidLine], paid_fen: int,
           events: Sequence[Event], births: dict[int, dt.date], runs: dict[int, EntitlementRun],
           m: int) -> tuple[str | None, str]:
    if owed is None:
        return "not_eligible", _why_paid(paid[0], events, births, runs, m)
    if not paid:
        return "missing", _why_missing(events, runs, m, owed[1])
    if len(paid) > 1:
        return "twice", f"同月发放 {len(paid)} 次（发放批次 {'、'.join(str(x.run_id) for x in paid)}）"
    if paid_fen != owed[0]:
        return "wrong_amount", (f"应发 {from_fen(owed[0])} 元，实发 {from_fen(paid_fen)} 元"
                                + _changed_since(paid[0], events, births, runs, m))
    return None, ""


def _recorded_after(events: Sequence[Event], runs: dict[int, EntitlementRun], run_id: int, month: int) -> list[Event]:
    run_row = runs.get(run_id)
    if run_row is None:
        return []
    return [e for e in events if e.id > run_row.max_event_id and month_index(e.effective_on) <= month]


def _changed_since(line: registry.PaidLine, events: Sequence[Event], births: dict[int, dt.date],
                   runs: dict[int, EntitlementRun], month: int) -> str:
    from assoc_ledger.households.rules import EVENT_ZH

    if line.child_id is not None and line.child_birth is not None and births.get(line.child_id) != line.child_birth:
        return f"；发放后出生日期更正：发放时 {line.child_birth}，现为 {births.get(line.child_id)}"
    late = _recorded_after(events, runs, line.run_id, month)
    if late:
        e = late[0]
        recorded = f"，{e.recorded_at:%Y-%m-%d} 补录" if e.recorded_at else ""
        return f"；发放后登记变动：{e.effective_on} {EVENT_ZH[e.kind]}{recorded}"
    return ""


def _why_paid(line: registry.PaidLine, events: Sequence[Event], births: dict[int, dt.date],
              runs: dict[int, EntitlementRun], month: int) -> str:
    why = _changed_since(line, events, births, runs, month)
    return f"按现登记该月不应发放（发放批次 {line.run_id}）{why}"


def _why_missing(events: Sequence[Event], runs: dict[int, EntitlementRun], month: int, due: rules.DueRange) -> str:
    from assoc_ledger.households.rules import EVENT_ZH

    covering = [r for r in runs.values() if r.status == "done" and month_index(r.month) >= month]
    if not covering:
        return "该月尚未发放（未运行或运行中断）"
    last = max(covering, key=lambda r: r.max_event_id)
    late = [e for e in events if e.id > last.max_event_id and month_index(e.effective_on) <= month]
    if late:
        e = late[0]
        return f"发放后登记变动：{e.effective_on} {EVENT_ZH[e.kind]}（应自 {due.qualified_on} 起享受）"
    return "应发未发"
