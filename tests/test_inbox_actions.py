"""The forms on a request's page (helpcenter.web.inbox_actions) and the inbox's search and
assignee filter (helpcenter.web.inbox), used the way an agent uses them: through the page."""

from __future__ import annotations

import html as htmllib
import re

import pytest

from helpcenter.engine.index import IndexMissing
from helpcenter.support import staff as accounts
from helpcenter.support import tickets
from helpcenter.support.storage import NewAttachment, StorageUnavailable

from .conftest import csrf_from
from .databases import database_url  # noqa: F401  (fixture)
from .test_inbox_web import PASSWORD, refs_on, sign_in, submit

ACTIONS = ("reply", "note", "assign", "status", "solve")


@pytest.fixture
def db_app(make_app, database_url):  # noqa: F811
    """The site on SQLite and on PostgreSQL."""
    return make_app(database_url=database_url)


def page(client, ref: str, **args) -> str:
    r = client.get(f"/admin/inbox/{ref}", query_string=args)
    assert r.status_code == 200, r.status_code
    return r.get_data(as_text=True)


def form_of(html: str, ref: str, action: str) -> str:
    """The page's form for ``action``, so a test posts only to a form the page really has."""
    m = re.search(rf'<form method="post" action="/admin/inbox/{ref}/{action}".*?</form>', html, re.S)
    assert m, f"no {action} form on the page"
    return m.group(0)


def post(client, ref: str, action: str, **data):
    """Fill in the page's form (with its CSRF token) and send it."""
    form = form_of(page(client, ref), ref, action)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    return client.post(f"/admin/inbox/{ref}/{action}", data={"csrf_token": token, **data})


def text(html: str) -> str:
    return htmllib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def timeline_of(html: str) -> str:
    return html[html.index('id="tl-title"'):html.index('id="act-title"')]


def esc_of(app, ref: str):
    return app.extensions["hc_storage"].get_escalation(ref)


def events(app, ref: str, public_only: bool = False):
    storage = app.extensions["hc_storage"]
    return tickets.timeline(storage, esc_of(app, ref).id, public_only=public_only)


def add_agent(app, email: str, role: str = "agent"):
    return accounts.add_staff(app.extensions["hc_storage"], email, role, PASSWORD)


class Waker:
    def __init__(self) -> None:
        self.woken = 0

    def wake(self) -> None:
        self.woken += 1


# --- reply ---------------------------------------------------------------------------


def test_a_reply_waits_for_the_requester_or_leaves_it_open_and_is_on_the_timeline(db_app):
    ref = submit(db_app, subject="收不到验证码")
    agent = sign_in(db_app)
    form = form_of(page(agent, ref), ref, "reply")
    assert re.search(r'name="wait" value="1"\s+checked', form)  # waiting for the requester by default
    assert "只显示在求助人的状态页" in text(form)  # no SMTP here: not e-mailed

    r = post(agent, ref, "reply", body="请在登录页点“找回密码”。", wait="1")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/admin/inbox/{ref}")
    html = agent.get(r.headers["Location"]).get_data(as_text=True)
    assert "已回复" in text(html)  # the notice after the redirect
    assert esc_of(db_app, ref).status == "pending"
    tl = text(timeline_of(html))
    assert "回复了求助人" in tl and "请在登录页点“找回密码”。" in tl and "未发邮件" in tl
    assert "从“新建”改为“等待回复”" in tl
    assert db_app.extensions["hc_storage"].outbox_messages(ref) == []

    post(agent, ref, "reply", body="还需要您的手机号。")  # the box unticked
    assert esc_of(db_app, ref).status == "open"
    assert "从“等待回复”改为“处理中”" in text(timeline_of(page(agent, ref)))


