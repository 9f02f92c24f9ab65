"""Our bookkeeping rules as pure functions over postings, shared by the writer and the Beancount plugin.

Each check returns a list of (field, message) problems so callers can report all of them at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal

from assoc_ledger.fund.chart import ALLOCATION_OUT, fund_of_account

CENT = Decimal("0.01")
Problem = tuple[str, str]


def earmark_share(amount: Decimal, basis_points: int) -> Decimal:
    """The restricted part of a receipt, rounded half-up to the fen (symmetric for reversals)."""
    return (amount * Decimal(basis_points) / Decimal(10000)).quantize(CENT, rounding=ROUND_HALF_UP)


def active_earmarks(rules: Iterable[tuple[str, str, int, dt.date]], on: dt.date) -> dict[tuple[str, str], int]:
    """(income account, fund) → basis points in force on a date: the latest rule not after it."""
    best: dict[tuple[str, str], tuple[dt.date, int]] = {}
    for account, fund, bp, since in rules:
        if since <= on and ((account, fund) not in best or best[(account, fund)][0] <= since):
            best[(account, fund)] = (since, bp)
    return {k: v[1] for k, v in best.items()}


def check_balanced(postings: Sequence[tuple[str, Decimal]]) -> list[Problem]:
    total = sum((n for _, n in postings), Decimal(0))
    if total != 0:
        return [("postings", f"借贷不平衡：合计差额 {total} 元")]
    return []


def check_earmarks(postings: Sequence[tuple[str, Decimal]], earmarks: Mapping[tuple[str, str], int]) -> list[Problem]:
    """A receipt on an earmarked income account must put exactly its share into the restricted fund."""
    expected: dict[str, Decimal] = {}
    for (income_account, fund), bp in earmarks.items():
        income = -sum((n for a, n in postings if a == income_account), Decimal(0))
        if income != 0 and bp:
            expected[fund] = expected.get(fund, Decimal(0)) + earmark_share(income, bp)
    problems: list[Problem] = []
    for fund, want in sorted(expected.items()):
        got = sum((n for a, n in postings if a.startswith("Assets:") and _fund(a) == fund), Decimal(0))
        if got != want:
            problems.append(("postings", f"限定用途资金提取不符：{fund} 应为 {want} 元，实际 {got} 元"))
    return problems


def _fund(account: str) -> str | None:
    fund = fund_of_account(account)
    return fund.value if fund else None


def check_restricted(postings: Sequence[tuple[str, Decimal]], purposes: Mapping[str, Iterable[str]]) -> list[Problem]:
    """Money leaving a restricted fund may only pay that fund's purposes (or go down a level, or undo a receipt)."""
    problems: list[Problem] = []
    for fund, allowed_accounts in purposes.items():
        allowed = set(allowed_accounts)
        net = sum((n for a, n in postings if a.startswith("Assets:") and _fund(a) == fund), Decimal(0))
        if net >= 0:
            continue
        for account, number in postings:
            if number <= 0 or account in allowed or account == ALLOCATION_OUT or account.startswith("Income:"):
                continue
            if account.startswith("Assets:") and _fund(account) == fund:
                continue
            problems.append(("category", f"限定用途资金（{fund}）不能用于 {account}"))
    return problems
