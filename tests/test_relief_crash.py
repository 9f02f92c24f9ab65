"""kill -9 during a stream of case payments (the books' crash harness): every case marked paid has exactly
one entry, no relief entry lacks its paid case, the books verify and bean-check clean after recovery.

Run as a module (``python -m tests.test_relief_crash DB LEDGERS COUNTY_ID COUNTY_PATH``) it is the payer:
it pays every approved case in id order through ``relief.services.pay_case`` and prints
``ACK <case id> <entry id>`` only after each payment has returned.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth import audit
from assoc_ledger.auth.scope import Grant, Perm, Principal, Role, Scope
from assoc_ledger.core.db import make_engine, make_sessionmaker
from assoc_ledger.fund import service as fund_service
from assoc_ledger.fund import verify
from assoc_ledger.fund.models import FundBook, FundEntry
from assoc_ledger.relief import services as relief
from assoc_ledger.relief.models import ReliefCase
from assoc_ledger.relief.rules import Action, State
from tests.crash import preloaded, run_and_kill
from tests.fund_caller_writer import kill_at
from tests.fund_support import bean_check
from tests.test_relief import World, make_world, user

ROOT = Path(__file__).resolve().parents[1]
CASES = 120
PAY_DAY = dt.date(2026, 3, 9)


def _approved_cases(w: World, count: int) -> list[int]:
    """``count`` approved cases, each through the services by three users, in three transactions in all."""
    scheme = w.scheme(documents=[], amount="300.00")
    recorder, reviewer, approver = user(w.tree, "登记人"), user(w.tree, "审核人"), user(w.tree, "审批人")
    with w.session() as s:
        ids = [relief.register_case(s, recorder, relief.CaseForm(
            scheme_id=scheme, household_id=w.plain, case_date=dt.date(2026, 3, 1), payee=f"对象{i}",
            summary="因灾致困", amount=f"{1 + i % 299}.{i % 100:02d}")).id for i in range(count)]
        s.commit()
    for action, who in ((Action.review, reviewer), (Action.approve, approver)):
        with w.session() as s:
            for case_id in ids:
                relief.act(s, who, case_id, action)
            s.commit()
    return ids


def _check(factory: sessionmaker[Session], book_id: int) -> dict[int, int]:
    """Every paid case has exactly one entry (its case in the metadata) and every relief entry its paid case."""
    with factory() as db:
        paid = dict(db.execute(select(ReliefCase.id, ReliefCase.fund_entry_id)
                               .where(ReliefCase.state == State.paid.value)).tuples().all())
        entries: dict[int, list[int]] = {}
        for entry_id, meta in db.execute(select(FundEntry.id, FundEntry.meta).where(
                FundEntry.book_id == book_id, FundEntry.idem_key.like("relief-case-%"))).tuples():
            case_id = int(dict(meta)["relief-case"])
            entries.setdefault(case_id, []).append(entry_id)
    assert all(len(v) == 1 for v in entries.values()), {k: v for k, v in entries.items() if len(v) != 1}
    assert paid == {c: v[0] for c, v in entries.items()}
    return {c: e for c, e in paid.items() if e is not None}


@pytest.mark.slow
def test_kill_nine_during_case_payments(sqlite_url: str, tmp_path: Path) -> None:
    factory = make_sessionmaker(make_engine(sqlite_url))
    w = make_world(factory, tmp_path)
    cases = _approved_cases(w, CASES)
    county = w.tree.county
    rng = random.Random(20261124)
    acked: dict[int, int] = {}
    kills = forced = repairs = 0
    with preloaded("tests.test_relief_crash") as payers:
        while kills < 7:
            moment = "text" if kills % 3 == 0 else None
            run = run_and_kill(payers, [sqlite_url, str(w.ledger_dir), str(county.id), county.path], rng,
                               kill_at=("text", rng.randint(2, 6)) if moment else None, after=(0.0, 0.3))
            forced += moment is not None
            kills += 1
            acked.update(run.acks)
            with factory() as db:
                repairs += sum(r.appended_entries for r in fund_service.recover_all(db, w.ledger_dir))
            paid = _check(factory, w.town_book)
            assert all(paid.get(c) == e for c, e in acked.items())
    # A last run without a kill pays the rest.
    done = subprocess.run([sys.executable, "-m", "tests.test_relief_crash", sqlite_url, str(w.ledger_dir),
                           str(county.id), county.path], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    paid = _check(factory, w.town_book)
    assert sorted(paid) == sorted(cases)
    with factory() as db:
        book = db.get(FundBook, w.town_book)
        assert book is not None
        report = verify.verify_book(db, w.ledger_dir, book)
        assert report.ok, [str(p) for p in report.problems[:5]]
    print(f"{kills} kills ({forced} right after a commit), {len(acked)} acknowledged, {repairs} entries appended "
          f"by recovery")
    assert forced >= 3 and repairs >= forced
    assert bean_check(w.ledger_dir / f"town-{w.tree.town_a.id}" / "main.beancount").returncode == 0


def main() -> None:
    db_url, ledger_dir, county_id, county_path = sys.argv[1:5]
    if os.environ.get("KILL_AT"):
        sys.addaudithook(kill_at(os.environ["KILL_AT"], int(os.environ.get("KILL_NTH", "1"))))
    audit.install()
    factory = make_sessionmaker(make_engine(db_url))
    payer = Scope(perm=Perm.fund_write, paths=("/",),
                  principal=Principal(999_999, "出纳", (Grant(Role.admin, int(county_id), county_path),)))
    while True:
        with factory() as db:
            case_id = db.scalar(select(ReliefCase.id).where(ReliefCase.state == State.approved.value)
                                .order_by(ReliefCase.id).limit(1))
            if case_id is None:
                return
            case = relief.pay_case(db, payer, Path(ledger_dir), case_id, on=PAY_DAY)
        print(f"ACK {case_id} {case.fund_entry_id}", flush=True)


if __name__ == "__main__":
    main()
