"""The site in real headless Chromium (Debian's /usr/bin/chromium via Playwright)."""

import re

import pytest

from helpcenter.web.live import CHROMIUM, chromium, serve_in_thread

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    import os

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: scripts/install --test installs Debian's chromium")
    with chromium() as b:
        yield b


@pytest.fixture
def site(app):
    with serve_in_thread(app) as base:
        yield base


def test_search_read_vote_no_and_escalate(browser, site, app):
    page = browser.new_page()
    page.goto(site)
    page.fill("#q", "物流一直不更新")
    page.click("form.search button[type=submit]")
    page.wait_for_url(re.compile(r"/search\?q="))
    first = page.locator(".result-title").first
    assert first.inner_text() == "订单无法追踪怎么办"
    assert page.locator(".snippet mark").count() > 0
    first.click()
    page.wait_for_url(re.compile(r"/articles/orders/track-order"))
    page.click("button[value=no]")
    page.fill("#comment", "没说快递公司电话")
    page.click("#feedback button[type=submit]")
    assert "感谢您的反馈" in page.inner_text("#feedback")
    page.click("text=联系人工客服 >> nth=0")
    page.wait_for_url(re.compile(r"/contact"))
    assert page.input_value("#subject") == "物流一直不更新"
    assert "订单无法追踪怎么办" in page.inner_text(".context")
    assert page.input_value("#category") == "orders"
    page.fill("#description", "快递单号查不到任何物流信息，已经等了五天了。")
    page.fill("#email", "me@example.com")
    page.click("button.primary")
    page.wait_for_url(re.compile(r"/contact/done/"))
    ref = page.inner_text("#reference")
    assert re.fullmatch(r"HC-\d{8}-[0-9A-Z]{4}", ref)
    esc = app.extensions["hc_storage"].get_escalation(ref)
    assert esc.as_json()["context"]["unhelpful"] == ["orders/track-order"]


def test_suggestions_appear_while_typing_and_keyboard_selects(browser, site):
    page = browser.new_page()
    page.goto(site)
    page.type("#q", "追踪号码", delay=30)
    page.wait_for_selector("#suggestions li")
    assert page.get_attribute("#q", "aria-expanded") == "true"
    assert "订单无法追踪怎么办" in page.inner_text("#suggestions")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/articles/"))


def test_deflection_suggests_articles_while_describing(browser, site):
    page = browser.new_page()
    page.goto(site + "/contact")
    page.type("#description", "账号被盗了怎么办，别人登了我的号", delay=10)
    page.wait_for_selector("#deflect li")
    assert "账号被盗怎么办" in page.inner_text("#deflect")


def test_everything_works_without_javascript(browser, site, app):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(site + "/")
    page.fill("#q", "客服邮箱")
    page.click("form.search button[type=submit]")
    assert page.locator(".result").count() > 0
    page.goto(site + "/articles/contact/email")
    page.click("button[value=yes]")
    assert "感谢您的反馈" in page.inner_text("#feedback")
    page.goto(site + "/contact")
    page.fill("#subject", "无脚本提交")
    page.fill("#description", "浏览器禁用了脚本，也要能提交求助。")
    page.fill("#phone", "13800000000")
    page.click("button.primary")
    assert re.search(r"HC-\d{8}-", page.inner_text("#reference"))
    context.close()


def test_hostile_query_never_runs_script(browser, site):
    page = browser.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(site + "/search?q=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E%3Cscript%3Ealert(2)%3C/script%3E")
    page.fill("#q", "<img src=x onerror=alert(3)>")
    page.wait_for_timeout(600)
    assert dialogs == []


def test_phone_width_has_no_horizontal_scroll(browser, site):
    page = browser.new_page(viewport={"width": 360, "height": 740})
    for path in ("/", "/search?q=密码", "/articles/account/forgot-password", "/contact"):
        page.goto(site + path)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
