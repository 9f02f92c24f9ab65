"""End to end in a real browser: the demo county's pages on a 390-px phone and a desktop.

Each page is screenshotted into docs/screenshots/ (README shows some) and measured: nothing may make
the page scroll sideways on a phone (a wide table scrolls inside its own box instead).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import DESKTOP, PHONE, SCREENSHOTS, LiveServer, demo_env, launch_chromium, start_server
from tests.conftest import IN_CI

pytestmark = [pytest.mark.xdist_group("browser"), pytest.mark.slow]
DEMO_PASSWORD = "demo-password-2026"


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("browser-demo")
    env = demo_env(root)
    for command in (["migrate"], ["demo"]):
        subprocess.run([sys.executable, "-m", "assoc_ledger.cli", *command], env=env, cwd=root, check=True,
                       capture_output=True, timeout=600)
    yield from start_server(env, root)


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
    _login(page, demo_server.base_url, "county-secretary")
    assert page.url.rstrip("/") == demo_server.base_url, page.url
    book_href = None
    page.goto(demo_server.base_url + "/fund")
    links = page.locator("a[href^='/fund/books/']")
    assert links.count() >= 15  # the demo county keeps 15 books, the county secretary sees them all
    book_href = links.first.get_attribute("href")
    pages += [("home", "/"), ("orgs", "/orgs"), ("members", "/members"), ("fund", "/fund"),
              ("fund-book", str(book_href))]
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

