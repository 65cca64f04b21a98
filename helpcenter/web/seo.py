"""What search engines read: ``sitemap.xml``, ``robots.txt``, structured data, and cheap revalidation.

The sitemap lists each page in every locale that has its own version (an English
URL that would show the 简体 source is canonicalised to it, so it is left out),
with ``hreflang`` alternates and ``lastmod`` from the article's ``updated``.
robots.txt keeps staff pages, the search page, the API and status links out of crawls.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from xml.sax.saxutils import escape, quoteattr

from flask import Blueprint, Response, current_app, request
from flask_babel import gettext

from ..engine.translations import article_view
from .i18n import article_url, locales, page_in

bp = Blueprint("seo", __name__)

PRIVATE = ("/admin", "/search", "/api/", "/requests/", "/locale/", "/contact")


def _base() -> str:
    return current_app.extensions["hc_settings"].public_url.rstrip("/") or request.host_url.rstrip("/")


def article_locales(article: dict, tags: tuple[str, ...]) -> list[str]:
    """The locales whose page of ``article`` is its own text (not the source shown as a fallback)."""
    return [t for t in tags if not article_view(article, t, tags[0])["untranslated"]]


def conditional(resp: Response, changed: str | None) -> Response:
    """An article page a crawler or browser already has costs a 304, not the page again.

    The ETag is the page itself (it holds the visitor's form token and vote state, so it is
    only ever revalidated, never cached as is: ``no-cache``); Last-Modified is the build
    in which the article's content last changed."""
    resp.set_etag(hashlib.sha256(resp.get_data()).hexdigest()[:24])
    if changed:
        resp.last_modified = dt.datetime.fromisoformat(changed)
    resp.cache_control.no_cache = True
    resp.cache_control.private = True
    return resp.make_conditional(request)


@bp.get("/sitemap.xml")
def sitemap():  # type: ignore[no-untyped-def]
    idx = current_app.extensions["hc_searcher"].index()
    locs = locales()
    base = _base() + request.environ.get("helpcenter.root", "")

    def entry(path: str, tags: list[str], lastmod: str = "") -> str:
        links = "".join(f'<xhtml:link rel="alternate" hreflang="{t}" href={quoteattr(base + locs.prefix(t) + path)}/>'
                        for t in tags)
        default = f'<xhtml:link rel="alternate" hreflang="x-default" href={quoteattr(base + path)}/>'
        mod = f"<lastmod>{escape(lastmod)}</lastmod>" if lastmod else ""
        return "".join(f"<url><loc>{escape(base + locs.prefix(t) + path)}</loc>{mod}{links}{default}</url>"
                       for t in tags)

    parts = [entry("/", list(locs.tags))]
    for cat_id in idx.categories:
        parts.append(entry(f"/categories/{cat_id}", list(locs.tags)))
    for art_id, art in idx.articles.items():
        parts.append(entry(f"/articles/{art_id}", article_locales(art, locs.tags), str(art.get("updated") or "")))
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:xhtml="http://www.w3.org/1999/xhtml">' + "".join(parts) + "</urlset>\n")
    return Response(body, mimetype="application/xml")


@bp.get("/robots.txt")
def robots():  # type: ignore[no-untyped-def]
    locs = locales()
    root = request.environ.get("helpcenter.root", "")
    lines = ["User-agent: *"]
    for tag in locs.tags:
        lines += [f"Disallow: {root}{locs.prefix(tag)}{p}" for p in PRIVATE]
    lines.append(f"Sitemap: {_base()}{root}/sitemap.xml")
    return Response("\n".join(lines) + "\n", mimetype="text/plain")


# A title asked as a question: its page is a FAQPage with one answered question.
QUESTION_RE = re.compile(r"[？?]\s*$|怎么|怎樣|怎样|如何|为什么|為什麼|吗|嗎|哪里|哪裡|多久|能不能|是否|^(how|what|why|when|where|can|do|does|is|are|should)\b",
                         re.IGNORECASE)
ANSWER_CHARS = 600


def structured_data(article: dict, category: dict) -> dict:
    """JSON-LD for an article page: ``FAQPage`` where the title is a question, ``Article``
    otherwise, and its ``BreadcrumbList`` (home › category › article)."""
    from flask import url_for
    from markupsafe import Markup

    url = page_in(article["shown_locale"], article_url(article)[len(request.script_root):])
    home = page_in(article["shown_locale"], "/")
    cat_url = page_in(article["shown_locale"], url_for("browse.category", cat_id=category["id"])[len(request.script_root):])
    text = " ".join(Markup(article.get("html", "")).striptags().split())
    if QUESTION_RE.search(article["title"]):
        answer = (article.get("summary", "") + " " + text).strip()[:ANSWER_CHARS]
        main: dict = {"@type": "FAQPage", "@id": url, "inLanguage": article["shown_locale"], "mainEntity": [{
            "@type": "Question", "name": article["title"],
            "acceptedAnswer": {"@type": "Answer", "text": answer, "url": url}}]}
    else:
        main = {"@type": "Article", "@id": url, "headline": article["title"][:110], "inLanguage": article["shown_locale"],
                "description": article.get("summary") or article["title"], "mainEntityOfPage": url}
        if article.get("updated"):
            main["dateModified"] = article["updated"]
    crumbs = {"@type": "BreadcrumbList", "itemListElement": [
        {"@type": "ListItem", "position": i, "name": name, "item": item}
        for i, (name, item) in enumerate(((gettext("首页"), home), (category["name"], cat_url),
                                          (article["title"], url)), 1)]}
    return {"@context": "https://schema.org", "@graph": [main, crumbs]}


@bp.app_context_processor
def _seo_globals() -> dict:
    return {"structured_data": structured_data}
