"""我的求助 (helpcenter.web.status): the requester's page, opened by the link on the done page."""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from types import SimpleNamespace

import itsdangerous.timed
import pytest
from PIL import Image
from sqlalchemy import update

from helpcenter.db import Escalation, utcnow
from helpcenter.support import privacy, statuslink, tickets
from helpcenter.support import staff as accounts
from helpcenter.support.storage import StorageUnavailable

from .conftest import csrf_from
from .databases import database_url  # noqa: F401
from .test_inbox_web import PASSWORD, submit
from .test_web import contact_form, png_bytes

PRIVATE_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow", "Referrer-Policy": "no-referrer"}


def send(app, screenshot: bool = False, **fields):
    """A person sends the contact form and reads the done page: (their client, reference, status link)."""
    person = app.test_client()
    data = contact_form(person, **fields)
    if screenshot:
        data["screenshots"] = [(io.BytesIO(png_bytes((40, 30))), "登录页 截图.png")]
    r = person.post("/contact", data=data, content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)
    ref = r.headers["Location"].rsplit("/", 1)[1]
    done = person.get(r.headers["Location"])
    assert done.headers["Cache-Control"] == "no-store"
    found = re.search(r'id="status-link" href="([^"]+)"', done.get_data(as_text=True))
    assert found, "the done page shows no status link"
    return person, ref, found.group(1)


def path_of(link: str) -> str:
    return link[link.index(statuslink.PATH):]


def token_of(link: str) -> str:
    return link.rsplit(statuslink.PATH, 1)[1]


def agent_of(app):
    return tickets.Actor.staff(accounts.add_staff(app.extensions["hc_storage"], "agent@example.com", "agent",
                                                  PASSWORD))


def post_message(client, link: str, body: str, files=None):
    data = {"csrf_token": csrf_from(client), "body": body}
    if files:
        data["screenshots"] = files
    return client.post(path_of(link) + "/messages", data=data, content_type="multipart/form-data")


def textarea(html: str) -> str:
    text = re.search(r'<textarea[^>]*name="body"[^>]*>(.*?)</textarea>', html, re.S).group(1)
    return text.removeprefix("\r\n")  # wtforms starts the content on a new line


def esc_of(app, ref: str):
    return app.extensions["hc_storage"].get_escalation(ref)


def test_the_done_page_link_opens_the_request_with_replies_but_no_notes(make_app, database_url):  # noqa: F811
    app = make_app(database_url=database_url)
    person, ref, link = send(app, screenshot=True, subject="重置密码收不到短信")
    assert link.startswith("http://localhost/requests/")  # absolute: it is kept and bookmarked
    storage = app.extensions["hc_storage"]
    agent = agent_of(app)
    tickets.add_note(storage, ref, agent, "内部备注：这个用户上周也问过")
    tickets.reply(storage, ref, agent, "请确认手机号是否还在使用。")

    r = app.test_client().get(link)  # the link alone opens it: no session needed
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert {k: r.headers[k] for k in PRIVATE_HEADERS} == PRIVATE_HEADERS
    assert ref in html and "重置密码收不到短信" in html and "一直收不到短信验证码" in html
    assert "等待您的回复" in html
    conversation = html[html.index('id="conversation"'):]
    assert "请确认手机号是否还在使用。" in conversation and "客服" in conversation
    assert "内部备注" not in html and "agent@example.com" not in html
    att = esc_of(app, ref).attachments[0]
    assert f'src="{path_of(link)}/files/{att.stored_name}"' in html and "登录页 截图.png" in html


def test_a_new_request_says_when_to_expect_an_answer(make_app):
    app = make_app(support_hours="mon-sun 00:00-23:59", response_hours=8)
    _person, _ref, link = send(app)
    html = app.test_client().get(link).get_data(as_text=True)
    due = app.extensions["hc_hours"].response_due(esc_of(app, _ref).created_at, 8).astimezone(
        app.extensions["hc_hours"].tz)
    assert "新建" in html and f"预计在 <strong>{due:%Y年%m月%d日 %H:%M}</strong> 前回复您" in html


def test_the_screenshot_is_served_through_the_link_with_image_only_headers(make_app):
    app = make_app()
    _person, ref, link = send(app, screenshot=True)
    att = esc_of(app, ref).attachments[0]
    r = app.test_client().get(f"{path_of(link)}/files/{att.stored_name}")
    assert r.status_code == 200 and Image.open(io.BytesIO(r.get_data())).size == (40, 30)
    assert r.headers["Content-Type"] == att.content_type
    assert r.headers["Content-Disposition"].startswith("inline; filename*=UTF-8''%E7%99%BB%E5%BD%95")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Security-Policy"] == "default-src 'none'; img-src 'self'; sandbox"
    assert {k: r.headers[k] for k in PRIVATE_HEADERS} == PRIVATE_HEADERS


