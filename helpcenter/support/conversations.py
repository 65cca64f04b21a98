"""The assistant's conversations in the database: any node takes the next turn.

A turn reads the conversation, answers (:mod:`helpcenter.support.assistant`) and writes it back
only if nobody else wrote a turn meanwhile (``turns`` is the version): no row lock is held while
the searcher works, which SQLite could not upgrade to a write after a hand-over's own commit.
A conversation is bounded: at most ``max_turns`` turns and ``max_age`` since it began; past
either, the next message starts a new one (the client is told, with the new id). Messaging
channels find their user's open conversation by ``user_key``, the HMAC of the channel's user id
(the id itself is never stored).

Personal data: the transcript holds what the person typed. Export and deletion find a person's
conversations by the contact given at a hand-over or by their requests' references; retention
deletes conversations older than its days, whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any, Iterable

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..db import ChannelMessage, Conversation, as_utc, utcnow
from .storage import Storage, StorageUnavailable

ID_RE = re.compile(r"[A-Za-z0-9_-]{16,32}")
CHANNELS = ("api", "widget", "wechat", "line")


class Conflict(Exception):
    """Another turn of the same conversation was stored first (two messages sent at once)."""


@dataclass
class Loaded:
    """One conversation as a turn sees it. ``version`` is the stored turn count (None: new, not
    stored yet); ``restarted``: the conversation asked for had ended (too old or too long)."""
    id: str
    channel: str
    locale: str
    state: dict[str, Any] | None
    transcript: list[dict[str, Any]] = field(default_factory=list)
    version: int | None = None
    restarted: bool = False
    user_key: str | None = None


def user_key(secret: str | bytes, channel: str, user_id: str) -> str:
    """What is stored for a channel's user id: an HMAC with the site's secret key."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"{channel}:{user_id}".encode(), hashlib.sha256).hexdigest()


def new_id() -> str:
    return secrets.token_urlsafe(16)  # 22 characters


def load(storage: Storage, conversation_id: str | None, *, channel: str, locale: str, max_turns: int,
         max_age: dt.timedelta, key: str | None = None, now: dt.datetime | None = None) -> Loaded:
    """The conversation to continue: by id (the web clients) or by ``key`` (messaging channels),
    if it is still open; else a new one."""
    now = now or utcnow()
    try:
        storage.ensure_schema()
        with storage.session() as s:
            if conversation_id:
                row = s.get(Conversation, conversation_id)
                if row is not None and row.channel != channel:
                    row = None  # an id from another channel is not this client's
            elif key:
                row = s.scalar(select(Conversation).where(Conversation.user_key == key, Conversation.channel == channel)
                               .order_by(Conversation.created_at.desc()).limit(1))
            else:
                row = None
            if row is not None and (row.turns >= max_turns or now - as_utc(row.created_at) > max_age):
                return Loaded(new_id(), channel, locale, None, restarted=True, user_key=key)
            if row is None:
                return Loaded(new_id(), channel, locale, None, restarted=bool(conversation_id), user_key=key)
            return Loaded(row.id, channel, row.locale or locale, json.loads(row.state or "{}"),
                          json.loads(row.transcript or "[]"), row.turns, user_key=key)
    except SQLAlchemyError as exc:
        raise StorageUnavailable(str(exc)) from exc


