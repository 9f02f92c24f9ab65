"""发放花名册 for a village and a month as XLSX (what the recipients sign), and the reconciliation sheet.

The village roll lists the lines the runs for that month paid to the village's households: head, masked
resident ID, months, amount, 补发 marked, an empty column to sign; the totals per voucher are printed with
the voucher's book, number and roll file, so the village rolls of one voucher add up to the roll in the books.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from assoc_ledger.auth import audit
from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.errors import NotFound
from assoc_ledger.core.money import from_fen
from assoc_ledger.entitlements import registry, services
from assoc_ledger.entitlements.models import EntitlementLine, EntitlementRun
from assoc_ledger.entitlements.rules import SCHEME_ZH, Scheme, month_start, month_text
from assoc_ledger.fund.models import FundBook, FundEntry, FundRoll
from assoc_ledger.orgs.models import Organisation

ROLL_HEADERS = ("序号", "户主（领款人）", "公民身份号码", "项目", "发放月份", "月数", "每月金额（元）", "金额（元）",
                "补发", "参考号", "领款人签名")
DIFF_HEADERS = ("类型", "户编号", "所属组织", "户主", "公民身份号码", "项目", "月份", "应发（元）", "实发（元）",
                "发放次数", "原因")



def village_roll(session: Session, scope: Scope, village_id: int, month: object, out: IO[bytes]) -> dict[str, Any]:
    """The village's 发放花名册 for the runs of ``month``; returns the totals written (per voucher and overall)."""
    from openpyxl import Workbook

    target = services.parse_month_of(month)
    village = session.get(Organisation, village_id)
    if village is None or not scope.contains(village.path):
        raise NotFound("组织不存在", field="village_id")
    rows = session.execute(
        select(EntitlementLine, FundEntry.seq, FundBook.slug, FundRoll.name)
        .join(EntitlementRun, EntitlementRun.id == EntitlementLine.run_id)
        .join(FundEntry, FundEntry.id == EntitlementLine.entry_id)
        .join(FundBook, FundBook.id == EntitlementLine.book_id)
        .join(FundRoll, FundRoll.entry_id == EntitlementLine.entry_id)
        .where(EntitlementLine.org_id == village.id, EntitlementRun.month == month_start(target))
        .order_by(EntitlementLine.scheme, EntitlementLine.entry_id, EntitlementLine.payee,
                  EntitlementLine.from_month)).all()
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(f"{month_text(target)}发放花名册")
    title = f"{village.name} {month_text(target)} 奖励扶助金发放花名册"
    ws.append([title])
    ws.append(list(ROLL_HEADERS))
    per_voucher: dict[tuple[str, int, str], list[int]] = defaultdict(lambda: [0, 0])
    total = 0
    for n, (line, seq, slug, roll_name) in enumerate(rows, start=1):
        span = line.from_month.strftime("%Y-%m")
        if line.to_month != line.from_month:
            span += f" 至 {line.to_month:%Y-%m}"
        ws.append([n, line.payee, line.resident_id, SCHEME_ZH[Scheme(line.scheme)], span, line.months,
                   from_fen(line.monthly_fen), from_fen(line.amount_fen), "补发" if line.arrears else "",
                   line.reference, None])
        v = per_voucher[(slug, seq, roll_name)]
        v[0] += 1
        v[1] += line.amount_fen
        total += line.amount_fen
    ws.append([])
    for (slug, seq, roll_name), (count, fen) in sorted(per_voucher.items()):
        ws.append(["凭证", f"{slug} 第 {seq} 号", f"花名册 rolls/{roll_name}.csv", None, None, None, "本村小计",
                   from_fen(fen), f"{count} 行"])
    ws.append(["合计", f"{len(rows)} 行", None, None, None, sum(r[0].months for r in rows), None, from_fen(total)])
    ws.append(["发放人：", None, None, "审核人：", None, None, "日期："])
    wb.save(out)
    audit.note(session, "entitlements.village_roll", "organisation", str(village.id), village.path,
               after={"month": month_text(target), "lines": len(rows), "total": str(from_fen(total))},
               note_text="导出村级发放花名册（身份证号已脱敏）")
    return {"lines": len(rows), "total": from_fen(total),
            "vouchers": {f"{slug}#{seq}": from_fen(fen) for (slug, seq, _), (_, fen) in per_voucher.items()}}


def reconciliation_xlsx(session: Session, scope: Scope, first: object, last: object, org_id: int | None,
                        out: IO[bytes], progress: services.Progress | None = None) -> services.Reconciliation:
    """Every difference of the reconciliation as a sheet (streamed), with the counts on a first sheet."""
    from openpyxl import Workbook

    # Refusals first: a write-only workbook left unsaved complains when it is collected.
    services.parse_month_of(first, "from")
    services.parse_month_of(last, "to")
    services.org_in_scope(session, scope, org_id)
    wb = Workbook(write_only=True)
    counts_sheet = wb.create_sheet("汇总")
    ws = wb.create_sheet("差异明细")
    ws.append(list(DIFF_HEADERS))
    orgs = registry.Orgs(session)
    write: Callable[[services.Difference], None] = lambda d: ws.append(_diff_row(d, orgs))  # noqa: E731
    report = services.reconcile(session, scope, first, last, org_id, progress=progress, keep=0, sink=write)
    counts_sheet.append(["期间", f"{month_text(report.first)} 至 {month_text(report.last)}"])
    counts_sheet.append(["组织", report.org.name])
    counts_sheet.append(["户数", report.households])
    counts_sheet.append(["应发户月", report.household_months_due])
    counts_sheet.append(["实发户月", report.household_months_paid])
    for kind, zh in services.KINDS_ZH.items():
        counts_sheet.append([zh, report.counts[kind]])
    wb.save(out)
    return report


def _diff_row(d: services.Difference, orgs: registry.Orgs) -> list[Any]:
    return [services.KINDS_ZH[d.kind], d.household_id, orgs.name.get(d.org_id or 0, ""), d.payee, d.resident_id,
            SCHEME_ZH[d.scheme], month_text(d.month), Decimal(d.due_fen) / 100, Decimal(d.paid_fen) / 100,
            d.times_paid, d.reason]
