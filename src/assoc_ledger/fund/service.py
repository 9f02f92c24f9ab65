"""The one write path of the fund books, and the reads over their index.

Every write (income, payment, transfer, generic entry, reversal, month close) goes through
:func:`_commit_entries`: flock the book(s) → serialise on the book row in the database → repair the
files if a crash left them behind → idempotency check → validate every rule against the index,
collecting all problems → insert entries + postings with the next sequence number and the chained
hash → COMMIT (the one commit point) → append the deterministic text and fsync → unlock.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session

from assoc_ledger.auth import audit
from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.errors import Conflict, DomainError, Invalid, NotFound, Problems, Unprocessable
from assoc_ledger.core.money import MoneyError, from_fen, parse_amount, to_fen
from assoc_ledger.fund import files, render, rules
from assoc_ledger.fund.chart import (
    ALLOCATION_IN,
    ALLOCATION_OUT,
    CATEGORIES,
    DEFAULT_EARMARKS,
    FUND_ZH,
    RESTRICTED_PURPOSES,
    SOURCES,
    Category,
    Fund,
    Source,
    Via,
    asset_account,
    chart_of_accounts,
    is_cash_like,
)
from assoc_ledger.fund.models import GENESIS, FundAccount, FundBook, FundEarmark, FundEntry, FundPosting, FundYearFile
from assoc_ledger.orgs.models import Organisation, OrgKind

log = logging.getLogger("assoc_ledger.fund")

BOOK_KINDS = frozenset({OrgKind.county.value, OrgKind.township.value, OrgKind.town.value, OrgKind.street.value})
DEFAULT_OPENED_ON = dt.date(2020, 1, 1)
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,119}$")
_META_KEY_RE = re.compile(r"^[a-z][a-z0-9\-]{0,30}$")
_RESERVED_META = frozenset({"key", "seq", "voucher", "hash", "prev-hash", "category", "fund", "source",
                            "reverses", "reason", "kind", "filename", "lineno"})


# --- books ------------------------------------------------------------------------------------


def book_org(session: Session, org: Organisation) -> Organisation:
    """Villages and communities use their township's book; find the nearest level that keeps one."""
    current: Organisation | None = org
    while current is not None and current.kind not in BOOK_KINDS:
        current = session.get(Organisation, current.parent_id) if current.parent_id else None
    if current is None:
        raise Invalid("该组织及其上级都不设公益金账簿", field="org_id")
    return current


def open_book(session: Session, ledger_dir: Path, org_id: int, scope: Scope,
              opened_on: dt.date = DEFAULT_OPENED_ON) -> FundBook:
    """Open (or return) the fund book of an organisation, with its chart of accounts and earmark rules."""
    org = session.get(Organisation, org_id)
    if org is None or not scope.contains(org.path):
        raise NotFound("组织不存在", field="org_id")
    org = book_org(session, org)
    existing = session.scalar(select(FundBook).where(FundBook.org_id == org.id))
    if existing is not None:
        return existing
    book = FundBook(org_id=org.id, slug=f"{org.kind}-{org.id}", title=org.name, opened_on=opened_on,
                    next_seq=1, last_hash=GENESIS)
    root = files.book_paths(ledger_dir, book).root
    if root.is_dir() and any(root.glob("*.beancount")):
        # Files this database never wrote (another database's books, or a restore gone wrong): never mix them.
        raise Conflict(f"账簿目录 {root} 中已有不属于本数据库的账簿文件；请先移走或恢复对应的数据库，未写入任何数据",
                       field="org_id")
    session.add(book)
    session.flush()
    for spec in chart_of_accounts():
        session.add(FundAccount(book_id=book.id, name=spec.name, zh=spec.zh, kind=spec.kind, fund=spec.fund,
                                category=spec.category, balance_fen=0))
    for income_account, fund, ratio in DEFAULT_EARMARKS:
        session.add(FundEarmark(book_id=book.id, income_account=income_account, fund=fund.value,
                                basis_points=int(ratio * 10000), effective_from=opened_on))
    session.commit()
    with files.locked([files.book_paths(ledger_dir, book)]):
        files.sync_book(session, ledger_dir, book)
    return book


def get_book(session: Session, book_id: int, scope: Scope) -> FundBook:
    book = session.get(FundBook, book_id)
    if book is None:
        raise NotFound("账簿不存在", field="book_id")
    org = session.get(Organisation, book.org_id)
    if org is None or not scope.contains(org.path):
        raise NotFound("账簿不存在", field="book_id")
    return book


def list_books(session: Session, scope: Scope) -> list[tuple[FundBook, Organisation]]:
    rows = session.execute(select(FundBook, Organisation).join(Organisation, Organisation.id == FundBook.org_id)
                           .where(scope.clause(Organisation.path)).order_by(Organisation.path)).all()
    return [(b, o) for b, o in rows]


def book_accounts(session: Session, book_id: int) -> list[FundAccount]:
    return list(session.scalars(select(FundAccount).where(FundAccount.book_id == book_id)
                                .order_by(FundAccount.id)).all())


