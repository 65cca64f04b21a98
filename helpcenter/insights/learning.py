"""Search learns from use: the questions people ask in their own words that an article answers.

When people search "密码想不起来了", open 忘记密码怎么重置 from the results and say it helped,
the article answers that question, whatever words it uses itself. This module turns the search
log, the article votes and the agents' resolutions into *evidence* per (query, article); pairs
with enough of it are *candidates*, which writers accept or block (``/admin``, ``helpcenter
learn``), and :func:`learned_questions` tells the next index build which pairs to add as
passages of the article (``learning``: ``reviewed``, ``auto`` or ``off``).

Evidence is counted per *visit* (the search log's random visit id; an API client's
``api:<id>`` counts like a site visit), at most once per (visit, query, article), so one client
repeating a search and a click a thousand times counts as one visit:

- a click on the article from a search with that query: +1;
- the visit also voted "有帮助" on the article (its latest vote): +2 instead;
- the visit ended in an escalation (``search_log.escalated``) or voted "没有帮助": -1 instead
  (the conservative reading: teaching search a wrong answer costs more than a missed one).

Each contribution halves every ``half_life_days`` (people's behaviour under last year's articles
says little about today's). A request an agent solved with article X, whose context query was Q,
adds +3 to (Q, X) and does not fade: it is a person's considered judgement, like a writer's
acceptance, and a writer can still block it. A candidate needs a score of at least ``threshold``
*and* at least ``min_visits`` distinct visits that counted for it, unless an agent linked it, so
a few visits from one person cannot teach search anything on their own.

The other way round, an article that keeps failing a query is *demoted* for it: evidence of at
most ``-threshold`` from at least ``min_visits`` distinct visits against it, with no agent link
and no writer's acceptance (:func:`demotions`). The build stores those queries with the index,
and search lowers the article's score for them and their paraphrases, within limits
(``helpcenter.engine.demotion``). Accepting the pair lifts its demotion.

Privacy: ``learned_questions`` holds only the normalised query with e-mail addresses and long
numbers masked (exactly as the search log holds it), the article id and the writer's decision
(who, when). No visit id, no time of any search, nothing about the people who asked. Evidence
is computed when asked and never stored.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable

import yaml
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..db import Feedback, LearnedQuestion, SearchClick, SearchLog, as_utc, utcnow
from ..support import tickets
from ..support.storage import Storage, StorageUnavailable
from .searchlog import MAX_QUERY_CHARS, mask_personal

MODES = ("reviewed", "auto", "off")
STATUSES = ("accepted", "blocked")
MIN_VISITS = 2
CLICK, HELPFUL, AGAINST, AGENT = 1.0, 2.0, -1.0, 3.0
HORIZON_HALF_LIVES = 12  # older visits weigh under 1/4000 of a fresh one: not even read
BATCH = 500              # visit ids per IN (...) query
SLACK = 1e-3             # an hour's fading (0.99998 of a point) must not cost a pair its threshold

Normaliser = Callable[[str], str]


@dataclass
class Evidence:
    query: str               # normalised and masked, as the search log holds it
    article: str
    score: float
    visits: int              # distinct visits that counted, either way
    positive_visits: int
    negative_visits: int
    agent_links: int         # requests agents solved with the article after this search
    status: str | None = None  # the writers' decision: "accepted", "blocked" or None (undecided)

    def as_json(self) -> dict[str, Any]:
        return dict(asdict(self), score=round(self.score, 4))


@dataclass
class Decision:
    query: str
    article: str
    status: str
    decided_by: str
    decided_at: dt.datetime

    def as_json(self) -> dict[str, Any]:
        return dict(asdict(self), decided_at=self.decided_at.isoformat())


def query_key(text: str, normalise: Normaliser | None = None) -> str:
    """``text`` the way the search log stores a query: normalised (by ``normalise``, the engine's
    normaliser, which this wing may not import; without it only spaces are tidied), then masked."""
    text = normalise(text) if normalise is not None else " ".join(text.split())
    return mask_personal(text)[:MAX_QUERY_CHARS]


def yaml_line(query: str) -> str:
    """The line a writer could add to the article's ``questions`` instead (quoted where YAML needs it)."""
    return "  " + yaml.safe_dump([query], allow_unicode=True, default_flow_style=False, width=10**6).strip()


def _decay(when: dt.datetime | None, now: dt.datetime, half_life_days: float) -> float:
    if when is None:
        return 1.0
    age_days = max((now - as_utc(when)).total_seconds(), 0.0) / 86400.0  # type: ignore[operator]
    return float(0.5 ** (age_days / half_life_days))


