"""Pages, forms and their failure modes, through Flask's test client."""

import io
import re
import time
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from helpcenter.db import Escalation, Feedback
from helpcenter.engine.build import build_index
from helpcenter.engine.embed import HashEmbedder

from .conftest import csrf_from, free_port

REF_RE = re.compile(r"HC-\d{8}-[0-9A-HJKMNP-TV-Z]{4}")


def png_bytes(size=(20, 20)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def contact_form(client, **overrides):
    data = {"csrf_token": csrf_from(client), "subject": "收不到验证码", "category": "account",
            "description": "重置密码的时候一直收不到短信验证码，已经试过三次了。", "email": "user@example.com"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_home_lists_categories_with_counts(client):
    html = client.get("/").get_data(as_text=True)
    assert "账号与安全" in html and "2 篇文章" in html
    assert html.index("账号与安全") < html.index("联系客服") < html.index("订单与物流")
    assert "退货流程" not in html  # drafts are not served


def test_category_and_article_pages(client):
    cat = client.get("/categories/account").get_data(as_text=True)
    assert cat.index("忘记密码怎么重置") < cat.index("账号被盗怎么办")
    art = client.get("/articles/account/forgot-password")
    html = art.get_data(as_text=True)
    assert art.status_code == 200
    assert '<nav class="crumbs"' in html and 'href="/categories/account"' in html
    assert 'id="自己动手重置"' in html
    assert 'href="/articles/contact/email"' in html
    assert "这篇文章有帮助吗" in html and "相关文章" in html
    assert client.get("/articles/account/nope").status_code == 404
    assert client.get("/categories/nope").status_code == 404
    assert client.get("/articles/orders/draft-returns").status_code == 404


def test_search_page_marks_terms_and_links_to_the_section(client):
    html = client.get("/search?q=追踪号码").get_data(as_text=True)
    assert "<mark>追踪号码</mark>" in html
    assert re.search(r'href="/articles/orders/track-order\?from=[0-9a-f]{16}#', html)  # ?from: click analytics


def test_search_not_confident_says_so_and_offers_escalation(make_app):
    client = make_app(confident_floor=0.999).test_client()
    html = client.get("/search?q=发票怎么开").get_data(as_text=True)
    assert "没有找到确切答案" in html and 'href="/contact"' in html
    assert '<ol class="results">' in html  # best guesses are still shown


def test_empty_long_and_hostile_queries(client):
    assert "请输入您的问题" in client.get("/search?q=+++").get_data(as_text=True)
    assert "只按前 200 个字搜索" in client.get("/search?q=" + "密码" * 300).get_data(as_text=True)
    html = client.get("/search?q=<script>alert(1)</script>").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_article_markdown_cannot_inject_script(tmp_path, built, make_app):
    path = Path(built.articles_dir) / "contact" / "evil.md"
    path.write_text("---\ntitle: 坏文章\n---\n\n## 标题\n\n<script>alert(1)</script>\n\n"
                    "[x](javascript:alert(2))\n\n<img src=x onerror=alert(3)>\n", "utf-8")
    build_index(built, HashEmbedder(256))
    html = make_app().test_client().get("/articles/contact/evil").get_data(as_text=True)
    assert "alert(1)" not in html and "javascript:" not in html and "onerror" not in html


def test_security_headers(client):
    r = client.get("/")
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in r.get_data(as_text=True)  # no inline script anywhere


def test_feedback_no_asks_what_was_missing_and_keeps_one_vote(app, client):
    token = csrf_from(client)
    r = client.post("/articles/account/forgot-password/feedback", data={"csrf_token": token, "helpful": "no"})
    assert r.status_code == 302 and "feedback=no" in r.headers["Location"]
    assert "还缺少什么" in client.get(r.headers["Location"]).get_data(as_text=True)
    r = client.post("/articles/account/forgot-password/feedback",
                    data={"csrf_token": token, "helpful": "comment", "comment": "没说收不到短信怎么办"})
    assert "feedback=done" in r.headers["Location"]
    with app.extensions["hc_storage"].session() as s:
        rows = s.scalars(select(Feedback)).all()
    assert [(f.article_id, f.helpful, f.comment) for f in rows] == [
        ("account/forgot-password", False, "没说收不到短信怎么办")]


def test_feedback_without_csrf_is_refused(client):
    r = client.post("/articles/account/forgot-password/feedback", data={"helpful": "yes"})
    assert r.status_code == 400 and "CSRF" in r.get_data(as_text=True)


def test_contact_form_is_prefilled_from_the_visit(client):
    client.get("/search?q=收不到验证码怎么办")
    client.get("/articles/account/forgot-password")
    client.post("/articles/account/forgot-password/feedback", data={"csrf_token": csrf_from(client), "helpful": "no"})
    html = client.get("/contact").get_data(as_text=True)
    assert 'value="收不到验证码怎么办"' in html
    assert "您看过：" in html and "忘记密码怎么重置" in html and "标记为没有帮助" in html
    assert '<option selected value="account">' in html


def test_contact_submit_stores_request_with_context_and_shows_reference(app, client):
    client.get("/search?q=验证码")
    client.get("/articles/account/forgot-password")
    r = client.post("/contact", data=contact_form(client, phone="+86 138 0000 0000"))
    assert r.status_code == 302
    done = client.get(r.headers["Location"]).get_data(as_text=True)
    ref = REF_RE.search(done).group(0)
    assert "前回复您" in done and "周一至周五 09:00–18:00" in done
    esc = app.extensions["hc_storage"].get_escalation(ref)
    assert esc.email == "user@example.com" and esc.phone == "+8613800000000"
    ctx = esc.as_json()["context"]
    assert ctx["query"] == "验证码" and ctx["read"] == ["account/forgot-password"]


@pytest.mark.parametrize("overrides,field,message", [
    ({"subject": ""}, "subject", "主题需要"),
    ({"description": "太短"}, "description", "10 到 5000"),
    ({"email": "not-an-email"}, "email", "有效的电子邮箱"),
    ({"email": ""}, "email", "至少留下电子邮箱或手机号"),
    ({"email": "", "phone": "abc"}, "phone", "有效的手机号"),
    ({"category": "no-such"}, "category", ""),
])
def test_contact_form_rejects_bad_fields_and_keeps_input(client, overrides, field, message):
    data = contact_form(client, **overrides)
    r = client.post("/contact", data=data)
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert "请修改标出的内容" in html and message in html
    assert "重置密码的时候一直收不到短信验证码" in html or overrides.get("description")


def test_honeypot_and_missing_csrf(app, client):
    assert client.post("/contact", data=contact_form(client, website="http://spam")).status_code == 400
    data = contact_form(client)
    del data["csrf_token"]
    r = client.post("/contact", data=data)
    assert r.status_code == 400 and "CSRF" in r.get_data(as_text=True)
    with app.extensions["hc_storage"].session() as s:
        assert s.scalar(select(func.count()).select_from(Escalation)) == 0


def test_screenshot_upload_is_stored_outside_web_root(app, client):
    data = contact_form(client)
    data["screenshots"] = [(io.BytesIO(png_bytes()), "截图.png")]
    r = client.post("/contact", data=data, content_type="multipart/form-data")
    assert r.status_code == 302
    ref = r.headers["Location"].rsplit("/", 1)[1]
    att = app.extensions["hc_storage"].get_escalation(ref).attachments[0]
    assert att.original_name == "截图.png" and att.content_type == "image/png"
    stored = app.extensions["hc_upload_dir"] / att.stored_name
    assert stored.read_bytes() == png_bytes()
    assert re.fullmatch(r"[0-9a-f]{32}\.png", att.stored_name)
    assert client.get(f"/static/{att.stored_name}").status_code == 404


def test_non_image_and_too_many_uploads_are_refused(client):
    data = contact_form(client)
    data["screenshots"] = [(io.BytesIO(b"%PDF-1.4 not an image"), "fake.png")]
    r = client.post("/contact", data=data, content_type="multipart/form-data")
    assert r.status_code == 400 and "不是有效的图片" in r.get_data(as_text=True)
    data = contact_form(client)
    data["screenshots"] = [(io.BytesIO(png_bytes()), f"{i}.png") for i in range(4)]
    r = client.post("/contact", data=data, content_type="multipart/form-data")
    assert r.status_code == 400 and "最多上传 3 张" in r.get_data(as_text=True)


def test_oversized_upload_gets_a_friendly_413(make_app):
    client = make_app(max_upload_mb=1, max_uploads=1).test_client()
    data = contact_form(client)
    # Over what the form reads at all (4x what it could store; below that the form comes back
    # filled with a field error, see tests/test_escalate.py).
    data["screenshots"] = [(io.BytesIO(b"\x89PNG" + b"0" * (6 * 1024 * 1024)), "big.png")]
    r = client.post("/contact", data=data, content_type="multipart/form-data")
    assert r.status_code == 413
    assert "每张截图不能超过 1 MB" in r.get_data(as_text=True)


def test_rate_limit_on_forms(make_app):
    client = make_app(rate_limit_forms="2 per minute").test_client()
    codes = [client.post("/contact", data=contact_form(client)).status_code for _ in range(3)]
    assert codes == [302, 302, 429]
    assert "操作太频繁" in client.post("/contact", data=contact_form(client)).get_data(as_text=True)


def test_database_down_spools_the_request_and_still_gives_a_reference(make_app, tmp_path):
    spool = tmp_path / "spool"
    client = make_app(database_url=f"sqlite:///{tmp_path}/missing-dir/db.sqlite", spool_dir=str(spool),
                      outbox_worker=0).test_client()
    r = client.post("/contact", data=contact_form(client))
    assert r.status_code == 302
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    ref = REF_RE.search(html).group(0)
    assert "已排队" in html and "无需重新提交" in html and "前回复您" in html
    files = list(spool.glob("HC-*.json"))
    assert [f.name for f in files] == [f"{ref}.json"]
    assert "重置密码的时候一直收不到短信验证码" in files[0].read_text("utf-8")
    assert client.get("/search?q=密码").status_code == 200  # search keeps working
    assert client.get("/healthz").get_json()["spooled"] == 1


def test_database_and_spool_down_keeps_what_was_typed(make_app, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    client = make_app(database_url=f"sqlite:///{tmp_path}/missing-dir/db.sqlite",
                      spool_dir=str(tmp_path / "a-file" / "spool"), outbox_worker=0).test_client()
    r = client.post("/contact", data=contact_form(client))
    html = r.get_data(as_text=True)
    assert r.status_code == 503
    assert "暂时无法提交" in html and "重置密码的时候一直收不到短信验证码" in html


def test_no_index_still_lets_people_ask_for_help(make_app, tmp_path):
    client = make_app(index_dir=str(tmp_path / "empty-index")).test_client()
    assert client.get("/").status_code == 503
    assert "索引未就绪" in client.get("/search?q=密码").get_data(as_text=True)
    r = client.post("/contact", data=contact_form(client, category="other"))
    assert r.status_code == 302
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["index"]["ok"] is False


def test_site_switches_to_a_new_build_without_restart(built, client):
    assert client.get("/articles/orders/invoice").status_code == 404
    (Path(built.articles_dir) / "orders" / "invoice.md").write_text(
        "---\ntitle: 怎么开发票\n---\n\n## 开发票\n\n在订单页申请。\n", "utf-8")
    build_index(built, HashEmbedder(256))
    assert client.get("/articles/orders/invoice").status_code == 200
    assert client.get("/healthz").get_json()["index"]["articles"] == 5


def test_confirmation_email_over_real_smtp(make_app):
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received = []

    class Collect(Message):
        def handle_message(self, message):
            received.append(message)

    port = free_port()
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        # Sent by the app's background outbox worker, woken by the submission.
        client = make_app(smtp_host="127.0.0.1", smtp_port=port, outbox_worker=1).test_client()
        r = client.post("/contact", data=contact_form(client))
        ref = r.headers["Location"].rsplit("/", 1)[1]
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # and nothing more arrives
    finally:
        controller.stop()
    assert len(received) == 1
    assert received[0]["To"] == "user@example.com" and ref in received[0]["Subject"]


def test_rate_limits_follow_the_forwarded_client_behind_a_trusted_proxy(make_app):
    client = make_app(rate_limit_forms="1 per minute", trusted_proxies=1).test_client()
    first, second = {"X-Forwarded-For": "203.0.113.1"}, {"X-Forwarded-For": "203.0.113.2"}
    assert client.post("/contact", data=contact_form(client), headers=first).status_code == 302
    assert client.post("/contact", data=contact_form(client), headers=first).status_code == 429
    assert client.post("/contact", data=contact_form(client), headers=second).status_code == 302