# --- drafts and validation --------------------------------------------------------------------


@dataclass
class Draft:
    """An entry about to be written to one book."""

    book: FundBook
    kind: str
    date: dt.date
    narration: str
    payee: str | None
    voucher: str | None
    category: str | None
    meta: list[tuple[str, str]]
    postings: list[tuple[str, Decimal]] = field(default_factory=list)
    balances: list[tuple[str, Decimal]] = field(default_factory=list)
    links: set[str] = field(default_factory=set)
    reverses: FundEntry | None = None
    link_to: list[Draft] = field(default_factory=list)


@dataclass(frozen=True)
class Posted:
    book_id: int
    seq: int
    entry_id: int
    hash: str
    replayed: bool = False


class _Errors(Problems):
    def raise_if_any(self, kind: type[DomainError] = Invalid) -> None:
        super().raise_if_any(kind)


def _amount(errors: _Errors, value: object, field_name: str = "amount", *, positive: bool = True) -> Decimal:
    try:
        amount = parse_amount(value, positive=positive)
    except MoneyError as exc:
        errors.add(field_name, str(exc))
        return Decimal(0)
    if not positive and amount == 0:
        errors.add(field_name, "金额不能为零")
    if abs(amount) >= Decimal("10000000000"):
        errors.add(field_name, "金额过大")
    return amount


def _date(errors: _Errors, value: object, field_name: str = "date") -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        errors.add(field_name, "日期格式无效，应为 YYYY-MM-DD")
        return dt.date.min


def _text(errors: _Errors, value: str | None, field_name: str, label: str, *, required: bool,
          max_len: int = 200) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            errors.add(field_name, f"{label}不能为空")
        return None
    if len(text) > max_len:
        errors.add(field_name, f"{label}过长（最多{max_len}字）")
    if any(ch in text for ch in "\n\r\t\x00"):
        errors.add(field_name, f"{label}不能包含换行或控制字符")
    return text


def _check_key(errors: _Errors, key: str | None) -> str:
    if not key or not _KEY_RE.match(key):
        errors.add("idempotency_key", "幂等键必填：1-120 个字母、数字或 . _ : -（可用 Idempotency-Key 请求头）")
        return ""
    return key


