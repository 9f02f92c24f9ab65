"""The households API: problem+json refusals in Chinese with the field named, masked IDs, as-of reads, scope."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from litestar.testing import TestClient

from assoc_ledger.auth.scope import Role
from tests.conftest import AuthFor, Tree
from tests.factories import resident_id


def person(client: TestClient[Any], h: dict[str, str], org_id: int, birth: date, name: str) -> tuple[int, str]:
    number = resident_id(birth)
    r = client.post("/api/people", json={"name": name, "resident_id": number, "org_id": org_id}, headers=h)
    assert r.status_code == 201, r.text
    return r.json()["id"], number


def test_register_read_as_of_and_refusals(client: TestClient[Any], tree: Tree, auth_for: AuthFor) -> None:
    h = auth_for(Role.secretary, tree.town_a.id)
    village = tree.village_a1.id
    head, head_number = person(client, h, village, date(1976, 4, 2), "王户主")
    child, _ = person(client, h, village, date(2004, 8, 9), "王子")
    created = client.post("/api/households", headers=h, json={
        "org_id": village, "address": "三组", "registered_on": "2005-01-01",
        "members": [{"person_id": head, "relation": "户主"}, {"person_id": child, "relation": "子女"}],
        "kinds": [{"kind": "only_child", "since": "2006-03-01", "certificate_no": "GR-17", "child_id": child}]})
    assert created.status_code == 201, created.text
    body = created.json()
    hid = body["id"]
    assert [k["label"] for k in body["kinds"]] == ["独生子女户"]
    masked = {m["person_id"]: m["resident_id_masked"] for m in body["members"]}
    assert masked[head] == head_number[:6] + "********" + head_number[-4:]
    assert head_number not in created.text

    event = client.post(f"/api/households/{hid}/events", headers=h,
                        json={"kind": "hardship_start", "date": "2023-05-01", "evidence": "大病医疗证明"})
    assert event.status_code == 201, event.text
    assert event.json()["label"] == "特困开始"

    now = client.get(f"/api/households/{hid}", headers=h).json()
    assert {k["kind"] for k in now["kinds"]} == {"only_child", "hardship"}
    assert [e["kind"] for e in now["history"]] == ["registered", "certificate_issued", "hardship_start"]
    before = client.get(f"/api/households/{hid}?on=2022-12-31", headers=h).json()
    assert [k["kind"] for k in before["kinds"]] == ["only_child"]
    listed = client.get(f"/api/households?kind=hardship&under={tree.town_a.id}", headers=h).json()
    assert [x["id"] for x in listed["items"]] == [hid]

    # The same person in a second household: 409, in Chinese, pointing at the first.
    other, _ = person(client, h, village, date(1980, 1, 1), "李某")
    clash = client.post("/api/households", headers=h, json={
        "org_id": village, "registered_on": "2010-01-01",
        "members": [{"person_id": other, "relation": "户主"}, {"person_id": child, "relation": "子女"}]})
    assert clash.status_code == 409 and clash.headers["content-type"].startswith("application/problem+json")
    assert clash.json()["existing_household_ids"] == [hid]
    assert clash.json()["errors"][0]["field"] == "members[1].person_id"
    assert "只能属于一户" in clash.json()["detail"]

    future = (date.today() + timedelta(days=2)).isoformat()
    late = client.post(f"/api/households/{hid}/events", headers=h, json={"kind": "death", "date": future,
                                                                         "person_id": head})
    assert late.status_code == 422 and late.json()["errors"] == [{"field": "date", "message": "事件日期不能晚于今天"}]

    # Another township's secretary sees nothing of it.
    stranger = auth_for(Role.secretary, tree.town_b.id)
    assert client.get(f"/api/households/{hid}", headers=stranger).status_code == 404
    assert client.post(f"/api/households/{hid}/events", headers=stranger,
                       json={"kind": "hardship_end", "date": "2024-01-01"}).status_code == 404
    assert client.get("/api/households", headers=stranger).json()["items"] == []
