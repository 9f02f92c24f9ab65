"""The figures of every report, read from the books' database index (entries, postings, month totals).

A report covers an organisation subtree (every fund book whose organisation lies in it) and a period.
Sums over whole months come from the month totals the writer keeps in each entry's commit
(``fund.writer._bump_balances``); only the partial months at either end of the period read postings, so
a year's report costs the same for a book of 1k or 300k entries. No book file is ever loaded.

Every figure carries a :class:`Drill`: the postings (or roll lines) behind it, which the API serves at
``/api/reports/postings`` and the CLI prints with ``report postings``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, String, case, cast, func, or_, select
from sqlalchemy.orm import Session

from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.errors import Invalid
from assoc_ledger.core.money import from_fen
from assoc_ledger.fund.chart import (
    ALLOCATION_IN,
    ALLOCATION_OUT,
    CATEGORIES,
    FUND_ZH,
    SOURCES,
    Category,
    Fund,
    Source,
    fund_of_account,
)
from assoc_ledger.fund.models import (
    FundAccount,
    FundBook,
    FundEntry,
    FundMonthTotal,
    FundPosting,
    FundRoll,
    FundRollLine,
)
from assoc_ledger.orgs.models import ORG_KIND_ZH, Organisation, OrgKind
from assoc_ledger.orgs.services import get_org

# --- the domain's rules for reports, each in one place -------------------------------------------------

# 收入来源：政府投入 / 社会筹资 / 其他 — as the seed county reports its 242万 of aid: “政府涉农部门投入95.5万元，
# 社会筹资金146.5万元”. Shares of the maintenance fee and of central transfers are public money.
SOURCE_GROUPS: dict[str, tuple[str, tuple[Source, ...]]] = {
    "government": ("政府投入", (Source.budget, Source.central_transfer, Source.maintenance_fee)),
    "society": ("社会筹资", (Source.donation_person, Source.donation_company)),
    "other": ("其他来源", (Source.interest, Source.other)),
}

# “县级协会‘计划生育公益金’每年投入不低于20万元，乡镇（街道）每年投入不低于5万元” (seed 003). A level's own
# 投入 is every receipt of its book except money passed down from the level above.
ANNUAL_TARGET_FEN: dict[str, int] = {
    OrgKind.county.value: 200_000_00,
    OrgKind.township.value: 50_000_00,
    OrgKind.town.value: 50_000_00,
    OrgKind.street.value: 50_000_00,
}
TARGET_QUOTE = "县级协会“计划生育公益金”每年投入不低于20万元，乡镇（街道）每年投入不低于5万元"

# “宣传教育经费占本级人口计生事业经费的10%以上” (seed 000): publicity over programme spending, which is every
# expense of the level except administration and money passed down.
PUBLICITY_SHARE = Decimal("0.10")
PUBLICITY_QUOTE = "宣传教育经费占本级人口计生事业经费的10%以上"
PUBLICITY_ACCOUNT = CATEGORIES[Category.publicity].account
ADMIN_ACCOUNT = CATEGORIES[Category.administration].account
RELIEF_CATEGORIES = tuple(c for c, line in CATEGORIES.items() if line.relief)
RELIEF_ACCOUNTS = tuple(CATEGORIES[c].account for c in RELIEF_CATEGORIES)
PROGRAMME_ACCOUNTS = (*RELIEF_ACCOUNTS, PUBLICITY_ACCOUNT)

# The public statement never shows a group of fewer households than this (it is merged, then suppressed).
MIN_GROUP = 5


@dataclass(frozen=True)
class Drill:
    """The postings behind a figure: accounts (with their sub-accounts) of some books in a period, or the
    roll lines of a category. ``query`` is the API's query string for it."""

    org_id: int
    start: dt.date
    end: dt.date
    accounts: tuple[str, ...] = ()
    book_ids: tuple[int, ...] = ()
    category: str | None = None
    rolls: bool = False

    @property
    def query(self) -> str:
        params: list[tuple[str, str]] = [("org", str(self.org_id)), ("from", self.start.isoformat()),
                                         ("to", self.end.isoformat())]
        params += [("account", a) for a in self.accounts]
        params += [("book", str(b)) for b in self.book_ids]
        if self.category:
            params.append(("category", self.category))
        if self.rolls:
            params.append(("rolls", "true"))
        return urlencode(params)

    @property
    def url(self) -> str:
        return ("/api/reports/drill/roll-lines?" if self.rolls else "/api/reports/drill/postings?") + self.query


Value = str | int | Decimal | None


@dataclass(frozen=True)
class Row:
    cells: tuple[Value, ...]
    drill: Drill | None = None
    total: bool = False


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    columns: tuple[str, ...]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "columns": list(self.columns), "notes": self.notes,
                "rows": [{"cells": [cell_text(c) for c in r.cells], "total": r.total,
                          "drill": r.drill.url if r.drill else None} for r in self.rows]}


