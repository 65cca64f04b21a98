"""Replies to messaging channels, sent by the outbox worker (helpcenter.support.delivery) like
e-mails: retried with backoff, kept and visible when they fail for good.

LINE: the reply endpoint of the Messaging API, through the official SDK (line-bot-sdk), at
``line_api_url`` (LINE's own by default; a stand-in server on loopback in tests). A reply token
is valid for a short while only, so a 4xx answer (an expired or used token, a bad request) is
final; a 5xx or a network error is tried again.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from ..config import Settings
from ..db import OutboxMessage
from .storage import Storage, StorageUnavailable

LINE_PREFIX = "line:"  # + the webhook event id
LINE_TEXT_CHARS = 5000  # the most one LINE text message may carry


class PermanentReplyFailure(Exception):
    """Trying again cannot help (the outbox gives up at once)."""


def queue_line_reply(storage: Storage, event_id: str, reply_token: str, text: str) -> None:
    """Queue the reply to one LINE event (``line:<event id>``) for the outbox worker, which sends
    and retries it like an e-mail. The row belongs to no request; its text goes once it is sent."""
    payload = json.dumps({"replyToken": reply_token, "text": text[:LINE_TEXT_CHARS]}, ensure_ascii=False)
    storage.ensure_schema()
    try:
        with storage.session() as s, s.begin():
            s.add(OutboxMessage(escalation_id=None, reference="", channel=(LINE_PREFIX + event_id)[:32],
                                payload=payload))
    except SQLAlchemyError as exc:
        raise StorageUnavailable(str(exc)) from exc


def send(settings: Settings, channel: str, payload: str | None) -> None:
    if not channel.startswith(LINE_PREFIX):
        raise PermanentReplyFailure(f"unknown channel {channel!r}")
    if not settings.line_access_token:
        raise RuntimeError("line_access_token is not set")
    data: dict[str, Any] = json.loads(payload or "{}")
    from linebot.v3.messaging import ApiClient, Configuration, MessagingApi, ReplyMessageRequest, TextMessage
    from linebot.v3.messaging.exceptions import ApiException

    config = Configuration(host=settings.line_api_url.rstrip("/"), access_token=settings.line_access_token)
    try:
        with ApiClient(config) as client:
            MessagingApi(client).reply_message(ReplyMessageRequest(
                reply_token=data["replyToken"], messages=[TextMessage(text=data["text"])]))
    except ApiException as exc:
        if exc.status and 400 <= exc.status < 500 and exc.status != 429:
            raise PermanentReplyFailure(f"LINE refused the reply ({exc.status}): {exc.body}") from exc
        raise
