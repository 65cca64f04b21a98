"""What agents' resolutions teach the writers: two sections of the writers' report.

When an agent solves a request they say what solved it (:func:`helpcenter.support.tickets.solve`):
an article of ours, or "no article covers this" with a note. Both are questions search did not
answer on its own, so they are the most direct signal the writers get:

- *answered by agents* (客服人工解答的问题): per linked article, the requests it answered and
  what those people searched and asked. When search had shown them the article, its text did
  not convince; when it had not, the article needs those words (its ``questions``).
- *content gaps* (客服指出的内容缺口): the agents' notes on what is missing, with the question.

The requesters' words are masked like search queries (e-mail addresses, long numbers), as are
the notes: the report goes to writers, who do not see the inbox.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any, Iterable

from .searchlog import mask_personal

QUESTIONS_PER_ARTICLE = 10


def in_period(rows: Iterable[dict[str, Any]], start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """The resolutions solved in [start, end) (``tickets.resolutions`` takes only a start)."""
    out = []
    for row in rows:
        solved = dt.datetime.fromisoformat(row["solved_at"]) if row.get("solved_at") else None
        if solved is not None and start <= solved < end:
            out.append(row)
    return out


def _question(row: dict[str, Any]) -> dict[str, str]:
    return {"query": mask_personal(row.get("query") or ""), "subject": mask_personal(row.get("subject") or "")}


def answered_by_agents(rows: Iterable[dict[str, Any]], titles: dict[str, str], top: int) -> list[dict[str, Any]]:
    """Per article agents linked: how many requests, how many of those people search had shown it
    to, and their questions (newest first), most-linked articles first."""
    by_article: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row.get("resolution") == "article" and row.get("article"):
            by_article[row["article"]].append(row)
    items = []
    for article, solved in by_article.items():
        newest = sorted(solved, key=lambda r: r["solved_at"], reverse=True)
        items.append({"article": article, "title": titles.get(article, ""), "requests": len(solved),
                      "shown_before": sum(1 for r in solved if article in (r.get("shown") or [])),
                      "questions": [_question(r) for r in newest[:QUESTIONS_PER_ARTICLE]]})
    return sorted(items, key=lambda a: (-a["requests"], a["article"]))[:top]


def content_gaps(rows: Iterable[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    """Requests solved with no article, newest first: the agent's note and the question."""
    gaps = [r for r in rows if r.get("resolution") == "no_article"]
    gaps.sort(key=lambda r: r["solved_at"], reverse=True)
    return [{"note": mask_personal(r.get("note") or ""), "category": r.get("category") or "",
             "solved_at": r["solved_at"], **_question(r)} for r in gaps[:top]]


def question_text(q: dict[str, str]) -> str:
    """One question on one line: what they searched, then the subject they wrote."""
    if q["query"] and q["subject"] and q["query"] != q["subject"]:
        return f"{q['query']} / {q['subject']}"
    return q["query"] or q["subject"]


def csv_rows(answered: list[dict[str, Any]], gaps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The two sections as rows of the report's one CSV table (section, rank, item, title, count, share, details)."""
    rows = []
    for rank, a in enumerate(answered, 1):
        rows.append({"section": "answered_by_agents", "rank": rank, "item": a["article"], "title": a["title"],
                     "count": a["requests"], "share": round(a["shown_before"] / a["requests"], 4),
                     "details": " | ".join(question_text(q) for q in a["questions"])})
    for rank, g in enumerate(gaps, 1):
        rows.append({"section": "content_gaps", "rank": rank, "item": g["note"], "title": g["category"],
                     "count": "", "share": "", "details": question_text(g)})
    return rows


def text_lines(answered: list[dict[str, Any]], gaps: list[dict[str, Any]]) -> list[str]:
    lines = ["", "客服人工解答的问题（搜索没能自己解决，客服用这些文章回答了）："]
    for i, a in enumerate(answered, 1):
        lines.append(f"  {i}. {a['title'] or a['article']} [{a['article']}]  {a['requests']} 条求助"
                     f"（其中 {a['shown_before']} 条搜索时曾展示这篇）")
        lines += [f"       {question_text(q)}" for q in a["questions"]]
    if not answered:
        lines.append("  （无）")
    lines += ["", "客服指出的内容缺口（没有文章涵盖）："]
    for i, g in enumerate(gaps, 1):
        lines.append(f"  {i}. {g['note']}  ← {question_text(g)}")
    if not gaps:
        lines.append("  （无）")
    return lines
