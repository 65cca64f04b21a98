"""What users send us: escalations (with screenshots), article votes, view counts.

Plain SQLAlchemy 2 (no Flask), so the CLI and scripts use the same code as the
site. SQLite in the instance folder by default; any database URL by setting.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from sqlalchemy import and_, create_engine, event, func, or_, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..db import ArticleViews, Attachment, Escalation, Feedback, OutboxMessage, SearchLog, as_utc, utcnow
from ..fsutil import tighten, write_private
from . import migrate
from .migrate import SchemaError

# Crockford base32 without I, L, O, U: references are read over the phone.
REF_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class StorageUnavailable(RuntimeError):
    """The database cannot be reached; callers keep the user's input and say so."""


class DuplicateReference(RuntimeError):
    """An escalation with this (caller-chosen) reference is already stored."""


@dataclass(frozen=True)
class ClaimedMessage:
    """An outbox row claimed by one worker (a plain copy: no session attached)."""
    id: int
    escalation_id: int | None  # None: a messaging channel's reply (``payload`` says what to send)
    reference: str
    channel: str
    target: str | None
    attempts: int  # including the one just claimed
    payload: str | None = None


@dataclass
class NewAttachment:
    stored_name: str
    original_name: str
    content_type: str
    size: int


def new_reference(today: dt.date | None = None) -> str:
    day = (today or utcnow().date()).strftime("%Y%m%d")
    return f"HC-{day}-{''.join(secrets.choice(REF_ALPHABET) for _ in range(4))}"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases, in-memory and URI-style ones)."""
    parsed = make_url(url)
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name)


def make_private(db_file: Path) -> None:
    """Create the SQLite file readable by us alone (0600), or tighten an existing one and its -wal/-shm.

    SQLite gives the -wal and -shm files the database file's mode, so a private
    database file keeps the write-ahead log private too.
    """
    try:
        write_private(db_file, b"")  # SQLite takes an empty file
        return
    except FileExistsError:
        pass
    except OSError:
        return  # e.g. a missing folder: connecting reports it
    for path in (db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm"), Path(f"{db_file}-journal")):
        try:
            tighten(path, 0o600)  # only if ours
        except OSError:
            pass  # not there


class Storage:
    def __init__(self, url: str, *, auto_migrate: bool = True) -> None:
        """``auto_migrate``: :meth:`create_all` migrates an old schema (else it refuses it)."""
        # psycopg 3 is the PostgreSQL driver we ship; a bare postgresql:// would ask for psycopg2.
        for bare in ("postgresql://", "postgres://"):
            if url.startswith(bare):
                url = "postgresql+psycopg://" + url[len(bare):]
        self.url = url
        self.auto_migrate = auto_migrate
        self._schema_ready = False
        self._schema_lock = threading.Lock()
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        elif url.startswith("postgresql"):
            kwargs["connect_args"] = {"connect_timeout": 5}  # a dead server must not hang a submission
        db_file = sqlite_file(url)
        if db_file is not None:
            make_private(db_file)  # personal data: not readable by other users of the machine
        self.engine = create_engine(url, **kwargs)
        self._connect_args = kwargs.get("connect_args", {})
        if url.startswith("sqlite"):
            @event.listens_for(self.engine, "connect")
            def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                try:
                    cur.execute("PRAGMA journal_mode=WAL")
                except sqlite3.OperationalError:
                    # Busy at once (no busy wait for a journal-mode change) while another node's
                    # upgrade holds the write lock: the mode is stored in the file, a later connection sets it.
                    pass
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_all(self) -> None:
        """The schema at this code's head (the name predates migrations): migrated under a lock
        when ``auto_migrate``, else checked. Raises SchemaError (with what to run) when refused."""
        if self.auto_migrate:
            self.upgrade()
            return
        try:
            migrate.check(self.engine)
        except SQLAlchemyError as exc:
            raise StorageUnavailable(f"database {self.engine.url.render_as_string(hide_password=True)}: {exc}") from exc
        self._schema_ready = True

    def upgrade(self) -> migrate.UpgradeResult:
        """Migrate to head under the lock, whatever ``auto_migrate`` says (``helpcenter db upgrade``)."""
        try:
            result = migrate.upgrade(self.engine, self._connect_args)
        except SQLAlchemyError as exc:
            raise StorageUnavailable(f"database {self.engine.url.render_as_string(hide_password=True)}: {exc}") from exc
        self._schema_ready = True
        return result

    def ensure_schema(self) -> None:
        """Bring the schema up on first use when the database was down at start-up."""
        if not self._schema_ready:
            with self._schema_lock:  # the outbox thread and requests may get here together
                if not self._schema_ready:
                    try:
                        self.create_all()
                    except SchemaError as exc:  # back on a schema we refuse: spool, as when it is down
                        raise StorageUnavailable(str(exc)) from exc

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

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
                       attachments: list[NewAttachment], *, outbox: Sequence[tuple[str, str | None]] = (),
                       reference: str | None = None, created_at: dt.datetime | None = None) -> Escalation:
        """Commit the request and its ``outbox`` rows ((channel, target) pairs) in one transaction;
        a reference is only returned once it is stored. ``reference``/``created_at`` are given when
        a spooled request is replayed: then a stored twin raises DuplicateReference."""
        self.ensure_schema()
        for _attempt in range(1 if reference else 5):
            esc = Escalation(reference=reference or new_reference(),
                             context=json.dumps(context, ensure_ascii=False), **fields)
            if created_at is not None:
                esc.created_at = created_at
            esc.attachments = [Attachment(**a.__dict__) for a in attachments]
            try:
                with self.session() as s, s.begin():
                    s.add(esc)
                    s.flush()  # the reference is taken (or collides) here
                    s.add_all([OutboxMessage(escalation_id=esc.id, reference=esc.reference, channel=channel,
                                             target=target) for channel, target in outbox])
                return esc
            except IntegrityError as exc:
                if reference:
                    raise DuplicateReference(reference) from exc
                continue  # reference collision: draw another
            except SQLAlchemyError as exc:
                raise StorageUnavailable(str(exc)) from exc
        raise StorageUnavailable("could not allocate a unique reference")

    def get_escalation(self, reference: str) -> Escalation | None:
        try:
            with self.session() as s:
                esc = s.scalar(select(Escalation).where(Escalation.reference == reference))
                if esc is not None:
                    _ = esc.attachments  # load while the session is open
                    s.expunge(esc)
                    esc.created_at = as_utc(esc.created_at)  # type: ignore[assignment]
                return esc
        except SQLAlchemyError as exc:
            raise StorageUnavailable(str(exc)) from exc

    def get_escalation_by_id(self, escalation_id: int) -> Escalation | None:
        try:
            with self.session() as s:
                esc = s.get(Escalation, escalation_id)
                if esc is not None:
                    _ = esc.attachments
                    s.expunge(esc)
                    esc.created_at = as_utc(esc.created_at)  # type: ignore[assignment]
                return esc
        except SQLAlchemyError as exc:
            raise StorageUnavailable(str(exc)) from exc

    # --- outbox (see helpcenter.support.delivery) ---

    @staticmethod
    def _due(now: dt.datetime) -> Any:
        return or_(and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
                   and_(OutboxMessage.status == "sending", OutboxMessage.lease_until < now))

    def claim_outbox(self, worker: str, limit: int = 20, lease_seconds: float = 300.0,
                     now: dt.datetime | None = None, due_by: dt.datetime | None = None) -> list[ClaimedMessage]:
        """Claim up to ``limit`` rows due by ``due_by`` (default: now) for ``worker``: pending and
        due, or claimed by a worker whose lease ran out (it died). Safe with many workers on many
        nodes: PostgreSQL locks the rows with FOR UPDATE SKIP LOCKED, SQLite claims each row with a
        conditional UPDATE (SQLite serialises writers). Each claim counts as an attempt."""
        now = now or utcnow()
        claim = dict(status="sending", claimed_by=worker,
                     lease_until=now + dt.timedelta(seconds=lease_seconds),
                     attempts=OutboxMessage.attempts + 1)
        due = self._due(min(now, due_by) if due_by else now)
        order = (OutboxMessage.next_attempt_at, OutboxMessage.id)
        try:
            self.ensure_schema()
            with self.session() as s, s.begin():
                if self.dialect == "postgresql":
                    ids = list(s.scalars(select(OutboxMessage.id).where(due).order_by(*order)
                                         .limit(limit).with_for_update(skip_locked=True)))
                    if ids:
                        s.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(**claim)
                                  .execution_options(synchronize_session=False))
                else:
                    ids = []
                    for row_id in list(s.scalars(select(OutboxMessage.id).where(due).order_by(*order)
                                                 .limit(limit * 2))):
                        res = s.execute(update(OutboxMessage).where(OutboxMessage.id == row_id, due)
                                        .values(**claim).execution_options(synchronize_session=False))
                        if res.rowcount == 1:  # nobody claimed it in between
                            ids.append(row_id)
                            if len(ids) >= limit:
                                break
                rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))
                                      .order_by(OutboxMessage.id))) if ids else []
                return [ClaimedMessage(r.id, r.escalation_id, r.reference, r.channel, r.target, r.attempts,
                                       r.payload) for r in rows]
        except SQLAlchemyError as exc:
            raise StorageUnavailable(str(exc)) from exc

    def _finish(self, message_id: int, worker: str, **values: Any) -> bool:
        """Update a row only while ``worker`` still holds its claim: a worker whose lease ran out
        and whose row was reclaimed must not overwrite the new owner's result."""
        try:
            with self.session() as s, s.begin():
                res = s.execute(update(OutboxMessage)
                                .where(OutboxMessage.id == message_id, OutboxMessage.claimed_by == worker,
                                       OutboxMessage.status == "sending")
                                .values(lease_until=None, **values)
                                .execution_options(synchronize_session=False))
                return res.rowcount == 1
        except SQLAlchemyError as exc:
            raise StorageUnavailable(str(exc)) from exc

    def mark_delivered(self, message_id: int, worker: str, now: dt.datetime | None = None) -> bool:
        # A channel reply's text is what the person was told: not kept once it is sent.
        return self._finish(message_id, worker, status="delivered", delivered_at=now or utcnow(),
                            last_error=None, payload=None)

    def mark_failed(self, message_id: int, worker: str, error: str,
                    retry_at: dt.datetime | None) -> bool:
        """``retry_at`` None: give up (status failed, kept and visible); else try again then."""
        values: dict[str, Any] = {"last_error": error[:2000]}
        if retry_at is None:
            values["status"] = "failed"
        else:
            values.update(status="pending", next_attempt_at=retry_at)
        return self._finish(message_id, worker, **values)

    def retry_failed(self, now: dt.datetime | None = None) -> int:
        """Put every given-up row back in the queue with a fresh attempt budget."""
        try:
            self.ensure_schema()
            with self.session() as s, s.begin():
                res = s.execute(update(OutboxMessage).where(OutboxMessage.status == "failed")
                                .values(status="pending", attempts=0, next_attempt_at=now or utcnow(),
                                        claimed_by=None)
                                .execution_options(synchronize_session=False))
                return res.rowcount
        except SQLAlchemyError as exc:
            raise StorageUnavailable(str(exc)) from exc

    def outbox_messages(self, reference: str | None = None, status: str | None = None) -> list[OutboxMessage]:
        """Outbox rows (detached, datetimes in UTC), for people and tests to look at."""
        try:
            self.ensure_schema()
            with self.session() as s:
                q = select(OutboxMessage).order_by(OutboxMessage.id)
                if reference:
                    q = q.where(OutboxMessage.reference == reference)
                if status:
                    q = q.where(OutboxMessage.status == status)
                rows = list(s.scalars(q))
                s.expunge_all()
        except SQLAlchemyError as exc:
            raise StorageUnavailable(str(exc)) from exc
        for r in rows:
            for name in ("created_at", "next_attempt_at", "lease_until", "delivered_at"):
                setattr(r, name, as_utc(getattr(r, name)))
        return rows

    def outbox_counts(self) -> dict[str, int]:
        """Rows per status: pending, sending, delivered, failed."""
        try:
            self.ensure_schema()
            with self.session() as s:
                return {status: n for status, n in s.execute(
                    select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))}
        except SQLAlchemyError as exc:
            raise StorageUnavailable(str(exc)) from exc

    def add_feedback(self, article_id: str, helpful: bool, comment: str | None, visit_id: str | None = None) -> int:
        """Store a vote; ``visit_id`` (the search log's visit) ties it to the search that led there."""
        try:
            with self.session() as s, s.begin():
                fb = Feedback(article_id=article_id, helpful=helpful, comment=comment or None,
                              visit_id=(visit_id or None) and visit_id[:40])
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

    def mark_visit_escalated(self, visit_id: str) -> None:
        """A visit ended in an escalation (stored late, from the spool): mark its searches."""
        with self.session() as s, s.begin():
            s.execute(update(SearchLog).where(SearchLog.visit_id == visit_id, SearchLog.escalated.is_(False))
                      .values(escalated=True))

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
