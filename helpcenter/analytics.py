"""Search analytics for writers: what people search, what they click, where search fails.

Every search on the site and the API is logged as one row: the normalised query
(with e-mail addresses and long numbers masked), the result ids, the top score
and dense similarity, whether search was confident, and a random per-visit id
(kept in the visitor's session cookie). No IP address, user agent or contact
details are stored. Clicks on search results and escalations from the same visit
are attributed to the visit's searches.

:func:`build_report` turns the log, the article votes and the escalations into
the writers' report used by ``helpcenter report`` and the ``/admin`` page; the
unanswered queries are grouped by meaning with the site's embedder.

The tables live on :class:`helpcenter.storage.Base`, so ``Storage.create_all()``
creates them.
"""

from __future__ import annotations

import atexit
import csv
import datetime as dt
import io
import json
import logging
import os
import queue
import re
import secrets
import threading
import time
import weakref
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Sequence
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String, Text, case, distinct, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from .storage import Base, Escalation, Feedback, Storage, utcnow

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 500          # stored; the searcher already cuts queries to max_query_chars
MAX_GROUPED_QUERIES = 2000     # distinct unanswered queries embedded for grouping (most frequent first)
EXAMPLES_PER_GROUP = 5
COMMENTS_PER_ARTICLE = 5
PAUSE_AFTER_ERROR = 60.0       # seconds without logging after a database error
MAX_QUEUE = 10000              # rows waiting for the writer thread; more are dropped
WRITE_BATCH = 500              # rows per transaction
WRITER_IDLE_EXIT = 30.0        # seconds; an idle writer thread ends and restarts on the next row

# Personal details people sometimes type into a search box; masked before storing.
EMAIL_RE = re.compile(r"[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)+", re.IGNORECASE)
NUMBER_RE = re.compile(r"\+?[0-9](?:[ \-]?[0-9]){6,}")  # 7+ digits: phone, order, ID numbers


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

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "created_at": _aware(self.created_at).isoformat(), "source": self.source,
                "query": self.query, "results": json.loads(self.results or "[]"), "top_score": self.top_score,
                "top_dense": self.top_dense, "confident": self.confident, "escalated": self.escalated}


class SearchClick(Base):
    __tablename__ = "search_clicks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("search_log.id", ondelete="CASCADE"), index=True)
    article_id: Mapped[str] = mapped_column(String(200))
    rank: Mapped[int] = mapped_column(Integer)  # 1 = the first result
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def mask_personal(query: str) -> str:
    """Mask e-mail addresses and long digit runs (phone, order or ID numbers) in a query."""
    return NUMBER_RE.sub("<数字>", EMAIL_RE.sub("<邮箱>", query))


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite gives back naive datetimes; everything is stored in UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


