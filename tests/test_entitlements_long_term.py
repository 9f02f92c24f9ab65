"""长效帮扶 (long_term) on both backends: approved relief cases paid by the monthly runs from their start month
through their end month, once, with arrears for a case approved late, a case closed early stopping after its
end, a new scheme version changing the amount, never paid as a one-off; and reconciliation of long-term
household-months (missing, paid twice, paid while not eligible, wrong amount)."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth.scope import Grant, Perm, Principal, Role, Scope
from assoc_ledger.core.config import Settings
from assoc_ledger.core.db import Base
from assoc_ledger.core.errors import DomainError
from assoc_ledger.entitlements import services as ent
from assoc_ledger.entitlements.models import EntitlementLine
from assoc_ledger.fund import service
from assoc_ledger.fund.models import FundEntry, FundRoll
from assoc_ledger.households import services as hh
from assoc_ledger.households.rules import Relation
from assoc_ledger.people import services as people
from assoc_ledger.relief import services as relief
from assoc_ledger.relief.models import ReliefCase, SchemeVersion
from assoc_ledger.relief.rules import Action, State
from tests import factories
from tests.conftest import Tree

ALL = Scope.everything()
_ids = itertools.count(5000)


def user(tree: Tree, name: str) -> Scope:
    principal = Principal(next(_ids), name, (Grant(Role.admin, tree.county.id, tree.county.path),))
    return Scope(perm=Perm.household_write, paths=("/",), principal=principal)


def household(db: Session, org_id: int, name: str, only_child: bool = False) -> int:
    """A hardship household; with ``only_child`` also an only-child household with a certificate (奖励 too)."""
    head = people.create_person(db, ALL, name=name, resident_id=factories.resident_id(dt.date(1970, 5, 5)),
                                org_id=org_id).id
    members = [(head, Relation.head.value)]
    kinds = [hh.KindSpec("hardship", dt.date(2023, 1, 1), "乡镇认定")]
    if only_child:
        child = people.create_person(db, ALL, name=f"{name}子", resident_id=factories.resident_id(
            dt.date(2016, 3, 3)), org_id=org_id).id
        members.append((child, Relation.child.value))
        kinds.append(hh.KindSpec("only_child", dt.date(2017, 1, 9), "乡计生办", f"GRZ-{name}", child))
    return hh.register_household(db, ALL, org_id=org_id, address=f"{name}家", registered_on=dt.date(2016, 3, 3),
                                 members=members, kinds=kinds, today=dt.date(2026, 11, 1)).id


def case(factory: sessionmaker[Session], tree: Tree, scheme: int, hid: int, on: str, months: int) -> int:
    with factory() as db:
        row = relief.register_case(db, user(tree, "登记"), relief.CaseForm(
            scheme_id=scheme, household_id=hid, case_date=dt.date.fromisoformat(on), payee=f"户{hid}",
            summary="特困家庭按月帮扶", months=months), today=dt.date(2026, 11, 1))
        db.commit()
        return row.id


def act(factory: sessionmaker[Session], tree: Tree, case_id: int, action: Action, on: str) -> None:
    with factory() as db:
        relief.act(db, user(tree, action.value), case_id, action, "同意", today=dt.date.fromisoformat(on))
        db.commit()


def approve(factory: sessionmaker[Session], tree: Tree, case_id: int, on: str) -> None:
    act(factory, tree, case_id, Action.review, on)
    act(factory, tree, case_id, Action.approve, on)


def run(factory: sessionmaker[Session], ledger_dir: Path, month: str) -> int:
    with factory() as db:
        row = ent.run(db, ledger_dir, ALL, month, pay_date=dt.date.fromisoformat(f"{month}-25"))
        return row.lines


def paid(factory: sessionmaker[Session]) -> dict[tuple[int, str], tuple[int, int, bool]]:
    """(case, month) → (fen, version number, arrears), from the roll lines."""
    out = {}
    with factory() as db:
        versions = dict(db.execute(select(SchemeVersion.id, SchemeVersion.version)).tuples().all())
        for line in db.scalars(select(EntitlementLine).where(EntitlementLine.scheme == "long_term")):
            assert line.relief_case_id is not None and line.scheme_version_id is not None
            m = line.from_month
            while m <= line.to_month:
                key = (line.relief_case_id, f"{m:%Y-%m}")
                assert key not in out
                out[key] = (line.monthly_fen, versions[line.scheme_version_id], line.arrears)
                m = dt.date(m.year + m.month // 12, m.month % 12 + 1, 1)
    return out


def test_long_term_cases_paid_by_the_month_and_reconciled(session_factory: sessionmaker[Session],
                                                          settings: Settings, tree: Tree) -> None:
    factory, ledger_dir = session_factory, Path(settings.ledger_dir)
    with factory() as db:
        book = service.open_book(db, ledger_dir, tree.county.id, ALL).id
    with factory() as db:
        service.post_income(db, ledger_dir, ALL, book, key="lt-fund", date="2024-01-02", amount="50000.00",
                            source="budget", payer="县财政局", voucher="收-lt", narration="长效帮扶资金")
    with factory() as db:
        scheme = relief.create_scheme(db, ALL, code="lt", name="特困计生家庭长效帮扶", category="long_term",
                                      org_id=tree.county.id, spec=relief.VersionSpec(
                                          effective_from=dt.date(2024, 1, 1), amount_rule="monthly", amount="150.00",
                                          months=12, basis="县计生协〔2024〕1号")).id
        ent.set_programme(db, ALL, tree.county.id, scheme="long_term", first_month="2024-01")
        ent.set_programme(db, ALL, tree.county.id, scheme="only_child_reward", first_month="2024-01")
        h1, h2 = household(db, tree.village_a1.id, "张桂兰"), household(db, tree.village_b1.id, "李建国")
        h3 = household(db, tree.village_a2.id, "王秀英", only_child=True)  # 长效帮扶 and 独生子女父母奖励
        db.commit()
    c1 = case(factory, tree, scheme, h1, "2024-02-10", 6)  # February–July
    c2 = case(factory, tree, scheme, h2, "2024-01-20", 12)  # January–December, approved late, closed in June
    c3 = case(factory, tree, scheme, h3, "2024-03-03", 1)  # March only: start = end
    approve(factory, tree, c1, "2024-02-12")
    approve(factory, tree, c3, "2024-03-05")
    # The relief pay step refuses a case paid by the month, whatever the user.
    with factory() as db, pytest.raises(DomainError) as one_off:
        relief.pay_case(db, user(tree, "出纳"), ledger_dir, c1, on=dt.date(2024, 2, 20))
    assert one_off.value.field == "action" and "按月发放" in one_off.value.detail
    # So is a second case of the same household over the same months.
    with pytest.raises(DomainError) as overlap:
        case(factory, tree, scheme, h1, "2024-05-01", 3)
    assert overlap.value.field == "household_id" and str(c1) in overlap.value.detail

    assert run(factory, ledger_dir, "2024-03") == 3 + 2  # c1 Feb (arrears) and March, c3 March; h3 reward
    assert run(factory, ledger_dir, "2024-03") == 0  # the same month again: nothing
    approve(factory, tree, c2, "2024-04-02")
    run(factory, ledger_dir, "2024-04")  # c2 January–March as arrears, and April
    with factory() as db:  # a new standard from mid-April: May on at 180 yuan, for running cases too
        relief.add_version(db, ALL, scheme, relief.VersionSpec(effective_from=dt.date(2024, 4, 15),
                                                               amount_rule="monthly", amount="180.00", months=12))
        db.commit()
    act(factory, tree, c2, Action.close, "2024-06-05")  # ended early: paid through June, not after
    with factory() as db:
        assert db.get(ReliefCase, c2).end_month == dt.date(2024, 6, 1)  # type: ignore[union-attr]
    run(factory, ledger_dir, "2024-06")
    run(factory, ledger_dir, "2024-09")

    got = paid(factory)
    expected = {(c1, f"2024-{m:02d}"): (15000 if m < 5 else 18000, 1 if m < 5 else 2, m == 2) for m in range(2, 8)}
    expected |= {(c2, f"2024-{m:02d}"): (15000 if m < 5 else 18000, 1 if m < 5 else 2, m < 4) for m in range(1, 7)}
    expected[(c3, "2024-03")] = (15000, 1, False)
    for key in [(c1, "2024-05"), (c2, "2024-05")]:  # May was paid by the June run: arrears
        expected[key] = (*expected[key][:2], True)
    expected[(c1, "2024-07")] = (18000, 2, True)  # July by the September run
    assert got == expected
    with factory() as db:
        rolls = db.execute(select(FundRoll.name, FundEntry.id).join(FundEntry, FundEntry.id == FundRoll.entry_id)
                           .where(FundRoll.name.like("%long-term%"))).all()
        assert len(rolls) == 4  # one roll per run with long-term lines (one paying book, one scheme)
        by_entry = {e: sum(x.amount_fen for x in db.scalars(select(EntitlementLine).where(
            EntitlementLine.entry_id == e))) for _, e in rolls}
        assert sum(by_entry.values()) == sum(fen for fen, _, _ in expected.values())

    report = _reconcile(factory)
    assert report.clean and report.household_months_due == report.household_months_paid == 13 + 9  # h3's reward

    # Today's facts change: c1 closed back in May (June and July were paid), a third version from June
    # (c2's June paid at the old amount), a case approved with no run since (missing), and a month paid twice.
    act(factory, tree, c1, Action.close, "2024-05-20")
    with factory() as db:
        relief.add_version(db, ALL, scheme, relief.VersionSpec(effective_from=dt.date(2024, 6, 1),
                                                               amount_rule="monthly", amount="200.00", months=12))
        db.commit()
    c4 = case(factory, tree, scheme, h3, "2024-08-08", 2)  # August–September, never run since
    with factory() as db:  # h3's certificate revoked in February: its reward differs too, and says so apart
        hh.record_event(db, ALL, h3, hh.event_from("certificate_revoked", dt.date(2024, 2, 10), None),
                        today=dt.date(2026, 11, 1))
        db.commit()
    approve(factory, tree, c4, "2024-08-09")
    with factory() as db:
        line = db.scalars(select(EntitlementLine).where(EntitlementLine.relief_case_id == c3)).one()
        values = {c.key: getattr(line, c.key) for c in EntitlementLine.__table__.columns if c.key != "id"}
        db.execute(insert(Base.metadata.tables["entitlement_lines"]),
                   [{**values, "from_month": dt.date(2024, 2, 1), "to_month": dt.date(2024, 3, 1), "months": 2,
                     "amount_fen": 30000}])  # an overlapping line: February (not due) and March again
        db.commit()
    report = _reconcile(factory)
    rows = [d for d in report.rows if d.scheme.value == "long_term"]
    reward = {(d.kind, d.household_id, d.month % 12 + 1) for d in report.rows if d.scheme.value == "only_child_reward"}
    assert reward == {("not_eligible", h3, m) for m in range(3, 10)}  # paid March–September, revoked in February
    found = sorted((d.kind, d.household_id, f"{d.month // 12}-{d.month % 12 + 1:02d}") for d in rows)
    assert found == sorted([
        ("not_eligible", h1, "2024-06"), ("not_eligible", h1, "2024-07"), ("wrong_amount", h2, "2024-06"),
        ("missing", h3, "2024-08"), ("missing", h3, "2024-09"), ("not_eligible", h3, "2024-02"),
        ("twice", h3, "2024-03")])
    assert report.counts == {"missing": 2, "twice": 1, "not_eligible": 3 + 7, "wrong_amount": 1, "reversed": 0}
    wrong = next(d for d in rows if d.kind == "wrong_amount")
    assert (wrong.due_fen, wrong.paid_fen) == (20000, 18000) and "第 3 版" in wrong.reason
    with factory() as db:
        assert db.get(ReliefCase, c1).state == State.closed.value  # type: ignore[union-attr]


def _reconcile(factory: sessionmaker[Session]) -> ent.Reconciliation:
    with factory() as db:
        return ent.reconcile(db, Scope.everything(Perm.fund_read), "2024-01", "2024-09")  # the months run
