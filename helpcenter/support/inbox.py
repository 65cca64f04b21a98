"""The request inbox: which requests wait for a person, and everything about one of them.

Queries over the ``escalations`` table for ``helpcenter requests`` and the staff inbox of
the site: plain SQLAlchemy (no Flask), so both show the same rows. What agents *do* to a
request is :mod:`helpcenter.support.tickets`.
Datetimes going in and coming out are UTC-aware (SQLite hands back naive ones).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import false, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import selectinload

from ..db import Escalation, OutboxMessage, as_utc, utcnow
from . import tickets
from .hours import SupportHours
from .storage import Storage, StorageUnavailable

# The request lifecycle: new → open → pending (waiting for the requester) → solved → closed.
STATUSES = tickets.STATUSES
UNHANDLED = "new"  # nobody has looked at it yet
AWAITING_ANSWER = ("new", "open")  # can be overdue; "pending" waits for the requester

CSV_COLUMNS = ("reference", "created_at", "status", "category", "subject", "description", "name", "email",
               "phone", "device", "order_number", "query", "shown", "read", "unhelpful", "visit", "attachments")


@dataclass(frozen=True)
class Unhandled:
    """What /healthz and a monitor want to know: how many requests wait, and since when."""
    count: int
    oldest_at: dt.datetime | None
    now: dt.datetime

    @property
    def oldest_age_seconds(self) -> int | None:
        if self.oldest_at is None:
            return None
        return max(0, int((self.now - self.oldest_at).total_seconds()))  # nodes' clocks may differ a little

    def as_json(self) -> dict[str, Any]:
        return {"unhandled": self.count, "oldest_unhandled_age_seconds": self.oldest_age_seconds}


@dataclass(frozen=True)
class RequestDetail:
    """One request with its screenshots (``escalation.attachments``), its notifications and its
    timeline (replies, notes, messages, status changes: :func:`helpcenter.support.tickets.timeline`)."""
    escalation: Escalation
    deliveries: list[OutboxMessage]
    events: list[Any] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {**self.escalation.as_json(), "deliveries": [delivery_json(d) for d in self.deliveries],
                "events": [ev.as_json() for ev in self.events]}


def delivery_json(msg: OutboxMessage) -> dict[str, Any]:
    def when(value: dt.datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {"channel": msg.channel, "target": msg.target, "status": msg.status, "attempts": msg.attempts,
            "created_at": when(msg.created_at), "next_attempt_at": when(msg.next_attempt_at),
            "delivered_at": when(msg.delivered_at), "last_error": msg.last_error}


def normalise_reference(reference: str) -> str:
    """References are read out over the phone and typed in any case."""
    return reference.strip().upper()


def _utc(value: dt.datetime | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        # A naive bound would be read as UTC by SQLite and as local time by PostgreSQL.
        raise ValueError(f"{name} must carry its time zone (got {value.isoformat()})")
    return value.astimezone(dt.timezone.utc)


def overdue_cutoff(hours: SupportHours, response_hours: float, now: dt.datetime) -> dt.datetime | None:
    """The creation time before which a request's first answer is overdue at ``now`` (None: none is).

    The due time only moves later when a request comes in later, so "overdue" is one range of
    creation times; finding its end (to the millisecond) lets the database filter, count and page.
    """
    lo, hi = now - dt.timedelta(days=400), now
    if hours.response_due(lo, response_hours) > now:
        return None
    while hi - lo > dt.timedelta(milliseconds=1):
        mid = lo + (hi - lo) / 2
        if hours.response_due(mid, response_hours) <= now:
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(frozen=True)
class TextQuery:
    """What an agent typed in the inbox's search box: ``tokens`` from our tokeniser (the caller's,
    since support does not import the engine) match subject and description; a reference, an
    e-mail address or a phone/order number typed whole matches that field exactly."""
    raw: str
    tokens: tuple[str, ...] = ()


def _text_conds(text: TextQuery) -> list[Any]:
    raw = text.raw.strip()
    exact = []
    if raw.upper().startswith("HC-"):
        exact.append(Escalation.reference == normalise_reference(raw))
    if "@" in raw:
        exact.append(func.lower(Escalation.email) == raw.lower())
    digits = re.sub(r"[\s\-]", "", raw)
    if len(digits) >= 5 and re.fullmatch(r"\+?[0-9A-Za-z]+", digits) and not re.fullmatch(r"[A-Za-z]+", digits):
        exact += [Escalation.phone == digits, Escalation.order_number == raw]
    score, needed = tickets.match_score(text.tokens)
    if score is not None:
        exact.append(score >= needed)
    return [or_(*exact)] if exact else [false()]


def _filters(status: str | None, category: str | None, since: dt.datetime | None,
             until: dt.datetime | None, overdue_before: dt.datetime | None = None,
             assignee: int | str | None = None, text: TextQuery | None = None) -> list[Any]:
    """``since`` is included, ``until`` is not, so whole days placed end to end never overlap.
    ``overdue_before`` (from :func:`overdue_cutoff`): requests still waiting for their first answer.
    ``assignee``: a staff id, or "none" for requests nobody has taken."""
    conds: list[Any] = []
    if assignee == "none":
        conds.append(Escalation.assignee_id.is_(None))
    elif assignee is not None:
        conds.append(Escalation.assignee_id == int(assignee))
    if text is not None and text.raw.strip():
        conds += _text_conds(text)
    cutoff = _utc(overdue_before, "overdue_before")
    if cutoff is not None:
        conds += [Escalation.created_at <= cutoff, Escalation.status.in_(AWAITING_ANSWER)]
    if status:
        conds.append(Escalation.status == status)
    if category:
        conds.append(Escalation.category == category)
    start, end = _utc(since, "since"), _utc(until, "until")
    if start is not None:
        conds.append(Escalation.created_at >= start)
    if end is not None:
        conds.append(Escalation.created_at < end)
    return conds


def list_requests(storage: Storage, *, status: str | None = None, category: str | None = None,
                  since: dt.datetime | None = None, until: dt.datetime | None = None,
                  limit: int | None = 50, offset: int = 0, oldest_first: bool = False,
                  overdue_before: dt.datetime | None = None, assignee: int | str | None = None,
                  text: TextQuery | None = None) -> list[Escalation]:
    """Requests matching the filters, newest first (detached, attachments loaded, ``created_at`` in UTC).

    Ties on the time are broken by id, so pages taken with ``limit``/``offset`` neither
    repeat nor skip a request.
    """
    order = (Escalation.created_at, Escalation.id) if oldest_first else (Escalation.created_at.desc(),
                                                                         Escalation.id.desc())
    query = (select(Escalation).where(*_filters(status, category, since, until, overdue_before, assignee, text))
             .order_by(*order)
             .options(selectinload(Escalation.attachments)).offset(offset))
    if limit is not None:
        query = query.limit(limit)
    try:
        storage.ensure_schema()
        with storage.session() as s:
            rows = list(s.scalars(query))
            s.expunge_all()
    except SQLAlchemyError as exc:
        raise StorageUnavailable(str(exc)) from exc
    for row in rows:
        row.created_at = as_utc(row.created_at)  # type: ignore[assignment]
    return rows


def count_requests(storage: Storage, *, status: str | None = None, category: str | None = None,
                   since: dt.datetime | None = None, until: dt.datetime | None = None,
                   overdue_before: dt.datetime | None = None, assignee: int | str | None = None,
                   text: TextQuery | None = None) -> int:
    """How many requests :func:`list_requests` would page through."""
    query = (select(func.count()).select_from(Escalation)
             .where(*_filters(status, category, since, until, overdue_before, assignee, text)))
    try:
        storage.ensure_schema()
        with storage.session() as s:
            return s.scalar(query) or 0
    except SQLAlchemyError as exc:
        raise StorageUnavailable(str(exc)) from exc


def status_counts(storage: Storage, *, category: str | None = None, since: dt.datetime | None = None,
                  until: dt.datetime | None = None, overdue_before: dt.datetime | None = None,
                  assignee: int | str | None = None, text: TextQuery | None = None) -> dict[str, int]:
    """Requests per status (only statuses that occur), under the same filters as the list."""
    query = (select(Escalation.status, func.count())
             .where(*_filters(None, category, since, until, overdue_before, assignee, text))
             .group_by(Escalation.status))
    try:
        storage.ensure_schema()
        with storage.session() as s:
            counts = {status: n for status, n in s.execute(query)}
    except SQLAlchemyError as exc:
        raise StorageUnavailable(str(exc)) from exc
    known = [st for st in STATUSES if st in counts]
    return {st: counts[st] for st in known + sorted(set(counts) - set(known))}  # lifecycle order


def get_request(storage: Storage, reference: str) -> RequestDetail | None:
    """One request by reference (any case), with its screenshots and notifications; None if unknown."""
    esc = storage.get_escalation(normalise_reference(reference))
    if esc is None:
        return None
    return RequestDetail(esc, storage.outbox_messages(esc.reference), tickets.timeline(storage, esc.id))


def unhandled(storage: Storage, now: dt.datetime | None = None) -> Unhandled:
    """Requests still "new" and the creation time of the oldest of them."""
    query = select(func.count(), func.min(Escalation.created_at)).where(Escalation.status == UNHANDLED)
    try:
        storage.ensure_schema()
        with storage.session() as s:
            count, oldest = s.execute(query).one()
    except SQLAlchemyError as exc:
        raise StorageUnavailable(str(exc)) from exc
    return Unhandled(count or 0, as_utc(oldest), now or utcnow())


def _cell(value: Any) -> Any:
    """Text typed by the public must not become a spreadsheet formula (CSV injection): a cell
    starting with = + - @ (or a tab or CR) is prefixed with ', which spreadsheets hide."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def visit_context(esc: Escalation) -> dict[str, Any]:
    """What the visit searched and read, as stored with the request, in one shape whatever was
    stored (older rows, spooled ones): query and visit as text, shown/read/unhelpful as id lists."""
    try:
        context = json.loads(esc.context or "{}")
    except ValueError:
        context = {}
    if not isinstance(context, dict):
        context = {}

    def ids(key: str) -> list[str]:
        value = context.get(key) or []
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]

    return {"query": str(context.get("query") or ""), "shown": ids("shown"), "read": ids("read"),
            "unhelpful": ids("unhelpful"), "visit": str(context.get("visit") or "")}


