"""JSON API: search, suggestions, categories, articles, feedback, escalations.

Every error, here and from the app's handlers (404, 405, 413, 429 ... under /api/), is one shape:
``{"error": 说明, "code": machine code, "status": n, "fields": {name: [说明]},
"errors": [{"field", "code", "message"}]}``: people read the text, in the request's locale
(``?locale=`` or Accept-Language, Simplified Chinese by default) like the site's; programs branch
on the codes, which never change (documented in openapi.yaml); ``fields`` keeps its old shape.
POST endpoints need the CSRF token (header ``X-CSRFToken``) from ``GET /api/csrf``.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify, request
from flask_babel import gettext as _, lazy_gettext as _l
from flask_wtf.csrf import generate_csrf
from werkzeug.datastructures import MultiDict

from ..support.storage import StorageUnavailable
from . import context, limiter, tracking
from .i18n import current_locale, locales, localized_article, localized_category
from .errors import Coded, error_response
from .escalate import FIELD_ORDER, EscalationForm, Queued, expected_reply, submit

bp = Blueprint("api", __name__, url_prefix="/api")


# One budget per client for all API reads, and one for everything that writes.
api_limit = limiter.shared_limit(lambda: current_app.extensions["hc_settings"].rate_limit_api, scope="api")
form_limit = limiter.shared_limit(lambda: current_app.extensions["hc_settings"].rate_limit_forms, scope="forms")


INVALID_FIELDS = _l("请求中有字段不正确，详见 fields。")


def _invalid(fields: dict[str, list[str]]) -> Response:
    return error_response(400, str(INVALID_FIELDS), fields, "invalid_fields")


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        abort(_invalid({name: [Coded("not_an_integer", _("%(name)s 必须是整数", name=name))]}))
    return max(lo, min(hi, value))


def _json_object() -> dict | Response:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return error_response(400, _("请求体必须是 JSON 对象（Content-Type: application/json）。"), code="invalid_json")
    return data


def _form_fields(data: dict) -> tuple[MultiDict, dict[str, list[str]]]:
    """JSON values for the form: text as is, numbers as their text ("order_number": 12345 is
    "12345"), null as absent; anything else, and unknown names, is refused: never dropped."""
    known = set(FIELD_ORDER) - {"screenshots"}  # files come as multipart only
    out: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for key, value in data.items():
        if key == "csrf_token":
            continue
        if key not in known:
            errors[key] = [Coded("unknown_field", _("未知字段 %(name)s", name=key))]
        elif isinstance(value, str):
            out[key] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = str(value) if isinstance(value, int) or not value.is_integer() else str(int(value))
        elif value is not None:
            errors[key] = [Coded("wrong_type", _("应为文本（字符串或数字）"))]
    return MultiDict(out), errors


@bp.get("/csrf")
def csrf_token():  # type: ignore[no-untyped-def]
    return jsonify({"csrf_token": generate_csrf()})


@bp.get("/search")
@api_limit
def search():  # type: ignore[no-untyped-def]
    q = request.args.get("q", "")
    k = _int_arg("k", 5, 1, 50)
    if not q.strip():
        return _invalid({"q": [Coded("required", _("请输入要搜索的问题（q）"))]})
    response = current_app.extensions["hc_searcher"].search(q, k, locale=current_locale())
    if tracking.counted():  # HEAD (an uptime check) answers the same but is no visitor's search
        context.record_search(q, [h.id for h in response.results])
        tracking.log_search(response, "api")
    return jsonify(response.as_json())


@bp.get("/suggest")
@api_limit
def suggest():  # type: ignore[no-untyped-def]
    q = request.args.get("q", "")
    if len(q.strip()) < 2:
        return jsonify({"query": q, "suggestions": []})
    response = current_app.extensions["hc_searcher"].search(q, 5, locale=current_locale())
    return jsonify({"query": q, "confident": response.confident, "suggestions": [
        {"id": h.id, "title": h.title, "category": h.category_name, "url": _page(h.id),
         "snippet": h.snippet, "locale": h.locale, "untranslated": h.untranslated} for h in response.results]})


def _page(article_id: str) -> str:
    """The article's page in the reader's locale (the API itself is not prefixed)."""
    return locales().prefix(current_locale()) + f"/articles/{article_id}"


@bp.get("/categories")
@api_limit
def categories():  # type: ignore[no-untyped-def]
    idx = current_app.extensions["hc_searcher"].index()
    out = []
    for c in map(localized_category, idx.categories.values()):
        shown = [localized_article(idx.articles[a]) for a in c["articles"]]
        out.append({"id": c["id"], "name": c["name"], "description": c["description"],
                    "articles": [{"id": a["id"], "title": a["title"], "summary": a["summary"],
                                  "locale": a["shown_locale"], "untranslated": a["untranslated"]} for a in shown]})
    return jsonify({"locale": current_locale(), "categories": out})


@bp.get("/articles/<cat_id>/<slug>")
@api_limit
def article(cat_id: str, slug: str):  # type: ignore[no-untyped-def]
    idx = current_app.extensions["hc_searcher"].index()
    art = idx.articles.get(f"{cat_id}/{slug}")
    if art is None:
        return error_response(404, _("没有这篇文章。"), code="not_found")
    shown = localized_article(art)
    keys = ("id", "category", "title", "summary", "tags", "updated", "html", "toc", "related")
    return jsonify({**{k: shown.get(k) for k in keys}, "locale": shown["shown_locale"],
                    "untranslated": shown["untranslated"], "stale": bool(shown.get("stale"))})


@bp.post("/feedback")
@form_limit
def feedback():  # type: ignore[no-untyped-def]
    data = _json_object()
    if isinstance(data, Response):
        return data
    article_id, helpful = data.get("article"), data.get("helpful")
    comment = data.get("comment")
    fields: dict[str, list[str]] = {}
    if not isinstance(article_id, str) or article_id not in current_app.extensions["hc_searcher"].index().articles:
        fields["article"] = [Coded("unknown_article", _("没有这篇文章"))]
    if not isinstance(helpful, bool):
        fields["helpful"] = [Coded("wrong_type", _("必须是 true 或 false"))]
    if comment is not None and not isinstance(comment, str):
        fields["comment"] = [Coded("wrong_type", _("应为文本"))]
    elif comment is not None and len(comment) > 2000:
        fields["comment"] = [Coded("too_long", _("最多 %(n)s 个字", n=2000))]
    if fields:
        return _invalid(fields)
    try:
        # Tied to the client's visit (X-Helpcenter-Visit / ?visit=) when it passed one, so the vote
        # counts for the search that led to the article, as on the site.
        current_app.extensions["hc_storage"].add_feedback(article_id, helpful, comment,
                                                          tracking.visit_id(create=False) or None)
    except StorageUnavailable:
        return error_response(503, _("暂时无法保存反馈，请稍后再试。"), code="storage_unavailable")
    if not helpful:
        context.record_unhelpful(article_id)
    return jsonify({"ok": True}), 201


@bp.post("/escalations")
@form_limit
def escalations():  # type: ignore[no-untyped-def]
    type_errors: dict[str, list[str]] = {}
    if request.is_json:
        data = _json_object()
        if isinstance(data, Response):
            return data
        formdata, type_errors = _form_fields(data)
        files = []
    else:
        formdata = request.form
        files = request.files.getlist("screenshots")
    form = EscalationForm(formdata=formdata, meta={"csrf": False})  # checked globally by CSRFProtect
    # With type errors nothing is stored; the other fields are still checked, to say everything at once.
    outcome = submit(form, files, context.visit(), extra_errors=type_errors)
    if outcome.esc is None and not outcome.outage:
        return _invalid(outcome.errors)
    if outcome.outage:  # neither the database nor the spool took it
        return error_response(503, _("暂时无法保存您的请求，没有保存任何内容，请稍后重试。"),
                              code="storage_unavailable")
    esc = outcome.esc
    queued = isinstance(esc, Queued)  # spooled while the database is down: stored once it is back
    return jsonify({"reference": esc.reference, "expected_reply_by": expected_reply(esc.created_at).isoformat(),
                    "queued": queued}), 202 if queued else 201
