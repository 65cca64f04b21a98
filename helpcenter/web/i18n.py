"""The reader's locale: from the URL prefix, a remembered choice, or Accept-Language.

The default locale keeps unprefixed URLs, so every link and bookmark made before
locales existed still works and the main audience gets the shortest URLs; the
others live under ``/zh-hant/...``, ``/en/...``. The prefix is moved from the path
into SCRIPT_NAME before Flask routes the request, so one set of routes serves
every locale and ``url_for`` keeps the reader in theirs.
"""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, g, redirect, request
from flask_babel import Babel, gettext, lazy_gettext
from markupsafe import Markup

# Extracted so the default site name (settings.site_name) has a translation in every catalog.
DEFAULT_SITE_NAME = lazy_gettext("帮助中心")

from ..locales import TRANSLATIONS, Locales, gettext_name

COOKIE = "hc_locale"
COOKIE_DAYS = 365
ENVIRON_KEY = "helpcenter.locale"
ROOT_KEY = "helpcenter.root"  # where the app is mounted, without the locale prefix
LABELS = {"zh-Hans": "简体中文", "zh-Hant": "繁體中文", "en": "English"}
# Pages that are never redirected to the remembered or negotiated locale.
NO_REDIRECT = ("/static/", "/brand/", "/api/", "/healthz", "/locale/", "/admin", "/requests/", "/channels/", "/widget")

bp = Blueprint("i18n", __name__)


class LocalePrefix:
    """WSGI middleware: ``/zh-hant/articles/x`` is routed as ``/articles/x`` in zh-Hant."""

    def __init__(self, app: Callable[..., Any], locales: Locales) -> None:
        self.app, self.locales = app, locales

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        segment = path.split("/", 2)[1] if path.startswith("/") else ""
        tag = self.locales.from_prefix(segment) if segment else None
        environ[ROOT_KEY] = environ.get("SCRIPT_NAME", "")
        if tag is not None:
            environ["PATH_INFO"] = path[len(segment) + 1:] or "/"
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/" + segment.lower()
            environ[ENVIRON_KEY] = tag
        return self.app(environ, start_response)


def locales() -> Locales:
    from flask import current_app

    return current_app.extensions["hc_locales"]


def current_locale() -> str:
    return getattr(g, "locale", None) or locales().default


def localized_article(article: dict[str, Any]) -> dict[str, Any]:
    """An article of the index as this reader sees it (helpcenter.engine.translations)."""
    from ..engine.translations import article_view

    return article_view(article, current_locale(), locales().default)


def localized_category(category: dict[str, Any]) -> dict[str, Any]:
    from ..engine.translations import category_view

    return category_view(category, current_locale(), locales().default)


def _choose() -> Any:
    """Before each request: the locale, or a redirect to the reader's own on a first visit."""
    locs = locales()
    tag = request.environ.get(ENVIRON_KEY)
    if tag is not None:
        g.locale = tag
        return None
    g.locale = locs.default
    if request.path.startswith(("/api/", "/widget/api/")):
        # The API has no redirects: ?locale= or the client's Accept-Language.
        asked = request.args.get("locale", "")
        g.locale = locs.match(asked) if asked else None
        g.locale = g.locale or _negotiated(locs) or locs.default
        return None
    if request.method != "GET" or request.path.startswith(NO_REDIRECT):
        return None
    wanted = locs.match(request.cookies.get(COOKIE, "")) if request.cookies.get(COOKIE) else _negotiated(locs)
    if wanted and wanted != locs.default:
        resp = redirect(_root() + locs.prefix(wanted) + _here(), 302)
        resp.headers["Vary"] = "Accept-Language, Cookie"
        return resp
    return None


def _negotiated(locs: Locales) -> str | None:
    if not request.accept_languages:
        return None  # crawlers send none: they get the page they asked for
    return locs.negotiate(list(request.accept_languages))


def _here() -> str:
    """This page's path inside the app (no locale prefix) with its query string."""
    qs = request.query_string.decode("latin-1")
    return request.path + (f"?{qs}" if qs else "")


def page_in(tag: str, path: str | None = None) -> str:
    """Absolute URL of this page (or ``path``) in another locale, for hreflang and canonical links."""
    from flask import current_app

    base = current_app.extensions["hc_settings"].public_url.rstrip("/") or request.host_url.rstrip("/")
    return base + _root() + locales().prefix(tag) + (path if path is not None else request.path)


def _root() -> str:
    return str(request.environ.get(ROOT_KEY, ""))


def _context() -> dict[str, Any]:
    locs, tag = locales(), current_locale()
    here = _here()
    return {
        "locale": tag,
        "locale_label": LABELS.get(tag, tag),
        "locale_choices": [
            {"tag": t, "label": LABELS.get(t, t), "current": t == tag,
             "href": f"{_root()}/locale/{t.lower()}?next={_quote(here)}"}
            for t in locs.tags
        ],
        "alternates": [{"tag": t, "href": page_in(t)} for t in locs.tags],
        "x_default": page_in(locs.default),
        "locale_names": LABELS,
        "long_time": long_time,
        "page_in": page_in,
        "default_locale": locs.default,
        "article_url": article_url,
        "untranslated_lang": untranslated_lang,
        "untranslated_mark": untranslated_mark,
    }


def article_url(article: dict[str, Any]) -> str:
    from flask import url_for

    cat_id, slug = article["id"].split("/", 1)
    return url_for("browse.article", cat_id=cat_id, slug=slug)


def untranslated_lang(article: dict[str, Any]) -> Markup:
    """` lang="zh-Hans"` on text shown in the source's language (screen readers switch voice)."""
    return Markup(' lang="%s"') % article["shown_locale"] if article.get("untranslated") else Markup("")


def untranslated_mark(article: dict[str, Any]) -> Markup:
    """Lists mark an article that has no version in the reader's locale."""
    if not article.get("untranslated"):
        return Markup("")
    return Markup(' <span class="tag untranslated">%s</span>') % gettext("尚无译文")


def long_time(when: Any) -> str:
    """A moment as this reader writes it: 2026年12月03日 18:00, or 03 Dec 2026, 18:00."""
    if current_locale().startswith("zh"):
        return when.strftime("%Y年%m月%d日 %H:%M")
    return when.strftime("%d %b %Y, %H:%M")


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


@bp.get("/locale/<tag>")
def switch(tag: str):  # type: ignore[no-untyped-def]
    """The switcher: remember the choice and show the same page in that locale."""
    locs = locales()
    chosen = locs.from_prefix(tag)
    if chosen is None:
        abort(404)
    nxt = request.args.get("next", "/")
    parts = urlsplit(nxt)
    if parts.scheme or parts.netloc or not nxt.startswith("/") or nxt.startswith("//"):
        nxt = "/"  # only pages of this site
    resp = redirect(_root() + locs.prefix(chosen) + nxt, 303)
    resp.set_cookie(COOKIE, chosen, max_age=COOKIE_DAYS * 86400, samesite="Lax", httponly=True,
                    secure=request.is_secure)
    return resp


def init_i18n(app: Flask, spec: str) -> None:
    locs = Locales.parse(spec)
    app.extensions["hc_locales"] = locs
    app.wsgi_app = LocalePrefix(app.wsgi_app, locs)  # type: ignore[method-assign]
    Babel(app, default_locale=gettext_name(locs.default),
          locale_selector=lambda: gettext_name(current_locale()),
          default_translation_directories=str(TRANSLATIONS))
    app.before_request(_choose)
    app.context_processor(_context)
    app.register_blueprint(bp)
