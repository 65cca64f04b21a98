"""What users send us: escalations (with screenshots), article votes, view counts.

Plain SQLAlchemy 2 (no Flask), so the CLI and scripts use the same code as the
site. SQLite in the instance folder by default; any database URL by setting.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from typing import Any, Iterator

from sqlalchemy import (Boolean, DateTime, ForeignKey, Integer, String, Text, create_engine, event,
                        func, select, text)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

# Crockford base32 without I, L, O, U: references are read over the phone.
REF_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class StorageUnavailable(RuntimeError):
    """The database cannot be reached; callers keep the user's input and say so."""


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
    attachments: Mapped[list["Attachment"]] = relationship(back_populates="escalation",
                                                           cascade="all, delete-orphan")

    def as_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference, "created_at": self.created_at.isoformat(),
            "name": self.name, "email": self.email, "phone": self.phone, "category": self.category,
            "subject": self.subject, "description": self.description, "device": self.device,
            "order_number": self.order_number, "context": json.loads(self.context or "{}"),
            "status": self.status,
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
    escalation: Mapped[Escalation] = relationship(back_populates="attachments")

    def as_json(self) -> dict[str, Any]:
        return {"stored_name": self.stored_name, "original_name": self.original_name,
                "content_type": self.content_type, "size": self.size}


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    article_id: Mapped[str] = mapped_column(String(200), index=True)
    helpful: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text)


class ArticleViews(Base):
    __tablename__ = "article_views"

    article_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    views: Mapped[int] = mapped_column(Integer, default=0)


@dataclass
class NewAttachment:
    stored_name: str
    original_name: str
    content_type: str
    size: int


def new_reference(today: dt.date | None = None) -> str:
    day = (today or utcnow().date()).strftime("%Y%m%d")
    return f"HC-{day}-{''.join(secrets.choice(REF_ALPHABET) for _ in range(4))}"


class Storage:
    def __init__(self, url: str) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        self.engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            @event.listens_for(self.engine, "connect")
            def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_all(self) -> None:
        try:
            Base.metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise StorageUnavailable(f"database {self.engine.url.render_as_string(hide_password=True)}: {exc}") from exc

    def session(self) -> Session:
        return self._sessions()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def add_escalation(self, fields: dict[str, Any], context: dict[str, Any],
                       attachments: list[NewAttachment]) -> Escalation:
        """Commit the request; a reference is only returned once it is stored."""
        for _attempt in range(5):
            esc = Escalation(reference=new_reference(), context=json.dumps(context, ensure_ascii=False),
                             **fields)
            esc.attachments = [Attachment(**a.__dict__) for a in attachments]
            try:
                with self.session() as s, s.begin():
                    s.add(esc)
                return esc
            except IntegrityError:
                continue  # reference collision: draw another
            except SQLAlchemyError as exc:
                raise StorageUnavailable(str(exc)) from exc
        raise StorageUnavailable("could not allocate a unique reference")

    def get_escalation(self, reference: str) -> Escalation | None:
        with self.session() as s:
            esc = s.scalar(select(Escalation).where(Escalation.reference == reference))
            if esc is not None:
                _ = esc.attachments  # load while the session is open
            return esc

    def add_feedback(self, article_id: str, helpful: bool, comment: str | None) -> int:
        try:
            with self.session() as s, s.begin():
                fb = Feedback(article_id=article_id, helpful=helpful, comment=comment or None)
                s.add(fb)
                s.flush()
                return fb.id
        except SQLAlchemyError as exc:
            raise StorageUnavailable(str(exc)) from exc

    def add_feedback_comment(self, feedback_id: int, article_id: str, comment: str) -> bool:
        """Attach "what was missing?" to the vote just cast, instead of counting a second vote."""
        try:
            with self.session() as s, s.begin():
                fb = s.get(Feedback, feedback_id)
                if fb is None or fb.article_id != article_id:
                    return False
                fb.comment = comment
                return True
        except SQLAlchemyError as exc:
            raise StorageUnavailable(str(exc)) from exc

    def count_view(self, article_id: str) -> None:
        try:
            with self.session() as s, s.begin():
                row = s.get(ArticleViews, article_id, with_for_update=True)
                if row is None:
                    s.add(ArticleViews(article_id=article_id, views=1))
                else:
                    row.views += 1
        except SQLAlchemyError:
            pass  # a lost view count must never break reading an article

    def popular(self, limit: int = 6) -> list[str]:
        try:
            with self.session() as s:
                rows = s.execute(select(ArticleViews.article_id).order_by(ArticleViews.views.desc()).limit(limit))
                return [r[0] for r in rows]
        except SQLAlchemyError:
            return []

    def feedback_counts(self) -> Iterator[tuple[str, bool, int]]:
        with self.session() as s:
            yield from s.execute(select(Feedback.article_id, Feedback.helpful, func.count())
                                 .group_by(Feedback.article_id, Feedback.helpful))