class SearchLogger:
    """Writes the log from a background thread, so a search never waits for the database.

    ``log_search`` returns the new row's random key at once (result links carry
    it); rows, clicks and escalation marks are queued in order and written in
    batches. A database problem costs a log line and the queued rows, never a
    search; after an error, logging pauses for a minute. When the queue is full
    (the database is far behind), rows are dropped. ``background=False`` writes
    synchronously (scripts, tests of the writer itself).
    """

    def __init__(self, storage: Storage, background: bool = True, max_queue: int = MAX_QUEUE) -> None:
        self.storage = storage
        self.background = background
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._paused_until = 0.0
        self._dropped = 0
        self._lock = threading.Lock()

    # -- called by the web layer; cheap and never raising on database problems --

    def log_search(self, visit_id: str, source: str, response: Any) -> str | None:
        """Queue one search (a :class:`helpcenter.search.SearchResponse`); returns its key or None."""
        if not response.normalised:
            return None
        top = response.results[0] if response.results else None
        key = secrets.token_hex(8)
        row = {"key": key, "created_at": utcnow(), "visit_id": visit_id[:32], "source": source[:8],
               "query": mask_personal(response.normalised)[:MAX_QUERY_CHARS],
               "results": json.dumps([h.id for h in response.results], ensure_ascii=False),
               "top_score": top.score if top else None, "top_dense": top.dense if top else None,
               "confident": bool(response.confident), "escalated": False,
               "build_id": (response.build_id or "")[:64]}
        return key if self._submit(("search", row)) else None

    def log_click(self, visit_id: str, search_key: str, article_id: str) -> None:
        """This visit opened ``article_id`` from its search ``search_key`` (counted once per pair)."""
        self._submit(("click", (visit_id, search_key, article_id, utcnow())))

    def mark_escalated(self, visit_id: str) -> None:
        """The visit ended in an escalation: mark its searches."""
        if visit_id:
            self._submit(("escalated", visit_id))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written (or dropped)."""
        if not self.background:
            return True
        done = threading.Event()
        return self._enqueue(("flush", done)) and done.wait(timeout)

    # -- the writer --

    def _submit(self, item: tuple[str, Any]) -> bool:
        if time.monotonic() < self._paused_until:
            self._dropped += 1
            return False
        if not self.background:
            self._write([item])
            return True
        if self._enqueue(item):
            return True
        self._dropped += 1
        if self._dropped % 1000 == 1:
            log.warning("search analytics: queue full, %d row(s) dropped so far", self._dropped)
        return False

    def _enqueue(self, item: tuple[str, Any]) -> bool:
        with self._lock:  # uncontended in practice; keeps a row from being queued as the writer retires
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                # Started on first use in each process (gunicorn workers fork after the app is created).
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="helpcenter-search-log", daemon=True)
                self._thread.start()
                _writers.add(self)
            try:
                self._queue.put_nowait(item)
                return True
            except queue.Full:
                return False

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=WRITER_IDLE_EXIT)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None  # idle: let go of the database until the next search
                        return
                continue
            batch = [first]
            while len(batch) < WRITE_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write([item for item in batch if item[0] != "flush"])
            except Exception:  # the writer thread must survive anything
                log.exception("search analytics: writing failed")
            for kind, payload in batch:
                if kind == "flush":
                    payload.set()

    def _write(self, batch: list[tuple[str, Any]]) -> None:
        if not batch:
            return
        if time.monotonic() < self._paused_until:
            self._dropped += len(batch)
            return
        try:
            with self.storage.session() as s, s.begin():
                for kind, payload in batch:
                    if kind == "search":
                        s.add(SearchLog(**payload))
                    elif kind == "click":
                        s.flush()
                        self._click(s, *payload)
                    elif kind == "escalated":
                        s.flush()
                        s.execute(update(SearchLog).where(SearchLog.visit_id == payload,
                                                          SearchLog.escalated.is_(False)).values(escalated=True))
        except SQLAlchemyError as exc:
            self._paused_until = time.monotonic() + PAUSE_AFTER_ERROR
            self._dropped += len(batch)
            log.warning("search analytics: writing %d row(s) failed, logging paused for %.0fs: %s",
                        len(batch), PAUSE_AFTER_ERROR, exc)

    @staticmethod
    def _click(s: Session, visit_id: str, key: str, article_id: str, when: dt.datetime) -> None:
        row = s.scalar(select(SearchLog).where(SearchLog.key == key))
        if row is None or row.visit_id != visit_id:
            return  # not this visit's search: nothing to attribute
        shown = json.loads(row.results or "[]")
        if article_id not in shown:
            return
        seen = s.scalar(select(SearchClick.id).where(SearchClick.search_id == row.id,
                                                     SearchClick.article_id == article_id))
        if seen is None:
            s.add(SearchClick(search_id=row.id, article_id=article_id, rank=shown.index(article_id) + 1,
                              created_at=when))


_writers: "weakref.WeakSet[SearchLogger]" = weakref.WeakSet()


@atexit.register
def _flush_all_writers() -> None:
    for writer in list(_writers):
        writer.flush(2.0)


# --- the report -------------------------------------------------------------------------------------


@dataclass
class QueryGroup:
    label: str                       # the group's most frequent query
    searches: int                    # searches in the group
    queries: list[tuple[str, int]]   # (query, searches), most frequent first

    def as_json(self) -> dict[str, Any]:
        return {"label": self.label, "searches": self.searches, "distinct_queries": len(self.queries),
                "examples": [{"query": q, "searches": n} for q, n in self.queries[:EXAMPLES_PER_GROUP]]}


@dataclass
class Report:
    since: dt.date
    until: dt.date
    timezone: str
    summary: dict[str, Any]
    top_queries: list[dict[str, Any]]
    unanswered: list[QueryGroup]
    unhelpful: list[dict[str, Any]]
    escalated_after_reading: list[dict[str, Any]]
    grouping: str = "embedding"      # or "exact" when no embedder could be used
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(), "until": self.until.isoformat(), "timezone": self.timezone,
            "summary": self.summary, "top_queries": self.top_queries,
            "unanswered_groups": [g.as_json() for g in self.unanswered], "grouping": self.grouping,
            "unhelpful_articles": self.unhelpful, "escalated_after_reading": self.escalated_after_reading,
            "notes": self.notes,
        }

    def csv_rows(self) -> list[dict[str, Any]]:
        """One table for every section; see README "Analytics for writers" for the columns."""
        rows: list[dict[str, Any]] = []

        def add(section: str, rank: Any, item: Any, title: str = "", count: Any = "", share: Any = "",
                details: str = "") -> None:
            rows.append({"section": section, "rank": rank, "item": item, "title": title, "count": count,
                         "share": "" if share is None else share, "details": details})

        for key, value in self.summary.items():
            if isinstance(value, float) or value is None:
                add("summary", "", key, share=_round(value))
            else:
                add("summary", "", key, count=value)
        for rank, q in enumerate(self.top_queries, 1):
            add("top_queries", rank, q["query"], count=q["searches"], share=_round(q["confident_share"]),
                details=f"clicks={q['clicks']}")
        for rank, g in enumerate(self.unanswered, 1):
            add("unanswered", rank, g.label, count=g.searches,
                details=" | ".join(f"{q} ({n})" for q, n in g.queries[:EXAMPLES_PER_GROUP]))
        for rank, a in enumerate(self.unhelpful, 1):
            add("unhelpful", rank, a["article"], a["title"], a["no"], _round(a["no_share"]),
                " | ".join(c["comment"] for c in a["comments"]))
        for rank, a in enumerate(self.escalated_after_reading, 1):
            add("escalated_after_reading", rank, a["article"], a["title"], a["escalations"])
        return rows

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, ["section", "rank", "item", "title", "count", "share", "details"],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.csv_rows())
        return buf.getvalue()

    def to_text(self) -> str:
        s = self.summary
        lines = [f"报告 {self.since} – {self.until} ({self.timezone})", ""]
        lines.append(f"搜索 {s['searches']} 次，{s['visits']} 次访问；自助解决率 {_pct(s['deflection_rate'])}"
                     f"（{s['escalated_visits']} 次访问转人工）；有确切答案 {_pct(s['confident_rate'])}；"
                     f"结果点击率 {_pct(s['click_rate'])}")
        lines.append(f"求助 {s['escalations']} 条；文章投票 有帮助 {s['votes_yes']} / 没有帮助 {s['votes_no']}")
        lines += ["", "热门搜索："]
        lines += [f"  {i}. {q['query']}  ×{q['searches']}  确切 {_pct(q['confident_share'])}  点击 {q['clicks']}"
                  for i, q in enumerate(self.top_queries, 1)] or ["  （无）"]
        lines += ["", f"没有确切答案的问题（按意思分组{'' if self.grouping == 'embedding' else '：仅相同文字'}）："]
        for i, g in enumerate(self.unanswered, 1):
            examples = "；".join(f"{q} ×{n}" for q, n in g.queries[:EXAMPLES_PER_GROUP])
            lines.append(f"  {i}. {g.label}  ×{g.searches}（{len(g.queries)} 种问法）：{examples}")
        if not self.unanswered:
            lines.append("  （无）")
        lines += ["", "“没有帮助”最多的文章："]
        for i, a in enumerate(self.unhelpful, 1):
            lines.append(f"  {i}. {a['title'] or a['article']} [{a['article']}]  没有帮助 {a['no']} / 有帮助 {a['yes']}")
            lines += [f"       “{c['comment']}”" for c in a["comments"]]
        if not self.unhelpful:
            lines.append("  （无）")
        lines += ["", "读完后仍联系客服最多的文章："]
        lines += [f"  {i}. {a['title'] or a['article']} [{a['article']}]  {a['escalations']} 条求助"
                  for i, a in enumerate(self.escalated_after_reading, 1)] or ["  （无）"]
        lines += [f"注：{n}" for n in self.notes]
        return "\n".join(lines)


def _round(value: float | None) -> float | str:
    return "" if value is None else round(value, 4)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def date_bounds(since: dt.date, until: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """[since 00:00, until+1 00:00) in ``timezone``, as UTC datetimes."""
    zone = ZoneInfo(timezone)
    start = dt.datetime.combine(since, dt.time(), zone).astimezone(dt.timezone.utc)
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.timezone.utc)
    return start, end


def default_period(timezone: str, days: int = 30, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    today = today or dt.datetime.now(ZoneInfo(timezone)).date()
    return today - dt.timedelta(days=days - 1), today


EmbedderSource = Any  # an Embedder, a zero-argument callable returning one, or None


def group_queries(counts: Sequence[tuple[str, int]], embedder: Any, threshold: float) -> list[QueryGroup]:
    """Greedy clustering by meaning.

    Queries are taken most frequent first; each joins the group whose centroid
    (the normalised mean of its members' vectors) is closest, if the cosine is at
    least ``threshold``, else it starts a new group. The first member, the most
    frequent query, is the group's label. Groups are returned largest first.
    """
    items = sorted(counts, key=lambda qc: (-qc[1], qc[0]))
    if not items:
        return []
    vecs = np.asarray(embedder.encode([q for q, _ in items], "query"), dtype=np.float32)
    sums: list[np.ndarray] = []
    centroids = np.zeros((0, vecs.shape[1]), dtype=np.float32)
    members: list[list[tuple[str, int]]] = []
    for (query, n), vec in zip(items, vecs):
        if len(members):
            sims = centroids @ vec
            best = int(np.argmax(sims))
            if float(sims[best]) >= threshold:
                members[best].append((query, n))
                sums[best] = sums[best] + vec
                centroids[best] = sums[best] / (np.linalg.norm(sums[best]) or 1.0)
                continue
        members.append([(query, n)])
        sums.append(vec.copy())
        centroids = np.vstack([centroids, vec[None, :] / (np.linalg.norm(vec) or 1.0)])
    groups = [QueryGroup(m[0][0], sum(n for _, n in m), m) for m in members]
    return sorted(groups, key=lambda g: (-g.searches, g.label))


def build_report(storage: Storage, embedder: EmbedderSource, since: dt.date, until: dt.date, *,
                 timezone: str = "UTC", threshold: float = 0.89, titles: dict[str, str] | None = None,
                 top: int = 20) -> Report:
    """The writers' report for ``since``..``until`` (whole days in ``timezone``, both included).

    ``embedder`` (the site's, or a callable that loads it) groups the unanswered
    queries by meaning; with None, or when it cannot be loaded, identical
    queries are grouped and the report says so. Database errors
    (``SQLAlchemyError``) reach the caller.
    """
    if until < since:
        raise ValueError(f"--until {until} is before --since {since}")
    start, end = date_bounds(since, until, timezone)
    titles = titles or {}
    in_range = (SearchLog.created_at >= start) & (SearchLog.created_at < end)
    notes: list[str] = []
    with storage.session() as s:
        searches = s.scalar(select(func.count()).select_from(SearchLog).where(in_range)) or 0
        confident = s.scalar(select(func.count()).select_from(SearchLog)
                             .where(in_range, SearchLog.confident.is_(True))) or 0
        visits = s.scalar(select(func.count(distinct(SearchLog.visit_id))).where(in_range)) or 0
        escalated_ids = set(s.scalars(select(SearchLog.visit_id).distinct()
                                      .where(in_range, SearchLog.escalated.is_(True))))
        site_searches = s.scalar(select(func.count()).select_from(SearchLog)
                                 .where(in_range, SearchLog.source == "site")) or 0
        clicked_searches = s.scalar(select(func.count(distinct(SearchClick.search_id)))
                                    .join(SearchLog, SearchLog.id == SearchClick.search_id).where(in_range)) or 0

        top_rows = s.execute(
            select(SearchLog.query, func.count().label("n"),
                   func.sum(case((SearchLog.confident.is_(True), 1), else_=0)))
            .where(in_range).group_by(SearchLog.query).order_by(func.count().desc(), SearchLog.query).limit(top)
        ).all()
        clicks_by_query = dict(s.execute(
            select(SearchLog.query, func.count(distinct(SearchClick.search_id)))
            .join(SearchClick, SearchClick.search_id == SearchLog.id)
            .where(in_range, SearchLog.query.in_([r[0] for r in top_rows])).group_by(SearchLog.query)
        ).all()) if top_rows else {}

        unanswered_counts = [(q, int(n)) for q, n in s.execute(
            select(SearchLog.query, func.count()).where(in_range, SearchLog.confident.is_(False))
            .group_by(SearchLog.query).order_by(func.count().desc(), SearchLog.query)
        ).all()]

        fb_in_range = (Feedback.created_at >= start) & (Feedback.created_at < end)
        votes: dict[str, dict[bool, int]] = defaultdict(lambda: {True: 0, False: 0})
        for article_id, helpful, n in s.execute(select(Feedback.article_id, Feedback.helpful, func.count())
                                                .where(fb_in_range)
                                                .group_by(Feedback.article_id, Feedback.helpful)):
            votes[article_id][bool(helpful)] += int(n)
        comments: dict[str, list[dict[str, str]]] = defaultdict(list)
        for article_id, comment, created in s.execute(
                select(Feedback.article_id, Feedback.comment, Feedback.created_at)
                .where(fb_in_range, Feedback.helpful.is_(False), Feedback.comment.is_not(None),
                       Feedback.comment != "")
                .order_by(Feedback.created_at.desc())):
            if len(comments[article_id]) < COMMENTS_PER_ARTICLE:
                comments[article_id].append({"comment": comment, "created_at": _aware(created).isoformat()})

        escalations = 0
        after_reading: Counter[str] = Counter()
        context_visits: set[str] = set()
        for (context,) in s.execute(select(Escalation.context).where(Escalation.created_at >= start,
                                                                     Escalation.created_at < end)):
            escalations += 1
            try:
                ctx = json.loads(context or "{}")
                read = ctx.get("read") or []
                visit = ctx.get("visit")
            except (ValueError, AttributeError):
                continue
            after_reading.update({a for a in read if isinstance(a, str)})
            if isinstance(visit, str) and visit:
                context_visits.add(visit)
        # Also visits whose searches were not marked (stored from the spool later, or a lost mark).
        pending = sorted(context_visits - escalated_ids)
        for i in range(0, len(pending), 500):
            escalated_ids |= set(s.scalars(select(SearchLog.visit_id).distinct()
                                           .where(in_range, SearchLog.visit_id.in_(pending[i:i + 500]))))
        escalated_visits = len(escalated_ids)

    grouping = "embedding"
    to_group = unanswered_counts[:MAX_GROUPED_QUERIES]
    if len(unanswered_counts) > MAX_GROUPED_QUERIES:
        rest = sum(n for _, n in unanswered_counts[MAX_GROUPED_QUERIES:])
        notes.append(f"只分组了最常见的 {MAX_GROUPED_QUERIES} 种问法；其余 {rest} 次搜索未列出。")
    groups: list[QueryGroup] = []
    if to_group:
        model = None
        try:
            model = embedder() if callable(embedder) and not hasattr(embedder, "encode") else embedder
            if model is not None:
                groups = group_queries(to_group, model, threshold)
        except Exception as exc:  # the report is still useful without the model
            log.error("report: cannot group queries by meaning: %s", exc)
            notes.append(f"嵌入模型不可用，只按相同文字分组：{exc}")
            model = None
        if model is None:
            grouping = "exact"
            groups = [QueryGroup(q, n, [(q, n)]) for q, n in to_group]

    summary = {
        "searches": searches,
        "visits": visits,
        "escalated_visits": escalated_visits,
        "deflection_rate": _share(visits - escalated_visits, visits),
        "confident_rate": _share(confident, searches),
        "click_rate": _share(clicked_searches, site_searches),
        "unanswered_searches": searches - confident,
        "escalations": escalations,
        "votes_yes": sum(v[True] for v in votes.values()),
        "votes_no": sum(v[False] for v in votes.values()),
    }
    top_queries = [{"query": q, "searches": int(n), "confident_share": _share(int(c or 0), int(n)),
                    "clicks": int(clicks_by_query.get(q, 0))} for q, n, c in top_rows]
    unhelpful = [
        {"article": a, "title": titles.get(a, ""), "no": v[False], "yes": v[True],
         "no_share": _share(v[False], v[False] + v[True]), "comments": comments.get(a, [])}
        for a, v in sorted(votes.items(), key=lambda kv: (-kv[1][False], -kv[1][True], kv[0])) if v[False]
    ][:top]
    escalated = [{"article": a, "title": titles.get(a, ""), "escalations": n}
                 for a, n in sorted(after_reading.items(), key=lambda kv: (-kv[1], kv[0]))][:top]
    return Report(since, until, timezone, summary, top_queries, groups[:top], unhelpful, escalated,
                  grouping, notes)
