"""Books open with their organisation; a server start repairs a book whose last append was lost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from assoc_ledger.app import create_app
from assoc_ledger.auth.scope import Role
from assoc_ledger.core.config import Settings
from tests.conftest import AuthFor, Tree


def test_fund_level_gets_its_books_when_created(client: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                                settings: Settings) -> None:
    h = auth_for(Role.secretary, tree.county.id)
    town = client.post("/api/orgs", json={"name": "新设镇", "kind": "town", "parent_id": tree.county.id}, headers=h)
    assert town.status_code == 201, town.text
    village = client.post("/api/orgs", json={"name": "新设村", "kind": "village", "parent_id": town.json()["id"]},
                          headers=h)
    assert village.status_code == 201
    books = client.get("/api/fund/books", headers=h).json()
    mine = [b for b in books if b["org_id"] == town.json()["id"]]
    assert len(mine) == 1  # the village keeps no book of its own: it uses the town's
    assert not [b for b in books if b["org_id"] == village.json()["id"]]
    main = Path(mine[0]["main_file"])
    assert main.is_relative_to(settings.ledger_dir)
    assert main.exists()
    accounts = client.get(f"/api/fund/books/{mine[0]['id']}/accounts", headers=h).json()
    assert any(a["name"] == "Assets:Bank:Restricted:JiangLiFuZhu" for a in accounts)


def test_startup_restores_an_entry_missing_from_the_file(client: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                                         settings: Settings) -> None:
    h = auth_for(Role.secretary, tree.county.id)
    book = client.post("/api/fund/books", json={"org_id": tree.town_a.id}, headers=h).json()
    posted = client.post(f"/api/fund/books/{book['id']}/income", headers=h, json={
        "date": "2026-02-01", "amount": "300.00", "source": "budget", "payer": "县财政局", "voucher": "S-1",
        "idempotency_key": "startup-1"})
    assert posted.status_code == 201, posted.text
    year = next(Path(settings.ledger_dir).rglob("2026.beancount"))
    before = year.read_bytes()
    marker = before.rfind(b"\n2026-02-01")
    assert marker > 0
    year.write_bytes(before[:marker + 1] + b"2026-02-01 * \"half wri")  # a crash mid-append, entry lost
    app = create_app(settings)
    with TestClient(app=app) as fresh:  # start-up runs the recovery
        assert year.read_bytes() == before
        report = fresh.get(f"/api/fund/books/{book['id']}/verify", headers=h).json()
    app.state.engine.dispose()
    assert report["ok"] is True


def test_foreign_ledger_files_are_never_adopted(client: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                                settings: Settings) -> None:
    """A fresh database pointed at another database's books refuses to open a book over them."""
    h = auth_for(Role.secretary, tree.county.id)
    stale = Path(settings.ledger_dir) / f"{tree.town_b.kind}-{tree.town_b.id}"
    stale.mkdir(parents=True)
    (stale / "2025.beancount").write_text('2025-01-01 * "别的数据库写的分录"\n', encoding="utf-8")
    before = {p.name: p.read_bytes() for p in stale.iterdir()}
    r = client.post("/api/fund/books", json={"org_id": tree.town_b.id}, headers=h)
    assert r.status_code == 409, r.text
    assert r.json()["errors"][0]["field"] == "org_id"
    assert "不属于本数据库" in r.json()["detail"]
    assert {p.name: p.read_bytes() for p in stale.iterdir()} == before
    books = client.get("/api/fund/books", headers=h).json()
    assert not [b for b in books if b["org_id"] == tree.town_b.id]
    # Another organisation's book still opens normally.
    assert client.post("/api/fund/books", json={"org_id": tree.town_a.id}, headers=h).status_code == 201
