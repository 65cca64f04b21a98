"""The schema: every table helpcenter stores, in one place.

Support (requests, votes, the outbox) and insights (the search log) both read and
write these tables, so they live below both wings: neither imports the other to
find a table, and ``Storage.create_all()`` sees the whole schema.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class Escalation(Base):
    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    category: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    device: Mapped[str | None] = mapped_column(String(200))
    order_number: Mapped[str | None] = mapped_column(String(64))
    context: Mapped[str] = mapped_column(Text, default="{}")  # last query, articles shown/read/unhelpful
    status: Mapped[str] = mapped_column(String(20), default="new")
    # The support loop (helpcenter.support.tickets), from migration 0003 on.
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"), index=True)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))  # last event
    solved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    resolution: Mapped[str | None] = mapped_column(String(12))  # "article" or "no_article"
    resolution_article: Mapped[str | None] = mapped_column(String(200), index=True)
    resolution_note: Mapped[str | None] = mapped_column(Text)
    # Signed into the requester's status link; a new nonce (or a deleted row) ends every old link.
    status_nonce: Mapped[str | None] = mapped_column(String(32))
    # Subject and description as our tokeniser cuts them, " "-separated with a space at each end,
    # so the inbox finds 密码 in 忘记密码了 without LIKE over raw text (NULL: not cut yet).
    search_terms: Mapped[str | None] = mapped_column(Text)
    # The requester's locale (zh-Hant, en, ...): their e-mails and status page speak it (0005; NULL: default).
    locale: Mapped[str | None] = mapped_column(String(16))
    attachments: Mapped[list["Attachment"]] = relationship(back_populates="escalation",
                                                           cascade="all, delete-orphan")

    def as_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference, "created_at": self.created_at.isoformat(),
            "name": self.name, "email": self.email, "phone": self.phone, "category": self.category,
            "subject": self.subject, "description": self.description, "device": self.device,
            "order_number": self.order_number, "context": json.loads(self.context or "{}"),
            "status": self.status, "solved_at": _iso(self.solved_at), "resolution": self.resolution,
            "resolution_article": self.resolution_article, "resolution_note": self.resolution_note,
            "locale": self.locale,
            "attachments": [a.as_json() for a in self.attachments],
        }


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id", ondelete="CASCADE"), index=True)
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    original_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    # Sent with a later message of the requester (None: with the request itself).
    event_id: Mapped[int | None] = mapped_column(ForeignKey("request_events.id", ondelete="CASCADE"), index=True)
    escalation: Mapped[Escalation] = relationship(back_populates="attachments")

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stored_name": self.stored_name, "original_name": self.original_name,
                               "content_type": self.content_type, "size": self.size}
        if self.event_id is not None:  # sent later, with a message (the webhook's shape is unchanged otherwise)
            out["event_id"] = self.event_id
        return out


class RequestEvent(Base):
    """One thing that happened to a request: the timeline agents read, and (``public``) the
    conversation the requester sees. Replies, internal notes, the requester's messages, status
    changes, assignment and the resolution all live here, so export and deletion of a person's
    data find every kind of it in one table (:mod:`helpcenter.support.privacy`)."""
    __tablename__ = "request_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    kind: Mapped[str] = mapped_column(String(20))  # see helpcenter.support.tickets.KINDS
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(254))  # staff e-mail, "requester" or "system"
    body: Mapped[str | None] = mapped_column(Text)
    data: Mapped[str] = mapped_column(Text, default="{}")  # JSON: from/to status, article, assignee
    public: Mapped[bool] = mapped_column(Boolean, default=False)  # shown on the requester's page

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "created_at": _iso(self.created_at), "kind": self.kind, "actor": self.actor,
                "body": self.body, "data": json.loads(self.data or "{}"), "public": self.public}


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    article_id: Mapped[str] = mapped_column(String(200), index=True)
    helpful: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text)
    # The vote's visit (search_log.visit_id), so a vote can be tied to the search that led to the
    # article (helpcenter.insights.learning); from migration 0004 on, NULL for older votes.
    visit_id: Mapped[str | None] = mapped_column(String(40), index=True)


class ArticleViews(Base):
    __tablename__ = "article_views"

    article_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    views: Mapped[int] = mapped_column(Integer, default=0)


class OutboxMessage(Base):
    """One notification of one escalation (support inbox, requester, webhook), delivered by
    :mod:`helpcenter.support.delivery`. Inserted in the escalation's own transaction, so a stored
    request always has its notifications queued. ``status``: pending, sending (claimed by
    ``claimed_by`` until ``lease_until``), delivered, failed (gave up; kept for people to see).
    ``target`` records the support inbox or webhook URL configured when it was queued (the
    setting in force at delivery wins); the requester's address is not copied here but read
    from the escalation when sending, so deleting or purging a person's data covers it."""
    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("escalation_id", "channel", name="uq_outbox_escalation_channel"),
                      Index("ix_outbox_due", "status", "next_attempt_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # None for a messaging channel's reply (``line:<event id>``), which belongs to no request (0006).
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalations.id", ondelete="CASCADE"), index=True)
    reference: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    # What a messaging channel's reply sends (JSON: reply token and text); cleared once delivered (0006).
    payload: Mapped[str | None] = mapped_column(Text)


class SearchLog(Base):
    __tablename__ = "search_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(16), unique=True)  # random; result links carry it (?from=)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    visit_id: Mapped[str] = mapped_column(String(32), index=True)
    source: Mapped[str] = mapped_column(String(8))  # "site" (the /search page) or "api"
    query: Mapped[str] = mapped_column(Text)  # normalised and masked
    results: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of article ids, in rank order
    top_score: Mapped[float | None] = mapped_column(Float)
    top_dense: Mapped[float | None] = mapped_column(Float)
    confident: Mapped[bool] = mapped_column(Boolean, index=True)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    build_id: Mapped[str] = mapped_column(String(64), default="")
    locale: Mapped[str | None] = mapped_column(String(16))  # the reader's (0005; NULL: before locales)
    # Where an assistant turn was asked (source "assist"): api, widget, wechat, line (0006; NULL otherwise).
    channel: Mapped[str | None] = mapped_column(String(16))

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "created_at": as_utc(self.created_at).isoformat(), "source": self.source,
                "locale": self.locale,
                "query": self.query, "results": json.loads(self.results or "[]"), "top_score": self.top_score,
                "top_dense": self.top_dense, "confident": self.confident, "escalated": self.escalated}


