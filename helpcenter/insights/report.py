"""The writers' report: where search fails and what people still ask support.

:func:`build_report` turns the search log, the article votes, the escalations and
the agents' resolutions into the report used by ``helpcenter report`` and the
``/admin`` page; the unanswered queries are grouped by meaning with the site's
embedder. The resolutions (requests agents answered with an article, and the
content gaps they named) are :mod:`.resolutions`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Sequence
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import case, distinct, func, select
from sqlalchemy.exc import SQLAlchemyError

from ..db import Escalation, Feedback, SearchClick, SearchLog, as_utc
from ..support import tickets
from ..support.storage import Storage, StorageUnavailable
from . import assistant_report, resolutions

log = logging.getLogger(__name__)

MAX_GROUPED_QUERIES = 2000     # distinct unanswered queries embedded for grouping (most frequent first)
EXAMPLES_PER_GROUP = 5
COMMENTS_PER_ARTICLE = 5


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
    answered_by_agents: list[dict[str, Any]] = field(default_factory=list)  # resolutions.answered_by_agents
    content_gaps: list[dict[str, Any]] = field(default_factory=list)        # resolutions.content_gaps
    assistant: dict[str, Any] = field(default_factory=dict)                 # assistant_report.summary

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(), "until": self.until.isoformat(), "timezone": self.timezone,
            "summary": self.summary, "top_queries": self.top_queries,
            "unanswered_groups": [g.as_json() for g in self.unanswered], "grouping": self.grouping,
            "unhelpful_articles": self.unhelpful, "escalated_after_reading": self.escalated_after_reading,
            "answered_by_agents": self.answered_by_agents, "content_gaps": self.content_gaps,
            "assistant": self.assistant, "notes": self.notes,
        }

    def csv_rows(self) -> list[dict[str, Any]]:
        """One table for every section; see README "Analytics for writers" for the columns."""
        rows: list[dict[str, Any]] = []

        def add(section: str, rank: Any, item: Any, title: str = "", count: Any = "", share: Any = "",
                details: str = "") -> None:
            rows.append({"section": section, "rank": rank, "item": item, "title": title, "count": count,
                         "share": "" if share is None else share, "details": details})

        for key, value in self.summary.items():
            if key == "by_locale":
                for r in value:
                    add("by_locale", "", r["locale"], count=r["searches"], share=_round(r["confident_rate"]))
            elif isinstance(value, float) or value is None:
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
        rows += resolutions.csv_rows(self.answered_by_agents, self.content_gaps)
        return rows + (assistant_report.csv_rows(self.assistant) if self.assistant else [])

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, ["section", "rank", "item", "title", "count", "share", "details"],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in self.csv_rows())
        return buf.getvalue()

    def to_text(self) -> str:
        s = self.summary
        lines = [f"报告 {self.since} – {self.until} ({self.timezone})", ""]
        lines.append(f"搜索 {s['searches']} 次：站内 {s['site_searches']} 次，来自 {s['visits']} 次访问；"
                     f"API 搜索 {s['api_searches']} 次、智能助手 {s['assist_searches']} 次（不计入访问和自助解决率）")
        if len(s.get("by_locale") or []) > 1:
            lines.append("按语言：" + "，".join(f"{r['locale']} {r['searches']} 次（确切 {_pct(r['confident_rate'])}）"
                                              for r in s["by_locale"]))
        lines.append(f"自助解决率 {_pct(s['deflection_rate'])}（{s['escalated_visits']} 次访问转人工）；"
                     f"有确切答案 {_pct(s['confident_rate'])}；结果点击率 {_pct(s['click_rate'])}")
        lines.append(f"求助 {s['escalations']} 条；文章投票 有帮助 {s['votes_yes']} / 没有帮助 {s['votes_no']}")
        lines.append(f"客服解决 {s['solved_with_article'] + s['solved_no_article']} 条：用文章解答 "
                     f"{s['solved_with_article']} 条，没有文章涵盖 {s['solved_no_article']} 条")
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
        lines += resolutions.text_lines(self.answered_by_agents, self.content_gaps)
        lines += assistant_report.text_lines(self.assistant) if self.assistant else []
        lines += [f"注：{n}" for n in self.notes]
        return "\n".join(lines)


def _cell(value: Any) -> Any:
    """Text people typed (queries, subjects, notes) must not become a spreadsheet formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _round(value: float | None) -> float | str:
    return "" if value is None else round(value, 4)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# Reports cover days in this range: beyond it the day bounds cannot be computed in every
