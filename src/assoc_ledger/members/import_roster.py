"""Roster import (会员名册导入): parse -> check -> write, with every bad row reported at once.

One pipeline serves the API, the CLI and the demo loader:

* rows stream from :mod:`members.roster_sheet` (the shared tabular reader) and are handled in batches;
* each row is parsed into a :class:`RosterRow` value or a list of :class:`Problem` values
  (field = the column header, reason in Chinese, row number) — errors are collected, never raised;
  a person's details pass ``people.rules.check_person`` and the joining ``members.admission``,
  the same rules the API applies;
* rows already seen in this file are remembered in a temporary table (by keyed hash, never the
  number itself), not in Python memory, so memory does not grow with the file;
* a real import writes each clean batch inside one transaction and commits only when no row
  at all was bad; a dry run writes nothing. A row whose person is already a member of the same
  chapter since the same date is unchanged, which makes importing the same file twice a no-op.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any

from sqlalchemy import Table, insert, select, text
from sqlalchemy.orm import Session

from assoc_ledger.auth import audit
from assoc_ledger.auth.scope import Scope
from assoc_ledger.core.crypto import IdCipher
from assoc_ledger.core.errors import DomainError, Problem
from assoc_ledger.core.personal import parse_resident_id
from assoc_ledger.core.tabular import BadFile, BoundedErrors, Sheet
from assoc_ledger.members.admission import join_date_problems, spell_problems
from assoc_ledger.members.models import MEMBER_ROLE_BY_ZH, MemberGroup, MemberRole, Membership, RoleTerm
from assoc_ledger.members.roster_sheet import open_sheet
from assoc_ledger.members.services import spells_of
from assoc_ledger.orgs.models import Organisation
from assoc_ledger.people import services as people
from assoc_ledger.people.rules import PersonDetails, check_person

BATCH_ROWS = 1000
ROLE_SPLIT = re.compile(r"[、,，;；/／\s]+")
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
_TRUE = {"是", "y", "yes", "1", "true", "√", "✓"}
_FALSE = {"否", "n", "no", "0", "false", "", "×"}


# The rules name the API's fields; a secretary reads the sheet's column headers.
COLUMN_OF_FIELD = {"name": "姓名", "resident_id": "身份证号", "phone": "联系电话", "address": "住址",
                   "person_id": "身份证号", "joined_on": "入会日期", "org_id": "所属组织"}


def _in_column(problem: Problem, row: int) -> Problem:
    return Problem(COLUMN_OF_FIELD.get(problem.field, problem.field), problem.message, row)


@dataclass(frozen=True)
class RosterRow:
    """One clean row: who (checked details) joins which chapter, when, in which roles."""

    row: int
    person: PersonDetails
    org_id: int
    joined_on: date
    roles: tuple[MemberRole, ...]
    is_volunteer: bool
    volunteer_skills: str | None = None
    group: str | None = None


@dataclass
class ImportReport(BoundedErrors):
    dry_run: bool
    format: str = ""
    encoding: str | None = None
    sha256: str = ""
    total: int = 0
    would_create: int = 0
    created: int = 0
    unchanged: int = 0
    error_rows: int = 0
    groups_created: int = 0
    committed: bool = False

    def summary(self) -> dict[str, Any]:
        return {"total": self.total, "created": self.created, "unchanged": self.unchanged,
                "groups_created": self.groups_created, "format": self.format, "encoding": self.encoding,
                "file_sha256": self.sha256}


class ImportRefused(DomainError):
    """A real import that found bad rows: nothing was written. Carries the full report."""

    status_code = 422
    title = "导入未执行"

    def __init__(self, report: ImportReport) -> None:
        first = report.errors[0] if report.errors else None
        where = f"第{first.row}行“{first.field}”：{first.message}" if first else ""
        super().__init__(f"有{report.error_rows}行数据有误，未写入任何数据。{where}",
                         extra={"report": report_dict(report),
                                "errors": [{**e.as_dict(), "column": e.field} for e in report.errors]})
        self.report = report


def report_dict(report: ImportReport) -> dict[str, Any]:
    return {"dry_run": report.dry_run, "committed": report.committed, "format": report.format,
            "encoding": report.encoding, "file_sha256": report.sha256, "total": report.total,
            "would_create": report.would_create, "created": report.created, "unchanged": report.unchanged,
            "error_rows": report.error_rows, "groups_created": report.groups_created,
            "errors_truncated": report.errors_truncated}


# --- cells -------------------------------------------------------------------------------------


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).replace("\u3000", " ").strip()


def parse_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("日期格式无效，应为 YYYY-MM-DD")
    text_value = cell_text(value)
    for pattern in _DATE_PATTERNS:
        m = pattern.match(text_value)
        if m:
            y, mo, d = (int(g) for g in m.groups())
            try:
                return date(y, mo, d)
            except ValueError as exc:
                raise ValueError(f"日期不存在：{text_value}") from exc
    raise ValueError("日期格式无效，应为 YYYY-MM-DD（如 2024-03-01）")


def parse_roles(value: str) -> tuple[MemberRole, ...]:
    parts = [p for p in ROLE_SPLIT.split(value) if p]
    if not parts:
        return (MemberRole.member,)
    roles: list[MemberRole] = []
    unknown = [p for p in parts if p not in MEMBER_ROLE_BY_ZH]
    if unknown:
        choices = "、".join(MEMBER_ROLE_BY_ZH)
        raise ValueError(f"未知职务“{'、'.join(unknown)}”，可选：{choices}")
    for p in parts:
        role = MEMBER_ROLE_BY_ZH[p]
        if role not in roles:
            roles.append(role)
    return tuple(roles)


def parse_yes_no(value: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError("应填“是”或“否”（也可用 Y/N、1/0）")


# --- organisations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OrgRef:
    id: int
    name: str
    code: str | None
    parent_id: int | None
    path: str
    open: bool


class OrgDirectory:
    """Every organisation's name and place in the tree, to resolve 所属组织 cells without a query per row.

    A cell may hold a 统计用区划代码, a name, or a path of names such as “甲镇/甲一村” (names repeat
    across townships). Only open organisations inside the scope can be chosen; anything else reads
    as “组织不存在或无权限”, so nothing about other subtrees leaks.
    """

    CACHE_LIMIT = 10_000

    def __init__(self, session: Session, scope: Scope) -> None:
        rows = session.execute(select(Organisation.id, Organisation.name, Organisation.code,
                                      Organisation.parent_id, Organisation.path, Organisation.closed_on)).all()
        self.by_id = {r.id: OrgRef(r.id, r.name, r.code, r.parent_id, r.path, r.closed_on is None) for r in rows}
        self.scope = scope
        self.by_code: dict[str, OrgRef] = {}
        self.by_name: dict[str, list[OrgRef]] = {}
        for org in self.by_id.values():
            if not (org.open and scope.contains(org.path)):
                continue
            if org.code:
                self.by_code[org.code] = org
            self.by_name.setdefault(org.name, []).append(org)
        self._cache: dict[str, OrgRef | str] = {}

    def display(self, org_id: int) -> str:
        """“甲镇/甲一村”: the unit under its township (or alone for top levels)."""
        org = self.by_id.get(org_id)
        if org is None:
            return ""
        parent = self.by_id.get(org.parent_id) if org.parent_id else None
        if parent is None or parent.parent_id is None:
            return org.name
        return f"{parent.name}/{org.name}"

    def _ancestor_names(self, org: OrgRef) -> list[str]:
        names: list[str] = []
        current = self.by_id.get(org.parent_id) if org.parent_id else None
        while current is not None:
            names.append(current.name)
            current = self.by_id.get(current.parent_id) if current.parent_id else None
        return names  # nearest first

    def resolve(self, raw: str) -> OrgRef | str:
        """The organisation, or an error message in Chinese."""
        cached = self._cache.get(raw)
        if cached is not None:
            return cached
        result = self._resolve(raw)
        if len(self._cache) < self.CACHE_LIMIT:
            self._cache[raw] = result
        return result

    def _resolve(self, raw: str) -> OrgRef | str:
        value = raw.replace("／", "/").replace("\\", "/").strip().strip("/")
        if not value:
            return "必填"
        if value.isdigit():
            org = self.by_code.get(value)
            return org if org is not None else f"组织不存在或无权限：{raw}"
        parts = [p.strip() for p in value.split("/") if p.strip()]
        candidates = self.by_name.get(parts[-1], [])
        if len(parts) > 1:
            candidates = [c for c in candidates if _is_subsequence(list(reversed(parts[:-1])),
                                                                   self._ancestor_names(c))]
        if not candidates:
            return f"组织不存在或无权限：{raw}"
        if len(candidates) > 1:
            paths = "、".join(sorted(self.display(c.id) for c in candidates)[:5])
            return (f"组织“{raw}”不唯一（{len(candidates)}个同名组织：{paths}），"
                    "请写成“镇名/村名”或填写区划代码")
        return candidates[0]


def _is_subsequence(wanted: list[str], names: list[str]) -> bool:
    """Each wanted name appears among the ancestors, nearest first, in order."""
    it = iter(names)
    return all(any(w == n for n in it) for w in wanted)


# --- rows --------------------------------------------------------------------------------------


@dataclass
class _Parsed:
    row: int
    errors: list[Problem]
    resident_id: str | None = None  # valid number, even if other cells are bad (in memory only)
    value: RosterRow | None = None
    lookup: str | None = None  # keyed hash of resident_id: what the database and temp table see


def parse_row(row_no: int, cells: Sequence[Any], columns: dict[str, int], orgs: OrgDirectory,
              today: date) -> _Parsed | None:
    """One data row -> a clean :class:`RosterRow` or its errors. Blank rows give None."""

    def raw(header: str) -> Any:
        idx = columns.get(header)
        return cells[idx] if idx is not None and idx < len(cells) else None

    def txt(header: str) -> str:
        return cell_text(raw(header))

    if all(cell_text(c) == "" for c in cells):
        return None
    errors: list[Problem] = []

    def bad(column: str, message: str) -> None:
        errors.append(Problem(column, message, row_no))

    rid_raw = raw("身份证号")
    details, person_problems = check_person(txt("姓名"), "" if isinstance(rid_raw, float) else cell_text(rid_raw),
                                            txt("联系电话") or None, txt("住址") or None)
    for problem in person_problems:
        if problem.field == "resident_id" and isinstance(rid_raw, float):
            bad("身份证号", "身份证号被 Excel 存成了数字，后几位已丢失：请把该列设为“文本”格式后重新填写")
        else:
            errors.append(_in_column(problem, row_no))

    org_id = 0
    org_text = txt("所属组织")
    if not org_text:
        bad("所属组织", "必填")
    else:
        found = orgs.resolve(org_text)
        if isinstance(found, str):
            bad("所属组织", found)
        else:
            org_id = found.id

    roles: tuple[MemberRole, ...] = (MemberRole.member,)
    try:
        roles = parse_roles(txt("职务"))
    except ValueError as exc:
        bad("职务", str(exc))

    joined_on = None
    if raw("入会日期") is None or txt("入会日期") == "":
        bad("入会日期", "必填")
    else:
        try:
            joined_on = parse_date(raw("入会日期"))
        except ValueError as exc:
            bad("入会日期", str(exc))
        else:
            # Without a valid ID there is no birth date: only the "not after today" half can be checked.
            born = details.resident_id.birth_date if details else date.min
            errors.extend(_in_column(p, row_no) for p in join_date_problems(born, joined_on, today))

    volunteer = False
    try:
        volunteer = parse_yes_no(txt("是否志愿者"))
    except ValueError as exc:
        bad("是否志愿者", str(exc))

    skills = txt("志愿服务技能") or None
    if skills and len(skills) > 500:
        bad("志愿服务技能", "内容过长（最多500个字）")
    group = txt("会员小组") or None
    if group and len(group) > 100:
        bad("会员小组", "小组名称过长（最多100个字）")

    number = details.resident_id.number if details else None
    if number is None and not any(p.field == "resident_id" for p in person_problems):
        # Another cell is bad but the ID is fine: it still counts for duplicates within the file.
        number = parse_resident_id(cell_text(rid_raw)).number
    parsed = _Parsed(row=row_no, errors=errors, resident_id=number)
    if not errors and details is not None and joined_on is not None:
        parsed.value = RosterRow(row=row_no, person=details, org_id=org_id, joined_on=joined_on, roles=roles,
                                 is_volunteer=volunteer, volunteer_skills=skills, group=group)
    return parsed


# --- the import --------------------------------------------------------------------------------


ProgressFn = Callable[[int], None]


class _SeenIds:
    """Resident IDs (their keyed hashes) met earlier in this file, with their row: a temporary table, not a set."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.table = f"roster_seen_{uuid.uuid4().hex[:10]}"
        pg = session.get_bind().dialect.name == "postgresql"
        suffix = " ON COMMIT DROP" if pg else ""
        session.execute(text(f"CREATE TEMPORARY TABLE {self.table} "
                             f"(lookup VARCHAR(64) PRIMARY KEY, row_no INTEGER NOT NULL){suffix}"))

    def earlier(self, ids: list[str]) -> dict[str, int]:
        if not ids:
            return {}
        stmt = text(f"SELECT lookup, row_no FROM {self.table} "  # noqa: S608 - our own table name
                    "WHERE lookup IN :ids").bindparams(_expanding("ids"))
        return {r[0]: int(r[1]) for r in self.session.execute(stmt, {"ids": ids})}

    def add(self, pairs: list[dict[str, Any]]) -> None:
        if pairs:
            self.session.execute(text(f"INSERT INTO {self.table} (lookup, row_no) "  # noqa: S608
                                      "VALUES (:lookup, :row_no)"), pairs)

    def drop(self) -> None:
        # In a failed transaction this fails too, and the rollback drops the table anyway.
        with contextlib.suppress(Exception):
            self.session.execute(text(f"DROP TABLE IF EXISTS {self.table}"))