class SearchClick(Base):
    __tablename__ = "search_clicks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("search_log.id", ondelete="CASCADE"), index=True)
    article_id: Mapped[str] = mapped_column(String(200))
    rank: Mapped[int] = mapped_column(Integer)  # 1 = the first result
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LearnedQuestion(Base):
    """A writer's decision on a question search learned from use (:mod:`helpcenter.insights.learning`):
    ``query`` (normalised and masked, as the search log holds it) should ("accepted") or must never
    ("blocked") find ``article_id``. Only decisions are stored; candidates are computed from the log.
    No visit id or anything else about the people who asked."""
    __tablename__ = "learned_questions"
    __table_args__ = (UniqueConstraint("query", "article_id", name="uq_learned_questions_query_article"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    query: Mapped[str] = mapped_column(Text)
    article_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12))  # "accepted" or "blocked"
    decided_by: Mapped[str] = mapped_column(String(254))  # the staff e-mail (or "cli" from the command line)
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Staff(Base):
    """A person who signs in to /admin (:mod:`helpcenter.support.staff`). ``email`` is stored
    lower-case so one address is one account. ``session_version`` goes up on logout, password
    change and disabling: every session carries the version it was made with, and an older one
    is no longer accepted, on any web node (no state in a process)."""
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(12))  # admin, agent or writer
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Sign-in backoff, per account and shared by every node: failures in a row, and no
    # password is even checked before ``locked_until`` (helpcenter.support.staff.verify).
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Conversation(Base):
    """A conversation with the assistant (:mod:`helpcenter.support.conversations`): its state and
    transcript, stored so any node can take the next turn and a worker restart loses nothing.
    ``user_key`` is a messaging channel's user id, HMAC-hashed (never the id itself); ``email`` and
    ``phone`` the contact given at a hand-over, so a person's export and deletion find it."""
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random; the client's conversation_id
    channel: Mapped[str] = mapped_column(String(16))
    user_key: Mapped[str | None] = mapped_column(String(64), index=True)
    locale: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    turns: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(Text, default="{}")
    transcript: Mapped[str] = mapped_column(Text, default="[]")
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    handed_over: Mapped[bool] = mapped_column(Boolean, default=False)
    reference: Mapped[str | None] = mapped_column(String(20), index=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    phone: Mapped[str | None] = mapped_column(String(32), index=True)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "channel": self.channel, "locale": self.locale, "created_at": _iso(self.created_at),
                "updated_at": _iso(self.updated_at), "turns": self.turns, "resolved": self.resolved,
                "handed_over": self.handed_over, "reference": self.reference, "email": self.email,
                "phone": self.phone, "transcript": json.loads(self.transcript or "[]")}


class ChannelMessage(Base):
    """A message a messaging platform delivered (WeChat ``MsgId``, LINE ``webhookEventId``), taken
    once whichever node it reaches and however often the platform sends it again; ``reply`` is
    what was answered, so a retry gets the same answer without a second turn."""
    __tablename__ = "channel_messages"
    __table_args__ = (UniqueConstraint("channel", "message_id", name="uq_channel_messages_channel_message"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    reply: Mapped[str | None] = mapped_column(Text)


def _iso(value: dt.datetime | None) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value else None


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes; everything stored here is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value
