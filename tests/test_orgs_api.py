"""Organisation tree through the HTTP API: create, subtree queries, moves with history, coverage."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from assoc_ledger.auth.scope import Role
from tests.conftest import AuthFor, Tree


def test_subtree_listing_is_scoped(client: TestClient[Any], tree: Tree, auth_for: AuthFor) -> None:
    county = auth_for(Role.secretary, tree.county.id)
    town_a = auth_for(Role.secretary, tree.town_a.id)
    all_rows = client.get("/api/orgs", headers=county).json()
    assert all_rows["total"] == 7
    a_rows = client.get("/api/orgs", headers=town_a).json()
    assert {r["name"] for r in a_rows["items"]} == {"甲镇", "甲一村", "甲二村"}
    under = client.get(f"/api/orgs?under={tree.town_b.id}", headers=county).json()
    assert {r["name"] for r in under["items"]} == {"乙乡", "乙一村", "乙二社区"}
    # Outside the subtree: 404, nothing leaked.
    r = client.get(f"/api/orgs/{tree.village_b1.id}", headers=town_a)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "乙一村" not in r.text


def test_move_keeps_history_and_rewrites_subtree(client: TestClient[Any], tree: Tree, auth_for: AuthFor) -> None:
    h = auth_for(Role.secretary, tree.county.id)
    r = client.post(f"/api/orgs/{tree.village_a2.id}/move", json={"parent_id": tree.town_b.id}, headers=h)
    assert r.status_code == 201, r.text
    moved = r.json()
    assert moved["parent_id"] == tree.town_b.id
    assert moved["path"] == f"{tree.town_b.path}{tree.village_a2.id}/"
    names_b = {o["name"] for o in client.get(f"/api/orgs?under={tree.town_b.id}", headers=h).json()["items"]}
    assert "甲二村" in names_b
    hist = client.get(f"/api/orgs/{tree.village_a2.id}/history", headers=h).json()
    assert [e["kind"] for e in hist] == ["created", "moved"]
    assert hist[1]["detail"]["from_parent_id"] == tree.town_a.id
    # A town cannot be moved under its own village.
    bad = client.post(f"/api/orgs/{tree.town_a.id}/move", json={"parent_id": tree.village_a1.id}, headers=h)
    assert bad.status_code == 422  # a business rule: 422 (was 400 before one problem type)
    assert bad.json()["errors"][0]["field"] == "parent_id"


def test_rename_and_close_keep_history(client: TestClient[Any], tree: Tree, auth_for: AuthFor) -> None:
    h = auth_for(Role.secretary, tree.county.id)
    r = client.patch(f"/api/orgs/{tree.village_a1.id}", json={"name": "甲一新村"}, headers=h)
    assert r.status_code == 200, r.text
    refused = client.post(f"/api/orgs/{tree.town_a.id}/close", json={"closed_on": "2026-01-01", "reason": "撤并"},
                          headers=h)
    assert refused.status_code == 422  # still has open villages (a business rule: 422, was 400)
    ok = client.post(f"/api/orgs/{tree.village_a2.id}/close", json={"closed_on": "2026-01-01", "reason": "撤并"},
                     headers=h)
    assert ok.status_code == 201
    assert client.get(f"/api/orgs/{tree.village_a2.id}", headers=h).json()["closed_on"] == "2026-01-01"
    hist = client.get(f"/api/orgs/{tree.village_a1.id}/history", headers=h).json()
    assert hist[-1]["kind"] == "renamed"
    assert hist[-1]["detail"] == {"before": {"name": "甲一村"}, "after": {"name": "甲一新村"}}


def test_coverage(client: TestClient[Any], tree: Tree, auth_for: AuthFor) -> None:
    h = auth_for(Role.auditor, tree.county.id)
    rows = client.get(f"/api/orgs/{tree.county.id}/coverage", headers=h).json()
    top = rows[0]
    assert (top["units"], top["constituted"], top["percent"]) == (7, 2, "28.6")
    by_name = {r["name"]: r for r in rows[1:]}
    assert by_name["甲镇"]["constituted"] == 1
    assert by_name["甲镇"]["percent"] == "33.3"


def test_bad_requests_are_problems(client: TestClient[Any], tree: Tree, auth_for: AuthFor) -> None:
    h = auth_for(Role.secretary, tree.county.id)
    cases = [
        {"name": "x", "kind": "galaxy", "parent_id": tree.county.id},
        {"name": "x", "kind": "village", "parent_id": "abc"},
        {"name": "", "kind": "village", "parent_id": tree.town_a.id},
        {"name": "x", "kind": "village", "parent_id": 999999},
        {"name": "x", "kind": "village", "parent_id": tree.county.id},  # village directly under county
        {"name": "x", "kind": "village", "parent_id": tree.town_a.id, "code": "12ab"},
    ]
    before = client.get("/api/orgs", headers=h).json()["total"]
    for body in cases:
        r = client.post("/api/orgs", json=body, headers=h)
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        problem = r.json()
        assert problem["status"] == r.status_code
        assert problem["errors"][0]["field"], problem
    assert client.get("/api/orgs", headers=h).json()["total"] == before
