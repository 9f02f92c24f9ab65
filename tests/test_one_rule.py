"""One rule, two doors: the API and the roster import refuse the same person and the same joining alike.

Each case goes through both the HTTP API and an uploaded roster; the message is the same text
(it comes from ``people.rules`` or ``members.admission``), the API answers with the rule's status
and the import reports it on the row, in the column that holds the value.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar.testing import TestClient

from assoc_ledger.auth.scope import Role
from tests.conftest import AuthFor, Tree
from tests.roster_files import resident_id, to_csv

ROW = 2  # the first data row under the header, as Excel numbers it


def _import(client: TestClient[Any], h: dict[str, str], row: list[Any], dry_run: bool = True) -> Any:
    data = to_csv([row], "utf-8")
    return client.post(f"/api/members/import?dry_run={str(dry_run).lower()}", files={"file": ("r.csv", data)},
                       headers=h)


def _row(name: str, number: str, phone: str = "13900001111", joined: str = "2020-01-01") -> list[Any]:
    return [name, number, phone, "甲一村", "会员", joined, "否", "", "", ""]


def test_bad_phone_reads_the_same_in_both(client: TestClient[Any], tree: Tree, auth_for: AuthFor) -> None:
    h = auth_for(Role.secretary, tree.county.id)
    number = resident_id("341122", date(1975, 6, 1), 3, True)
    api = client.post("/api/people", json={"name": "甲", "resident_id": number, "org_id": tree.village_a1.id,
                                           "phone": "12345"}, headers=h)
    assert api.status_code == 400
    [problem] = api.json()["errors"]
    report = _import(client, h, _row("甲", number, phone="12345")).json()
    assert report["errors"] == [{"row": ROW, "column": "联系电话", "message": problem["message"]}]


def test_the_dead_do_not_join_through_either(client: TestClient[Any], tree: Tree, auth_for: AuthFor) -> None:
    h = auth_for(Role.secretary, tree.county.id)
    number = resident_id("341122", date(1950, 2, 3), 5, False)
    person = client.post("/api/people", json={"name": "乙", "resident_id": number, "org_id": tree.village_a1.id},
                         headers=h).json()
    died = client.patch(f"/api/people/{person['id']}", json={"died_on": "2024-01-01"}, headers=h)
    assert died.status_code == 200, died.text
    api = client.post("/api/members", json={"person_id": person["id"], "org_id": tree.village_a1.id,
                                            "joined_on": "2020-01-01"}, headers=h)
    assert api.status_code == 422
    [problem] = api.json()["errors"]
    assert problem["field"] == "person_id"
    report = _import(client, h, _row("乙", number)).json()
    assert report["errors"] == [{"row": ROW, "column": "身份证号", "message": problem["message"]}]


def test_joining_before_birth_is_one_rule(client: TestClient[Any], tree: Tree, auth_for: AuthFor) -> None:
    h = auth_for(Role.secretary, tree.county.id)
    number = resident_id("341122", date(1990, 5, 5), 8, True)
    person = client.post("/api/people", json={"name": "丙", "resident_id": number, "org_id": tree.village_b1.id},
                         headers=h).json()
    api = client.post("/api/members", json={"person_id": person["id"], "org_id": tree.village_b1.id,
                                            "joined_on": "1989-01-01"}, headers=h)
    assert api.status_code == 422
    [problem] = api.json()["errors"]
    assert problem["field"] == "joined_on"
    other = resident_id("341122", date(1990, 5, 5), 9, True)
    report = _import(client, h, _row("丁", other, joined="1989-01-01")).json()
    assert report["errors"] == [{"row": ROW, "column": "入会日期", "message": problem["message"]}]


def test_a_refused_import_lists_problems_with_field_and_row(client: TestClient[Any], tree: Tree,
                                                            auth_for: AuthFor) -> None:
    h = auth_for(Role.secretary, tree.county.id)
    refused = _import(client, h, _row("戊", "12345"), dry_run=False)
    assert refused.status_code == 422
    [problem] = refused.json()["errors"]
    assert (problem["field"], problem["row"]) == ("身份证号", ROW)
    assert problem["column"] == problem["field"]  # the report's older name for the same thing
