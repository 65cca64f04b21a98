"""Search analytics in the web layer: the visit id, searches, result clicks, escalations.

The visit id is random (no IP, no user agent) and lives in the session cookie,
so it lasts as long as the browser session. API clients that keep no cookies may
pass their own (``X-Visit-Id`` header or ``visit`` parameter), so their searches
and escalations link up; the report counts API searches apart from site visits.
Nothing here may break or slow a page: every problem is logged and swallowed
(see :class:`SearchLogger`).
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from flask import abort, current_app, g, redirect, request, session, url_for
from flask_babel import gettext as _

from ..insights.searchlog import SearchLogger
from .errors import Coded, error_response

log = logging.getLogger(__name__)

VISIT_KEY = "vid"
CLICK_PARAM = "from"
SEARCH_KEY_RE = re.compile(r"[0-9a-f]{16}")
VISIT_HEADER = "X-Visit-Id"
VISIT_PARAM = "visit"
# Letters, digits, - and _ so it is never markup or a query. A client's id is stored as
# "api:<id>", so it can never equal a site visit id (16 hex characters, which this pattern
# accepts) and a client cannot attach its searches or escalation to someone's site visit;
# 4 + 28 fits search_log.visit_id (32).
CLIENT_VISIT_PREFIX = "api:"
CLIENT_VISIT_RE = re.compile(r"[A-Za-z0-9_-]{8,28}")


def client_visit() -> None:
    """Before an API request: take the client's visit id (header or parameter), refusing a malformed one.

    Checked before the request runs, so a bad id is a clear 400 rather than a
    search logged under a visit nobody can find again.
    """
    if not request.path.startswith("/api/"):
        return
    raw = request.headers.get(VISIT_HEADER)
    if raw is None:
        raw = request.args.get(VISIT_PARAM)
    if raw is None:
        return
    if not CLIENT_VISIT_RE.fullmatch(raw.strip()):
        message = Coded("invalid_visit", _("%(header)s / %(param)s 须为 8 到 28 个字母、数字、- 或 _",
                                           header=VISIT_HEADER, param=VISIT_PARAM))
        abort(error_response(400, message, {VISIT_PARAM: [message]}, "invalid_visit"))
    g.hc_client_visit = CLIENT_VISIT_PREFIX + raw.strip()


def counted() -> bool:
    """Whether this request is a reader's: HEAD (uptime checks, link checkers, previews)
    answers like GET but is never a search, a click or a view in the analytics."""
    return request.method != "HEAD"


def visit_id(create: bool = True) -> str:
    """This visit's id: the API client's own ("api:<id>") when it passed one, else the session's
    (made on first use)."""
    client = g.get("hc_client_visit")
    if client:
        return str(client)
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
        from .i18n import current_locale

        return logger().log_search(visit_id(), source, response, current_locale())
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
    if vid and SEARCH_KEY_RE.fullmatch(raw) and counted():
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
