"""``helpcenter preview``'s part of the site: the banner with this page's findings, and the
live-reload endpoint the open page waits on (helpcenter.engine.preview does the building).

Only registered by the preview command, never on a real site.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request

from ..engine.preview import Preview

bp = Blueprint("preview", __name__)
WAIT_SECONDS = 20.0  # one long poll; the page asks again at once


def init_preview(app: Flask, preview: Preview) -> None:
    app.extensions["hc_preview"] = preview
    adopt = app.extensions["hc_searcher"].handle.adopt
    preview.on_built.append(adopt)
    if preview.cache.live is not None:  # built before the app existed: its builds live in memory only
        adopt(preview.cache.live)
    app.register_blueprint(bp)


def _preview() -> Preview:
    return current_app.extensions["hc_preview"]


@bp.get("/_preview/changes")
def changes():  # type: ignore[no-untyped-def]
    """Answers once the folder was rebuilt after version ``since`` (or after WAIT_SECONDS)."""
    since = request.args.get("since", type=int, default=0)
    state = _preview().wait(since, WAIT_SECONDS)
    resp = jsonify(version=state.version, seconds=state.seconds, changed=state.changed, error=state.error)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.app_context_processor
def _banner() -> dict[str, Any]:
    from flask_babel import get_locale

    preview = _preview()
    state = preview.state
    here = None
    if request.endpoint == "browse.article" and request.view_args:
        article = current_app.extensions["hc_searcher"].index().articles.get(
            f"{request.view_args['cat_id']}/{request.view_args['slug']}")
        here = article
    lang = "en" if str(get_locale() or "").startswith("en") else "zh"
    findings = preview.findings_for(here["path"]) if here else []
    errors = [p for p in state.problems if p.severity == "error"]
    return {"preview": {
        "version": state.version, "seconds": state.seconds, "error": state.error, "changed": state.changed,
        "draft": bool(here and here.get("draft")),
        "findings": [{"where": f"{p.path}:{p.line}" + (f" {p.field}" if p.field else ""), "severity": p.severity,
                      "message": p.message_in(lang)} for p in findings],
        "errors_elsewhere": len([p for p in errors if p not in findings]),
        "changes_url": f"{request.script_root}/_preview/changes",
    }}
