"""Messaging channels: the assistant inside a WeChat Official Account (公众号) and a LINE Official Account.

Both are off until configured (a 404 says nothing about them), verify the platform's signature
before anything else (403, nothing done), take each message once whichever node it reaches and
however often the platform retries it (:func:`helpcenter.support.conversations.claim_message`;
a retry gets the first answer again), and keep one conversation per channel user, found by an
HMAC of the user id (the id itself is never stored). Parsing, signatures and AES are the SDKs'
(wechatpy, line-bot-sdk), never hand-written.

WeChat waits at most 5 seconds for the passive reply to a message; a search takes milliseconds.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, Response, abort, current_app, request

from ..locales import catalog
from ..support import channel_reply, conversations
from ..support.assistant import quote
from ..support.storage import StorageUnavailable
from .assist import guess_locale, run_turn

bp = Blueprint("channels", __name__, url_prefix="/channels")
log = logging.getLogger(__name__)

WECHAT_TEXT_BYTES = 2048  # the most a passive text reply may carry
RETRY_WAIT_SECONDS = 4.0  # a retry arriving while the first is still answered waits this long for it


def fit(reply: dict[str, Any], limit: int) -> str:
    """The reply as chat text within ``limit`` bytes: an answer's passage is shortened (at a
    sentence end) before anything else, so the link and the question "解决了吗？" stay."""
    text = reply.get("text") or reply.get("message") or ""
    if len(text.encode()) <= limit:
        return text
    passage = reply.get("passage") or ""
    if passage and passage in text:
        for size in range(len(passage) - 50, 0, -50):
            shorter = text.replace(passage, quote(passage, size))
            if len(shorter.encode()) <= limit:
                return shorter
    return text.encode()[: limit - 3].decode("utf-8", "ignore") + "…"


def answer_once(channel: str, message_id: str, turn: Any) -> str | None:
    """Run ``turn()`` for a message not taken before and remember its text; for a retry, the text
    the first delivery got (waiting briefly while it is still being answered), else None."""
    storage = current_app.extensions["hc_storage"]
    if conversations.claim_message(storage, channel, message_id):
        text = turn()
        conversations.answer_message(storage, channel, message_id, text)
        return text
    deadline = time.monotonic() + RETRY_WAIT_SECONDS
    while time.monotonic() < deadline:
        done = conversations.answered(storage, channel, message_id)
        if done is not None:
            return done
        time.sleep(0.2)
    return None


def chat_turn(channel: str, user_id: str, text: str, limit: int) -> str:
    """One message from a channel user, answered as chat text (too long: said so, not cut)."""
    s = current_app.extensions["hc_settings"]
    key = conversations.user_key(current_app.secret_key, channel, user_id)  # type: ignore[arg-type]
    locale = guess_locale(text)
    if len(text) > s.assist_max_message_chars:
        _ = catalog(locale).gettext
        return _("最多 %(n)s 个字（现在 %(m)s 个），请分几次发送") % {"n": s.assist_max_message_chars, "m": len(text)}
    done = run_turn(text.strip(), channel=channel, locale=locale, user_key=key)
    return fit(done.reply, limit)


# -- WeChat --

@bp.route("/wechat", methods=["GET", "POST"])
def wechat():  # type: ignore[no-untyped-def]
    from wechatpy import create_reply, parse_message
    from wechatpy.crypto import WeChatCrypto
    from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
    from wechatpy.utils import check_signature

    s = current_app.extensions["hc_settings"]
    if not s.wechat_token:
        abort(404)
    args = request.args
    signature, timestamp, nonce = args.get("signature", ""), args.get("timestamp", ""), args.get("nonce", "")
    try:
        check_signature(s.wechat_token, signature, timestamp, nonce)
    except InvalidSignatureException:
        return Response("invalid signature", 403, mimetype="text/plain")
    if request.method == "GET":  # the URL check when the server address is saved in the console
        return Response(args.get("echostr", ""), mimetype="text/plain")
    aes = args.get("encrypt_type") == "aes"
    crypto = WeChatCrypto(s.wechat_token, s.wechat_aes_key, s.wechat_appid) if aes and s.wechat_aes_key else None
    if aes and crypto is None:
        return Response("safe mode is not configured (HELPCENTER_WECHAT_AES_KEY)", 403, mimetype="text/plain")
    body = request.get_data()
    try:
        xml = crypto.decrypt_message(body, args.get("msg_signature", ""), timestamp, nonce) if crypto else body
        msg = parse_message(xml)
    except (InvalidSignatureException, InvalidAppIdException):
        return Response("invalid signature", 403, mimetype="text/plain")
    except Exception:  # not XML, or not a message: nothing to answer
        log.warning("wechat: a signed request that is not a message")
        return Response("bad message", 400, mimetype="text/plain")

    def reply_with(text: str) -> Response:
        xml_out = create_reply(text, msg).render()
        if crypto is not None:
            xml_out = crypto.encrypt_message(xml_out, nonce, timestamp)
        return Response(xml_out, mimetype="application/xml")

    if msg.type == "event":
        if getattr(msg, "event", "") == "subscribe":  # a new follower: say what this account does
            return reply_with(_greeting(guess_locale("")))
        return Response("success", mimetype="text/plain")  # WeChat's "nothing to say"
    if msg.type != "text":
        return reply_with(_text_only(guess_locale("")))
    message_id = str(msg.id or f"{msg.source}:{msg.time}")
    try:
        text = answer_once("wechat", message_id,
                           lambda: chat_turn("wechat", msg.source, msg.content or "", WECHAT_TEXT_BYTES))
    except StorageUnavailable as exc:
        log.error("wechat: database unavailable: %s", exc)
        text = chat_turn("wechat", msg.source, msg.content or "", WECHAT_TEXT_BYTES)  # answered, not remembered
    if text is None:  # the first delivery is still being answered elsewhere: it will reply
        return Response("success", mimetype="text/plain")
    return reply_with(text)


def _greeting(locale: str) -> str:
    _ = catalog(locale).gettext
    return _("您好！请直接输入您的问题，我来帮您查找答案；需要人工客服请回复“人工”。")


def _text_only(locale: str) -> str:
    _ = catalog(locale).gettext
    return _("抱歉，我只能读文字消息。请用文字描述您的问题，或回复“人工”转人工客服。")


# -- LINE --

@bp.post("/line")
def line():  # type: ignore[no-untyped-def]
    from linebot.v3 import WebhookParser
    from linebot.v3.exceptions import InvalidSignatureError
    from linebot.v3.webhooks import FollowEvent, MessageEvent, TextMessageContent

    s = current_app.extensions["hc_settings"]
    if not s.line_channel_secret:
        abort(404)
    body = request.get_data(as_text=True)
    try:  # HMAC-SHA256 of the raw body with the channel secret, compared in constant time
        events = WebhookParser(s.line_channel_secret).parse(body, request.headers.get("X-Line-Signature", ""))
    except InvalidSignatureError:
        return Response("invalid signature", 401, mimetype="text/plain")
    except Exception:
        log.warning("line: a signed body that is not a webhook")
        return Response("bad request", 400, mimetype="text/plain")
    storage = current_app.extensions["hc_storage"]
    queued = False
    for event in events:
        token = getattr(event, "reply_token", None)
        event_id = getattr(event, "webhook_event_id", None) or token
        if not token or not event_id:
            continue
        if isinstance(event, MessageEvent) and isinstance(event.message, TextMessageContent):
            user = getattr(event.source, "user_id", None) or "anonymous"
            text_in = event.message.text

            def turn(user: str = user, text_in: str = text_in) -> str:
                return chat_turn("line", user, text_in, channel_reply.LINE_TEXT_CHARS)
        elif isinstance(event, (MessageEvent, FollowEvent)):
            greeting = isinstance(event, FollowEvent)

            def turn(greeting: bool = greeting) -> str:
                return _greeting(guess_locale("")) if greeting else _text_only(guess_locale(""))
        else:
            continue
        try:
            # Redelivered events (LINE retries when we were slow) were taken already: not answered twice.
            if conversations.claim_message(storage, "line", event_id):
                text = turn()
                conversations.answer_message(storage, "line", event_id, text)
                channel_reply.queue_line_reply(storage, event_id, token, text)
                queued = True
        except StorageUnavailable as exc:  # 500: LINE delivers the event again later
            log.error("line: database unavailable, LINE will redeliver: %s", exc)
            return Response("try again", 500, mimetype="text/plain")
    outbox = current_app.extensions.get("hc_outbox")
    if queued and outbox is not None:
        outbox.wake()  # send now rather than at the next poll
    return Response("OK", mimetype="text/plain")