def test_a_reply_with_smtp_queues_its_email_and_wakes_the_outbox(make_app, database_url):  # noqa: F811
    app = make_app(database_url=database_url, smtp_host="127.0.0.1")
    waker = app.extensions["hc_outbox"] = Waker()
    ref = submit(app)
    agent = sign_in(app)
    assert "会发邮件到 user@example.com" in text(form_of(page(agent, ref), ref, "reply"))
    woken = waker.woken  # the request's own confirmation woke it already
    r = post(agent, ref, "reply", body="已为您重置，请查收短信。", wait="1")
    assert r.status_code == 302
    [reply] = [ev for ev in events(app, ref) if ev.kind == "reply"]
    channels = [m.channel for m in app.extensions["hc_storage"].outbox_messages(ref)]
    assert f"{tickets.REPLY_CHANNEL}{reply.id}" in channels
    assert waker.woken == woken + 1
    html = agent.get(r.headers["Location"]).get_data(as_text=True)
    assert "邮件已排队发送" in text(html)
    assert "邮件： 等待发送" in text(timeline_of(html))


def test_a_failed_reply_email_is_shown_as_an_alert_beside_the_reply(make_app):
    app = make_app(smtp_host="127.0.0.1")
    ref = submit(app)
    agent = sign_in(app)
    post(agent, ref, "reply", body="这是给您的答复。", wait="1")
    storage = app.extensions["hc_storage"]
    claimed = storage.claim_outbox("test-worker")
    [msg] = [m for m in claimed if m.channel.startswith(tickets.REPLY_CHANNEL)]
    storage.mark_failed(msg.id, "test-worker", "550 mailbox unavailable", None)  # gave up
    html = page(agent, ref)
    assert "有 1 条回复邮件发送失败" in text(html)  # at the top of the page
    reply = timeline_of(html)[timeline_of(html).index("这是给您的答复。"):]
    alert = re.search(r'<div class="error" role="alert">(.*?)</div>', reply, re.S)
    assert alert and "回复邮件发送失败" in alert.group(1) and "550 mailbox unavailable" in alert.group(1)
    assert "发送失败" in text(reply[:reply.index("</li>")])


def test_a_refused_reply_keeps_the_text_and_says_why(make_app):
    app = make_app()
    ref = submit(app)
    agent = sign_in(app)
    post(agent, ref, "status", status="closed")
    r = post(agent, ref, "reply", body="我写了很久的一段回复")
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    form = form_of(html, ref, "reply")
    assert "我写了很久的一段回复</textarea>" in form and "已关闭" in text(form)
    assert not re.search(r'name="wait" value="1"\s+checked', form)  # as it was sent: unticked
    assert [ev.kind for ev in events(app, ref)].count("reply") == 0

    r = post(agent, ref, "reply", body="   ")
    assert r.status_code == 400 and "回复不能为空" in text(form_of(r.get_data(as_text=True), ref, "reply"))


def test_a_database_outage_gives_503_and_keeps_the_typed_text(make_app, monkeypatch):
    app = make_app()
    ref = submit(app)
    agent = sign_in(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page(agent, ref)).group(1)

    def down(*args, **kwargs):
        raise StorageUnavailable("connection refused")

    monkeypatch.setattr(tickets, "add_note", down)
    r = agent.post(f"/admin/inbox/{ref}/note", data={"csrf_token": token, "body": "用户说换了手机号"})
    assert r.status_code == 503
    assert "用户说换了手机号</textarea>" in form_of(r.get_data(as_text=True), ref, "note")
    assert "没有保存" in text(r.get_data(as_text=True))

    from helpcenter.support import inbox as support_inbox
    monkeypatch.setattr(support_inbox, "get_request", down)  # the page itself cannot be read either
    monkeypatch.setattr(tickets, "reply", down)
    r = agent.post(f"/admin/inbox/{ref}/reply", data={"csrf_token": token, "body": "稍后再发的回复"})
    assert r.status_code == 503
    assert "稍后再发的回复</textarea>" in r.get_data(as_text=True) and "数据库不可用" in text(r.get_data(as_text=True))


# --- note, assign, status -------------------------------------------------------------


