"""Household list import (计生家庭名册) from XLSX/CSV with the roster's conventions.

One row per person; the rows of a household follow each other and share its 户编号 (a merged or blank
户编号 cell continues the household above). The head's row (户主) carries the household's organisation,
address, registration date and kinds (several kinds separated by “、”). Headers may be spelled as
secretaries spell them and may sit under a title row; dates may be text or Excel serial numbers;
optional columns may be absent.

Rows stream in batches of households: each household becomes a :class:`bulk.HouseholdPlan` judged by
the registry's own rules (``bulk.check_plan``); household numbers and resident IDs met earlier in the
file are remembered in temporary tables, not in memory, so memory stays flat however long the file.
Every bad row is reported at once (row, column, reason); a dry run, or any bad row, writes nothing.
A household whose people are all registered together already is unchanged: the same file twice
changes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import IO, Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from assoc_ledger.auth import audit
from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.crypto import IdCipher
from assoc_ledger.core.errors import Problem
from assoc_ledger.core.tabular import BadFile, BoundedErrors, Columns, Sheet, open_sheet
from assoc_ledger.households.bulk import HouseholdPlan, check_plan, write_plans
from assoc_ledger.households.models import HouseholdMember
from assoc_ledger.households.rules import KIND_ZH, Event, EventKind, KindCode, Relation
from assoc_ledger.households.services import HOME_KINDS
from assoc_ledger.members.import_roster import OrgDirectory, cell_text, parse_date
from assoc_ledger.orgs.models import Organisation
from assoc_ledger.people.rules import PersonDetails, check_person
from assoc_ledger.people.services import current_cipher, insert_people, registered

BATCH_ROWS = 1000

COLUMNS = Columns(
    aliases={"户编号": ("户号", "家庭编号", "户编码", "家庭户号", "户序号"),
             "姓名": ("名字", "成员姓名", "家庭成员姓名"),
             "身份证号": ("公民身份号码", "身份证号码", "身份证", "证件号码"),
             "与户主关系": ("关系", "与户主的关系", "家庭关系", "与户主关系（称谓）"),
             "所属组织": ("所属村", "村（社区）", "所属村（社区）", "村居", "所属村居", "村（居）", "所属村（居）"),
             "住址": ("地址", "家庭住址", "现住址"), "登记日期": ("建档日期", "建档时间", "登记时间"),
             "家庭类别": ("类别", "家庭类型", "户类别", "计生家庭类别"),
             "认定日期": ("发证日期", "领证日期", "发证时间", "认定时间"),
             "光荣证号": ("独生子女父母光荣证号", "证号", "光荣证编号", "独生子女证号"),
             "认定依据": ("依据", "证明材料")},
    required=("户编号", "姓名", "身份证号", "与户主关系", "所属组织", "登记日期"),
    marks=("姓名", "身份证号"))
KIND_BY_TEXT: dict[str, KindCode] = {
    **{k.value: k for k in KindCode}, **{v: k for k, v in KIND_ZH.items()},
    "独生子女家庭": KindCode.only_child, "二女结扎户": KindCode.two_daughter, "二女家庭": KindCode.two_daughter,
    "独生子女伤残户": KindCode.only_child_disabled, "伤残家庭": KindCode.only_child_disabled,
    "独生子女死亡户": KindCode.only_child_deceased, "失独家庭": KindCode.only_child_deceased,
    "特困家庭": KindCode.hardship, "计生特困家庭": KindCode.hardship, "意外伤害家庭": KindCode.accident}
RELATION_BY_TEXT: dict[str, Relation] = {
    **{r.value: r for r in Relation}, "本人": Relation.head,
    **dict.fromkeys(("妻", "妻子", "夫", "丈夫", "爱人"), Relation.spouse),
    **dict.fromkeys(("子", "女", "儿子", "女儿", "长子", "长女", "次子", "次女", "独子", "独女", "孩子"),
                    Relation.child),
    **dict.fromkeys(("父", "母", "父亲", "母亲"), Relation.parent)}
KIND_SPLIT = re.compile(r"[、,，;；/／]+")
# Excel's day 0 (its 1900 calendar counts a 29 February 1900 that never was, so day 60 onwards is off by one).
EXCEL_EPOCH = date(1899, 12, 30)
SERIAL = re.compile(r"^\d{4,5}(\.0+)?$")

# Where a rule's field lands in the file.
EVENT_COLUMN = {"date": "认定日期", "certificate_no": "光荣证号", "evidence": "认定依据", "child_id": "家庭类别",
                "household_kind": "家庭类别"}
ProgressFn = Callable[[int], None]


def roster_date(value: Any) -> date:
    """A date cell as secretaries fill it: a date, text (2008-05-01, 2008年5月1日, 20080501) or an Excel serial."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number or (isinstance(value, str) and SERIAL.match(value.strip())):
        serial = float(value)
        if not serial.is_integer() or not 1 <= serial <= 2958465:
            raise ValueError("日期格式无效，应为 YYYY-MM-DD")
        return EXCEL_EPOCH + timedelta(days=int(serial))
    if isinstance(value, datetime):
        return value.date()
    return parse_date(value)


