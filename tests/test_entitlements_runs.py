"""Runs on both backends: what a run pays (roll lines, one voucher per paying book and scheme with its roll),
the same month again paying nothing, exits, the frozen snapshot against a later registry edit,
reconciliation, two runs at once, and a preview that writes nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.core.bulk import insert_rows
from assoc_ledger.core.config import Settings
from assoc_ledger.core.errors import Conflict
from assoc_ledger.entitlements import services as ent
from assoc_ledger.entitlements.models import EntitlementExit, EntitlementLine, EntitlementRun
from assoc_ledger.fund import verify
from assoc_ledger.fund.models import FundBook, FundEntry, FundRoll, FundRollLine
from tests.conftest import Tree
from tests.entitlements_world import ALL, SPECIAL_PER_PARENT, World, build, event

REWARD = Decimal("20.00")  # seed 004, the built-in standard
SPECIAL = Decimal(SPECIAL_PER_PARENT)

# The months each household is due from January to June 2024 (the programmes start in January 2024),
# read off the rule's wording for each story in tests/entitlements_world.py.
EXPECTED_JAN_JUN = {
    ("A", "only_child_reward"): (1, 6, 1), ("B", "only_child_reward"): (1, 6, 1),
    ("C", "only_child_reward"): (1, 5, 1),  # 14 on 31 May
    ("D", "only_child_reward"): (1, 3, 1), ("D", "special_family"): (4, 6, 2),  # died 15 March; two parents
    ("E", "only_child_reward"): (1, 6, 1),  # moved within the county in June: still paid, once
    ("F", "only_child_reward"): (1, 4, 1),  # left the county on 1 April: April paid
    ("G", "only_child_reward"): (1, 6, 1),  # second child in July
}


@pytest.fixture
def world(session_factory: sessionmaker[Session], settings: Settings, tree: Tree) -> World:
    return build(session_factory, Path(settings.ledger_dir), tree)


def paid_months(db: Session, world: World) -> dict[tuple[str, str], list[tuple[str, int]]]:
    names = {v: k for k, v in world.households.items()}
    out: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for line in db.scalars(select(EntitlementLine).order_by(EntitlementLine.from_month)):
        month = line.from_month
        while month <= line.to_month:
            out.setdefault((names[line.household_id], line.scheme), []).append((f"{month:%Y-%m}", line.monthly_fen))
            month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return out


def expected(spec: dict[tuple[str, str], tuple[int, int, int]]) -> dict[tuple[str, str], list[tuple[str, int]]]:
    out = {}
    for key, (lo, hi, units) in spec.items():
        unit = REWARD if key[1] == "only_child_reward" else SPECIAL
        out[key] = [(f"2024-{m:02d}", int(unit * 100) * units) for m in range(lo, hi + 1)]
    return out


def run(factory: sessionmaker[Session], world: World, month: str, pay: date | None = None) -> EntitlementRun:
    with factory() as db:
        return ent.run(db, world.ledger_dir, ALL, month, pay_date=pay or date(2024, 6, 25))


def test_a_run_pays_each_due_month_once_through_one_roll_per_book_and_scheme(
        session_factory: sessionmaker[Session], world: World) -> None:
    first = run(session_factory, world, "2024-06")
    assert first.status == "done"
    with session_factory() as db:
        assert paid_months(db, world) == expected(EXPECTED_JAN_JUN)
        # One voucher per paying book and scheme, its roll's total equal to the lines paid with it.
        entries = db.scalars(select(FundEntry).where(FundEntry.idem_key.like("entitlements-run%"))).all()
        assert sorted(e.category for e in entries) == ["only_child_reward", "special_family"]
        for entry in entries:
            roll = db.scalar(select(FundRoll).where(FundRoll.entry_id == entry.id))
            assert roll is not None
            lines = db.scalars(select(EntitlementLine).where(EntitlementLine.entry_id == entry.id)).all()
            assert roll.total_fen == sum(x.amount_fen for x in lines) and roll.line_count == len(lines)
            refs = set(db.scalars(select(FundRollLine.reference).where(FundRollLine.roll_id == roll.id)))
            assert refs == {x.reference for x in lines}  # household → roll line → roll file → entry
        book = db.get(FundBook, world.county_book)
        assert book is not None
        assert verify.verify_rolls(db, world.ledger_dir, book) == []
        exits = {(x.household_id, x.scheme, f"{x.month:%Y-%m}", x.reason)
                 for x in db.scalars(select(EntitlementExit))}
        h = world.households
        assert exits == {(h["C"], "only_child_reward", "2024-05", "turned_14"),
                         (h["D"], "only_child_reward", "2024-03", "death"),
                         (h["F"], "only_child_reward", "2024-04", "moved_out")}
        # The household that moved is paid by the same payer, June under its new village.
        e_lines = db.scalars(select(EntitlementLine).where(EntitlementLine.household_id == h["E"])
                             .order_by(EntitlementLine.from_month)).all()
        assert [(f"{x.from_month:%Y-%m}", f"{x.to_month:%Y-%m}", x.book_id) for x in e_lines] == [
            ("2024-01", "2024-05", world.county_book), ("2024-06", "2024-06", world.county_book)]
        # Nothing was paid in the past through this system: every month before the run's month is arrears.
        assert all(x.arrears == (x.to_month < date(2024, 6, 1)) for x in db.scalars(select(EntitlementLine)))
        # The same months twice are refused by the database, through the run's own bulk write too.
        line = db.scalars(select(EntitlementLine).order_by(EntitlementLine.id)).first()
        assert line is not None
        with pytest.raises(IntegrityError):
            insert_rows(db, EntitlementLine.__table__, ent.LINE_KEYS,
                                 [tuple(getattr(line, k) for k in ent.LINE_KEYS)])
        db.rollback()

    again = run(session_factory, world, "2024-06")
    assert (again.status, again.lines, again.total_fen, again.exits) == ("done", 0, 0, 0)
    # Nothing changed since the first run: no household needed a second look.
    assert (again.households, again.basis["examined"]) == (0, f"households changed since run {first.id}")
    with session_factory() as db:
        assert db.scalar(select(func.count()).select_from(FundEntry).where(
            FundEntry.idem_key.like("entitlements-run%"))) == 2
        assert paid_months(db, world) == expected(EXPECTED_JAN_JUN)

    # The next month pays July only, and the second birth in July is an exit after July.
    july = run(session_factory, world, "2024-07", date(2024, 7, 25))
    with session_factory() as db:
        months = paid_months(db, world)
        assert july.arrears_months == 0
        for name in ("A", "B", "E", "G"):
            assert months[(name, "only_child_reward")][-1] == ("2024-07", 2000)
        assert months[("D", "special_family")][-1] == ("2024-07", int(SPECIAL * 200))
        assert ("C", "only_child_reward") in months and months[("C", "only_child_reward")][-1][0] == "2024-05"
        assert db.scalar(select(EntitlementExit.reason).where(
            EntitlementExit.household_id == world.households["G"])) == "another_child"
        report = ent.reconcile(db, ALL, "2024-01", "2024-07")
    assert report.clean, report.rows[:5]
    assert report.household_months_due == report.household_months_paid == sum(
        len(v) for v in months.values())


def test_a_registry_edit_after_a_run_leaves_the_run_alone_and_shows_in_reconciliation(
        session_factory: sessionmaker[Session], world: World) -> None:
    run(session_factory, world, "2024-06")
    with session_factory() as db:
        before = [(x.id, x.household_id, x.from_month, x.to_month, x.amount_fen, x.child_birth, x.qualified_on)
                  for x in db.scalars(select(EntitlementLine).order_by(EntitlementLine.id))]
        rolls_before = [(r.sha256, r.total_fen) for r in db.scalars(select(FundRoll).order_by(FundRoll.id))]
        # Recorded late: A's second child was born on 10 March, so April–June were not due after all.
        from assoc_ledger.people import services as people
        from tests import factories
        second = people.create_person(db, ALL, name="A次子", resident_id=factories.resident_id(date(2024, 3, 10)),
                                      org_id=world_village(db, world)).id
        event(db, world.households["A"], "birth", date(2024, 3, 10), second, relation="子女")
        db.commit()
    with session_factory() as db:
        after = [(x.id, x.household_id, x.from_month, x.to_month, x.amount_fen, x.child_birth, x.qualified_on)
                 for x in db.scalars(select(EntitlementLine).order_by(EntitlementLine.id))]
        assert after == before
        assert [(r.sha256, r.total_fen) for r in db.scalars(select(FundRoll).order_by(FundRoll.id))] == rolls_before
        report = ent.reconcile(db, ALL, "2024-01", "2024-06")
    assert report.counts == {"missing": 0, "twice": 0, "not_eligible": 3, "wrong_amount": 0, "reversed": 0}
    assert {(d.household_id, f"{d.month // 12}-{d.month % 12 + 1:02d}") for d in report.rows} == {
        (world.households["A"], m) for m in ("2024-04", "2024-05", "2024-06")}
    assert all("子女出生" in d.reason for d in report.rows)
    # The same month again looks at A alone (its facts changed since the run) and pays nothing;
    # the next month pays nothing more to A.
    repeat = run(session_factory, world, "2024-06")
    assert (repeat.households, repeat.lines) == (1, 0)
    run(session_factory, world, "2024-07", date(2024, 7, 25))
    with session_factory() as db:
        assert paid_months(db, world)[("A", "only_child_reward")][-1][0] == "2024-06"


def world_village(db: Session, world: World) -> int:
    from assoc_ledger.households.models import Household

    h = db.get(Household, world.households["A"])
    assert h is not None
    return h.org_id


def test_preview_writes_nothing_and_says_what_the_run_will_pay(session_factory: sessionmaker[Session],
                                                                world: World) -> None:
    with session_factory() as db:
        counts = [db.scalar(select(func.count()).select_from(t)) for t in (EntitlementRun, EntitlementLine,
                                                                           EntitlementExit, FundEntry)]
        summary = ent.preview(db, ALL, "2024-06")
        assert [db.scalar(select(func.count()).select_from(t)) for t in (EntitlementRun, EntitlementLine,
                                                                         EntitlementExit, FundEntry)] == counts
    done = run(session_factory, world, "2024-06")
    assert (summary["lines"], summary["months"], Decimal(summary["total"]), summary["exit_count"]) == (
        done.lines, done.months, Decimal(done.total_fen) / 100, done.exits)
    assert summary["arrears_months"] == done.arrears_months
    assert summary["new_entrants"] == len(EXPECTED_JAN_JUN)
    assert sum(Decimal(v["total"]) for v in summary["by_village"]) == Decimal(summary["total"])


def test_two_runs_at_once_one_is_refused(session_factory: sessionmaker[Session], world: World) -> None:
    with ent.run_lock(world.ledger_dir), session_factory() as db, pytest.raises(Conflict) as refused:
        ent.run(db, world.ledger_dir, ALL, "2024-06", pay_date=date(2024, 6, 25))
    assert refused.value.status_code == 409
    with session_factory() as db:
        assert db.scalar(select(func.count()).select_from(EntitlementLine)) == 0


def test_a_changed_person_record_is_read_again(session_factory: sessionmaker[Session], world: World) -> None:
    run(session_factory, world, "2024-06")
    from assoc_ledger.households.models import HouseholdMember
    from assoc_ledger.people import services as people

    with session_factory() as db:
        head = db.scalar(select(HouseholdMember.person_id).where(
            HouseholdMember.household_id == world.households["A"], HouseholdMember.relation == "户主"))
        assert head is not None
        people.update_person(db, ALL, head, name="A父更名")
        db.commit()
    run(session_factory, world, "2024-07", date(2024, 7, 25))
    with session_factory() as db:
        payees = db.scalars(select(EntitlementLine.payee).where(EntitlementLine.household_id == world.households["A"])
                            .order_by(EntitlementLine.from_month)).all()
    assert payees[0] == "A父" and payees[-1] == "A父更名"


def test_a_reversed_roll_voucher_unpays_its_months_until_the_next_run_pays_them_again(
        session_factory: sessionmaker[Session], world: World) -> None:
    from assoc_ledger.fund import service as fund_service

    run(session_factory, world, "2024-06")
    with session_factory() as db:
        assert ent.reconcile(db, ALL, "2024-01", "2024-06").clean
        entry_id, seq, book_id = db.execute(
            select(FundEntry.id, FundEntry.seq, FundEntry.book_id).join(FundRoll, FundRoll.entry_id == FundEntry.id)
            .join(EntitlementLine, EntitlementLine.entry_id == FundEntry.id)
            .where(EntitlementLine.scheme == "special_family").limit(1)).tuples().one()
        lines = db.scalars(select(EntitlementLine).where(EntitlementLine.entry_id == entry_id)).all()
        taken_back = {(x.household_id, m) for x in lines for m in range(x.from_month.month, x.to_month.month + 1)}
        amount = sum(x.amount_fen for x in lines)
    with session_factory() as db:  # the books take the roll back (e.g. the bank returned it)
        reversal = fund_service.reverse(db, world.ledger_dir, ALL, book_id, seq, key="rev-roll",
                                        date=date(2024, 6, 28), reason="银行退回", voucher="冲-1")
    with session_factory() as db:
        marked = db.scalars(select(EntitlementLine.reversed_by_entry_id)
                            .where(EntitlementLine.entry_id == entry_id)).all()
        assert len(marked) == len(lines) and set(marked) == {reversal[0].entry_id}
        report = ent.reconcile(db, ALL, "2024-01", "2024-06")
    assert report.counts == {"missing": 0, "twice": 0, "not_eligible": 0, "wrong_amount": 0,
                             "reversed": len(taken_back)}
    assert {(d.household_id, d.month % 12 + 1) for d in report.rows} == taken_back
    assert all(f"第 {seq} 号" in d.reason and "冲销" in d.reason for d in report.rows)

    # The same month again pays exactly those months once more (arrears), and the proof is back at zero.
    again = run(session_factory, world, "2024-06", date(2024, 6, 29))
    assert (again.months, again.total_fen) == (len(taken_back), amount)
    with session_factory() as db:
        assert ent.reconcile(db, ALL, "2024-01", "2024-06").clean
        assert not any(ent.plan(db, ALL, ent.parse_month_of("2024-06")).lines.values())  # nothing more is due
        book = db.get(FundBook, book_id)
        assert book is not None
        assert verify.verify_rolls(db, world.ledger_dir, book) == []  # the books hold the reversal and the new roll
    assert run(session_factory, world, "2024-06", date(2024, 6, 30)).lines == 0