def test_an_internal_note_is_marked_internal_and_not_public(db_app):
    ref = submit(db_app)
    agent = sign_in(db_app)
    assert "求助人看不到" in text(form_of(page(agent, ref), ref, "note"))
    r = post(agent, ref, "note", body="电话里说是换了手机号")
    assert r.status_code == 302
    tl = timeline_of(page(agent, ref))
    note = tl[tl.index("内部备注"):]
    assert "电话里说是换了手机号" in note[:400]
    assert not any(ev.kind == "note" for ev in events(db_app, ref, public_only=True))
    assert esc_of(db_app, ref).status == "open"  # somebody has looked at it


def test_assign_offers_active_agents_and_admins_and_assigns_to_me(db_app):
    mine = submit(db_app, subject="我来处理的")
    theirs = submit(db_app, subject="给同事的")
    nobody = submit(db_app, subject="还没人管的")
    colleague = add_agent(db_app, "colleague@example.com")
    add_agent(db_app, "boss@example.com", "admin")
    add_agent(db_app, "writer@example.com", "writer")
    add_agent(db_app, "gone@example.com")
    accounts.disable_staff(db_app.extensions["hc_storage"], "gone@example.com")
    agent = sign_in(db_app)

    form = form_of(page(agent, mine), mine, "assign")
    options = re.findall(r"<option value=\"(\d*)\"[^>]*>([^<]+)</option>", form)
    names = {name.replace("（我）", "") for _v, name in options}
    assert names == {"不分配", "agent@example.com", "boss@example.com", "colleague@example.com"}
    assert re.search(r'<option value=""\s+selected|<option value="">不分配', form)

    r = post(agent, mine, "assign", to="me")
    assert r.status_code == 302 and "已分配给我" in text(agent.get(r.headers["Location"]).get_data(as_text=True))
    html = page(agent, mine)
    assert re.search(r'<option value="\d+" selected>agent@example.com（我）', html)
    assert "分配给 agent@example.com" in text(timeline_of(html))
    assert post(agent, theirs, "assign", assignee=str(colleague.id)).status_code == 302

    listing = agent.get("/admin/inbox").get_data(as_text=True)
    row = listing[listing.index("给同事的"):]
    assert "负责人 colleague@example.com" in text(row[:row.index("</li>")])
    assert refs_on(agent.get("/admin/inbox?assignee=me").get_data(as_text=True)) == {mine}
    unassigned = agent.get("/admin/inbox?assignee=none").get_data(as_text=True)
    assert refs_on(unassigned) == {nobody}
    assert re.search(r"新建\s*<strong>1</strong>", unassigned) and re.search(r"处理中\s*<strong>0</strong>", unassigned)

    assert post(agent, mine, "assign", assignee="").status_code == 302
    assert "取消了分配" in text(timeline_of(page(agent, mine)))
    r = post(agent, mine, "assign", assignee=str(accounts.find_staff(db_app.extensions["hc_storage"],
                                                                      "writer@example.com").id))
    assert r.status_code == 400 and "只能分配给在职的客服或管理员" in text(r.get_data(as_text=True))
    assert esc_of(db_app, mine).assignee_id is None


def test_the_status_form_moves_it_and_refuses_solved(db_app):
    ref = submit(db_app)
    agent = sign_in(db_app)
    r = post(agent, ref, "status", status="closed")
    assert r.status_code == 302 and esc_of(db_app, ref).status == "closed"
    assert "从“新建”改为“已关闭”" in text(timeline_of(page(agent, ref)))
    r = post(agent, ref, "status", status="solved")  # solving needs a resolution: the solve form
    assert r.status_code == 400
    assert "标记解决请填写解决方式" in text(form_of(r.get_data(as_text=True), ref, "status"))
    assert esc_of(db_app, ref).status == "closed"


# --- solve ---------------------------------------------------------------------------


def radios(html: str, ref: str) -> list[str]:
    return re.findall(r'name="article" value="([^"]*)"', form_of(html, ref, "solve"))


