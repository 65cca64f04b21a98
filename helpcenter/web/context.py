"""What this visit searched and read, kept in the signed session cookie.

The escalation form is pre-filled from it, so the person does not have to
retell what they already tried, and support sees which articles failed them.
"""

from __future__ import annotations

import re
from typing import Any

from flask import session

from ..insights.searchlog import EMAIL_MASK, NUMBER_MASK, mask_personal

PLACEHOLDER_RE = re.compile("|".join(re.escape(m) for m in (EMAIL_MASK, NUMBER_MASK)))

KEEP = 10


def _push(key: str, value: str) -> None:
    items = [v for v in session.get(key, []) if v != value]
    session[key] = (items + [value])[-KEEP:]


def record_search(query: str, shown: list[str]) -> None:
    """The cookie is signed, not encrypted: it keeps the query masked like the search log
    (e-mail addresses and long digit runs), never the phone number someone searched with."""
    if query.strip():
        session["q"] = mask_personal(query[:200])
        for article_id in shown[:5]:
            _push("shown", article_id)


def record_read(article_id: str) -> None:
    _push("read", article_id)


def record_unhelpful(article_id: str) -> None:
    _push("unhelpful", article_id)


def subject_hint(query: str) -> str:
    """The last (masked) search as a subject: the placeholders of masked parts are left out."""
    return " ".join(PLACEHOLDER_RE.sub(" ", query).split())


def visit() -> dict[str, Any]:
    from .tracking import visit_id

    return {
        "visit": visit_id(create=False),  # random id linking this visit's search analytics (or the API client's)
        "query": session.get("q", ""),
        "shown": list(session.get("shown", [])),
        "read": list(session.get("read", [])),
        "unhelpful": list(session.get("unhelpful", [])),
    }