def _extra_meta(errors: _Errors, extra: dict[str, str] | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for k, v in sorted((extra or {}).items()):
        if not _META_KEY_RE.match(k) or k in _RESERVED_META:
            errors.add(f"meta.{k}", "元数据键只能是小写字母开头的字母、数字和连字符，且不能使用保留键")
            continue
        text = _text(errors, v, f"meta.{k}", "元数据值", required=True, max_len=200)
        if text:
            out.append((k, text))
    return out


def _request_hash(kind: str, fields: dict[str, Any]) -> str:
    payload = json.dumps({"kind": kind, **fields}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _validate(session: Session, draft: Draft, errors: _Errors, prefix: str = "") -> None:
    """Every rule the books must keep, checked against the index under the book lock."""
    book = draft.book
    if book.closed_through is not None and draft.date <= book.closed_through:
        errors.add(prefix + "date", f"{draft.date} 所在月份已结账（已结账至 {book.closed_through}），不能再记账")
    if draft.date < book.opened_on:
        errors.add(prefix + "date", f"日期早于账簿启用日 {book.opened_on}")
    if draft.kind != "txn":
        return
    names = {a for a, _ in draft.postings}
    known = {a.name: a for a in session.scalars(select(FundAccount).where(
        FundAccount.book_id == book.id, FundAccount.name.in_(names))).all()}
    for name in sorted(names - set(known)):
        errors.add(prefix + "account", f"科目不存在或未开立：{name}")
    for field_name, message in rules.check_balanced(draft.postings):
        errors.add(prefix + field_name, message)
    earmarks = rules.active_earmarks(files.earmark_rules(session, book.id), draft.date)  # type: ignore[arg-type]
    for field_name, message in rules.check_earmarks(draft.postings, earmarks):
        errors.add(prefix + field_name, message)
    purposes = {f.value: accounts for f, accounts in RESTRICTED_PURPOSES.items()}
    for field_name, message in rules.check_restricted(draft.postings, purposes):
        errors.add(prefix + field_name, message)
    if names - set(known):
        return
    deltas: dict[str, Decimal] = {}
    for account, number in draft.postings:
        deltas[account] = deltas.get(account, Decimal(0)) + number
    for account, delta in sorted(deltas.items()):
        if delta >= 0 or not account.startswith("Assets:"):
            continue
        lowest = _lowest_balance_from(session, known[account], draft.date)
        if lowest + delta < 0:
            zh = known[account].zh
            errors.add(prefix + "amount", f"余额不足：{zh}（{account}）在 {draft.date} 及以后最低余额 {lowest} 元，"
                                          f"不能支出 {-delta} 元")


def _lowest_balance_from(session: Session, account: FundAccount, on: dt.date) -> Decimal:
    """The lowest running balance of an account from the end of ``on`` onwards (Beancount's order)."""
    current = account.balance_fen
    if account.last_date is None or on >= account.last_date:
        return from_fen(current)
    later = session.execute(select(FundPosting.amount_fen).where(
        FundPosting.book_id == account.book_id, FundPosting.account == account.name, FundPosting.date > on)
        .order_by(FundPosting.date, FundPosting.seq)).scalars().all()
    running = current - sum(later)
    lowest = running
    for amount in later:
        running += amount
        lowest = min(lowest, running)
    return from_fen(lowest)


# --- the commit point -------------------------------------------------------------------------


WriteFn = Callable[[Session, dict[int, FundBook], _Errors], list[Draft]]


def _lock_rows(session: Session, book_ids: Sequence[int]) -> dict[int, FundBook]:
    # The first statement writes, so SQLite takes its write lock here (not on a later upgrade)
    # and PostgreSQL holds the book row until commit: one writer per book at a time.
    for book_id in sorted(book_ids):
        session.execute(update(FundBook).where(FundBook.id == book_id).values(next_seq=FundBook.next_seq))
    session.expire_all()
    books = {b.id: b for b in session.scalars(select(FundBook).where(FundBook.id.in_(book_ids))).all()}
    return books


@contextmanager
def _writing(session: Session, ledger_dir: Path, book_ids: Sequence[int]) -> Iterator[dict[int, FundBook]]:
    """Every write to books: flock their files, take their rows, bring the files up to the database.

    Yields the locked books; the block commits (the one commit point), then writes the files while it
    still holds the lock. An error before the commit rolls everything back.
    """
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("fund writes commit their own transaction; pass a session without pending changes")
    session.rollback()
    book_rows = {b.id: b for b in session.scalars(select(FundBook).where(FundBook.id.in_(book_ids))).all()}
    paths = [files.book_paths(ledger_dir, b) for b in book_rows.values()]
    session.rollback()
    with files.locked(paths):
        try:
            books = _lock_rows(session, book_ids)
            for book in books.values():
                files.sync_book(session, ledger_dir, book)
            yield books
        except BaseException:
            session.rollback()
            raise
        session.rollback()


def _commit_entries(session: Session, ledger_dir: Path, book_ids: Sequence[int], key: str, request_hash: str,
                    build: WriteFn, *, action: str,
                    within: Callable[[Session, list[FundEntry]], None] | None = None) -> list[Posted]:
    with _writing(session, ledger_dir, book_ids) as books:
        done = session.scalars(select(FundEntry).where(FundEntry.book_id.in_(book_ids),
                                                       FundEntry.idem_key == key)
                               .order_by(FundEntry.id)).first()
        if done is not None:
            if done.request_hash != request_hash:
                raise Conflict("该幂等键已用于另一笔不同的请求，未写入任何数据", field="idempotency_key")
            replay = session.scalars(select(FundEntry).where(FundEntry.idem_key == key,
                                                             FundEntry.request_hash == request_hash)
                                     .order_by(FundEntry.id)).all()
            session.rollback()
            return [Posted(e.book_id, e.seq, e.id, e.hash, replayed=True) for e in replay]
        errors = _Errors()
        drafts = build(session, books, errors)
        errors.raise_if_any()
        for i, draft in enumerate(drafts):
            _validate(session, draft, errors, prefix="" if len(drafts) == 1 else ("" if i == 0 else "to."))
        errors.raise_if_any()
        entries, texts = _insert(session, drafts, key, request_hash)
        if within is not None:
            within(session, entries)
        for entry in entries:
            audit.note(session, action, "fund_entry", f"{entry.book_id}:{entry.seq}",
                       _org_path(session, books[entry.book_id]),
                       after={"seq": entry.seq, "date": entry.date.isoformat(), "key": key,
                              "hash": entry.hash, "narration": entry.narration})
        session.commit()  # ← the commit point
        for book_id, year, text, new_year in texts:
            try:
                book = books[book_id]
                bp = files.book_paths(ledger_dir, book)
                path = bp.year(year)
                if new_year:
                    files.append_durably(path, render.year_header(book.slug, year).encode())
                files.append_durably(path, text.encode())
                if new_year:
                    files.atomic_write(bp.main, files.main_text(session, book))
            except OSError:  # committed: the next write or `ledger recover` completes the file
                log.exception("append to ledger file failed after commit; recovery will complete it")
    return [Posted(e.book_id, e.seq, e.id, e.hash) for e in entries]


def _org_path(session: Session, book: FundBook) -> str | None:
    return session.scalar(select(Organisation.path).where(Organisation.id == book.org_id))


def _insert(session: Session, drafts: list[Draft], key: str,
            request_hash: str) -> tuple[list[FundEntry], list[tuple[int, int, str, bool]]]:
    entries: list[FundEntry] = []
    texts: list[tuple[int, int, str, bool]] = []
    seqs: dict[int, int] = {}
    for draft in drafts:
        seqs[id(draft)] = draft.book.next_seq
        draft.book.next_seq += 1
        draft.links.add(f"{draft.book.slug}-{seqs[id(draft)]}")
    for draft in drafts:  # sides of a transfer carry each other's link
        for other in draft.link_to:
            draft.links.add(f"{other.book.slug}-{seqs[id(other)]}")
    for draft in drafts:
        book = draft.book
        seq = seqs[id(draft)]
        meta = [("key", key), ("seq", str(seq))]
        if draft.voucher:
            meta.append(("voucher", draft.voucher))
        meta.extend(draft.meta)
        value = render.EntryValue(seq=seq, kind=draft.kind, date=draft.date, narration=draft.narration,
                                  payee=draft.payee, links=tuple(sorted(draft.links)), meta=tuple(meta),
                                  postings=tuple(draft.postings), balances=tuple(draft.balances),
                                  prev_hash=book.last_hash)
        digest = render.entry_hash(value)
        value = render.EntryValue(**{**value.__dict__, "hash": digest})
        text = render.render(value)
        year = draft.date.year
        yf = session.scalar(select(FundYearFile).where(FundYearFile.book_id == book.id, FundYearFile.year == year))
        new_year = yf is None
        if yf is None:
            yf = FundYearFile(book_id=book.id, year=year, size=len(render.year_header(book.slug, year).encode()))
            session.add(yf)
        yf.size += len(text.encode())
        entry = FundEntry(book_id=book.id, seq=seq, kind=draft.kind, date=draft.date, year=year,
                          payee=draft.payee, narration=draft.narration, voucher=draft.voucher,
                          category=draft.category, idem_key=key, request_hash=request_hash,
                          links=sorted(draft.links), meta=[list(p) for p in meta],
                          balances=[[a, str(to_fen(n))] for a, n in draft.balances] or None,
                          reverses_id=draft.reverses.id if draft.reverses else None,
                          prev_hash=book.last_hash, hash=digest, end_offset=yf.size)
        session.add(entry)
        session.flush()
        for account, number in draft.postings:
            session.add(FundPosting(entry_id=entry.id, book_id=book.id, seq=seq, date=draft.date, account=account,
                                    amount_fen=to_fen(number)))
        _bump_balances(session, book.id, draft)
        if draft.kind == "close":
            book.closed_through = draft.date - dt.timedelta(days=1)
        book.last_hash = digest
        entries.append(entry)
        texts.append((book.id, year, text, new_year))
    session.flush()
    return entries, texts


def _bump_balances(session: Session, book_id: int, draft: Draft) -> None:
    deltas: dict[str, int] = {}
    for account, number in draft.postings:
        deltas[account] = deltas.get(account, 0) + to_fen(number)
    later = case((FundAccount.last_date.is_(None), draft.date), (FundAccount.last_date < draft.date, draft.date),
                 else_=FundAccount.last_date)
    for account, fen in sorted(deltas.items()):
        session.execute(update(FundAccount).where(FundAccount.book_id == book_id, FundAccount.name == account)
                        .values(balance_fen=FundAccount.balance_fen + fen, last_date=later))


# --- the writes -------------------------------------------------------------------------------


def _book_or_404(session: Session, book_id: int, scope: Scope) -> FundBook:
    return get_book(session, book_id, scope)


def _enum(errors: _Errors, cls: type[Any], value: Any, field_name: str, label: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        allowed = "、".join(str(m.value) for m in cls)
        errors.add(field_name, f"{label}无效：{value}（可选：{allowed}）")
        return None


def post_income(session: Session, ledger_dir: Path, scope: Scope, book_id: int, *, key: str | None,
                date: object, amount: object, source: str, payer: str | None, voucher: str | None,
                narration: str | None = None, via: str = "Bank", meta: dict[str, str] | None = None) -> Posted:
    """收入：a receipt; earmarked sources are split into their restricted fund automatically."""
    _book_or_404(session, book_id, scope)
    errors = _Errors()
    k = _check_key(errors, key)
    when = _date(errors, date)
    value = _amount(errors, amount)
    src = _enum(errors, Source, source, "source", "收入来源")
    via_ = _enum(errors, Via, via, "via", "收付方式")
    payer_ = _text(errors, payer, "payer", "交款人", required=True)
    voucher_ = _text(errors, voucher, "voucher", "凭证号", required=True, max_len=60)
    note = _text(errors, narration, "narration", "摘要", required=False, max_len=300)
    extra = _extra_meta(errors, meta)
    errors.raise_if_any()
    rh = _request_hash("income", {"book": book_id, "date": when, "amount": value, "source": src, "via": via_,
                                  "payer": payer_, "voucher": voucher_, "narration": note, "meta": extra})

    def build(s: Session, books: dict[int, FundBook], _e: _Errors) -> list[Draft]:
        book = books[book_id]
        income_account = SOURCES[src].account
        shares = rules.active_earmarks(files.earmark_rules(s, book.id), when)  # type: ignore[arg-type]
        postings: list[tuple[str, Decimal]] = []
        restricted = Decimal(0)
        for (acct, fund), bp in sorted(shares.items()):
            if acct == income_account and bp:
                share = rules.earmark_share(value, bp)
                if share:
                    postings.append((asset_account(via_, Fund(fund)), share))
                    restricted += share
        if value - restricted:
            postings.insert(0, (asset_account(via_, Fund.general), value - restricted))
        postings.append((income_account, -value))
        return [Draft(book, "txn", when, note or f"{SOURCES[src].zh}收入", payer_, voucher_, src.value,
                      [("source", src.value), *extra], postings)]

    return _commit_entries(session, ledger_dir, [book_id], k, rh, build, action="fund.income")[0]


def post_payment(session: Session, ledger_dir: Path, scope: Scope, book_id: int, *, key: str | None,
                 date: object, amount: object, category: str, payee: str | None, voucher: str | None,
                 fund: str = "General", narration: str | None = None, via: str = "Bank",
                 meta: dict[str, str] | None = None,
                 within: Callable[[Session, list[FundEntry]], None] | None = None) -> Posted:
    """支出：a payment for a relief category (or publicity, administration) from one fund."""
    _book_or_404(session, book_id, scope)
    errors = _Errors()
    k = _check_key(errors, key)
    when = _date(errors, date)
    value = _amount(errors, amount)
    cat = _enum(errors, Category, category, "category", "支出类别")
    fund_ = _enum(errors, Fund, fund, "fund", "资金")
    via_ = _enum(errors, Via, via, "via", "收付方式")
    payee_ = _text(errors, payee, "payee", "收款人", required=True)
    voucher_ = _text(errors, voucher, "voucher", "凭证号", required=True, max_len=60)
    note = _text(errors, narration, "narration", "摘要", required=False, max_len=300)
    extra = _extra_meta(errors, meta)
    if (cat is not None and fund_ is not None and fund_ is not Fund.general
            and CATEGORIES[cat].account not in RESTRICTED_PURPOSES[fund_]):
        errors.add("fund", f"{FUND_ZH[fund_]}只能用于规定用途，不能支付“{CATEGORIES[cat].zh}”")
    errors.raise_if_any()
    rh = _request_hash("payment", {"book": book_id, "date": when, "amount": value, "category": cat, "via": via_,
                                   "fund": fund_, "payee": payee_, "voucher": voucher_, "narration": note,
                                   "meta": extra})

    def build(_s: Session, books: dict[int, FundBook], _e: _Errors) -> list[Draft]:
        line = CATEGORIES[cat]
        postings = [(line.account, value), (asset_account(via_, fund_), -value)]
        return [Draft(books[book_id], "txn", when, note or line.zh, payee_, voucher_, cat.value,
                      [("category", cat.value), ("fund", fund_.value), *extra], postings)]

    return _commit_entries(session, ledger_dir, [book_id], k, rh, build, action="fund.payment", within=within)[0]


def post_transfer(session: Session, ledger_dir: Path, scope: Scope, from_book_id: int, to_book_id: int, *,
                  key: str | None, date: object, amount: object, voucher: str | None, fund: str = "General",
                  narration: str | None = None, via: str = "Bank") -> list[Posted]:
    """拨付下级：one balanced, linked entry in each book, committed together."""
    src_book = _book_or_404(session, from_book_id, scope)
    errors = _Errors()
    try:
        dst_book = _book_or_404(session, to_book_id, scope)
    except NotFound:
        errors.add("to_book_id", "收款账簿不存在")
        dst_book = None
    if dst_book is not None and dst_book.id == src_book.id:
        errors.add("to_book_id", "不能向本账簿划拨")
    k = _check_key(errors, key)
    when = _date(errors, date)
    value = _amount(errors, amount)
    fund_ = _enum(errors, Fund, fund, "fund", "资金")
    via_ = _enum(errors, Via, via, "via", "收付方式")
    voucher_ = _text(errors, voucher, "voucher", "凭证号", required=True, max_len=60)
    note = _text(errors, narration, "narration", "摘要", required=False, max_len=300)
    errors.raise_if_any()
    assert dst_book is not None
    rh = _request_hash("transfer", {"from": from_book_id, "to": to_book_id, "date": when, "amount": value,
                                    "fund": fund_, "via": via_, "voucher": voucher_, "narration": note})
    dst_title, src_title = dst_book.title, src_book.title

    def build(_s: Session, books: dict[int, FundBook], _e: _Errors) -> list[Draft]:
        out = Draft(books[from_book_id], "txn", when, note or f"拨付{dst_title}公益金", dst_title, voucher_,
                    "allocation", [("fund", fund_.value)],
                    [(ALLOCATION_OUT, value), (asset_account(via_, fund_), -value)])
        into = Draft(books[to_book_id], "txn", when, note or f"收到{src_title}拨入公益金", src_title, voucher_,
                     "allocation", [("fund", fund_.value)],
                     [(asset_account(Via.bank, fund_), value), (ALLOCATION_IN, -value)])
        out.link_to.append(into)
        into.link_to.append(out)
        return [out, into]

    return _commit_entries(session, ledger_dir, [from_book_id, to_book_id], k, rh, build, action="fund.transfer")


def post_entry(session: Session, ledger_dir: Path, scope: Scope, book_id: int, *, key: str | None, date: object,
               narration: str | None, voucher: str | None, postings: Sequence[dict[str, Any]],
               payee: str | None = None, meta: dict[str, str] | None = None) -> Posted:
    """通用分录：explicit postings (e.g. bank ↔ cash, interest); the same rules as every other write."""
    _book_or_404(session, book_id, scope)
    errors = _Errors()
    k = _check_key(errors, key)
    when = _date(errors, date)
    note = _text(errors, narration, "narration", "摘要", required=True, max_len=300)
    payee_ = _text(errors, payee, "payee", "往来单位", required=False)
    voucher_ = _text(errors, voucher, "voucher", "凭证号", required=True, max_len=60)
    extra = _extra_meta(errors, meta)
    legs: list[tuple[str, Decimal]] = []
    if len(postings) < 2:
        errors.add("postings", "分录至少需要两行")
    for i, p in enumerate(postings):
        account = str(p.get("account", "")).strip()
        if not account:
            errors.add(f"postings.{i}.account", "科目不能为空")
        legs.append((account, _amount(errors, p.get("amount"), f"postings.{i}.amount", positive=False)))
    errors.raise_if_any()
    rh = _request_hash("entry", {"book": book_id, "date": when, "narration": note, "payee": payee_,
                                 "voucher": voucher_, "postings": legs, "meta": extra})

    def build(_s: Session, books: dict[int, FundBook], _e: _Errors) -> list[Draft]:
        return [Draft(books[book_id], "txn", when, note or "", payee_, voucher_, None, extra, list(legs))]

    return _commit_entries(session, ledger_dir, [book_id], k, rh, build, action="fund.entry")[0]


def reverse(session: Session, ledger_dir: Path, scope: Scope, book_id: int, seq: int, *, key: str | None,
            date: object, reason: str | None, voucher: str | None) -> list[Posted]:
    """冲销：a reversing entry linked to the original; a transfer is reversed on both sides together."""
    book = _book_or_404(session, book_id, scope)
    errors = _Errors()
    k = _check_key(errors, key)
    when = _date(errors, date)
    reason_ = _text(errors, reason, "reason", "冲销原因", required=True, max_len=300)
    voucher_ = _text(errors, voucher, "voucher", "凭证号", required=True, max_len=60)
    original = session.scalar(select(FundEntry).where(FundEntry.book_id == book.id, FundEntry.seq == seq))
    if original is None:
        raise NotFound(f"分录 {seq} 不存在", field="seq")
    errors.raise_if_any()
    originals = [original]
    if original.category == "allocation":
        partner = session.scalars(select(FundEntry).where(
            FundEntry.idem_key == original.idem_key, FundEntry.request_hash == original.request_hash,
            FundEntry.id != original.id)).first()
        if partner is not None:
            originals.append(partner)
    book_ids = [e.book_id for e in originals]
    ids = [e.id for e in originals]
    rh = _request_hash("reverse", {"book": book_id, "seq": seq, "date": when, "reason": reason_,
                                   "voucher": voucher_})

    def build(s: Session, books: dict[int, FundBook], e: _Errors) -> list[Draft]:
        drafts: list[Draft] = []
        for entry_id in ids:
            orig = s.get(FundEntry, entry_id)
            assert orig is not None
            if orig.kind != "txn":
                e.add("seq", "结账记录不能冲销")
                continue
            if orig.reverses_id is not None:
                e.add("seq", "冲销分录不能再冲销")
                continue
            if s.scalar(select(FundEntry.id).where(FundEntry.reverses_id == orig.id)) is not None:
                e.add("seq", f"分录 {orig.seq} 已被冲销")
                continue
            if when < orig.date:
                e.add("date", "冲销日期不能早于原分录日期")
                continue
            legs = s.execute(select(FundPosting.account, FundPosting.amount_fen).where(
                FundPosting.entry_id == orig.id).order_by(FundPosting.id)).all()
            own = books[orig.book_id]
            drafts.append(Draft(own, "txn", when, f"冲销：{orig.narration}", orig.payee, voucher_, orig.category,
                                [("reverses", f"{own.slug}-{orig.seq}"), ("reason", reason_ or "")],
                                [(a, -from_fen(f)) for a, f in legs], links=set(orig.links), reverses=orig))
        if len(drafts) == 2:
            drafts[0].link_to.append(drafts[1])
            drafts[1].link_to.append(drafts[0])
        return drafts

    return _commit_entries(session, ledger_dir, book_ids, k, rh, build, action="fund.reverse")


def close_month(session: Session, ledger_dir: Path, scope: Scope, book_id: int, month: str,
                key: str | None = None, today: dt.date | None = None) -> Posted:
    """月结：balance assertions for bank and cash accounts; nothing dated in the month may be posted after."""
    _book_or_404(session, book_id, scope)
    errors = _Errors()
    match = re.fullmatch(r"(\d{4})-(\d{2})", month or "")
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise Invalid("月份格式无效，应为 YYYY-MM", field="month")
    year, mon = int(match.group(1)), int(match.group(2))
    last_day = dt.date(year, mon, calendar.monthrange(year, mon)[1])
    first_next = last_day + dt.timedelta(days=1)
    if last_day >= (today or dt.date.today()):
        raise Invalid(f"{month} 尚未结束，不能结账", field="month")
    k = _check_key(errors, key or f"close-{month}")
    errors.raise_if_any()
    rh = _request_hash("close", {"book": book_id, "month": month})

    def build(s: Session, books: dict[int, FundBook], e: _Errors) -> list[Draft]:
        book = books[book_id]
        if book.closed_through is not None and last_day <= book.closed_through:
            raise Conflict(f"{month} 已结账（已结账至 {book.closed_through}）", field="month")
        balances = []
        for acc in s.scalars(select(FundAccount).where(FundAccount.book_id == book.id,
                                                       FundAccount.kind == "asset").order_by(FundAccount.id)):
            if is_cash_like(acc.name):
                balances.append((acc.name, balance_of(s, book.id, acc.name, last_day)))
        return [Draft(book, "close", first_next, month, None, None, None, [], balances=balances)]

    return _commit_entries(session, ledger_dir, [book_id], k, rh, build, action="fund.close")[0]


def _percent(errors: _Errors, value: object) -> int:
    """A share given as a percent string ("10", "12.5", "12.50"): whole basis points, 0 to 100 %."""
    if isinstance(value, bool | float) or not isinstance(value, str | int):
        errors.add("percent", "比例须为字符串形式的百分数，例如 \"10\" 或 \"12.5\"")
        return 0
    try:
        pct = Decimal(str(value).strip().rstrip("%"))
    except ArithmeticError:
        errors.add("percent", f"比例格式无效：{value}")
        return 0
    exponent = pct.as_tuple().exponent
    if not pct.is_finite() or (isinstance(exponent, int) and exponent < -2):
        errors.add("percent", "比例最多两位小数")
        return 0
    if not Decimal(0) <= pct <= Decimal(100):
        errors.add("percent", "比例须在 0 到 100 之间")
        return 0
    return int(pct * 100)


def earmarks(session: Session, book_id: int) -> list[FundEarmark]:
    return list(session.scalars(select(FundEarmark).where(FundEarmark.book_id == book_id)
                                .order_by(FundEarmark.effective_from, FundEarmark.id)).all())


def set_earmark(session: Session, ledger_dir: Path, scope: Scope, book_id: int, *, source: str, fund: str,
                percent: object, effective_from: object) -> tuple[FundEarmark, bool]:
    """限定用途提取规则：from a date on, ``percent`` of every receipt from ``source`` goes to a restricted fund.

    A rule may only start after the book's last entry, so no posted entry is ever read under a rule it was
    not written under (the plugin re-checks every receipt against the rule in force on its date). The same
    rule twice is one rule (returns ``created=False``); ``percent`` 0 ends an earmark. Returns (rule, created).
    """
    _book_or_404(session, book_id, scope)
    errors = _Errors()
    src = _enum(errors, Source, source, "source", "收入来源")
    fund_ = _enum(errors, Fund, fund, "fund", "限定基金")
    if fund_ is Fund.general:
        errors.add("fund", "非限定资金不需要提取规则：请选择限定用途基金")
    bp = _percent(errors, percent)
    since = _date(errors, effective_from, "effective_from")
    errors.raise_if_any()
    account = SOURCES[src].account
    with _writing(session, ledger_dir, [book_id]) as books:
        book = books[book_id]
        same = session.scalar(select(FundEarmark).where(
            FundEarmark.book_id == book_id, FundEarmark.income_account == account,
            FundEarmark.fund == fund_.value, FundEarmark.effective_from == since))
        if same is not None:
            if same.basis_points != bp:
                raise Conflict(f"{since} 起已有一条该收入来源的提取规则（{Decimal(same.basis_points) / 100}%），"
                               "规则一经生效不能修改；请另选生效日期", field="effective_from")
            return same, False
        last = session.scalar(select(func.max(FundEntry.date)).where(FundEntry.book_id == book_id))
        if last is not None and since <= last:
            raise Unprocessable(f"生效日期须晚于本账簿最后一笔分录的日期（{last}），已记账的分录不能按新规则改变",
                                field="effective_from")
        others = rules.active_earmarks(files.earmark_rules(session, book_id), since)  # type: ignore[arg-type]
        total = bp + sum(v for (acct, f), v in others.items() if acct == account and f != fund_.value)
        if total > 10000:
            raise Unprocessable("同一收入来源提取到各限定基金的比例合计不能超过 100%", field="percent")
        rule = FundEarmark(book_id=book_id, income_account=account, fund=fund_.value, basis_points=bp,
                           effective_from=since)
        session.add(rule)
        session.flush()
        audit.note(session, "fund.earmark", "fund_earmark", f"{book_id}:{rule.id}", _org_path(session, book),
                   after={"source": src.value, "fund": fund_.value, "percent": str(Decimal(bp) / 100),
                          "effective_from": since.isoformat()})
        session.commit()  # the commit point; the accounts file is its projection
        try:
            files.atomic_write(files.book_paths(ledger_dir, book).accounts, files.accounts_text(session, book))
        except OSError:  # committed: the next write or `ledger recover` rewrites the file
            log.exception("rewriting accounts.beancount failed after commit; recovery will complete it")
    return rule, True


# --- reads over the index ---------------------------------------------------------------------


def balance_of(session: Session, book_id: int, account: str, on: dt.date | None = None) -> Decimal:
    """Balance of an account (and its sub-accounts) at the end of a date."""
    stmt = select(func.coalesce(func.sum(FundPosting.amount_fen), 0)).where(
        FundPosting.book_id == book_id,
        or_(FundPosting.account == account, FundPosting.account.startswith(account + ":", autoescape=True)))
    if on is not None:
        stmt = stmt.where(FundPosting.date <= on)
    return from_fen(int(session.scalar(stmt) or 0))


def balances(session: Session, book_id: int, on: dt.date | None = None) -> list[tuple[FundAccount, Decimal]]:
    stmt = select(FundPosting.account, func.sum(FundPosting.amount_fen)).where(FundPosting.book_id == book_id)
    if on is not None:
        stmt = stmt.where(FundPosting.date <= on)
    sums = dict(session.execute(stmt.group_by(FundPosting.account)).tuples().all())
    return [(a, from_fen(int(sums.get(a.name, 0)))) for a in book_accounts(session, book_id)]


def fund_balances(session: Session, book_id: int, on: dt.date | None = None) -> list[tuple[str, str, Decimal]]:
    """Restricted and unrestricted money side by side: (fund, Chinese name, bank + cash balance)."""
    return funds_of(balances(session, book_id, on))


def funds_of(account_balances: Iterable[tuple[FundAccount, Decimal]]) -> list[tuple[str, str, Decimal]]:
    """The fund totals of account balances already read (see ``balances``)."""
    totals: dict[str, Decimal] = {}
    for account, amount in account_balances:
        if account.kind == "asset" and account.fund:
            totals[account.fund] = totals.get(account.fund, Decimal(0)) + amount
    return [(f.value, FUND_ZH[f], totals.get(f.value, Decimal("0.00"))) for f in Fund]


@dataclass(frozen=True)
class JournalFilter:
    account: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    category: str | None = None
    text: str | None = None


def journal(session: Session, book_id: int, flt: JournalFilter, *, limit: int = 100,
            offset: int = 0) -> tuple[list[tuple[FundEntry, list[FundPosting]]], int]:
    stmt = select(FundEntry).where(FundEntry.book_id == book_id)
    if flt.account:
        sub = select(FundPosting.entry_id).where(
            FundPosting.book_id == book_id,
            or_(FundPosting.account == flt.account,
                FundPosting.account.startswith(flt.account + ":", autoescape=True)))
        stmt = stmt.where(FundEntry.id.in_(sub))
    if flt.date_from:
        stmt = stmt.where(FundEntry.date >= flt.date_from)
    if flt.date_to:
        stmt = stmt.where(FundEntry.date <= flt.date_to)
    if flt.category:
        stmt = stmt.where(FundEntry.category == flt.category)
    if flt.text:
        stmt = stmt.where(or_(FundEntry.narration.contains(flt.text, autoescape=True),
                              FundEntry.payee.contains(flt.text, autoescape=True),
                              FundEntry.voucher.contains(flt.text, autoescape=True)))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = list(session.scalars(stmt.order_by(FundEntry.date, FundEntry.seq).limit(limit).offset(offset)).all())
    if not rows:
        return [], total
    legs = session.scalars(select(FundPosting).where(FundPosting.entry_id.in_([r.id for r in rows]))
                           .order_by(FundPosting.id)).all()
    by_entry: dict[int, list[FundPosting]] = {}
    for leg in legs:
        by_entry.setdefault(leg.entry_id, []).append(leg)
    return [(r, by_entry.get(r.id, [])) for r in rows], total


def recover_all(session: Session, ledger_dir: Path, *, check_tail: bool = True) -> list[files.Repair]:
    """Start-up recovery: every book's files brought back to the committed entries."""
    repairs: list[files.Repair] = []
    for book in session.scalars(select(FundBook).order_by(FundBook.id)).all():
        with files.locked([files.book_paths(ledger_dir, book)]):
            repairs.extend(files.sync_book(session, ledger_dir, book, check_tail=check_tail))
        session.rollback()
    return repairs


def iter_books(session: Session, book_ids: Iterable[int] | None = None) -> list[FundBook]:
    stmt = select(FundBook).order_by(FundBook.id)
    if book_ids:
        stmt = stmt.where(FundBook.id.in_(list(book_ids)))
    return list(session.scalars(stmt).all())