def test_solve_with_an_article_found_through_the_inbox_search(db_app):
    ref = submit(db_app, search="忘记密码")  # the visit was shown the password article
    agent = sign_in(db_app)
    before = radios(page(agent, ref), ref)
    assert "account/forgot-password" in before and before[-1] == ""  # the visit's articles, then "none"

    found = page(agent, ref, article_q="订单物流不更新")
    assert radios(found, ref)[0] == "orders/track-order"  # our own index answers the agent's search
    assert 'name="article_q" value="订单物流不更新"' in form_of(found, ref, "solve")
    r = post(agent, ref, "solve", article="orders/track-order", article_q="订单物流不更新")
    assert r.status_code == 302
    esc = esc_of(db_app, ref)
    assert esc.status == "solved" and esc.resolution == "article" and esc.resolution_article == "orders/track-order"
    tl = timeline_of(page(agent, ref))
    assert "标记为已解决" in text(tl) and '<a href="/articles/orders/track-order">订单无法追踪怎么办</a>' in tl


def test_solve_without_a_resolution_is_refused_and_keeps_what_was_typed(db_app):
    ref = submit(db_app)
    agent = sign_in(db_app)
    r = post(agent, ref, "solve", article="", note="")
    assert r.status_code == 400 and "请选择解答了这个问题的文章" in text(form_of(r.get_data(as_text=True), ref, "solve"))
    r = post(agent, ref, "solve", article="account/forgot-password", note="缺少换绑手机号的说明")
    form = form_of(r.get_data(as_text=True), ref, "solve")
    assert r.status_code == 400 and "缺少换绑手机号的说明</textarea>" in form
    r = post(agent, ref, "solve", article="account/no-such-article")
    assert r.status_code == 400 and "已发布的文章里没有 account/no-such-article" in text(r.get_data(as_text=True))
    assert esc_of(db_app, ref).status == "new"

    r = post(agent, ref, "solve", article="", note="缺少换绑手机号的说明")  # 没有文章涵盖这个问题
    assert r.status_code == 302
    esc = esc_of(db_app, ref)
    assert esc.status == "solved" and esc.resolution == "no_article" and esc.resolution_note == "缺少换绑手机号的说明"
    assert "没有文章涵盖这个问题 缺少：缺少换绑手机号的说明" in text(timeline_of(page(agent, ref)))


