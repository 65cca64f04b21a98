"""``POST /api/assist``: one turn with the assistant, and the glue every channel shares.

The turn logic is :mod:`helpcenter.support.assistant`; this module loads and stores the
conversation, logs each search the turn made (source ``assist``, with the channel), and hands
over through the contact form's own :func:`helpcenter.web.escalate.submit`, so a request made in
a conversation is validated, stored or spooled exactly like one typed into the form, with the
whole transcript in its context. WeChat and LINE call :func:`run_turn` with their channel.

While the database is down the assistant still answers questions (search needs no database);
the conversation is then not stored, and the reply says ``"saved": false``.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for
from flask_babel import gettext as _, refresh
from werkzeug.datastructures import MultiDict

from ..engine.snippets import make_snippet
from ..engine.text import char_ngrams, normalise
from ..support import conversations
from ..support.assistant import Assistant, Created, Handoff, HandoffRefused
from ..support.storage import StorageUnavailable
from . import tracking
from .api import api_limit, _invalid, _json_object
from .errors import Coded, error_response
from .escalate import OTHER_CATEGORY, EscalationForm, Queued, status_link, submit
from .i18n import current_locale, locales

bp = Blueprint("assist", __name__, url_prefix="/api")
log = logging.getLogger(__name__)
VISIT_PREFIX = "cv:"  # a conversation's searches are one visit: "cv:<conversation id>"


@dataclass
class Answered:
    conversation_id: str
    reply: dict[str, Any]
    saved: bool
    restarted: bool


def guess_locale(text: str) -> str:
    """A messaging user's locale, from how they write (the platforms do not say): Traditional
    characters read as zh-Hant, Latin letters without Chinese as English, else the default."""
    import re

    from ..engine.text import to_simplified

    served = locales()
    han = re.findall(r"[\u4e00-\u9fff]", text)
    if han and to_simplified("".join(han)) != "".join(han):
        return served.match("zh-Hant") or served.default
    if not han and re.search(r"[A-Za-z]{2,}", text):
        return served.match("en") or served.default
    return served.default


def _link(article_id: str, anchor: str, locale: str) -> str:
    """The article's page in the conversation's locale, absolute (chat apps need a whole URL)."""
    base = (current_app.extensions["hc_settings"].public_url or request.host_url).rstrip("/")
    path = locales().prefix(locale) + f"/articles/{article_id}"
    return base + path + (f"#{anchor}" if anchor else "")


def _highlight(passage: str, question: str) -> str:
    """The passage, escaped, with the question's words marked (as the search page marks them)."""
    return make_snippet(passage, char_ngrams(question), width=len(passage) + 1)[1]


def _creator(conv: conversations.Loaded, message: str, handed: dict[str, Any]) -> Any:
    """Make the request through the form's validation, with the transcript as its context."""

    def create(handoff: Handoff, locale: str) -> Created:
        state = handed["state"]
        articles = current_app.extensions["hc_searcher"].index().articles
        offered = [a for a in state.get("offered", []) if a in articles]
        category = articles[offered[-1]]["category"] if offered else OTHER_CATEGORY[0]
        form = EscalationForm(formdata=MultiDict({
            "subject": handoff.subject, "description": handoff.description, "category": category,
            "email": handoff.email or "", "phone": handoff.phone or ""}), meta={"csrf": False})
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        visit = {"visit": VISIT_PREFIX + conv.id, "query": handoff.question, "shown": offered, "read": [],
                 "unhelpful": offered if not state.get("resolved") else [],
                 "channel": conv.channel, "conversation": conv.id,
                 "transcript": conv.transcript + [{"role": "user", "text": message, "at": now}]}
        outcome = submit(form, [], visit)
        if outcome.outage:
            raise HandoffRefused(_("暂时无法保存您的求助，请稍后再发一次。"), outage=True)
        if outcome.esc is None:
            first = next(iter(outcome.errors.values()))[0]
            raise HandoffRefused(str(first) + " " + _("请重新留下电子邮箱或手机号。"))
        handed["contact"] = {"email": handoff.email, "phone": handoff.phone}
        queued = isinstance(outcome.esc, Queued)
        return Created(outcome.esc.reference, None if queued else status_link(outcome.esc.reference), queued)

    return create


