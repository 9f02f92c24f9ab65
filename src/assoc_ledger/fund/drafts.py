"""What each command writes: the entries (postings, metadata, links) a command value becomes in its book(s)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from assoc_ledger.core.errors import Conflict, Problems
from assoc_ledger.core.money import from_fen
from assoc_ledger.fund import files, rolls, rules
from assoc_ledger.fund.chart import (
    ALLOCATION_IN,
    ALLOCATION_OUT,
    CATEGORIES,
    SOURCES,
    Fund,
    Via,
    asset_account,
    is_cash_like,
)
from assoc_ledger.fund.commands import Close, Command, Entry, Income, Payment, Reversal, RollPayment, Transfer
from assoc_ledger.fund.models import FundAccount, FundBook, FundEntry, FundPosting, FundRoll
from assoc_ledger.fund.queries import balance_of


@dataclass(frozen=True)
class RollDraft:
    """A roll about to be attached: its lines (file order) and the exact bytes the file will hold."""

    name: str
    lines: tuple[rolls.RollLine, ...]
    data: bytes
    sha256: str

    @property
    def path(self) -> str:
        return rolls.relative_path(self.name)


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
    roll: RollDraft | None = None


def books_touched(session: Session, command: Command) -> list[int]:
    """The books a command writes to, so the writer can lock them all before reading anything."""
    if isinstance(command, Transfer):
        return [command.book_id, command.to_book_id]
    if isinstance(command, Reversal):
        return [e.book_id for e in _reversed_entries(session, command)]
    return [command.book_id]


def _reversed_entries(session: Session, command: Reversal) -> list[FundEntry]:
    """The original entry and, for a transfer, its other side in the other book."""
    original = session.scalar(select(FundEntry).where(FundEntry.book_id == command.book_id,
                                                      FundEntry.seq == command.seq))
    if original is None:
        return []
    found = [original]
    if original.category == "allocation":
        partner = session.scalars(select(FundEntry).where(
            FundEntry.idem_key == original.idem_key, FundEntry.request_hash == original.request_hash,
            FundEntry.id != original.id)).first()
        if partner is not None:
            found.append(partner)
    return found


def drafts_for(session: Session, books: dict[int, FundBook], command: Command, problems: Problems) -> list[Draft]:
    """The drafts of a command, read under the books' locks; refusals found on the way go to ``problems``."""
    if isinstance(command, Income):
        return [_income(session, books[command.book_id], command)]
    if isinstance(command, Payment):
        line = CATEGORIES[command.category]
        return [Draft(books[command.book_id], "txn", command.date, command.narration or line.zh, command.payee,
                      command.voucher, command.category.value,
                      [("category", command.category.value), ("fund", command.fund.value), *command.meta],
                      [(line.account, command.amount), (asset_account(command.via, command.fund), -command.amount)])]
    if isinstance(command, Transfer):
        return _transfer(books[command.book_id], books[command.to_book_id], command)
    if isinstance(command, Entry):
        return [Draft(books[command.book_id], "txn", command.date, command.narration, command.payee,
                      command.voucher, None, list(command.meta), list(command.postings))]
    if isinstance(command, Reversal):
        return _reversal(session, books, command, problems)
    if isinstance(command, RollPayment):
        return [_roll(session, books[command.book_id], command)]
    return [_close(session, books[command.book_id], command)]


def _income(session: Session, book: FundBook, command: Income) -> Draft:
    income_account = SOURCES[command.source].account
    shares = rules.active_earmarks(files.earmark_rules(session, book.id), command.date)  # type: ignore[arg-type]
    postings: list[tuple[str, Decimal]] = []
    restricted = Decimal(0)
    for (account, fund), bp in sorted(shares.items()):
        if account == income_account and bp:
            share = rules.earmark_share(command.amount, bp)
            if share:
                postings.append((asset_account(command.via, Fund(fund)), share))
                restricted += share
    if command.amount - restricted:
        postings.insert(0, (asset_account(command.via, Fund.general), command.amount - restricted))
    postings.append((income_account, -command.amount))
    return Draft(book, "txn", command.date, command.narration or f"{SOURCES[command.source].zh}收入", command.payer,
                 command.voucher, command.source.value, [("source", command.source.value), *command.meta], postings)