# time zone (year 1 minus 8 hours is before year 1), and no log can hold such dates anyway.
FIRST_DAY = dt.date(1970, 1, 1)
LAST_DAY = dt.date(9999, 12, 30)


def period_problem(since: dt.date, until: dt.date) -> str | None:
    """Why ``since``..``until`` cannot be reported on (in Chinese, naming the date), or None.

    The one range rule: the admin page and ``helpcenter report`` refuse with this message
    before building, and :func:`build_report` keeps it as a guard for other callers.
    """
    for day in (since, until):
        if not FIRST_DAY <= day <= LAST_DAY:
            return f"日期超出范围：{day.isoformat()}，报告日期须在 {FIRST_DAY} 至 {LAST_DAY} 之间。"
    return None


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
                 top: int = 20, default_locale: str = "zh-Hans") -> Report:
    """The writers' report for ``since``..``until`` (whole days in ``timezone``, both included).

    ``embedder`` (the site's, or a callable that loads it) groups the unanswered
    queries by meaning; with None, or when it cannot be loaded, identical
    queries are grouped and the report says so. Database errors
    (``SQLAlchemyError``) reach the caller.
    """
    if until < since:
        raise ValueError(f"--until {until} is before --since {since}")
    problem = period_problem(since, until)
    if problem:
        raise ValueError(problem)
    start, end = date_bounds(since, until, timezone)
    titles = titles or {}
    in_range = (SearchLog.created_at >= start) & (SearchLog.created_at < end)
    notes: list[str] = []
    with storage.session() as s:
        searches = s.scalar(select(func.count()).select_from(SearchLog).where(in_range)) or 0
        confident = s.scalar(select(func.count()).select_from(SearchLog)
                             .where(in_range, SearchLog.confident.is_(True))) or 0
        # Visits and deflection count site visits only: a script or app calling the API without
        # cookies would otherwise be a new "self-served visit" on every call.
        on_site = in_range & (SearchLog.source == "site")
        visits = s.scalar(select(func.count(distinct(SearchLog.visit_id))).where(on_site)) or 0
        escalated_ids = set(s.scalars(select(SearchLog.visit_id).distinct()
                                      .where(on_site, SearchLog.escalated.is_(True))))
        site_searches = s.scalar(select(func.count()).select_from(SearchLog).where(on_site)) or 0
        assist_searches = s.scalar(select(func.count()).select_from(SearchLog)
                                   .where(in_range, SearchLog.source == "assist")) or 0
        assistant = assistant_report.summary(s, start, end, top)
        # Searches before locales (NULL) were made in the default locale, the only one then.
        loc = func.coalesce(SearchLog.locale, default_locale)
        by_locale = [{"locale": tag, "searches": int(n), "confident_rate": _share(int(c or 0), int(n))}
                     for tag, n, c in s.execute(
                         select(loc, func.count(), func.sum(case((SearchLog.confident.is_(True), 1), else_=0)))
                         .where(in_range).group_by(loc).order_by(func.count().desc(), loc)).all()]
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
                comments[article_id].append({"comment": comment, "created_at": as_utc(created).isoformat()})

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
                                           .where(on_site, SearchLog.visit_id.in_(pending[i:i + 500]))))
        escalated_visits = len(escalated_ids)

    try:  # requests solved in the period, by what solved them (the agents' learning data)
        solved = resolutions.in_period(tickets.resolutions(storage, start), start, end)
    except StorageUnavailable as exc:  # one kind of database error for the callers
        raise SQLAlchemyError(str(exc)) from exc
    answered = resolutions.answered_by_agents(solved, titles, top)
    gaps = resolutions.content_gaps(solved, top)

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
        "site_searches": site_searches,
        "api_searches": searches - site_searches - assist_searches,
        "assist_searches": assist_searches,
        "visits": visits,
        "escalated_visits": escalated_visits,
        "deflection_rate": _share(visits - escalated_visits, visits),
        "confident_rate": _share(confident, searches),
        "click_rate": _share(clicked_searches, site_searches),
        "unanswered_searches": searches - confident,
        "by_locale": by_locale,
        "escalations": escalations,
        "votes_yes": sum(v[True] for v in votes.values()),
        "votes_no": sum(v[False] for v in votes.values()),
        "solved_with_article": sum(1 for r in solved if r["resolution"] == "article"),
        "solved_no_article": sum(1 for r in solved if r["resolution"] == "no_article"),
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
                  grouping, notes, answered, gaps, assistant)
