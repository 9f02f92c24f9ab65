"""The entitlement rule as a table: each row a household's history and the months and exits it must give."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest

from assoc_ledger.entitlements import rules
from assoc_ledger.entitlements.rules import ExitReason, Scheme, month_text, parse_month
from assoc_ledger.households.rules import Event, EventKind

HEAD, SPOUSE, CHILD, SECOND = 1, 2, 3, 4
VILLAGE, OTHER_TOWNSHIP_VILLAGE = 11, 22
BIRTHS_OF_PARENTS = {HEAD: dt.date(1985, 3, 2), SPOUSE: dt.date(1987, 8, 9)}


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


@dataclass
class Case:
    name: str
    child_born: str
    certificate_on: str
    later: list[Event] = field(default_factory=list)
    # (scheme, first month, last month, units, org)
    dues: list[tuple[Scheme, str, str, int, int]] = field(default_factory=list)
    exits: list[tuple[Scheme, str, ExitReason]] = field(default_factory=list)
    window: tuple[str, str] = ("2010-01", "2035-12")
    second_born: str = "2024-07-15"


def history(case: Case) -> list[Event]:
    registered = Event(EventKind.registered, d(case.child_born), data={
        "org_id": VILLAGE, "members": [{"person_id": HEAD, "relation": "户主"},
                                       {"person_id": SPOUSE, "relation": "配偶"},
                                       {"person_id": CHILD, "relation": "子女"}]}, id=1)
    certificate = Event(EventKind.certificate_issued, d(case.certificate_on),
                        data={"certificate_no": "GRZ-001", "child_id": CHILD}, id=2)
    return [registered, certificate, *case.later]


R, S = Scheme.only_child_reward, Scheme.special_family
CASES = [
    Case("certificate issued on the last day of a month", "2015-06-10", "2024-01-31",
         dues=[(R, "2024-01", "2029-06", 1, VILLAGE)], exits=[(R, "2029-06", ExitReason.turned_14)]),
    Case("child born 29 February turns 14 on 1 March of a common year", "2012-02-29", "2015-03-01",
         dues=[(R, "2015-03", "2026-03", 1, VILLAGE)], exits=[(R, "2026-03", ExitReason.turned_14)]),
    Case("child born 29 February 2008 turns 14 on 1 March 2022 (no 29 February in a fourteenth year)",
         "2008-02-29", "2010-05-04",
         dues=[(R, "2010-05", "2022-03", 1, VILLAGE)], exits=[(R, "2022-03", ExitReason.turned_14)]),
    Case("14th birthday on the 1st of a month", "2011-05-01", "2012-01-15",
         dues=[(R, "2012-01", "2025-05", 1, VILLAGE)], exits=[(R, "2025-05", ExitReason.turned_14)]),
    Case("14th birthday on the last day of a month", "2011-05-31", "2012-01-15",
         dues=[(R, "2012-01", "2025-05", 1, VILLAGE)], exits=[(R, "2025-05", ExitReason.turned_14)]),
    Case("second child born mid-month: paid through that month, not after", "2018-04-02", "2019-01-10",
         later=[Event(EventKind.birth, d("2024-07-15"), SECOND, {"relation": "子女"}, id=3)],
         dues=[(R, "2019-01", "2024-07", 1, VILLAGE)], exits=[(R, "2024-07", ExitReason.another_child)]),
    Case("second child born on the 1st: that month still paid", "2018-04-02", "2019-01-10",
         later=[Event(EventKind.birth, d("2024-07-01"), SECOND, {"relation": "子女"}, id=3)],
         dues=[(R, "2019-01", "2024-07", 1, VILLAGE)], exits=[(R, "2024-07", ExitReason.another_child)],
         second_born="2024-07-01"),
    Case("only child dies: reward through that month, special family from the next, per parent", "2016-09-09",
         "2017-02-03", later=[Event(EventKind.death, d("2024-07-15"), CHILD, id=3)],
         dues=[(R, "2017-02", "2024-07", 1, VILLAGE), (S, "2024-08", "2035-12", 2, VILLAGE)],
         exits=[(R, "2024-07", ExitReason.death)]),
    Case("special family: a parent dies, one share from the next month; the last one ends it", "2016-09-09",
         "2017-02-03", later=[Event(EventKind.death, d("2020-01-31"), CHILD, id=3),
                              Event(EventKind.death, d("2022-06-30"), SPOUSE, id=4),
                              Event(EventKind.death, d("2023-03-01"), HEAD, id=5)],
         dues=[(R, "2017-02", "2020-01", 1, VILLAGE), (S, "2020-02", "2022-06", 2, VILLAGE),
               (S, "2022-07", "2023-03", 1, VILLAGE)],
         exits=[(R, "2020-01", ExitReason.death), (S, "2023-03", ExitReason.death)]),
    Case("move to another township: paid on without a gap, by the new home from the move month", "2018-01-20",
         "2018-06-06", later=[Event(EventKind.move_out, d("2024-07-15"),
                                    data={"to_org_id": OTHER_TOWNSHIP_VILLAGE}, id=3)],
         dues=[(R, "2018-06", "2024-06", 1, VILLAGE), (R, "2024-07", "2032-01", 1, OTHER_TOWNSHIP_VILLAGE)],
         exits=[(R, "2032-01", ExitReason.turned_14)]),
    Case("move out of the county on the 1st: that month paid, none after", "2018-01-20", "2018-06-06",
         later=[Event(EventKind.move_out, d("2024-07-01"), data={"out_of_county": True}, id=3)],
         dues=[(R, "2018-06", "2024-07", 1, VILLAGE)], exits=[(R, "2024-07", ExitReason.moved_out)]),
    Case("certificate registered two years late: every month since issue is due", "2019-11-11", "2022-03-10",
         dues=[(R, "2022-03", "2026-05", 1, VILLAGE)], window=("2020-01", "2026-05")),
    Case("revoked certificate: paid through the month of revocation", "2018-01-20", "2019-02-14",
         later=[Event(EventKind.certificate_revoked, d("2024-09-20"), id=3)],
         dues=[(R, "2019-02", "2024-09", 1, VILLAGE)], exits=[(R, "2024-09", ExitReason.revoked)]),
    Case("a certificate date entered wrongly and corrected: the corrected date counts, the voided one not",
         "2018-01-20", "2018-06-06",
         later=[Event(EventKind.correction, d("2018-06-06"), data={"corrects": 2, "reason": "发证日期录错"}, id=3),
                Event(EventKind.certificate_issued, d("2020-09-30"),
                      data={"certificate_no": "GRZ-001", "child_id": CHILD}, id=4)],
         dues=[(R, "2020-09", "2032-01", 1, VILLAGE)], exits=[(R, "2032-01", ExitReason.turned_14)]),
    Case("window: only the months asked for; an exit after the window is not yet known", "2011-05-31", "2012-01-15",
         dues=[(R, "2024-01", "2025-03", 1, VILLAGE)], window=("2024-01", "2025-03")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rule(case: Case) -> None:
    births = {**BIRTHS_OF_PARENTS, CHILD: d(case.child_born), SECOND: d(case.second_born)}
    first, last = (parse_month(m) for m in case.window)
    dues, exits = rules.household_dues(history(case), births, first, last)
    assert [(x.scheme, month_text(x.first), month_text(x.last), x.units, x.org_id) for x in dues] == case.dues
    assert [(x.scheme, month_text(x.month), x.reason) for x in exits] == case.exits


def test_late_certificate_months_before_the_run_are_arrears() -> None:
    case = CASES[11]
    births = {**BIRTHS_OF_PARENTS, CHILD: d(case.child_born)}
    dues, _ = rules.household_dues(history(case), births, parse_month("2020-01"), parse_month("2024-05"))
    paid = [rules.PaidRange(Scheme.only_child_reward, parse_month("2024-04"), parse_month("2024-04"), 2000)]
    plan = rules.unpaid(dues, paid, run_month=parse_month("2024-05"))
    assert [(month_text(p.first), month_text(p.last), p.arrears) for p in plan] == [
        ("2022-03", "2024-03", True), ("2024-05", "2024-05", False)]


@pytest.mark.parametrize(("born", "fourteen"), [("2012-02-29", "2026-03-01"), ("2008-02-29", "2022-03-01"),
                                                ("2011-05-01", "2025-05-01"), ("2011-12-31", "2025-12-31")])
def test_turns_14(born: str, fourteen: str) -> None:
    assert rules.turns_14(d(born)) == d(fourteen)


# --- 长效帮扶 (long_term): a relief case's months, each priced by the scheme version in force ---------------

V1 = rules.MonthlyVersion(101, 1, parse_month("2025-01"), 15000, d("2025-01-01"))
V2_MID_MONTH = rules.MonthlyVersion(102, 2, parse_month("2025-08"), 18000, d("2025-07-15"))  # in force from August
V3 = rules.MonthlyVersion(103, 3, parse_month("2026-01"), 20000, d("2026-01-01"))


@dataclass
class LongTerm:
    name: str
    start: str
    end: str  # planned end, or the month the case was closed
    version: int  # the version the case was registered under
    window: tuple[str, str]  # the programme's first month .. the run's month
    # (first, last, version id): the months paid and the version that prices them
    months: list[tuple[str, str, int]]


LONG_TERM = [
    LongTerm("start = end: one month", "2025-03", "2025-03", 1, ("2024-01", "2025-12"), [("2025-03", "2025-03", 101)]),
    LongTerm("ended mid-way: not after the end", "2025-02", "2025-05", 1, ("2024-01", "2025-12"),
             [("2025-02", "2025-05", 101)]),
    LongTerm("closed before its first month: nothing", "2025-06", "2025-05", 1, ("2024-01", "2025-12"), []),
    LongTerm("the run's month bounds it", "2025-02", "2026-01", 1, ("2024-01", "2025-04"),
             [("2025-02", "2025-04", 101)]),
    LongTerm("the programme's first month bounds it", "2024-11", "2025-04", 1, ("2025-02", "2025-12"),
             [("2025-02", "2025-04", 101)]),
    LongTerm("a new version mid-month prices from the next month", "2025-06", "2025-10", 1, ("2024-01", "2025-12"),
             [("2025-06", "2025-07", 101), ("2025-08", "2025-10", 102)]),
    LongTerm("two later versions", "2025-07", "2026-03", 1, ("2024-01", "2026-12"),
             [("2025-07", "2025-07", 101), ("2025-08", "2025-12", 102), ("2026-01", "2026-03", 103)]),
    LongTerm("a case under a later version is never priced by an earlier one", "2025-09", "2026-02", 2,
             ("2024-01", "2026-12"), [("2025-09", "2025-12", 102), ("2026-01", "2026-02", 103)]),
]


@pytest.mark.parametrize("case", LONG_TERM, ids=[c.name for c in LONG_TERM])
def test_long_term_months(case: LongTerm) -> None:
    got = rules.long_term_months(parse_month(case.start), parse_month(case.end), case.version, [V1, V2_MID_MONTH, V3],
                                 parse_month(case.window[0]), parse_month(case.window[1]))
    assert [(month_text(a), month_text(b), v.version_id) for a, b, v in got] == case.months


def test_long_term_approved_late_pays_the_earlier_months_once_as_arrears() -> None:
    """A case from March approved in June: the June run pays March–May as arrears and June; July pays July."""
    start, end = parse_month("2025-03"), parse_month("2025-08")

    def owed(run: str, paid: list[rules.PaidRange]) -> list[tuple[str, str, bool]]:
        out = []
        for a, b, v in rules.long_term_months(start, end, 1, [V1], parse_month("2024-01"), parse_month(run)):
            due = rules.DueRange(Scheme.long_term, a, b, 1, VILLAGE, d("2025-03-05"), case_id=7,
                                 version_id=v.version_id)
            out += [(month_text(o.first), month_text(o.last), o.arrears)
                    for o in rules.unpaid([due], paid, parse_month(run))]
        return out

    assert owed("2025-06", []) == [("2025-03", "2025-05", True), ("2025-06", "2025-06", False)]
    paid = [rules.PaidRange(Scheme.long_term, parse_month("2025-03"), parse_month("2025-06"), 15000)]
    assert owed("2025-06", paid) == []  # the same month again: nothing
    assert owed("2025-07", paid) == [("2025-07", "2025-07", False)]
    assert owed("2025-12", [*paid, rules.PaidRange(Scheme.long_term, parse_month("2025-07"), parse_month("2025-07"),
                                                   15000)]) == [("2025-08", "2025-08", True)]  # not after the end
    # Months paid under another scheme do not count.
    other = [rules.PaidRange(Scheme.only_child_reward, parse_month("2025-03"), parse_month("2025-06"), 2000)]
    assert owed("2025-06", other)[0] == ("2025-03", "2025-05", True)
