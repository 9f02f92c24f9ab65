"""A county's organisation tree from a sheet (组织架构导入): 名称, 区划代码, 上级, 类型, one row per unit.

Rows become :class:`TreeRow` values or problems (row, column, reason in Chinese), all collected,
never raised one at a time. Parents may come after their children in the file: rows are ordered
root-first before anything is written. Every unit is created through
:func:`~assoc_ledger.orgs.services.create_org`, so the tree rules (which kind may sit under which)
are checked in one place, on a dry run too: a dry run does the whole import inside the
transaction and rolls it back. A unit that already exists as the row describes it is left as it
is, which makes importing the same file twice a no-op; one that exists differently is a bad row,
never a silent edit. The caller owns the transaction: it commits only a report without problems.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.errors import DomainError, Problem
from assoc_ledger.core.tabular import BadFile, Columns, Sheet, open_sheet
from assoc_ledger.orgs.models import ORG_KIND_ZH, Organisation, OrgKind
from assoc_ledger.orgs.schemas import CODE_PATTERN
from assoc_ledger.orgs.services import create_org, find_by_name_or_code

NAME, CODE, PARENT, KIND = "名称", "区划代码", "上级", "类型"

TREE_COLUMNS = Columns(
    aliases={
        NAME: ("组织名称", "协会名称", "单位名称", "组织", "单位"),
        CODE: ("统计用区划代码", "行政区划代码", "区划编码", "区划码", "代码", "编码", "组织代码"),
        PARENT: ("上级组织", "上级单位", "上级协会", "上级名称", "上级代码", "上级区划代码", "所属上级", "隶属"),
        KIND: ("组织类型", "类别", "级别", "层级", "组织级别", "单位类型"),
    },
    required=(NAME, CODE, PARENT, KIND),
    marks=(NAME, KIND),
)

# What secretaries write in 类型, beyond ORG_KIND_ZH's own words and the English values.
_KIND_WORDS: dict[str, OrgKind] = {
    "县级": OrgKind.county, "县区": OrgKind.county,
    "街道办事处": OrgKind.street, "街道办": OrgKind.street, "办事处": OrgKind.street,
    "行政村": OrgKind.village, "村委会": OrgKind.village, "村民委员会": OrgKind.village,
    "居委会": OrgKind.community, "居民委员会": OrgKind.community, "社区居委会": OrgKind.community,
    "居": OrgKind.community,
    "流动人口聚居地": OrgKind.migrant, "流动": OrgKind.migrant,
}
KIND_BY_WORD: dict[str, OrgKind] = (
    {zh: kind for kind, zh in ORG_KIND_ZH.items()} | {kind.value: kind for kind in OrgKind} | _KIND_WORDS
)
_KIND_SUFFIXES = ("计生协会", "计生协", "协会", "级")
_NAME_MAX: int = Organisation.__table__.c.name.type.length  # type: ignore[attr-defined]
_CODE_RE = re.compile(CODE_PATTERN)
# Excel shows a long number typed into a General cell as 3.41799E+11 and saves the CSV that way:
# the digits are gone, so the user must fix the column, not us.
_SCIENTIFIC = re.compile(r"^\d(\.\d+)?[eE]\+?\d+$")

# (rows checked so far, rows to check): called as each unit is checked and written, the slow part.
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class TreeRow:
    """One clean row: a unit, its kind, and how the file names its parent (None for the root)."""

    row: int
    name: str
    code: str | None
    parent_ref: str | None
    kind: OrgKind


@dataclass
class TreeImportReport:
    dry_run: bool
    format: str = ""
    encoding: str | None = None
    total: int = 0
    created: Counter[OrgKind] = field(default_factory=Counter)
    unchanged: Counter[OrgKind] = field(default_factory=Counter)
    # Rows not checked because their parent's row is bad: they are checked once it is fixed.
    unchecked: int = 0
    problems: list[Problem] = field(default_factory=list)
    committed: bool = False  # set by the caller once it has committed

    @property
    def bad_rows(self) -> int:
        return len({p.row for p in self.problems})


def cell_text(value: Any) -> str:
    """A cell as the user typed it: Excel's 341799000000.0 is the code 341799000000."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return " ".join(str(value).split())


def parse_kind(text: str) -> OrgKind | None:
    word = "".join(text.split())
    if word in KIND_BY_WORD:
        return KIND_BY_WORD[word]
    for suffix in _KIND_SUFFIXES:
        if word.endswith(suffix) and word.removesuffix(suffix) in KIND_BY_WORD:
            return KIND_BY_WORD[word.removesuffix(suffix)]
    return KIND_BY_WORD.get(word.lower())


