"""What agents and requesters do to a request, and its timeline. No Flask here.

Every change is one transaction that updates the request and appends a ``request_events`` row,
so the timeline an agent reads is exactly what happened, on any node. ``public`` events (replies
and the requester's own messages) are the conversation on the requester's status page; notes
never are. A reply to a requester with an e-mail address also queues an outbox row
(``reply:<event id>``) in the same transaction, so a reply is never stored without its e-mail,
and one that cannot be sent stays visible as a failed delivery beside it.

Lifecycle: new → open → pending (waiting for the requester) → solved → closed. Solving needs a
resolution (the article that answers it, or "no article covers this" with a note): those are
what writers and search learn from (:func:`resolutions`). One setting, ``solved_close_days``,
is both how long a requester may reopen a solved request and when it closes by itself: a
request that can no longer be reopened is closed, and one that is closed cannot be reopened.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import operator
import secrets
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from sqlalchemy import case, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..db import Attachment, Escalation, OutboxMessage, RequestEvent, Staff, as_utc, utcnow
from .storage import NewAttachment, Storage, StorageUnavailable

STATUSES = ("new", "open", "pending", "solved", "closed")
KINDS = ("reply", "note", "message", "status", "assign", "solved")
REPLY_CHANNEL = "reply:"  # + event id: one outbox row (and one e-mail) per reply
REQUESTER = "requester"
SYSTEM = "system"
MAX_BODY = 5000
MAX_TERMS = 12  # query tokens looked for; more only make the SQL longer


class TicketError(ValueError):
    """An action the request cannot take; ``code`` for the API, the message (Chinese) for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff account, the requester (``staff_id`` None) or the system."""
    label: str
    staff_id: int | None = None

    @classmethod
    def staff(cls, info: Any) -> "Actor":
        return cls(info.email, info.id)


REQUESTER_ACTOR = Actor(REQUESTER)
SYSTEM_ACTOR = Actor(SYSTEM)


def _text(body: str | None, what: str, required: bool = True) -> str | None:
    body = (body or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not body:
        if required:
            raise TicketError("required", f"{what}不能为空")
        return None
    if len(body) > MAX_BODY:
        raise TicketError("too_long", f"{what}最多 {MAX_BODY} 个字（现在 {len(body)} 个）")
    return body


def _event(s: Session, esc: Escalation, kind: str, actor: Actor, body: str | None = None,
           public: bool = False, now: dt.datetime | None = None, **data: Any) -> RequestEvent:
    now = now or utcnow()
    ev = RequestEvent(escalation_id=esc.id, kind=kind, actor=actor.label, staff_id=actor.staff_id, body=body,
                      public=public, data=json.dumps(data, ensure_ascii=False), created_at=now)
    s.add(ev)
    esc.updated_at = now
    return ev


def _move(s: Session, esc: Escalation, to: str, actor: Actor, now: dt.datetime | None = None,
          **data: Any) -> None:
    if esc.status != to:
        _event(s, esc, "status", actor, now=now, **{"from": esc.status, "to": to, **data})
        esc.status = to
        if to != "solved" and to != "closed":
            esc.solved_at = None


def _change(storage: Storage, reference: str, act: Callable[[Session, Escalation], Any]) -> Any:
    """Run ``act`` on the request (row-locked on PostgreSQL, so two agents' clicks serialise)."""
    try:
        storage.ensure_schema()
        with storage.session() as s, s.begin():
            esc = s.scalar(select(Escalation).where(Escalation.reference == reference).with_for_update())
            if esc is None:
                raise TicketError("not_found", f"没有编号为 {reference} 的求助")
            result = act(s, esc)
            s.flush()
            return result
    except SQLAlchemyError as exc:
        raise StorageUnavailable(str(exc)) from exc


def reply(storage: Storage, reference: str, actor: Actor, body: str, *, wait_for_requester: bool = True,
          email: bool = False) -> int:
    """Answer the requester (shown on their status page); ``email``: also queue it for e-mail.
    The request then waits for the requester (pending), or stays open. Returns the event id."""
    text = _text(body, "回复")

    def act(s: Session, esc: Escalation) -> int:
        if esc.status == "closed":
            raise TicketError("closed", "这个求助已关闭，不能再回复；请求助人提交新的求助")
        ev = _event(s, esc, "reply", actor, text, public=True)
        _move(s, esc, "pending" if wait_for_requester else "open", actor)
        s.flush()
        if email and esc.email:
            s.add(OutboxMessage(escalation_id=esc.id, reference=esc.reference, channel=f"{REPLY_CHANNEL}{ev.id}"))
        return ev.id
    return _change(storage, reference, act)


def add_note(storage: Storage, reference: str, actor: Actor, body: str) -> int:
    """An internal note: for agents only, never on the requester's page or in an e-mail."""
    text = _text(body, "备注")

    def act(s: Session, esc: Escalation) -> int:
        ev = _event(s, esc, "note", actor, text)
        if esc.status == "new":
            _move(s, esc, "open", actor)
        s.flush()
        return ev.id
    return _change(storage, reference, act)


def assign(storage: Storage, reference: str, actor: Actor, assignee_id: int | None) -> None:
    """Give the request to an active agent or admin (None: to nobody)."""
    def act(s: Session, esc: Escalation) -> None:
        who = None
        if assignee_id is not None:
            who = s.get(Staff, assignee_id)
            if who is None or not who.active or who.role not in ("agent", "admin"):
                raise TicketError("invalid_assignee", "只能分配给在职的客服或管理员")
        if esc.assignee_id == assignee_id:
            return
        esc.assignee_id = assignee_id
        _event(s, esc, "assign", actor, to=who.email if who else None)
        if esc.status == "new":
            _move(s, esc, "open", actor)
    _change(storage, reference, act)


def set_status(storage: Storage, reference: str, actor: Actor, status: str) -> None:
    """Move to open, pending or closed by hand; solving goes through :func:`solve` (it needs a resolution)."""
    if status not in STATUSES or status in ("new", "solved"):
        raise TicketError("invalid_status", "状态只能改为处理中、等待回复或已关闭；标记解决请填写解决方式")
    _change(storage, reference, lambda s, esc: _move(s, esc, status, actor))


def solve(storage: Storage, reference: str, actor: Actor, *, article: str | None = None,
          no_article_note: str | None = None) -> None:
    """Solved, with what solved it: an article of ours, or no article (then the note says what
    was missing, for the writers). Exactly one of the two."""
    article = (article or "").strip() or None
    note = _text(no_article_note, "说明", required=False)
    if bool(article) == bool(note):
        raise TicketError("resolution_required", "请选择解答了这个问题的文章，或者选“没有文章涵盖”并写明缺少什么")
    if article and len(article) > 200:
        raise TicketError("invalid_article", "文章编号太长")

    def act(s: Session, esc: Escalation) -> None:
        if esc.status == "closed":
            raise TicketError("closed", "这个求助已关闭")
        now = utcnow()
        esc.resolution = "article" if article else "no_article"
        esc.resolution_article = article
        esc.resolution_note = note
        _event(s, esc, "solved", actor, note, now=now, resolution=esc.resolution, article=article)
        _move(s, esc, "solved", actor, now=now)
        esc.solved_at = now
    _change(storage, reference, act)


def requester_message(storage: Storage, reference: str, body: str,
                      attachments: Iterable[NewAttachment] = ()) -> int:
    """The requester writes again (with screenshots, checked by the caller like the form's): the
    request is open again for agents, unless nobody has looked at it yet (then it stays new)."""
    text = _text(body, "补充内容")
    files = list(attachments)

    def act(s: Session, esc: Escalation) -> int:
        if esc.status == "closed":
            raise TicketError("closed", "这个求助已关闭，请提交新的求助")
        ev = _event(s, esc, "message", REQUESTER_ACTOR, text, public=True)
        s.flush()
        s.add_all([Attachment(escalation_id=esc.id, event_id=ev.id, **a.__dict__) for a in files])
        if esc.status != "new":
            _move(s, esc, "open", REQUESTER_ACTOR)
        return ev.id
    return _change(storage, reference, act)


def can_reopen(esc: Escalation, days: int, now: dt.datetime | None = None) -> bool:
    """Solved less than ``days`` ago (``days`` 0: solved requests never close, so always)."""
    solved = as_utc(esc.solved_at)
    if esc.status != "solved" or solved is None:
        return False
    return days <= 0 or (now or utcnow()) - solved < dt.timedelta(days=days)


def reopen(storage: Storage, reference: str, days: int) -> None:
    """The requester says it is not solved after all (within ``days`` of solving)."""
    def act(s: Session, esc: Escalation) -> None:
        if not can_reopen(esc, days):
            raise TicketError("cannot_reopen", f"只有已解决且在 {days} 天内的求助可以重新打开")
        _move(s, esc, "open", REQUESTER_ACTOR, reopened=True)
    _change(storage, reference, act)


def close_solved(storage: Storage, days: int, now: dt.datetime | None = None, batch: int = 500) -> list[str]:
    """Close requests solved more than ``days`` ago and not reopened; returns their references.
    Each row is closed by a conditional UPDATE, so nodes running this together close it once."""
    if days <= 0:
        return []
    now = now or utcnow()
    cutoff = now - dt.timedelta(days=days)
    closed: list[str] = []
    try:
        storage.ensure_schema()
        while True:
            with storage.session() as s, s.begin():
                rows = list(s.execute(select(Escalation.id, Escalation.reference)
                                      .where(Escalation.status == "solved", Escalation.solved_at < cutoff)
                                      .order_by(Escalation.id).limit(batch)))
                done_here = 0
                for esc_id, ref in rows:
                    res = s.execute(update(Escalation).where(Escalation.id == esc_id, Escalation.status == "solved")
                                    .values(status="closed", updated_at=now)
                                    .execution_options(synchronize_session=False))
                    if res.rowcount == 1:
                        s.add(RequestEvent(escalation_id=esc_id, kind="status", actor=SYSTEM, created_at=now,
                                           data=json.dumps({"from": "solved", "to": "closed", "auto": True,
                                                            "days": days}), public=False))
                        closed.append(ref)
                        done_here += 1
            if len(rows) < batch or not done_here:
                break
    except SQLAlchemyError as exc:
        raise StorageUnavailable(str(exc)) from exc
    return closed


def timeline(storage: Storage, escalation_id: int, public_only: bool = False) -> list[RequestEvent]:
    """The request's events, oldest first (detached, times in UTC), with each event's screenshots
    as ``ev.files``; ``public_only`` for the requester's page."""
    query = select(RequestEvent).where(RequestEvent.escalation_id == escalation_id)
    if public_only:
        query = query.where(RequestEvent.public.is_(True))
    try:
        storage.ensure_schema()
        with storage.session() as s:
            events = list(s.scalars(query.order_by(RequestEvent.created_at, RequestEvent.id)))
            files = list(s.scalars(select(Attachment).where(Attachment.escalation_id == escalation_id,
                                                             Attachment.event_id.is_not(None))))
            s.expunge_all()
    except SQLAlchemyError as exc:
        raise StorageUnavailable(str(exc)) from exc
    for ev in events:
        ev.created_at = as_utc(ev.created_at)  # type: ignore[assignment]
        ev.files = [a for a in files if a.event_id == ev.id]  # type: ignore[attr-defined]
        ev.info = json.loads(ev.data or "{}")  # type: ignore[attr-defined]
    return events


def status_nonce(storage: Storage, reference: str) -> str | None:
    """The request's status-link nonce, made on first use for requests stored without one
    (older ones, spooled ones). None when the request does not exist."""
    try:
        storage.ensure_schema()
        with storage.session() as s, s.begin():
            s.execute(update(Escalation).where(Escalation.reference == reference, Escalation.status_nonce.is_(None))
                      .values(status_nonce=secrets.token_hex(16)).execution_options(synchronize_session=False))
            return s.scalar(select(Escalation.status_nonce).where(Escalation.reference == reference))
    except SQLAlchemyError as exc:
        raise StorageUnavailable(str(exc)) from exc


# --- inbox search -------------------------------------------------------------------


def terms_of(tokens: Iterable[str], text: str) -> str:
    """The stored search terms: the tokens and each Han character alone (so a query word 忘 finds
    忘记), space-separated with a space at each end."""
    words = set(tokens) | {c for c in text if "\u4e00" <= c <= "\u9fff"}
    return " " + " ".join(sorted(w.replace(" ", "") for w in words if w.strip())) + " "


def backfill_terms(storage: Storage, tokenize: Callable[[str], list[str]], batch: int = 500) -> int:
    """Cut the subject and description of requests not cut yet (new ones, older installs);
    returns how many. The web inbox and ``helpcenter requests list --search`` run it first."""
    done = 0
    try:
        storage.ensure_schema()
        while True:
            with storage.session() as s, s.begin():
                rows = list(s.execute(select(Escalation.id, Escalation.subject, Escalation.description)
                                      .where(Escalation.search_terms.is_(None)).limit(batch)))
                for esc_id, subject, description in rows:
                    text = f"{subject}\n{description}"
                    s.execute(update(Escalation).where(Escalation.id == esc_id)
                              .values(search_terms=terms_of(tokenize(text), text))
                              .execution_options(synchronize_session=False))
            done += len(rows)
            if len(rows) < batch:
                return done
    except SQLAlchemyError as exc:
        raise StorageUnavailable(str(exc)) from exc


def _like(word: str) -> str:
    return "% " + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + " %"


def match_score(tokens: Iterable[str]) -> tuple[Any, int]:
    """(SQL expression: how many query tokens a request's terms hold, how many are needed).
    Half the query's words must be there, so 密码忘了 still finds 忘记了密码."""
    words = list(dict.fromkeys(t.replace(" ", "") for t in tokens if t.strip()))[:MAX_TERMS]
    if not words:
        return None, 0
    parts = [case((Escalation.search_terms.like(_like(w), escape="\\"), 1), else_=0) for w in words]
    return functools.reduce(operator.add, parts), max(1, -(-len(words) // 2))


def resolutions(storage: Storage, since: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Solved requests as learning data: what the person searched and asked, and the article an
    agent linked (``article``) or the gap an agent named (``no_article`` with its note)."""
    # A reopened request's last resolution did not hold: only requests solved (or closed since) count.
    query = (select(Escalation).where(Escalation.resolution.is_not(None), Escalation.solved_at.is_not(None))
             .order_by(Escalation.solved_at))
    if since is not None:
        query = query.where(Escalation.solved_at >= since)
    try:
        storage.ensure_schema()
        with storage.session() as s:
            rows = list(s.scalars(query))
    except SQLAlchemyError as exc:
        raise StorageUnavailable(str(exc)) from exc
    out = []
    for esc in rows:
        try:
            ctx = json.loads(esc.context or "{}")
        except ValueError:
            ctx = {}
        ctx = ctx if isinstance(ctx, dict) else {}
        out.append({"reference": esc.reference, "solved_at": as_utc(esc.solved_at).isoformat()
                    if esc.solved_at else None, "query": str(ctx.get("query") or ""), "subject": esc.subject,
                    "category": esc.category, "resolution": esc.resolution, "article": esc.resolution_article,
                    "note": esc.resolution_note, "shown": ctx.get("shown") or [],
                    "unhelpful": ctx.get("unhelpful") or []})
    return out
