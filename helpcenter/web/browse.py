"""Home, category and article pages, and the "was this helpful?" vote."""

from __future__ import annotations

from flask import (Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, session,
                   url_for)
from flask_babel import gettext as _

from ..engine.search import Searcher
from ..support.storage import StorageUnavailable
from . import context, limiter, tracking
from .i18n import locales, localized_article, localized_category
from .seo import article_locales, conditional

bp = Blueprint("browse", __name__)


def searcher() -> Searcher:
    return current_app.extensions["hc_searcher"]


@bp.get("/")
def home():  # type: ignore[no-untyped-def]
    idx = searcher().index()
    popular_ids = [a for a in current_app.extensions["hc_storage"].popular(6) if a in idx.articles]
    for cat in idx.categories.values():  # fill up with each category's first article
        if len(popular_ids) >= 6:
            break
        if cat["articles"] and cat["articles"][0] not in popular_ids:
            popular_ids.append(cat["articles"][0])
    popular = [localized_article(idx.articles[a]) for a in popular_ids]
    return render_template("home.html", categories=[localized_category(c) for c in idx.categories.values()],
                           popular=popular, chips=question_chips(popular))


def question_chips(articles: list[dict], limit: int = 5) -> list[dict[str, str]]:
    """Under the big search box: how people ask for the most read articles (each one's first
    question, in the reader's locale when the article has it), one tap runs that search."""
    chips: list[dict[str, str]] = []
    for a in articles:
        asked = (a.get("questions") or [a["title"]])[0]
        if asked not in (c["text"] for c in chips):
            chips.append({"text": asked, "lang": a["shown_locale"] if a.get("untranslated") else ""})
        if len(chips) >= limit:
            break
    return chips


@bp.get("/categories/<cat_id>")
def category(cat_id: str):  # type: ignore[no-untyped-def]
    idx = searcher().index()
    cat = idx.categories.get(cat_id)
    if cat is None:
        abort(404)
    return render_template("category.html", category=localized_category(cat),
                           articles=[localized_article(idx.articles[a]) for a in cat["articles"]])


@bp.get("/categories/<cat_id>/")
@bp.get("/articles/<cat_id>/<slug>/")
def trailing_slash(cat_id: str, slug: str | None = None):  # type: ignore[no-untyped-def]
    """Pasted or hand-typed links often end in "/": send them to the one canonical URL."""
    target = (url_for("browse.article", cat_id=cat_id, slug=slug) if slug is not None
              else url_for("browse.category", cat_id=cat_id))
    query = request.query_string.decode("latin-1")
    return redirect(target + ("?" + query if query else ""), 301)


@bp.get("/articles/<cat_id>/<slug>")
def article(cat_id: str, slug: str):  # type: ignore[no-untyped-def]
    idx = searcher().index()
    art = idx.articles.get(f"{cat_id}/{slug}")
    if art is None:
        abort(404)
    if tracking.CLICK_PARAM in request.args:  # opened from search results: record the click, drop the parameter
        return tracking.click_redirect(art["id"])
    if tracking.counted():  # an uptime check is not a reader
        context.record_read(art["id"])
        current_app.extensions["hc_storage"].count_view(art["id"])
    related = [localized_article(idx.articles[a]) for a in art.get("related", []) if a in idx.articles]
    shown = localized_article(art)
    page = render_template("article.html", article=shown, category=localized_category(idx.categories[art["category"]]),
                           related=related, feedback=request.args.get("feedback", ""),
                           article_locales=article_locales(art, locales().tags))
    return conditional(make_response(page), art.get("changed"))


@bp.post("/articles/<cat_id>/<slug>/feedback")
@limiter.shared_limit(lambda: current_app.extensions["hc_settings"].rate_limit_forms, scope="forms")
def feedback(cat_id: str, slug: str):  # type: ignore[no-untyped-def]
    article_id = f"{cat_id}/{slug}"
    if article_id not in searcher().index().articles:
        abort(404)
    storage = current_app.extensions["hc_storage"]
    helpful = request.form.get("helpful")
    comment = (request.form.get("comment") or "").strip()[:2000]
    here = url_for("browse.article", cat_id=cat_id, slug=slug)
    if helpful not in ("yes", "no", "comment"):
        abort(400)
    try:
        last = session.get("last_vote") or {}
        voted = last.get("article") == article_id and not last.get("helpful")  # a "no" to attach to
        if helpful == "comment" and voted:
            # "What was missing?" after this visit's vote: an empty box is simply no comment.
            if comment:
                voted = storage.add_feedback_comment(int(last["id"]), article_id, comment)
        if helpful in ("yes", "no") or not voted:
            # The box answered without a vote in this session (a ?feedback=no link, a new
            # session): sending it says "not helpful", counted once; a resend edits the comment.
            # With the visit's id (when it has one), so the vote can count for the search that led here.
            session["last_vote"] = {"article": article_id, "helpful": helpful == "yes",
                                    "id": storage.add_feedback(article_id, helpful == "yes", comment,
                                                               tracking.visit_id(create=False) or None)}
    except StorageUnavailable:
        flash(_("反馈暂时无法保存，请稍后再试。"), "error")
        return redirect(here + "#feedback")
    if helpful != "yes":
        context.record_unhelpful(article_id)
        if helpful == "no" and not comment:
            # Ask what was missing (without JavaScript the box appears on reload).
            return redirect(url_for("browse.article", cat_id=cat_id, slug=slug, feedback="no") + "#feedback")
    return redirect(url_for("browse.article", cat_id=cat_id, slug=slug, feedback="done") + "#feedback")