def test_solve_while_the_index_is_unavailable_is_accepted_and_says_so(make_app, monkeypatch):
    app = make_app()
    ref = submit(app, search="忘记密码")
    agent = sign_in(app)
    form = form_of(page(agent, ref), ref, "solve")

    def missing():
        raise IndexMissing("no current build")

    monkeypatch.setattr(app.extensions["hc_searcher"], "index", missing)
    assert "文章索引暂时不可用" in text(page(agent, ref, article_q="密码"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    r = agent.post(f"/admin/inbox/{ref}/solve", data={"csrf_token": token, "article": "account/forgot-password"})
    assert r.status_code == 302
    assert "未能核对文章 account/forgot-password" in text(agent.get(r.headers["Location"]).get_data(as_text=True))
    assert esc_of(app, ref).resolution_article == "account/forgot-password"


# --- who may act -----------------------------------------------------------------------


def fields_for(action: str) -> dict[str, str]:
    return {"reply": {"body": "不该发出的回复", "wait": "1"}, "note": {"body": "不该留下的备注"},
            "assign": {"assignee": "", "to": "me"}, "status": {"status": "closed"},
            "solve": {"article": "account/forgot-password"}}[action]


def test_a_writer_gets_403_for_every_action_and_nothing_changes(make_app):
    app = make_app(smtp_host="127.0.0.1")
    ref = submit(app)
    before = [ev.kind for ev in events(app, ref)], len(app.extensions["hc_storage"].outbox_messages(ref))
    writer = sign_in(app, "writer")
    token = csrf_from(writer)
    admin = sign_in(app, "admin")
    assert admin.get(f"/admin/inbox/{ref}").status_code == 200  # admins pass
    for action in ACTIONS:
        r = writer.post(f"/admin/inbox/{ref}/{action}", data={"csrf_token": token, **fields_for(action)})
        assert r.status_code == 403, action
    esc = esc_of(app, ref)
    assert esc.status == "new" and esc.assignee_id is None and esc.resolution is None
    assert ([ev.kind for ev in events(app, ref)], len(app.extensions["hc_storage"].outbox_messages(ref))) == before
    assert post(admin, ref, "note", body="管理员也能处理").status_code == 302


def test_an_action_without_its_csrf_token_gets_400_and_nothing_changes(make_app):
    app = make_app()
    ref = submit(app)
    agent = sign_in(app)
    for action in ACTIONS:
        r = agent.post(f"/admin/inbox/{ref}/{action}", data=fields_for(action))
        assert r.status_code == 400, action
        assert "CSRF" in r.get_data(as_text=True)
    esc = esc_of(app, ref)
    assert esc.status == "new" and esc.assignee_id is None and events(app, ref) == []


def test_a_signed_out_visitor_cannot_act(make_app):
    app = make_app()
    ref = submit(app)
    stranger = app.test_client()
    r = stranger.post(f"/admin/inbox/{ref}/note", data={"csrf_token": csrf_from(stranger), "body": "x"})
    assert r.status_code in (302, 403) and events(app, ref) == []


# --- timeline ------------------------------------------------------------------------


def test_the_timeline_is_in_order_with_messages_and_their_screenshots(make_app):
    app = make_app(webhook_url="http://127.0.0.1:9/hook")
    ref = submit(app, screenshot=True)
    agent = sign_in(app)
    post(agent, ref, "reply", body="第一次回复", wait="1")
    tickets.requester_message(app.extensions["hc_storage"], ref, "补一张报错截图",
                              [NewAttachment("later123.png", "报错弹窗.png", "image/png", 2048)])
    post(agent, ref, "note", body="看截图是旧版本")
    html = page(agent, ref)
    tl = text(timeline_of(html))
    order = ["收到求助", "Webhook", "第一次回复", "从“新建”改为“等待回复”", "求助人补充说明", "补一张报错截图",
             "报错弹窗.png", "从“等待回复”改为“处理中”", "内部备注", "看截图是旧版本"]
    positions = [tl.index(s) for s in order]
    assert positions == sorted(positions), tl
    shots = html[html.index('id="shots-title"'):html.index('id="tl-title"')]
    assert "登录页 截图.png" in shots and "报错弹窗.png" not in shots  # the original ones only


# --- the list: search ----------------------------------------------------------------


def test_the_search_box_finds_chinese_words_in_either_script(db_app):
    pw = submit(db_app, subject="登录不了", description="我忘记了密码，短信验证码也收不到。", category="account")
    refund = submit(db_app, subject="钱还没到", description="上周申请的退款一直没有到账。", category="orders")
    agent = sign_in(db_app)

    def found(**args) -> set[str]:
        return refs_on(agent.get("/admin/inbox", query_string=args).get_data(as_text=True))

    assert found(q="密码忘了") == {pw}
    assert found(q="忘記密碼") == {pw}  # 繁體
    assert found(q="退款") == {refund}
    assert found(q="注销账号") == set()
    assert found(q=pw.lower()) == {pw}  # a reference typed whole
    assert found(q="退款", category="account") == set()  # with the other filters
    assert found(q="密码忘了", status="new", assignee="none") == {pw}
    html = agent.get("/admin/inbox", query_string={"q": "密码忘了"}).get_data(as_text=True)
    assert re.search(r"全部\s*<strong>1</strong>", html)  # counts follow the search
    assert 'value="密码忘了"' in html  # the box keeps what was typed
    assert "q=%E5%AF%86" in html  # and the status links carry it
