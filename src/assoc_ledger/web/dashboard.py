"""首页 (the dashboard) for the user's scope: fund balances with their restricted parts, the year's fund-raising
against its target, pairings without a visit this month, and slots for the areas still arriving.

Only reads, through each area's services, each with the scope of its own permission: a user who may not
read the books simply sees no fund card.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from assoc_ledger.auth.scope import Perm, Principal, Scope
from assoc_ledger.fund import service as fund_service
from assoc_ledger.fund.chart import ALLOCATION_IN
from assoc_ledger.households import visits
from assoc_ledger.orgs.models import Organisation, OrgKind
from assoc_ledger.reports import queries

# Seed 003 (县人口和计划生育公益金管理使用试行办法): “县级协会‘计划生育公益金’每年投入不低于20万元，
# 乡镇(街道)每年投入不低于5万元”.
YEARLY_TARGET: dict[str, Decimal] = {
    OrgKind.county.value: Decimal("200000.00"),
    OrgKind.town.value: Decimal("50000.00"),
    OrgKind.township.value: Decimal("50000.00"),
    OrgKind.street.value: Decimal("50000.00"),
}


def scope_for(principal: Principal, perm: Perm) -> Scope:
    return Scope(perm=perm, paths=tuple(principal.paths_for(perm)), principal=principal)


@dataclass(frozen=True)
class BookCard:
    book_id: int
    org_name: str
    funds: list[tuple[str, str, Decimal]]  # (fund, 中文, amount)
    total: Decimal
    raised: Decimal  # the year's receipts from the association's own sources (not the upper level's allocation)
    target: Decimal | None

    @property
    def percent(self) -> int:
        if not self.target:
            return 0
        return min(int(self.raised * 100 / self.target), 100)

    @property
    def restricted(self) -> Decimal:
        return sum((a for f, _, a in self.funds if f != "General"), Decimal("0.00"))


def raised_in(session: Session, book_id: int, year: int) -> Decimal:
    """Receipts of the year (income accounts carry credits, hence the sign), upper-level allocations left out."""
    end, before = dt.date(year, 12, 31), dt.date(year - 1, 12, 31)
    income = (fund_service.balance_of(session, book_id, "Income", end)
              - fund_service.balance_of(session, book_id, "Income", before))
    allocated = (fund_service.balance_of(session, book_id, ALLOCATION_IN, end)
                 - fund_service.balance_of(session, book_id, ALLOCATION_IN, before))
    return -(income - allocated)


def book_cards(session: Session, principal: Principal, year: int) -> list[BookCard] | None:
    """None when the user may not read the books at all."""
    if not principal.can(Perm.fund_read):
        return None
    cards = []
    for book, org in fund_service.list_books(session, scope_for(principal, Perm.fund_read)):
        assert isinstance(org, Organisation)
        funds = fund_service.fund_balances(session, book.id)
        cards.append(BookCard(book.id, org.name, funds, sum((a for _, _, a in funds), Decimal("0.00")),
                              raised_in(session, book.id, year), YEARLY_TARGET.get(org.kind)))
    return cards


def waiting_cases(session: Session, principal: Principal) -> tuple[list[Any], list[Any]] | None:
    """(cases whose next step is mine, emergency cases paid and not reviewed in time), or None without access."""
    from assoc_ledger.relief import services as relief

    if not principal.can(Perm.household_read):
        return None
    scope = scope_for(principal, Perm.household_read)
    return (relief.list_cases(session, scope, relief.CaseFilter(waiting_for_me=True, limit=20)),
            relief.list_cases(session, scope, relief.CaseFilter(overdue_review=True, limit=20)))


def last_run(session: Session, principal: Principal) -> dict[str, Any] | None:
    """The latest entitlement run in scope and whether its books agree with it."""
    from assoc_ledger.entitlements import services as entitlements

    if not principal.can(Perm.fund_read):
        return None
    runs = entitlements.list_runs(session, scope_for(principal, Perm.fund_read), limit=1)
    if not runs:
        return None
    run = runs[0]
    org = session.get(Organisation, run.org_id)
    out = entitlements.run_out(run, org.name if org else None)
    # Its books agree with it (batch = lines = vouchers = rolls): the reports' check, cheap enough for a home
    # page; the full reconciliation against today's registry is one click away.
    rows = queries.run_report(session, scope_for(principal, Perm.fund_read), "entitlement-runs", run.org_id,
                              run.month, run.month).rows
    return {**out, "agreed": rows[-1].cells[-1] == "一致" if rows else None}


def unvisited_pairings(session: Session, principal: Principal, month: str) -> list[visits.Unvisited] | None:
    if not principal.can(Perm.household_read):
        return None
    return visits.unvisited(session, scope_for(principal, Perm.household_read), month)
