"""The fund API over real HTTP: permissions and scope, idempotency header, and bad input answered as
problem+json naming the field, in Chinese, with the books byte-identical afterwards."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from assoc_ledger.auth.scope import Role
from assoc_ledger.core.config import Settings
from tests.conftest import AuthFor, Tree
from tests.fund_support import snapshot


@pytest.fixture
def county(client: TestClient[Any], tree: Tree, auth_for: AuthFor) -> dict[str, Any]:
    sec = auth_for(Role.secretary, tree.county.id)
    book = client.post("/api/fund/books", json={"org_id": tree.county.id}, headers=sec).json()
    town = client.post("/api/fund/books", json={"org_id": tree.village_a1.id}, headers=sec).json()
    r = client.post(f"/api/fund/books/{book['id']}/income", headers={**sec, "Idempotency-Key": "seed-1"},
                    json={"date": "2026-01-05", "amount": "100000.00", "source": "maintenance_fee",
                          "payer": "县卫健委", "voucher": "收-001"})
    assert r.status_code == 201, r.text
    return {"sec": sec, "book": book, "town": town}


def test_secretary_records_and_auditor_reads(client: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                             county: dict[str, Any]) -> None:
    sec, book, town = county["sec"], county["book"], county["town"]
    assert town["org_id"] == tree.town_a.id  # a village uses its town's book
    bid = book["id"]
    body = {"date": "2026-01-06", "amount": "800.00", "category": "only_child_reward", "fund": "JiangLiFuZhu",
            "payee": "李某某", "voucher": "付-001", "meta": {"household": "H-17"}}
    first = client.post(f"/api/fund/books/{bid}/payments", json=body, headers={**sec, "Idempotency-Key": "p-1"})
    again = client.post(f"/api/fund/books/{bid}/payments", json={**body, "idempotency_key": "p-1"}, headers=sec)
    assert first.status_code == again.status_code == 201
    assert first.json()["seq"] == again.json()["seq"] == 2
    assert again.json()["replayed"] is True
    tr = client.post("/api/fund/transfers", headers={**sec, "Idempotency-Key": "t-1"},
                     json={"from_book_id": bid, "to_book_id": town["id"], "date": "2026-01-07",
                           "amount": "20000.00", "voucher": "拨-001"})
    assert tr.status_code == 201, tr.text
    rev = client.post(f"/api/fund/books/{bid}/entries/2/reverse", headers={**sec, "Idempotency-Key": "r-1"},
                      json={"date": "2026-01-08", "reason": "发放对象有误", "voucher": "冲-001"})
    assert rev.status_code == 201, rev.text
    auditor = auth_for(Role.auditor, tree.county.id)
    journal = client.get(f"/api/fund/books/{bid}/journal", params={"category": "only_child_reward"}, headers=auditor)
    assert journal.status_code == 200
    assert [e["seq"] for e in journal.json()["items"]] == [2, 4]
    assert journal.json()["items"][0]["meta"]["household"] == "H-17"
    text = client.get(f"/api/fund/books/{bid}/journal", params={"q": "李某某", "from": "2026-01-07"}, headers=auditor)
    assert [e["seq"] for e in text.json()["items"]] == [4]
    acct = client.get(f"/api/fund/books/{bid}/journal", params={"account": "Assets:Bank:Restricted"},
                      headers=auditor)
    assert acct.json()["total"] == 3
    bal = client.get(f"/api/fund/books/{bid}/balances", params={"on": "2026-01-06", "account": "Assets"},
                     headers=auditor)
    assert bal.json()["accounts"][0]["balance"] == "99200.00"
    full = client.get(f"/api/fund/books/{bid}/balances", headers=auditor).json()["accounts"]
    assert {a["account"]: a["balance"] for a in full}["Assets:Bank:General"] == "70000.00"
    funds = client.get(f"/api/fund/books/{bid}/funds", headers=auditor).json()
    assert [(f["fund"], f["restricted"], f["balance"]) for f in funds] == [
        ("General", False, "70000.00"), ("JiangLiFuZhu", True, "10000.00")]
    verify = client.get(f"/api/fund/books/{bid}/verify", headers=auditor)
    assert verify.json()["ok"] is True
    assert verify.json()["entries"] == 4
    # Auditors change nothing; secretaries cannot close; reviewers can.
    assert client.post(f"/api/fund/books/{bid}/payments", json=body, headers={**auditor, "Idempotency-Key": "x"}
                       ).status_code == 403
    assert client.post(f"/api/fund/books/{bid}/close", json={"month": "2026-01"}, headers=sec).status_code == 403
    reviewer = auth_for(Role.reviewer, tree.county.id)
    closed = client.post(f"/api/fund/books/{bid}/close", json={"month": "2026-01"}, headers=reviewer)
    assert closed.status_code == 201, closed.text


def test_books_outside_scope_are_not_found(client: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                           county: dict[str, Any]) -> None:
    other = auth_for(Role.secretary, tree.town_b.id)
    bid = county["book"]["id"]
    assert client.get(f"/api/fund/books/{bid}/journal", headers=other).status_code == 404
    r = client.post(f"/api/fund/books/{bid}/income", headers={**other, "Idempotency-Key": "z"},
                    json={"date": "2026-01-05", "amount": "1.00", "source": "budget", "payer": "x", "voucher": "v"})
    assert r.status_code == 404
    assert [b["id"] for b in client.get("/api/fund/books", headers=other).json()] == []


BAD: list[tuple[str, str, dict[str, Any], dict[str, str], int]] = [
    ("float amount", "amount", {"amount": 12.5}, {}, 400),
    ("three decimals", "amount", {"amount": "12.345"}, {}, 400),
    ("zero", "amount", {"amount": "0.00"}, {}, 400),
    ("negative", "amount", {"amount": "-3"}, {}, 400),
    ("text amount", "amount", {"amount": "一百"}, {}, 400),
    ("overdraw", "amount", {"amount": "90000.01"}, {}, 422),
    ("restricted misuse", "fund", {"fund": "JiangLiFuZhu", "category": "administration"}, {}, 422),
    ("unknown category", "category", {"category": "party"}, {}, 400),
    ("unknown fund", "fund", {"fund": "Secret"}, {}, 400),
    ("bad date", "date", {"date": "2026-02-31"}, {}, 400),
    ("missing payee", "payee", {"payee": ""}, {}, 400),
    ("unknown field", "colour", {"colour": "red"}, {}, 400),
    ("no key", "idempotency_key", {}, {"Idempotency-Key": ""}, 400),
    ("key mismatch", "idempotency_key", {"idempotency_key": "b"}, {"Idempotency-Key": "a"}, 400),
    ("bad meta key", "meta.Hash", {"meta": {"Hash": "x"}}, {}, 400),
]


@pytest.mark.parametrize(("case", "field", "change", "headers", "status"), BAD, ids=[b[0] for b in BAD])
def test_bad_payments_are_problems_and_write_nothing(client: TestClient[Any], settings: Settings,
                                                     county: dict[str, Any], case: str, field: str,
                                                     change: dict[str, Any], headers: dict[str, str],
                                                     status: int) -> None:
    body = {"date": "2026-02-03", "amount": "10.00", "category": "general", "payee": "张某", "voucher": "付-9",
            **change}
    before = snapshot(settings.ledger_dir)
    r = client.post(f"/api/fund/books/{county['book']['id']}/payments", json=body,
                    headers={**county["sec"], "Idempotency-Key": "bad-1", **headers})
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert any(e["field"] == field for e in problem["errors"]), problem
    assert any("\u4e00" <= ch <= "\u9fff" for ch in problem["detail"])
    assert snapshot(settings.ledger_dir) == before


def test_bad_entries_and_reversals(client: TestClient[Any], settings: Settings, county: dict[str, Any]) -> None:
    sec, bid = county["sec"], county["book"]["id"]
    before = snapshot(settings.ledger_dir)
    cases = [
        ({"postings": [{"account": "Expenses:Publicity", "amount": "5.00"},
                       {"account": "Assets:Bank:General", "amount": "-4.00"}]}, "postings", 422),
        ({"postings": [{"account": "Assets:Nope", "amount": "5.00"},
                       {"account": "Assets:Bank:General", "amount": "-5.00"}]}, "account", 422),
        ({"postings": [{"account": "Expenses:Publicity", "amount": "5.00"}]}, "postings", 400),
    ]
    for change, field, status in cases:
        body = {"date": "2026-02-03", "narration": "调整", "voucher": "转-1", **change}
        r = client.post(f"/api/fund/books/{bid}/entries", json=body, headers={**sec, "Idempotency-Key": "e-1"})
        assert r.status_code == status, r.text
        assert any(e["field"] == field for e in r.json()["errors"]), r.json()
    r = client.post(f"/api/fund/books/{bid}/entries/99/reverse", headers={**sec, "Idempotency-Key": "r"},
                    json={"date": "2026-02-03", "reason": "x", "voucher": "v"})
    assert r.status_code == 404
    r = client.post(f"/api/fund/books/{bid}/entries/1/reverse", headers={**sec, "Idempotency-Key": "r"},
                    json={"date": "2026-02-03", "reason": "", "voucher": "v"})
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "reason"
    for junk in (None, [], "x", {"date": None}, {"amount": {"a": 1}}):
        r = client.post(f"/api/fund/books/{bid}/income", json=junk, headers={**sec, "Idempotency-Key": "j"})
        assert r.status_code == 400, (junk, r.text)
    assert client.get(f"/api/fund/books/{bid}/balances", params={"on": "yesterday"}, headers=sec).status_code == 400
    assert client.get(f"/api/fund/books/{bid}/balances", params={"account": "Assets:X"},
                      headers=sec).status_code == 400
    assert snapshot(settings.ledger_dir) == before


def test_earmark_rules_are_configurable_from_a_date_on(client: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                                       settings: Settings, county: dict[str, Any]) -> None:
    from tests.fund_support import bean_check, fund_books

    sec, bid = county["sec"], county["book"]["id"]
    reviewer = auth_for(Role.reviewer, tree.county.id)
    url = f"/api/fund/books/{bid}/earmarks"
    listed = client.get(url, headers=sec)
    assert listed.status_code == 200
    assert [(r["source"], r["fund"], r["percent"]) for r in listed.json()] == [
        ("maintenance_fee", "JiangLiFuZhu", "10.00"), ("central_transfer", "JiangLiFuZhu", "20.00")]
    rule = {"source": "maintenance_fee", "fund": "JiangLiFuZhu", "percent": "15", "effective_from": "2026-02-01"}
    # Secretaries record money; changing the rule is for those who close the books.
    assert client.post(url, json=rule, headers=sec).status_code == 403
    before = snapshot(settings.ledger_dir)
    bad_cases = [
        ({**rule, "effective_from": "2026-01-05"}, 422, "effective_from"),  # the day of the last entry
        ({**rule, "percent": "12.345"}, 400, "percent"),
        ({**rule, "percent": "101"}, 400, "percent"),
        ({**rule, "percent": "-1"}, 400, "percent"),
        ({**rule, "percent": "abc"}, 400, "percent"),
        ({**rule, "fund": "General"}, 422, "fund"),
        ({**rule, "fund": "Nope"}, 400, "fund"),
        ({**rule, "source": "lottery"}, 400, "source"),
        ({**rule, "percent": 15.0}, 400, "percent"),
        ({**rule, "effective_from": "2026-02-30"}, 400, "effective_from"),
    ]
    for body, status, field in bad_cases:
        r = client.post(url, json=body, headers=reviewer)
        assert r.status_code == status, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        named = {e["field"].split(".")[-1] for e in r.json().get("errors", [])} | {r.json().get("field")}
        assert field in named, r.text
    assert snapshot(settings.ledger_dir) == before
    assert len(client.get(url, headers=sec).json()) == 2
    created = client.post(url, json=rule, headers=reviewer)
    assert created.status_code == 201, created.text
    assert created.json()["percent"] == "15.00"
    again = client.post(url, json=rule, headers=reviewer)
    assert again.status_code == 200
    assert again.json()["id"] == created.json()["id"]
    clash = client.post(url, json={**rule, "percent": "16"}, headers=reviewer)
    assert clash.status_code == 409
    main_file = next(p for p in fund_books(settings.ledger_dir) if p.parent.name == county["book"]["slug"])
    assert 'custom "fund-earmark" "Income:MaintenanceFeeShare" "JiangLiFuZhu" 0.1500' in (
        main_file.parent / "accounts.beancount").read_text()
    # January receipts keep 10 %; from February 15 % goes to 奖励扶助, and bean-check's plugin agrees.
    for key, day in (("jan", "2026-01-20"), ("feb", "2026-02-03")):
        r = client.post(f"/api/fund/books/{bid}/income", headers={**sec, "Idempotency-Key": f"em-{key}"},
                        json={"date": day, "amount": "1000.00", "source": "maintenance_fee", "payer": "县卫健委",
                              "voucher": f"收-{key}"})
        assert r.status_code == 201, r.text
    journal = client.get(f"/api/fund/books/{bid}/journal", params={"q": "收-"}, headers=sec).json()["items"]
    restricted = {e["voucher"]: next(p["amount"] for p in e["postings"] if "Restricted" in p["account"])
                  for e in journal if e["voucher"] in ("收-jan", "收-feb")}
    assert restricted == {"收-jan": "100.00", "收-feb": "150.00"}
    checked = bean_check(main_file)
    assert checked.returncode == 0, checked.stderr
    assert client.get(f"/api/fund/books/{bid}/verify", headers=sec).json()["ok"] is True
    # Other townships cannot see or change this book's rules.
    outsider = auth_for(Role.reviewer, tree.town_b.id)
    assert client.get(url, headers=outsider).status_code == 404
    assert client.post(url, json={**rule, "effective_from": "2026-03-01"}, headers=outsider).status_code == 404
