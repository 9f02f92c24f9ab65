"""Start-up recovery: every book's files brought back to the committed entries in the index."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from assoc_ledger.fund import files
from assoc_ledger.fund.models import FundBook


def recover_all(session: Session, ledger_dir: Path, *, check_tail: bool = True) -> list[files.Repair]:
    repairs: list[files.Repair] = []
    for book in session.scalars(select(FundBook).order_by(FundBook.id)).all():
        with files.locked([files.book_paths(ledger_dir, book)]):
            repairs.extend(files.sync_book(session, ledger_dir, book, check_tail=check_tail))
        session.rollback()
    return repairs
