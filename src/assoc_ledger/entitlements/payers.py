"""Whose book pays: a run pays only from the books its runner may write (fund:write on the paying organisation).

A township secretary who runs the month for the township expects to pay what the township's own book pays and
to be told, up front, what the county pays instead of being stopped by a failure deep in posting. So:

- the preview lists every programme whose paying organisation is outside the user's write scope (``skipped``:
  scheme, payer, lines, household-months, total) beside what the user's run would pay, with a warning in words;
- the run pays the lines it may and leaves the others for their payer: it is recorded as ``partial`` (not
  ``done``), so it never counts as a complete run of the subtree, and the skipped lines are in its basis;
- a run in which no programme covering the subtree is the user's to pay is refused before anything is written:
  422, field ``org``, naming each programme and its paying organisation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from assoc_ledger.auth.scope import Perm, Scope
from assoc_ledger.core.errors import DomainError, Problem
from assoc_ledger.core.money import from_fen
from assoc_ledger.entitlements import registry
from assoc_ledger.entitlements.rules import SCHEME_ZH
from assoc_ledger.orgs.models import Organisation

if TYPE_CHECKING:
    from assoc_ledger.entitlements.services import Plan


def writable(scope: Scope) -> Scope:
    """The organisations whose books the caller may post to (the CLI's system scope: every one)."""
    return scope.narrowed(Perm.fund_write)


def set_aside(result: Plan, scope: Scope, orgs: registry.Orgs) -> None:
    """Move the lines of programmes the caller may not pay out of the plan, into ``result.skipped``, with a warning."""
    mine = writable(scope)
    if scope.principal is not None and not mine.paths:
        return  # a reader who pays nowhere (an auditor): the preview shows what the payers' runs would pay
    for key in sorted(result.lines, key=lambda k: (k[0], k[1].value)):
        lines = result.lines[key]
        if not lines or mine.contains(lines[0].programme.org_path):
            continue
        programme = lines[0].programme
        result.lines.pop(key)
        payer = orgs.name.get(programme.org_id, str(programme.org_id))
        total = sum(x.amount_fen for x in lines)
        months = sum(x.months for x in lines)
        result.skipped.append({"programme_id": programme.id, "scheme": programme.scheme.value,
                               "scheme_zh": SCHEME_ZH[programme.scheme], "org_id": programme.org_id, "org": payer,
                               "lines": len(lines), "months": months, "total": str(from_fen(total))})
        result.warnings.append(f"{SCHEME_ZH[programme.scheme]}由{payer}的公益金账簿发放（发放项目 {programme.id}），"
                               f"不在您的记账范围内：本次不发放其 {len(lines)} 行 {months} 户月 "
                               f"{from_fen(total)} 元，由{payer}发放")
    if result.skipped:  # a household counts as new only where this run pays it
        paying = {(x.household_id, x.scheme) for x in result.all_lines()}
        result.new_entrants &= paying


def require_some(session: Session, scope: Scope, org: Organisation) -> None:
    """Refuse (422, ``org``) a run of ``org``'s subtree when no programme paying households there is the caller's."""
    orgs = registry.Orgs(session)
    covering = [p for p in registry.load_programmes(session, orgs)
                if org.path.startswith(p.org_path) or p.org_path.startswith(org.path)]
    mine = writable(scope)
    if not covering or any(mine.contains(p.org_path) for p in covering):
        return
    raise DomainError(problems=[Problem("org", f"{org.name}的{SCHEME_ZH[p.scheme]}由{orgs.name.get(p.org_id, '')}"
                                               f"的公益金账簿发放（发放项目 {p.id}），不在您的记账范围内，"
                                               f"须由{orgs.name.get(p.org_id, '')}发放；您可以预览")
                                for p in covering])


def out(result: Plan) -> dict[str, Any]:
    """What the preview and the run's basis say about the lines left for other payers."""
    return {"skipped": result.skipped, "warnings": result.warnings}
