"""People and members through the HTTP API: duplicates, subtree queries, moves, leaving, roles, bad input."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth.scope import Role
from assoc_ledger.members.models import Membership, RoleTerm
from assoc_ledger.people.models import Person
from tests.conftest import AuthFor, Tree
from tests.roster_files import resident_id

H = dict[str, str]


def rid(n: int, female: bool = True, born: date = date(1985, 4, 12)) -> str:
    return resident_id("341100", born, n, female)


def person(client: TestClient[Any], h: H, name: str, number: str, org_id: int, **extra: Any) -> dict[str, Any]:
    r = client.post("/api/people", json={"name": name, "resident_id": number, "org_id": org_id, **extra}, headers=h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def member(client: TestClient[Any], h: H, person_id: int, org_id: int, **extra: Any) -> dict[str, Any]:
    body = {"person_id": person_id, "org_id": org_id, "joined_on": "2020-01-01", **extra}
    r = client.post("/api/members", json=body, headers=h)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_duplicate_person_is_refused_with_a_pointer(client: TestClient[Any], tree: Tree, auth_for: AuthFor) -> None:
    county = auth_for(Role.secretary, tree.county.id)
    first = person(client, county, "王秀英", rid(1), tree.village_a1.id, phone="13912345678")
    assert first["resident_id_masked"] == rid(1)[:6] + "********" + rid(1)[-4:]
    assert first["phone_masked"] == "139****5678"
    assert first["sex"] == "F"
    assert first["birth_date"] == "1985-04-12"
    # Same number typed with a lower-case x or spaces is still the same person.
    again = client.post("/api/people", json={"name": "王秀英", "resident_id": f" {rid(1)} ", "org_id":
                                             tree.village_a1.id}, headers=county)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["existing_person_id"] == first["id"]
    assert again.json()["errors"][0]["field"] == "resident_id"
    # A secretary who cannot see that record is refused without being told where it is.
    other = auth_for(Role.secretary, tree.town_b.id)
    hidden = client.post("/api/people", json={"name": "王秀英", "resident_id": rid(1), "org_id": tree.village_b1.id},
                         headers=other)
    assert hidden.status_code == 409
    assert "existing_person_id" not in hidden.json()
    assert client.get(f"/api/people/{first['id']}", headers=other).status_code == 404


@pytest.fixture
def roster(client: TestClient[Any], tree: Tree, auth_for: AuthFor) -> dict[str, Any]:
    """Six members over two townships, with roles, volunteers and one who left."""
    h = auth_for(Role.secretary, tree.county.id)
    spec = [("王秀英", tree.village_a1.id, ["president"], True), ("李桂兰", tree.village_a1.id, ["member"], False),
            ("张建国", tree.village_a2.id, ["secretary_general", "council_member"], True),
            ("刘海燕", tree.village_b1.id, ["member"], False), ("陈春梅", tree.village_b2.id, ["group_leader"], True),
            ("杨志强", tree.village_b1.id, ["member"], False)]
    out: dict[str, Any] = {"h": h}
    for i, (name, org, roles, vol) in enumerate(spec, start=1):
        p = person(client, h, name, rid(10 + i, female=i % 2 == 1), org)
        out[name] = member(client, h, p["id"], org, roles=roles, is_volunteer=vol)
    r = client.post(f"/api/members/{out['杨志强']['id']}/leave", json={"left_on": "2024-05-01", "reason": "withdrew"},
                    headers=h)
    assert r.status_code == 201, r.text
    return out


def names(page: dict[str, Any]) -> set[str]:
    return {m["person"]["name"] for m in page["items"]}


def test_member_queries_over_a_subtree(client: TestClient[Any], tree: Tree, roster: dict[str, Any],
                                       auth_for: AuthFor) -> None:
    h = roster["h"]

    def get(query: str, headers: H = h) -> dict[str, Any]:
        r = client.get(f"/api/members{query}", headers=headers)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    assert get("")["total"] == 5  # active by default
    assert names(get("?status=left")) == {"杨志强"}
    assert get("?status=all")["total"] == 6
    assert names(get(f"?under={tree.town_a.id}")) == {"王秀英", "李桂兰", "张建国"}
    assert names(get(f"?under={tree.village_b1.id}&status=all")) == {"刘海燕", "杨志强"}
    assert names(get("?role=president")) == {"王秀英"}
    assert names(get("?role=council_member")) == {"张建国"}
    assert names(get("?volunteer=true")) == {"王秀英", "张建国", "陈春梅"}
    assert names(get(f"?volunteer=false&under={tree.town_b.id}")) == {"刘海燕"}
    assert names(get("?q=海燕")) == {"刘海燕"}
    tail = rid(13, female=True)[-4:]
    assert names(get(f"?q={tail}")) == {"张建国"}
    # Pagination: stable order, total independent of the page.
    p1, p2, p3 = get("?limit=2&offset=0"), get("?limit=2&offset=2"), get("?limit=2&offset=4")
    assert (p1["total"], p2["total"], p3["total"]) == (5, 5, 5)
    assert len(p1["items"]) == 2
    assert len(p3["items"]) == 1
    seen = [m["id"] for p in (p1, p2, p3) for m in p["items"]]
    assert len(set(seen)) == 5
    # A township secretary sees only their subtree; asking for another subtree is a 404.
    town_b = auth_for(Role.secretary, tree.town_b.id)
    assert names(get("?status=all", town_b)) == {"刘海燕", "陈春梅", "杨志强"}
    assert client.get(f"/api/members?under={tree.town_a.id}", headers=town_b).status_code == 404
    assert client.get(f"/api/members/{roster['王秀英']['id']}", headers=town_b).status_code == 404


def test_transfer_keeps_history(client: TestClient[Any], tree: Tree, roster: dict[str, Any]) -> None:
    h = roster["h"]
    m = roster["张建国"]
    r = client.post(f"/api/members/{m['id']}/transfer", json={"to_org_id": tree.village_b1.id, "on": "2025-03-01"},
                    headers=h)
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["org_id"] == tree.village_b1.id
    assert new["joined_on"] == "2025-03-01"
    assert [t["role"] for t in new["roles"]] == ["member"]  # offices stay with the old chapter
    assert new["is_volunteer"] is True
    old = client.get(f"/api/members/{m['id']}", headers=h).json()
    assert (old["left_on"], old["left_reason"]) == ("2025-03-01", "moved")
    assert all(t["end_on"] == "2025-03-01" for t in old["roles"])
    history = client.get(f"/api/people/{m['person']['id']}/memberships", headers=h).json()
    assert [(x["org_id"], x["left_reason"]) for x in history] == [(tree.village_a2.id, "moved"),
                                                                  (tree.village_b1.id, None)]
    assert "张建国" in names(client.get(f"/api/members?under={tree.town_b.id}", headers=h).json())
    again = client.post(f"/api/members/{m['id']}/transfer", json={"to_org_id": tree.village_b2.id,
                                                                   "on": "2025-04-01"}, headers=h)
    assert again.status_code == 409
    early = client.post(f"/api/members/{new['id']}/transfer", json={"to_org_id": tree.village_b2.id,
                                                                     "on": "2019-01-01"}, headers=h)
    assert early.status_code == 422
    assert early.json()["errors"][0]["field"] == "on"


def test_leave_and_death(client: TestClient[Any], tree: Tree, roster: dict[str, Any]) -> None:
    h = roster["h"]
    m = roster["刘海燕"]
    died = client.post(f"/api/members/{m['id']}/leave", json={"left_on": "2025-06-30", "reason": "died"}, headers=h)
    assert died.status_code == 201, died.text
    assert died.json()["left_reason"] == "died"
    p = client.get(f"/api/people/{m['person']['id']}", headers=h).json()
    assert p["died_on"] == "2025-06-30"
    rejoin = client.post("/api/members", json={"person_id": p["id"], "org_id": tree.village_b2.id,
                                               "joined_on": "2025-07-01"}, headers=h)
    assert rejoin.status_code == 422
    # Recording a death on the person ends the open membership too.
    w = roster["王秀英"]
    r = client.patch(f"/api/people/{w['person']['id']}", json={"died_on": "2025-01-15"}, headers=h)
    assert r.status_code == 200, r.text
    after = client.get(f"/api/members/{w['id']}", headers=h).json()
    assert (after["left_on"], after["left_reason"]) == ("2025-01-15", "died")
    assert all(t["end_on"] == "2025-01-15" for t in after["roles"])
    twice = client.post(f"/api/members/{w['id']}/leave", json={"left_on": "2025-02-01", "reason": "withdrew"},
                        headers=h)
    assert twice.status_code == 409


def test_role_terms(client: TestClient[Any], roster: dict[str, Any]) -> None:
    h = roster["h"]
    m = roster["李桂兰"]
    r = client.post(f"/api/members/{m['id']}/roles", json={"role": "vice_president", "start_on": "2022-01-01"},
                    headers=h)
    assert r.status_code == 201, r.text
    term = r.json()
    assert term["role_zh"] == "副会长"
    assert "李桂兰" in names(client.get("/api/members?role=vice_president", headers=h).json())
    dup = client.post(f"/api/members/{m['id']}/roles", json={"role": "vice_president", "start_on": "2023-01-01"},
                      headers=h)
    assert dup.status_code == 409
    early = client.post(f"/api/members/{m['id']}/roles", json={"role": "council_member", "start_on": "2019-01-01"},
                        headers=h)
    assert early.status_code == 422
    bad_end = client.post(f"/api/members/{m['id']}/roles/{term['id']}/end", json={"end_on": "2021-01-01"}, headers=h)
    assert bad_end.status_code == 422
    end = client.post(f"/api/members/{m['id']}/roles/{term['id']}/end", json={"end_on": "2024-12-31"}, headers=h)
    assert end.status_code == 201, end.text
    assert end.json()["end_on"] == "2024-12-31"
    assert "李桂兰" not in names(client.get("/api/members?role=vice_president", headers=h).json())
    assert client.post(f"/api/members/{m['id']}/roles/{term['id']}/end", json={"end_on": "2025-01-01"},
                       headers=h).status_code == 409
    other = roster["王秀英"]
    foreign = client.post(f"/api/members/{other['id']}/roles/{term['id']}/end", json={"end_on": "2025-01-01"},
                          headers=h)
    assert foreign.status_code == 404
    roles = client.get(f"/api/members/{m['id']}", headers=h).json()["roles"]
    assert [(t["role"], t["end_on"]) for t in roles] == [("member", None), ("vice_president", "2024-12-31")]


def _counts(factory: sessionmaker[Session]) -> tuple[int, int, int]:
    with factory() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) or 0  # type: ignore[return-value]
                     for m in (Person, Membership, RoleTerm))


def test_bad_member_requests_are_problems_and_write_nothing(client: TestClient[Any], tree: Tree,
                                                            roster: dict[str, Any],
                                                            session_factory: sessionmaker[Session]) -> None:
    h = roster["h"]
    pid = roster["李桂兰"]["person"]["id"]
    mid = roster["李桂兰"]["id"]
    free = person(client, h, "赵丽娟", rid(40), tree.village_a1.id)["id"]
    before = _counts(session_factory)
    good_id = rid(41)
    cases: list[tuple[str, str, Any]] = [
        ("POST", "/api/people", {"name": "x", "resident_id": good_id[:-1] + ("1" if good_id[-1] != "1" else "2"),
                                 "org_id": tree.village_a1.id}),
        ("POST", "/api/people", {"name": "x", "resident_id": "12345", "org_id": tree.village_a1.id}),
        ("POST", "/api/people", {"name": "x", "resident_id": "34110019850412001", "org_id": tree.village_a1.id}),
        ("POST", "/api/people", {"name": "x", "resident_id": "341100198504120011234",
                                 "org_id": tree.village_a1.id}),
        ("POST", "/api/people", {"name": "x", "resident_id": 341100198504120011, "org_id": tree.village_a1.id}),
        ("POST", "/api/people", {"name": "x", "resident_id": good_id, "org_id": 999999}),
        ("POST", "/api/people", {"name": "x", "resident_id": good_id, "org_id": "甲一村"}),
        ("POST", "/api/people", {"name": "", "resident_id": good_id, "org_id": tree.village_a1.id}),
        ("POST", "/api/people", {"name": "x", "resident_id": good_id, "org_id": tree.village_a1.id,
                                 "phone": "call me"}),
        ("POST", "/api/people", {"name": "x", "resident_id": good_id, "org_id": tree.village_a1.id, "admin": True}),
        ("POST", "/api/people", ["not", "an", "object"]),
        ("PATCH", f"/api/people/{pid}", {"died_on": "2090-01-01"}),
        ("PATCH", f"/api/people/{pid}", {"org_id": 999999}),
        ("PATCH", f"/api/people/{pid}", {"phone": "123"}),
        ("GET", "/api/people/abc", None),
        ("GET", "/api/people/999999", None),
        ("POST", "/api/members", {"person_id": free, "org_id": 999999, "joined_on": "2020-01-01"}),
        ("POST", "/api/members", {"person_id": free, "org_id": tree.village_a1.id, "joined_on": "yesterday"}),
        ("POST", "/api/members", {"person_id": free, "org_id": tree.village_a1.id, "joined_on": "2090-01-01"}),
        ("POST", "/api/members", {"person_id": free, "org_id": tree.village_a1.id, "joined_on": "1970-01-01"}),
        ("POST", "/api/members", {"person_id": free, "org_id": tree.village_a1.id, "joined_on": "2020-01-01",
                                  "roles": ["emperor"]}),
        ("POST", "/api/members", {"person_id": "one", "org_id": tree.village_a1.id, "joined_on": "2020-01-01"}),
        ("POST", "/api/members", {"person_id": pid, "org_id": tree.village_a2.id, "joined_on": "2020-01-01"}),
        ("POST", "/api/members", {"person_id": pid, "org_id": tree.village_a1.id, "joined_on": "2020-01-01"}),
        ("POST", "/api/members", {"person_id": free, "org_id": tree.village_a1.id, "joined_on": "2020-01-01",
                                  "group_id": 999999}),
        ("GET", "/api/members?status=gone", None),
        ("GET", "/api/members?limit=0", None),
        ("GET", "/api/members?limit=abc", None),
        ("GET", "/api/members?role=emperor", None),
        ("GET", "/api/members?under=999999", None),
        ("POST", f"/api/members/{mid}/leave", {"left_on": "2024-01-01", "reason": "bored"}),
        ("POST", f"/api/members/{mid}/leave", {"left_on": "2019-01-01", "reason": "withdrew"}),
        ("POST", f"/api/members/{mid}/transfer", {"to_org_id": 999999, "on": "2024-01-01"}),
        ("POST", f"/api/members/{mid}/transfer", {"to_org_id": tree.village_a1.id, "on": "2024-01-01"}),
        ("POST", f"/api/members/{mid}/roles", {"role": "member", "start_on": "2024-01-01"}),
        ("POST", f"/api/members/{mid}/roles", {"role": "king", "start_on": "2024-01-01"}),
        ("POST", "/api/members/999999/leave", {"left_on": "2024-01-01", "reason": "withdrew"}),
        ("PATCH", f"/api/members/{mid}/volunteer", {"is_volunteer": "sometimes"}),
        ("GET", "/api/members/export.xlsx?status=gone", None),
        ("GET", "/api/members/export.xlsx?under=999999", None),
        ("GET", "/api/members/export.xlsx?under=99999999999", None),
        ("GET", "/api/members/export.xlsx?group_id=0", None),
        ("POST", "/api/members/import?dry_run=perhaps", {"file": "x"}),
    ]
    for method, url, body in cases:
        r = client.request(method, url, json=body, headers=h) if body is not None else client.request(
            method, url, headers=h)
        assert 400 <= r.status_code < 500, (method, url, body, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json"), (url, r.text)
        assert r.json()["status"] == r.status_code
    assert _counts(session_factory) == before


def test_readers_cannot_write(client: TestClient[Any], tree: Tree, roster: dict[str, Any],
                              auth_for: AuthFor) -> None:
    auditor = auth_for(Role.auditor, tree.county.id)
    assert client.get("/api/members", headers=auditor).json()["total"] == 5
    r = client.post("/api/people", json={"name": "x", "resident_id": rid(50), "org_id": tree.village_a1.id},
                    headers=auditor)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert client.post(f"/api/members/{roster['李桂兰']['id']}/leave",
                       json={"left_on": "2024-01-01", "reason": "withdrew"}, headers=auditor).status_code == 403


def test_death_before_joining_is_refused(client: TestClient[Any], roster: dict[str, Any]) -> None:
    h = roster["h"]
    m = roster["李桂兰"]  # joined 2020-01-01
    r = client.patch(f"/api/people/{m['person']['id']}", json={"died_on": "2019-06-01"}, headers=h)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "died_on"
    still = client.get(f"/api/members/{m['id']}", headers=h).json()
    assert still["left_on"] is None
    assert client.get(f"/api/people/{m['person']['id']}", headers=h).json()["died_on"] is None
