"""Dated rules of the fund as typed values: the earmark shares and the aid standards, and where each comes from.

Every figure a newcomer looks for is here: the 10 % / 20 % earmarks of the 社会抚养费 and 中央转移支付
shares, and the 20 yuan a month 独生子女父母奖励. A book adopts the earmark defaults when it opens and
writes them to ``accounts.beancount``, which is how the Beancount plugin (no database) reads the same
figures. An aid standard applies from a date on to an organisation's subtree: for an organisation on a
date, the standard set by its nearest ancestor (itself included) wins, and among that ancestor's
standards the latest one not after the date; with none set anywhere, the built-in default applies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from assoc_ledger.auth import audit
from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.errors import Conflict, Invalid, NotFound, Problems
from assoc_ledger.core.money import from_fen, to_fen
from assoc_ledger.fund.chart import SOURCES, Category, Fund, Source
from assoc_ledger.fund.commands import amount_of, choice_of, date_of, text_of
from assoc_ledger.fund.models import FundAidStandard
from assoc_ledger.orgs.models import Organisation

SINCE_ALWAYS = dt.date.min
"""The start of a built-in standard: the seeds give none, so it holds for every date a book can hold."""


# --- earmarks (限定用途提取) ---------------------------------------------------------------------


@dataclass(frozen=True)
class EarmarkStandard:
    """``share`` of every receipt from ``source`` belongs to the restricted ``fund``."""

    source: Source
    fund: Fund
    share: Decimal
    basis: str

    @property
    def income_account(self) -> str:
        return SOURCES[self.source].account

    @property
    def basis_points(self) -> int:
        return int(self.share * 10000)


DEFAULT_EARMARKS: tuple[EarmarkStandard, ...] = (
    EarmarkStandard(Source.maintenance_fee, Fund.reward_assistance, Decimal("0.10"),
                    "seed 000: “全乡年度内征收的社会抚养费的10%…用于奖励扶助”"),
    EarmarkStandard(Source.central_transfer, Fund.reward_assistance, Decimal("0.20"),
                    "seed 000: “中央转移支付的20%用于奖励扶助”"),
)


# --- aid standards (救助标准) --------------------------------------------------------------------


class AidScheme(StrEnum):
    only_child_reward = "only_child_reward"
    special_family = "special_family"  # no built-in amount: each county sets its own (entitlements)


@dataclass(frozen=True)
class SchemeSpec:
    zh: str
    unit: str
    category: Category


SCHEMES: dict[AidScheme, SchemeSpec] = {
    AidScheme.only_child_reward: SchemeSpec("独生子女父母奖励", "元/户·月", Category.only_child_reward),
    AidScheme.special_family: SchemeSpec("特殊家庭扶助", "元/人·月", Category.special_family),
}


@dataclass(frozen=True)
class AidStandard:
    """An amount in yuan per the scheme's unit, from a date on, for an organisation's subtree (None: everywhere)."""

    scheme: AidScheme
    amount: Decimal
    effective_from: dt.date
    org_id: int | None
    basis: str | None


DEFAULT_AID_STANDARDS: tuple[AidStandard, ...] = (
    AidStandard(AidScheme.only_child_reward, Decimal("20.00"), SINCE_ALWAYS, None,
                "seed 004: “从其领证之日起至该独生子女满14周岁止，每月发给独生子女父母奖励金20元”"),
)


def in_force(standards: Iterable[AidStandard], ancestors: list[int], on: dt.date) -> AidStandard | None:
    """The standard that applies on a date below ``ancestors`` (root first): nearest setter, then latest date."""
    depth = {org_id: i for i, org_id in enumerate(ancestors)}
    best: tuple[int, dt.date, AidStandard] | None = None
    for standard in standards:
        if standard.effective_from > on:
            continue
        level = -1 if standard.org_id is None else depth.get(standard.org_id)
        if level is None:
            continue
        if best is None or (level, standard.effective_from) > best[:2]:
            best = (level, standard.effective_from, standard)
    return best[2] if best else None


def _ancestors(org: Organisation) -> list[int]:
    return [int(part) for part in org.path.strip("/").split("/") if part]


def _org(session: Session, org: Organisation | int, scope: Scope | None = None) -> Organisation:
    found = org if isinstance(org, Organisation) else session.get(Organisation, org)
    if found is None or (scope is not None and not scope.contains(found.path)):
        raise NotFound("组织不存在", field="org_id")
    return found


def _value(row: FundAidStandard) -> AidStandard:
    return AidStandard(AidScheme(row.scheme), from_fen(row.amount_fen), row.effective_from, row.org_id, row.basis)


def aid_standard(session: Session, scheme: AidScheme | str, org: Organisation | int, on: dt.date) -> AidStandard:
    """The standard of ``scheme`` for an organisation (its own or inherited from above) on a date."""
    p = Problems()
    code = choice_of(p, AidScheme, scheme, "scheme", "救助项目")
    p.raise_if_any(Invalid)
    target = _org(session, org)
    ancestors = _ancestors(target)
    rows = session.scalars(select(FundAidStandard).where(FundAidStandard.scheme == code.value,
                                                         FundAidStandard.org_id.in_(ancestors),
                                                         FundAidStandard.effective_from <= on)).all()
    candidates = [*DEFAULT_AID_STANDARDS, *(_value(r) for r in rows)]
    found = in_force([s for s in candidates if s.scheme is code], ancestors, on)
    if found is None:
        raise NotFound(f"{on} 没有适用的{SCHEMES[code].zh}标准", field="on")
    return found


def aid_standards(session: Session, org: Organisation | int) -> list[AidStandard]:
    """The standards an organisation has set itself, oldest first."""
    target = _org(session, org)
    rows = session.scalars(select(FundAidStandard).where(FundAidStandard.org_id == target.id)
                           .order_by(FundAidStandard.scheme, FundAidStandard.effective_from)).all()
    return [_value(r) for r in rows]


def set_aid_standard(session: Session, scope: Scope, org_id: int, *, scheme: object, amount: object,
                     effective_from: object, basis: str | None = None) -> tuple[AidStandard, bool]:
    """An organisation sets a standard for its subtree from a date on; returns (standard, created).

    The same standard twice is one standard; another amount for the same organisation and date is a
    conflict (a standard in force is never edited, a new one supersedes it from a later date).
    """
    org = _org(session, org_id, scope)
    p = Problems()
    code = choice_of(p, AidScheme, scheme, "scheme", "救助项目")
    value = amount_of(p, amount)
    since = date_of(p, effective_from, "effective_from")
    basis_ = text_of(p, basis, "basis", "文件依据", required=False, max_len=300)
    p.raise_if_any(Invalid)
    same = session.scalar(select(FundAidStandard).where(FundAidStandard.scheme == code.value,
                                                        FundAidStandard.org_id == org.id,
                                                        FundAidStandard.effective_from == since))
    if same is not None:
        if same.amount_fen != to_fen(value):
            raise Conflict(f"{org.name} 自 {since} 起已有{SCHEMES[code].zh}标准 {from_fen(same.amount_fen)} 元，"
                           "标准一经设定不能修改；请另选生效日期", field="effective_from")
        return _value(same), False
    row = FundAidStandard(scheme=code.value, org_id=org.id, amount_fen=to_fen(value), effective_from=since,
                          basis=basis_)
    session.add(row)
    session.flush()
    audit.note(session, "fund.aid_standard", "fund_aid_standard", str(row.id), org.path,
               after={"scheme": code.value, "amount": str(value), "effective_from": since.isoformat()})
    session.commit()
    return _value(row), True
