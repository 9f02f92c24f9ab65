"""``assoc-ledger relief schemes|cases``: list relief schemes and cases (帮扶救助) as tables."""

from __future__ import annotations

import datetime as dt

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console(emoji=False)  # account names such as Assets:Bank:… are not emoji codes
relief_app = typer.Typer(help="帮扶救助 relief schemes and cases", no_args_is_help=True)


@relief_app.command("schemes")
def schemes_command(category: str = typer.Option(None, "--category", help="类别代码，如 general、emergency")) -> None:
    """List the schemes with the standard in force today (救助项目)."""
    from assoc_ledger.auth.audit import audited_sessions
    from assoc_ledger.auth.scope import Perm, Scope
    from assoc_ledger.core.money import from_fen
    from assoc_ledger.fund.chart import CATEGORIES, Category
    from assoc_ledger.relief import services
    from assoc_ledger.relief.rules import AMOUNT_RULE_ZH, AmountRule

    table = Table(title="救助项目")
    for col in ("编号", "代码", "名称", "类别", "资金", "现行版本", "金额规则", "金额（元）", "审核", "每户每年"):
        table.add_column(col)
    with audited_sessions()() as db:
        for s in services.list_schemes(db, Scope.everything(Perm.household_read), category):
            current = services.version_on(db, s.id, dt.date.today()) or services.versions_of(db, s.id)[-1]
            amount = (str(from_fen(current.amount_fen)) if current.amount_fen is not None
                      else f"按标准 {current.standard}")
            steps = (f"先审批发放、{current.review_due_days}天内审核" if current.review_steps == ["approve"]
                     else "审核→审批")
            table.add_row(str(s.id), s.code, s.name, CATEGORIES[Category(s.category)].zh, current.fund,
                          f"第{current.version}版（{current.effective_from}起）",
                          AMOUNT_RULE_ZH[AmountRule(current.amount_rule)], amount, steps,
                          str(current.yearly_limit or "不限"))
    console.print(table)


@relief_app.command("cases")
def cases_command(
    state: str = typer.Option(None, "--state", help="状态：registered reviewed approved paid closed\
 rejected withdrawn"),
    category: str = typer.Option(None, "--category", help="类别代码"),
    overdue: bool = typer.Option(False, "--overdue-review", help="只列出逾期未审核的应急救助"),
    limit: int = typer.Option(200, "--limit", min=1, max=200),
) -> None:
    """List relief cases (救助案件) with their state and why a payment was refused, if it was."""
    from assoc_ledger.auth.audit import audited_sessions
    from assoc_ledger.auth.scope import Perm, Scope
    from assoc_ledger.core.money import from_fen
    from assoc_ledger.fund.chart import CATEGORIES, Category
    from assoc_ledger.relief import services
    from assoc_ledger.relief.rules import STATE_ZH, State

    table = Table(title="救助案件")
    for col in ("编号", "日期", "类别", "家庭", "收款人", "金额（元）", "状态", "备注"):
        table.add_column(col)
    with audited_sessions()() as db:
        f = services.CaseFilter(state=state, category=category, overdue_review=overdue, limit=limit)
        for c in services.list_cases(db, Scope.everything(Perm.household_read), f):
            note = c.pay_problem or ""
            if c.review_due_on and c.reviewed_on is None and c.state == State.paid.value:
                note = f"须于 {c.review_due_on} 前审核" + ("（已逾期）" if dt.date.today() > c.review_due_on else "")
            elif c.review_due_on and c.reviewed_on and c.reviewed_on > c.review_due_on:
                note = f"审核晚于期限（{c.reviewed_on}，期限 {c.review_due_on}）"
            table.add_row(str(c.id), str(c.case_date), CATEGORIES[Category(c.category)].zh, str(c.household_id),
                          escape(c.payee), str(from_fen(c.amount_fen)), STATE_ZH[State(c.state)], escape(note))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(relief_app, name="relief")
