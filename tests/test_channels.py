"""WeChat and LINE channels over real HTTP on loopback, with the platforms' documented payloads:
signatures (valid and forged), safe mode, retries that must not answer twice, non-text messages,
and a hand-over that makes exactly one request."""

from __future__ import annotations

import hashlib
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import xmltodict
from sqlalchemy import func, select

from helpcenter.db import Conversation, Escalation
from helpcenter.web.live import serve_in_thread

TOKEN = "helpcenter-test-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as the console gives it
APPID = "wx0123456789abcdef"
USER = "oXyZ-openid-of-a-follower"


def signed(token: str = TOKEN, **extra: str) -> dict[str, str]:
    """The query WeChat adds to every call: sha1 of the sorted token, timestamp and nonce."""
    timestamp, nonce = str(int(time.time())), "1405412521"
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce, **extra}


def text_xml(content: str, msg_id: str, user: str = USER) -> str:
    return (f"<xml><ToUserName><![CDATA[gh_helpcenter]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def call(base: str, query: dict[str, str], body: str | bytes | None = None) -> tuple[int, str]:
    url = base + "/channels/wechat?" + urllib.parse.urlencode(query)
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                 headers={"Content-Type": "text/xml"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def reply_text(xml: str) -> str:
    return xmltodict.parse(xml)["xml"]["Content"]


@pytest.fixture
def wechat(make_app):
    app = make_app(wechat_token=TOKEN, wechat_aes_key=AES_KEY, wechat_appid=APPID)
    with serve_in_thread(app) as base:
        yield app, base


def count(app, model) -> int:
    with app.extensions["hc_storage"].session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_the_server_check_echoes_only_with_a_valid_signature(wechat):
    _app, base = wechat
    assert call(base, signed(echostr="4521337762891")) == (200, "4521337762891")
    forged = signed(echostr="4521337762891")
    forged["signature"] = "0" * 40
    assert call(base, forged)[0] == 403
    assert call(base, signed(token="someone-elses-token", echostr="x"))[0] == 403


def test_a_text_message_gets_the_answering_passage_and_link_as_a_passive_reply(wechat):
    _app, base = wechat
    status, xml = call(base, signed(), text_xml("密码想不起来了", "6054768590064713728"))
    assert status == 200
    assert f"<ToUserName><![CDATA[{USER}]]></ToUserName>" in xml  # back to the follower
    text = reply_text(xml)
    assert "忘记密码怎么重置" in text and "设置新密码" in text
    assert "/articles/account/forgot-password" in text and "解决了吗" in text
    assert len(text.encode()) <= 2048


def test_a_forged_message_is_refused_and_does_nothing(wechat):
    app, base = wechat
    forged = signed()
    forged["signature"] = hashlib.sha1(b"forged").hexdigest()
    assert call(base, forged, text_xml("人工", "1"))[0] == 403
    assert count(app, Conversation) == 0


def test_a_retried_message_is_answered_once_with_the_same_reply(wechat):
    app, base = wechat
    first = call(base, signed(), text_xml("密码想不起来了", "6054768590064713729"))
    again = call(base, signed(), text_xml("密码想不起来了", "6054768590064713729"))
    assert reply_text(first[1]) == reply_text(again[1])
    (conv,) = app.extensions["hc_storage"].session().scalars(select(Conversation)).all()
    assert conv.turns == 1 and USER not in (conv.user_key or "")


def test_non_text_messages_get_a_polite_text_reply(wechat):
    _app, base = wechat
    image = (f"<xml><ToUserName><![CDATA[gh_helpcenter]]></ToUserName><FromUserName><![CDATA[{USER}]]></FromUserName>"
             f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[image]]></MsgType>"
             "<PicUrl><![CDATA[http://127.0.0.1/pic.jpg]]></PicUrl><MediaId><![CDATA[media_id]]></MediaId>"
             "<MsgId>6054768590064713730</MsgId></xml>")
    status, xml = call(base, signed(), image)
    assert status == 200 and "文字" in reply_text(xml)


def test_a_handover_in_safe_mode_makes_exactly_one_request_even_when_retried(wechat):
    from wechatpy.crypto import WeChatCrypto

    app, base = wechat
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)

    def say(content: str, msg_id: str) -> str:
        query = signed()
        encrypted = crypto.encrypt_message(text_xml(content, msg_id), query["nonce"], query["timestamp"])
        msg_signature = xmltodict.parse(encrypted)["xml"]["MsgSignature"]
        status, xml = call(base, {**query, "encrypt_type": "aes", "msg_signature": msg_signature}, encrypted)
        assert status == 200, xml
        assert "<Encrypt>" in xml  # the reply is encrypted too
        return reply_text(crypto.decrypt_message(xml, xmltodict.parse(xml)["xml"]["MsgSignature"],
                                                 query["timestamp"], query["nonce"]))

    assert "电子邮箱或手机号" in say("转人工", "7001")
    assert "跳过" in say("me@example.com", "7002")
    created = say("物流一直查不到，已经等了五天了", "7003")
    assert say("物流一直查不到，已经等了五天了", "7003") == created  # WeChat's retry of the same MsgId
    assert "HC-" in created and count(app, Escalation) == 1
    esc = app.extensions["hc_storage"].session().scalars(select(Escalation)).one()
    assert esc.email == "me@example.com" and '"channel": "wechat"' in esc.context


def test_safe_mode_refuses_a_message_encrypted_for_another_account(wechat):
    from wechatpy.crypto import WeChatCrypto

    _app, base = wechat
    other = WeChatCrypto(TOKEN, "B" * 43, "wxotheraccount00001")
    query = signed()
    encrypted = other.encrypt_message(text_xml("你好", "8001"), query["nonce"], query["timestamp"])
    sig = xmltodict.parse(encrypted)["xml"]["MsgSignature"]
    assert call(base, {**query, "encrypt_type": "aes", "msg_signature": sig}, encrypted)[0] in (400, 403)


