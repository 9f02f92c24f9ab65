"""Page forms through real HTTP: every refusal shows its Chinese message under the field and keeps what was
typed, nothing is written until the confirmation, a resubmitted confirmation posts once, and the import
pages walk upload → dry run → confirm.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from assoc_ledger.app import create_app
from assoc_ledger.auth import services as auth_services
from assoc_ledger.auth.scope import Role, Scope
from assoc_ledger.core.config import Settings
from assoc_ledger.fund import service as fund_service
from assoc_ledger.fund.models import FundEntry
from assoc_ledger.members.models import Membership
from tests.conftest import PASSWORD, AuthFor, Tree
from tests.roster_files import resident_id, to_csv

EVERYTHING = Scope.everything()


@pytest.fixture
def web(settings: Settings, tmp_path: Path) -> Iterator[TestClient[Any]]:
    app = create_app(settings.model_copy(update={"upload_dir": tmp_path / "uploads"}))
    with TestClient(app=app, raise_server_exceptions=False) as c:
        yield c
    app.state.engine.dispose()


def _entries(factory: sessionmaker[Session], book_id: int) -> int:
    with factory() as s:
        return s.scalar(select(func.count()).select_from(FundEntry).where(FundEntry.book_id == book_id)) or 0


def _hidden(html: str, name: str) -> str:
    m = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert m, f"no hidden {name} in {html[:300]}"
    return m.group(1)


def _error_of(html: str, field: str) -> str:
    """The message shown right under a field (its id is the field's aria-describedby)."""
    m = re.search(rf'<p class="field-error" id="e-{re.escape(field)}">([^<]*)</p>', html)
    assert m, f"no error under {field}"
    assert f'aria-describedby="e-{field}"' in html
    return m.group(1)


@pytest.fixture
def town_book(settings: Settings, tree: Tree, session_factory: sessionmaker[Session]) -> int:
    with session_factory() as s:
        book = fund_service.open_book(s, settings.ledger_dir, tree.town_a.id, EVERYTHING)
        book_id = book.id
    with session_factory() as s:
        fund_service.post_income(s, settings.ledger_dir, EVERYTHING, book_id, key="seed-1", date="2026-03-01",
                                 amount="1000.00", source="budget", payer="镇财政所", voucher="S-1")
    return book_id


def test_receipt_form_refuses_in_place_confirms_then_posts_once(web: TestClient[Any], tree: Tree,
                                                                auth_for: AuthFor, town_book: int,
                                                                session_factory: sessionmaker[Session]) -> None:
    h = auth_for(Role.secretary, tree.town_a.id)
    url = f"/fund/books/{town_book}/receipt"
    form = web.get(url, headers=h)
    assert form.status_code == 200
    key = _hidden(form.text, "idempotency_key")
    assert key.startswith("receipt-")
    assert all(f'<label for="f-{n}">' in form.text for n in ("date", "amount", "source", "payer", "voucher"))
    before = _entries(session_factory, town_book)
    typed = {"idempotency_key": key, "date": "2026-03-10", "amount": "12.345", "source": "donation_person",
             "payer": "", "voucher": "R-7", "via": "Bank", "narration": "春节捐款", "step": "check"}
    bad = web.post(url, data=typed, headers=h)
    assert bad.status_code == 400
    assert "两位小数" in _error_of(bad.text, "amount") or "金额" in _error_of(bad.text, "amount")
    assert _error_of(bad.text, "payer") == "交款人不能为空"
    assert 'value="12.345"' in bad.text and 'value="春节捐款"' in bad.text and 'value="R-7"' in bad.text
    assert _hidden(bad.text, "idempotency_key") == key  # the same form, the same key
    assert re.search(r'<option value="donation_person" selected>', bad.text)
    assert _entries(session_factory, town_book) == before
    # A good form goes to the confirmation page: nothing written yet.
    typed |= {"amount": "88.50", "payer": "张先生"}
    check = web.post(url, data=typed, headers=h)
    assert check.status_code == 200
    assert "请核对" in check.text and "社会捐赠（个人）" in check.text and "88.50" in check.text
    assert _entries(session_factory, town_book) == before
    # Confirmed twice (a double click, a resubmit): one entry, the same answer.
    confirm = {**typed, "step": "confirm"}
    first = web.post(url, data=confirm, headers=h, follow_redirects=False)
    second = web.post(url, data=confirm, headers=h, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert _entries(session_factory, town_book) == before + 1
    page = web.get(first.headers["location"], headers=h)
    assert "已记账" in page.text and "张先生" in page.text


def test_payment_and_other_money_forms_name_the_field(web: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                                      town_book: int, session_factory: sessionmaker[Session]) -> None:
    h = auth_for(Role.secretary, tree.town_a.id)
    before = _entries(session_factory, town_book)
    # Restricted money may not pay for visits: a business rule (422), shown under 资金.
    pay = web.post(f"/fund/books/{town_book}/payment", headers=h, data={
        "idempotency_key": "web-pay-1", "date": "2026-03-11", "amount": "20.00", "category": "visits",
        "fund": "JiangLiFuZhu", "payee": "李大娘", "voucher": "P-1", "via": "Bank", "narration": "", "step": "check"})
    assert pay.status_code == 422
    assert "规定用途" in _error_of(pay.text, "fund")
    assert 'value="李大娘"' in pay.text
    # A transfer from the only book the town sees has no receiving book to choose.
    transfer = web.post(f"/fund/books/{town_book}/transfer", headers=h, data={
        "idempotency_key": "web-tr-1", "to_book_id": "", "date": "2026-03-11", "amount": "5.00", "fund": "General",
        "voucher": "T-1", "via": "Bank", "narration": "", "step": "check"})
    assert transfer.status_code in (400, 422)
    assert _error_of(transfer.text, "to_book_id") == "请选择收款账簿"
    assert 'value="T-1"' in transfer.text and 'value="5.00"' in transfer.text
    # Reversal of an entry that does not exist; a reason is required.
    rev = web.post(f"/fund/books/{town_book}/reverse", headers=h, data={
        "idempotency_key": "web-rev-1", "seq": "abc", "date": "2026-03-11", "reason": "", "voucher": "V-1",
        "step": "check"})
    assert rev.status_code in (400, 422)
    assert _error_of(rev.text, "seq") == "请填写要冲销的分录序号"
    assert 'value="abc"' in rev.text
    # Month close: a reviewer's form; a malformed month is named.
    reviewer = auth_for(Role.reviewer, tree.town_a.id)
    close = web.post(f"/fund/books/{town_book}/close", headers=reviewer, data={
        "idempotency_key": "web-close-1", "month": "2026-13", "step": "check"})
    assert close.status_code == 400
    assert "月份" in _error_of(close.text, "month")
    assert 'value="2026-13"' in close.text
    assert web.get(f"/fund/books/{town_book}/close", headers=h).status_code == 403  # secretaries do not close
    assert _entries(session_factory, town_book) == before


def test_forms_on_a_cookie_session_need_the_csrf_token(web: TestClient[Any], tree: Tree, town_book: int,
                                                       session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        u = auth_services.create_user(s, "form-sec", PASSWORD)
        auth_services.grant_role(s, u, Role.secretary, tree.town_a.id)
        s.commit()
    login = web.get("/login")
    web.post("/login", data={"username": "form-sec", "password": PASSWORD, "_csrf": _hidden(login.text, "_csrf")})
    form = web.get(f"/fund/books/{town_book}/receipt")
    fields = {"idempotency_key": _hidden(form.text, "idempotency_key"), "date": "2026-03-10", "amount": "1.00",
              "source": "budget", "payer": "镇财政所", "voucher": "C-1", "via": "Bank", "narration": "",
              "step": "confirm"}
    before = _entries(session_factory, town_book)
    assert web.post(f"/fund/books/{town_book}/receipt", data=fields).status_code == 403
    assert _entries(session_factory, town_book) == before
    ok = web.post(f"/fund/books/{town_book}/receipt", data={**fields, "_csrf": _hidden(form.text, "_csrf")},
                  follow_redirects=False)
    assert ok.status_code == 303
    assert _entries(session_factory, town_book) == before + 1


def test_roster_import_page_shows_the_bad_row_then_imports_the_fixed_file(
        web: TestClient[Any], tree: Tree, auth_for: AuthFor, session_factory: sessionmaker[Session]) -> None:
    import datetime as dt

    h = auth_for(Role.secretary, tree.town_a.id)
    headers = ["姓名", "身份证号", "联系电话", "所属组织", "职务", "入会日期"]  # no 是否志愿者: means 否
    good = resident_id("341100", dt.date(1979, 4, 5), 21, True)
    other = resident_id("341100", dt.date(1983, 9, 9), 22, False)
    rows: list[list[Any]] = [["王秀英", good, "13900001111", "甲一村", "会员", "45000"],
                             ["李四", other, "13900002222", "甲一村", "主任", "2024-02-30"]]
    page = web.get("/members/import", headers=h)
    assert page.status_code == 200 and 'type="file"' in page.text and "/api/members/export.xlsx" in page.text
    empty = web.post("/members/import", headers=h, files={"file": ("", b"")})
    assert empty.status_code == 400
    assert _error_of(empty.text, "file") == "请选择要导入的 XLSX 或 CSV 文件"
    with session_factory() as s:
        members_before = s.scalar(select(func.count()).select_from(Membership))
    bad = web.post("/members/import", headers=h, files={"file": ("名册.csv", to_csv(rows, "utf-8", headers))})
    assert bad.status_code == 422
    table = re.findall(r"<tr><td class=\"num\">(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", bad.text)
    assert {(r, c) for r, c, _ in table} == {("3", "职务"), ("3", "入会日期")}
    assert any("主任" in m for _, _, m in table)
    assert "确认导入" not in bad.text
    rows[1][4:6] = ["理事", "2024-02-28"]
    fixed = web.post("/members/import", headers=h, files={"file": ("名册.csv", to_csv(rows, "utf-8", headers))})
    assert fixed.status_code == 200, fixed.text
    assert "检查通过" in fixed.text and "将新增 2" in fixed.text
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Membership)) == members_before  # a dry run only
    confirm = {"token": _hidden(fixed.text, "token"), "sha256": _hidden(fixed.text, "sha256"), "filename": "名册.csv"}
    done = web.post("/members/import/confirm", headers=h, data=confirm)
    assert done.status_code == 200 and "导入完成" in done.text and "新增 2" in done.text
    again = web.post("/members/import/confirm", headers=h, data=confirm)  # the held file is gone
    assert again.status_code == 400
    assert "失效" in _error_of(again.text, "file")
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Membership)) == (members_before or 0) + 2
    listed = web.get("/api/members?q=王秀英", headers=h).json()["items"][0]
    assert listed["joined_on"] == "2023-03-15" and listed["is_volunteer"] is False
    # The roster page exports what it shows (its filters), as a spreadsheet with IDs masked.
    roster = web.get("/members?q=王秀英&status=all", headers=h)
    export = re.search(r'href="(/api/members/export\.xlsx\?[^"]+)"', roster.text)
    assert export and "q=" in export.group(1) and "status=all" in export.group(1)
    sheet = web.get(export.group(1).replace("&amp;", "&"), headers=h)
    assert sheet.status_code == 200 and sheet.content[:2] == b"PK"