def test_a_message_with_a_screenshot_is_stored_shown_and_reopens_a_pending_request(make_app, database_url):  # noqa: F811
    app = make_app(database_url=database_url)
    person, ref, link = send(app)
    woken = []
    app.extensions["hc_outbox"] = SimpleNamespace(wake=lambda: woken.append(1))
    tickets.reply(app.extensions["hc_storage"], ref, agent_of(app), "请发一张报错的截图。")
    assert esc_of(app, ref).status == "pending"
    page = person.get(link).get_data(as_text=True)
    assert "发送后，求助会转回客服继续处理" in page  # the page says what sending does

    r = post_message(person, link, "这是报错的截图。\r\n第二行",
                     [(io.BytesIO(png_bytes((50, 20))), "报错.png")])
    assert r.status_code == 302 and r.headers["Location"].endswith(path_of(link) + "#conversation")
    assert woken == [1]
    esc = esc_of(app, ref)
    assert esc.status == "open"
    [shot] = [a for a in esc.attachments if a.event_id is not None]
    html = person.get(link).get_data(as_text=True)
    assert "求助已转回客服继续处理" in html  # the notice after the redirect
    mine = html[html.index("这是报错的截图。"):]
    assert mine.startswith("这是报错的截图。\n第二行") and f"/files/{shot.stored_name}" in mine[:800]
    assert "处理中" in html
    img = person.get(f"{path_of(link)}/files/{shot.stored_name}")
    assert img.status_code == 200 and Image.open(io.BytesIO(img.get_data())).size == (50, 20)


def test_a_message_on_a_new_request_keeps_it_new(make_app):
    app = make_app()
    person, ref, link = send(app)
    assert post_message(person, link, "补充：我用的是联通卡。").status_code == 302
    assert esc_of(app, ref).status == "new"
    assert "补充：我用的是联通卡。" in person.get(link).get_data(as_text=True)


def test_a_solved_request_can_be_reopened_within_the_days_and_not_after(make_app):
    app = make_app(solved_close_days=7)
    storage = app.extensions["hc_storage"]
    agent = agent_of(app)
    person, ref, link = send(app)
    tickets.solve(storage, ref, agent, article="account/forgot-password")
    html = person.get(link).get_data(as_text=True)
    assert "已解决" in html and "问题还没解决？重新打开" in html
    assert "发送后，这个求助会重新打开" in html
    r = person.post(path_of(link) + "/reopen", data={"csrf_token": csrf_from(person)})
    assert r.status_code == 302 and esc_of(app, ref).status == "open"
    assert "已重新打开您的求助" in person.get(link).get_data(as_text=True)

    tickets.solve(storage, ref, agent, article="account/forgot-password")
    with storage.session() as s, s.begin():
        s.execute(update(Escalation).where(Escalation.reference == ref)
                  .values(solved_at=utcnow() - dt.timedelta(days=8)))
    html = person.get(link).get_data(as_text=True)
    assert "已解决" in html and "重新打开</button>" not in html
    r = person.post(path_of(link) + "/reopen", data={"csrf_token": csrf_from(person)})
    assert r.status_code == 400 and "7 天内" in r.get_data(as_text=True)
    assert esc_of(app, ref).status == "solved"


def test_reopen_needs_the_csrf_token(make_app):
    app = make_app()
    person, ref, link = send(app)
    tickets.solve(app.extensions["hc_storage"], ref, agent_of(app), article="account/forgot-password")
    assert person.post(path_of(link) + "/reopen").status_code == 400
    assert esc_of(app, ref).status == "solved"


def test_a_closed_request_has_no_form_and_refuses_a_message(make_app):
    app = make_app()
    person, ref, link = send(app)
    tickets.set_status(app.extensions["hc_storage"], ref, agent_of(app), "closed")
    html = person.get(link).get_data(as_text=True)
    line = html[html.index('id="status-line"'):]
    assert "已关闭" in html and 'name="body"' not in html
    assert re.match(r'[^<]*这个求助已关闭[^<]*<a href="/contact">提交新的求助</a>', line[line.index(">") + 1:])
    r = post_message(person, link, "还有一个问题")
    assert r.status_code == 400 and "这个求助已关闭，请提交新的求助" in r.get_data(as_text=True)
    assert 'name="body"' not in r.get_data(as_text=True)