def csv_row(esc: Escalation, timezone: str) -> dict[str, Any]:
    """One request as a spreadsheet row: the time in the support time zone, lists ``|``-separated."""
    context = visit_context(esc)

    created = as_utc(esc.created_at)
    row = {"reference": esc.reference,
           "created_at": created.astimezone(ZoneInfo(timezone)).isoformat(" ", "seconds") if created else "",
           "status": esc.status, "category": esc.category, "subject": esc.subject, "description": esc.description,
           "name": esc.name or "", "email": esc.email or "", "phone": esc.phone or "", "device": esc.device or "",
           "order_number": esc.order_number or "", "query": context["query"],
           "shown": " | ".join(context["shown"]), "read": " | ".join(context["read"]),
           "unhelpful": " | ".join(context["unhelpful"]), "visit": context["visit"],
           "attachments": " | ".join(a.original_name for a in esc.attachments)}
    return {k: _cell(v) for k, v in row.items()}


def to_csv(requests: Sequence[Escalation], timezone: str, header: bool = True) -> str:
    """CSV text (write it as ``utf-8-sig``, like the report, so Excel and WPS read the Chinese)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, CSV_COLUMNS, lineterminator="\n")
    if header:
        writer.writeheader()
    writer.writerows(csv_row(esc, timezone) for esc in requests)
    return buf.getvalue()
