"""The 仍需帮助 form in real headless Chromium: size checks before upload, focus and kept files."""

import io
import os
import re

import pytest
from PIL import Image
from sqlalchemy import func, select

from helpcenter.db import Escalation
from helpcenter.web.live import serve_in_thread

pytestmark = pytest.mark.browser


def png(size=(24, 16)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (30, 160, 90)).save(buf, "PNG")
    return buf.getvalue()


def fill(page) -> None:
    page.fill("#subject", "付款后订单未更新")
    page.fill("#description", "付款成功已经两天了，订单还是显示待付款。")
    page.fill("#email", "me@example.com")


def count(app) -> int:
    with app.extensions["hc_storage"].session() as s:
        return s.scalar(select(func.count()).select_from(Escalation))


def test_too_large_photos_are_caught_before_anything_is_sent(browser, make_app):
    app = make_app(max_upload_mb=1, max_uploads=3)
    with serve_in_thread(app) as site:
        page = browser.new_page()
        page.goto(site + "/contact")
        fill(page)
        photos = [{"name": f"IMG_{i}.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8" + os.urandom(1_400_000)}
                  for i in range(3)]
        page.set_input_files("#screenshots", photos)
        assert "IMG_0.jpg（1.3 MB）：超过 1 MB" in page.inner_text("#screenshots-error")
        posts = []
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        page.click("button.primary")
        page.wait_for_timeout(300)
        assert posts == [] and page.url.endswith("/contact") and count(app) == 0
        assert page.evaluate("document.activeElement.id") == "screenshots"
        assert page.input_value("#subject") == "付款后订单未更新"
        assert page.get_attribute("#screenshots", "aria-invalid") == "true"
        page.set_input_files("#screenshots", [{"name": "ok.png", "mimeType": "image/png", "buffer": png()}])
        assert page.inner_text("#screenshots-error").strip() == ""
        page.click("button.primary")
        page.wait_for_url(re.compile(r"/contact/done/"))
        ref = page.inner_text("#reference")
        assert [a.original_name for a in app.extensions["hc_storage"].get_escalation(ref).attachments] == ["ok.png"]


def test_after_an_error_focus_is_on_the_first_wrong_field_and_the_screenshot_stays(browser, app):
    with serve_in_thread(app) as site:
        page = browser.new_page()
        page.goto(site + "/contact")
        fill(page)
        page.fill("#email", "me@example")
        page.set_input_files("#screenshots", [{"name": "截图.png", "mimeType": "image/png", "buffer": png()}])
        page.click("button.primary")
        page.wait_for_load_state()
        assert page.evaluate("document.activeElement.id") == "email"
        assert "截图.png" in page.inner_text(".kept") and "有效的电子邮箱" in page.inner_text(".error-summary")
        page.fill("#email", "me@example.com")
        page.click("button.primary")  # the screenshot is not chosen again
        page.wait_for_url(re.compile(r"/contact/done/"))
        esc = app.extensions["hc_storage"].get_escalation(page.inner_text("#reference"))
        assert [a.original_name for a in esc.attachments] == ["截图.png"]
