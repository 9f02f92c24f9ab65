"""End to end in a real browser: the demo county's pages on a 390-px phone and a desktop.

Each page is screenshotted into docs/screenshots/ (README shows some) and measured: nothing may make
the page scroll sideways on a phone (a wide table scrolls inside its own box instead).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import DESKTOP, PHONE, SCREENSHOTS, LiveServer, demo_env, launch_chromium, start_server
from tests.conftest import IN_CI
from tests.demo_cache import DemoBuild

pytestmark = [pytest.mark.xdist_group("browser"), pytest.mark.slow]
DEMO_PASSWORD = "demo-password-2026"


@pytest.fixture(scope="session")
def demo_server(demo_build: DemoBuild, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # A copy of the run's demo county, as `assoc-ledger migrate` + `assoc-ledger demo` loaded it
    # (tests/demo_cache.py); the server finds its key in var/assoc.key, where migrate keeps it.
    root = tmp_path_factory.mktemp("browser-demo")
    demo_build.copy(root).write_key_file()
    yield from start_server(demo_env(root), root)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    manager, chromium = launch_chromium(IN_CI)
    try:
        yield chromium
    finally:
        chromium.close()
        manager.stop()


def _login(page: Any, base: str, username: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(base + "/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state("networkidle")


# Every visible form control has a <label> (for=id, or wrapping it) or is a button/hidden/checkbox toggle.
UNLABELLED_INPUTS = """() => [...document.querySelectorAll('input, select, textarea')].filter(el => {
  if (['hidden', 'submit', 'button'].includes(el.type) || el.classList.contains('menu-toggle')) return false;
  if (el.closest('label')) return false;
  return !(el.id && document.querySelector(`label[for="${el.id}"]`));
}).map(el => el.name)"""


# Every link, button and form control can be reached with Tab (nothing taken out of the tab order, nothing
# clickable that is not a real control).
OUT_OF_TAB_ORDER = """() => [...document.querySelectorAll('a[href], button, input, select, textarea, [onclick]')]
  .filter(el => el.type !== 'hidden' && (el.tabIndex < 0 || el.disabled
                || !['A', 'BUTTON', 'INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName)))
  .map(el => el.outerHTML.slice(0, 80))"""


def _sideways_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the window (0 when nothing scrolls sideways)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


@pytest.mark.parametrize(("viewport", "label"), [(PHONE, "phone"), (DESKTOP, "desktop")])
def test_every_page_fits_the_screen(demo_server: LiveServer, browser: Any, viewport: dict[str, int],
                                    label: str) -> None:
    context = browser.new_context(viewport=viewport, locale="zh-CN")
    page = context.new_page()
    page.goto(demo_server.base_url + "/login")
    pages: list[tuple[str, str]] = [("login", "/login")]
    _login(page, demo_server.base_url, "admin")  # every form, month close too
    assert page.url.rstrip("/") == demo_server.base_url, page.url
    book_href = None
    page.goto(demo_server.base_url + "/fund")
    links = page.locator("a[href^='/fund/books/']")
    assert links.count() >= 15  # the demo county keeps 15 books, the county's users see them all
    book_href = links.first.get_attribute("href")
    pages += [("home", "/?year=2025"), ("orgs", "/orgs"), ("members", "/members"),
              ("members-import", "/members/import"), ("households-import", "/households/import"),
              ("pairings", "/pairings"), ("visit-new", "/visits/new"), ("fund", "/fund"),
              ("fund-book", str(book_href)), ("fund-receipt", f"{book_href}/receipt"),
              ("fund-payment", f"{book_href}/payment"), ("fund-transfer", f"{book_href}/transfer"),
              ("fund-reverse", f"{book_href}/reverse?seq=1"), ("fund-close", f"{book_href}/close"),
              ("cases", "/cases"), ("case-new", "/cases/new"), ("entitlements", "/entitlements"),
              ("entitlement-preview", "/entitlements/preview?month=2025-12"),
              ("entitlement-reconcile", "/entitlements/reconcile?from=2025-01&to=2025-12"),
              ("statements", "/statements"), ("households", "/households"),
              ("household-new", "/households/new"), ("pairings-all", "/pairings/all"),
              ("pairing-new", "/pairings/new"),
              ("reports", "/reports?name=income-by-source&from=2025-01-01&to=2025-12-31"),
              ("schemes", "/schemes"), ("scheme-new", "/schemes/new"),
              ("entitlement-programmes", "/entitlements/programmes")]
    # One of each record page, found through its list (the demo keeps members, households, cases, runs and
    # schemes); a report's drill-downs, found on the report.
    for name, listing, link in (("person", "/members", "a[href^='/people/']"),
                                ("household", "/households", "table a[href^='/households/']"),
                                ("case", "/cases", "table a[href^='/cases/']"),
                                ("entitlement-run", "/entitlements", "table a[href^='/entitlements/runs/']"),
                                ("scheme", "/schemes", "table a[href^='/schemes/']"),
                                ("pairing-end", "/pairings/all", "table a[href$='/end']"),
                                ("report-postings", "/reports?name=spending-by-category&from=2025-01-01&to=2025-12-31",
                                 "a[href^='/reports/postings?']"),
                                ("report-roll-lines", "/reports?name=entitlement-runs&from=2025-01-01&to=2025-12-31",
                                 "a[href^='/reports/roll-lines?']")):
        page.goto(demo_server.base_url + listing)
        found = page.locator(link)
        assert found.count() > 0, f"{listing} lists nothing to open"
        pages.append((name, str(found.first.get_attribute("href"))))
    pages.append(("scheme-version-new", dict(pages)["scheme"] + "/versions/new"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    overflowing = {}
    for name, path in pages:
        if name == "login":
            fresh = browser.new_context(viewport=viewport, locale="zh-CN").new_page()
            fresh.goto(demo_server.base_url + path)
            target = fresh
        else:
            page.goto(demo_server.base_url + path)
            target = page
        assert target.locator("h1, h2").first.is_visible(), f"{path} shows no heading"
        assert "服务器内部错误" not in target.content()
        unlabelled = target.evaluate(UNLABELLED_INPUTS)
        assert unlabelled == [], f"{path}: inputs without a label: {unlabelled}"
        untabbable = target.evaluate(OUT_OF_TAB_ORDER)
        assert untabbable == [], f"{path}: controls the keyboard cannot reach: {untabbable}"
        target.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=False)
        excess = _sideways_overflow(target)
        if excess > 0:
            overflowing[path] = excess
    assert overflowing == {}, f"pages scroll sideways at {viewport['width']} px: {overflowing}"
    context.close()


def test_wrong_password_is_told_in_chinese(demo_server: LiveServer, browser: Any) -> None:
    page = browser.new_context(viewport=PHONE, locale="zh-CN").new_page()
    _login(page, demo_server.base_url, "county-secretary", "wrong-password-123")
    assert page.url.endswith("/login"), page.url
    assert page.locator("p.error").inner_text() == "用户名或密码错误"
    assert page.get_by_label("用户名").input_value() == "county-secretary"  # kept; the password is not


def test_a_secretary_of_one_village_sees_only_that_village(demo_server: LiveServer, browser: Any) -> None:
    page = browser.new_context(viewport=DESKTOP, locale="zh-CN").new_page()
    _login(page, demo_server.base_url, "wangzhuang-secretary")
    page.goto(demo_server.base_url + "/orgs")
    rows = page.locator("table tbody tr").all_inner_texts()
    assert len(rows) == 1 and "王庄村" in rows[0], rows[:3]
    page.goto(demo_server.base_url + "/fund")  # books are kept by townships: none lies inside one village
    assert page.locator("a[href^='/fund/books/']").count() == 0



def _csrf(page: Any) -> str:
    return str(page.locator("input[name=_csrf]").first.get_attribute("value"))


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)
    assert _sideways_overflow(page) <= 0, f"{name} scrolls sideways"


def test_phone_header_is_one_line_with_a_menu_that_opens_by_keyboard(demo_server: LiveServer, browser: Any) -> None:
    page = browser.new_context(viewport=PHONE, locale="zh-CN").new_page()
    _login(page, demo_server.base_url, "hekou-secretary")
    header = page.locator("header").bounding_box()
    assert header is not None and header["height"] < 60, header  # one line: short name + 菜单
    members_link = page.locator("header nav a[href='/members']")
    assert not members_link.is_visible()
    page.locator("#menu-toggle").focus()
    page.keyboard.press("Space")
    assert members_link.is_visible()
    members_link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/members")


def test_secretary_imports_a_roster_fixing_the_bad_row_then_visits(demo_server: LiveServer, browser: Any,
                                                                   tmp_path: Any) -> None:
    """王庄村's secretary: a roster with one bad row is refused and explained, the fixed file imports; then a
    volunteer from it is paired with a household and the visit is recorded with a photo of the signed sheet."""
    import datetime as dt

    from tests.roster_files import resident_id, to_csv
    from tests.test_access_matrix import _png

    base = demo_server.base_url
    page = browser.new_context(viewport=PHONE, locale="zh-CN").new_page()
    _login(page, base, "wangzhuang-secretary")
    headers = ["姓名", "身份证号", "联系电话", "所属组织", "职务", "入会日期", "是否志愿者"]
    volunteer_id = resident_id("341799", dt.date(1986, 6, 6), 401, True)
    head_id = resident_id("341799", dt.date(1958, 2, 3), 402, False)
    rows: list[list[Any]] = [["浏览器志愿者", volunteer_id, "13700001111", "王庄村", "会员", "45000", "是"],
                             ["浏览器户主", head_id, "13700002222", "王庄村", "组长", "2024-03-01", ""]]
    sheet = tmp_path / "名册.csv"
    sheet.write_bytes(to_csv(rows, "utf-8", headers))
    page.goto(base + "/members/import")
    page.get_by_label("名册文件").set_input_files(str(sheet))
    page.get_by_role("button", name="检查").click()
    page.wait_for_load_state()
    problems = page.locator("table.problems tbody tr").all_inner_texts()
    assert len(problems) == 1 and "3" in problems[0] and "职务" in problems[0] and "组长" in problems[0], problems
    assert page.get_by_role("button", name="确认导入").count() == 0
    _shot(page, "members-import-problems-phone")
    rows[1][4] = "小组长"
    sheet.write_bytes(to_csv(rows, "utf-8", headers))
    page.get_by_label("名册文件").set_input_files(str(sheet))
    page.get_by_role("button", name="检查").click()
    page.wait_for_load_state()
    assert "检查通过" in page.content()
    page.get_by_role("button", name="确认导入").click()
    page.wait_for_load_state()
    assert "导入完成" in page.content() and "新增 2" in page.content()
    page.goto(base + "/members?q=浏览器志愿者")
    assert "2023-03-15" in page.locator("table tbody").inner_text()  # 45000 was a date

    # The household of a person already on the roster, through the API with the page's session (the 登记家庭
    # page registers new people: the full scenario below uses it); the volunteer, imported as one, is paired
    # with it on the pairing page.
    csrf = {"X-CSRF-Token": _csrf(page)}
    api = page.request
    people = {m["person"]["name"]: m for m in api.get(base + "/api/members?q=浏览器").json()["items"]}
    assert people["浏览器志愿者"]["is_volunteer"] is True and people["浏览器户主"]["is_volunteer"] is False
    household = api.post(base + "/api/households", headers=csrf, data={
        "org_id": people["浏览器户主"]["org_id"], "registered_on": "2024-03-01", "address": "王庄村三组",
        "members": [{"person_id": people["浏览器户主"]["person"]["id"], "relation": "户主"}]})
    assert household.ok, household.text()
    page.goto(base + f"/pairings/new?household_id={household.json()['id']}")
    page.get_by_label("志愿者").select_option(str(people["浏览器志愿者"]["id"]))
    page.get_by_label("开始日期").fill("2024-03-01")
    with page.expect_navigation():
        page.get_by_role("button", name="登记结对").click()
    assert "结对已登记" in page.content(), page.locator(".field-error, .error").all_inner_texts()
    page.goto(base + "/pairings")
    page.get_by_role("link", name="登记走访").first.click()
    page.wait_for_load_state()
    page.get_by_label("生活服务").check()
    page.get_by_role("button", name="保存走访").click()  # no signer, no sheet: the browser's own check first
    photo = tmp_path / "签字单.png"
    photo.write_bytes(_png())
    page.get_by_label("签字单照片或 PDF").set_input_files(str(photo))
    page.get_by_role("button", name="保存走访").click()
    page.wait_for_load_state()
    if "签字人" in page.content() and page.locator("#e-signer_name").count():
        assert page.get_by_label("生活服务").is_checked()  # kept after the refusal
    page.get_by_label("签字人（走访对象）").fill("浏览器户主")
    page.get_by_label("签字单照片或 PDF").set_input_files(str(photo))
    page.get_by_role("button", name="保存走访").click()
    page.wait_for_load_state()
    assert "走访已登记" in page.content(), page.content()[:2000]


def test_a_double_clicked_receipt_posts_once(demo_server: LiveServer, browser: Any) -> None:
    base = demo_server.base_url
    page = browser.new_context(viewport=PHONE, locale="zh-CN").new_page()
    _login(page, base, "hekou-secretary")
    page.goto(base + "/fund")
    book = str(page.locator("a[href^='/fund/books/']").first.get_attribute("href"))
    page.goto(base + book + "/receipt")
    page.get_by_label("金额（元）").fill("abc")
    page.get_by_label("交款单位或个人").fill("浏览器捐款人")
    page.get_by_label("凭证号").fill("WEBDBL1")
    page.get_by_role("button", name="下一步：核对").click()
    page.wait_for_load_state()
    assert page.locator("#e-amount").is_visible()  # the message sits under 金额, the rest is kept
    assert page.get_by_label("交款单位或个人").input_value() == "浏览器捐款人"
    _shot(page, "fund-receipt-error-phone")
    page.get_by_label("金额（元）").fill("321.00")
    page.get_by_role("button", name="下一步：核对").click()
    page.wait_for_load_state()
    assert "请核对" in page.content()
    _shot(page, "fund-receipt-confirm-phone")
    page.get_by_role("button", name="确认入账").dblclick()
    page.wait_for_url("**/fund/books/**posted=*")
    assert "已记账" in page.content()
    page.goto(base + book + "?q=WEBDBL1")
    rows = [r for r in page.locator("table tbody tr").all_inner_texts() if "WEBDBL1" in r]
    assert len(rows) == 1, rows
    assert "321.00" in rows[0]


def _both_sizes(page: Any, name: str) -> None:
    """A page only a scenario reaches (a case's step, a statement), saved at both sizes like every other."""
    shown = page.viewport_size
    for size, label in ((PHONE, "phone"), (DESKTOP, "desktop")):
        page.set_viewport_size(size)
        _shot(page, f"{name}-{label}")
    page.set_viewport_size(shown)


def _session_page(browser: Any, base: str, username: str, viewport: dict[str, int] = PHONE) -> Any:
    page = browser.new_context(viewport=viewport, locale="zh-CN", accept_downloads=True).new_page()
    _login(page, base, username)
    return page


def _submit(page: Any, name: str) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=name).click()


def test_full_scenario_case_entitlements_and_signed_statement(demo_server: LiveServer, browser: Any,
                                                              tmp_path: Any) -> None:
    """河口镇's secretary files a relief case for a household; the county reviewer reviews and the admin
    approves it on their own pages; the secretary pays it and finds it in the journal; the county previews and
    runs an entitlement month; the auditor signs the annual statement and downloads its PDF; the public page lists
    it without login."""
    import datetime as dt

    from tests.roster_files import resident_id
    from tests.test_access_matrix import _png

    base = demo_server.base_url
    sec = _session_page(browser, base, "hekou-secretary")

    # 登记家庭 on its page, as a secretary does: a mistyped 身份证号 (its check digit) is refused under that
    # field with everything typed kept; corrected, the form is sent from the keyboard (Enter).
    head_id = resident_id("341799", dt.date(1980, 1, 2), 451, False)
    child_id = resident_id("341799", dt.date(2018, 5, 6), 452, False)
    mistyped = child_id[:-1] + ("0" if child_id[-1] != "0" else "1")
    sec.goto(base + "/households/new")
    sec.get_by_label("所属村（社区）").select_option(label="王庄村")
    sec.get_by_label("住址").fill("王庄村五组")
    sec.locator("#f-registered_on").fill("2019-01-01")
    for row, (name, rid, relation) in enumerate((("场景户主", head_id, "户主"), ("场景孩子", mistyped, "子女"))):
        sec.locator(f"#f-m{row}_name").fill(name)
        sec.locator(f"#f-m{row}_resident_id").fill(rid)
        sec.locator(f"#f-m{row}_relation").select_option(relation)
    sec.get_by_label("类别", exact=True).select_option(label="独生子女户")
    sec.locator("#f-kind_since").fill("2019-01-01")
    sec.get_by_label("《独生子女父母光荣证》编号").fill("GRZ-WEB-1")
    _submit(sec, "登记")
    assert sec.locator("#e-m1_resident_id").is_visible(), sec.locator(".field-error, .error").all_inner_texts()
    assert sec.locator("#f-m1_resident_id").get_attribute("aria-describedby") == "e-m1_resident_id"
    kept = {f: sec.locator(f"#f-{f}").input_value() for f in ("address", "m0_name", "m0_resident_id", "m1_name",
                                                               "m1_resident_id", "kind_certificate_no", "kind")}
    assert kept == {"address": "王庄村五组", "m0_name": "场景户主", "m0_resident_id": head_id, "m1_name": "场景孩子",
                    "m1_resident_id": mistyped, "kind_certificate_no": "GRZ-WEB-1", "kind": "only_child"}, kept
    _shot(sec, "household-new-error-phone")
    sec.locator("#f-m1_resident_id").fill(child_id)
    with sec.expect_navigation():
        sec.locator("#f-m1_resident_id").press("Enter")
    assert "/households/" in sec.url and "场景孩子" in sec.content(), sec.url
    assert "GRZ-WEB-1" in sec.content() and child_id not in sec.content()  # the ID is masked on the page
    household_page = sec.url

    # 救助项目 on its page: the standard is checked (核对) before anything is saved.
    sec.goto(base + "/schemes/new")
    sec.get_by_label("项目代码").fill("web-scenario")
    sec.get_by_label("项目名称").fill("困难家庭一般帮扶")
    sec.locator("#f-category").select_option(label="一般帮扶")
    sec.get_by_label("实施并付款的组织").select_option(label="河口镇")
    sec.get_by_label("生效日期").fill("2025-01-01")
    sec.get_by_label("金额（元）").fill("1000.00")
    sec.get_by_label("必备材料").fill("申请书")
    _submit(sec, "下一步：核对")
    assert "请核对" in sec.content() and "1000.00" in sec.content()
    _shot(sec, "scheme-confirm-phone")
    _submit(sec, "确认保存")
    assert "已保存第 1 版标准" in sec.content()

    # 登记 (secretary) from the household's page, on the case form, with the application photographed.
    sec.goto(household_page)
    sec.get_by_role("link", name="登记救助案件").click()
    sec.wait_for_url("**/cases/new?household_id=*")
    sec.get_by_label("救助项目").select_option(label="困难家庭一般帮扶（一般帮扶）")
    sec.get_by_label("收款人").fill("场景户主")
    sec.get_by_label("救助事由").fill("因病致困，申请一般帮扶")
    sec.get_by_label("申请金额（元）").fill("600.00")
    _submit(sec, "登记")
    case_url = sec.url
    assert "/cases/" in case_url and "已登记" in sec.content()
    photo = tmp_path / "申请书.png"
    photo.write_bytes(_png())
    sec.get_by_label("材料名称").fill("申请书")
    sec.get_by_label("照片或 PDF").set_input_files(str(photo))
    _submit(sec, "上传")
    # 审核 (reviewer) and 审批 (admin), each on the page made for that step.
    reviewer = _session_page(browser, base, "reviewer")
    reviewer.goto(case_url + "/review")
    assert "需要判断的事项" in reviewer.content() and "申请书 ✓" in reviewer.content()
    _both_sizes(reviewer, "case-review")
    reviewer.get_by_label("意见").fill("材料齐全，情况属实")
    _submit(reviewer, "审核通过")
    approver = _session_page(browser, base, "admin")
    approver.goto(case_url)
    approver.get_by_role("link", name="审批").click()
    approver.wait_for_url("**/approve")
    _both_sizes(approver, "case-approve")
    _submit(approver, "批准")
    assert "已审批" in approver.content()
    # 发放 (secretary): the page shows the fund's balance; the payment lands in the journal.
    sec.goto(case_url + "/pay")
    assert "确认发放 600.00 元给 场景户主" in sec.content()
    _both_sizes(sec, "case-pay")
    _submit(sec, "确认发放")
    assert "已发放" in sec.content()
    case_id = case_url.rsplit("/", 1)[1]
    sec.goto(base + "/fund")
    book = str(sec.locator("a[href^='/fund/books/']").first.get_attribute("href"))
    sec.goto(base + book + "?q=场景户主")
    journal = sec.locator("table tbody").last.inner_text()
    assert f"案件{case_id}" in journal and "600.00" in journal, journal
    # The same payment found from the reports page: the 一般帮扶 row drills to a journal page of its postings.
    year = dt.date.today().year
    sec.goto(base + f"/reports?name=spending-by-category&from={year}-01-01&to={year}-12-31")
    sec.locator("table tbody tr", has_text="一般帮扶").first.get_by_role("link", name="分录").click()
    sec.wait_for_url("**/reports/postings?*")
    assert f"案件{case_id}" in sec.locator("table tbody").inner_text()
    _shot(sec, "report-postings-case-phone")

    county = _session_page(browser, base, "county-secretary", DESKTOP)
    # An entitlement month previewed and run by the county (the demo's special-family programme is the
    # county's: a township secretary's run would reach a book outside their scope).
    month = f"{dt.date.today():%Y-%m}"
    # The township's programme is set on its page by keyboard: the paying book chosen with the arrow key, then
    # 核对 and 确认 with Enter.
    sec.goto(base + "/entitlements/programmes")
    sec.locator("#f-org_id").focus()
    sec.keyboard.press("ArrowDown")  # from 请选择 to the one book the township keeps
    assert sec.locator("#f-org_id option:checked").inner_text() == "河口镇"
    assert sec.locator("#f-first_month").input_value() == month
    for button in ("下一步：核对", "确认设定"):
        sec.get_by_role("button", name=button).focus()
        with sec.expect_navigation():
            sec.keyboard.press("Enter")
    assert "发放项目已设定" in sec.content() and "独生子女父母奖励" in sec.content()
    county.goto(base + f"/entitlements/preview?month={month}")
    assert "独生子女父母奖励" in county.content() and "王庄村" in county.content()
    _shot(county, "entitlement-preview-desktop")
    _submit(county, "确认发放")
    assert "/entitlements/runs/" in county.url, county.locator(".error, .field-error").all_inner_texts()
    assert "done" in county.content()
    run_path = county.url.removeprefix(base)
    county.goto(base + "/")  # the dashboard names the run and whether its books agree with it
    home = county.content()
    assert f'href="{run_path}"' in home and '<span class="ok">一致</span>' in home, run_path
    # Its roll lines, from the entitlement-runs report, a page at a time, resident IDs masked.
    county.goto(base + f"/reports?name=entitlement-runs&from={month}-01&to={dt.date.today().isoformat()}")
    county.locator("a[href^='/reports/roll-lines?']").last.click()
    county.wait_for_url("**/reports/roll-lines?*")
    lines = county.locator("table tbody tr").all_inner_texts()
    assert lines and all("*" in line for line in lines), lines[:3]
    assert len(lines) == 50  # the month pays more households than one page holds
    county.get_by_role("link", name="下一页").click()
    county.wait_for_url("**page=2*")
    assert county.locator("table tbody tr").first.inner_text().startswith("51")

    # The annual statement: prepared by the county secretary, signed by the auditor, its PDF downloaded.
    county.goto(base + "/statements")
    county.get_by_label("组织").select_option(label="河口镇")
    county.get_by_label("年度").fill("2025")
    _submit(county, "编制")
    statement_url = county.url
    auditor = _session_page(browser, base, "auditor", DESKTOP)
    auditor.goto(statement_url)
    assert "<svg" in auditor.content()
    _both_sizes(auditor, "statement")
    auditor.get_by_label("签发意见").fill("经审计，账实相符，同意公开")
    _submit(auditor, "签发")
    assert "已签发" in auditor.content()
    with auditor.expect_download() as download:
        auditor.get_by_role("link", name="下载 PDF（公开版）").click()
    pdf = tmp_path / "statement.pdf"
    download.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF")
    anonymous = browser.new_context(viewport=PHONE, locale="zh-CN").new_page()
    anonymous.goto(base + "/public/statements")
    assert "河口镇" in anonymous.content() and "2025" in anonymous.content()
    _both_sizes(anonymous, "public-statements")
