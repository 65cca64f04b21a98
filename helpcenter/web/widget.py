"""The embeddable help widget: ``/widget.js`` for host pages, ``/widget`` for the panel it frames.

A host page adds ``<script src="https://help.example.com/widget.js" async></script>``. The loader
(static/widget.js) draws a "帮助" button and, only when it is clicked, an iframe of ``/widget``
from this site's origin, so the host's CSS and scripts cannot reach the panel. Only the origins
in ``widget_origins`` may frame it: the panel sends ``frame-ancestors`` with exactly those (every
other page keeps ``'none'``), and the two sides check each other's ``postMessage`` origin.

Cookies: inside a third-party iframe browsers increasingly block cookies (Safari, Firefox, and
Chrome for users who turn them off), so the panel uses none. Its writes go to ``/widget/api/*``,
which need no session and no CSRF cookie: they are refused unless they carry the
``X-Helpcenter-Widget`` header, which a page on another site cannot add to a request here
without a CORS preflight this site never grants (OWASP's "custom request header" defence). The
conversation lives in the database (its id is kept by the panel's script), so nothing degrades
when cookies are blocked.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, current_app, g, make_response, render_template, request

from ..config import BRAND_COLOR_RE
from . import api, assist
from .brand import palette
from .i18n import current_locale, locales

bp = Blueprint("widget", __name__)
HEADER = "X-Helpcenter-Widget"


def origins() -> list[str]:
    raw = current_app.extensions["hc_settings"].widget_origins
    return [o.strip().rstrip("/") for o in raw.split(",") if o.strip()]


def csp(allowed: list[str]) -> str:
    from . import CSP

    return CSP.replace("frame-ancestors 'none'", "frame-ancestors " + (" ".join(allowed) or "'none'"))


@bp.get("/widget.js")
def loader() -> Response:
    resp = current_app.send_static_file("widget.js")
    resp.headers["Cache-Control"] = "public, max-age=3600"  # a loader: a new release reaches hosts within an hour
    return resp


@bp.get("/widget")
def panel() -> Response:
    allowed = origins()
    locs = locales()
    g.locale = locs.match(request.args.get("locale", "")) or current_locale()
    host = request.args.get("host", "")
    color = request.args.get("color", "")
    page = render_template(
        "widget.html", host=host if host in allowed else "", question=request.args.get("q", "")[:200],
        palette=json.dumps(palette(color)) if BRAND_COLOR_RE.match(color) else "",
        prefix=locs.prefix(g.locale))
    resp = make_response(page)
    resp.headers["Content-Security-Policy"] = csp(allowed)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _from_panel() -> None:
    if request.headers.get(HEADER) != "1":
        abort(403)


@bp.post("/widget/api/assist")
def assist_api():  # type: ignore[no-untyped-def]
    _from_panel()
    return assist.assist()


@bp.post("/widget/api/escalations")
def escalations_api():  # type: ignore[no-untyped-def]
    _from_panel()
    return api.escalations()