def _take_write_lock(session: Session) -> None:
    """On SQLite, hold the write lock from the first read (BEGIN IMMEDIATE).

    Otherwise the import reads under a snapshot and a concurrent import that commits first makes
    our first write fail at once with “database is locked”. Holding the lock makes a second
    import wait its turn, then find the first one's rows (unchanged) instead. PostgreSQL needs
    nothing: a racing insert waits on the unique index and fails cleanly.
    """
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return
    raw = conn.connection.driver_connection
    if raw is not None and not raw.in_transaction:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _expanding(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name, expanding=True)


class RosterImport:
    """Runs one import over a stream of rows; see the module docstring for the rules."""

    def __init__(self, session: Session, scope: Scope, *, dry_run: bool, progress: ProgressFn | None = None,
                 batch_rows: int = BATCH_ROWS, today: date | None = None, max_rows: int | None = None,
                 cipher: IdCipher | None = None) -> None:
        self.session = session
        self.cipher = cipher or people.current_cipher()
        self.scope = scope
        self.dry_run = dry_run
        self.progress = progress
        self.batch_rows = batch_rows
        self.max_rows = max_rows
        self.today = today or date.today()
        self.orgs = OrgDirectory(session, scope)
        self.report = ImportReport(dry_run=dry_run)
        self._groups: dict[tuple[int, str], int] = {}

    # Rows --------------------------------------------------------------------------------------

    def run_sheet(self, sheet: Sheet) -> ImportReport:
        self.report.format, self.report.encoding = sheet.format, sheet.encoding
        columns = sheet.columns
        return self.run(parsed for row_no, cells in sheet.rows
                        if (parsed := parse_row(row_no, cells, columns, self.orgs, self.today)) is not None)

    def run_rows(self, rows: Iterable[RosterRow]) -> ImportReport:
        """Rows built in code (the demo county): already parsed, still checked against the database."""
        return self.run(_Parsed(row=r.row, errors=[], resident_id=r.person.resident_id.number, value=r)
                        for r in rows)

    def run(self, parsed_rows: Iterable[_Parsed]) -> ImportReport:
        session = self.session
        was_off = session.info.get("audit_off")
        session.info["audit_off"] = True  # bulk rows; one summary note is written at the end instead
        if not self.dry_run:
            _take_write_lock(session)
        seen = _SeenIds(session)
        try:
            for batch in _batches(iter(parsed_rows), self.batch_rows):
                if self.max_rows is not None and self.report.total + len(batch) > self.max_rows:
                    raise BadFile(f"一次最多导入{self.max_rows}行，请把文件拆分后分批导入", field="file")
                self._batch(batch, seen)
                if self.progress:
                    self.progress(len(batch))
        finally:
            seen.drop()
            if was_off:
                session.info["audit_off"] = was_off
            else:
                session.info.pop("audit_off", None)
        if self.report.total == 0:
            raise BadFile("文件中没有数据行", field="file")
        return self.report

    def _batch(self, batch: list[_Parsed], seen: _SeenIds) -> None:
        report = self.report
        report.total += len(batch)
        for p in batch:
            if p.resident_id is not None:
                p.lookup = self.cipher.lookup(p.resident_id)
        # Duplicates inside the file: earlier batches (temporary table) and this one.
        ids = [p.lookup for p in batch if p.lookup]
        earlier = seen.earlier(sorted(set(ids)))
        first_here: dict[str, int] = {}
        new_pairs: list[dict[str, Any]] = []
        for p in batch:
            rid = p.lookup
            if rid is None:
                continue
            prev = earlier.get(rid) or first_here.get(rid)
            if prev is not None:
                p.errors.append(Problem("身份证号", f"与文件第{prev}行的身份证号重复", p.row))
                p.value = None
            else:
                first_here[rid] = p.row
                new_pairs.append({"lookup": rid, "row_no": p.row})
        seen.add(new_pairs)

        clean = [p.value for p in batch if p.value is not None and not p.errors]
        to_create = self._check_against_system(clean, batch)
        for p in batch:
            if p.errors:
                report.error_rows += 1
                for e in p.errors:
                    report.add_error(e)
        report.would_create += len(to_create)
        if not self.dry_run and report.error_rows == 0 and to_create:
            self._write(to_create)

    def _check_against_system(self, clean: list[RosterRow], batch: list[_Parsed]) -> list[_Pending]:
        by_row = {p.row: p for p in batch}
        if not clean:
            return []
        lookups = {c.row: by_row[c.row].lookup or "" for c in clean}
        known = people.registered(self.session, lookups.values())
        spells = spells_of(self.session, [r.id for r in known.values()])
        out: list[_Pending] = []
        for row in clean:
            existing = known.get(lookups[row.row])
            if existing is None:
                out.append(_Pending(row, None))
                continue
            p = by_row[row.row]
            mine = spells.get(existing.id, [])
            if existing.name != row.person.name:
                p.errors.append(Problem("姓名", "该身份证号已登记，但姓名与系统中的记录不一致", row.row))
            elif any(m.org_id == row.org_id and m.joined_on == row.joined_on for m in mine):
                self.report.unchanged += 1
            elif not self._visible(existing.org_id, [m.org_id for m in mine]):
                p.errors.append(Problem("身份证号", "该身份证号已在其他组织登记，请联系上级协会办理转会", row.row))
            elif refused := spell_problems(existing.died_on, row.org_id, row.joined_on, mine):
                p.errors.extend(_in_column(problem, row.row) for problem in refused.all)
            else:
                out.append(_Pending(row, existing.id))  # a former member joins again
        return out

    def _visible(self, person_org_id: int, spell_orgs: list[int]) -> bool:
        paths = [self.orgs.by_id[o].path for o in [person_org_id, *spell_orgs] if o in self.orgs.by_id]
        return any(self.scope.contains(path) for path in paths)

    # Writing -----------------------------------------------------------------------------------

    def _group_ids(self, keys: set[tuple[int, str]]) -> dict[tuple[int, str], int]:
        missing = [k for k in keys if k not in self._groups]
        if missing:
            org_ids = sorted({k[0] for k in missing})

            def load() -> None:
                for g in self.session.execute(select(MemberGroup.id, MemberGroup.org_id, MemberGroup.name)
                                              .where(MemberGroup.org_id.in_(org_ids))):
                    if (g.org_id, g.name) in keys:
                        self._groups[(g.org_id, g.name)] = g.id

            load()
            still = [k for k in missing if k not in self._groups]
            if still:
                self.session.execute(_table_insert(MemberGroup), [{"org_id": o, "name": n} for o, n in still])
                self.report.groups_created += len(still)
                load()
        return {k: self._groups[k] for k in keys}

    def _write(self, pending: list[_Pending]) -> None:
        # Plain executemany inserts, then the new ids read back by natural key: RETURNING with
        # guaranteed row order makes SQLAlchemy send SQLite one statement per row.
        session = self.session
        groups = self._group_ids({(p.value.org_id, p.value.group) for p in pending if p.value.group})
        new = [p.value for p in pending if p.person_id is None]
        if new:
            ids = people.insert_people(session, self.cipher, [(r.person, r.org_id) for r in new])
            for p in pending:
                if p.person_id is None:
                    p.person_id = ids[self.cipher.lookup(p.value.person.resident_id.number)]
        session.execute(_table_insert(Membership), [
            {"person_id": p.person_id, "org_id": p.value.org_id, "joined_on": p.value.joined_on,
             "is_volunteer": p.value.is_volunteer, "volunteer_skills": p.value.volunteer_skills,
             "group_id": groups.get((p.value.org_id, p.value.group)) if p.value.group else None}
            for p in pending])
        spells = {(m.person_id, m.org_id, m.joined_on): m.id for m in session.execute(
            select(Membership.id, Membership.person_id, Membership.org_id, Membership.joined_on)
            .where(Membership.person_id.in_([p.person_id for p in pending])))}
        session.execute(_table_insert(RoleTerm), [
            {"membership_id": spells[(p.person_id, p.value.org_id, p.value.joined_on)], "role": role.value,
             "start_on": p.value.joined_on}
            for p in pending for role in p.value.roles])


