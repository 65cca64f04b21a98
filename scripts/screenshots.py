"""Save screenshots of home, searches, an article, a category, a missing page, the contact form
(empty, sent with mistakes, sent), the reader's pages in 繁體 and English, the staff pages (report, what search learned, inbox, a search, a request with a reply and a note)
the requester's status page (with the reply, and a message refused), and the help widget on another
site's page (an answer, a hand-over), at desktop and phone width.

Usage: scripts/screenshots [OUT_DIR]   (default: screenshots/)
Serves the shipped articles (index/current) on a loopback port with the default model.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from helpcenter.config import load_settings
from helpcenter.support import staff
from helpcenter.web import create_app
from helpcenter.web.live import chromium, serve_in_thread

PAGES = [
    ("home", "/"),
    ("search", "/search?q=密码忘了怎么办"),
    ("search-not-confident", "/search?q=你们公司在哪里招聘"),
    ("search-pinyin", "/search?q=chongzhi mima"),
    ("search-homophone", "/search?q=客服油箱地址是多少"),
    ("article", "/articles/account/stolen-account"),
    ("category", "/categories/account"),
    ("not-found", "/articles/account/no-such-article"),
    ("contact", "/contact"),
    # The same reader pages in 繁體 (converted by OpenCC) and English (translated, or the 简体 article
    # marked as untranslated), reached through their locale prefix.
    ("hant-home", "/zh-hant/"),
    ("hant-search", "/zh-hant/search?q=忘記密碼怎麼辦"),
    ("hant-article", "/zh-hant/articles/account/stolen-account"),
    ("hant-contact", "/zh-hant/contact"),
    ("en-home", "/en/"),
    ("en-search", "/en/search?q=I forgot my password"),
    ("en-article", "/en/articles/account/stolen-account"),
    ("en-untranslated", "/en/articles/hours/support-hours"),
    ("en-contact", "/en/contact"),
]
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
STAFF = ("shots@example.com", "screenshots only, never a real password")


def shoot(page, out: Path, name: str) -> None:
    page.wait_for_load_state("networkidle")
    target = out / name
    page.screenshot(path=str(target), full_page=True)
    print(target)


def staff_pages(page, base: str, out: Path, size_name: str) -> None:
    """A request sent through the form, what staff see of it (report, inbox, the request with a
    reply and a note), and the requester's status page with that reply."""
    page.goto(base + "/contact")
    page.fill("#subject", "重置密码收不到验证码")
    page.fill("#description", "点了重置密码，短信验证码一直收不到，已经试过三次。")
    page.fill("#email", "user@example.com")
    page.click("button:has-text('提交')")
    shoot(page, out, f"done-{size_name}.png")
    status_link = page.get_attribute("#status-link", "href")
    page.goto(base + "/admin")
    page.fill("input[name=email]", STAFF[0])
    page.fill("input[name=password]", STAFF[1])
    page.click("main button[type=submit]")
    shoot(page, out, f"admin-report-{size_name}.png")
    page.locator("#learned").screenshot(path=str(out / f"admin-learned-{size_name}.png"))
    print(out / f"admin-learned-{size_name}.png")
    page.goto(base + "/admin/inbox")
    shoot(page, out, f"inbox-list-{size_name}.png")
    page.click("ul.requests a >> nth=0")
    page.fill("#note-body", "手机号运营商拦截过短信，先建议改用邮箱验证。")
    page.click("#note button[type=submit]")
    page.fill("#reply-body", "您好，请在登录页点“找回密码”，选择“邮箱验证”即可，不需要短信。如果仍然收不到，请告诉我们绑定的邮箱。")
    page.click("#reply button[type=submit]")
    page.wait_for_load_state()
    shoot(page, out, f"inbox-detail-{size_name}.png")
    page.goto(base + "/admin/inbox?q=验证码收不到")
    shoot(page, out, f"inbox-search-{size_name}.png")
    if status_link:
        page.goto(status_link)
        shoot(page, out, f"status-{size_name}.png")
        page.fill("textarea[name=body]", "")
        page.click("form.reply-form button.primary")
        shoot(page, out, f"status-error-{size_name}.png")