def cell_text(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


@dataclass(frozen=True)
class BookRef:
    id: int
    org_id: int
    org_name: str
    org_kind: str
    population: int | None


@dataclass(frozen=True)
class Context:
    """What every report reads: the subtree's root, its books and the period."""

    org: Organisation
    books: tuple[BookRef, ...]
    start: dt.date
    end: dt.date

    @property
    def book_ids(self) -> tuple[int, ...]:
        return tuple(b.id for b in self.books)

    def drill(self, accounts: Iterable[str] = (), books: Iterable[int] = (), **kw: Any) -> Drill:
        return Drill(self.org.id, self.start, self.end, tuple(accounts), tuple(books), **kw)


def context(session: Session, scope: Scope, org_id: int, start: dt.date, end: dt.date) -> Context:
    """The subtree of ``org_id`` (404 outside the caller's scope) and every fund book in it."""
    if end < start:
        raise Invalid("截止日期不能早于起始日期", field="to")
    if (end - start).days > 366 * 20:
        raise Invalid("报表期间不能超过二十年", field="from")
    org = get_org(session, org_id, scope)
    rows = session.execute(select(FundBook.id, Organisation.id, Organisation.name, Organisation.kind,
                                  Organisation.population)
                           .join(Organisation, Organisation.id == FundBook.org_id)
                           .where(Organisation.path.startswith(org.path, autoescape=True))
                           .order_by(Organisation.path)).tuples().all()
    return Context(org, tuple(BookRef(*r) for r in rows), start, end)


# --- sums over the index -------------------------------------------------------------------------------

def _month_after(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def account_sums(session: Session, book_ids: Sequence[int], start: dt.date | None,
                 end: dt.date) -> dict[tuple[int, str], int]:
    """Fen per (book, account) of the postings dated ``start``..``end`` (``None``: since the beginning).

    Whole months are read from the month totals; the partial months at either end from the postings
    (through the (book, account, date) index)."""
    if not book_ids:
        return {}
    lo = start or dt.date(1900, 1, 1)
    first_full = lo if lo.day == 1 else _month_after(lo)
    after_end = end + dt.timedelta(days=1)
    last_full_start = after_end.replace(day=1) if after_end.day == 1 else end.replace(day=1)
    # months [first_full, last_full_start) are whole; [lo, first_full) and [last_full_start, end] are not
    sums: dict[tuple[int, str], int] = {}

    def add(rows: Iterable[tuple[int, str, Any]]) -> None:
        for book, account, fen in rows:
            key = (book, account)
            sums[key] = sums.get(key, 0) + int(fen or 0)

    books = list(book_ids)
    if first_full < last_full_start:
        add(session.execute(select(FundMonthTotal.book_id, FundMonthTotal.account, func.sum(FundMonthTotal.amount_fen))
                            .where(FundMonthTotal.book_id.in_(books), FundMonthTotal.month >= first_full,
                                   FundMonthTotal.month < last_full_start)
                            .group_by(FundMonthTotal.book_id, FundMonthTotal.account)).tuples())
        edges = [(lo, first_full - dt.timedelta(days=1)), (last_full_start, end)]
    else:
        edges = [(lo, end)]
    for a, b in edges:
        if a > b:
            continue
        add(session.execute(select(FundPosting.book_id, FundPosting.account, func.sum(FundPosting.amount_fen))
                            .where(FundPosting.book_id.in_(books), FundPosting.date >= a, FundPosting.date <= b)
                            .group_by(FundPosting.book_id, FundPosting.account)).tuples())
    return sums


def _by_account(sums: dict[tuple[int, str], int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for (_, account), fen in sums.items():
        out[account] = out.get(account, 0) + fen
    return out


def _under(sums: dict[str, int], prefix: str) -> int:
    return sum(f for a, f in sums.items() if a == prefix or a.startswith(prefix + ":"))


def _yuan(fen: int) -> Decimal:
    return from_fen(fen)


def _pct(part: int, whole: int) -> str:
    if not whole:
        return "—"
    return f"{Decimal(part * 100) / Decimal(whole):.2f}%"


# --- the reports ---------------------------------------------------------------------------------------

def trial_balance(session: Session, ctx: Context) -> Report:
    """试算平衡表: every account's opening balance, movement in the period and closing balance over the
    subtree, all from the month totals (debit positive, credit negative; each column sums to zero)."""
    opening = _by_account(account_sums(session, ctx.book_ids, None, ctx.start - dt.timedelta(days=1)))
    moved = _by_account(_period_sums(session, ctx))
    names = dict(session.execute(select(FundAccount.name, FundAccount.zh)
                                 .where(FundAccount.book_id.in_(ctx.book_ids))).tuples().all())
    out: list[Row] = []
    totals = [0, 0, 0]
    for account in sorted(set(opening) | set(moved) | set(names)):
        o, m = opening.get(account, 0), moved.get(account, 0)
        if not (o or m):
            continue
        for i, v in enumerate((o, m, o + m)):
            totals[i] += v
        out.append(Row((account, names.get(account, ""), _yuan(o), _yuan(m), _yuan(o + m)), ctx.drill([account])))
    out.append(Row(("合计", "", *(_yuan(t) for t in totals)), total=True))
    return Report("trial-balance", "试算平衡表", ("科目", "名称", "期初余额", "本期发生额", "期末余额"), out,
                  ["借方为正、贷方为负；各列合计为零即试算平衡。"])


def _period_sums(session: Session, ctx: Context) -> dict[tuple[int, str], int]:
    return account_sums(session, ctx.book_ids, ctx.start, ctx.end)


def income_by_source(session: Session, ctx: Context) -> Report:
    """收入来源: government vs society vs other, each source under its group; money passed between levels
    inside the subtree cancels out, money from a level above the subtree shows as 上级拨入."""
    sums = _by_account(_period_sums(session, ctx))
    rows: list[Row] = []
    total = 0
    for _key, (zh, sources) in SOURCE_GROUPS.items():
        accounts = [SOURCES[s].account for s in sources]
        group = -sum(_under(sums, a) for a in accounts)
        total += group
        rows.append(Row((zh, "", _yuan(group)), ctx.drill(accounts), total=True))
        for s in sources:
            fen = -_under(sums, SOURCES[s].account)
            rows.append(Row(("", SOURCES[s].zh, _yuan(fen)), ctx.drill([SOURCES[s].account])))
    upper = -(_under(sums, ALLOCATION_IN) + _under(sums, ALLOCATION_OUT))
    if upper:
        rows.append(Row(("上级拨入（净额）", "", _yuan(upper)), ctx.drill([ALLOCATION_IN, ALLOCATION_OUT]), total=True))
        total += upper
    rows.append(Row(("收入合计", "", _yuan(total)), total=True))
    shares = [f"{zh} {_pct(-sum(_under(sums, SOURCES[s].account) for s in srcs), total)}"
              for zh, srcs in SOURCE_GROUPS.values()]
    return Report("income-by-source", "收入来源", ("来源", "明细", "金额"), rows,
                  ["占比：" + "，".join(shares),
                   "子树内上下级之间的拨付相互抵消，不计入收入。"])


def spending_by_category(session: Session, ctx: Context) -> Report:
    """支出按帮扶救助类别 (chart of accounts), then publicity and administration."""
    sums = _by_account(_period_sums(session, ctx))
    rows: list[Row] = []
    relief = 0
    for cat in RELIEF_CATEGORIES:
        fen = _under(sums, CATEGORIES[cat].account)
        relief += fen
        rows.append(Row((cat.value, CATEGORIES[cat].zh, _yuan(fen)), ctx.drill([CATEGORIES[cat].account])))
    rows.append(Row(("relief", "帮扶救助小计", _yuan(relief)), ctx.drill(RELIEF_ACCOUNTS), total=True))
    publicity, admin = _under(sums, PUBLICITY_ACCOUNT), _under(sums, ADMIN_ACCOUNT)
    rows.append(Row((Category.publicity.value, CATEGORIES[Category.publicity].zh, _yuan(publicity)),
                    ctx.drill([PUBLICITY_ACCOUNT])))
    rows.append(Row((Category.administration.value, CATEGORIES[Category.administration].zh, _yuan(admin)),
                    ctx.drill([ADMIN_ACCOUNT])))
    rows.append(Row(("total", "支出合计", _yuan(relief + publicity + admin)),
                    ctx.drill([*RELIEF_ACCOUNTS, PUBLICITY_ACCOUNT, ADMIN_ACCOUNT]), total=True))
    return Report("spending-by-category", "支出按类别", ("类别", "名称", "金额"), rows,
                  ["拨付下级公益金为体系内转移，不计入支出。"])


def restricted_funds(session: Session, ctx: Context) -> Report:
    """限定用途与非限定资金: opening, in, out, closing of each fund's bank and cash. A movement inside one
    fund (drawing petty cash) is neither in nor out: in/out are each entry's net change of the fund."""
    opening = _by_account(account_sums(session, ctx.book_ids, None, ctx.start - dt.timedelta(days=1)))
    closing = _by_account(account_sums(session, ctx.book_ids, None, ctx.end))
    fund_accounts = {a: f for a in set(opening) | set(closing) if (f := fund_of_account(a)) is not None}
    flows: dict[Fund, list[int]] = {f: [0, 0] for f in Fund}
    if ctx.book_ids and fund_accounts:
        # Gross in and out in one pass over the period's fund postings; then entries that move money inside
        # one fund (drawing petty cash: only journal entries without a category can) count at their net.
        candidates = select(FundEntry.id).where(
            FundEntry.book_id.in_(ctx.book_ids), FundEntry.date >= ctx.start, FundEntry.date <= ctx.end,
            FundEntry.kind == "txn", FundEntry.category.is_(None))
        for fund in Fund:
            accounts = [a for a, f in fund_accounts.items() if f is fund]
            if not accounts:
                continue
            gross_in, gross_out = session.execute(select(
                func.sum(case((FundPosting.amount_fen > 0, FundPosting.amount_fen), else_=0)),
                func.sum(case((FundPosting.amount_fen < 0, -FundPosting.amount_fen), else_=0)))
                .where(FundPosting.book_id.in_(ctx.book_ids), FundPosting.account.in_(accounts),
                       FundPosting.date >= ctx.start, FundPosting.date <= ctx.end)).one()
            inflow, outflow = int(gross_in or 0), int(gross_out or 0)
            for pos, neg, net in session.execute(
                    select(func.sum(case((FundPosting.amount_fen > 0, FundPosting.amount_fen), else_=0)),
                           func.sum(case((FundPosting.amount_fen < 0, -FundPosting.amount_fen), else_=0)),
                           func.sum(FundPosting.amount_fen))
                    .where(FundPosting.entry_id.in_(candidates), FundPosting.account.in_(accounts))
                    .group_by(FundPosting.entry_id)).tuples():
                inflow -= int(pos or 0) - max(int(net or 0), 0)
                outflow -= int(neg or 0) - max(-int(net or 0), 0)
            flows[fund] = [inflow, outflow]
    rows: list[Row] = []
    for fund in Fund:
        accounts = sorted(a for a, f in fund_accounts.items() if f is fund)
        o = sum(opening.get(a, 0) for a in accounts)
        c = sum(closing.get(a, 0) for a in accounts)
        i, out = flows[fund]
        rows.append(Row((fund.value, FUND_ZH[fund], _yuan(o), _yuan(i), _yuan(out), _yuan(c)), ctx.drill(accounts)))
    return Report("restricted-funds", "限定用途资金", ("资金", "名称", "期初", "本期流入", "本期流出", "期末"), rows,
                  ["期初 + 流入 − 流出 = 期末；同一资金内部的银行与现金互转不计流入流出。"])


def fund_targets(session: Session, ctx: Context) -> Report:
    """公益金投入目标 per level: the book's own receipts (not money from above) against the seed's target."""
    sums = _period_sums(session, ctx)
    own_accounts = [line.account for line in SOURCES.values()]
    rows: list[Row] = []
    met_count = 0
    for book in ctx.books:
        target = ANNUAL_TARGET_FEN.get(book.org_kind)
        if target is None:
            continue
        own = -sum(f for (b, a), f in sums.items() if b == book.id and a in own_accounts)
        met = own >= target
        met_count += met
        rows.append(Row((book.org_name, ORG_KIND_ZH.get(OrgKind(book.org_kind), book.org_kind), _yuan(own),
                         _yuan(target), "达标" if met else "未达标"), ctx.drill(own_accounts, [book.id])))
    notes = [f"目标（种子文件）：{TARGET_QUOTE}。", f"达标 {met_count} / {len(rows)}。"]
    if (ctx.end - ctx.start).days < 364:
        notes.append("期间不足一年：按全年目标比较。")
    return Report("fund-targets", "公益金投入目标", ("组织", "层级", "本级投入", "目标", "结果"), rows, notes)


def publicity_share(session: Session, ctx: Context) -> Report:
    """宣传经费占比: each level's publicity over its programme spending, and the subtree's."""
    sums = _period_sums(session, ctx)
    rows: list[Row] = []
    all_pub = all_prog = 0
    for book in ctx.books:
        pub = sum(f for (b, a), f in sums.items() if b == book.id and a == PUBLICITY_ACCOUNT)
        prog = sum(f for (b, a), f in sums.items() if b == book.id and a in PROGRAMME_ACCOUNTS)
        all_pub += pub
        all_prog += prog
        rows.append(Row((book.org_name, _yuan(pub), _yuan(prog), _pct(pub, prog),
                         "达标" if prog and pub * 10 >= prog else "未达标"), ctx.drill([PUBLICITY_ACCOUNT], [book.id])))
    rows.append(Row(("合计", _yuan(all_pub), _yuan(all_prog), _pct(all_pub, all_prog),
                     "达标" if all_prog and all_pub * 10 >= all_prog else "未达标"),
                    ctx.drill([PUBLICITY_ACCOUNT]), total=True))
    return Report("publicity", "宣传经费占比", ("组织", "宣传支出", "事业支出", "占比", "结果"), rows,
                  [f"规则（种子文件）：{PUBLICITY_QUOTE}；事业支出 = 帮扶救助 + 宣传（不含管理费用和拨付下级）。"])


# --- households aided -----------------------------------------------------------------------------------

HouseholdLink = tuple[int, int, int | None]
"""(entry id, household id, fen): a payment (or, for a roll, one line of it) made to a household; fen None
means the entry's whole relief amount."""

HouseholdLinker = Callable[[Session, Context], list[HouseholdLink]]
"""The household links one area knows for the entries of a context's books and period."""


def _households_from_meta(session: Session, ctx: Context) -> list[HouseholdLink]:
    """Entries that name their household in metadata (``household: <id>``, as visits write it)."""
    if not ctx.book_ids:
        return []
    rows = session.execute(select(FundEntry.id, FundEntry.meta).where(
        FundEntry.book_id.in_(ctx.book_ids), FundEntry.date >= ctx.start, FundEntry.date <= ctx.end,
        FundEntry.category.in_([c.value for c in RELIEF_CATEGORIES]),
        cast(FundEntry.meta, String).like('%"household"%'))).tuples().all()
    out: list[HouseholdLink] = []
    for entry_id, meta in rows:
        value = dict(meta).get("household")
        if value and value.isdigit():
            out.append((entry_id, int(value), None))
    return out


def _households_from_cases(session: Session, ctx: Context) -> list[HouseholdLink]:
    """Relief cases (救助案件) paid through the books: the case's entry and household."""
    from assoc_ledger.relief.models import ReliefCase

    if not ctx.book_ids:
        return []
    rows = session.execute(select(ReliefCase.fund_entry_id, ReliefCase.household_id)
                           .join(FundEntry, FundEntry.id == ReliefCase.fund_entry_id)
                           .where(FundEntry.book_id.in_(ctx.book_ids), FundEntry.date >= ctx.start,
                                  FundEntry.date <= ctx.end)).tuples().all()
    return [(int(e), h, None) for e, h in rows if e is not None]


def _households_from_entitlements(session: Session, ctx: Context) -> list[HouseholdLink]:
    """Entitlement runs (待遇发放): each roll line of a voucher is one household and its amount."""
    from assoc_ledger.entitlements.models import EntitlementLine

    if not ctx.book_ids:
        return []
    rows = session.execute(select(EntitlementLine.entry_id, EntitlementLine.household_id, EntitlementLine.amount_fen)
                           .join(FundEntry, FundEntry.id == EntitlementLine.entry_id)
                           .where(FundEntry.book_id.in_(ctx.book_ids), FundEntry.date >= ctx.start,
                                  FundEntry.date <= ctx.end)).tuples().all()
    return [(e, h, int(f)) for e, h, f in rows]


HOUSEHOLD_LINKERS: list[HouseholdLinker] = [_households_from_meta, _households_from_cases,
                                            _households_from_entitlements]
"""Where a payment's household comes from: entry metadata (visits), relief cases, entitlement roll lines.
Another area adds its own with :func:`add_household_linker`."""


def add_household_linker(linker: HouseholdLinker) -> None:
    if linker not in HOUSEHOLD_LINKERS:
        HOUSEHOLD_LINKERS.append(linker)


def household_links(session: Session, ctx: Context) -> list[HouseholdLink]:
    out: list[HouseholdLink] = []
    for linker in HOUSEHOLD_LINKERS:
        out.extend(linker(session, ctx))
    return out


@dataclass(frozen=True)
class Aided:
    """One aided household, as the index knows it: the book, its category, a key and who."""

    book_id: int
    category: str
    key: str
    label: str


def _live_relief_entries(ctx: Context) -> Any:
    """Relief payments in the period that are neither reversed nor reversals.

    The reversal tests read the few reversals through the unique index on ``reverses_id``; ``coalesce``
    keeps SQLite from scanning the whole book by that index instead of the period by (book, date, seq)."""
    reversed_ids = select(FundEntry.reverses_id).where(FundEntry.reverses_id.is_not(None))
    return (FundEntry.book_id.in_(ctx.book_ids), FundEntry.date >= ctx.start, FundEntry.date <= ctx.end,
            FundEntry.kind == "txn", func.coalesce(FundEntry.reverses_id, 0) == 0,
            FundEntry.id.not_in(reversed_ids), FundEntry.category.in_([c.value for c in RELIEF_CATEGORIES]))


def aided_households(session: Session, ctx: Context) -> list[Aided]:
    """Every household aided in the period, once per (book, category): roll lines by (masked ID, payee),
    entries linked to a household by its id, other relief payments by payee. Distinct in SQL, so the cost
    is one pass over the period's relief entries, not a row per entry in Python."""
    if not ctx.book_ids:
        return []
    where = _live_relief_entries(ctx)
    seen: dict[tuple[int, str, str], Aided] = {}
    roll_rows = session.execute(
        select(FundEntry.id, FundEntry.book_id, FundEntry.category, FundRollLine.resident_id, FundRollLine.payee)
        .join(FundRoll, FundRoll.entry_id == FundEntry.id).join(FundRollLine, FundRollLine.roll_id == FundRoll.id)
        .where(*where).distinct()).tuples().all()
    links = household_links(session, ctx)
    linked = {e for e, _h, _f in links}
    households_of: dict[int, set[int]] = {}
    for entry_id, household, _fen in links:
        households_of.setdefault(entry_id, set()).add(household)
    if linked:
        # a roll whose lines name their households (entitlement runs) is counted by household, not by line
        roll_rows = [r for r in roll_rows if r[0] not in linked]
    for _entry, book, cat, rid, payee in roll_rows:
        key = (book, cat or "", f"roll:{rid}:{payee}")
        seen.setdefault(key, Aided(book, cat or "", key[2], payee))
    rolled = select(FundRoll.entry_id).where(FundRoll.book_id.in_(ctx.book_ids))
    if linked:
        for entry_id, book, category, name in session.execute(
                select(FundEntry.id, FundEntry.book_id, FundEntry.category, FundEntry.payee)
                .where(FundEntry.id.in_(list(linked)), *where)).tuples():
            for household in sorted(households_of[entry_id]):
                ident = f"household:{household}"
                seen.setdefault((book, category or "", ident), Aided(book, category or "", ident, name or ""))
    others = (select(FundEntry.book_id, FundEntry.category, FundEntry.payee)
              .where(*where, FundEntry.id.not_in(rolled)).distinct())
    if linked:
        others = others.where(FundEntry.id.not_in(list(linked)))
    for book, category, name in session.execute(others).tuples():
        ident = f"payee:{name or ''}"
        seen.setdefault((book, category or "", ident), Aided(book, category or "", ident, name or ""))
    return list(seen.values())


def households_aided(session: Session, ctx: Context) -> Report:
    """受助家庭 by level and category, relief spending per head of population."""
    aided = aided_households(session, ctx)
    sums = _period_sums(session, ctx)
    rows: list[Row] = []
    names = {b.id: b.org_name for b in ctx.books}
    for book in ctx.books:
        mine = [a for a in aided if a.book_id == book.id]
        distinct = len({a.key for a in mine})
        relief = sum(f for (b, a), f in sums.items() if b == book.id and a in RELIEF_ACCOUNTS)
        rows.append(Row((names[book.id], distinct, _yuan(relief)), ctx.drill(RELIEF_ACCOUNTS, [book.id])))
    total_households = len({(a.book_id, a.key) for a in aided})
    relief_all = sum(f for (_, a), f in sums.items() if a in RELIEF_ACCOUNTS)
    rows.append(Row(("合计", total_households, _yuan(relief_all)), ctx.drill(RELIEF_ACCOUNTS), total=True))
    population = population_of(session, ctx)
    per_head = (_yuan(relief_all) / population).quantize(Decimal("0.01")) if population else None
    notes = ["受助家庭：花名册按（脱敏身份证号、户名）计；关联家庭的支出按家庭计；其余帮扶支出按收款人计；"
             "已冲销的支出不计。",
             f"人口 {population if population else '未登记'}；人均帮扶救助支出 "
             f"{cell_text(per_head) + ' 元' if per_head is not None else '—'}。"]
    return Report("households-aided", "受助家庭与人均", ("组织", "受助家庭（户）", "帮扶救助支出"), rows, notes)


def population_of(session: Session, ctx: Context) -> int | None:
    """The subtree root's population, else the sum of its direct children's."""
    if ctx.org.population:
        return ctx.org.population
    total = session.scalar(select(func.sum(Organisation.population)).where(Organisation.parent_id == ctx.org.id))
    return int(total) if total else None


def per_head(session: Session, ctx: Context) -> Decimal | None:
    population = population_of(session, ctx)
    if not population:
        return None
    relief = sum(f for (_, a), f in _period_sums(session, ctx).items() if a in RELIEF_ACCOUNTS)
    return (_yuan(relief) / population).quantize(Decimal("0.01"))


def aided_by_category_and_township(session: Session, ctx: Context) -> list[tuple[str, str, int, Decimal]]:
    """(township, category, households, amount) for the public statement: households counted per group."""
    aided = aided_households(session, ctx)
    sums = _period_sums(session, ctx)
    out: list[tuple[str, str, int, Decimal]] = []
    for book in ctx.books:
        for cat in RELIEF_CATEGORIES:
            count = len({a.key for a in aided if a.book_id == book.id and a.category == cat.value})
            fen = sums.get((book.id, CATEGORIES[cat].account), 0)
            if count or fen:
                out.append((book.org_name, CATEGORIES[cat].zh, count, _yuan(fen)))
    return out


def suppress_small(groups: list[tuple[str, str, int, Decimal]]) -> list[tuple[str, str, int | None, Decimal]]:
    """Public figures: each township's categories with fewer than MIN_GROUP households are merged into one
    “其他类别（合并）” row; a merged row still under MIN_GROUP shows no count (“<5”), only its amount."""
    out: list[tuple[str, str, int | None, Decimal]] = []
    by_town: dict[str, list[tuple[str, str, int, Decimal]]] = {}
    for g in groups:
        by_town.setdefault(g[0], []).append(g)
    for town, items in by_town.items():
        small = [g for g in items if g[2] < MIN_GROUP]
        for g in items:
            if g[2] >= MIN_GROUP:
                out.append(g)
        if small:
            count = sum(g[2] for g in small)
            amount = sum((g[3] for g in small), Decimal("0.00"))
            out.append((town, "其他类别（合并）", count if count >= MIN_GROUP else None, amount))
    return out


def spending_by_household_kind(session: Session, ctx: Context) -> Report:
    """支出按家庭类别: relief payments linked to a household, by the household's current kinds; the rest
    (not linked in the books yet) on one line. A household of two kinds counts under each."""
    from assoc_ledger.households.models import HouseholdKind
    from assoc_ledger.households.rules import KIND_ZH, KindCode

    if not ctx.book_ids:
        return Report("spending-by-household-kind", "支出按家庭类别", ("家庭类别", "名称", "户数", "金额"), [])
    links = household_links(session, ctx)
    whole = {e for e, _h, f in links if f is None}
    live = set(session.scalars(select(FundEntry.id).where(FundEntry.id.in_(list({e for e, _h, _f in links})),
                                                          *_live_relief_entries(ctx))).all()) if links else set()
    entry_fen: dict[int, int] = {}
    if whole:
        entry_fen = {e: int(f or 0) for e, f in session.execute(
            select(FundPosting.entry_id, func.sum(FundPosting.amount_fen))
            .where(FundPosting.entry_id.in_(list(whole)), FundPosting.account.in_(RELIEF_ACCOUNTS))
            .group_by(FundPosting.entry_id)).tuples()}
    paid: list[tuple[int, int]] = [(h, entry_fen.get(e, 0) if f is None else f) for e, h, f in links if e in live]
    relief_total = sum(f for (_, a), f in _period_sums(session, ctx).items() if a in RELIEF_ACCOUNTS)
    kinds: dict[int, list[str]] = {}
    if paid:
        for hid, kind in session.execute(select(HouseholdKind.household_id, HouseholdKind.kind)
                                         .where(HouseholdKind.household_id.in_({h for h, _ in paid}))).tuples():
            kinds.setdefault(hid, []).append(kind)
    per_kind: dict[str, list[int]] = {}
    households: dict[str, set[int]] = {}
    unlinked = relief_total - sum(f for _, f in paid)
    for household, fen in paid:
        for kind in kinds.get(household, ["none"]):
            per_kind.setdefault(kind, [0])[0] += fen
            households.setdefault(kind, set()).add(household)
    rows: list[Row] = []
    for kind in sorted(per_kind):
        zh = KIND_ZH.get(KindCode(kind), kind) if kind in {k.value for k in KindCode} else "未认定类别"
        rows.append(Row((kind, zh, len(households[kind]), _yuan(per_kind[kind][0])), ctx.drill(RELIEF_ACCOUNTS)))
    rows.append(Row(("unlinked", "未关联家庭的支出（花名册及一次性帮扶）", None, _yuan(unlinked)),
                    ctx.drill(RELIEF_ACCOUNTS)))
    return Report("spending-by-household-kind", "支出按家庭类别", ("家庭类别", "名称", "户数", "金额"), rows,
                  ["关联家庭：分录元数据 household（走访慰问）、救助案件、待遇发放花名册行；按家庭当前类别归类，"
                   "兼有两类的家庭在两类下各计一次。其余支出列为未关联。"])


def monthly(session: Session, ctx: Context) -> Report:
    """逐月收支: income (own receipts) and spending per month; whole months in one read of the month totals,
    a partial first or last month from its postings."""
    income_accounts = [line.account for line in SOURCES.values()]
    spend_accounts = [*PROGRAMME_ACCOUNTS, ADMIN_ACCOUNT]
    months: list[tuple[dt.date, dt.date, dt.date]] = []
    month = ctx.start.replace(day=1)
    while month <= ctx.end:
        nxt = _month_after(month)
        months.append((month, max(month, ctx.start), min(nxt - dt.timedelta(days=1), ctx.end)))
        month = nxt
    whole = [m for m, a, b in months if a == m and b == _month_after(m) - dt.timedelta(days=1)]
    totals: dict[tuple[dt.date, str], int] = {}
    if whole and ctx.book_ids:
        for m, account, fen in session.execute(
                select(FundMonthTotal.month, FundMonthTotal.account, func.sum(FundMonthTotal.amount_fen))
                .where(FundMonthTotal.book_id.in_(ctx.book_ids), FundMonthTotal.month.in_(whole),
                       FundMonthTotal.account.in_(income_accounts + spend_accounts))
                .group_by(FundMonthTotal.month, FundMonthTotal.account)).tuples():
            totals[(m, account)] = int(fen or 0)
    rows: list[Row] = []
    for m, a, b in months:
        if m in whole:
            sums = {acc: f for (mm, acc), f in totals.items() if mm == m}
        else:
            sums = _by_account(account_sums(session, ctx.book_ids, a, b))
        inc = -sum(sums.get(x, 0) for x in income_accounts)
        out = sum(sums.get(x, 0) for x in spend_accounts)
        rows.append(Row((f"{m:%Y-%m}", _yuan(inc), _yuan(out)),
                        Drill(ctx.org.id, a, b, tuple(income_accounts + spend_accounts))))
    return Report("monthly", "逐月收支", ("月份", "收入", "支出"), rows, ["收入不含上级拨入，支出不含拨付下级。"])


def progress_snapshot(session: Session, ctx: Context) -> Report:
    """进度快照 (the 5th/10th report): year to date at ``end`` per level — receipts, spending, households,
    target progress, last entry and month closed."""
    year_start = ctx.end.replace(month=1, day=1)
    ytd = Context(ctx.org, ctx.books, year_start, ctx.end)
    sums = _period_sums(session, ytd)
    aided = aided_households(session, ytd)
    own_accounts = [line.account for line in SOURCES.values()]
    spend_accounts = [*PROGRAMME_ACCOUNTS, ADMIN_ACCOUNT]
    rows: list[Row] = []
    for book in ctx.books:
        own = -sum(f for (b, a), f in sums.items() if b == book.id and a in own_accounts)
        spent = sum(f for (b, a), f in sums.items() if b == book.id and a in spend_accounts)
        target = ANNUAL_TARGET_FEN.get(book.org_kind)
        fb = session.get(FundBook, book.id)
        closed = fb.closed_through.isoformat() if fb and fb.closed_through else ""
        last = session.scalar(select(FundEntry.date).where(FundEntry.book_id == book.id, FundEntry.date <= ctx.end)
                              .order_by(FundEntry.date.desc()).limit(1))
        rows.append(Row((book.org_name, _yuan(own), _pct(own, target) if target else "—", _yuan(spent),
                         len({a.key for a in aided if a.book_id == book.id}),
                         last.isoformat() if last else "", closed),
                        Drill(ctx.org.id, year_start, ctx.end, tuple(own_accounts + spend_accounts), (book.id,))))
    return Report("progress", f"进度快照（截至 {ctx.end.isoformat()}）",
                  ("组织", "本年投入", "投入目标完成", "本年支出", "受助家庭（户）", "最后记账", "已结账至"), rows,
                  ["每月 5 日、10 日报送；本年自 1 月 1 日起累计。"])


PAID_STATES = ("paid", "closed")  # a closed case was paid first (or, long-term, by the month)


def cases_by_state(session: Session, ctx: Context) -> Report:
    """救助案件按状态: relief cases of the subtree dated in the period, by category and state."""
    from assoc_ledger.relief.models import ReliefCase
    from assoc_ledger.relief.rules import STATE_ZH, State

    rows_in = session.execute(
        select(ReliefCase.category, ReliefCase.state, func.count(), func.sum(ReliefCase.amount_fen))
        .join(Organisation, Organisation.id == ReliefCase.org_id)
        .where(Organisation.path.startswith(ctx.org.path, autoescape=True), ReliefCase.case_date >= ctx.start,
               ReliefCase.case_date <= ctx.end)
        .group_by(ReliefCase.category, ReliefCase.state).order_by(ReliefCase.category, ReliefCase.state)).tuples()
    rows: list[Row] = []
    count_all = fen_all = 0
    for category, state, count, fen in rows_in:
        zh = CATEGORIES[Category(category)].zh if category in {c.value for c in Category} else category
        state_zh = STATE_ZH[State(state)] if state in {s.value for s in State} else state
        count_all += int(count)
        fen_all += int(fen or 0)
        account = CATEGORIES[Category(category)].account if category in {c.value for c in Category} else None
        rows.append(Row((zh, state_zh, int(count), _yuan(int(fen or 0))),
                        ctx.drill([account], category=category) if account and state in PAID_STATES else None))
    rows.append(Row(("合计", "", count_all, _yuan(fen_all)), total=True))
    return Report("cases-by-state", "救助案件按状态", ("类别", "状态", "件数", "金额"), rows,
                  ["按登记日期计；已发放案件可追溯至其分录。"])


def entitlement_runs(session: Session, ctx: Context) -> Report:
    """待遇发放批次与对账: each run of the period in the subtree, its lines against its vouchers and rolls."""
    from assoc_ledger.entitlements.models import EntitlementLine, EntitlementRun

    runs = session.execute(
        select(EntitlementRun, Organisation.name).join(Organisation, Organisation.id == EntitlementRun.org_id)
        .where(Organisation.path.startswith(ctx.org.path, autoescape=True),
               EntitlementRun.month >= ctx.start.replace(day=1),
               EntitlementRun.month <= ctx.end).order_by(EntitlementRun.month, EntitlementRun.id)).tuples().all()
    rows: list[Row] = []
    for run, org_name in runs:
        lines = session.execute(select(func.count(), func.sum(EntitlementLine.amount_fen))
                                .where(EntitlementLine.run_id == run.id)).one()
        entry_ids = select(EntitlementLine.entry_id).where(EntitlementLine.run_id == run.id).distinct()
        booked = session.scalar(select(func.sum(FundPosting.amount_fen)).where(
            FundPosting.entry_id.in_(entry_ids), FundPosting.account.in_(RELIEF_ACCOUNTS))) or 0
        rolled = session.scalar(select(func.sum(FundRoll.total_fen)).where(FundRoll.entry_id.in_(entry_ids))) or 0
        lines_fen = int(lines[1] or 0)
        agreed = lines_fen == int(booked) == int(rolled) == run.total_fen
        books = tuple(session.scalars(select(FundEntry.book_id).where(FundEntry.id.in_(entry_ids)).distinct()).all())
        rows.append(Row((f"{run.month:%Y-%m}", org_name, run.status, int(lines[0] or 0), _yuan(run.total_fen),
                         _yuan(lines_fen), _yuan(int(booked)), _yuan(int(rolled)), "一致" if agreed else "不一致"),
                        Drill(ctx.org.id, run.pay_date, run.pay_date, RELIEF_ACCOUNTS, books)))
    return Report("entitlement-runs", "待遇发放批次与对账",
                  ("月份", "组织", "状态", "明细行", "批次金额", "明细合计", "记账金额", "花名册合计", "对账"), rows,
                  ["对账：批次金额 = 明细行合计 = 记账凭证金额 = 花名册合计。"])


ReportFn = Callable[[Session, Context], Report]

REPORTS: dict[str, tuple[str, ReportFn]] = {
    "trial-balance": ("试算平衡表", trial_balance),
    "income-by-source": ("收入来源", income_by_source),
    "spending-by-category": ("支出按类别", spending_by_category),
    "spending-by-household-kind": ("支出按家庭类别", spending_by_household_kind),
    "restricted-funds": ("限定用途资金", restricted_funds),
    "fund-targets": ("公益金投入目标", fund_targets),
    "publicity": ("宣传经费占比", publicity_share),
    "households-aided": ("受助家庭与人均", households_aided),
    "monthly": ("逐月收支", monthly),
    "progress": ("进度快照", progress_snapshot),
    "cases-by-state": ("救助案件按状态", cases_by_state),
    "entitlement-runs": ("待遇发放批次与对账", entitlement_runs),
}
"""Every report by name; another area may add one with :func:`add_report`."""


def add_report(name: str, title: str, fn: ReportFn) -> None:
    REPORTS[name] = (title, fn)


def run_report(session: Session, scope: Scope, name: str, org_id: int, start: dt.date, end: dt.date) -> Report:
    if name not in REPORTS:
        raise Invalid(f"没有名为 {name} 的报表；可用：{'、'.join(REPORTS)}", field="name")
    return REPORTS[name][1](session, context(session, scope, org_id, start, end))


# --- drill-down ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PostingLine:
    book_id: int
    book: str
    seq: int
    date: dt.date
    voucher: str | None
    narration: str
    account: str
    amount: Decimal
    reverses_seq: int | None
    posting_id: int = 0  # the ``after`` of the next page


MAX_DRILL = 5000


def _drilled(session: Session, scope: Scope, drill: Drill) -> tuple[Context, list[ColumnElement[bool]]] | None:
    """What a drill-down selects, for its rows and its total alike: postings of its books, dates, accounts
    and category (the category is the entry's: ``FundEntry`` must be joined)."""
    ctx = context(session, scope, drill.org_id, drill.start, drill.end)
    books = [b for b in ctx.book_ids if not drill.book_ids or b in drill.book_ids]
    if not books:
        return None
    where: list[ColumnElement[bool]] = [FundPosting.book_id.in_(books), FundPosting.date >= drill.start,
                                        FundPosting.date <= drill.end]
    if drill.accounts:
        where.append(or_(*[or_(FundPosting.account == a, FundPosting.account.startswith(a + ":", autoescape=True))
                           for a in drill.accounts]))
    if drill.category:
        where.append(FundEntry.category == drill.category)
    return ctx, where


def postings(session: Session, scope: Scope, drill: Drill, *, limit: int = 500, after: int = 0) -> list[PostingLine]:
    """The postings behind a figure, in (date, seq) order; page by posting id with ``after``."""
    drilled = _drilled(session, scope, drill)
    if drilled is None:
        return []
    ctx, where = drilled
    names = {b.id: b.org_name for b in ctx.books}
    rev = FundEntry.__table__.alias("reversed_entry")
    stmt = (select(FundPosting.id, FundPosting.book_id, FundEntry.seq, FundEntry.date, FundEntry.voucher,
                   FundEntry.narration, FundPosting.account, FundPosting.amount_fen, rev.c.seq)
            .join(FundEntry, FundEntry.id == FundPosting.entry_id)
            .outerjoin(rev, rev.c.id == FundEntry.reverses_id)
            .where(*where, FundPosting.id > after)
            .order_by(FundPosting.id).limit(min(limit, MAX_DRILL)))
    return [PostingLine(b, names[b], seq, day, voucher, narration, account, from_fen(fen), rseq, pid)
            for pid, b, seq, day, voucher, narration, account, fen, rseq in session.execute(stmt).tuples()]


def postings_total(session: Session, scope: Scope, drill: Drill) -> Decimal:
    """The sum of every posting of a drill-down (the figure it explains, with the income sign)."""
    drilled = _drilled(session, scope, drill)
    if drilled is None:
        return Decimal("0.00")
    fen = session.scalar(select(func.sum(FundPosting.amount_fen))
                         .join(FundEntry, FundEntry.id == FundPosting.entry_id).where(*drilled[1]))
    return from_fen(int(fen or 0))


@dataclass(frozen=True)
class RollLineOut:
    book: str
    roll: str
    line_no: int
    payee: str
    resident_id: str  # masked as stored
    period: str
    amount: Decimal


def roll_lines(session: Session, scope: Scope, drill: Drill, *, limit: int = 500, offset: int = 0) -> list[RollLineOut]:
    """The roll lines (发放花名册) behind a households figure; IDs are masked as the rolls store them.
    ``offset`` pages on (the web page's 下一页)."""
    ctx = context(session, scope, drill.org_id, drill.start, drill.end)
    books = [b for b in ctx.book_ids if not drill.book_ids or b in drill.book_ids]
    if not books:
        return []
    names = {b.id: b.org_name for b in ctx.books}
    stmt = (select(FundRoll.book_id, FundRoll.name, FundRollLine.line_no, FundRollLine.payee, FundRollLine.resident_id,
                   FundRollLine.period, FundRollLine.amount_fen)
            .join(FundRoll, FundRoll.id == FundRollLine.roll_id).join(FundEntry, FundEntry.id == FundRoll.entry_id)
            .where(FundRoll.book_id.in_(books), FundEntry.date >= drill.start, FundEntry.date <= drill.end)
            .order_by(FundRoll.id, FundRollLine.line_no).limit(min(limit, MAX_DRILL)).offset(offset))
    if drill.category:
        stmt = stmt.where(FundEntry.category == drill.category)
    return [RollLineOut(names[b], n, ln, p, rid, per, from_fen(fen))
            for b, n, ln, p, rid, per, fen in session.execute(stmt).tuples()]
