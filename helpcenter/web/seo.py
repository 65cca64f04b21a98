"""What search engines read: ``sitemap.xml`` and ``robots.txt``.

The sitemap lists each page in every locale that has its own version (an English
URL that would show the 简体 source is canonicalised to it, so it is left out),
with ``hreflang`` alternates and ``lastmod`` from the article's ``updated``.
robots.txt keeps staff pages, the search page, the API and status links out of crawls.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from flask import Blueprint, Response, current_app, request

from ..engine.translations import article_view
from .i18n import locales

bp = Blueprint("seo", __name__)

PRIVATE = ("/admin", "/search", "/api/", "/requests/", "/locale/", "/contact")


def _base() -> str:
    return current_app.extensions["hc_settings"].public_url.rstrip("/") or request.host_url.rstrip("/")


def article_locales(article: dict, tags: tuple[str, ...]) -> list[str]:
    """The locales whose page of ``article`` is its own text (not the source shown as a fallback)."""
    return [t for t in tags if not article_view(article, t, tags[0])["untranslated"]]


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
