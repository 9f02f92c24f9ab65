"""The demo's two years of monthly runs: every story the rule knows, reconciled to zero, loaded once."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.core.config import Settings
from assoc_ledger.demo.entitlements import FIRST, LAST, load_entitlements_demo
from assoc_ledger.entitlements import services as ent
from assoc_ledger.entitlements.models import EntitlementExit, EntitlementLine, EntitlementRun
from assoc_ledger.fund import service, verify
from assoc_ledger.fund.models import FundBook
from tests.conftest import Tree
from tests.fund_support import bean_check


def test_demo_runs_two_years_and_reconciles_to_zero(
                                                    session_factory: sessionmaker[Session], settings: Settings,
                                                    tree: Tree, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"upload_dir": tmp_path / "uploads"})  # the long-term cases' documents
    first = load_entitlements_demo(session_factory, settings)
    assert first["runs"] == 24 and first["households"] > 0
    with session_factory() as db:
        report = ent.reconcile(db, ent.Scope.everything(), FIRST, LAST)
        assert report.clean, [(d.kind, d.household_id, d.month, d.reason) for d in report.rows[:5]]
        assert report.household_months_due == report.household_months_paid > 0
        reasons = set(db.scalars(select(EntitlementExit.reason)))
        assert {"turned_14", "another_child", "moved_out", "death", "revoked"} <= reasons
        assert db.scalar(select(func.count()).select_from(EntitlementLine).where(EntitlementLine.arrears)) > 0
        assert db.scalar(select(func.count()).select_from(EntitlementLine)
                         .where(EntitlementLine.scheme == "special_family")) > 0
        # 长效帮扶: two cases, 12 + 5 household-months (one closed in July), at 150 then 180 yuan, some as arrears.
        long_term = db.execute(select(EntitlementLine.relief_case_id, EntitlementLine.months,
                                      EntitlementLine.monthly_fen, EntitlementLine.arrears)
                               .where(EntitlementLine.scheme == "long_term")).all()
        assert len({r.relief_case_id for r in long_term}) == 2 and sum(r.months for r in long_term) == 17
        assert {r.monthly_fen for r in long_term} == {15000, 18000} and any(r.arrears for r in long_term)
        book = db.scalar(select(FundBook).where(FundBook.org_id == tree.county.id))
        assert book is not None
        assert verify.verify_rolls(db, Path(settings.ledger_dir), book) == []
        runs = db.scalar(select(func.count()).select_from(EntitlementRun))
    assert load_entitlements_demo(session_factory, settings) == {}
    with session_factory() as db:
        assert db.scalar(select(func.count()).select_from(EntitlementRun)) == runs
        service.recover_all(db, Path(settings.ledger_dir))
    assert bean_check(Path(settings.ledger_dir) / book.slug / "main.beancount").returncode == 0