def save(storage: Storage, conv: Loaded, state: dict[str, Any], entries: Iterable[dict[str, Any]], *,
         max_entries: int, contact: dict[str, str | None] | None = None, now: dt.datetime | None = None) -> None:
    """Store the turn: the new state and the transcript with ``entries`` appended (the oldest
    dropped past ``max_entries``). Raises :class:`Conflict` if another turn was stored first."""
    now = now or utcnow()
    transcript = (conv.transcript + list(entries))[-max_entries:]
    values: dict[str, Any] = {
        "state": json.dumps(state, ensure_ascii=False), "transcript": json.dumps(transcript, ensure_ascii=False),
        "updated_at": now, "turns": (conv.version or 0) + 1, "locale": conv.locale,
        "resolved": bool(state.get("resolved")), "handed_over": bool(state.get("handed_over")),
        "reference": state.get("reference")}
    if contact:
        values.update({k: v for k, v in contact.items() if v})
    try:
        with storage.session() as s, s.begin():
            if conv.version is None:
                s.add(Conversation(id=conv.id, channel=conv.channel, user_key=conv.user_key, created_at=now,
                                   **values))
            else:
                done = s.execute(update(Conversation).where(Conversation.id == conv.id,
                                                            Conversation.turns == conv.version)
                                 .values(**values).execution_options(synchronize_session=False))
                if done.rowcount != 1:
                    raise Conflict(conv.id)
    except SQLAlchemyError as exc:
        raise StorageUnavailable(str(exc)) from exc
    conv.transcript, conv.version = transcript, values["turns"]


# -- messages from messaging platforms, answered once --

MESSAGE_DAYS = 2  # platforms retry within minutes; older claims are cleared as new ones arrive


def claim_message(storage: Storage, channel: str, message_id: str, now: dt.datetime | None = None) -> bool:
    """True if this node is the first to take the message; False for a retry or a replay (the
    unique constraint decides, across nodes)."""
    now = now or utcnow()
    try:
        with storage.session() as s, s.begin():
            s.execute(delete(ChannelMessage).where(ChannelMessage.created_at < now - dt.timedelta(days=MESSAGE_DAYS))
                      .execution_options(synchronize_session=False))
        with storage.session() as s, s.begin():
            s.add(ChannelMessage(channel=channel, message_id=message_id[:64], created_at=now))
        return True
    except IntegrityError:
        return False
    except SQLAlchemyError as exc:
        raise StorageUnavailable(str(exc)) from exc


def answer_message(storage: Storage, channel: str, message_id: str, reply: str) -> None:
    """Remember what the message was answered, for the platform's retries."""
    try:
        with storage.session() as s, s.begin():
            s.execute(update(ChannelMessage).where(ChannelMessage.channel == channel,
                                                   ChannelMessage.message_id == message_id[:64])
                      .values(reply=reply).execution_options(synchronize_session=False))
    except SQLAlchemyError as exc:
        raise StorageUnavailable(str(exc)) from exc


def answered(storage: Storage, channel: str, message_id: str) -> str | None:
    try:
        with storage.session() as s:
            return s.scalar(select(ChannelMessage.reply).where(ChannelMessage.channel == channel,
                                                               ChannelMessage.message_id == message_id[:64]))
    except SQLAlchemyError as exc:
        raise StorageUnavailable(str(exc)) from exc


# -- personal data (helpcenter.support.privacy) --

def _person(emails: list[str], phones: list[str], references: list[str]) -> Any:
    clauses = []
    if emails:
        clauses.append(Conversation.email.in_(emails))
    if phones:
        clauses.append(Conversation.phone.in_(phones))
    if references:
        clauses.append(Conversation.reference.in_(references))
    return or_(*clauses) if clauses else None


def of_person(s: Any, emails: list[str], phones: list[str], references: list[str]) -> list[dict[str, Any]]:
    """A person's conversations, for their export: by the contact they gave, or their requests."""
    where = _person(emails, phones, references)
    if where is None:
        return []
    return [c.as_json() for c in s.scalars(select(Conversation).where(where).order_by(Conversation.created_at))]


def delete_of_person(s: Any, emails: list[str], phones: list[str], references: list[str]) -> int:
    where = _person(emails, phones, references)
    if where is None:
        return 0
    return s.execute(delete(Conversation).where(where).execution_options(synchronize_session=False)).rowcount or 0


def purge_older_than(storage: Storage, days: int, now: dt.datetime | None = None) -> int:
    """Delete conversations begun more than ``days`` days ago (0: keep them); returns how many."""
    if days <= 0:
        return 0
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    with storage.session() as s, s.begin():
        return s.execute(delete(Conversation).where(Conversation.created_at < cutoff)
                         .execution_options(synchronize_session=False)).rowcount or 0
