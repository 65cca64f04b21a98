"""/admin/inbox (helpcenter.web.inbox): agents read requests, their visit context and screenshots."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from PIL import Image
from sqlalchemy import update

from helpcenter.db import Escalation, utcnow
from helpcenter.support import staff as accounts

from .conftest import csrf_from
from .test_web import contact_form, png_bytes

PASSWORD = "a long enough passphrase"


def sign_in(app, role: str = "agent"):
    email = f"{role}@example.com"
    accounts.add_staff(app.extensions["hc_storage"], email, role, PASSWORD)
    client = app.test_client()
    r = client.post("/admin/login", data={"csrf_token": csrf_from(client), "email": email, "password": PASSWORD})
    assert r.status_code == 302
    return client


def submit(app, *, search: str | None = None, unhelpful: str | None = None, screenshot: bool = False,
           **fields) -> str:
    """A request sent the way a person sends it: search, read, vote, then the real /contact form."""
    person = app.test_client()
    if search:
        person.get("/search", query_string={"q": search})
    if unhelpful:
        person.get(f"/articles/{unhelpful}")
        person.post(f"/articles/{unhelpful}/feedback", data={"csrf_token": csrf_from(person), "helpful": "no"})
    data = contact_form(person, **fields)
    if screenshot:
        data["screenshots"] = [(io.BytesIO(png_bytes((40, 30))), "登录页 截图.png")]
    r = person.post("/contact", data=data, content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)
    return r.headers["Location"].rsplit("/", 1)[1]


def backdate(app, ref: str, days: float, status: str | None = None) -> None:
    values: dict = {"created_at": utcnow() - dt.timedelta(days=days)}
    if status:
        values["status"] = status
    with app.extensions["hc_storage"].session() as s, s.begin():
        s.execute(update(Escalation).where(Escalation.reference == ref).values(**values))


def refs_on(html: str) -> set[str]:
    return set(re.findall(r'href="/admin/inbox/([A-Z0-9-]+)"', html))


@pytest.fixture
def inbox_app(make_app):
    return make_app(support_hours="mon-fri 09:00-18:00", support_timezone="Asia/Shanghai", response_hours=8)


def test_an_agent_sees_the_requests_with_counts_and_filters(inbox_app):
    fresh = submit(inbox_app, subject="收不到验证码", category="account")
    old = submit(inbox_app, subject="订单一直没有物流信息", category="orders")
    solved = submit(inbox_app, subject="已经解决的问题", category="account")
    backdate(inbox_app, old, 20)  # weeks past any due time, still unanswered
    backdate(inbox_app, solved, 20, status="solved")
    agent = sign_in(inbox_app)

    r = agent.get("/admin/inbox")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    assert refs_on(html) == {fresh, old, solved}
    assert html.index(fresh) < html.index(old)  # newest first
    assert re.search(r"新建\s*<strong>2</strong>", html) and re.search(r"已解决\s*<strong>1</strong>", html)

    assert refs_on(agent.get("/admin/inbox?status=solved").get_data(as_text=True)) == {solved}
    assert refs_on(agent.get("/admin/inbox?category=orders").get_data(as_text=True)) == {old}
    assert refs_on(agent.get("/admin/inbox?age=7").get_data(as_text=True)) == {fresh}
    overdue = agent.get("/admin/inbox?overdue=1").get_data(as_text=True)
    assert refs_on(overdue) == {old}  # the solved one is not waiting for anyone
    assert "已超时" in overdue and re.search(r"新建\s*<strong>1</strong>", overdue)


def test_the_list_pages_through_many_requests(inbox_app):
    refs = [submit(inbox_app, subject=f"问题 {i} 需要帮助") for i in range(27)]
    agent = sign_in(inbox_app)
    first = refs_on(agent.get("/admin/inbox").get_data(as_text=True))
    html2 = agent.get("/admin/inbox?page=2").get_data(as_text=True)
    second = refs_on(html2)
    assert len(first) == 25 and first | second == set(refs) and not first & second
    assert "第 2 / 2 页" in html2


def test_a_writer_gets_403_and_an_admin_gets_in(inbox_app):
    ref = submit(inbox_app)
    writer = sign_in(inbox_app, "writer")
    assert writer.get("/admin/inbox").status_code == 403
    assert writer.get(f"/admin/inbox/{ref}").status_code == 403
    admin = sign_in(inbox_app, "admin")
    assert ref in admin.get("/admin/inbox").get_data(as_text=True)
    assert re.search(r'href="/admin/inbox/?"', admin.get("/admin").get_data(as_text=True))  # linked from the report


def test_no_session_gets_no_list_no_detail_and_no_screenshot(inbox_app):
    ref = submit(inbox_app, subject="看不到我的截图", screenshot=True)
    att = inbox_app.extensions["hc_storage"].get_escalation(ref).attachments[0]
    stranger = inbox_app.test_client()
    for url in ("/admin/inbox", f"/admin/inbox/{ref}", f"/admin/inbox/{ref}/files/{att.stored_name}"):
        r = stranger.get(url)
        body = r.get_data()
        assert r.status_code in (302, 403, 404), url
        assert b"\x89PNG" not in body and "看不到我的截图".encode() not in body and ref.encode() not in body


def test_the_detail_shows_the_fields_the_context_and_the_screenshot(inbox_app):
    ref = submit(inbox_app, search="忘记密码", unhelpful="account/forgot-password", screenshot=True,
                 subject="重置密码收不到短信", name="张三", phone="13800000000")
    agent = sign_in(inbox_app)
    r = agent.get(f"/admin/inbox/{ref.lower()}")  # references are typed in any case
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    assert "重置密码收不到短信" in html and "张三" in html and "13800000000" in html and "user@example.com" in html
    assert "忘记密码" in html
    unhelpful = html[html.index("标记为没有帮助"):]
    assert "忘记密码怎么重置" in unhelpful[:600]  # the article's title, from the index
    assert "应答期限" in html and "收到求助" in html  # due time and the timeline
    att = inbox_app.extensions["hc_storage"].get_escalation(ref).attachments[0]
    assert f'href="/admin/inbox/{ref}/files/{att.stored_name}"' in html and "登录页 截图.png" in html
    assert agent.get("/admin/inbox/NOPE-123").status_code == 404


def test_an_old_request_is_marked_overdue_on_its_page(inbox_app):
    ref = submit(inbox_app)
    backdate(inbox_app, ref, 20)
    html = sign_in(inbox_app).get(f"/admin/inbox/{ref}").get_data(as_text=True)
    assert "已超时" in html


def test_the_screenshot_is_served_to_the_agent_with_image_only_headers(inbox_app):
    ref = submit(inbox_app, screenshot=True)
    att = inbox_app.extensions["hc_storage"].get_escalation(ref).attachments[0]
    r = sign_in(inbox_app).get(f"/admin/inbox/{ref}/files/{att.stored_name}")
    assert r.status_code == 200
    assert Image.open(io.BytesIO(r.get_data())).size == (40, 30)
    assert r.headers["Content-Type"] == att.content_type
    assert r.headers["Content-Disposition"].startswith("inline; filename*=UTF-8''")
    assert "%E7%99%BB%E5%BD%95" in r.headers["Content-Disposition"]  # 登录, percent-encoded
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Security-Policy"] == "default-src 'none'; img-src 'self'; sandbox"
    assert r.headers["Cache-Control"] == "no-store"


def test_a_screenshot_of_another_request_or_a_path_gives_404(inbox_app):
    mine = submit(inbox_app, screenshot=True)
    other = submit(inbox_app, screenshot=True)
    theirs = inbox_app.extensions["hc_storage"].get_escalation(other).attachments[0].stored_name
    (inbox_app.extensions["hc_upload_dir"].parent / "secret.txt").write_text("不该被读到")
    agent = sign_in(inbox_app)
    assert agent.get(f"/admin/inbox/{mine}/files/{theirs}").status_code == 404
    for attempt in ("../secret.txt", "..%2Fsecret.txt", "%2e%2e%2fsecret.txt", "../helpcenter.db"):
        r = agent.get(f"/admin/inbox/{mine}/files/{attempt}")
        assert r.status_code == 404, attempt
        assert "不该被读到".encode() not in r.get_data()


def test_an_agent_lands_on_the_inbox_after_signing_in(inbox_app):
    accounts.add_staff(inbox_app.extensions["hc_storage"], "agent@example.com", "agent", PASSWORD)
    client = inbox_app.test_client()
    r = client.post("/admin/login", data={"csrf_token": csrf_from(client), "email": "agent@example.com",
                                          "password": PASSWORD})
    assert r.status_code == 302 and r.headers["Location"].rstrip("/").endswith("/admin/inbox")


def test_the_detail_shows_each_notification_and_its_last_error(make_app):
    app = make_app(webhook_url="http://127.0.0.1:9/hook")
    ref = submit(app)
    storage = app.extensions["hc_storage"]
    [msg] = storage.claim_outbox("test-worker")
    storage.mark_failed(msg.id, "test-worker", "connection refused by 127.0.0.1:9", None)  # gave up
    html = sign_in(app).get(f"/admin/inbox/{ref}").get_data(as_text=True)
    timeline = html[html.index("收到求助"):]
    assert "Webhook" in timeline and "发送失败" in timeline and "尝试 1 次" in timeline
    assert "connection refused by 127.0.0.1:9" in timeline
