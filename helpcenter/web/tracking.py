"""Search analytics in the web layer: the visit id, searches, result clicks, escalations.

The visit id is random (no IP, no user agent) and lives in the session cookie,
so it lasts as long as the browser session. Nothing here may break or slow a
page: every problem is logged and swallowed (see :class:`SearchLogger`).
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from flask import current_app, redirect, request, session, url_for

from ..insights.searchlog import SearchLogger

log = logging.getLogger(__name__)

VISIT_KEY = "vid"
CLICK_PARAM = "from"
SEARCH_KEY_RE = re.compile(r"[0-9a-f]{16}")


def visit_id(create: bool = True) -> str:
    vid = session.get(VISIT_KEY)
    if not (isinstance(vid, str) and vid) and create:
        vid = secrets.token_hex(8)
        session[VISIT_KEY] = vid
    return vid if isinstance(vid, str) else ""


def logger() -> SearchLogger:
    ext = current_app.extensions
    if "hc_search_log" not in ext:
        ext["hc_search_log"] = SearchLogger(ext["hc_storage"])
    return ext["hc_search_log"]


def log_search(response: Any, source: str) -> str | None:
    """Log a search made on the site ("site") or through the API ("api"); returns its key for ``?from=``."""
    try:
        return logger().log_search(visit_id(), source, response)
    except Exception:  # analytics must never cost a search
        log.exception("search analytics: logging a search failed")
        return None


def click_redirect(article_id: str) -> Any:
    """Record a click on a search result (``?from=<search key>``), then redirect to the clean URL.

    The browser keeps the ``#section`` fragment across the redirect. Clicks are
    only attributed to searches of the same visit.
    """
    raw = request.args.get(CLICK_PARAM, "")
    vid = visit_id(create=False)
    if vid and SEARCH_KEY_RE.fullmatch(raw):
        try:
            logger().log_click(vid, raw, article_id)
        except Exception:
            log.exception("search analytics: logging a click failed")
    args = {k: v for k, v in request.args.lists() if k != CLICK_PARAM}
    return redirect(url_for(request.endpoint or "browse.home", **(request.view_args or {}), **args))


def mark_escalated(visit: dict[str, Any] | None = None) -> None:
    """An escalation was stored from this visit: mark the visit's searches."""
    vid = (visit or {}).get("visit") or visit_id(create=False)
    if not vid:
        return
    try:
        logger().mark_escalated(vid)
    except Exception:
        log.exception("search analytics: marking an escalation failed")
