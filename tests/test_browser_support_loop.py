"""The whole support loop in real headless Chromium, with a real SMTP server (aiosmtpd) on loopback:
a person searches, reads, marks an article unhelpful and asks for help with a screenshot; an
agent finds the request, sees its context and screenshot, replies and solves it with an
article found from the inbox; the reply e-mail arrives with the status link; the person opens
it, reads the reply, answers, and the request is open again for the agents."""

from __future__ import annotations

import email
import io
import re
import time

import pytest
from PIL import Image

from helpcenter.support import staff
from helpcenter.web.live import serve_in_thread

from .conftest import free_port
from .test_delivery import SmtpServer

pytestmark = pytest.mark.browser

PASSWORD = "a long enough passphrase"


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 40), (200, 60, 60)).save(buf, "PNG")
    return buf.getvalue()


def text_of(message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


def wait_for_mail(smtp: SmtpServer, subject_has: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in smtp.messages:
            subject = str(email.header.make_header(email.header.decode_header(m["Subject"])))
            if subject_has in subject:
                return m
        time.sleep(0.1)
    raise AssertionError(f"no e-mail with {subject_has!r} arrived; got {len(smtp.messages)}")


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


def test_a_request_goes_to_an_agent_and_the_reply_comes_back(browser, make_app, smtp, tmp_path):
    port = free_port()
    app = make_app(smtp_host="127.0.0.1", smtp_port=smtp.port, public_url=f"http://127.0.0.1:{port}",
                   outbox_worker=1, outbox_poll_seconds=0.2, outbox_backoff_seconds=0.2)
    storage = app.extensions["hc_storage"]
    staff.add_staff(storage, "agent@example.com", "agent", PASSWORD)
    shots = tmp_path / "shots"
    shots.mkdir()
    try:
        with serve_in_thread(app, port) as site:
            person = browser.new_context(viewport={"width": 390, "height": 844})  # on a phone
            page = person.new_page()
            # 1. Search, read, mark unhelpful, ask for help with a screenshot.
            page.goto(site)
            page.fill("#q", "密码想不起来了")
            page.click("form.search button[type=submit]")
            page.locator(".result-title", has_text="忘记密码怎么重置").first.click()
            page.wait_for_url(re.compile(r"/articles/account/forgot-password"))
            page.click("button[value=no]")
            page.fill("#comment", "收不到短信验证码怎么办没说")
            page.click("#feedback button[type=submit]")
            page.click("text=联系人工客服 >> nth=0")
            page.wait_for_url(re.compile(r"/contact"))
            page.fill("#description", "重置密码时短信验证码一直收不到，换了手机也一样。")
            page.fill("#email", "me@example.com")
            page.set_input_files("#screenshots", [{"name": "验证码页面.png", "mimeType": "image/png",
                                                   "buffer": png()}])
            page.click("button.primary")
            page.wait_for_url(re.compile(r"/contact/done/"))
            ref = page.inner_text("#reference")
            assert page.locator("#status-link").count() == 1
            confirmation = wait_for_mail(smtp, "我们已收到您的求助")
            assert ref in text_of(confirmation)

            # 2. The agent signs in, finds it by searching the inbox, sees context and screenshot.
            desk = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            desk.goto(site + "/admin")
            desk.fill("input[name=email]", "agent@example.com")
            desk.fill("input[name=password]", PASSWORD)
            desk.click("main button[type=submit]")
            desk.goto(site + "/admin/inbox?q=验证码收不到")
            desk.click(f"a[href='/admin/inbox/{ref}']")
            desk.wait_for_url(re.compile(ref))
            context = desk.inner_text("section[aria-labelledby=ctx-title]")
            assert "密码想不起来了" in context and "忘记密码怎么重置" in context
            shot = desk.locator("section[aria-labelledby=shots-title] img").first
            shot.wait_for()
            assert desk.evaluate("img => img.complete && img.naturalWidth", shot.element_handle()) == 64
            desk.fill("#reply-body", "请在登录页点“找回密码”，选择邮箱验证即可，不需要短信。")
            desk.click("#reply button[type=submit]")
            desk.wait_for_load_state()
            desk.fill("#article_q", "忘记密码")
            desk.click(".article-search button[type=submit]")
            desk.check("#solve input[name=article][value='account/forgot-password']")
            desk.click("#solve button[type=submit]")
            desk.wait_for_load_state()
            desk.screenshot(path=str(shots / "agent-solved.png"), full_page=True)
            esc = storage.get_escalation(ref)
            assert (esc.status, esc.resolution_article) == ("solved", "account/forgot-password")

            # 3. The reply e-mail arrives, with the link to the status page.
            reply = wait_for_mail(smtp, "客服回复了您的求助")
            body = text_of(reply)
            assert reply["To"] == "me@example.com" and "选择邮箱验证即可" in body
            link = re.search(rf"http://127\.0\.0\.1:{port}/requests/\S+", body).group(0)

            # 4. The person opens the link, reads the reply, answers: open again for the agents.
            page.goto(link)
            conversation = page.inner_text("#conversation")
            assert "选择邮箱验证即可" in conversation and "agent@example.com" not in page.content()
            assert "已解决" in page.inner_text("#status-line")
            page.fill("textarea[name=body]", "邮箱验证也收不到邮件，还是不行。")
            page.click("form.reply-form button.primary")
            page.wait_for_load_state()
            assert "邮箱验证也收不到邮件" in page.inner_text("#conversation")
            page.screenshot(path=str(shots / "status-after-answer.png"), full_page=True)
            assert storage.get_escalation(ref).status == "open"
            desk.goto(site + f"/admin/inbox/{ref}")
            assert "邮箱验证也收不到邮件" in desk.inner_text("section[aria-labelledby=tl-title]")
    finally:
        app.extensions["hc_outbox"].stop()