def run_turn(message: str, *, channel: str, locale: str, conversation_id: str | None = None,
             user_key: str | None = None) -> Answered:
    """One turn on any channel: load (or start) the conversation, answer, log, store."""
    s = current_app.extensions["hc_settings"]
    storage = current_app.extensions["hc_storage"]
    try:
        conv = conversations.load(storage, conversation_id, channel=channel, locale=locale,
                                  max_turns=s.assist_max_turns,
                                  max_age=dt.timedelta(hours=s.assist_max_age_hours), key=user_key)
        stored = True
    except StorageUnavailable as exc:
        log.error("assistant: database unavailable, answering without the conversation: %s", exc)
        conv = conversations.Loaded(conversation_id or conversations.new_id(), channel, locale, None,
                                    user_key=user_key)
        stored = False
    searcher = current_app.extensions["hc_searcher"]
    handed: dict[str, Any] = {"state": conv.state or {}}
    assistant = Assistant(searcher.search, _link, _creator(conv, message, handed),
                          clarify_margin=s.assist_clarify_margin, clarify_floor=s.assist_clarify_floor,
                          result_cut=s.result_cut, normalise=normalise, highlight=_highlight)
    g.locale = conv.locale  # the request made at a hand-over, and every message, speak the conversation's
    refresh()  # Flask-Babel may have settled on the request's locale already
    turn = assistant.turn(conv.state, message, conv.locale)
    for response in turn.searches:
        try:
            tracking.logger().log_search(VISIT_PREFIX + conv.id, "assist", response, conv.locale, channel)
        except Exception:  # analytics must never cost an answer
            log.exception("assistant: logging a search failed")
    if turn.reply["kind"] == "handoff" and turn.reply.get("step") in ("contact", "description"):
        turn.reply["contact_url"] = url_for("escalate.contact")  # the form works even when this does not
    now = dt.datetime.now(dt.timezone.utc)
    entries = [{"role": "user", "text": message, "at": now.isoformat(timespec="seconds")},
               {"role": "assistant", "kind": turn.reply["kind"], "text": turn.reply.get("text", ""),
                "article": (turn.reply.get("article") or {}).get("id"), "at": now.isoformat(timespec="seconds")}]
    contact = handed.get("contact") or turn.state.get("contact") or None
    if stored:
        try:
            conversations.save(storage, conv, turn.state, entries, max_entries=s.assist_transcript_entries,
                               contact=contact, now=now)
        except StorageUnavailable as exc:
            log.error("assistant: the conversation %s could not be stored: %s", conv.id, exc)
            stored = False
    return Answered(conv.id, turn.reply, stored, conv.restarted)


@bp.post("/assist")
@api_limit
def assist():  # type: ignore[no-untyped-def]
    data = _json_object()
    if isinstance(data, Response):
        return data
    s = current_app.extensions["hc_settings"]
    message, conv_id, channel = data.get("message"), data.get("conversation_id"), data.get("channel", "api")
    fields: dict[str, list[Any]] = {}
    if not isinstance(message, str) or not message.strip():
        fields["message"] = [Coded("required", _("请输入要问的问题（message）"))]
    elif len(message) > s.assist_max_message_chars:
        fields["message"] = [Coded("too_long", _("最多 %(n)s 个字（现在 %(m)s 个），请分几次发送",
                                                 n=s.assist_max_message_chars, m=len(message)))]
    if conv_id is not None and not (isinstance(conv_id, str) and conversations.ID_RE.fullmatch(conv_id)):
        fields["conversation_id"] = [Coded("invalid", _("conversation_id 不正确：请使用上一次回复给出的值"))]
    if channel not in ("api", "widget"):
        fields["channel"] = [Coded("invalid_choice", _("channel 只能是 api 或 widget"))]
    locale = data.get("locale")
    if locale is not None and not (isinstance(locale, str) and locales().match(locale)):
        fields["locale"] = [Coded("invalid_choice", _("不支持的语言：%(locale)s", locale=str(locale)[:20]))]
    unknown = set(data) - {"message", "conversation_id", "channel", "locale", "csrf_token"}
    for name in sorted(unknown):
        fields[name] = [Coded("unknown_field", _("未知字段 %(name)s", name=name))]
    if fields:
        return _invalid(fields)
    tag = locales().match(locale) if locale else current_locale()
    try:
        done = run_turn(message.strip(), channel=channel, locale=tag, conversation_id=conv_id)
    except conversations.Conflict:
        return error_response(409, _("同一个对话的上一条消息还在处理，请稍后再发。"), code="conversation_busy")
    return jsonify({"conversation_id": done.conversation_id, "reply": done.reply, "saved": done.saved,
                    "restarted": done.restarted, "locale": tag})