def test_dashboard_shows_balances_restricted_part_and_target(web: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                                             settings: Settings,
                                                             session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        book_id = fund_service.open_book(s, settings.ledger_dir, tree.town_a.id, EVERYTHING).id
    with session_factory() as s:  # 20 % of a central transfer share is restricted (奖励扶助)
        fund_service.post_income(s, settings.ledger_dir, EVERYTHING, book_id, key="d-1", date="2025-05-01",
                                 amount="10000.00", source="central_transfer", payer="县财政局", voucher="D-1")
    import datetime as dt

    from assoc_ledger.entitlements import services as entitlements

    with session_factory() as s:  # an entitlement month with nobody due: a run of 0 lines that agrees with its books
        entitlements.set_programme(s, EVERYTHING, tree.town_a.id, scheme="only_child_reward", first_month="2025-05")
    with session_factory() as s:
        run_id = entitlements.run(s, settings.ledger_dir, EVERYTHING, "2025-05", tree.town_a.id,
                                  pay_date=dt.date(2025, 5, 25)).id
    h = auth_for(Role.secretary, tree.town_a.id)
    page = web.get("/?year=2025", headers=h)
    assert page.status_code == 200
    assert f'href="/entitlements/runs/{run_id}"' in page.text and '<span class="ok">一致</span>' in page.text
    assert "公益金余额" in page.text and "10,000.00" in page.text and "2,000.00" in page.text
    assert "甲镇：10,000.00 / 50,000.00 元（20%）" in page.text
    assert "看 2024 年" in page.text
    assert "甲镇：0.00 / 50,000.00" in web.get("/?year=2024", headers=h).text
    auditor_only_orgs = web.get("/", headers=auth_for(Role.auditor, tree.town_b.id))
    assert auditor_only_orgs.status_code == 200 and "甲镇" not in auditor_only_orgs.text


def _pairing(session_factory: sessionmaker[Session], tree: Tree) -> int:
    import datetime as dt

    from assoc_ledger.households import services as households
    from assoc_ledger.households import visits
    from assoc_ledger.members import services as members
    from tests import factories

    with session_factory() as s:
        head = factories.person(s, tree.village_a1.id)
        h = households.register_household(s, EVERYTHING, org_id=tree.village_a1.id, address="一组",
                                          registered_on=dt.date(2024, 1, 1), members=[(head.id, "户主")])
        m = factories.membership(s, tree.village_a1.id)
        members.set_volunteer(s, EVERYTHING, m.id, True, None)
        p = visits.create_pairings(s, EVERYTHING, membership_id=m.id, household_ids=[h.id],
                                   from_date=dt.date(2024, 1, 1), until_date=None)
        s.commit()
        return p[0].id


def test_visit_form_keeps_what_was_typed_and_pays_once(web: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                                       settings: Settings,
                                                       session_factory: sessionmaker[Session]) -> None:
    from assoc_ledger.households.models import Visit
    from tests.test_access_matrix import _png

    with session_factory() as s:
        book_id = fund_service.open_book(s, settings.ledger_dir, tree.town_a.id, EVERYTHING).id
    with session_factory() as s:
        fund_service.post_income(s, settings.ledger_dir, EVERYTHING, book_id, key="v-seed", date="2025-01-02",
                                 amount="500.00", source="budget", payer="镇财政所", voucher="V-0")
    pairing = _pairing(session_factory, tree)
    h = auth_for(Role.secretary, tree.town_a.id)
    form = web.get(f"/visits/new?pairing_id={pairing}", headers=h)
    assert 'accept="image/*,application/pdf" capture' in form.text
    key = _hidden(form.text, "idempotency_key")
    typed = {"idempotency_key": key, "pairing_id": str(pairing), "visited_on": "2025-03-02", "signer_name": "",
             "notes": "送米面油", "goods": "大米一袋", "cash": "50.00", "voucher": "ZF-1", "flag": "", "flag_note": ""}
    unconfirmed = web.post("/visits/new", headers=h, data=typed, files={"file": ("sheet.png", _png(), "image/png")})
    assert unconfirmed.status_code == 400  # cash moves money: its confirmation box first
    assert "确认支付慰问金 50.00 元" in _error_of(unconfirmed.text, "cash")
    typed["cash_confirmed"] = "1"
    refused = web.post("/visits/new", headers=h, data=typed, files={"file": ("sheet.png", _png(), "image/png")})
    assert refused.status_code == 400
    assert "生产、生活、生育" in _error_of(refused.text, "services")
    assert "签字人" in _error_of(refused.text, "signer_name")
    assert 'value="送米面油"' in refused.text and 'value="50.00"' in refused.text
    assert 'name="cash_confirmed" value="1" checked' in refused.text
    no_sheet = web.post("/visits/new", headers=h, data={**typed, "services": "生活", "signer_name": "王大娘",
                                                        "cash_confirmed": "1"},
                        files={"file": ("", b"", "application/octet-stream")})
    assert no_sheet.status_code == 400 and "签字单" in _error_of(no_sheet.text, "file")
    elsewhere = web.post("/visits/new", headers=auth_for(Role.secretary, tree.town_b.id),
                         data={**typed, "services": "生活", "signer_name": "王大娘", "cash_confirmed": "1"},
                         files={"file": ("sheet.png", _png(), "image/png")})
    assert elsewhere.status_code == 404 and "不存在" in _error_of(elsewhere.text, "pairing_id")
    before = _entries(session_factory, book_id)
    good = {**typed, "services": ["生活", "生育"], "signer_name": "王大娘", "cash_confirmed": "1"}
    first = web.post("/visits/new", headers=h, data=good, files={"file": ("sheet.png", _png(), "image/png")},
                     follow_redirects=False)
    assert first.status_code == 303, first.text
    again = web.post("/visits/new", headers=h, data=good, files={"file": ("sheet.png", _png(), "image/png")},
                     follow_redirects=False)
    assert again.status_code in (303, 409)  # the same key: the cash is never paid twice
    assert _entries(session_factory, book_id) == before + 1
    with session_factory() as s:
        visit = s.scalars(select(Visit).where(Visit.pairing_id == pairing)).one()
        assert visit.services == ["生活", "生育"] and visit.signer_name == "王大娘"
    page = web.get(first.headers["location"], headers=h)
    assert "走访已登记" in page.text


def test_a_case_through_its_pages_three_people_and_one_payment(web: TestClient[Any], tree: Tree,
                                                               auth_for: AuthFor, town_book: int,
                                                               session_factory: sessionmaker[Session]) -> None:
    import datetime as dt

    from assoc_ledger.households import services as households
    from assoc_ledger.relief import services as relief
    from tests import factories
    from tests.test_access_matrix import _png

    with session_factory() as s:
        scheme = relief.create_scheme(s, EVERYTHING, code="web-general", name="一般帮扶", category="general",
                                      org_id=tree.town_a.id, spec=relief.VersionSpec(
                                          effective_from=dt.date(2024, 1, 1), amount_rule="ceiling",
                                          amount="1000.00", documents=["申请书"]))
        head = factories.person(s, tree.village_a1.id)
        household = households.register_household(s, EVERYTHING, org_id=tree.village_a1.id, address="二组",
                                                  registered_on=dt.date(2024, 1, 1), members=[(head.id, "户主")])
        s.commit()
        scheme_id, household_id = scheme.id, household.id
    secretary, reviewer = auth_for(Role.secretary, tree.town_a.id), auth_for(Role.reviewer, tree.town_a.id)
    approver = auth_for(Role.approver, tree.town_a.id)
    form = web.get(f"/cases/new?household_id={household_id}", headers=secretary)
    typed = {"idempotency_key": _hidden(form.text, "idempotency_key"), "scheme_id": str(scheme_id),
             "household_id": str(household_id), "case_date": "2026-03-01", "payee": "", "summary": "因病致困",
             "amount": "1500.00", "months": "", "comment": ""}
    refused = web.post("/cases/new", headers=secretary, data=typed)
    assert refused.status_code == 400
    assert _error_of(refused.text, "payee") == "收款人不能为空"
    assert 'value="因病致困"' in refused.text and 'value="1500.00"' in refused.text
    over = web.post("/cases/new", headers=secretary, data={**typed, "payee": "王大娘"})
    assert over.status_code == 422 and "1000" in _error_of(over.text, "amount").replace(",", "")
    made = web.post("/cases/new", headers=secretary, data={**typed, "payee": "王大娘", "amount": "300.00"},
                    follow_redirects=False)
    assert made.status_code == 303
    case_url = made.headers["location"]
    case_id = int(case_url.rsplit("/", 1)[1])
    early_close = web.post(f"{case_url}/close", headers=secretary, data={"decision": "close", "comment": "重复登记"})
    assert early_close.status_code == 422 and 'value="重复登记"' in early_close.text  # out of order, kept
    assert 'name="decision" value="withdraw"' in early_close.text  # what may be done instead: withdraw it
    # The reviewer's page says what is missing; reviewing without the application is refused there.
    review_page = web.get(f"{case_url}/review", headers=reviewer)
    assert "申请书 <span class=\"error\">（缺）</span>" in review_page.text
    no_doc = web.post(f"{case_url}/review", headers=reviewer, data={"decision": "review", "comment": "同意"})
    assert no_doc.status_code == 422 and "缺少必备材料" in no_doc.text and 'value="同意"' in no_doc.text
    no_file = web.post(f"{case_url}/documents", headers=secretary, data={"doc_type": "申请书"},
                       files={"file": ("", b"", "application/octet-stream")})
    assert no_file.status_code == 400 and _error_of(no_file.text, "file") and 'value="申请书"' in no_file.text
    upload = web.post(f"{case_url}/documents", headers=secretary, data={"doc_type": "申请书"},
                      files={"file": ("a.png", _png(), "image/png")}, follow_redirects=False)
    assert upload.status_code == 303
    # The recorder may not review their own case (three people); the reviewer may.
    own = web.post(f"{case_url}/review", headers=secretary, data={"decision": "review"})
    assert own.status_code == 403
    assert web.post(f"{case_url}/review", headers=reviewer, data={"decision": "review", "comment": "材料齐全"},
                    follow_redirects=False).status_code == 303
    assert web.post(f"{case_url}/approve", headers=approver, data={"decision": "approve"},
                    follow_redirects=False).status_code == 303
    home = web.get("/", headers=secretary)  # approved: paying is the secretary's next step
    assert f'<a href="/cases/{case_id}">案件 {case_id}</a> 王大娘 300.00 元' in home.text
    pay_page = web.get(f"{case_url}/pay", headers=secretary)
    assert "确认发放 300.00 元给 王大娘" in pay_page.text and "非限定资金余额" in pay_page.text
    before = _entries(session_factory, town_book)
    typo = web.post(f"{case_url}/pay", headers=secretary, data={"date": "2026-02-30", "voucher": "救-手填",
                                                                "via": "Cash"})
    assert typo.status_code == 400 and "日期" in _error_of(typo.text, "date")
    assert 'value="救-手填"' in typo.text and '<option value="Cash" selected>' in typo.text
    assert _entries(session_factory, town_book) == before
    pay = {"date": "2026-03-10", "voucher": "", "via": "Bank"}
    first = web.post(f"{case_url}/pay", headers=secretary, data=pay, follow_redirects=False)
    second = web.post(f"{case_url}/pay", headers=secretary, data=pay, follow_redirects=False)
    assert first.status_code == 303
    assert second.status_code in (303, 422)  # already paid: refused in place, never paid twice
    assert _entries(session_factory, town_book) == before + 1
    page = web.get(case_url, headers=secretary)
    assert "已发放" in page.text and "审核" in page.text and "审批" in page.text
    journal = web.get(f"/fund/books/{town_book}?q=王大娘", headers=secretary)
    assert f"案件{case_id}" in journal.text and "300.00" in journal.text


def test_statement_pages_prepare_sign_and_refusals(web: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                                   town_book: int) -> None:
    secretary, admin = auth_for(Role.secretary, tree.town_a.id), auth_for(Role.admin, tree.town_a.id)
    auditor = auth_for(Role.auditor, tree.town_a.id)
    bad = web.post("/statements", headers=secretary, data={"org_id": str(tree.town_a.id), "year": "二〇二六"})
    assert bad.status_code == 400
    assert _error_of(bad.text, "year") == "请选择组织并填写年度" and 'value="二〇二六"' in bad.text
    made = web.post("/statements", headers=admin, data={"org_id": str(tree.town_a.id), "year": "2026"},
                    follow_redirects=False)
    assert made.status_code == 303
    url = made.headers["location"]
    page = web.get(url, headers=auditor)
    assert page.status_code == 200 and "待审计签发" in page.text and "<svg" in page.text and "1,000.00" in page.text
    assert f"/api/statements/{url.rsplit('/', 1)[1]}/pdf?variant=public" in page.text
    empty = web.post(url, headers=auditor, data={"comment": " "})
    assert empty.status_code == 400 and _error_of(empty.text, "comment") == "签发意见不能为空"
    own = web.post(url, headers=admin, data={"comment": "同意"})  # the preparer may not sign
    assert own.status_code == 422 and "编制人不能签发" in own.text and 'value="同意"' in own.text
    signed = web.post(url, headers=auditor, data={"comment": "经审计，账实相符"}, follow_redirects=False)
    assert signed.status_code == 303
    assert "已签发" in web.get(url, headers=auditor).text
    assert "甲镇" in web.get("/public/statements").text


def test_entitlement_run_form_names_its_field(web: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                              town_book: int) -> None:
    h = auth_for(Role.secretary, tree.town_a.id)
    preview = web.get("/entitlements/preview?month=2026-01", headers=h)
    assert preview.status_code == 200 and "发放预览" in preview.text
    bad_date = web.post("/entitlements/run", headers=h, data={"month": "2026-01", "pay_date": "2026-02-30"})
    assert bad_date.status_code == 400
    assert "日期" in _error_of(bad_date.text, "pay_date") and 'value="2026-02-30"' in bad_date.text
    early = web.post("/entitlements/run", headers=h, data={"month": "2026-03", "pay_date": "2026-01-25"})
    assert early.status_code == 422 and "不能预先发放" in early.text
    assert web.get("/entitlements", headers=h).status_code == 200
    assert web.get("/entitlements/reconcile?from=2026-01&to=2026-02", headers=h).status_code == 200


def test_household_page_shows_members_kinds_and_history(web: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                                        session_factory: sessionmaker[Session]) -> None:
    import datetime as dt

    from assoc_ledger.households import services as households
    from tests import factories

    with session_factory() as s:
        head = factories.person(s, tree.village_a1.id)
        head.name = "历史户主"
        h = households.register_household(s, EVERYTHING, org_id=tree.village_a1.id, address="三组",
                                          registered_on=dt.date(2024, 1, 1), members=[(head.id, "户主")])
        s.commit()
        household_id, rid, head_id = h.id, head.resident_id, head.id
    mine = auth_for(Role.secretary, tree.town_a.id)
    listed = web.get("/households?q=三组", headers=mine)
    assert f'href="/households/{household_id}"' in listed.text
    page = web.get(f"/households/{household_id}", headers=mine)
    assert page.status_code == 200
    assert "历史户主" in page.text and "户主" in page.text and "2024-01-01" in page.text
    assert rid not in page.text and rid[-4:] in page.text  # masked
    assert web.get(f"/households/{household_id}", headers=auth_for(Role.secretary, tree.town_b.id)).status_code == 404
    person = web.get(f"/people/{head_id}", headers=mine)
    assert person.status_code == 200 and "历史户主" in person.text and rid not in person.text
    assert "不是会员" in person.text


def test_household_import_page_checks_then_imports(web: TestClient[Any], tree: Tree, auth_for: AuthFor) -> None:
    from tests import factories

    h = auth_for(Role.secretary, tree.town_a.id)
    head, child = factories.unique_resident_id(), factories.unique_resident_id()
    sheet = ("户编号,姓名,身份证号,与户主关系,所属组织,登记日期\n"
             f"W1,网页户主,{head},户主,甲一村,2024-01-01\nW1,网页成员,{child},表亲,甲一村,2024-01-01\n")
    bad = web.post("/households/import", headers=h, files={"file": ("家庭.csv", sheet.encode())})
    assert bad.status_code == 422
    assert re.search(r'<td class="num">3</td><td>与户主关系</td>', bad.text), bad.text[-1500:]
    fixed = web.post("/households/import", headers=h,
                     files={"file": ("家庭.csv", sheet.replace("表亲", "其他").encode())})
    assert fixed.status_code == 200 and "检查通过" in fixed.text, fixed.text[-1500:]
    done = web.post("/households/import/confirm", headers=h, data={
        "token": _hidden(fixed.text, "token"), "sha256": _hidden(fixed.text, "sha256"), "filename": "家庭.csv"})
    assert done.status_code == 200 and "导入完成" in done.text and "新增 1" in done.text
    import io

    from openpyxl import load_workbook

    exported = web.get("/households/export.xlsx", headers=h)
    cells = [c for row in load_workbook(io.BytesIO(exported.content)).active.iter_rows(values_only=True) for c in row]
    assert "网页户主" in cells and head not in cells  # exported, the ID masked


def test_transfer_and_reversal_forms_post_through_the_books(web: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                                            settings: Settings, town_book: int,
                                                            session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        county_book = fund_service.open_book(s, settings.ledger_dir, tree.county.id, EVERYTHING).id
    with session_factory() as s:
        fund_service.post_income(s, settings.ledger_dir, EVERYTHING, county_book, key="c-seed", date="2026-03-01",
                                 amount="800.00", source="budget", payer="县财政局", voucher="C-0")
    h = auth_for(Role.secretary, tree.county.id)
    form = web.get(f"/fund/books/{county_book}/transfer", headers=h)
    assert f'<option value="{town_book}"' in form.text
    fields = {"idempotency_key": _hidden(form.text, "idempotency_key"), "to_book_id": str(town_book),
              "date": "2026-03-05", "amount": "300.00", "fund": "General", "voucher": "BF-1", "via": "Bank",
              "narration": "拨付甲镇"}
    check = web.post(f"/fund/books/{county_book}/transfer", headers=h, data={**fields, "step": "check"})
    assert "请核对" in check.text and "甲镇" in check.text
    before = (_entries(session_factory, county_book), _entries(session_factory, town_book))
    done = web.post(f"/fund/books/{county_book}/transfer", headers=h, data={**fields, "step": "confirm"},
                    follow_redirects=False)
    assert done.status_code == 303
    assert (_entries(session_factory, county_book), _entries(session_factory, town_book)) == (before[0] + 1,
                                                                                            before[1] + 1)
    seq = done.headers["location"].split("posted=")[1].split("#")[0]
    rev = web.post(f"/fund/books/{county_book}/reverse", headers=h, data={
        "idempotency_key": "rev-web-1", "seq": seq, "date": "2026-03-06", "reason": "拨付金额有误", "voucher": "BF-1R",
        "step": "confirm"}, follow_redirects=False)
    assert rev.status_code == 303  # a transfer is reversed on both sides together
    assert (_entries(session_factory, county_book), _entries(session_factory, town_book)) == (before[0] + 2,
                                                                                            before[1] + 2)


def test_household_register_form_refuses_in_place_then_registers(web: TestClient[Any], tree: Tree,
                                                                  auth_for: AuthFor,
                                                                  session_factory: sessionmaker[Session]) -> None:
    from assoc_ledger.households.models import Household
    from assoc_ledger.people.models import Person
    from tests import factories

    def counts() -> tuple[int, int]:
        with session_factory() as s:
            return (s.scalar(select(func.count()).select_from(Household)) or 0,
                    s.scalar(select(func.count()).select_from(Person)) or 0)

    h = auth_for(Role.secretary, tree.town_a.id)
    listed = web.get("/households", headers=h)
    assert 'href="/households/new"' in listed.text
    form = web.get("/households/new", headers=h)
    assert form.status_code == 200 and f'value="{tree.village_a1.id}"' in form.text
    head, child = factories.unique_resident_id(), factories.unique_resident_id()
    good = {"org_id": str(tree.village_a1.id), "address": "网页三组", "registered_on": "2024-01-01",
            "m0_name": "网页户主", "m0_resident_id": head, "m0_relation": "户主", "m0_birth_date": "",
            "m1_name": "网页子女", "m1_resident_id": child, "m1_relation": "子女",
            "kind": "only_child", "kind_since": "2024-02-01", "kind_certificate_no": "GR-2024-001",
            "kind_evidence": "光荣证"}
    before = counts()
    # A bad resident ID on the second member: message under that field, everything typed kept, nothing written.
    bad = web.post("/households/new", headers=h, data={**good, "m1_resident_id": "12345"})
    assert bad.status_code == 400, bad.text[-800:]
    assert re.search(r"[\u4e00-\u9fff]", _error_of(bad.text, "m1_resident_id"))
    assert 'value="网页三组"' in bad.text and 'value="网页子女"' in bad.text and 'value="GR-2024-001"' in bad.text
    assert counts() == before
    # A birth date that disagrees with the ID, and a relation outside the list (the API's schema refuses it).
    wrong = web.post("/households/new", headers=h, data={**good, "m0_birth_date": "1900-01-01",
                                                         "m1_relation": "表亲"})
    assert wrong.status_code == 400
    assert "身份证" in _error_of(wrong.text, "m0_birth_date")
    assert counts() == before
    wrong = web.post("/households/new", headers=h, data={**good, "m1_relation": "表亲"})
    assert wrong.status_code == 400 and _error_of(wrong.text, "m1_relation")
    assert counts() == before
    # A village outside the secretary's town: 404 under the field, nothing written.
    outside = web.post("/households/new", headers=h, data={**good, "org_id": str(tree.village_b1.id)})
    assert outside.status_code == 404 and _error_of(outside.text, "org_id")
    assert counts() == before
    done = web.post("/households/new", headers=h, data=good, follow_redirects=False)
    assert done.status_code == 303, done.text[-800:]
    page = web.get(done.headers["location"], headers=h)
    assert page.status_code == 200 and "网页户主" in page.text and "网页子女" in page.text
    assert head not in page.text and "GR-2024-001" in page.text
    assert counts() == (before[0] + 1, before[1] + 2)


def test_pairing_forms_pair_list_and_end_refusing_in_place(web: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                                           session_factory: sessionmaker[Session]) -> None:
    import datetime as dt

    from assoc_ledger.households import services as households
    from assoc_ledger.households.models import Pairing
    from assoc_ledger.members import services as members
    from tests import factories

    with session_factory() as s:
        head = factories.person(s, tree.village_a1.id)
        household = households.register_household(s, EVERYTHING, org_id=tree.village_a1.id, address="二组",
                                                   registered_on=dt.date(2024, 1, 1), members=[(head.id, "户主")]).id
        volunteer = factories.membership(s, tree.village_a1.id)
        members.set_volunteer(s, EVERYTHING, volunteer.id, True, None)
        plain = factories.membership(s, tree.village_a1.id).id
        volunteer_id = volunteer.id
        s.commit()

    def pairings() -> int:
        with session_factory() as s:
            return s.scalar(select(func.count()).select_from(Pairing).where(Pairing.household_id == household)) or 0

    h = auth_for(Role.secretary, tree.town_a.id)
    form = web.get(f"/pairings/new?household_id={household}", headers=h)
    assert form.status_code == 200 and f'value="{volunteer_id}"' in form.text
    good = {"membership_id": str(volunteer_id), "household_id": str(household), "from_date": "2024-02-01",
            "until_date": ""}
    bad = web.post("/pairings/new", headers=h, data={**good, "until_date": "2024-01-01"})
    assert bad.status_code == 422 and "早于" in _error_of(bad.text, "until_date")
    assert 'value="2024-01-01"' in bad.text and 'value="2024-02-01"' in bad.text and pairings() == 0
    not_volunteer = web.post("/pairings/new", headers=h, data={**good, "membership_id": str(plain)})
    assert not_volunteer.status_code == 422 and "志愿者" in _error_of(not_volunteer.text, "membership_id")
    outside = web.post("/pairings/new", headers=h, data={**good, "household_id": "999999"})
    assert outside.status_code == 404 and _error_of(outside.text, "household_id") and pairings() == 0
    made = web.post("/pairings/new", headers=h, data=good, follow_redirects=False)
    assert made.status_code == 303 and pairings() == 1
    listed = web.get(made.headers["location"], headers=h)
    assert listed.status_code == 200 and "结对已登记" in listed.text
    with session_factory() as s:
        pairing_id = s.scalar(select(Pairing.id).where(Pairing.household_id == household))
    assert f'href="/pairings/{pairing_id}/end"' in listed.text
    early = web.post(f"/pairings/{pairing_id}/end", headers=h, data={"until_date": "2023-12-31"})
    assert early.status_code == 422 and "早于" in _error_of(early.text, "until_date")
    assert 'value="2023-12-31"' in early.text
    malformed = web.post(f"/pairings/{pairing_id}/end", headers=h, data={"until_date": "明天"})
    assert malformed.status_code == 400 and _error_of(malformed.text, "until_date")
    ended = web.post(f"/pairings/{pairing_id}/end", headers=h, data={"until_date": "2024-06-30"},
                     follow_redirects=False)
    assert ended.status_code == 303
    with session_factory() as s:
        assert s.scalar(select(Pairing.until_date).where(Pairing.id == pairing_id)) == dt.date(2024, 6, 30)
    other = auth_for(Role.secretary, tree.town_b.id)
    assert web.get(f"/pairings/{pairing_id}/end", headers=other).status_code == 404
    assert f"/households/{household}\"" not in web.get("/pairings/all", headers=other).text


def test_reports_page_table_chart_downloads_and_refusals(web: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                                         town_book: int) -> None:
    h = auth_for(Role.secretary, tree.town_a.id)
    chooser = web.get("/reports", headers=h)
    assert chooser.status_code == 200 and 'value="income-by-source"' in chooser.text
    query = f"org={tree.town_a.id}&from=2026-01-01&to=2026-12-31"
    page = web.get(f"/reports?name=income-by-source&{query}", headers=h)
    assert page.status_code == 200, page.text[-800:]
    assert "镇财政所" in page.text or "1,000.00" in page.text or "1000.00" in page.text
    assert "<svg" in page.text and 'role="img"' in page.text
    drills = re.findall(r'href="(/reports/postings\?[^"]+)"', page.text)
    assert drills, page.text[-1500:]
    found = [web.get(d.replace("&amp;", "&"), headers=h) for d in drills]
    assert all(r.status_code == 200 and "分录明细" in r.text for r in found)
    # The receipt behind the figure, on a journal page with its total and a link to its entry in the book.
    assert any("S-1" in r.text and ">1,000.00<" in r.text and f"/fund/books/{town_book}?" in r.text for r in found)
    rolls = web.get(f"/reports/roll-lines?{query}", headers=h)
    assert rolls.status_code == 200 and "本期没有花名册行" in rolls.text
    outside_drill = web.get(f"/reports/postings?org={tree.town_b.id}&from=2026-01-01&to=2026-12-31", headers=h)
    assert outside_drill.status_code == 404 and "乙" not in outside_drill.text
    xlsx = re.search(r'href="(/api/reports/income-by-source\?[^"]+format=xlsx)"', page.text)
    assert xlsx
    download = web.get(xlsx.group(1).replace("&amp;", "&"), headers=h)
    assert download.status_code == 200 and download.content[:2] == b"PK"
    reversed_ = web.get(f"/reports?name=income-by-source&org={tree.town_a.id}&from=2026-12-31&to=2026-01-01",
                        headers=h)
    assert reversed_.status_code == 400 and "截止日期" in _error_of(reversed_.text, "to")
    assert 'value="2026-12-31"' in reversed_.text and "<svg" not in reversed_.text
    unknown = web.get(f"/reports?name=nonsense&{query}", headers=h)
    assert unknown.status_code == 400 and "报表" in _error_of(unknown.text, "name")
    outside = web.get(f"/reports?name=income-by-source&org={tree.town_b.id}&from=2026-01-01&to=2026-12-31",
                      headers=h)
    assert outside.status_code == 404 and _error_of(outside.text, "org")


def test_scheme_pages_refuse_in_place_confirm_then_add_a_version(web: TestClient[Any], tree: Tree,
                                                                  auth_for: AuthFor, town_book: int,
                                                                  session_factory: sessionmaker[Session]) -> None:
    from assoc_ledger.relief.models import Scheme, SchemeVersion

    def count(model: Any) -> int:
        with session_factory() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0

    h = auth_for(Role.secretary, tree.town_a.id)
    form = web.get("/schemes/new", headers=h)
    assert form.status_code == 200 and f'value="{tree.town_a.id}"' in form.text
    assert f'value="{tree.town_b.id}"' not in form.text  # only books in the secretary's subtree pay
    typed = {"code": "web-medical", "name": "大病救助", "category": "key", "org_id": str(tree.town_a.id),
             "effective_from": "2026-13-01", "amount_rule": "ceiling", "amount": "2000.00", "standard": "",
             "months": "", "fund": "General", "household_kinds": ["hardship", "accident"],
             "documents": "申请书、诊断证明", "review_steps": "review,approve", "review_due_days": "",
             "yearly_limit": "2", "ends_on": "", "basis": "县计生协〔2026〕1号", "step": "check"}
    before = (count(Scheme), count(SchemeVersion))
    # Each refusal: the Chinese message under its field, every value typed (checkboxes too) kept, nothing written.
    for bad, field, status, words in (({"effective_from": "2026-13-01"}, "effective_from", 400, "日期"),
                                      ({"effective_from": "2026-01-01", "name": ""}, "name", 400, "名称"),
                                      ({"effective_from": "2026-01-01", "amount": "12.345"}, "amount", 422, "金额"),
                                      ({"effective_from": "2026-01-01", "review_steps": "approve"}, "review_steps",
                                       422, "应急"),
                                      ({"effective_from": "2026-01-01", "org_id": str(tree.town_b.id)}, "org_id",
                                       404, "组织")):
        refused = web.post("/schemes/new", headers=h, data={**typed, **bad})
        assert refused.status_code == status, (field, refused.text[-600:])
        assert words in _error_of(refused.text, field), field
        assert 'value="申请书、诊断证明"' in refused.text and 'value="县计生协〔2026〕1号"' in refused.text
        assert re.search(r'value="hardship" checked', refused.text) and re.search(r'value="accident" checked',
                                                                                  refused.text)
        assert (count(Scheme), count(SchemeVersion)) == before
    typed["effective_from"] = "2026-01-01"
    check = web.post("/schemes/new", headers=h, data=typed)
    assert check.status_code == 200 and "请核对" in check.text and "重点救助" in check.text and "2000.00" in check.text
    assert (count(Scheme), count(SchemeVersion)) == before  # the check wrote nothing
    done = web.post("/schemes/new", headers=h, data={**typed, "step": "confirm"}, follow_redirects=False)
    assert done.status_code == 303, done.text[-600:]
    again = web.post("/schemes/new", headers=h, data={**typed, "step": "confirm"})  # a double submit
    assert again.status_code == 409 and "已存在" in _error_of(again.text, "code")
    assert (count(Scheme), count(SchemeVersion)) == (before[0] + 1, before[1] + 1)
    scheme_url = done.headers["location"].split("?")[0]
    page = web.get(scheme_url, headers=h)
    assert page.status_code == 200 and "第 1 版" in page.text and "2,000.00" in page.text
    assert "web-medical" in web.get("/schemes", headers=h).text
    # A new version: the form starts from the standard in force; an earlier date is refused under its field.
    version_url = scheme_url + "/versions/new"
    prefilled = web.get(version_url, headers=h)
    assert prefilled.status_code == 200 and 'value="2000.00"' in prefilled.text
    change = {k: v for k, v in typed.items() if k not in ("code", "name", "category", "org_id")}
    change |= {"effective_from": "2025-06-01", "amount": "2500.00"}
    early = web.post(version_url, headers=h, data=change)
    assert early.status_code == 422 and "晚于" in _error_of(early.text, "effective_from")
    assert 'value="2500.00"' in early.text
    change["effective_from"] = "2026-07-01"
    assert "请核对" in web.post(version_url, headers=h, data=change).text
    assert count(SchemeVersion) == before[1] + 1
    added = web.post(version_url, headers=h, data={**change, "step": "confirm"}, follow_redirects=False)
    assert added.status_code == 303 and added.headers["location"].endswith("added=2")
    assert "第 2 版" in web.get(scheme_url, headers=h).text and count(SchemeVersion) == before[1] + 2
    # Another township's secretary sees neither the form nor the scheme; an auditor may not write.
    other = auth_for(Role.secretary, tree.town_b.id)
    assert web.get(version_url, headers=other).status_code == 404
    assert f'href="{version_url}"' in web.get(scheme_url, headers=h).text
    village = auth_for(Role.secretary, tree.village_a1.id)  # sees the township's scheme, may not change it
    seen = web.get(scheme_url, headers=village)
    assert seen.status_code == 200 and f'href="{version_url}"' not in seen.text
    assert web.get("/schemes/new", headers=auth_for(Role.auditor, tree.town_a.id)).status_code == 403


def test_programme_page_confirms_then_sets_refusing_in_place(web: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                                             town_book: int,
                                                             session_factory: sessionmaker[Session]) -> None:
    from assoc_ledger.entitlements.models import EntitlementProgramme

    def count() -> int:
        with session_factory() as s:
            return s.scalar(select(func.count()).select_from(EntitlementProgramme)) or 0

    h = auth_for(Role.secretary, tree.town_a.id)
    page = web.get("/entitlements/programmes", headers=h)
    assert page.status_code == 200 and "尚未设定" in page.text and f'value="{tree.town_a.id}"' in page.text
    typed = {"org_id": str(tree.town_a.id), "scheme": "special_family", "first_month": "2026-1",
             "fund": "JiangLiFuZhu", "step": "check"}
    check = web.post("/entitlements/programmes", headers=h, data=typed)
    assert check.status_code == 200 and "请核对" in check.text and "特殊家庭扶助" in check.text and count() == 0
    bad = web.post("/entitlements/programmes", headers=h, data={**typed, "step": "confirm"})
    assert bad.status_code == 400 and "YYYY-MM" in _error_of(bad.text, "first_month")
    assert 'value="2026-1"' in bad.text and re.search(r'<option value="special_family" selected>', bad.text)
    outside = web.post("/entitlements/programmes", headers=h,
                       data={**typed, "org_id": str(tree.town_b.id), "first_month": "2026-01", "step": "confirm"})
    assert outside.status_code == 404 and _error_of(outside.text, "org_id") and count() == 0
    done = web.post("/entitlements/programmes", headers=h, data={**typed, "first_month": "2026-01",
                                                                 "step": "confirm"}, follow_redirects=False)
    assert done.status_code == 303 and count() == 1
    listed = web.get(done.headers["location"], headers=h)
    assert "发放项目已设定" in listed.text and "2026-01" in listed.text and "限定用途" in listed.text
    changed = web.post("/entitlements/programmes", headers=h, data={**typed, "first_month": "2026-03",
                                                                    "step": "confirm"})
    assert changed.status_code == 409 and "不能修改" in _error_of(changed.text, "first_month") and count() == 1


def test_drill_down_journal_page_goes_page_by_page(web: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                                   settings: Settings, town_book: int,
                                                   session_factory: sessionmaker[Session]) -> None:
    """51 postings to cash behind one figure: the drill page lists 50, then the 51st on the next page."""
    with session_factory() as s:
        fund_service.post_entry(s, settings.ledger_dir, EVERYTHING, town_book, key="drill-many", date="2026-03-02",
                                narration="银行取现（分笔）", payee=None, voucher="D-51",
                                postings=[*({"account": "Assets:Cash:General", "amount": f"{n / 100:.2f}"}
                                            for n in range(1, 52)),
                                          {"account": "Assets:Bank:General", "amount": "-13.26"}])
    h = auth_for(Role.secretary, tree.town_a.id)
    url = f"/reports/postings?org={tree.town_a.id}&from=2026-01-01&to=2026-12-31&account=Assets:Cash"
    first = web.get(url, headers=h)
    assert first.status_code == 200 and ">13.26" in first.text  # the total of all 51, on every page
    assert first.text.count('class="wrap">银行取现（分笔）') == 50
    more = re.search(r'href="\?([^"]*after=\d+)">下一页', first.text)
    assert more, first.text[-1500:]
    second = web.get("/reports/postings?" + more.group(1).replace("&amp;", "&"), headers=h)
    assert second.text.count('class="wrap">银行取现（分笔）') == 1
    assert ">0.51<" in second.text and ">13.26" in second.text
    assert "下一页" not in second.text and "第一页" in second.text


def test_a_long_term_case_form_takes_its_start_month(web: TestClient[Any], tree: Tree, auth_for: AuthFor,
                                                     town_book: int, session_factory: sessionmaker[Session]) -> None:
    """长效帮扶 paid by the month: the case form carries the start month; a bad one is named and kept, and the
    case's page says the monthly runs pay it (no pay step is offered)."""
    import datetime as dt

    from assoc_ledger.households import services as households
    from assoc_ledger.relief import services as relief
    from tests import factories

    with session_factory() as s:
        scheme = relief.create_scheme(s, EVERYTHING, code="web-lt", name="长效帮扶", category="long_term",
                                      org_id=tree.town_a.id, spec=relief.VersionSpec(
                                          effective_from=dt.date(2024, 1, 1), amount_rule="monthly",
                                          amount="150.00", months=12))
        head = factories.person(s, tree.village_a1.id)
        household = households.register_household(s, EVERYTHING, org_id=tree.village_a1.id, address="三组",
                                                  registered_on=dt.date(2024, 1, 1), members=[(head.id, "户主")])
        s.commit()
        typed = {"scheme_id": str(scheme.id), "household_id": str(household.id), "case_date": "2026-03-01",
                 "payee": "王大娘", "summary": "长期困难", "amount": "", "months": "6", "start_month": "2026-13",
                 "comment": "", "idempotency_key": "web-lt-1"}
    h = auth_for(Role.secretary, tree.town_a.id)
    assert 'name="start_month" type="month"' in web.get("/cases/new", headers=h).text
    bad = web.post("/cases/new", headers=h, data=typed)
    assert bad.status_code == 400 and "YYYY-MM" in _error_of(bad.text, "start_month")
    assert 'value="2026-13"' in bad.text and 'value="长期困难"' in bad.text
    early = web.post("/cases/new", headers=h, data={**typed, "start_month": "2026-01"})
    assert early.status_code == 422 and "不能早于" in _error_of(early.text, "start_month")
    made = web.post("/cases/new", headers=h, data={**typed, "start_month": "2026-04"}, follow_redirects=False)
    assert made.status_code == 303, made.text[-600:]
    page = web.get(made.headers["location"], headers=h)
    assert "2026-04 至 2026-09" in page.text and "逐月支付" in page.text
