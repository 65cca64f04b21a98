"""What this visit searched and read, kept in the signed session cookie.

The escalation form is pre-filled from it, so the person does not have to
retell what they already tried, and support sees which articles failed them.
"""

from __future__ import annotations

from typing import Any

from flask import session

KEEP = 10


def _push(key: str, value: str) -> None:
    items = [v for v in session.get(key, []) if v != value]
    session[key] = (items + [value])[-KEEP:]


def record_search(query: str, shown: list[str]) -> None:
    if query.strip():
        session["q"] = query[:200]
        for article_id in shown[:5]:
            _push("shown", article_id)


def record_read(article_id: str) -> None:
    _push("read", article_id)


def record_unhelpful(article_id: str) -> None:
    _push("unhelpful", article_id)


def visit() -> dict[str, Any]:
    from .tracking import VISIT_KEY

    return {
        "visit": session.get(VISIT_KEY, ""),  # random id linking this visit's search analytics
        "query": session.get("q", ""),
        "shown": list(session.get("shown", [])),
        "read": list(session.get("read", [])),
        "unhelpful": list(session.get("unhelpful", [])),
    }
