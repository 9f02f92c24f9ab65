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
    # A refused login answers the form again (no redirect): the message, the username kept, a fresh token.
    assert bad.status_code == 400
    assert "用户名或密码错误" in bad.text
    assert 'value="web-sec"' in bad.text
    assert "wrong-password!" not in bad.text
    token = _csrf_from(bad.text)
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


def test_fund_pages_show_books_journal_and_balances_in_scope(client: TestClient[Any], tree: Tree, auth_for: Any,
                                                            settings: Any,
                                                            session_factory: sessionmaker[Session]) -> None:
    from assoc_ledger.auth.scope import Scope
    from assoc_ledger.fund import service as fund_service

    everything = Scope.everything()
    with session_factory() as s:
        mine = fund_service.open_book(s, settings.ledger_dir, tree.town_a.id, everything)
        theirs = fund_service.open_book(s, settings.ledger_dir, tree.town_b.id, everything)
        mine_id, theirs_id, mine_title, theirs_title = mine.id, theirs.id, mine.title, theirs.title
    for book, payer, amount in ((mine_id, "甲镇财政所", "12345.67"), (theirs_id, "乙乡财政所", "7654.32")):
        with session_factory() as s:
            fund_service.post_income(s, settings.ledger_dir, everything, book, key=f"web-{book}", date="2026-03-01",
                                     amount=amount, source="central_transfer", payer=payer, voucher=f"W-{book}")
    with session_factory() as s:
        fund_service.post_payment(s, settings.ledger_dir, everything, mine_id, key="web-pay", date="2026-03-02",
                                  amount="300.00", category="visits", fund="General", payee="走访对象",
                                  voucher="W-P")
    headers = auth_for(Role.secretary, tree.town_a.id)
    books = client.get("/fund", headers=headers)
    assert books.status_code == 200
    assert mine_title in books.text
    assert theirs_title not in books.text
    # 12,345.67 of which 20 % (2,469.13) is restricted to 奖励扶助; 300.00 paid out of the unrestricted part.
    assert "9,576.54" in books.text
    assert "2,469.13" in books.text
    assert "12,045.67" in books.text
    page = client.get(f"/fund/books/{mine_id}", headers=headers)
    assert page.status_code == 200
    assert "甲镇财政所" in page.text
    assert "走访慰问" in page.text
    assert "中央转移支付分成" in page.text
    # Filters: text search and an empty date field (as the form sends it).
    found = client.get(f"/fund/books/{mine_id}?q=走访对象&from=&to=&account=&category=", headers=headers)
    assert found.status_code == 200
    assert "共 1 笔" in found.text
    assert "甲镇财政所" not in found.text
    early = client.get(f"/fund/books/{mine_id}?to=2026-03-01", headers=headers)
    assert "共 1 笔" in early.text
    assert "12,345.67" in early.text
    bad = client.get(f"/fund/books/{mine_id}?from=2026-13-01", headers=headers)
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "from"
    # Another township's book is not there at all.
    other = client.get(f"/fund/books/{theirs_id}", headers=headers)
    assert other.status_code == 404
    assert "乙乡财政所" not in other.text
