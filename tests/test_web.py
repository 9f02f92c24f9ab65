"""The web UI through real HTTP: login form with CSRF, pages scoped like the API, masked IDs, logout."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import TestClient
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth import services
from assoc_ledger.auth.scope import Role
from tests import factories
from tests.conftest import PASSWORD, Tree


def _csrf_from(html: str) -> str:
    m = re.search(r'name="_csrf" value="([^"]+)"', html)
    assert m, html[:500]
    return m.group(1)


def test_login_form_pages_and_logout(client: TestClient[Any], tree: Tree,
                                     session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        u = services.create_user(s, "web-sec", PASSWORD)
        services.grant_role(s, u, Role.secretary, tree.town_a.id)
        inside = factories.membership(s, tree.village_a1.id)
        outside = factories.membership(s, tree.village_b1.id)
        inside_id, outside_id = inside.person.resident_id, outside.person.resident_id
        inside_name, outside_name = inside.person.name + "甲", outside.person.name + "乙"
        inside.person.name, outside.person.name = inside_name, outside_name
        s.commit()
    # Anonymous pages redirect to the login form.
    r = client.get("/members", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login"
    page = client.get("/login")
    assert "登录" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    token = _csrf_from(page.text)
    # A form posted without the matching CSRF value is refused.
    forged = client.post("/login", data={"username": "web-sec", "password": PASSWORD, "_csrf": "x"},
                         follow_redirects=False)
    assert forged.headers["location"] == "/login?error=csrf"
    bad = client.post("/login", data={"username": "web-sec", "password": "wrong-password!", "_csrf": token},
                      follow_redirects=False)
    assert bad.headers["location"] == "/login?error=bad"
    ok = client.post("/login", data={"username": "web-sec", "password": PASSWORD, "_csrf": token},
                     follow_redirects=False)
    assert ok.status_code == 303
    assert ok.headers["location"] == "/"
    home = client.get("/")
    assert "甲镇" in home.text
    assert "乙乡" not in home.text
    members = client.get("/members").text
    assert inside_name in members
    assert outside_name not in members
    assert inside_id not in members
    assert inside_id[:6] + "********" + inside_id[-4:] in members
    assert outside_id[-4:] not in members or outside_name not in members
    assert client.get(f"/orgs?under={tree.town_b.id}").status_code == 404
    # Logout is a form post with the session's CSRF token.
    csrf = _csrf_from(home.text)
    assert client.post("/logout", data={"_csrf": "wrong"}, follow_redirects=False).status_code == 403
    out = client.post("/logout", data={"_csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303