def _table_insert(model: type[Any]) -> Any:
    """A Core INSERT on the model's table: one executemany, no ORM bookkeeping per row."""
    table: Table = model.__table__
    return insert(table)


@dataclass
class _Pending:
    value: RosterRow
    person_id: int | None


def _batches(it: Iterator[_Parsed], size: int) -> Iterator[list[_Parsed]]:
    batch: list[_Parsed] = []
    for item in it:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def file_sha256(f: IO[bytes]) -> str:
    f.seek(0)
    h = hashlib.sha256()
    while chunk := f.read(1 << 20):
        h.update(chunk)
    f.seek(0)
    return h.hexdigest()


def import_roster(session: Session, scope: Scope, f: IO[bytes], *, dry_run: bool, filename: str | None = None,
                  progress: ProgressFn | None = None, on_open: Callable[[Sheet], None] | None = None,
                  max_rows: int | None = None, cipher: IdCipher | None = None) -> ImportReport:
    """Import one file. A dry run, or a run with bad rows, leaves the database as it was.

    The caller owns the transaction: on success of a real import it commits; on
    :class:`ImportRefused` (bad rows) or any other error it rolls back.
    """
    digest = file_sha256(f)
    with open_sheet(f) as sheet:
        if on_open:
            on_open(sheet)
        job = RosterImport(session, scope, dry_run=dry_run, progress=progress, max_rows=max_rows, cipher=cipher)
        report = job.run_sheet(sheet)
    report.sha256 = digest
    if report.error_rows:
        session.rollback()
        if dry_run:
            return report
        raise ImportRefused(report)
    if dry_run:
        session.rollback()
        return report
    report.created = report.would_create
    report.committed = True
    if report.created or report.groups_created:
        audit.note(session, "roster.import", "roster_import", digest, _scope_root(scope),
                   after=report.summary(), note_text=f"导入会员名册 {(filename or '')[:200]}".strip())
    return report


def _scope_root(scope: Scope) -> str | None:
    return scope.paths[0] if len(scope.paths) == 1 else None