def seed_learning(app) -> None:  # noqa: ANN001
    """Visits that give /admin's "搜索学到的问题" something to show: two that found their answer,
    three that opened the first result for another question and said it did not help."""
    import re

    for query, vote, times in (("密码想不起来了咋整", "yes", 2), ("换了手机号登不上", "no", 3)):
        for _ in range(times):
            person = app.test_client()
            html = person.get("/search", query_string={"q": query}).get_data(as_text=True)
            link = re.search(r'class="result-title" href="(/articles/([^"?]+)\?from=[^"]+)"', html)
            if link is None:
                continue
            person.get(link.group(1))
            token = person.get("/api/csrf").get_json()["csrf_token"]
            person.post(f"/articles/{link.group(2)}/feedback", data={"csrf_token": token, "helpful": vote})
    writer = app.extensions.get("hc_search_log")
    if writer is not None:
        writer.flush()


def widget_pages(browser, base: str, host: str, out: Path) -> None:
    """The widget open on another site's page, at desktop and phone width: a question answered,
    then a conversation through "否" to a hand-over."""
    for size_name, (w, h) in SIZES.items():
        page = browser.new_page(viewport={"width": w, "height": h}, locale="zh-CN")
        page.goto(host)
        page.locator("button[aria-haspopup=dialog]").click()
        panel = page.frame_locator("iframe")
        panel.locator("#w-input").fill("密码忘了怎么办")
        panel.locator("#w-input").press("Enter")
        panel.locator(".w-bot").nth(1).wait_for()
        panel.locator(".w-bot button.chip", has_text="忘记密码怎么重置").click()  # asked which: picks one
        panel.locator(".w-bot").nth(2).wait_for()
        shoot(page, out, f"widget-answer-{size_name}.png")
        for message in ("否", "人工", "me@example.com", "重置密码的短信验证码一直收不到"):
            count = panel.locator(".w-bot").count()
            panel.locator("#w-input").fill(message)
            panel.locator("#w-input").press("Enter")
            panel.locator(".w-bot").nth(count).wait_for()
        shoot(page, out, f"widget-handoff-{size_name}.png")
        page.close()


def host_page(app_base: str, port: int):  # noqa: ANN201
    """Another site's page (localhost, not 127.0.0.1: another origin) with the widget's script tag."""
    import http.server
    import threading

    html = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>某商城</title></head><body>'
            f'<h1 style="font-family:sans-serif">某商城 · 订单中心</h1><p style="font-family:sans-serif">'
            f'这是接入帮助小部件的另一个网站。</p><script src="{app_base}/widget.js" async></script></body></html>')

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(html.encode())

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        host_port = sock.getsockname()[1]
    settings = load_settings(instance_dir=tempfile.mkdtemp(prefix="hc-shots-"),
                             widget_origins=f"http://localhost:{host_port}")
    app = create_app(settings=settings)
    staff.add_staff(app.extensions["hc_storage"], STAFF[0], "admin", STAFF[1])
    seed_learning(app)
    with serve_in_thread(app) as base, chromium() as browser:
        for size_name, (w, h) in SIZES.items():
            page = browser.new_page(viewport={"width": w, "height": h}, locale="zh-CN")  # a mainland reader
            page.goto(base + "/search?q=账号被盗")  # gives the contact form some visit context
            for name, path in PAGES:
                page.goto(base + path)
                page.wait_for_load_state("networkidle")
                target = out / f"{name}-{size_name}.png"
                page.screenshot(path=str(target), full_page=True)
                print(target)
            # The form sent with a too-short subject and no contact: errors, summary, focus.
            page.goto(base + "/contact")
            page.fill("#subject", "密")
            page.click("button:has-text('提交')")
            shoot(page, out, f"contact-errors-{size_name}.png")
            staff_pages(page, base, out, size_name)
            page.close()
        host = host_page(base, host_port)
        try:
            widget_pages(browser, base, f"http://localhost:{host_port}", out)
        finally:
            host.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots"))