def parse_row(row_no: int, cells: Sequence[Any], columns: dict[str, int]) -> TreeRow | list[Problem] | None:
    """A clean row, the row's problems, or None for an empty row."""

    def cell(column: str) -> str:
        idx = columns[column]
        return cell_text(cells[idx]) if idx < len(cells) else ""

    name, code, parent, kind_text = cell(NAME), cell(CODE), cell(PARENT), cell(KIND)
    if not (name or code or parent or kind_text):
        return None
    problems: list[Problem] = []
    if not name:
        problems.append(Problem(NAME, "名称不能为空", row_no))
    elif len(name) > _NAME_MAX:
        problems.append(Problem(NAME, f"名称过长（最多{_NAME_MAX}个字）", row_no))
    if code and _SCIENTIFIC.match(code):
        problems.append(Problem(CODE, f"区划代码“{code}”被 Excel 显示成了科学计数法，位数已丢失；"
                                      "请把该列设为“文本”后重新填写", row_no))
    elif code and not _CODE_RE.match(code):
        problems.append(Problem(CODE, f"区划代码“{code}”应为6至12位数字", row_no))
    kind = parse_kind(kind_text) if kind_text else None
    if not kind_text:
        problems.append(Problem(KIND, "类型不能为空", row_no))
    elif kind is None:
        allowed = "、".join(ORG_KIND_ZH.values())
        problems.append(Problem(KIND, f"不认识的类型“{kind_text}”，应为：{allowed}", row_no))
    if problems or kind is None:
        return problems
    return TreeRow(row=row_no, name=name, code=code or None, parent_ref=parent or None, kind=kind)


def read_rows(sheet: Sheet, report: TreeImportReport) -> list[TreeRow]:
    rows: list[TreeRow] = []
    for row_no, cells in sheet.rows:
        parsed = parse_row(row_no, cells, sheet.columns)
        if parsed is None:
            continue
        report.total += 1
        if isinstance(parsed, TreeRow):
            rows.append(parsed)
        else:
            report.problems.extend(parsed)
    return rows


@dataclass
class _Plan:
    """Rows in an order where every parent in the file comes before its children."""

    ordered: list[TreeRow]
    file_parent: dict[int, TreeRow]  # row -> its parent's row, when the parent is in the file
    db_parent: dict[int, Organisation]  # row -> an existing unit, when the parent is not in the file


def _plan(session: Session, rows: list[TreeRow], problems: list[Problem]) -> _Plan:
    by_code: dict[str, TreeRow] = {}
    by_name: dict[str, list[TreeRow]] = {}
    seen_unit: dict[tuple[str, str | None], TreeRow] = {}
    bad: set[int] = set()
    for r in rows:
        if r.code and r.code in by_code:
            problems.append(Problem(CODE, f"区划代码与第{by_code[r.code].row}行重复", r.row))
            bad.add(r.row)
            continue
        if (r.name, r.parent_ref) in seen_unit:
            problems.append(Problem(NAME, f"与第{seen_unit[r.name, r.parent_ref].row}行是同一上级下的同名组织",
                                    r.row))
            bad.add(r.row)
            continue
        seen_unit[r.name, r.parent_ref] = r
        if r.code:
            by_code[r.code] = r
        by_name.setdefault(r.name, []).append(r)

    file_parent: dict[int, TreeRow] = {}
    db_parent: dict[int, Organisation] = {}
    for r in rows:
        if r.row in bad or r.parent_ref is None:
            continue
        ref = r.parent_ref
        named = by_name.get(ref, [])
        if ref in by_code:
            file_parent[r.row] = by_code[ref]
        elif len(named) == 1:
            file_parent[r.row] = named[0]
        elif len(named) > 1:
            rows_named = "、".join(str(n.row) for n in named)
            problems.append(Problem(PARENT, f"上级“{ref}”在文件中有多个同名组织（第{rows_named}行），"
                                            "请改填上级的区划代码", r.row))
            bad.add(r.row)
            continue
        else:
            try:
                existing = find_by_name_or_code(session, ref)
            except DomainError as exc:
                problems.append(Problem(PARENT, exc.detail, r.row))
                bad.add(r.row)
                continue
            if existing is None:
                problems.append(Problem(PARENT, f"找不到上级“{ref}”：文件和系统中都没有这个名称或区划代码", r.row))
                bad.add(r.row)
                continue
            db_parent[r.row] = existing
        if file_parent.get(r.row) is r:
            problems.append(Problem(PARENT, "上级不能是自己", r.row))
            bad.add(r.row)

    # Depth-first from each row up to its root; a row met again on the way up closes a cycle.
    ordered: list[TreeRow] = []
    state: dict[int, int] = {}  # 1 on the current path, 2 placed (or given up)
    for start in rows:
        path: list[TreeRow] = []
        node: TreeRow | None = start
        while node is not None and node.row not in state and node.row not in bad:
            state[node.row] = 1
            path.append(node)
            node = file_parent.get(node.row)
        if node is not None and state.get(node.row) == 1:
            cycle = path[path.index(node):]
            listed = "、".join(str(c.row) for c in cycle)
            for c in cycle:
                problems.append(Problem(PARENT, f"上级关系成环（第{listed}行互为上级）", c.row))
                bad.add(c.row)
        for n in reversed(path):
            state[n.row] = 2
            if n.row not in bad:
                ordered.append(n)
    return _Plan(ordered=ordered, file_parent=file_parent, db_parent=db_parent)


