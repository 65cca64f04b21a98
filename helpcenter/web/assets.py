"""Article images, served from the live build under their content-hashed names.

A name changes whenever the image does, so browsers may keep each one for a year
without asking again (``immutable``)."""

from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, send_from_directory

from ..engine.assets import ASSETS_DIR, IMAGE_TYPES

bp = Blueprint("assets", __name__)
NAME_RE = re.compile(r"^[0-9a-f]{20}\.(png|jpg|gif|webp)$")
YEAR = 365 * 24 * 3600


@bp.get("/assets/<name>")
def asset(name: str):  # type: ignore[no-untyped-def]
    if not NAME_RE.match(name):
        abort(404)
    folder = current_app.extensions["hc_searcher"].index().path / ASSETS_DIR
    if not (folder / name).is_file():
        abort(404)
    resp = send_from_directory(folder, name, mimetype=IMAGE_TYPES["." + name.rsplit(".", 1)[1]], max_age=YEAR,
                               conditional=True)
    resp.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    return resp
