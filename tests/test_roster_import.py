"""Roster import through the HTTP API, on SQLite and PostgreSQL, from real XLSX and CSV files."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.app import create_app
from assoc_ledger.auth.models import AuditEntry
from assoc_ledger.auth.scope import Role, Scope
from assoc_ledger.core.config import Settings
from assoc_ledger.members.models import MemberGroup, Membership, Person, RoleTerm
from assoc_ledger.orgs.models import OrgKind
from assoc_ledger.orgs.services import create_org
from tests.conftest import AuthFor, Tree
from tests.roster_files import HEADERS, encode, resident_id, roster_rows, to_csv, to_xlsx

ORGS = ["甲一村", "甲镇/甲二村", "乙一村", "乙乡/乙二社区", "341100000000"]
ROSTER_TABLES = (Person, Membership, RoleTerm, MemberGroup)


def counts(factory: sessionmaker[Session]) -> dict[str, int]:
    with factory() as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0 for m in ROSTER_TABLES}


def upload(client: TestClient[Any], headers: dict[str, str], name: str, data: bytes,
           dry_run: bool | None = None) -> Any:
    url = "/api/members/import" if dry_run is None else f"/api/members/import?dry_run={str(dry_run).lower()}"
    return client.post(url, files={"file": (name, data)}, headers=headers)


@pytest.mark.parametrize("fmt", ["xlsx", "xlsx-shared", "csv-utf8", "csv-gb18030"])
def test_one_bad_row_in_a_thousand_writes_nothing_then_clean_file_imports_once(
        fmt: str, client: TestClient[Any], tree: Tree, auth_for: AuthFor,
        session_factory: sessionmaker[Session]) -> None:
    h = auth_for(Role.secretary, tree.county.id)
    rows = roster_rows(1000, ORGS)
    good_id = rows[536][1]
    rows[536][1] = good_id[:-1] + ("1" if good_id[-1] != "1" else "2")  # spreadsheet row 538: bad checksum
    name, data = encode(rows, fmt)
    empty = counts(session_factory)

    dry = upload(client, h, name, data, dry_run=True)
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert (report["total"], report["would_create"], report["error_rows"]) == (1000, 999, 1)
    assert report["errors"] == [{"row": 538, "column": "身份证号", "message": report["errors"][0]["message"]}]
    assert "校验位" in report["errors"][0]["message"]
    assert report["format"] == fmt.split("-", maxsplit=1)[0]
    if fmt == "xlsx-shared":  # the file really is laid out as Excel saves it
        assert b"sharedStrings.xml" in data
    assert counts(session_factory) == empty

    real = upload(client, h, name, data, dry_run=False)
    assert real.status_code == 422, real.text
    assert real.headers["content-type"].startswith("application/problem+json")
    problem = real.json()
    assert problem["errors"][0]["row"] == 538
    assert problem["errors"][0]["column"] == "身份证号"
    assert problem["report"]["created"] == 0
    assert counts(session_factory) == empty

    rows[536][1] = good_id
    name, data = encode(rows, fmt)
    ok = upload(client, h, name, data, dry_run=False)
    assert ok.status_code == 201, ok.text
    assert (ok.json()["created"], ok.json()["unchanged"], ok.json()["error_rows"]) == (1000, 0, 0)
    after = counts(session_factory)
    assert after["people"] == 1000
    assert after["memberships"] == 1000
    assert after["role_terms"] > 1000  # "副会长、理事" rows hold two roles

    again = upload(client, h, name, data, dry_run=False)
    assert again.status_code == 200, again.text
    assert (again.json()["created"], again.json()["unchanged"], again.json()["error_rows"]) == (0, 1000, 0)
    assert counts(session_factory) == after

    with session_factory() as s:
        notes = s.scalars(select(AuditEntry).where(AuditEntry.action == "roster.import")).all()
        assert len(notes) == 1  # the no-op re-import wrote nothing, not even a note
        assert notes[0].after is not None
        assert notes[0].after["created"] == 1000
        # Bulk rows are summarised, not logged one by one.
        assert s.scalar(select(func.count()).select_from(AuditEntry)
                        .where(AuditEntry.action == "people.create")) == 0

    listed = client.get(f"/api/members?under={tree.town_a.id}&limit=500", headers=h).json()
    assert listed["total"] == 400  # 甲一村 and 甲二村 get 200 rows each
    assert all("*" in m["person"]["resident_id_masked"] for m in listed["items"])


@pytest.fixture
def twin_village(tree: Tree, session_factory: sessionmaker[Session]) -> int:
    """A second 甲一村, under 乙乡: the bare name becomes ambiguous."""
    with session_factory() as s:
        twin = create_org(s, Scope.everything(), name="甲一村", kind=OrgKind.village, parent_id=tree.town_b.id)
        s.commit()
        return twin.id


def test_every_kind_of_bad_row_is_reported_at_once(client: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                                   twin_village: int,
                                                   session_factory: sessionmaker[Session]) -> None:
    h = auth_for(Role.secretary, tree.county.id)
    rows = roster_rows(15, ["甲镇/甲一村"], seed=11)
    # Already in the system: two active members of 乙一村.
    existing, other = rows[0], rows[14]
    existing[3] = other[3] = "乙一村"
    first = upload(client, h, "a.xlsx", to_xlsx([existing, other]), dry_run=False)
    assert first.status_code == 201, first.text

    bad = [r[:] for r in rows[1:14]]
    bad[0][1] = bad[0][1][:-1] + ("0" if bad[0][1][-1] != "0" else "1")  # row 2: checksum
    bad[1][3] = "不存在村"  # row 3
    bad[2][1] = bad[3][1]  # row 4 / row 5: duplicate in file (reported on the later row)
    bad[4][1] = other[1]  # row 6: same ID, different name
    bad[5][1], bad[5][0] = existing[1], existing[0]  # row 7: active member elsewhere
    bad[5][3] = "甲镇/甲二村"
    bad[6][5] = "2023-02-30"  # row 8: no such date
    bad[7][5] = "上个月"  # row 9
    bad[8][3] = "甲一村"  # row 10: ambiguous name
    bad[9][6] = "也许"  # row 11
    bad[10][4] = "主任"  # row 12: unknown role
    bad[11][1] = "12345"  # row 13: malformed ID
    bad[12][2] = "12345"  # row 14: phone
    name, data = encode(bad, "xlsx")
    before = counts(session_factory)
    r = upload(client, h, name, data, dry_run=True)
    assert r.status_code == 200, r.text
    got = {(e["row"], e["column"]) for e in r.json()["errors"]}
    assert got == {(2, "身份证号"), (3, "所属组织"), (5, "身份证号"), (6, "姓名"), (7, "身份证号"), (8, "入会日期"),
                   (9, "入会日期"), (10, "所属组织"), (11, "是否志愿者"), (12, "职务"), (13, "身份证号"),
                   (14, "联系电话")}
    messages = {(e["row"], e["column"]): e["message"] for e in r.json()["errors"]}
    assert "第4行" in messages[(5, "身份证号")]
    assert "不唯一" in messages[(10, "所属组织")]
    assert "组织不存在或无权限" in messages[(3, "所属组织")]
    assert "其他协会" in messages[(7, "身份证号")]
    assert r.json()["error_rows"] == 12
    assert upload(client, h, name, data, dry_run=False).status_code == 422
    assert counts(session_factory) == before


def test_rows_outside_the_callers_subtree_are_refused(client: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                                     session_factory: sessionmaker[Session]) -> None:
    h = auth_for(Role.secretary, tree.town_a.id)
    rows = roster_rows(4, ["甲一村", "甲二村", "乙一村", "341100000000"], seed=3)
    r = upload(client, h, "x.csv", to_csv(rows, "utf-8"), dry_run=True)
    assert r.status_code == 200
    assert {(e["row"], e["message"]) for e in r.json()["errors"]} == {
        (4, "组织不存在或无权限：乙一村"), (5, "组织不存在或无权限：341100000000")}
    auditor = auth_for(Role.auditor, tree.county.id)
    assert upload(client, auditor, "x.csv", to_csv(rows, "utf-8"), dry_run=True).status_code == 403


def test_rejoining_former_member_and_reimport_after_leaving(client: TestClient[Any], tree: Tree,
                                                            auth_for: AuthFor) -> None:
    h = auth_for(Role.secretary, tree.county.id)
    rows = roster_rows(1, ["甲一村"], seed=5)
    assert upload(client, h, "a.xlsx", to_xlsx(rows), dry_run=False).status_code == 201
    m = client.get("/api/members?status=all", headers=h).json()["items"][0]
    left = client.post(f"/api/members/{m['id']}/leave", json={"left_on": "2025-01-01", "reason": "withdrew"},
                       headers=h)
    assert left.status_code == 201, left.text
    # The same file again is still a no-op: that spell exists (and has ended).
    again = upload(client, h, "a.xlsx", to_xlsx(rows), dry_run=False).json()
    assert (again["created"], again["unchanged"]) == (0, 1)
    # Joining another chapter later is a new spell for the same person.
    rows[0][3], rows[0][5] = "乙一村", "2025-06-01"
    back = upload(client, h, "b.xlsx", to_xlsx(rows), dry_run=False)
    assert back.status_code == 201, back.text
    history = client.get(f"/api/people/{m['person']['id']}/memberships", headers=h).json()
    assert [(x["org_id"], x["left_reason"]) for x in history] == [(tree.village_a1.id, "withdrew"),
                                                                  (tree.village_b1.id, None)]


def _xlsx_with_title_row() -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["甲镇甲一村计生协会会员花名册"])
    ws.append([" 姓名 ", "*身份证号码", "手机号", "所属协会", "职务", "入会时间", "志愿者"])
    rid = resident_id("341100", __import__("datetime").date(1980, 5, 6), 12, True)
    ws.append(["王秀英", rid, 13912345678, "甲一村", "会长，理事", __import__("datetime").datetime(2020, 3, 1), "√"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_title_row_aliases_and_excel_cell_types(client: TestClient[Any], tree: Tree, auth_for: AuthFor) -> None:
    h = auth_for(Role.secretary, tree.county.id)
    r = upload(client, h, "名册.xlsx", _xlsx_with_title_row(), dry_run=False)
    assert r.status_code == 201, r.text
    m = client.get("/api/members", headers=h).json()["items"][0]
    assert m["joined_on"] == "2020-03-01"
    assert m["is_volunteer"] is True
    assert {t["role_zh"] for t in m["roles"]} == {"会长", "理事"}
    assert m["person"]["phone_masked"] == "139****5678"


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_sheet_without_volunteer_column_and_serial_dates(client: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                                         fmt: str) -> None:
    """What secretaries' sheets hold: no 是否志愿者 column (absent means 否), and join dates Excel kept as day
    counts (a date column formatted as 常规): 45000 is 2023-03-15, in a number cell or as CSV text."""
    h = auth_for(Role.secretary, tree.county.id)
    headers = ["姓名", "身份证号", "联系电话", "所属组织", "职务", "入会日期"]
    rid = resident_id("341100", __import__("datetime").date(1981, 7, 8), 31, False)
    rows: list[list[Any]] = [["李建国", rid, "13800001111", "甲一村", "会员", 45000]]
    name, data = ("r.xlsx", to_xlsx(rows, headers)) if fmt == "xlsx" else ("r.csv", to_csv(rows, "utf-8", headers))
    r = upload(client, h, name, data, dry_run=False)
    assert r.status_code == 201, r.text
    m = client.get("/api/members?q=李建国", headers=h).json()["items"][0]
    assert m["joined_on"] == "2023-03-15"
    assert m["is_volunteer"] is False


# --- bad uploads ---------------------------------------------------------------------------------


def _zip_not_xlsx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    return buf.getvalue()


BAD_UPLOADS = [
    ("empty", "a.csv", b"", 400),
    ("only-bom", "a.csv", b"\xef\xbb\xbf\r\n", 400),
    ("png-named-xlsx", "a.xlsx", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, 415),
    ("old-xls", "a.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, 415),
    ("pdf", "a.csv", b"%PDF-1.7\n1 0 obj\n", 415),
    ("zip-not-xlsx", "a.xlsx", _zip_not_xlsx(), 415),
    ("truncated-xlsx", "a.xlsx", to_xlsx(roster_rows(3, ORGS))[:300], 400),
    ("no-header", "a.csv", "随便,什么\n1,2\n".encode(), 400),
    ("header-only", "a.csv", to_csv([], "utf-8"), 400),
    ("not-utf8-nor-gb18030", "a.csv", ",".join(HEADERS).encode("utf-8") + b"\n\x81\x30\xff\xff,\n", 400),
]


@pytest.mark.parametrize(("case", "name", "data", "status"), BAD_UPLOADS, ids=[c[0] for c in BAD_UPLOADS])
def test_bad_uploads_are_problems_and_write_nothing(case: str, name: str, data: bytes, status: int,
                                                    client: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                                    session_factory: sessionmaker[Session]) -> None:
    h = auth_for(Role.secretary, tree.county.id)
    before = counts(session_factory)
    for dry in (True, False):
        r = upload(client, h, name, data, dry_run=dry)
        assert r.status_code == status, (case, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == status
        assert r.json()["detail"]
    assert counts(session_factory) == before


def test_missing_required_header_is_named(client: TestClient[Any], tree: Tree, auth_for: AuthFor) -> None:
    h = auth_for(Role.secretary, tree.county.id)
    headers = [x for x in HEADERS if x not in ("入会日期", "职务")]
    rows = [[*r[:4], r[6], *r[7:]] for r in roster_rows(2, ORGS)]
    r = upload(client, h, "a.xlsx", to_xlsx(rows, headers), dry_run=True)
    assert r.status_code == 400
    assert {e["field"] for e in r.json()["errors"]} == {"入会日期", "职务"}
    assert "入会日期" in r.json()["detail"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_malformed_requests(client: TestClient[Any], tree: Tree, auth_for: AuthFor) -> None:
    h = auth_for(Role.secretary, tree.county.id)
    cases = [
        client.post("/api/members/import", json={"file": "x"}, headers=h),
        client.post("/api/members/import", data={"other": "x"}, headers=h),
        client.post("/api/members/import", data={"file": "just text"}, headers=h),
        client.post("/api/members/import?dry_run=maybe", files={"file": ("a.csv", b"x")}, headers=h),
        client.post("/api/members/import", files={"file": ("a.csv", b"x")}),  # no login
    ]
    for r in cases:
        assert 400 <= r.status_code < 500, (r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json"), r.text


@pytest.fixture
def small_upload_client(db_url: str, tmp_path: Any) -> Iterator[TestClient[Any]]:
    settings = Settings(database_url=db_url, ledger_dir=tmp_path / "ledgers", secret_key="test-secret",
                        max_upload_bytes=4096)
    app = create_app(settings)
    with TestClient(app=app, raise_server_exceptions=False) as c:
        yield c
    app.state.engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_oversize_upload_is_413(small_upload_client: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                session_factory: sessionmaker[Session]) -> None:
    h = auth_for(Role.secretary, tree.county.id)
    data = to_csv(roster_rows(200, ORGS), "utf-8")
    assert len(data) > 4096
    r = upload(small_upload_client, h, "big.csv", data, dry_run=False)
    assert r.status_code == 413, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert counts(session_factory)["people"] == 0


# --- export ------------------------------------------------------------------------------------------


def test_export_masks_ids_and_phones_and_follows_filters(client: TestClient[Any], tree: Tree,
                                                         auth_for: AuthFor) -> None:
    h = auth_for(Role.secretary, tree.county.id)
    rows = roster_rows(40, ORGS, seed=9)
    assert upload(client, h, "a.xlsx", to_xlsx(rows), dry_run=False).status_code == 201
    r = client.get("/api/members/export.xlsx", headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    ws = load_workbook(io.BytesIO(r.content), read_only=True).worksheets[0]
    got = list(ws.iter_rows(values_only=True))
    header, body = got[0], got[1:]
    assert header[:4] == ("姓名", "身份证号", "联系电话", "所属组织")
    assert len(body) == 40
    ids = {row[1] for row in body}
    full = {r[1] for r in rows}
    assert not ids & full
    assert {i[:6] + "********" + i[-4:] for i in full} == ids
    assert all(row[2].startswith("139****") and len(row[2]) == 11 for row in body)
    assert not any(r[2] in str(row) for r in rows for row in body)
    assert {row[3] for row in body} >= {"甲镇/甲一村", "乙乡/乙一村"}

    town_b = client.get(f"/api/members/export.xlsx?under={tree.town_b.id}&role=member", headers=h)
    ws_b = load_workbook(io.BytesIO(town_b.content), read_only=True).worksheets[0]
    orgs_b = {row[3] for row in list(ws_b.iter_rows(values_only=True))[1:]}
    assert orgs_b == {"乙乡/乙一村", "乙乡/乙二社区"}

    village = auth_for(Role.secretary, tree.village_a1.id)
    mine = load_workbook(io.BytesIO(client.get("/api/members/export.xlsx", headers=village).content),
                         read_only=True).worksheets[0]
    assert {row[3] for row in list(mine.iter_rows(values_only=True))[1:]} == {"甲镇/甲一村"}
    outside = client.get(f"/api/members/export.xlsx?under={tree.town_b.id}", headers=village)
    assert outside.status_code == 404
    assert outside.headers["content-type"].startswith("application/problem+json")


def test_an_id_excel_turned_into_a_number_is_explained(client: TestClient[Any], tree: Tree,
                                                       auth_for: AuthFor) -> None:
    h = auth_for(Role.secretary, tree.county.id)
    rows = roster_rows(2, ["甲一村"], seed=13)
    rows[1][1] = float(rows[1][1][:17] + "0")  # what Excel keeps of an 18-digit number: 15 significant digits
    r = upload(client, h, "a.xlsx", to_xlsx(rows), dry_run=True)
    assert r.status_code == 200, r.text
    [err] = r.json()["errors"]
    assert (err["row"], err["column"]) == (3, "身份证号")
    assert "文本" in err["message"]


def test_roster_on_a_later_sheet_after_instructions(client: TestClient[Any], tree: Tree, auth_for: AuthFor) -> None:
    from openpyxl import Workbook

    h = auth_for(Role.secretary, tree.county.id)
    wb = Workbook()
    notes = wb.active
    notes.title = "填表说明"
    notes.append(["身份证号请设为文本格式；职务可填多个，用顿号分隔。"])
    ws = wb.create_sheet("会员名册")
    ws.append(HEADERS)
    for row in roster_rows(3, ["甲一村"], seed=17):
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    r = upload(client, h, "a.xlsx", buf.getvalue(), dry_run=True)
    assert r.status_code == 200, r.text
    assert (r.json()["total"], r.json()["would_create"]) == (3, 3)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_row_limit_refuses_the_whole_file(tree: Tree, session_factory: sessionmaker[Session]) -> None:
    from assoc_ledger.auth.scope import Perm
    from assoc_ledger.core.tabular import BadFile
    from assoc_ledger.members.import_roster import import_roster

    data = to_csv(roster_rows(12, ORGS), "utf-8")
    with session_factory() as s, pytest.raises(BadFile, match="最多导入10行"):
        import_roster(s, Scope.everything(Perm.member_write), io.BytesIO(data), dry_run=False, max_rows=10,
                      progress=None)
    assert counts(session_factory)["people"] == 0
    with session_factory() as s:
        report = import_roster(s, Scope.everything(Perm.member_write), io.BytesIO(data), dry_run=False, max_rows=12)
        s.commit()
    assert report.created == 12


def test_two_imports_of_one_file_at_once_leave_one_copy(tree: Tree, session_factory: sessionmaker[Session]) -> None:
    import threading

    from sqlalchemy.exc import IntegrityError

    from assoc_ledger.auth.scope import Perm
    from assoc_ledger.members.import_roster import import_roster

    data = to_csv(roster_rows(300, ORGS, seed=23), "utf-8")
    start = threading.Event()
    outcomes: list[str] = []

    def run() -> None:
        start.wait(timeout=30)
        with session_factory() as s:
            try:
                # Whichever inserts second waits on the unique index, then fails when the first commits.
                report = import_roster(s, Scope.everything(Perm.member_write), io.BytesIO(data), dry_run=False)
                s.commit()
                outcomes.append(f"created {report.created}" if report.created else "unchanged")
            except IntegrityError:
                s.rollback()
                outcomes.append("conflict")

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    start.set()
    for t in threads:
        t.join(timeout=120)
    assert sorted(outcomes) in (["conflict", "created 300"], ["created 300", "unchanged"])
    after = counts(session_factory)
    assert (after["people"], after["memberships"]) == (300, 300)