def _existing(session: Session, r: TreeRow, parent_id: int | None) -> Organisation | None:
    """The unit this row describes, if the database has it: by code, else by name under the same parent."""
    if r.code:
        org = session.scalar(select(Organisation).where(Organisation.code == r.code))
        if org is not None:
            return org
    return session.scalars(select(Organisation).where(
        Organisation.name == r.name, Organisation.parent_id.is_(None) if parent_id is None
        else Organisation.parent_id == parent_id, Organisation.closed_on.is_(None)).order_by(Organisation.id)).first()


def _differs(org: Organisation, r: TreeRow, parent_id: int | None) -> str | None:
    """Why an existing unit is not the one the row describes; None when it is."""
    by_code = r.code is not None and org.code == r.code
    which = f"区划代码为 {r.code} 的组织" if by_code else f"同一上级下名为“{r.name}”的组织"
    if org.closed_on is not None:
        return f"系统中的{which}“{org.name}”已撤销"
    changes = []
    if org.name != r.name:
        changes.append(f"名称为“{org.name}”")
    if r.code and not by_code:
        # A row without a code matches a unit that has one; a row with another code is another unit.
        changes.append(f"区划代码为“{org.code or '空'}”")
    if org.kind != r.kind.value:
        changes.append(f"类型为“{ORG_KIND_ZH[OrgKind(org.kind)]}”")
    if org.parent_id != parent_id:
        changes.append("上级不同")
    if not changes:
        return None
    return f"系统中已有{which}，但{'、'.join(changes)}；导入不会修改已有组织，请在组织管理中修改或更正文件"


_FIELD_COLUMN = {"parent_id": PARENT, "code": CODE, "name": NAME, "kind": KIND}


def _apply(session: Session, scope: Scope, plan: _Plan, report: TreeImportReport,
           progress: ProgressFn | None) -> None:
    made: dict[int, Organisation] = {}  # row -> the unit it is (created or found)
    for done, r in enumerate(plan.ordered, start=1):
        if progress:
            progress(done, len(plan.ordered))
        parent: Organisation | None
        if r.row in plan.file_parent:
            parent = made.get(plan.file_parent[r.row].row)
            if parent is None:  # the parent's row is bad
                report.unchecked += 1
                continue
        else:
            parent = plan.db_parent.get(r.row)
        parent_id = parent.id if parent else None
        existing = _existing(session, r, parent_id)
        if existing is not None:
            why = _differs(existing, r, parent_id)
            if why:
                report.problems.append(Problem(CODE if r.code else NAME, why, r.row))
            else:
                made[r.row] = existing
                report.unchanged[r.kind] += 1
            continue
        try:
            made[r.row] = create_org(session, scope, name=r.name, kind=r.kind, parent_id=parent_id, code=r.code)
        except DomainError as exc:
            # create_org refuses before it writes anything, so the transaction is still usable.
            column = _FIELD_COLUMN.get(exc.field or "", KIND)
            report.problems.append(Problem(column, exc.detail, r.row))
            continue
        report.created[r.kind] += 1


def import_tree(session: Session, scope: Scope, f: IO[bytes], *, dry_run: bool,
                progress: ProgressFn | None = None) -> TreeImportReport:
    """Check (and unless ``dry_run``, write) one file; a dry run or a file with bad rows leaves nothing behind.

    Raises a :class:`DomainError` for a file that cannot be read at all (type, encoding, headers).
    """
    report = TreeImportReport(dry_run=dry_run)
    # Even a dry run writes (then rolls back): on SQLite take the write lock at the first statement,
    # so a read-then-write transaction cannot fail half-way against a concurrent writer.
    session.info["write_request"] = True
    with open_sheet(f, TREE_COLUMNS) as sheet:
        report.format, report.encoding = sheet.format, sheet.encoding
        rows = read_rows(sheet, report)
    if report.total == 0:
        raise BadFile("文件中没有数据行", field="file")
    plan = _plan(session, rows, report.problems)
    _apply(session, scope, plan, report, progress)
    report.problems.sort(key=lambda p: (p.row or 0, p.field))
    if report.problems or dry_run:
        session.rollback()
    return report


def kinds_in_order(counters: Iterable[Counter[OrgKind]]) -> list[OrgKind]:
    """The kinds any counter mentions, in the tree's own order (县, 乡, 镇 … 流动人口)."""
    present = set().union(*(set(c) for c in counters))
    return [k for k in OrgKind if k in present]