def test_the_channel_is_off_until_configured(client):
    assert client.get("/channels/wechat", query_string=signed(echostr="1")).status_code == 404


def test_a_traditional_chinese_follower_is_answered_in_traditional(wechat):
    _app, base = wechat
    _status, xml = call(base, signed(), text_xml("忘記密碼怎麼辦", "9001", user="hant-user"))
    assert "忘記密碼怎麼重置" in reply_text(xml) and "/zh-hant/articles/" in reply_text(xml)


# -- LINE: the webhook, and replies through the outbox to a stand-in of the Messaging API --

SECRET = "line-channel-secret-for-tests"
ACCESS = "line-access-token-for-tests"


class LineApi:
    """A stand-in for LINE's reply endpoint (POST /v2/bot/message/reply), on loopback."""

    def __init__(self) -> None:
        import http.server
        import json
        import threading

        self.replies: list[dict] = []
        self.fail_next = 0
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                ok = self.path == "/v2/bot/message/reply" and self.headers["Authorization"] == f"Bearer {ACCESS}"
                status = 500 if api.fail_next else (200 if ok else 401)
                if api.fail_next:
                    api.fail_next -= 1
                elif ok:
                    api.replies.append(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def texts(self) -> list[str]:
        return [r["messages"][0]["text"] for r in self.replies]


@pytest.fixture
def line(make_app):
    api = LineApi()
    app = make_app(line_channel_secret=SECRET, line_access_token=ACCESS, line_api_url=api.url)
    with serve_in_thread(app) as base:
        yield app, base, api
    api.server.shutdown()


def line_event(text: str | None, event_id: str, user: str = "U4af4980629", kind: str = "text",
               redelivery: bool = False) -> dict:
    event = {"type": "message", "mode": "active", "timestamp": int(time.time() * 1000),
             "source": {"type": "user", "userId": user}, "webhookEventId": event_id,
             "deliveryContext": {"isRedelivery": redelivery}, "replyToken": f"token-{event_id}"}
    if kind == "text":
        event["message"] = {"type": "text", "id": f"m{event_id}", "quoteToken": "q", "text": text}
    else:
        event["message"] = {"type": "sticker", "id": f"m{event_id}", "quoteToken": "q", "packageId": "1",
                            "stickerId": "1", "stickerResourceType": "STATIC"}
    return event


def post_line(base: str, events: list[dict], secret: str = SECRET) -> int:
    import base64
    import hmac
    import json

    body = json.dumps({"destination": "Uhelpcenter", "events": events}, ensure_ascii=False).encode()
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    req = urllib.request.Request(base + "/channels/line", data=body, method="POST",
                                 headers={"Content-Type": "application/json", "X-Line-Signature": signature})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def deliver(app) -> None:
    from helpcenter.support.delivery import Outbox

    Outbox(app.extensions["hc_storage"], app.extensions["hc_settings"], secret=app.secret_key).run_once()


def test_a_line_message_is_answered_through_the_reply_token(line):
    app, base, api = line
    assert post_line(base, [line_event("密码想不起来了", "01H810YECXQQZ37VAXPF6H9E6T")]) == 200
    deliver(app)
    (reply,) = api.replies
    assert reply["replyToken"] == "token-01H810YECXQQZ37VAXPF6H9E6T"
    assert "忘记密码怎么重置" in reply["messages"][0]["text"]


def test_a_forged_line_signature_is_refused_and_does_nothing(line):
    app, base, api = line
    assert post_line(base, [line_event("人工", "E1")], secret="not-the-channel-secret") == 401
    deliver(app)
    assert api.replies == [] and count(app, Conversation) == 0


def test_a_redelivered_event_is_not_answered_twice(line):
    app, base, api = line
    post_line(base, [line_event("密码想不起来了", "E2")])
    post_line(base, [line_event("密码想不起来了", "E2", redelivery=True)])
    deliver(app)
    assert len(api.replies) == 1
    (conv,) = app.extensions["hc_storage"].session().scalars(select(Conversation)).all()
    assert conv.turns == 1 and conv.channel == "line"


def test_a_reply_the_api_refused_for_a_while_is_sent_on_a_later_pass(line):
    app, base, api = line
    api.fail_next = 1
    post_line(base, [line_event("你好", "E3")])
    deliver(app)  # LINE answered 500: kept and retried
    assert api.replies == []
    from helpcenter.db import OutboxMessage

    with app.extensions["hc_storage"].session() as s:
        s.execute(OutboxMessage.__table__.update().values(next_attempt_at=OutboxMessage.created_at))
        s.commit()
    deliver(app)
    assert len(api.replies) == 1


def test_a_line_handover_makes_exactly_one_request_and_replies_with_its_reference(line):
    app, base, api = line
    for i, text in enumerate(["人工", "13800138000", "跳过"]):
        post_line(base, [line_event(text, f"H{i}", user="Uhandover")])
    post_line(base, [line_event("跳过", "H2", user="Uhandover", redelivery=True)])
    deliver(app)
    assert count(app, Escalation) == 1
    reference = app.extensions["hc_storage"].session().scalars(select(Escalation.reference)).one()
    assert reference in api.texts()[-1] and len(api.replies) == 3


def test_stickers_get_a_polite_text_reply(line):
    app, base, api = line
    post_line(base, [line_event(None, "S1", kind="sticker")])
    deliver(app)
    assert "文字" in api.texts()[0]


def test_line_is_off_until_configured(client):
    assert client.post("/channels/line", data=b"{}").status_code == 404
