"""The embeddable widget in real Chromium, on a host page served from another loopback origin:
one script tag, a button, the panel opens on click, a conversation through "否" to a hand-over,
Escape closes it; a site not on the list cannot frame it."""

from __future__ import annotations

import http.server
import re
import threading
from contextlib import contextmanager

import pytest
from sqlalchemy import select

from helpcenter.db import Escalation
from helpcenter.web.live import serve_in_thread

from .conftest import free_port

pytestmark = pytest.mark.browser

HOST_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>
<style>button {{ background: red !important; font-size: 40px; }} iframe {{ display: none; }}</style></head>
<body><h1>A shop</h1><p>Its own page, its own CSS.</p>
<script src="{app}/widget.js" data-locale="zh-Hans" data-color="#ff9900" async></script></body></html>"""


@contextmanager
def host_site(app_base: str, port: int):
    """A page of another site (another origin: localhost, not 127.0.0.1) that embeds the widget."""
    page = HOST_PAGE.format(app=app_base).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://localhost:{port}"
    finally:
        server.shutdown()


@pytest.fixture
def embedded(make_app):
    port = free_port()
    app = make_app(widget_origins=f"http://localhost:{port}")
    with serve_in_thread(app) as base, host_site(base, port) as host:
        yield app, base, host


def test_a_host_page_opens_the_widget_asks_refuses_and_hands_over(browser, embedded):
    app, base, host = embedded
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    page.goto(host)
    button = page.locator("button[aria-haspopup=dialog]")
    button.wait_for()
    assert button.inner_text() == "帮助"
    # The host's CSS (red, 40px buttons) does not reach the widget's button.
    assert page.evaluate("el => getComputedStyle(el).fontSize", button.element_handle()) == "16px"
    assert [u for u in asked if u.startswith(base)] == [base + "/widget.js"]  # nothing more before a click
    button.click()
    panel = page.frame_locator("iframe[title='帮助']")
    panel.locator("#w-input").fill("密码想不起来了")
    panel.locator("#w-input").press("Enter")
    panel.locator(".w-title").first.wait_for()
    assert panel.locator(".w-title").first.inner_text() == "忘记密码怎么重置"
    assert panel.locator(".w-passage mark").count() > 0
    panel.locator(".w-bot button.chip", has_text="否").last.click()
    panel.locator(".w-title").nth(1).wait_for()
    assert panel.locator(".w-title").nth(1).inner_text() != "忘记密码怎么重置"
    for message in ("人工", "me@example.com", "跳过"):
        count = panel.locator(".w-bot").count()
        panel.locator("#w-input").fill(message)
        panel.locator("#w-input").press("Enter")
        panel.locator(".w-bot").nth(count).wait_for()
    last = panel.locator(".w-bot").last.inner_text()
    reference = re.search(r"HC-\d{8}-[0-9A-Z]{4}", last).group(0)
    esc = app.extensions["hc_storage"].get_escalation(reference)
    assert esc.email == "me@example.com" and '"channel": "widget"' in esc.context
    with app.extensions["hc_storage"].session() as s:
        assert len(list(s.scalars(select(Escalation)))) == 1
    # The API calls carried no cookie: the widget works where third-party cookies are blocked.
    assert page.context.cookies(base) == []
    # Escape closes the panel and gives the focus back to the button.
    panel.locator("#w-input").press("Escape")
    page.locator(".panel").wait_for(state="hidden")
    assert page.evaluate("document.activeElement.shadowRoot.activeElement.getAttribute('aria-expanded')") == "false"
    page.close()


def test_the_host_api_opens_the_panel_on_a_question(browser, embedded):
    _app, _base, host = embedded
    page = browser.new_page()
    page.goto(host)
    page.wait_for_function("window.HelpCenter && window.HelpCenter.version")
    page.evaluate("HelpCenter.open({query: '物流一直不更新'})")
    panel = page.frame_locator("iframe")
    panel.locator(".w-title").first.wait_for()
    assert panel.locator(".w-title").first.inner_text() == "订单无法追踪怎么办"
    page.close()


def test_a_site_not_on_the_list_cannot_frame_the_widget(browser, make_app):
    port = free_port()
    app = make_app(widget_origins="https://shop.example.com")
    with serve_in_thread(app) as base, host_site(base, port) as host:
        page = browser.new_page()
        refused: list[str] = []
        page.on("console", lambda m: refused.append(m.text))
        page.goto(host)
        page.locator("button[aria-haspopup=dialog]").click()
        page.wait_for_timeout(1500)
        assert page.frame_locator("iframe").locator("#w-input").count() == 0
        assert any("frame-ancestors" in m for m in refused), refused
        page.close()
    client = app.test_client()
    r = client.get("/widget")
    assert "frame-ancestors https://shop.example.com;" in r.headers["Content-Security-Policy"] + ";"
    assert "X-Frame-Options" not in r.headers
    assert client.get("/").headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in client.get("/").headers["Content-Security-Policy"]


def test_widget_writes_need_the_panels_header(client):
    r = client.post("/widget/api/assist", json={"message": "你好"})
    assert r.status_code == 403
    ok = client.post("/widget/api/assist", json={"message": "你好", "channel": "widget"},
                     headers={"X-Helpcenter-Widget": "1"})
    assert ok.status_code == 200 and ok.get_json()["reply"]["kind"] == "smalltalk"


@pytest.mark.parametrize("locale", ["zh-Hans", "zh-Hant", "en"])
def test_the_panel_passes_axe_and_fits_a_phone_in_every_locale(browser, embedded, locale):
    from .test_browser_layout import AXE, AXE_RUN, TARGETS

    _app, base, _host = embedded
    context = browser.new_context(viewport={"width": 360, "height": 640}, bypass_csp=True)
    page = context.new_page()
    page.goto(f"{base}/widget?locale={locale}&q=" + "密码想不起来了")
    page.locator(".w-title").first.wait_for()
    assert page.evaluate("document.documentElement.lang") == locale
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.evaluate(TARGETS) == []
    page.add_script_tag(path=str(AXE))
    assert page.evaluate(AXE_RUN) == []
    context.close()


def test_articles_open_inside_the_panel_and_the_form_is_prefilled_from_the_conversation(browser, embedded):
    app, _base, host = embedded
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(host)
    page.locator("button[aria-haspopup=dialog]").click()
    panel = page.frame_locator("iframe")
    panel.locator("#w-input").type("追踪号码", delay=20)  # search as you type
    panel.locator("#w-suggest button", has_text="订单无法追踪怎么办").click()
    assert panel.locator("#w-article-body > h2").inner_text() == "订单无法追踪怎么办"
    assert "追踪号码" in panel.locator("#w-article .body").inner_text()
    panel.locator("#w-back").click()
    panel.locator("#w-input").fill("物流一直不更新")
    panel.locator("#w-input").press("Enter")
    panel.locator(".w-title").first.wait_for()
    panel.locator("#w-open-form").click()
    assert panel.locator("#w-subject").input_value() == "物流一直不更新"
    panel.locator("#w-email").fill("not an address")
    panel.locator("#w-request button[type=submit]").click()
    panel.locator("#w-form-error").wait_for()
    assert panel.locator("#w-subject").input_value() == "物流一直不更新"  # nothing typed is lost
    panel.locator("#w-description").fill("快递单号查不到任何物流信息，已经等了五天了。")
    panel.locator("#w-email").fill("me@example.com")
    panel.locator("#w-request button[type=submit]").click()
    panel.locator("#w-form-done").wait_for()
    reference = re.search(r"HC-\d{8}-[0-9A-Z]{4}", panel.locator("#w-form-done").inner_text()).group(0)
    assert app.extensions["hc_storage"].get_escalation(reference).subject == "物流一直不更新"
    page.close()
