"""The chart of accounts of a fund book, its relief categories, income sources and restricted funds.

Account names are plain Beancount (ASCII); the Chinese names travel as ``name`` metadata on the
``open`` directives so Fava and our reports show them. Restricted money (限定用途) lives in its own
asset sub-accounts (``Assets:Bank:Restricted:JiangLiFuZhu``), so an auditor sees restricted and
unrestricted balances side by side in Fava's balance sheet without any plugin.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Fund(StrEnum):
    general = "General"  # 非限定（一般）资金
    reward_assistance = "JiangLiFuZhu"  # 限定用途：奖励扶助


FUND_ZH = {Fund.general: "非限定资金", Fund.reward_assistance: "限定用途·奖励扶助"}


class Via(StrEnum):
    bank = "Bank"
    cash = "Cash"


VIA_ZH = {Via.bank: "银行存款", Via.cash: "库存现金"}


class Source(StrEnum):
    budget = "budget"
    donation_person = "donation_person"
    donation_company = "donation_company"
    maintenance_fee = "maintenance_fee"
    central_transfer = "central_transfer"
    interest = "interest"
    other = "other"


@dataclass(frozen=True)
class IncomeSource:
    account: str
    zh: str


SOURCES: dict[Source, IncomeSource] = {
    Source.budget: IncomeSource("Income:Budget", "财政拨款"),
    Source.donation_person: IncomeSource("Income:Donation:Person", "社会捐赠（个人）"),
    Source.donation_company: IncomeSource("Income:Donation:Company", "社会捐赠（企业）"),
    Source.maintenance_fee: IncomeSource("Income:MaintenanceFeeShare", "社会抚养费分成"),
    Source.central_transfer: IncomeSource("Income:CentralTransferShare", "中央转移支付分成"),
    Source.interest: IncomeSource("Income:Interest", "利息收入"),
    Source.other: IncomeSource("Income:Other", "其他收入"),
}


class Category(StrEnum):
    """帮扶救助类别 plus the two programme lines that are not relief."""

    general = "general"
    key = "key"
    emergency = "emergency"
    long_term = "long_term"
    visits = "visits"
    insurance = "insurance"
    student = "student"
    only_child_reward = "only_child_reward"
    special_family = "special_family"
    production = "production"
    publicity = "publicity"
    administration = "administration"


@dataclass(frozen=True)
class ExpenseLine:
    account: str
    zh: str
    relief: bool


CATEGORIES: dict[Category, ExpenseLine] = {
    Category.general: ExpenseLine("Expenses:Relief:General", "一般帮扶", True),
    Category.key: ExpenseLine("Expenses:Relief:Key", "重点救助", True),
    Category.emergency: ExpenseLine("Expenses:Relief:Emergency", "应急救助", True),
    Category.long_term: ExpenseLine("Expenses:Relief:LongTerm", "长效帮扶", True),
    Category.visits: ExpenseLine("Expenses:Relief:Visits", "走访慰问", True),
    Category.insurance: ExpenseLine("Expenses:Relief:Insurance", "救助式保险", True),
    Category.student: ExpenseLine("Expenses:Relief:StudentGrant", "特困独生子女大学生救助", True),
    Category.only_child_reward: ExpenseLine("Expenses:Relief:OnlyChildReward", "独生子女父母奖励", True),
    Category.special_family: ExpenseLine("Expenses:Relief:SpecialFamily", "独生子女伤残/死亡家庭扶助", True),
    Category.production: ExpenseLine("Expenses:Relief:Production", "生产帮扶（少生快富）", True),
    Category.publicity: ExpenseLine("Expenses:Publicity", "宣传", False),
    Category.administration: ExpenseLine("Expenses:Administration", "管理费用", False),
}

ALLOCATION_OUT = "Expenses:Allocation:ToLower"  # 拨付下级公益金
ALLOCATION_IN = "Income:Allocation:FromUpper"  # 上级拨入公益金

# What each restricted fund may pay for (限定用途): reward-and-assistance money pays only
# the only-child parent reward and special-family support, or is passed down to a lower level.
RESTRICTED_PURPOSES: dict[Fund, frozenset[str]] = {
    Fund.reward_assistance: frozenset({CATEGORIES[Category.only_child_reward].account,
                                       CATEGORIES[Category.special_family].account}),
}

def asset_account(via: Via, fund: Fund) -> str:
    if fund is Fund.general:
        return f"Assets:{via.value}:General"
    return f"Assets:{via.value}:Restricted:{fund.value}"


def fund_of_account(account: str) -> Fund | None:
    """The fund an asset account holds, or None for a non-asset account."""
    parts = account.split(":")
    if parts[0] != "Assets" or len(parts) < 3:
        return None
    if parts[2] == "General":
        return Fund.general
    if parts[2] == "Restricted" and len(parts) == 4:
        try:
            return Fund(parts[3])
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class AccountSpec:
    name: str
    zh: str
    kind: str  # asset | income | expense | equity
    fund: str | None = None
    category: str | None = None


def chart_of_accounts() -> list[AccountSpec]:
    """Every account a fund book opens, in the order they are written to ``accounts.beancount``."""
    specs: list[AccountSpec] = []
    for via in Via:
        for fund in Fund:
            specs.append(AccountSpec(asset_account(via, fund), f"{VIA_ZH[via]}·{FUND_ZH[fund]}", "asset",
                                     fund=fund.value))
    for fund in Fund:
        suffix = "General" if fund is Fund.general else f"Restricted:{fund.value}"
        specs.append(AccountSpec(f"Equity:Fund:{suffix}", f"基金余额·{FUND_ZH[fund]}", "equity", fund=fund.value))
    specs.append(AccountSpec("Equity:Opening", "期初余额", "equity"))
    for source in Source:
        specs.append(AccountSpec(SOURCES[source].account, SOURCES[source].zh, "income", category=source.value))
    specs.append(AccountSpec(ALLOCATION_IN, "上级拨入公益金", "income"))
    for cat in Category:
        line = CATEGORIES[cat]
        specs.append(AccountSpec(line.account, line.zh, "expense", category=cat.value))
    specs.append(AccountSpec(ALLOCATION_OUT, "拨付下级公益金", "expense"))
    return specs


def is_cash_like(account: str) -> bool:
    """Bank and cash accounts: the ones month-end close asserts."""
    return account.startswith(("Assets:Bank:", "Assets:Cash:"))