def _batches(items: Iterable[str]) -> Iterable[list[str]]:
    ordered = sorted(items)
    for i in range(0, len(ordered), BATCH):
        yield ordered[i:i + BATCH]


def _visit_contributions(s: Any, since: dt.datetime) -> dict[tuple[str, str, str], tuple[float, dt.datetime]]:
    """(visit, query, article) -> (its one contribution, the latest click), for clicks since ``since``."""
    latest: dict[tuple[str, str, str], dt.datetime] = {}
    for visit, query, article, when in s.execute(
            select(SearchLog.visit_id, SearchLog.query, SearchClick.article_id, SearchClick.created_at)
            .join(SearchLog, SearchLog.id == SearchClick.search_id).where(SearchClick.created_at >= since)):
        if not visit or not query:
            continue
        key = (visit, query, article)
        when = as_utc(when)
        if key not in latest or when > latest[key]:
            latest[key] = when
    visits = {v for v, _, _ in latest}
    escalated: set[str] = set()
    votes: dict[tuple[str, str], bool] = {}  # (visit, article) -> the visit's latest vote
    for chunk in _batches(visits):
        escalated.update(s.scalars(select(SearchLog.visit_id).distinct()
                                   .where(SearchLog.visit_id.in_(chunk), SearchLog.escalated.is_(True))))
        for visit, article, helpful in s.execute(
                select(Feedback.visit_id, Feedback.article_id, Feedback.helpful)
                .where(Feedback.visit_id.in_(chunk)).order_by(Feedback.created_at, Feedback.id)):
            votes[(visit, article)] = bool(helpful)
    out = {}
    for (visit, query, article), when in latest.items():
        vote = votes.get((visit, article))
        if visit in escalated or vote is False:
            value = AGAINST
        elif vote is True:
            value = HELPFUL
        else:
            value = CLICK
        out[(visit, query, article)] = (value, when)
    return out


def evidence(storage: Storage, now: dt.datetime | None = None, half_life_days: float = 30.0, *,
             normalise: Normaliser | None = None) -> list[Evidence]:
    """Every (query, article) with evidence, highest score first (see the module doc for the rules).

    ``normalise`` brings the agents' requests' queries (kept as typed, masked) to the search log's
    form; pass the engine's normaliser. Database errors reach the caller as ``SQLAlchemyError``.
    """
    if not half_life_days > 0:
        raise ValueError(f"half_life_days must be more than 0, got {half_life_days}")
    now = as_utc(now) or utcnow()
    since = now - dt.timedelta(days=half_life_days * HORIZON_HALF_LIVES)
    try:
        storage.ensure_schema()
        with storage.session() as s:
            contributions = _visit_contributions(s, since)
        solved = tickets.resolutions(storage)
    except StorageUnavailable as exc:  # one kind of database error for the callers, as in the report
        raise SQLAlchemyError(str(exc)) from exc
    score: dict[tuple[str, str], float] = defaultdict(float)
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # visits, +, -, agents
    for (_visit, query, article), (value, when) in contributions.items():
        pair = (query, article)
        score[pair] += value * _decay(when, now, half_life_days)
        c = counts[pair]
        c[0] += 1
        c[1 if value > 0 else 2] += 1
    for row in solved:
        if row.get("resolution") != "article" or not row.get("article"):
            continue
        query = query_key(str(row.get("query") or ""), normalise)
        if query:
            score[(query, row["article"])] += AGENT
            counts[(query, row["article"])][3] += 1
    items = [Evidence(q, a, score[(q, a)], *counts[(q, a)]) for q, a in counts]
    return sorted(items, key=lambda e: (-e.score, e.query, e.article))


def decisions(storage: Storage, status: str | None = None) -> list[Decision]:
    """The writers' decisions (``status``: only those), newest first."""
    query = select(LearnedQuestion).order_by(LearnedQuestion.decided_at.desc(), LearnedQuestion.id.desc())
    if status is not None:
        query = query.where(LearnedQuestion.status == status)
    try:
        storage.ensure_schema()
    except StorageUnavailable as exc:
        raise SQLAlchemyError(str(exc)) from exc
    with storage.session() as s:
        return [Decision(r.query, r.article_id, r.status, r.decided_by, as_utc(r.decided_at))  # type: ignore[arg-type]
                for r in s.scalars(query)]


