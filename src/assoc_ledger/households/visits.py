"""Volunteer pairings (结对帮扶) and visits (走访): who looks after which household, and each visit's record.

A visit's cash is a 走访慰问 payment posted through the books (``fund.service.post_payment``) with the
visit row written inside the same transaction; the signed sheet is judged before anything is written
and removed again if the visit is refused at any later step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from assoc_ledger.auth.scope import Perm, Scope, merge_paths
from assoc_ledger.core.errors import Conflict, DomainError, Invalid, NotFound, Problems
from assoc_ledger.core.money import MoneyError, parse_amount, to_fen
from assoc_ledger.fund import service as fund_service
from assoc_ledger.fund.models import FundBook, FundEntry
from assoc_ledger.households.models import Household, HouseholdEvent, Pairing, Visit
from assoc_ledger.households.rules import fold
from assoc_ledger.households.services import CHANGES, PAGE_MAX, event_value, get_household, open_review
from assoc_ledger.households.uploads import Sheet, judge, path_of, stored
from assoc_ledger.members.models import Membership
from assoc_ledger.members.services import get_membership
from assoc_ledger.orgs.models import Organisation
from assoc_ledger.orgs.services import get_org
from assoc_ledger.people.models import Person

SERVICES = ("生产", "生活", "生育")  # 生产、生活、生育服务
VISIT_CATEGORY = "visits"  # 走访慰问, fund/chart.py


def create_pairings(session: Session, scope: Scope, *, membership_id: int, household_ids: Sequence[int],
                    from_date: date, until_date: date | None) -> list[Pairing]:
    """One volunteer with one or more households; the same pair cannot overlap itself in time."""
    member = get_membership(session, scope.narrowed(Perm.member_read), membership_id)
    households = []
    for i, hid in enumerate(household_ids):
        try:
            households.append(get_household(session, scope, hid))
        except NotFound as exc:
            raise NotFound("家庭不存在", field=f"household_ids[{i}]") from exc
    problems = Problems()
    if not member.is_volunteer:
        problems.add("membership_id", "该会员不是志愿者，不能结对帮扶")
    if member.left_on is not None and from_date > member.left_on:
        problems.add("from_date", f"该会员已于 {member.left_on} 离会")
    if until_date is not None and until_date < from_date:
        problems.add("until_date", "结束日期早于开始日期")
    problems.raise_if_any()
    for i, h in enumerate(households):
        if _overlapping(session, membership_id, h.id, from_date, until_date):
            raise Conflict("该志愿者与该家庭在这段时间已有结对", field=f"household_ids[{i}]")
    made = [Pairing(membership_id=membership_id, household_id=h.id, from_date=from_date, until_date=until_date)
            for h in households]
    session.add_all(made)
    session.flush()
    return made


def _overlapping(session: Session, membership_id: int, household_id: int, start: date, end: date | None) -> bool:
    stmt = select(Pairing.id).where(Pairing.membership_id == membership_id, Pairing.household_id == household_id,
                                    or_(Pairing.until_date.is_(None), Pairing.until_date >= start))
    if end is not None:
        stmt = stmt.where(Pairing.from_date <= end)
    return session.scalar(stmt.limit(1)) is not None


def list_pairings(session: Session, scope: Scope, *, under: int | None = None, household_id: int | None = None,
                  membership_id: int | None = None, active_on: date | None = None, after: int | None = None,
                  limit: int = 50) -> list[Pairing]:
    """Pairings of households in scope, keyset pages by id; ``active_on``: only those in force on that date."""
    stmt = (select(Pairing).join(Household, Household.id == Pairing.household_id)
            .join(Organisation, Organisation.id == Household.org_id).where(scope.clause(Organisation.path)))
    if under is not None:
        stmt = stmt.where(Organisation.path.startswith(get_org(session, under, scope).path, autoescape=True))
    if household_id is not None:
        stmt = stmt.where(Pairing.household_id == household_id)
    if membership_id is not None:
        stmt = stmt.where(Pairing.membership_id == membership_id)
    if active_on is not None:
        stmt = stmt.where(Pairing.from_date <= active_on,
                          or_(Pairing.until_date.is_(None), Pairing.until_date >= active_on))
    if after is not None:
        stmt = stmt.where(Pairing.id > after)
    return list(session.scalars(stmt.order_by(Pairing.id).limit(min(limit, PAGE_MAX))))


def end_pairing(session: Session, scope: Scope, pairing_id: int, until_date: date,
                today: date | None = None) -> Pairing:
    """结束结对: the last day of the pairing; not before it began nor before a visit made under it."""
    today = today or date.today()
    pairing = get_pairing(session, scope, pairing_id)
    if pairing.until_date is not None:
        raise Conflict(f"该结对已于 {pairing.until_date} 结束", field="pairing_id")
    problems = Problems()
    if until_date < pairing.from_date:
        problems.add("until_date", "结束日期早于结对开始日期")
    last = session.scalar(select(func.max(Visit.visited_on)).where(Visit.pairing_id == pairing.id))
    if last is not None and until_date < last:
        problems.add("until_date", f"结束日期早于已登记的走访（{last}）")
    if until_date > today + timedelta(days=366):
        problems.add("until_date", "结束日期不能晚于一年以后")
    problems.raise_if_any()
    pairing.until_date = until_date
    session.flush()
    return pairing


def get_pairing(session: Session, scope: Scope, pairing_id: int) -> Pairing:
    pairing = session.get(Pairing, pairing_id)
    if pairing is None:
        raise NotFound("结对记录不存在", field="pairing_id")
    try:
        get_household(session, scope, pairing.household_id)
    except NotFound as exc:
        raise NotFound("结对记录不存在", field="pairing_id") from exc
    return pairing


@dataclass(frozen=True)
class VisitForm:
    """A visit as typed (cash as text: money never passes through a float)."""

    pairing_id: int
    visited_on: date
    services: Sequence[str]
    signer_name: str
    notes: str | None = None
    goods: str | None = None
    cash: str | None = None
    voucher: str | None = None
    idempotency_key: str | None = None
    flag: str | None = None  # a change noticed at the visit (households.services.CHANGES)
    flag_note: str | None = None


def record_visit(session: Session, scope: Scope, ledger_dir: Path, upload_dir: Path, form: VisitForm,
                 sheet_bytes: bytes, recorded_by: str | None = None, today: date | None = None) -> Visit:
    """Check everything, store the sheet, then write the visit (and its payment) in one commit."""
    today = today or date.today()
    pairing = get_pairing(session, scope, form.pairing_id)
    household = get_household(session, scope, pairing.household_id)
    sheet = judge(sheet_bytes)
    shape = Problems()
    unknown = [s for s in form.services if s not in SERVICES]
    if unknown or not form.services:
        shape.add("services", "服务内容应为 生产、生活、生育 中的一项或多项")
    if not form.signer_name.strip():
        shape.add("signer_name", "须填写签字人姓名（有登记，有对象签字）")
    cash_fen: int | None = None
    if form.cash not in (None, ""):
        try:
            cash_fen = to_fen(parse_amount(form.cash))
        except MoneyError as exc:
            shape.add("cash", str(exc))
    if form.flag is not None and form.flag not in CHANGES:
        shape.add("flag", "发现的变化应为 " + "、".join(CHANGES))
    shape.raise_if_any(Invalid)
    rules = Problems()
    if form.visited_on > today:
        rules.add("visited_on", "走访日期不能晚于今天")
    if form.visited_on < pairing.from_date or (pairing.until_date and form.visited_on > pairing.until_date):
        rules.add("visited_on", "走访日期不在结对期间内")
    rules.raise_if_any()
    visit = Visit(pairing_id=pairing.id, household_id=household.id, visited_on=form.visited_on,
                  services=list(form.services), notes=form.notes, goods=form.goods, cash_fen=cash_fen,
                  signer_name=form.signer_name.strip(), sheet_sha256=sheet.sha256, sheet_type=sheet.media_type,
                  recorded_by=recorded_by)
    with stored(upload_dir, sheet):
        if cash_fen is None:
            _write(session, visit, form)
            session.commit()
            return visit
        return _with_payment(session, scope, ledger_dir, household, form, visit)


def _write(session: Session, visit: Visit, form: VisitForm) -> None:
    """The visit row and the review item it flags: the same transaction as its payment, if any."""
    session.add(visit)
    session.flush()
    if form.flag is not None:
        open_review(session, visit.household_id, form.flag, form.flag_note, visit.id, field="flag")


def payment_scope(session: Session, scope: Scope, household: Household) -> tuple[Scope, int]:
    """Which book pays a visit's cash, and the scope to post it with.

    Villages and communities keep no book: a visit's cash is paid from the nearest book up the household's
    tree (its township's, ``fund.books.book_org``). A user who may write the fund for the household's own
    village (a village secretary, 计生专干) may post this one kind of payment, 走访慰问 for a household in
    scope, into that book although the book's organisation lies above their scope; nothing else about the
    book opens to them. Without fund-write over the household's village, cash is refused.
    """
    org = session.get(Organisation, household.org_id)
    assert org is not None  # a household's organisation is a foreign key
    fund_scope = scope.narrowed(Perm.fund_write)
    if not fund_scope.contains(org.path):
        raise DomainError("您无权为该家庭发放慰问金（需要该村公益金记账权限）", field="cash")
    book_org = fund_service.book_org(session, org)
    book_id = session.scalar(select(FundBook.id).where(FundBook.org_id == book_org.id))
    if book_id is None:
        raise DomainError(f"{book_org.name}尚未开设公益金账簿，不能发放慰问金", field="cash")
    if not fund_scope.contains(book_org.path):
        fund_scope = Scope(perm=Perm.fund_write, paths=merge_paths((*fund_scope.paths, book_org.path)),
                           principal=fund_scope.principal)
    return fund_scope, book_id


def _with_payment(session: Session, scope: Scope, ledger_dir: Path, household: Household, form: VisitForm,
                  visit: Visit) -> Visit:
    fund_scope, book_id = payment_scope(session, scope, household)

    def within(s: Session, entries: list[FundEntry]) -> None:
        visit.fund_entry_id = entries[0].id
        _write(s, visit, form)

    posted = fund_service.post_payment(
        session, ledger_dir, fund_scope, book_id, key=form.idempotency_key,
        date=form.visited_on, amount=form.cash, category=VISIT_CATEGORY, payee=form.signer_name,
        voucher=form.voucher, narration=f"走访慰问 家庭{household.id}", meta={"household": str(household.id)},
        within=within)
    if posted.replayed:  # the same request again: the visit written the first time
        first = session.scalar(select(Visit).where(Visit.fund_entry_id == posted.entry_id))
        if first is None:
            raise Conflict("该幂等键已用于另一笔付款", field="idempotency_key")
        return first
    return visit


def get_visit(session: Session, scope: Scope, visit_id: int) -> Visit:
    visit = session.get(Visit, visit_id)
    if visit is None:
        raise NotFound("走访记录不存在", field="visit_id")
    try:
        get_household(session, scope, visit.household_id)
    except NotFound as exc:
        raise NotFound("走访记录不存在", field="visit_id") from exc
    return visit


def sheet_of(session: Session, scope: Scope, upload_dir: Path, visit_id: int) -> tuple[Path, str]:
    """The stored signed sheet of a visit, for a caller whose scope holds the household."""
    visit = get_visit(session, scope, visit_id)
    path = path_of(upload_dir, visit.sheet_sha256, visit.sheet_type)
    if not path.is_file():
        raise NotFound("签字单文件缺失，请联系管理员", field="visit_id")
    return path, visit.sheet_type


@dataclass(frozen=True)
class Unvisited:
    org_id: int
    org_name: str
    pairing_id: int
    household_id: int
    membership_id: int
    volunteer: str


def month_bounds(month: str) -> tuple[date, date]:
    try:
        year, mon = (int(p) for p in month.split("-"))
        first = date(year, mon, 1)
    except ValueError as exc:
        raise Invalid("月份格式应为 YYYY-MM", field="month") from exc
    return first, (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def unvisited(session: Session, scope: Scope, month: str) -> list[Unvisited]:
    """Pairings in force during the month with no visit dated in it, ordered by village.

    A household counts as it was in that month, not as it is today: one that has since left the county is
    still listed for a month it lived here, one registered later is not, and a household that moved between
    villages is listed (and scoped) under where it lived at the month's end, or when it left.
    """
    first, last = month_bounds(month)
    visited = select(Visit.id).where(Visit.pairing_id == Pairing.id, Visit.visited_on >= first,
                                     Visit.visited_on <= last)
    candidates = session.execute(
        select(Pairing.id, Pairing.household_id, Pairing.membership_id, Person.name)
        .join(Membership, Membership.id == Pairing.membership_id)
        .join(Person, Person.id == Membership.person_id)
        .where(Pairing.from_date <= last, or_(Pairing.until_date.is_(None), Pairing.until_date >= first),
               ~visited.exists())).all()
    where = _homes_during(session, {c.household_id for c in candidates}, first, last)
    orgs = {o.id: o for o in session.scalars(select(Organisation).where(Organisation.id.in_(set(where.values()))))}
    found = [(orgs[where[c.household_id]], c) for c in candidates
             if c.household_id in where and scope.contains(orgs[where[c.household_id]].path)]
    found.sort(key=lambda oc: (oc[0].path, oc[1].id))
    return [Unvisited(o.id, o.name, c.id, c.household_id, c.membership_id, c.name) for o, c in found]


def _homes_during(session: Session, household_ids: set[int], first: date, last: date) -> dict[int, int]:
    """Household → the organisation it lived under during [first, last], for those in the county then."""
    events: dict[int, list[HouseholdEvent]] = {}
    ids = sorted(household_ids)
    for i in range(0, len(ids), 500):
        for row in session.scalars(select(HouseholdEvent).where(HouseholdEvent.household_id.in_(ids[i:i + 500]))
                                   .order_by(HouseholdEvent.effective_on, HouseholdEvent.id)):
            events.setdefault(row.household_id, []).append(row)
    homes: dict[int, int] = {}
    for household_id, rows in events.items():
        values = [event_value(r) for r in rows]
        at_start, at_end = fold(values, on=first), fold(values, on=last)
        here = at_end if at_end.active else at_start if at_start.active else None
        if here is not None and here.org_id is not None:
            homes[household_id] = here.org_id
    return homes


__all__ = ["SERVICES", "Sheet", "VisitForm", "create_pairings", "end_pairing", "get_visit", "list_pairings",
           "payment_scope", "record_visit", "sheet_of", "unvisited"]
