"""The site's look: the brand colour as CSS custom properties, the logo, and category icons.

The CSP allows no inline styles (``style-src 'self'``), so the colour cannot go into a
``<style>`` block or a ``style`` attribute: it is served as a tiny stylesheet,
``/brand/<hash>.css``, linked after style.css. Its name is a hash of its content, and
the logo's of its bytes, so browsers keep both for a year and still see a change at
once. A colour too light for white text is darkened until it passes WCAG AA, so a
pale brand never makes the header, buttons or links unreadable.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, current_app, url_for
from markupsafe import Markup

from ..icons import icon_svg

bp = Blueprint("brand", __name__)
YEAR = 365 * 24 * 3600
# White text on the brand colour, and the brand colour as link text on white and on its own
# light tint: 4.5:1 is AA for normal text; the margin keeps the tint (about 0.93 of white's
# luminance) above 4.5 too.
MIN_CONTRAST = 5.0
LOGO_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


def _rgb(color: str) -> tuple[float, float, float]:
    hexes = color.lstrip("#")
    if len(hexes) == 3:
        hexes = "".join(c * 2 for c in hexes)
    r, g, b = (int(hexes[i:i + 2], 16) / 255 for i in (0, 2, 4))
    return r, g, b


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(max(0.0, min(1.0, c)) * 255):02x}" for c in rgb)


def luminance(color: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in _rgb(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _darker(color: str, steps: float) -> str:
    h, light, s = colorsys.rgb_to_hls(*_rgb(color))
    return _hex(colorsys.hls_to_rgb(h, max(0.0, light - steps), s))


def _mix(color: str, share: float) -> str:
    """``share`` of ``color`` over white: tints for backgrounds and borders."""
    return _hex(tuple(share * c + (1 - share) for c in _rgb(color)))  # type: ignore[arg-type]


def readable(color: str) -> str:
    """The colour itself when white text on it passes AA with our margin, else darkened just enough
    (same hue and saturation)."""
    color = _hex(_rgb(color))
    step = 0.0
    while contrast(_darker(color, step), "#ffffff") < MIN_CONTRAST and step < 1.0:
        step += 0.01
    return _darker(color, step)


def palette(color: str) -> dict[str, str]:
    """The custom properties style.css reads, from one brand colour."""
    accent = readable(color)
    return {"--accent": accent, "--accent-dark": _darker(accent, 0.08), "--accent-soft": _mix(accent, 0.07),
            "--accent-line": _mix(accent, 0.35)}


def stylesheet(color: str) -> str:
    return ":root{" + ";".join(f"{k}:{v}" for k, v in palette(color).items()) + "}\n"


@dataclass(frozen=True)
class Logo:
    data: bytes
    name: str  # logo-<hash>.<ext>
    mimetype: str
    width: int
    height: int


def load_logo(path: str) -> Logo:
    """Read the configured logo once (config validated its type): served from memory, so a file
    moved away after start-up still shows, and its size is known for the ``<img>``."""
    from PIL import Image

    data = Path(path).read_bytes()
    suffix = Path(path).suffix.lower()
    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
    digest = hashlib.sha256(data).hexdigest()[:16]
    ext = "jpg" if suffix == ".jpeg" else suffix[1:]
    return Logo(data, f"logo-{digest}.{ext}", LOGO_MIME[suffix], width, height)


def init_brand(app: Flask, color: str, logo_path: str) -> None:
    css = stylesheet(color)
    app.extensions["hc_brand_css"] = (hashlib.sha256(css.encode()).hexdigest()[:12], css)
    app.extensions["hc_brand_logo"] = load_logo(logo_path) if logo_path else None
    app.register_blueprint(bp)
    # {{ icon('payment') }}: a category's (or the page's own) decorative inline SVG.
    app.jinja_env.globals["icon"] = lambda name: Markup(icon_svg(name))

    @app.context_processor
    def _brand() -> dict[str, object]:
        logo: Logo | None = app.extensions["hc_brand_logo"]
        return {"brand_css": url_for("brand.css", digest=app.extensions["hc_brand_css"][0]),
                "brand_logo": {"src": url_for("brand.logo", name=logo.name), "width": logo.width,
                               "height": logo.height} if logo else None}


def _cached(resp: Response) -> Response:
    resp.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    return resp


@bp.get("/brand/<digest>.css")
def css(digest: str) -> Response:
    current, text = current_app.extensions["hc_brand_css"]
    if digest != current:
        abort(404)
    return _cached(Response(text, mimetype="text/css"))


@bp.get("/brand/<name>")
def logo(name: str) -> Response:
    found: Logo | None = current_app.extensions["hc_brand_logo"]
    if found is None or name != found.name:
        abort(404)
    return _cached(Response(found.data, mimetype=found.mimetype))
