"""The search results page (shareable URL: /search?q=...)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from . import context, limiter, tracking
from .i18n import current_locale

bp = Blueprint("search", __name__)


@bp.get("/search")
@limiter.shared_limit(lambda: current_app.extensions["hc_settings"].rate_limit_api, scope="api")
def results():  # type: ignore[no-untyped-def]
    query = request.args.get("q", "")
    if not query.strip():
        return render_template("search.html", query="", response=None, empty=True)
    response = current_app.extensions["hc_searcher"].search(query, 10, locale=current_locale())
    search_id = None
    if tracking.counted():  # HEAD (an uptime check) answers the same but is no visitor's search
        context.record_search(query, [h.id for h in response.results])
        search_id = tracking.log_search(response, "site")  # result links carry it: ?from=<id>
    return render_template("search.html", query=query, response=response, empty=False, search_id=search_id,
                           max_chars=current_app.extensions["hc_settings"].max_query_chars)