def wrong_links(app, ref: str, link: str, other_ref: str, monkeypatch) -> dict[str, str]:
    secret = app.secret_key
    token = token_of(link)
    nonce = esc_of(app, ref).status_nonce
    i = len(token) // 2
    tampered = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
    real = itsdangerous.timed.TimestampSigner.get_timestamp
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp",
                        lambda self: real(self) - 31 * 86400)  # issued 31 days ago
    expired = statuslink.make_token(secret, ref, nonce)
    monkeypatch.undo()
    return {"tampered": tampered, "wrong nonce": statuslink.make_token(secret, ref, "0" * 32),
            "other request, this nonce": statuslink.make_token(secret, other_ref, nonce),
            "other key": statuslink.make_token("another secret", ref, nonce), "expired": expired,
            "garbage": "not-a-token"}


def test_wrong_expired_and_foreign_tokens_give_a_plain_404(make_app, monkeypatch):
    app = make_app(status_link_days=30)
    _person, ref, link = send(app, subject="机密主题一二三")
    _other_person, other_ref, _other_link = send(app, subject="另一个人的主题")
    client = app.test_client()
    assert client.get(link).status_code == 200
    for what, token in wrong_links(app, ref, link, other_ref, monkeypatch).items():
        for path in ("", "/files/x.png"):
            r = client.get(f"/requests/{token}{path}")
            body = r.get_data(as_text=True)
            assert r.status_code == 404, what
            assert "页面不存在" in body and ref not in body and other_ref not in body, what
            assert "机密主题一二三" not in body and "另一个人的主题" not in body, what
            assert r.headers["Referrer-Policy"] == "no-referrer"
        r = client.post(f"/requests/{token}/messages", data={"csrf_token": csrf_from(client), "body": "试一试"})
        assert r.status_code == 404, what
    assert len(tickets.timeline(app.extensions["hc_storage"], esc_of(app, other_ref).id)) == 0


def test_a_token_issued_within_the_days_still_works(make_app, monkeypatch):
    app = make_app(status_link_days=30)
    _person, ref, _link = send(app)
    real = itsdangerous.timed.TimestampSigner.get_timestamp
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: real(self) - 29 * 86400)
    token = statuslink.make_token(app.secret_key, ref, esc_of(app, ref).status_nonce)
    monkeypatch.undo()
    assert app.test_client().get(f"/requests/{token}").status_code == 200


def test_a_deleted_request_gives_404(make_app):
    app = make_app()
    _person, ref, link = send(app, email="gone@example.com", subject="要删除的求助")
    privacy.delete_person(app.extensions["hc_storage"], app.extensions["hc_upload_dir"], email="gone@example.com")
    r = app.test_client().get(link)
    assert r.status_code == 404 and "要删除的求助" not in r.get_data(as_text=True)


def test_a_screenshot_of_another_request_or_a_path_gives_404(make_app):
    app = make_app()
    _person, _ref, link = send(app, screenshot=True)
    other = submit(app, screenshot=True)
    theirs = esc_of(app, other).attachments[0].stored_name
    (app.extensions["hc_upload_dir"].parent / "secret.txt").write_text("不该被读到")
    client = app.test_client()
    assert client.get(f"{path_of(link)}/files/{theirs}").status_code == 404
    for attempt in ("../secret.txt", "..%2Fsecret.txt", "%2e%2e%2fsecret.txt"):
        r = client.get(f"{path_of(link)}/files/{attempt}")
        assert r.status_code == 404 and "不该被读到".encode() not in r.get_data(), attempt


@pytest.mark.parametrize("body, files, expected", [
    ("   ", None, "补充内容不能为空"),
    ("太长了" * 1700, None, "补充内容最多 5000 个字（现在 5100 个）"),
    ("附上文件", [(io.BytesIO(b"%PDF-1.4 not an image"), "说明.png")], "说明.png：不是有效的图片"),
    ("附上大图", [(io.BytesIO(b"\0" * (1024 * 1024 + 10)), "大图.png")], "大图.png（1.0 MB）：超过 1 MB"),
])
def test_a_bad_message_comes_back_with_the_typed_text(make_app, body, files, expected):
    app = make_app(max_upload_mb=1)
    person, ref, link = send(app)
    r = post_message(person, link, body, files)
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and expected in html
    assert textarea(html) == body
    assert {k: r.headers[k] for k in PRIVATE_HEADERS} == PRIVATE_HEADERS
    assert tickets.timeline(app.extensions["hc_storage"], esc_of(app, ref).id, public_only=True) == []


def test_a_good_screenshot_is_kept_while_the_text_is_corrected(make_app):
    app = make_app()
    person, ref, link = send(app)
    r = post_message(person, link, "", [(io.BytesIO(png_bytes((30, 30))), "第一次.png")])
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "已附上" in html and "第一次.png" in html
    pending = re.search(r'name="pending_uploads" value="([^"]+)"', html).group(1)
    r = person.post(path_of(link) + "/messages", data={"csrf_token": csrf_from(person), "body": "补上文字",
                                                       "pending_uploads": pending})
    assert r.status_code == 302
    assert [a.original_name for a in esc_of(app, ref).attachments if a.event_id] == ["第一次.png"]


