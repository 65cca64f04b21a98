"""JSON API: search, suggestions, categories, articles, feedback, escalations.

Errors are JSON: ``{"error": message, "status": code, "fields": {name: [messages]}}``.
POST endpoints need the CSRF token (header ``X-CSRFToken``) from ``GET /api/csrf``.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify, request
from flask_wtf.csrf import generate_csrf
from werkzeug.datastructures import MultiDict

from ..support.storage import StorageUnavailable
from . import context, limiter, tracking
from .escalate import EscalationForm, Queued, expected_reply, submit

bp = Blueprint("api", __name__, url_prefix="/api")


# One budget per client for all API reads, and one for everything that writes.
api_limit = limiter.shared_limit(lambda: current_app.extensions["hc_settings"].rate_limit_api, scope="api")
form_limit = limiter.shared_limit(lambda: current_app.extensions["hc_settings"].rate_limit_forms, scope="forms")


def _error(status: int, message: str, fields: dict[str, list[str]] | None = None) -> Response:
    body: dict[str, object] = {"error": message, "status": status}
    if fields:
        body["fields"] = fields
    resp = jsonify(body)
    resp.status_code = status
    return resp


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        abort(_error(400, f"{name} must be a whole number", {name: ["must be a whole number"]}))
    return max(lo, min(hi, value))


@bp.get("/csrf")
def csrf_token():  # type: ignore[no-untyped-def]
    return jsonify({"csrf_token": generate_csrf()})


@bp.get("/search")
@api_limit
def search():  # type: ignore[no-untyped-def]
    q = request.args.get("q", "")
    k = _int_arg("k", 5, 1, 50)
    if not q.strip():
        return _error(400, "q is required", {"q": ["required"]})
    response = current_app.extensions["hc_searcher"].search(q, k)
    context.record_search(q, [h.id for h in response.results])
    tracking.log_search(response, "api")
    return jsonify(response.as_json())


@bp.get("/suggest")
@api_limit
def suggest():  # type: ignore[no-untyped-def]
    q = request.args.get("q", "")
    if len(q.strip()) < 2:
        return jsonify({"query": q, "suggestions": []})
    response = current_app.extensions["hc_searcher"].search(q, 5)
    return jsonify({"query": q, "confident": response.confident, "suggestions": [
        {"id": h.id, "title": h.title, "category": h.category_name, "url": f"/articles/{h.id}",
         "snippet": h.snippet} for h in response.results]})


@bp.get("/categories")
@api_limit
def categories():  # type: ignore[no-untyped-def]
    idx = current_app.extensions["hc_searcher"].index()
    return jsonify({"categories": [
        {"id": c["id"], "name": c["name"], "description": c["description"],
         "articles": [{"id": a, "title": idx.articles[a]["title"], "summary": idx.articles[a]["summary"]}
                      for a in c["articles"]]}
        for c in idx.categories.values()]})


@bp.get("/articles/<cat_id>/<slug>")
@api_limit
def article(cat_id: str, slug: str):  # type: ignore[no-untyped-def]
    idx = current_app.extensions["hc_searcher"].index()
    art = idx.articles.get(f"{cat_id}/{slug}")
    if art is None:
        return _error(404, "no such article")
    keys = ("id", "category", "title", "summary", "tags", "updated", "html", "toc", "related")
    return jsonify({k: art.get(k) for k in keys})


@bp.post("/feedback")
@form_limit
def feedback():  # type: ignore[no-untyped-def]
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _error(400, "expected a JSON object")
    article_id, helpful = data.get("article"), data.get("helpful")
    comment = data.get("comment")
    fields: dict[str, list[str]] = {}
    if not isinstance(article_id, str) or article_id not in current_app.extensions["hc_searcher"].index().articles:
        fields["article"] = ["unknown article"]
    if not isinstance(helpful, bool):
        fields["helpful"] = ["must be true or false"]
    if comment is not None and (not isinstance(comment, str) or len(comment) > 2000):
        fields["comment"] = ["must be text of at most 2000 characters"]
    if fields:
        return _error(400, "invalid feedback", fields)
    try:
        current_app.extensions["hc_storage"].add_feedback(article_id, helpful, comment)
    except StorageUnavailable:
        return _error(503, "feedback cannot be stored right now; try again later")
    if not helpful:
        context.record_unhelpful(article_id)
    return jsonify({"ok": True}), 201


@bp.post("/escalations")
@form_limit
def escalations():  # type: ignore[no-untyped-def]
    if request.is_json:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return _error(400, "expected a JSON object")
        formdata = MultiDict({k: v for k, v in data.items() if isinstance(v, str)})
        files = []
    else:
        formdata = request.form
        files = request.files.getlist("screenshots")
    form = EscalationForm(formdata=formdata, meta={"csrf": False})  # checked globally by CSRFProtect
    try:
        esc, errors = submit(form, files, context.visit())
    except StorageUnavailable:  # neither the database nor the spool took it
        return _error(503, "the request cannot be stored right now; nothing was saved, please retry")
    if esc is None:
        return _error(400, "invalid request", errors)
    queued = isinstance(esc, Queued)  # spooled while the database is down: stored once it is back
    return jsonify({"reference": esc.reference, "expected_reply_by": expected_reply(esc.created_at).isoformat(),
                    "queued": queued}), 202 if queued else 201
