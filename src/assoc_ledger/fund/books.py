"""Book lifecycle: which organisation keeps a book, opening one with its chart and earmark rules, finding it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.errors import Conflict, DomainError, NotFound
from assoc_ledger.fund import files
from assoc_ledger.fund.chart import chart_of_accounts
from assoc_ledger.fund.models import GENESIS, FundAccount, FundBook, FundEarmark
from assoc_ledger.fund.standards import DEFAULT_EARMARKS
from assoc_ledger.orgs.models import Organisation, OrgKind

BOOK_KINDS = frozenset({OrgKind.county.value, OrgKind.township.value, OrgKind.town.value, OrgKind.street.value})
DEFAULT_OPENED_ON = dt.date(2020, 1, 1)


def book_org(session: Session, org: Organisation) -> Organisation:
    """Villages and communities use their township's book; find the nearest level that keeps one."""
    current: Organisation | None = org
    while current is not None and current.kind not in BOOK_KINDS:
        current = session.get(Organisation, current.parent_id) if current.parent_id else None
    if current is None:
        raise DomainError("该组织及其上级都不设公益金账簿", field="org_id")
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
    for rule in DEFAULT_EARMARKS:
        # A book adopts the defaults from the day it opens: its history never depends on a later change.
        session.add(FundEarmark(book_id=book.id, income_account=rule.income_account, fund=rule.fund.value,
                                basis_points=rule.basis_points, effective_from=opened_on))
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


def iter_books(session: Session, book_ids: Iterable[int] | None = None) -> list[FundBook]:
    stmt = select(FundBook).order_by(FundBook.id)
    if book_ids:
        stmt = stmt.where(FundBook.id.in_(list(book_ids)))
    return list(session.scalars(stmt).all())


def org_path(session: Session, book: FundBook) -> str | None:
    """The organisation path an audit record of this book is filed under."""
    return session.scalar(select(Organisation.path).where(Organisation.id == book.org_id))
