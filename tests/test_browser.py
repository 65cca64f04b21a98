"""The site in real headless Chromium (Debian's /usr/bin/chromium via Playwright)."""

import re

import pytest

from helpcenter.web.live import serve_in_thread

pytestmark = pytest.mark.browser


def test_search_read_vote_no_and_escalate(browser, site, app):
    page = browser.new_page()
    page.goto(site)
    page.fill("#q", "物流一直不更新")
    page.click("form.search button[type=submit]")
    page.wait_for_url(re.compile(r"/search\?q="))
    first = page.locator(".result-title").first
    assert first.inner_text() == "订单无法追踪怎么办"
    assert page.locator(".snippet mark, .best-passage mark").count() > 0  # the best answer has its passage
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


def _compose_then_choose(page, selector: str, syllables: list[str], chosen: str) -> list[str]:
    """Type pinyin through Chromium's own IME (compositionstart/update/end), then pick a candidate;
    returns the q of every /api/suggest request made while composing and after the choice."""
    from urllib.parse import parse_qs, urlsplit

    asked: list[str] = []
    page.on("request", lambda r: asked.extend(parse_qs(urlsplit(r.url).query).get("q", []))
            if "/api/suggest" in r.url else None)
    page.focus(selector)
    ime = page.context.new_cdp_session(page)
    for typed in syllables:
        ime.send("Input.imeSetComposition", {"text": typed, "selectionStart": len(typed), "selectionEnd": len(typed)})
        page.wait_for_timeout(450)  # pauses longer than the debounce, as someone picking syllables
    assert asked == [], "asked for suggestions while the IME was still composing"
    with page.expect_request(lambda r: "/api/suggest" in r.url):
        ime.send("Input.insertText", {"text": chosen})  # the candidate is chosen: compositionend
    return asked


def test_no_suggestions_while_a_chinese_ime_is_composing(browser, site):
    page = browser.new_page()
    page.goto(site + "/articles/account/forgot-password")  # the header box
    asked = _compose_then_choose(page, "#q", ["zh", "zhui", "zhuizong", "zhuizonghao", "zhuizonghaoma"], "追踪号码")
    page.wait_for_selector("#suggestions li")
    assert "订单无法追踪怎么办" in page.inner_text("#suggestions")
    assert asked == ["追踪号码"]


def test_no_article_hints_while_the_description_is_being_composed(browser, site):
    page = browser.new_page()
    page.goto(site + "/contact")
    asked = _compose_then_choose(page, "#description", ["wode", "wodezhanghao", "wodezhanghaobeidaole"],
                                 "我的账号被盗了怎么办")
    page.wait_for_selector("#deflect li")
    assert asked == ["我的账号被盗了怎么办"]


def fits(page, selector: str) -> bool:
    """Whether the input's placeholder is shown whole (measured in the input's own font)."""
    return page.evaluate("""(sel) => {
        const el = document.querySelector(sel), cs = getComputedStyle(el);
        const ctx = document.createElement('canvas').getContext('2d');
        ctx.font = cs.font;
        const room = el.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
        return ctx.measureText(el.placeholder).width <= room;
    }""", selector)


def test_phone_home_shows_popular_questions_within_the_first_screen_or_so(browser, tmp_path, settings):
    from pathlib import Path

    from helpcenter.engine.build import build_index
    from helpcenter.engine.embed import HashEmbedder
    from helpcenter.engine.search import Searcher
    from helpcenter.web import create_app

    shipped = Path(__file__).resolve().parents[1] / "articles"  # nine real categories
    s = settings.with_overrides(articles_dir=str(shipped), index_dir=str(tmp_path / "shipped-index"),
                                instance_dir=str(tmp_path / "instance"), outbox_worker=0)
    build_index(s)
    app = create_app({"TESTING": True}, settings=s, searcher=Searcher(s, embedder=HashEmbedder(256)))
    with serve_in_thread(app) as base:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(base + "/")
        assert page.locator(".cards a").count() == 9
        top = page.evaluate("document.getElementById('pop-title').getBoundingClientRect().top + scrollY")
        assert top <= 1.2 * 844
        assert fits(page, "#q")
        for path in ("/articles/account/stolen-account", "/search?q=密码", "/contact"):
            page.goto(base + path)
            assert fits(page, "#q"), path
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
