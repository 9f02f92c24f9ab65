"""A statement's life on both backends, over real HTTP: prepared (figures frozen with the books' fingerprint),
sign-off by its preparer refused, signed by an auditor, never edited, stale after a later reversal dated in
its period (listing that entry), a new version prepared, a stale version refused for signing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import delete, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.auth.scope import Role, Scope
from assoc_ledger.core.config import Settings
from assoc_ledger.core.errors import Conflict
from assoc_ledger.fund import service
from assoc_ledger.reports.models import Statement
from tests.conftest import AuthFor, Tree

EVERYTHING = Scope.everything()


def _post(factory: sessionmaker[Session], ledger_dir: Path, org_id: int) -> tuple[int, int]:
    with factory() as db:
        book = service.open_book(db, ledger_dir, org_id, EVERYTHING).id
        service.post_income(db, ledger_dir, EVERYTHING, book, key="st-1", date="2025-03-01", amount="60000.00",
                            source="budget", payer="镇财政所", voucher="收-1")
        service.post_income(db, ledger_dir, EVERYTHING, book, key="st-2", date="2025-03-05", amount="900.00",
                            source="donation_person", payer="热心群众", voucher="收-2")
        paid = service.post_payment(db, ledger_dir, EVERYTHING, book, key="st-3", date="2025-04-02", amount="800.00",
                                    category="visits", payee="走访对象", voucher="付-1")
        service.post_payment(db, ledger_dir, EVERYTHING, book, key="st-4", date="2025-05-02", amount="120.00",
                             category="publicity", payee="文化站", voucher="付-2")
        return book, paid.seq


def _figure(body: dict[str, Any], key: str) -> str:
    return str(body["summary"][key])


def test_statement_lifecycle(client: TestClient[Any], session_factory: sessionmaker[Session], tree: Tree,
                             auth_for: AuthFor, settings: Settings) -> None:
    ledger_dir = Path(settings.ledger_dir)
    book, paid_seq = _post(session_factory, ledger_dir, tree.town_a.id)
    admin = auth_for(Role.admin, tree.county.id)
    auditor = auth_for(Role.auditor, tree.county.id)
    secretary = auth_for(Role.secretary, tree.town_a.id)

    # an auditor may not prepare (fund:write), a secretary may
    assert client.post("/api/statements", json={"org_id": tree.town_a.id, "year": 2025},
                       headers=auditor).status_code == 403
    r = client.post("/api/statements", json={"org_id": tree.town_a.id, "year": 2025}, headers=admin)
    assert r.status_code == 201, r.text
    first = r.json()
    sid = first["id"]
    assert first["state"] == "prepared" and first["version"] == 1
    assert _figure(first, "income") == "60900.00" and _figure(first, "relief") == "800.00"
    head = next(b for b in first["fingerprint"]["books"] if b["book_id"] == book)
    assert head["seq"] == 4 and len(head["hash"]) == 64 and "2025.beancount" in head["files"]
    assert first["program_version"].startswith("assoc-ledger ")

    # the preparer may not sign it off; nothing is written
    r = client.post(f"/api/statements/{sid}/sign", json={"comment": "同意"}, headers=admin)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert client.get(f"/api/statements/{sid}", headers=admin).json()["signed_at"] is None
    assert client.post(f"/api/statements/{sid}/sign", json={"comment": "同意"}, headers=secretary).status_code == 403
    assert client.post(f"/api/statements/{sid}/sign", json={"comment": ""}, headers=auditor).status_code == 400

    r = client.post(f"/api/statements/{sid}/sign", json={"comment": "经审计，账实相符。"}, headers=auditor)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "signed" and r.json()["sign_comment"] == "经审计，账实相符。"
    # issued: cannot be signed again, has no edit route, and the row itself refuses a change
    assert client.post(f"/api/statements/{sid}/sign", json={"comment": "再签"}, headers=auditor).status_code == 409
    assert client.patch(f"/api/statements/{sid}", json={"year": 2024}, headers=admin).status_code == 405
    with session_factory() as db:
        row = db.get_one(Statement, sid)
        row.figures = {**row.figures, "summary": {**row.figures["summary"], "income": "1.00"}}
        with pytest.raises(Conflict):
            db.commit()
        db.rollback()
        row = db.get_one(Statement, sid)
        row.sign_comment = "改签意见"
        with pytest.raises(Conflict):
            db.commit()
    with session_factory() as db:  # below the application too: the database refuses an edit or a delete
        for change in (update(Statement).where(Statement.id == sid).values(sign_comment="改签意见"),
                       update(Statement).where(Statement.id == sid).values(year=2024),
                       delete(Statement).where(Statement.id == sid)):
            with pytest.raises(DBAPIError, match="frozen"):
                db.execute(change)
            db.rollback()
    assert _figure(client.get(f"/api/statements/{sid}", headers=admin).json(), "income") == "60900.00"
    assert "/public/statements/" in client.get("/public/statements").text

    # a later reversal dated in the period makes it stale, and names the entry that changed it
    with session_factory() as db:
        rev = service.reverse(db, ledger_dir, EVERYTHING, book, paid_seq, key="st-rev", date=dt.date(2025, 12, 20),
                              reason="重复支付", voucher="冲-1")
    shown = client.get(f"/api/statements/{sid}", headers=auditor).json()
    assert shown["state"] == "stale"
    assert [(c["seq"], c["reverses_seq"], c["amount"]) for c in shown["changes"]] == [(rev[0].seq, paid_seq, "800.00")]
    assert _figure(shown, "relief") == "800.00"  # the issued figures stay as signed

    # a new version reflects the books now; the old one is superseded
    r = client.post("/api/statements", json={"org_id": tree.town_a.id, "year": 2025}, headers=secretary)
    assert r.status_code == 201, r.text
    second = r.json()
    assert second["version"] == 2 and _figure(second, "relief") == "0.00" and second["changes"] == []
    assert client.get(f"/api/statements/{sid}", headers=admin).json()["state"] == "superseded"
    with session_factory() as db:  # not yet signed: still nothing but a sign-off may be added
        with pytest.raises(DBAPIError, match="frozen"):
            db.execute(update(Statement).where(Statement.id == second["id"]).values(figures={}))
        db.rollback()

    # a version that went stale before sign-off cannot be signed
    with session_factory() as db:
        service.post_income(db, ledger_dir, EVERYTHING, book, key="st-late", date="2025-12-30", amount="10.00",
                            source="interest", payer="银行", voucher="收-9")
    r = client.post(f"/api/statements/{second['id']}/sign", json={"comment": "同意"}, headers=auditor)
    assert r.status_code == 422 and "过期" in r.text

    # outside the caller's subtree: 404
    other = auth_for(Role.auditor, tree.town_b.id)
    assert client.get(f"/api/statements/{sid}", headers=other).status_code == 404
    assert client.post(f"/api/statements/{second['id']}/sign", json={"comment": "同意"},
                       headers=other).status_code == 404


def test_statement_cli(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """prepare / sign (the preparer refused) / show / pdf from the command line, as named users."""
    from typer.testing import CliRunner

    from assoc_ledger.auth import services as auth_services
    from assoc_ledger.cli import app
    from assoc_ledger.core.config import get_settings
    from assoc_ledger.core.db import make_engine, make_sessionmaker

    ledger_dir = tmp_path / "ledgers"
    engine = make_engine(sqlite_url)
    factory = make_sessionmaker(engine)
    with factory() as db:
        tree = Tree(db)
        for name, role in (("cli-admin", Role.admin), ("cli-auditor", Role.auditor), ("cli-sec", Role.secretary)):
            auth_services.grant_role(db, auth_services.create_user(db, name, "correct-horse-battery"), role,
                                     tree.county.id)
        db.commit()
        town = tree.town_a.id
    _post(factory, ledger_dir, town)
    engine.dispose()
    monkeypatch.setenv("ASSOC_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("ASSOC_LEDGER_DIR", str(ledger_dir))
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    runner = CliRunner()
    out = runner.invoke(app, ["statement", "prepare", "--org", "甲镇", "--year", "2025", "--user", "cli-admin"])
    assert out.exit_code == 0, out.output
    assert "收入 60900.00 元" in out.output
    refused = runner.invoke(app, ["statement", "sign", "1", "--user", "cli-admin", "--comment", "同意"])
    assert refused.exit_code == 2 and "编制人不能签发" in refused.output
    no_right = runner.invoke(app, ["statement", "sign", "1", "--user", "cli-sec", "--comment", "同意"])
    assert no_right.exit_code == 2 and "没有所需权限" in no_right.output
    signed = runner.invoke(app, ["statement", "sign", "1", "--user", "cli-auditor", "--comment", "同意公开"])
    assert signed.exit_code == 0, signed.output
    shown = runner.invoke(app, ["statement", "show", "1"])
    assert "已签发" in shown.output
    target = tmp_path / "s.pdf"
    made = runner.invoke(app, ["statement", "pdf", "1", "--variant", "public", "--out", str(target)])
    assert made.exit_code == 0, made.output
    assert target.read_bytes().startswith(b"%PDF")
    get_settings.cache_clear()