def _roll(session: Session, book: FundBook, command: RollPayment) -> Draft:
    if session.scalar(select(FundRoll.id).where(FundRoll.book_id == book.id, FundRoll.name == command.roll)):
        raise Conflict(f"本账簿已有名为 {command.roll} 的发放花名册，未写入任何数据", field="roll")
    data = b"".join(rolls.csv_chunks(command.lines))
    roll = RollDraft(command.roll, command.lines, data, hashlib.sha256(data).hexdigest())
    line = CATEGORIES[command.category]
    total = command.total
    return Draft(book, "txn", command.date, command.narration or f"{line.zh}（发放花名册 {len(command.lines)} 行）",
                 "发放花名册", command.voucher, command.category.value,
                 [("category", command.category.value), ("fund", command.fund.value), (rolls.META_FILE, roll.path),
                  (rolls.META_SHA256, roll.sha256), (rolls.META_LINES, str(len(command.lines)))],
                 [(line.account, total), (asset_account(command.via, command.fund), -total)], roll=roll)


def _transfer(source: FundBook, target: FundBook, command: Transfer) -> list[Draft]:
    fund, amount = command.fund, command.amount
    out = Draft(source, "txn", command.date, command.narration or f"拨付{target.title}公益金", target.title,
                command.voucher, "allocation", [("fund", fund.value)],
                [(ALLOCATION_OUT, amount), (asset_account(command.via, fund), -amount)])
    into = Draft(target, "txn", command.date, command.narration or f"收到{source.title}拨入公益金", source.title,
                 command.voucher, "allocation", [("fund", fund.value)],
                 [(asset_account(Via.bank, fund), amount), (ALLOCATION_IN, -amount)])
    out.link_to.append(into)
    into.link_to.append(out)
    return [out, into]


def _reversal(session: Session, books: dict[int, FundBook], command: Reversal, problems: Problems) -> list[Draft]:
    drafts: list[Draft] = []
    for original in _reversed_entries(session, command):
        if original.kind != "txn":
            problems.add("seq", "结账记录不能冲销")
            continue
        if original.reverses_id is not None:
            problems.add("seq", "冲销分录不能再冲销")
            continue
        if session.scalar(select(FundEntry.id).where(FundEntry.reverses_id == original.id)) is not None:
            problems.add("seq", f"分录 {original.seq} 已被冲销")
            continue
        if command.date < original.date:
            problems.add("date", "冲销日期不能早于原分录日期")
            continue
        legs = session.execute(select(FundPosting.account, FundPosting.amount_fen).where(
            FundPosting.entry_id == original.id).order_by(FundPosting.id)).all()
        own = books[original.book_id]
        drafts.append(Draft(own, "txn", command.date, f"冲销：{original.narration}", original.payee, command.voucher,
                            original.category, [("reverses", f"{own.slug}-{original.seq}"), ("reason", command.reason)],
                            [(a, -from_fen(f)) for a, f in legs], links=set(original.links), reverses=original))
    if len(drafts) == 2:
        drafts[0].link_to.append(drafts[1])
        drafts[1].link_to.append(drafts[0])
    return drafts


def _close(session: Session, book: FundBook, command: Close) -> Draft:
    last_day = command.last_day
    if book.closed_through is not None and last_day <= book.closed_through:
        raise Conflict(f"{command.month} 已结账（已结账至 {book.closed_through}）", field="month")
    balances = [(acc.name, balance_of(session, book.id, acc.name, last_day))
                for acc in session.scalars(select(FundAccount).where(FundAccount.book_id == book.id,
                                                                     FundAccount.kind == "asset")
                                           .order_by(FundAccount.id))
                if is_cash_like(acc.name)]
    return Draft(book, "close", last_day + dt.timedelta(days=1), command.month, None, None, None, [],
                 balances=balances)
