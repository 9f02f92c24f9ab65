"""Sessions, CSRF, API tokens (scoped, revocable), lockout, security headers, audit chain."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth import audit, services
from assoc_ledger.auth.models import AuditEntry
from assoc_ledger.auth.scope import Perm, Role
from tests.conftest import PASSWORD, AuthFor, Tree


def _user(factory: sessionmaker[Session], name: str, role: Role, org_id: int) -> None:
    with factory() as s:
        u = services.create_user(s, name, PASSWORD)
        services.grant_role(s, u, role, org_id)
        s.commit()


def _login(client: TestClient[Any], name: str, password: str = PASSWORD) -> Any:
    return client.post("/api/auth/login", json={"username": name, "password": password})


def test_login_sets_httponly_samesite_cookie_and_logout_ends_it(
        client: TestClient[Any], tree: Tree, session_factory: sessionmaker[Session]) -> None:
    _user(session_factory, "li", Role.secretary, tree.town_a.id)
    r = _login(client, "li")
    assert r.status_code == 200, r.text
    set_cookie = r.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=strict" in set_cookie
    cookie_value = client.cookies.get("assoc_session")
    assert cookie_value
    csrf = r.json()["csrf_token"]
    assert client.get("/api/auth/me").json()["username"] == "li"
    assert client.get("/api/orgs").status_code == 200
    out = client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 200
    # The old cookie value no longer works even if a client replays it.
    client.cookies.set("assoc_session", cookie_value)
    assert client.get("/api/auth/me").status_code == 401


def test_wrong_password_and_unknown_user_look_the_same(client: TestClient[Any], tree: Tree,
                                                       session_factory: sessionmaker[Session]) -> None:
    _user(session_factory, "wang", Role.secretary, tree.town_a.id)
    a = _login(client, "wang", "wrong-password-123")
    b = _login(client, "nobody", "wrong-password-123")
    assert a.status_code == b.status_code == 401
    assert a.json()["detail"] == b.json()["detail"] == "用户名或密码错误"
    assert a.headers["content-type"].startswith("application/problem+json")


def test_csrf_required_for_cookie_writes_not_for_tokens(client: TestClient[Any], tree: Tree,
                                                        session_factory: sessionmaker[Session],
                                                        auth_for: AuthFor) -> None:
    _user(session_factory, "zhao", Role.secretary, tree.county.id)
    csrf = _login(client, "zhao").json()["csrf_token"]
    body = {"name": "新村", "kind": "village", "parent_id": tree.town_a.id}
    no_csrf = client.post("/api/orgs", json=body)
    assert no_csrf.status_code == 403
    assert "CSRF" in no_csrf.json()["detail"]
    wrong = client.post("/api/orgs", json=body, headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    ok = client.post("/api/orgs", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201, ok.text
    # A script with a bearer token carries no ambient credential: no CSRF needed.
    client.cookies.clear()
    token = auth_for(Role.secretary, tree.county.id)
    assert client.post("/api/orgs", json={**body, "name": "另一村"}, headers=token).status_code == 201


def test_tokens_are_hashed_scoped_and_revocable(client: TestClient[Any], tree: Tree,
                                                session_factory: sessionmaker[Session]) -> None:
    _user(session_factory, "sun", Role.secretary, tree.county.id)
    csrf = _login(client, "sun").json()["csrf_token"]
    made = client.post("/api/auth/tokens", json={"name": "只读脚本", "perms": ["org:read"]},
                       headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text
    secret, token_id = made.json()["token"], made.json()["id"]
    with session_factory() as s:
        stored = s.execute(text("SELECT token_hash FROM api_tokens WHERE id = :i"), {"i": token_id}).scalar()
    assert stored and secret not in stored and stored == services.hash_secret(secret)
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/orgs", headers=bearer).status_code == 200
    # Narrowed to org:read: cannot write, cannot read members.
    assert client.post("/api/orgs", json={"name": "x", "kind": "village", "parent_id": tree.town_a.id},
                       headers=bearer).status_code == 403
    assert client.get("/api/members", headers=bearer).status_code == 403
    revoked = client.post(f"/api/auth/tokens/{token_id}/revoke", headers=bearer)
    assert revoked.status_code == 200
    assert client.get("/api/orgs", headers=bearer).status_code == 401
    assert client.get("/api/orgs", headers={"Authorization": "Bearer alt_made-up"}).status_code == 401


def test_lockout_after_repeated_failures(client: TestClient[Any], tree: Tree,
                                         session_factory: sessionmaker[Session]) -> None:
    _user(session_factory, "qian", Role.secretary, tree.town_a.id)
    for _ in range(services.MAX_FAILED_LOGINS):
        assert _login(client, "qian", "bad-password-xx").status_code == 401
    locked = _login(client, "qian")  # even the right password is refused while locked
    assert locked.status_code == 429
    assert "锁定" in locked.json()["detail"]


def test_client_throttled_when_rotating_usernames(client: TestClient[Any], tree: Tree) -> None:
    for i in range(services.MAX_CLIENT_FAILURES):
        assert _login(client, f"guess{i}", "bad-password-xx").status_code == 401
    assert _login(client, "guess-final", "bad-password-xx").status_code == 429


def test_security_headers(client: TestClient[Any]) -> None:
    r = client.get("/healthz")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"


def test_every_write_is_audited_and_masked(client: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                           session_factory: sessionmaker[Session]) -> None:
    h = auth_for(Role.secretary, tree.town_a.id)
    rid = "11010519491231002X"
    r = client.post("/api/people", json={"name": "张三", "resident_id": rid, "org_id": tree.village_a1.id,
                                         "phone": "13812345678"}, headers=h)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert r.json()["resident_id_masked"] == "110105********002X"
    full = client.post(f"/api/people/{pid}/reveal-id", json={"reason": "核对救助申请"}, headers=h)
    assert full.json()["resident_id"] == rid
    with session_factory() as s:
        rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        actions = [e.action for e in rows]
        assert "people.create" in actions and "person.id_viewed" in actions
        created = next(e for e in rows if e.action == "people.create")
        assert created.after is not None and created.after["resident_id"] == "110105********002X"
        assert created.after["phone"] == "138****5678"
        assert created.username and created.username.startswith("secretary-")
        assert created.org_path == tree.village_a1.path
        for e in rows:
            assert rid not in str(e.before) + str(e.after) + str(e.note)
        count, problems = audit.verify(s)
    assert count == len(rows) and problems == []


def test_auditor_reads_audit_log_only_in_scope(client: TestClient[Any], tree: Tree, auth_for: AuthFor) -> None:
    sec_a = auth_for(Role.secretary, tree.town_a.id)
    sec_b = auth_for(Role.secretary, tree.town_b.id)
    client.patch(f"/api/orgs/{tree.village_a1.id}", json={"population": 1200}, headers=sec_a)
    client.patch(f"/api/orgs/{tree.village_b1.id}", json={"population": 900}, headers=sec_b)
    aud_a = auth_for(Role.auditor, tree.town_a.id)
    rows = client.get("/api/audit?action=organisations.update", headers=aud_a).json()["items"]
    assert [r["object_id"] for r in rows] == [str(tree.village_a1.id)]
    csv_text = client.get("/api/audit/export.csv", headers=aud_a).text
    assert "organisations.update" in csv_text
    # Secretaries cannot read the audit log at all.
    assert client.get("/api/audit", headers=sec_a).status_code == 403


def test_audit_verify_cli_detects_direct_edit(client: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                              db_url: str, session_factory: sessionmaker[Session]) -> None:
    h = auth_for(Role.secretary, tree.town_a.id)
    client.patch(f"/api/orgs/{tree.village_a1.id}", json={"population": 1200}, headers=h)
    env = {"ASSOC_DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "assoc_ledger.cli", "audit", "verify"]
    ok = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "审计日志完整" in ok.stdout
    with session_factory() as s:
        target = s.scalar(select(AuditEntry.id).where(AuditEntry.action == "organisations.update"))
        s.execute(text("UPDATE audit_log SET after = :a WHERE id = :i"),
                  {"a": '{"population": 99}', "i": target})
        s.commit()
    bad = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert f"第 {target} 条" in bad.stdout and "被修改" in bad.stdout


def test_audit_verify_detects_deleted_row(tree: Tree, session_factory: sessionmaker[Session],
                                          client: TestClient[Any], auth_for: AuthFor) -> None:
    h = auth_for(Role.secretary, tree.town_a.id)
    for pop in (1, 2, 3):
        client.patch(f"/api/orgs/{tree.village_a1.id}", json={"population": pop}, headers=h)
    with session_factory() as s:
        ids = s.scalars(select(AuditEntry.id).order_by(AuditEntry.id)).all()
        s.execute(text("DELETE FROM audit_log WHERE id = :i"), {"i": ids[len(ids) // 2]})
        s.commit()
        _, problems = audit.verify(s)
    assert problems and "删除" in problems[0].reason


def test_perm_names_are_stable() -> None:
    # Token scopes are stored as these strings; renaming one would silently widen or break tokens.
    assert Perm("org:read") is Perm.org_read and Perm("fund:write") is Perm.fund_write
