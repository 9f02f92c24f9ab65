"""Reports over the relief and entitlement tables, on both backends: an entitlement run reconciles (lines =
voucher = roll = run total) and its households count once each, by household, with their kind; a relief
case paid through the books shows under its state and is spending of its household's kind."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth import services as auth_services
from assoc_ledger.auth.scope import Perm, Role, Scope
from assoc_ledger.core.config import Settings
from assoc_ledger.entitlements import services as ent
from assoc_ledger.entitlements.models import EntitlementLine
from assoc_ledger.relief import services as relief
from assoc_ledger.relief.rules import Action
from assoc_ledger.reports import queries
from tests.conftest import PASSWORD, Tree
from tests.entitlements_world import ALL, build

READ = Scope.everything(Perm.fund_read)
START, END = dt.date(2024, 1, 1), dt.date(2024, 12, 31)


def _scope(db: Session, username: str, role: Role, org_id: int, perm: Perm) -> Scope:
    user = auth_services.create_user(db, username, PASSWORD)
    auth_services.grant_role(db, user, role, org_id)
    db.flush()
    principal = auth_services.principal_for(db, user)
    return Scope(perm, tuple(principal.paths_for(perm)), principal)


def test_entitlement_runs_and_relief_cases_in_the_reports(session_factory: sessionmaker[Session], settings: Settings,
                                                         tree: Tree) -> None:
    ledger_dir = Path(settings.ledger_dir)
    world = build(session_factory, ledger_dir, tree)
    with session_factory() as db:
        run = ent.run(db, ledger_dir, ALL, "2024-06", pay_date=dt.date(2024, 6, 25))
        run_id, run_total = run.id, run.total_fen
    with session_factory() as db:
        report = queries.run_report(db, READ, "entitlement-runs", tree.county.id, START, END)
        (row,) = report.rows
        month, _org, status, lines, total, lines_total, booked, rolled, agreed = row.cells
        assert (month, status, agreed) == ("2024-06", "done", "一致")
        assert total == lines_total == booked == rolled == Decimal(run_total) / 100
        count, fen = db.execute(select(func.count(), func.sum(EntitlementLine.amount_fen))
                                .where(EntitlementLine.run_id == run_id)).one()
        assert lines == count and total == Decimal(fen) / 100
        paid_households = set(db.scalars(select(EntitlementLine.household_id)
                                         .where(EntitlementLine.run_id == run_id)).all())
        ctx = queries.context(db, READ, tree.county.id, START, END)
        aided = queries.aided_households(db, ctx)
        assert {a.key for a in aided if a.category == "only_child_reward"} >= {
            f"household:{h}" for h in set(db.scalars(select(EntitlementLine.household_id).where(
                EntitlementLine.run_id == run_id, EntitlementLine.scheme == "only_child_reward")).all())}
        assert not [a for a in aided if a.key.startswith("roll:")]  # counted by household, not by roll line
        kinds = queries.run_report(db, READ, "spending-by-household-kind", tree.county.id, START, END)
        by_kind = {r.cells[0]: r.cells for r in kinds.rows}
        assert by_kind["only_child"][2] >= 1
        linked = sum((r.cells[3] for r in kinds.rows if r.cells[0] not in ("unlinked", "none")), Decimal(0))
        assert linked >= Decimal(run_total) / 100 - by_kind.get("none", (0, 0, 0, Decimal(0)))[3]
        assert len(paid_households) >= 2

    # a relief case: registered, reviewed and approved by three people, paid through the books
    household = world.households["A"]
    with session_factory() as db:
        secretary = _scope(db, "rel-sec", Role.secretary, tree.county.id, Perm.household_write)
        manage = Scope(Perm.fund_close, ("/",), secretary.principal)
        scheme = relief.create_scheme(db, manage, code="GEN-1", name="一般帮扶", category="general",
                                      org_id=tree.county.id,
                                      spec=relief.VersionSpec(effective_from=dt.date(2024, 1, 1), amount_rule="ceiling",
                                                              amount="3000.00", review_steps=("review", "approve")))
        db.commit()
        case = relief.register_case(db, secretary, relief.CaseForm(
            scheme_id=scheme.id, household_id=household, case_date=dt.date(2024, 7, 2), payee="户主",
            summary="因病致困", amount="1500.00"), today=dt.date(2024, 7, 2))
        db.commit()
        case_id = case.id
    with session_factory() as db:
        reviewer = _scope(db, "rel-rev", Role.reviewer, tree.county.id, Perm.case_review)
        relief.act(db, reviewer, case_id, Action.review, "属实", today=dt.date(2024, 7, 3))
        db.commit()
    with session_factory() as db:
        approver = _scope(db, "rel-app", Role.reviewer, tree.county.id, Perm.case_review)
        relief.act(db, approver, case_id, Action.approve, "同意", today=dt.date(2024, 7, 4))
        db.commit()
    with session_factory() as db:
        payer = Scope(Perm.fund_write, ("/",), secretary.principal)
        paid = relief.pay_case(db, payer, ledger_dir, case_id, on=dt.date(2024, 7, 5))
        assert paid.state == "paid", paid.pay_problem
    with session_factory() as db:
        cases = queries.run_report(db, READ, "cases-by-state", tree.county.id, START, END)
        assert [(r.cells[1], r.cells[2], r.cells[3]) for r in cases.rows if not r.total] == [
            ("已发放", 1, Decimal("1500.00"))]
        assert cases.rows[0].drill is not None and cases.rows[0].drill.category == "general"
        ctx = queries.context(db, READ, tree.county.id, START, END)
        assert any(a.key == f"household:{household}" and a.category == "general"
                   for a in queries.aided_households(db, ctx))
        kinds = {r.cells[0]: r.cells for r in
                 queries.run_report(db, READ, "spending-by-household-kind", tree.county.id, START, END).rows}
        assert kinds["only_child"][3] >= Decimal("1500.00")