@dataclass
class Report(BoundedErrors):
    dry_run: bool
    committed: bool = False
    format: str = ""
    sha256: str = ""
    rows: int = 0
    households: int = 0
    created: int = 0  # on a dry run: would be created
    unchanged: int = 0
    error_rows: int = 0

    def summary(self) -> dict[str, Any]:
        return {"rows": self.rows, "households": self.households, "created": self.created,
                "unchanged": self.unchanged, "format": self.format, "file_sha256": self.sha256}


@dataclass
class _Member:
    row: int
    relation: Relation | None
    details: PersonDetails | None
    lookup: str | None = None


@dataclass
class _Group:
    """The rows of one household as read; ``problems`` per row number."""

    key: str
    first_row: int
    members: list[_Member] = field(default_factory=list)
    head: dict[str, Any] | None = None  # the head row's household cells
    head_row: int = 0
    problems: dict[int, list[Problem]] = field(default_factory=dict)

    def bad(self, row: int, column: str, message: str) -> None:
        self.problems.setdefault(row, []).append(Problem(column, message, row))


class _Seen:
    """Values met earlier in this file with their row: a temporary table, so memory does not grow with the file."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.table = f"household_seen_{uuid.uuid4().hex[:10]}"
        suffix = " ON COMMIT DROP" if session.get_bind().dialect.name == "postgresql" else ""
        session.execute(text(f"CREATE TEMPORARY TABLE {self.table} "
                             f"(value TEXT PRIMARY KEY, row_no INTEGER NOT NULL){suffix}"))

    def earlier(self, values: Sequence[str]) -> dict[str, int]:
        if not values:
            return {}
        stmt = text(f"SELECT value, row_no FROM {self.table} WHERE value IN :v"  # noqa: S608 - our own table
                    ).bindparams(bindparam("v", expanding=True))
        return {r[0]: int(r[1]) for r in self.session.execute(stmt, {"v": list(values)})}

    def add(self, pairs: dict[str, int]) -> None:
        if pairs:
            self.session.execute(text(f"INSERT INTO {self.table} (value, row_no) VALUES (:v, :r)"),  # noqa: S608
                                 [{"v": v, "r": r} for v, r in pairs.items()])

    def drop(self) -> None:
        with contextlib.suppress(Exception):  # in a failed transaction the rollback drops it anyway
            self.session.execute(text(f"DROP TABLE IF EXISTS {self.table}"))


class HouseholdImport:
    """One import over a stream of rows; see the module docstring for the rules."""

    def __init__(self, session: Session, scope: Scope, *, dry_run: bool, cipher: IdCipher | None = None,
                 today: date | None = None, progress: ProgressFn | None = None, batch_rows: int = BATCH_ROWS) -> None:
        self.session = session
        self.scope = scope
        self.dry_run = dry_run
        self.cipher = cipher or current_cipher()
        self.today = today or date.today()
        self.progress = progress
        self.batch_rows = batch_rows
        self.report = Report(dry_run=dry_run)
        self.orgs = OrgDirectory(session, scope)
        self._known: dict[str, int] = {}
        self.homes = set(session.scalars(select(Organisation.id).where(Organisation.kind.in_(HOME_KINDS))))

    def run(self, sheet: Sheet) -> Report:
        session = self.session
        self.report.format = sheet.format
        was_off = session.info.get("audit_off")
        session.info["audit_off"] = True  # bulk rows; one summary note at the end instead
        seen = _Seen(session)
        try:
            batch: list[_Group] = []
            rows = 0
            for group in self._groups(sheet):
                batch.append(group)
                rows += len(group.members) or 1
                if rows >= self.batch_rows:
                    self._batch(batch, seen)
                    batch, rows = [], 0
            if batch:
                self._batch(batch, seen)
        finally:
            seen.drop()
            if not was_off:
                session.info.pop("audit_off", None)
        if self.report.rows == 0:
            raise BadFile("文件中没有数据行", field="file")
        return self.report

    # Reading -------------------------------------------------------------------------------------

    def _groups(self, sheet: Sheet) -> Iterator[_Group]:
        columns = sheet.columns
        current: _Group | None = None

        def raw(cells: Sequence[Any], name: str) -> Any:
            i = columns.get(name)
            return cells[i] if i is not None and i < len(cells) else None

        for number, cells in sheet.rows:
            if not any(cell_text(c) for c in cells):
                continue
            self.report.rows += 1
            key = cell_text(raw(cells, "户编号"))
            if not key and current is None:
                lone = _Group("", number)
                lone.bad(number, "户编号", "必填（第一户的户编号不能为空）")
                yield lone
                continue
            if key and (current is None or key != current.key):
                if current is not None:
                    yield current
                current = _Group(key, number)
            assert current is not None
            self._member(current, number, cells, raw)
        if current is not None:
            yield current

    def _member(self, group: _Group, number: int, cells: Sequence[Any], raw: Callable[[Sequence[Any], str], Any]
                ) -> None:
        rid = raw(cells, "身份证号")
        details, problems = check_person(cell_text(raw(cells, "姓名")),
                                         "" if isinstance(rid, float) else cell_text(rid))
        for p in problems:
            if p.field == "resident_id" and isinstance(rid, float):
                group.bad(number, "身份证号",
                          "身份证号被 Excel 存成了数字，后几位已丢失：请把该列设为“文本”格式后重新填写")
            else:
                group.bad(number, {"name": "姓名", "resident_id": "身份证号"}.get(p.field, p.field), p.message)
        relation_text = cell_text(raw(cells, "与户主关系"))
        relation = RELATION_BY_TEXT.get(relation_text)
        if relation is None:
            group.bad(number, "与户主关系", "应为 户主、配偶、子女、父母 或 其他" if relation_text else "必填")
        group.members.append(_Member(number, relation, details,
                                     self.cipher.lookup(details.resident_id.number) if details else None))
        if relation is Relation.head:
            if group.head is not None:
                group.bad(number, "与户主关系",
                          f"户编号 {group.key} 已在第{group.head_row}行登记了户主，每户只能有一名户主")
                return
            group.head_row = number
            group.head = {c: raw(cells, c) for c in ("所属组织", "住址", "登记日期", "家庭类别", "认定日期", "光荣证号",
                                                     "认定依据")}

    # Judging -------------------------------------------------------------------------------------

    def _plan(self, group: _Group) -> HouseholdPlan | None:
        """The household as a plan, or None with its problems noted on the group."""
        head, row = group.head, group.head_row
        if head is None:
            if group.key and not group.problems:  # not said twice of a household split in two
                group.bad(group.first_row, "与户主关系", f"户编号 {group.key} 没有户主（与户主关系填“户主”的一行）")
            return None
        org_id = 0
        org_text = cell_text(head["所属组织"])
        found = self.orgs.resolve(org_text) if org_text else "必填"
        if isinstance(found, str):
            group.bad(row, "所属组织", found)
        elif found.id not in self.homes:
            group.bad(row, "所属组织", "家庭应登记在村或社区")
        else:
            org_id = found.id
        registered_on = self._date(group, row, "登记日期", head["登记日期"], required=True)
        kinds: list[KindCode] = []
        for part in (p.strip() for p in KIND_SPLIT.split(cell_text(head["家庭类别"])) if p.strip()):
            kind = KIND_BY_TEXT.get(part)
            if kind is None:
                group.bad(row, "家庭类别", f"未知类别“{part}”，可选：" + "、".join(KIND_ZH.values()))
            elif kind not in kinds:
                kinds.append(kind)
        since = self._date(group, row, "认定日期", head["认定日期"], required=bool(kinds))
        for column, most in (("住址", 200), ("光荣证号", 50), ("认定依据", 200)):  # as the API's fields
            if len(cell_text(head[column])) > most:
                group.bad(row, column, f"内容过长（最多{most}个字）")
        if group.problems or registered_on is None or not all(m.details for m in group.members):
            return None
        people = [m.lookup for m in group.members if m.lookup]
        children = [i for i, m in enumerate(group.members) if m.relation is Relation.child]
        events: list[Event] = []
        for kind in kinds:
            assert since is not None  # required when kinds are given
            evidence = cell_text(head["认定依据"]) or None
            if kind is KindCode.only_child:
                if len(children) > 1:
                    group.bad(row, "家庭类别", f"本户登记了{len(children)}名子女，不能认定为独生子女户")
                    return None
                events.append(Event(EventKind.certificate_issued, since, data={
                    "certificate_no": cell_text(head["光荣证号"]), "child_id": children[0] if children else None,
                    "evidence": evidence}))
            elif kind is KindCode.hardship:
                events.append(Event(EventKind.hardship_start, since, data={"evidence": evidence}))
            else:
                events.append(Event(EventKind.kind_added, since, data={"kind": kind.value, "evidence": evidence}))
        return HouseholdPlan(org_id=org_id, address=cell_text(head["住址"]) or None, registered_on=registered_on,
                             people=people, members=[(i, m.relation.value) for i, m in enumerate(group.members)
                                                     if m.relation is not None],
                             events=events)

    def _date(self, group: _Group, row: int, column: str, value: Any, *, required: bool) -> date | None:
        if value is None or cell_text(value) == "":
            if required:
                group.bad(row, column, "必填" if column == "登记日期" else "填写家庭类别时必填")
            return None
        try:
            return roster_date(value)
        except ValueError as exc:
            group.bad(row, column, str(exc))
            return None

    def _rules(self, group: _Group, plan: HouseholdPlan) -> None:
        births = {i: m.details.resident_id.birth_date for i, m in enumerate(group.members) if m.details}
        for p in check_plan(plan, births, self.today):
            where = re.match(r"^(members|events)\[(\d+)\]\.(\w+)$", p.field)
            if where and where[1] == "members":
                m = group.members[int(where[2])]
                group.bad(m.row, "与户主关系" if where[3] == "relation" else "身份证号", p.message)
            elif where:
                group.bad(group.head_row, EVENT_COLUMN.get(where[3], "家庭类别"), p.message)
            else:
                group.bad(group.head_row, {"registered_on": "登记日期"}.get(p.field, "与户主关系"), p.message)

    # A batch ---------------------------------------------------------------------------------------

    def _batch(self, groups: list[_Group], seen: _Seen) -> None:
        report = self.report
        report.households += sum(1 for g in groups if g.key)
        self._in_file(groups, seen)
        plans = {id(g): self._plan(g) for g in groups}
        for g in groups:
            plan = plans[id(g)]
            if plan is not None:
                self._rules(g, plan)
        to_write = self._against_system([g for g in groups if not g.problems and plans[id(g)] is not None], plans)
        for g in groups:
            for row in sorted(g.problems):
                report.error_rows += 1
                for p in g.problems[row]:
                    report.add_error(p)
        report.created += len(to_write)
        if not self.dry_run and report.error_rows == 0 and to_write:
            self._write(to_write)
        if self.progress:
            self.progress(sum(len(g.members) for g in groups))

    def _in_file(self, groups: list[_Group], seen: _Seen) -> None:
        """A household number or a resident ID met earlier in the file (earlier batches or this one).

        Both live in one temporary table, as “k:<户编号>” and “i:<lookup hash>”: one query and one insert a batch.
        """
        keyed = [(g, "k:" + g.key) for g in groups if g.key]
        numbered = [(g, m, "i:" + m.lookup) for g in groups for m in g.members if m.lookup]
        earlier = seen.earlier(sorted({v for _, v in keyed} | {v for _, _, v in numbered}))
        new: dict[str, int] = {}
        for g, v in keyed:
            prev = earlier.get(v) or new.get(v)
            if prev is not None:
                g.bad(g.first_row, "户编号", f"户编号 {g.key} 已在第{prev}行出现：同一户的成员应连续排列")
            else:
                new[v] = g.first_row
        for g, m, v in numbered:
            prev = earlier.get(v) or new.get(v)
            if prev is not None:
                g.bad(m.row, "身份证号", f"与文件第{prev}行的身份证号重复（同一人同一时间只能属于一户）")
            else:
                new[v] = m.row
        seen.add(new)

    def _against_system(self, groups: list[_Group], plans: dict[int, HouseholdPlan | None]
                        ) -> list[tuple[_Group, HouseholdPlan]]:
        """Who is registered already: the same household again is unchanged; a person of another one is refused."""
        lookups = [m.lookup for g in groups for m in g.members if m.lookup]
        known = registered(self.session, lookups)
        self._known = {h: r.id for h, r in known.items()}
        homes = {r.person_id: r.household_id for r in self.session.execute(
            select(HouseholdMember.person_id, HouseholdMember.household_id)
            .where(HouseholdMember.person_id.in_([k.id for k in known.values()])))} if known else {}
        out: list[tuple[_Group, HouseholdPlan]] = []
        for g in groups:
            plan = plans[id(g)]
            assert plan is not None
            theirs = [known.get(m.lookup or "") for m in g.members]
            their_homes = {homes.get(k.id) for k in theirs if k is not None}
            if all(theirs) and len(their_homes) == 1 and None not in their_homes:
                self.report.unchanged += 1  # registered together already: the same file again
                continue
            for m, k in zip(g.members, theirs, strict=True):
                if k is None:
                    continue
                assert m.details is not None
                if k.name != m.details.name:
                    g.bad(m.row, "姓名", "该身份证号已登记，但姓名与系统中的记录不一致")
                elif homes.get(k.id) is not None:
                    g.bad(m.row, "身份证号", "该人员已是另一户的成员，同一人同一时间只能属于一户"
                          + self._pointer(homes[k.id]))
                elif not self._visible(k.org_id):
                    g.bad(m.row, "身份证号", "该身份证号已在其他组织登记，不在您的管理范围内")
            if not g.problems:
                out.append((g, plan))
        return out

    def _pointer(self, household_id: int) -> str:
        from assoc_ledger.households.models import Household

        org_id = self.session.scalar(select(Household.org_id).where(Household.id == household_id))
        return f"（家庭编号 {household_id}）" if org_id is not None and self._visible(org_id) else ""

    def _visible(self, org_id: int) -> bool:
        org = self.orgs.by_id.get(org_id)
        return org is not None and self.scope.contains(org.path)

    def _write(self, batch: list[tuple[_Group, HouseholdPlan]]) -> None:
        known = self._known  # read by _against_system for this batch, under the same transaction
        new: list[tuple[PersonDetails, int]] = []
        for g, plan in batch:
            new += [(m.details, plan.org_id) for m in g.members if m.details and m.lookup not in known]
        person_ids = known | insert_people(self.session, self.cipher, new)
        write_plans(self.session, [plan for _, plan in batch], person_ids)


def file_sha256(f: IO[bytes]) -> str:
    f.seek(0)
    h = hashlib.sha256()
    while chunk := f.read(1 << 20):
        h.update(chunk)
    f.seek(0)
    return h.hexdigest()


def import_households(session: Session, scope: Scope, f: IO[bytes], *, dry_run: bool,
                      cipher: IdCipher | None = None, today: date | None = None, progress: ProgressFn | None = None,
                      filename: str | None = None) -> Report:
    """Import one file and commit it, or (dry run, or any bad row) roll everything back."""
    digest = file_sha256(f)
    # SQLite: hold the write lock from the first read (core.db's hook), so that the ids taken after the largest
    # one stay ours and a concurrent import waits its turn instead of failing at its first write.
    took_lock = not dry_run and not session.in_transaction() and not session.info.get("write_request")
    if took_lock:
        session.info["write_request"] = True
    try:
        with open_sheet(f, COLUMNS) as sheet:
            report = HouseholdImport(session, scope, dry_run=dry_run, cipher=cipher, today=today,
                                     progress=progress).run(sheet)
    finally:
        if took_lock:
            session.info.pop("write_request", None)
    report.sha256 = digest
    if report.error_rows or dry_run:
        session.rollback()
        return report
    if report.created:
        audit.note(session, "households.import", "household_import", digest,
                   scope.paths[0] if len(scope.paths) == 1 else None, after=report.summary(),
                   note_text=f"导入计生家庭名册 {(filename or '')[:200]}".strip())
    session.commit()
    report.committed = True
    return report