def candidates(storage: Storage, threshold: float = 3.0, *, min_visits: int = MIN_VISITS,
               now: dt.datetime | None = None, half_life_days: float = 30.0,
               normalise: Normaliser | None = None) -> list[Evidence]:
    """Evidence scoring at least ``threshold`` with ``min_visits`` positive visits (or an agent's
    link), never a blocked pair; each with its ``status`` ("accepted" or None), highest first."""
    decided = {(d.query, d.article): d.status for d in decisions(storage)}
    out = []
    for item in evidence(storage, now, half_life_days, normalise=normalise):
        status = decided.get((item.query, item.article))
        if status == "blocked" or item.score < threshold - SLACK:
            continue
        if item.positive_visits < min_visits and not item.agent_links:
            continue
        item.status = status
        out.append(item)
    return out


def decide(storage: Storage, query: str, article: str, status: str, staff_email: str, *,
           normalise: Normaliser | None = None) -> Decision:
    """Accept or block (query, article), replacing an earlier decision on it. ``query`` is brought to
    the search log's form (``normalise``, then masked): a candidate's query stays what it was."""
    if status not in STATUSES:
        raise ValueError(f"status must be accepted or blocked, not {status!r}")
    key, article = query_key(query, normalise), article.strip()
    if not key or not article:
        raise ValueError("a decision needs a query and an article")
    if not staff_email.strip():
        raise ValueError("a decision needs who made it")
    when = utcnow()
    try:
        storage.ensure_schema()
    except StorageUnavailable as exc:
        raise SQLAlchemyError(str(exc)) from exc
    for attempt in (1, 2):  # two writers deciding the same new pair at once: the second updates
        try:
            with storage.session() as s, s.begin():
                row = s.scalar(select(LearnedQuestion).where(LearnedQuestion.query == key,
                                                             LearnedQuestion.article_id == article))
                if row is None:
                    s.add(LearnedQuestion(query=key, article_id=article, status=status,
                                          decided_by=staff_email.strip()[:254], decided_at=when))
                else:
                    row.status, row.decided_by, row.decided_at = status, staff_email.strip()[:254], when
            break
        except IntegrityError:
            if attempt == 2:
                raise
    return Decision(key, article, status, staff_email.strip()[:254], when)


def learned_questions(storage: Storage, mode: str, threshold: float = 3.0, *, min_visits: int = MIN_VISITS,
                      now: dt.datetime | None = None, half_life_days: float = 30.0,
                      normalise: Normaliser | None = None) -> list[tuple[str, str]]:
    """The (article_id, query) pairs the next build adds as passages, sorted.

    ``mode`` (the ``learning`` setting): "reviewed": the accepted pairs; "auto": those and every
    candidate, minus the blocked; "off": none (the database is not even read).
    """
    if mode not in MODES:
        raise ValueError(f"learning mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "off":
        return []
    pairs = {(d.article, d.query) for d in decisions(storage, "accepted")}
    if mode == "auto":  # candidates are never blocked
        pairs |= {(c.article, c.query) for c in candidates(storage, threshold, min_visits=min_visits, now=now,
                                                           half_life_days=half_life_days, normalise=normalise)}
    return sorted(pairs)


def demotions(storage: Storage, threshold: float = 3.0, *, min_visits: int = MIN_VISITS,
              now: dt.datetime | None = None, half_life_days: float = 30.0,
              normalise: Normaliser | None = None) -> list[Evidence]:
    """(query, article) pairs the article keeps failing, most negative first: a score of at most
    ``-threshold`` from at least ``min_visits`` visits against it. Never a pair an agent linked
    or a writer accepted: a person judged that the article answers."""
    accepted = {(d.query, d.article) for d in decisions(storage, "accepted")}
    out = [item for item in evidence(storage, now, half_life_days, normalise=normalise)
           if item.score <= -threshold + SLACK and item.negative_visits >= min_visits and not item.agent_links
           and (item.query, item.article) not in accepted]
    return sorted(out, key=lambda e: (e.score, e.query, e.article))


def demotion_strength(item: Evidence, threshold: float) -> float:
    """0-1: how hard search demotes; full at twice the threshold's worth of evidence against."""
    return min(1.0, -item.score / (2 * threshold))


def demoted_questions(storage: Storage, mode: str, threshold: float = 3.0, *, min_visits: int = MIN_VISITS,
                      now: dt.datetime | None = None, half_life_days: float = 30.0,
                      normalise: Normaliser | None = None) -> list[tuple[str, str, float]]:
    """The (article_id, query, strength) demotions the next build stores, sorted. Applied in
    ``auto`` and ``reviewed`` mode alike (they only lower a rank, within limits, and a writer's
    acceptance lifts them); none when learning is ``off``."""
    if mode not in MODES:
        raise ValueError(f"learning mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "off":
        return []
    return sorted((d.article, d.query, round(demotion_strength(d, threshold), 4))
                  for d in demotions(storage, threshold, min_visits=min_visits, now=now,
                                     half_life_days=half_life_days, normalise=normalise))
