"""The relief API as its users meet it: a town secretary registers, the county reviewer reviews, the county
approver approves, the secretary pays and closes; refusals are problem+json in Chinese; waiting_for_me lists
what each of them has to do; another town sees nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from assoc_ledger.app import create_app
from assoc_ledger.auth.scope import Role
from assoc_ledger.core.config import Settings
from assoc_ledger.core.db import make_engine, make_sessionmaker
from assoc_ledger.fund import service as fund_service
from assoc_ledger.households import services as households
from tests import factories
from tests.conftest import AuthFor, Tree
from tests.fund_support import EVERYTHING
from tests.test_access_matrix import _png


@pytest.fixture
def api(sqlite_url: str, tmp_path: Path, id_key: str) -> Iterator[tuple[TestClient[Any], Tree, int]]:
    settings = Settings(database_url=sqlite_url, ledger_dir=tmp_path / "ledgers", upload_dir=tmp_path / "uploads",
                        id_key=id_key)  # type: ignore[arg-type]
    factory = make_sessionmaker(make_engine(sqlite_url))
    with factory() as s:
        tree = Tree(s)
        s.commit()
    with factory() as s:
        book = fund_service.open_book(s, settings.ledger_dir, tree.town_a.id, EVERYTHING).id
    with factory() as s:
        fund_service.post_income(s, settings.ledger_dir, EVERYTHING, book, key="in-1", date="2026-01-05",
                                 amount="20000.00", source="budget", payer="镇财政所", voucher="收-1")
    with factory() as s:
        head = factories.person(s, tree.village_a1.id)
        household = households.register_household(s, EVERYTHING, org_id=tree.village_a1.id, address="三组",
                                                   registered_on=dt.date(2024, 1, 1), members=[(head.id, "户主")])
        s.commit()
        household_id = household.id
    app = create_app(settings)
    with TestClient(app=app, raise_server_exceptions=False) as client:
        yield client, tree, household_id
    app.state.engine.dispose()


@pytest.fixture
def auth_sqlite(sqlite_url: str) -> AuthFor:
    from assoc_ledger.auth import services
    from tests.conftest import PASSWORD

    factory = make_sessionmaker(make_engine(sqlite_url))

    def make(role: Role, org_id: int) -> dict[str, str]:
        with factory() as session:
            user = services.create_user(session, f"{role.value}-{uuid.uuid4().hex[:8]}", PASSWORD)
            services.grant_role(session, user, role, org_id)
            secret, _ = services.create_token(session, user, "tests")
            session.commit()
        return {"Authorization": f"Bearer {secret}"}

    return make


def test_a_case_from_registration_to_closing(api: tuple[TestClient[Any], Tree, int], auth_sqlite: AuthFor) -> None:
    client, tree, household = api
    secretary = auth_sqlite(Role.secretary, tree.town_a.id)
    reviewer = auth_sqlite(Role.reviewer, tree.county.id)
    approver = auth_sqlite(Role.approver, tree.county.id)
    stranger = auth_sqlite(Role.secretary, tree.town_b.id)
    r = client.post("/api/relief/schemes", headers=secretary, json={
        "code": "hekou-general", "name": "河口镇一般帮扶", "category": "general", "org_id": tree.town_a.id,
        "effective_from": "2025-01-01", "amount_rule": "ceiling", "amount": "1000.00", "documents": ["申请书"],
        "yearly_limit": 2})
    assert r.status_code == 201, r.text
    scheme = r.json()
    assert scheme["category_zh"] == "一般帮扶" and scheme["versions"][0]["amount"] == "1000.00"
    case_body = {"scheme_id": scheme["id"], "household_id": household, "case_date": "2026-03-01",
                 "payee": "王秀英", "summary": "因病致贫", "amount": "1000.01"}
    r = client.post("/api/relief/cases", headers=secretary, json=case_body)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "amount" and "超过该项目上限" in r.json()["errors"][0]["message"]
    r = client.post("/api/relief/cases", headers=secretary, json={**case_body, "amount": "600.00"})
    assert r.status_code == 201, r.text
    case = r.json()
    assert (case["state"], case["state_zh"], case["missing_documents"]) == ("registered", "已登记", ["申请书"])
    url = f"/api/relief/cases/{case['id']}"
    assert client.get(url, headers=stranger).status_code == 404

    def waiting(headers: dict[str, str]) -> list[int]:
        got = client.get("/api/relief/cases?waiting_for_me=true", headers=headers)
        assert got.status_code == 200, got.text
        return [c["id"] for c in got.json()["items"]]

    r = client.post(f"{url}/review", headers=reviewer, json={"comment": "材料齐全"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "documents"
    r = client.post(f"{url}/documents", headers=secretary, files={"file": ("a.png", _png(), "image/png")},
                    data={"doc_type": "申请书"})
    assert r.status_code == 201, r.text
    r = client.post(f"{url}/documents", headers=secretary, files={"file": ("a.txt", b"hello", "image/png")},
                    data={"doc_type": "申请书"})
    assert r.status_code == 415
    assert waiting(reviewer) == [case["id"]] and waiting(approver) == [case["id"]] and waiting(secretary) == []
    r = client.post(f"{url}/review", headers=reviewer, json={"comment": "材料齐全"})
    assert r.status_code == 201 and r.json()["state"] == "reviewed"
    assert waiting(reviewer) == [] and waiting(approver) == [case["id"]]
    assert client.post(f"{url}/approve", headers=reviewer, json={}).status_code == 403
    r = client.post(f"{url}/approve", headers=approver, json={"comment": "同意"})
    assert r.status_code == 201 and r.json()["state"] == "approved"
    assert waiting(secretary) == [case["id"]]
    r = client.post(f"{url}/pay", headers=secretary, json={"date": "2026-03-10", "voucher": "付-03-001"})
    assert r.status_code == 201, r.text
    paid = r.json()
    assert paid["state"] == "paid" and paid["fund_entry_id"] is not None
    assert [s["action"] for s in paid["steps"]] == ["register", "review", "approve", "pay"]
    assert len({s["user_id"] for s in paid["steps"][:3]}) == 3
    r = client.post(f"{url}/withdraw", headers=secretary, json={"comment": "不要了"})
    assert r.status_code == 422 and "不能撤回" in r.json()["detail"]
    r = client.post(f"{url}/close", headers=secretary)
    assert r.status_code == 201 and r.json()["state"] == "closed"
    listed = client.get(f"/api/relief/cases?state=closed&category=general&scheme={scheme['id']}"
                        f"&household={household}&under={tree.town_a.id}", headers=reviewer).json()
    assert [c["id"] for c in listed["items"]] == [case["id"]]
    assert client.get(f"/api/relief/cases?under={tree.town_b.id}", headers=secretary).status_code == 404
    bad = client.get("/api/relief/cases?state=paying", headers=reviewer)
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "state"