def test_a_database_outage_keeps_the_typed_text(make_app, monkeypatch):
    app = make_app()
    person, ref, link = send(app)

    def down(*_args, **_kwargs):
        raise StorageUnavailable("database is away")

    monkeypatch.setattr(tickets, "requester_message", down)
    r = post_message(person, link, "数据库停了也别丢我的字")
    html = r.get_data(as_text=True)
    assert r.status_code == 503 and "暂时无法保存" in html and textarea(html) == "数据库停了也别丢我的字"
    monkeypatch.setattr(app.extensions["hc_storage"], "get_escalation", down)  # down before the request is read
    r = post_message(person, link, "还是这段字")
    html = r.get_data(as_text=True)
    assert r.status_code == 503 and textarea(html) == "还是这段字" and ref not in html


def test_the_status_limit_is_its_own_and_leaves_the_contact_form_open(make_app):
    app = make_app(rate_limit_status="3 per minute")
    person, ref, link = send(app)
    assert [person.get(link).status_code for _ in range(3)] == [200, 200, 200]
    assert person.get(link).status_code == 429
    assert person.get("/requests/not-a-token").status_code == 429  # guessing counts against the same budget
    r = person.post("/contact", data=contact_form(person, subject="新的问题"))
    assert r.status_code == 302  # the contact form has its own limit


def test_the_token_never_reaches_the_logs(make_app, monkeypatch, caplog):
    app = make_app()
    _person, ref, link = send(app)
    token = token_of(link)
    client = app.test_client()
    caplog.set_level(logging.DEBUG)
    assert client.get(link).status_code == 200
    assert client.get(link + "x").status_code == 404

    def boom(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(tickets, "timeline", boom)
    assert client.get(link).status_code == 500
    assert "unhandled error on /requests/…" in caplog.text  # the 500 was logged, redacted
    assert token not in caplog.text and token[:40] not in caplog.text


def test_the_access_log_writes_requests_without_the_token():
    from gunicorn.config import Config

    from helpcenter.web.gunicorn_conf import RedactingLogger

    token = statuslink.make_token("secret", "HC-20260101-ABCD", "f" * 32)
    resp = SimpleNamespace(status="200 OK", response_length=10, sent=10,
                           headers=(("Content-Type", "text/html"), ("Location", f"/requests/{token}")))
    req = SimpleNamespace(headers=(("Referer", f"https://help.example.com/requests/{token}"),))
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/requests/{token}/files/a.png?x=1",
               "PATH_INFO": f"/requests/{token}/files/a.png", "QUERY_STRING": "x=1", "SERVER_PROTOCOL": "HTTP/1.1",
               "HTTP_REFERER": f"https://help.example.com/requests/{token}"}
    atoms = RedactingLogger(Config()).atoms(resp, req, environ, dt.timedelta(seconds=1))
    assert atoms["r"] == "GET /requests/…/files/a.png?x=1 HTTP/1.1"
    assert atoms["U"] == "/requests/…/files/a.png"
    assert atoms["f"] == "https://help.example.com/requests/…"
    assert not [k for k, v in atoms.items() if isinstance(v, str) and token in v]


@pytest.mark.parametrize("fields, public_url, told", [
    ({}, "https://help.example.com", True),
    ({"email": None, "phone": "13800000000"}, "https://help.example.com", False),  # no e-mail to send it to
    ({}, "", False),  # e-mails carry no link without the site's public address
])
def test_a_spooled_request_says_the_link_comes_by_email(make_app, monkeypatch, fields, public_url, told):
    app = make_app(smtp_host="127.0.0.1", public_url=public_url)

    def down(*_args, **_kwargs):
        raise StorageUnavailable("database is away")

    monkeypatch.setattr(app.extensions["hc_storage"], "add_escalation", down)
    person = app.test_client()
    r = person.post("/contact", data=contact_form(person, **fields))
    html = person.get(r.headers["Location"]).get_data(as_text=True)
    assert "已排队" in html and "/requests/" not in html
    assert ("查看处理进度的链接会随确认邮件发给您" in html) is told


def test_a_photo_past_the_whole_request_limit_still_keeps_the_text(make_app):
    # Beyond the app's MAX_CONTENT_LENGTH (2 MB here), read like the contact form's uploads: a field error, not a 413.
    app = make_app(max_upload_mb=1, max_uploads=1)
    person, _ref, link = send(app)
    r = post_message(person, link, "照片太大了", [(io.BytesIO(b"\0" * (2 * 1024 * 1024 + 500_000)), "手机照片.jpg")])
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "手机照片.jpg（2.5 MB）：超过 1 MB" in html and textarea(html) == "照片太大了"
