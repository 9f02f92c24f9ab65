"""Annual fund statements: prepare (freeze the year's figures and the books' fingerprint), sign, staleness.

- ``prepare`` runs every report of the year over the subtree, under the books' locks, and records each
  book's hash-chain head (sequence and hash) and the digests and sizes of its files (main, accounts, the
  year file, the year's rolls) with the program version. The books are append-only, so the year file as
  it was then is always the first ``size`` bytes of the file now: the internal PDF attaches exactly that.
- ``sign`` is an auditor's sign-off with a comment; the preparer may not sign, a stale statement may not
  be signed, a signed statement is issued and published (public page) and never changes again.
- A statement is stale when an entry dated in its period was written after it (a reversal into a closed
  year, a late receipt): :func:`changes_since` lists them, and a new version can be prepared.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assoc_ledger import __version__
from assoc_ledger.auth import audit
from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.errors import Conflict, DomainError, Invalid, NotFound
from assoc_ledger.core.money import from_fen
from assoc_ledger.fund import files
from assoc_ledger.fund.chart import CATEGORIES
from assoc_ledger.fund.models import FundBook, FundEntry, FundRoll
from assoc_ledger.orgs.models import Organisation
from assoc_ledger.orgs.services import get_org
from assoc_ledger.reports import queries
from assoc_ledger.reports.models import Statement

STATEMENT_REPORTS = ("income-by-source", "spending-by-category", "restricted-funds", "fund-targets", "publicity",
                     "households-aided", "monthly", "trial-balance", "spending-by-household-kind")


@dataclass(frozen=True)
class Actor:
    """Who prepares or signs: a user (from the request's principal or the CLI's ``--user``)."""

    user_id: int | None
    username: str


def actor_of(scope: Scope) -> Actor:
    if scope.principal is None:
        raise DomainError("需要登录用户", field="user")
    return Actor(scope.principal.user_id, scope.principal.username)


def _sha256(path: Path, size: int | None = None) -> str:
    digest = hashlib.sha256()
    left = size
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(1 << 20 if left is None else min(1 << 20, left))
            if not chunk:
                break
            digest.update(chunk)
            if left is not None:
                left -= len(chunk)
                if left <= 0:
                    break
    return digest.hexdigest()


def _book_fingerprint(session: Session, ledger_dir: Path, book: FundBook, year: int) -> dict[str, Any]:
    paths = files.book_paths(ledger_dir, book)
    listed: dict[str, dict[str, Any]] = {}
    for path in (paths.main, paths.accounts, paths.year(year)):
        if path.is_file():
            size = path.stat().st_size
            listed[path.name] = {"sha256": _sha256(path, size), "size": size}
    rolls = session.scalars(select(FundRoll).join(FundEntry, FundEntry.id == FundRoll.entry_id)
                            .where(FundRoll.book_id == book.id, FundEntry.year == year).order_by(FundRoll.id)).all()
    for roll in rolls:
        path = paths.rolls / f"{roll.name}.csv"
        if path.is_file():
            listed[f"rolls/{path.name}"] = {"sha256": _sha256(path), "size": path.stat().st_size,
                                            "recorded_sha256": roll.sha256}
    return {"book_id": book.id, "slug": book.slug, "seq": book.next_seq - 1, "hash": book.last_hash,
            "files": listed}


def prepare(session: Session, scope: Scope, ledger_dir: Path, org_id: int, year: int, actor: Actor) -> Statement:
    """Freeze the year's figures of ``org_id``'s subtree as a new version of its statement."""
    if not 2000 <= year <= 2100:
        raise Invalid("年度无效", field="year")
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    ctx = queries.context(session, scope, org_id, start, end)
    if not ctx.books:
        raise DomainError("该组织及其下级没有公益金账簿，无法编制报告", field="org_id")
    books = [session.get_one(FundBook, b) for b in ctx.book_ids]
    with files.locked([files.book_paths(ledger_dir, b) for b in books]):
        session.expire_all()  # read the heads as they are under the lock
        ctx = queries.context(session, scope, org_id, start, end)
        books = [session.get_one(FundBook, b) for b in ctx.book_ids]
        for b in books:
            files.sync_book(session, ledger_dir, b)
        fingerprint = {"books": [_book_fingerprint(session, ledger_dir, b, year) for b in books]}
        figures = freeze_figures(session, ctx)
        version = int(session.scalar(select(func.max(Statement.version)).where(
            Statement.org_id == ctx.org.id, Statement.year == year)) or 0) + 1
        row = Statement(org_id=ctx.org.id, year=year, version=version, period_start=start, period_end=end,
                        figures=figures, fingerprint=fingerprint, program_version=f"assoc-ledger {__version__}",
                        prepared_by_id=actor.user_id, prepared_by=actor.username)
        session.add(row)
        session.flush()
        audit.note(session, "statement.prepare", "statements", str(row.id), ctx.org.path,
                   after={"org_id": ctx.org.id, "year": year, "version": version,
                          "heads": {b["slug"]: [b["seq"], b["hash"]] for b in fingerprint["books"]}},
                   note_text=f"编制 {year} 年度公益金收支报告（第 {version} 版）")
        session.commit()
    return row


def freeze_figures(session: Session, ctx: queries.Context) -> dict[str, Any]:
    """Everything the statement prints, as JSON values (amounts as strings)."""
    reports = {name: queries.REPORTS[name][1](session, ctx).as_json() for name in STATEMENT_REPORTS}
    groups = queries.aided_by_category_and_township(session, ctx)
    public_groups = queries.suppress_small(groups)
    aided = queries.aided_households(session, ctx)
    names = {b.id: b.org_name for b in ctx.books}
    roll_ids = _roll_ids(session, ctx)
    per_head = queries.per_head(session, ctx)
    summary = _summary(reports)
    return {
        "org": {"id": ctx.org.id, "name": ctx.org.name, "kind": ctx.org.kind, "population": ctx.org.population},
        "period": [ctx.start.isoformat(), ctx.end.isoformat()],
        "books": [{"id": b.id, "org": b.org_name, "kind": b.org_kind} for b in ctx.books],
        "reports": reports,
        "summary": {**summary, "per_head": queries.cell_text(per_head),
                    "population": queries.population_of(session, ctx)},
        "public_groups": [[t, c, n, queries.cell_text(a)] for t, c, n, a in public_groups],
        # Internal only: who was aided, with resident IDs masked as the rolls hold them.
        "aided": _aided_lists(aided, names, roll_ids),
    }


def _aided_lists(aided: list[queries.Aided], names: dict[int, str],
                 roll_ids: dict[str, str]) -> list[list[Any]]:
    """[[book, category (Chinese), ["name (masked ID)", ...]], ...] for the internal statement."""
    zh = {c.value: CATEGORIES[c].zh for c in queries.RELIEF_CATEGORIES}
    grouped: dict[tuple[str, str], list[str]] = {}
    for a in aided:
        rid = roll_ids.get(a.key)
        grouped.setdefault((names[a.book_id], zh.get(a.category, a.category)), []).append(
            f"{a.label}（{rid}）" if rid else a.label)
    return [[book, cat, sorted(people)] for (book, cat), people in sorted(grouped.items())]


def _roll_ids(session: Session, ctx: queries.Context) -> dict[str, str]:
    """Aided key -> masked resident ID, for the households that came from rolls."""
    return {a.key: a.key.split(":")[1] for a in queries.aided_households(session, ctx) if a.key.startswith("roll:")}


def _summary(reports: dict[str, Any]) -> dict[str, str]:
    def find(name: str, label: str, col: int = 0, value_col: int = -1) -> str:
        for row in reports[name]["rows"]:
            if row["cells"][col] == label:
                return str(row["cells"][value_col])
        return "0.00"

    return {"income": find("income-by-source", "收入合计"),
            "government": find("income-by-source", "政府投入"),
            "society": find("income-by-source", "社会筹资"),
            "other": find("income-by-source", "其他来源"),
            "relief": find("spending-by-category", "relief"),
            "publicity": find("spending-by-category", "publicity"),
            "administration": find("spending-by-category", "administration"),
            "spending": find("spending-by-category", "total"),
            "households": find("households-aided", "合计", value_col=1)}


def get(session: Session, scope: Scope, statement_id: int) -> Statement:
    row = session.get(Statement, statement_id)
    if row is None:
        raise NotFound("报告不存在", field="statement_id")
    org = session.get(Organisation, row.org_id)
    if org is None or not scope.contains(org.path):
        raise NotFound("报告不存在", field="statement_id")
    return row


def list_statements(session: Session, scope: Scope, org_id: int | None = None) -> list[Statement]:
    stmt = (select(Statement).join(Organisation, Organisation.id == Statement.org_id)
            .where(scope.clause(Organisation.path)).order_by(Statement.year.desc(), Statement.org_id,
                                                             Statement.version.desc()))
    if org_id is not None:
        org = get_org(session, org_id, scope)
        stmt = stmt.where(Organisation.path.startswith(org.path, autoescape=True))
    return list(session.scalars(stmt).all())


def published(session: Session) -> list[Statement]:
    """Signed statements: issued, and public (the latest signed version of each org and year)."""
    rows = session.scalars(select(Statement).where(Statement.signed_at.is_not(None))
                           .order_by(Statement.year.desc(), Statement.org_id, Statement.version.desc())).all()
    seen: set[tuple[int, int]] = set()
    out: list[Statement] = []
    for r in rows:
        if (r.org_id, r.year) not in seen:
            seen.add((r.org_id, r.year))
            out.append(r)
    return out


def published_one(session: Session, statement_id: int) -> Statement:
    row = session.get(Statement, statement_id)
    if row is None or row.signed_at is None:
        raise NotFound("报告不存在或尚未公开", field="statement_id")
    return row


@dataclass(frozen=True)
class Change:
    book: str
    seq: int
    date: dt.date
    voucher: str | None
    narration: str
    reverses_seq: int | None
    amount: str


def changes_since(session: Session, row: Statement) -> list[Change]:
    """Entries dated in the statement's period that were written after it was prepared (stale if any)."""
    heads = {b["book_id"]: int(b["seq"]) for b in row.fingerprint.get("books", [])}
    org = session.get_one(Organisation, row.org_id)
    books = session.execute(select(FundBook.id, FundBook.title).join(Organisation, Organisation.id == FundBook.org_id)
                            .where(Organisation.path.startswith(org.path, autoescape=True))).tuples().all()
    out: list[Change] = []
    for book_id, title in books:
        head = heads.get(book_id, 0)
        entries = session.scalars(select(FundEntry).where(
            FundEntry.book_id == book_id, FundEntry.seq > head, FundEntry.kind == "txn",
            FundEntry.date >= row.period_start, FundEntry.date <= row.period_end).order_by(FundEntry.seq)).all()
        for e in entries:
            reversed_seq = session.scalar(select(FundEntry.seq).where(FundEntry.id == e.reverses_id)) \
                if e.reverses_id else None
            from assoc_ledger.fund.models import FundPosting

            fen = session.scalar(select(func.sum(func.abs(FundPosting.amount_fen))).where(
                FundPosting.entry_id == e.id)) or 0
            out.append(Change(title, e.seq, e.date, e.voucher, e.narration, reversed_seq,
                              queries.cell_text(from_fen(int(fen) // 2))))
    return out


def state_of(session: Session, row: Statement) -> str:
    newer = session.scalar(select(func.max(Statement.version)).where(
        Statement.org_id == row.org_id, Statement.year == row.year))
    if newer and newer > row.version:
        return "superseded"
    if changes_since(session, row):
        return "stale"
    return "signed" if row.signed_at else "prepared"


STATE_ZH = {"prepared": "待审计签发", "signed": "已签发", "stale": "已过期（账簿有变动）",
            "superseded": "已被新版本取代"}


def sign(session: Session, scope: Scope, statement_id: int, actor: Actor, comment: str) -> Statement:
    """An auditor's sign-off: not the preparer, not stale, once."""
    row = get(session, scope, statement_id)
    text = (comment or "").strip()
    if not text:
        raise Invalid("签发意见不能为空", field="comment")
    if len(text) > 1000:
        raise Invalid("签发意见不能超过 1000 字", field="comment")
    if row.signed_at is not None:
        raise Conflict("报告已签发，不可再次签发或修改", field="statement_id")
    if (actor.user_id is not None and actor.user_id == row.prepared_by_id) or actor.username == row.prepared_by:
        raise DomainError("编制人不能签发自己编制的报告，须由另一位审计人员签发", field="statement_id")
    changes = changes_since(session, row)
    if changes:
        raise DomainError(f"编制后账簿有 {len(changes)} 笔本期分录变动，报告已过期，请编制新版本后再签发",
                          field="statement_id")
    state = state_of(session, row)
    if state == "superseded":
        raise DomainError("已有更新版本，请签发最新版本", field="statement_id")
    row.signed_by_id = actor.user_id
    row.signed_by = actor.username
    row.signed_at = dt.datetime.now(dt.UTC)
    row.sign_comment = text
    org = session.get_one(Organisation, row.org_id)
    audit.note(session, "statement.sign", "statements", str(row.id), org.path,
               after={"signed_by": actor.username, "comment": text}, note_text=f"签发 {row.year} 年度报告")
    session.commit()
    return row
