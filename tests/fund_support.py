"""Helpers shared by the fund tests: open the tree's books, snapshot the ledger files, run bean-check."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth.scope import Scope
from assoc_ledger.fund import service
from assoc_ledger.fund.models import FundEntry, FundPosting

EVERYTHING = Scope.everything()
BEAN_CHECK = str(Path(sys.executable).with_name("bean-check"))


@dataclass
class Books:
    factory: sessionmaker[Session]
    ledger_dir: Path
    county: int
    town_a: int
    town_b: int
    county_org: int
    town_a_org: int

    def session(self) -> Session:
        return self.factory()


def open_books(factory: sessionmaker[Session], ledger_dir: Path, county_org: int, town_a_org: int,
               town_b_org: int) -> Books:
    with factory() as db:
        county = service.open_book(db, ledger_dir, county_org, EVERYTHING).id
        town_a = service.open_book(db, ledger_dir, town_a_org, EVERYTHING).id
        town_b = service.open_book(db, ledger_dir, town_b_org, EVERYTHING).id
    return Books(factory, ledger_dir, county, town_a, town_b, county_org, town_a_org)


def snapshot(ledger_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(ledger_dir)): p.read_bytes() for p in sorted(ledger_dir.rglob("*.beancount"))}


def counts(factory: sessionmaker[Session]) -> tuple[int, int]:
    with factory() as db:
        return (db.scalar(select(func.count()).select_from(FundEntry)) or 0,
                db.scalar(select(func.count()).select_from(FundPosting)) or 0)


def bean_check(main: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BEAN_CHECK, str(main)], check=False, capture_output=True, text=True, timeout=300)


def fund_books(ledger_dir: Path) -> list[Path]:
    return sorted(ledger_dir.glob("*/main.beancount"))
