"""The roster pages by keyset on both backends: walking ``next`` from the first page, or ``prev`` from the
last, lists exactly what offset pages list, in (organisation, name, id) order, with equal names too."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar.testing import TestClient
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth.scope import Role, Scope
from assoc_ledger.members import services as members
from tests import factories
from tests.conftest import AuthFor, Tree


def test_roster_pages_by_cursor_as_offset_lists(client: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                                session_factory: sessionmaker[Session]) -> None:
    with session_factory() as db:
        for i, org in enumerate([tree.village_a1, tree.village_a2, tree.town_a] * 4):
            p = factories.person(db, org.id, name=["王芳", "李强", "王芳", "张伟"][i % 4])  # equal names on purpose
            members.join(db, Scope.everything(), person_id=p.id, org_id=org.id, joined_on=date(2020, 1, 1))
        db.commit()
    h = auth_for(Role.secretary, tree.town_a.id)
    url = f"/api/members?under={tree.town_a.id}"
    everything = client.get(url, params={"limit": 500}, headers=h).json()
    order = [m["id"] for m in everything["items"]]
    assert len(order) == everything["total"] == 12
    for limit in (1, 5, 12):
        seen: list[int] = []
        page = client.get(url, params={"limit": limit}, headers=h).json()
        while True:
            seen += [m["id"] for m in page["items"]]
            if page["next"] is None:
                break
            page = client.get(url, params={"limit": limit, "after": page["next"]}, headers=h).json()
            assert page["offset"] is None
        assert seen == order
        page = client.get(url, params={"limit": limit, "last": "true"}, headers=h).json()
        assert page["offset"] == 12 - limit and page["next"] is None
        back: list[int] = []
        while True:
            back = [m["id"] for m in page["items"]] + back
            if page["prev"] is None:
                break
            page = client.get(url, params={"limit": limit, "before": page["prev"]}, headers=h).json()
        assert back == order
    assert client.get(url, params={"after": order[0], "last": "true"}, headers=h).status_code == 400
    assert client.get(url, params={"after": 2_000_000}, headers=h).status_code == 404
