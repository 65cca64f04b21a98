"""Images in articles: found, checked, and published with the build under content-hashed names.

A writer puts ``![登录页](images/login.png)`` beside the article, or shares a file from
``articles/_assets/``. The build copies each image into the build's ``assets/`` as
``<sha256>.<ext>``: a changed image gets a new URL, so the site can tell browsers to
keep every asset for a year. Width and height are read once here, so the page does
not jump while images load. SVG is refused: opened directly it could run script on
the site's origin.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .problems import Problem, problem

ASSETS_DIR = "assets"  # in a build folder, served at /assets/
URL_PREFIX = "/assets/"
SHARED = "_assets"  # articles/_assets: images any article can use
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp"}
_IMAGE_RE = re.compile(r"!\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SCHEME_RE = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//|/)")


@dataclass(frozen=True)
class Image:
    url: str  # /assets/<hash>.<ext>
    width: int
    height: int
    source: Path  # the writer's file
    name: str  # the published file name


def body_images(body: str) -> Iterator[tuple[int, str, str]]:
    """(0-based line in ``body``, src as written, alt text) of each Markdown image, outside code."""
    fence = ""
    for offset, line in enumerate(body.splitlines()):
        m = _FENCE_RE.match(line)
        if m and (not fence or m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence)):
            fence = "" if fence else m.group(1)
            continue
        if fence:
            continue
        line = re.sub(r"(`+).+?\1", lambda c: " " * len(c.group(0)), line)
        for found in _IMAGE_RE.finditer(line):
            yield offset, found.group(2).strip("<>"), found.group(1).strip()


def is_local_image(src: str) -> bool:
    return not _SCHEME_RE.match(src) and Path(src.partition("?")[0]).suffix.lower() in (*IMAGE_TYPES, ".svg")


def resolve(src: str, article_file: Path, root: Path) -> Path | None:
    """The writer's file an image ``src`` names, or None if it would leave the articles folder."""
    from urllib.parse import unquote

    path = (article_file.parent / unquote(src.partition("?")[0].partition("#")[0])).resolve()
    try:
        path.relative_to(root.resolve())
    except ValueError:
        return None
    return path


def read_image(path: Path) -> Image:
    """Hash and measure one image; raises OSError or ValueError (Pillow cannot read it)."""
    from PIL import Image as PILImage

    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:20]
    with PILImage.open(path) as im:
        width, height = im.size
        im.verify()
    name = f"{digest}{path.suffix.lower().replace('.jpeg', '.jpg')}"
    return Image(URL_PREFIX + name, width, height, path, name)


def image_problems(rel: str, body: str, body_line: int, article_file: Path, root: Path,
                   max_bytes: int) -> list[Problem]:
    """What is wrong with an article's images: missing, unreadable, of a refused type, too large, no alt."""
    out: list[Problem] = []
    for offset, src, alt in body_images(body):
        if not is_local_image(src):
            continue
        line = body_line + offset
        path = resolve(src, article_file, root)
        if path is None:
            out.append(problem(rel, line, "image_outside", target=src))
            continue
        if path.suffix.lower() == ".svg":
            out.append(problem(rel, line, "image_type", target=src, types=", ".join(sorted(IMAGE_TYPES))))
            continue
        if not path.is_file():
            out.append(problem(rel, line, "missing_image", target=src))
            continue
        try:
            read_image(path)
        except (OSError, ValueError, SyntaxError):
            out.append(problem(rel, line, "unreadable_image", target=src))
            continue
        size = path.stat().st_size
        if size > max_bytes:
            out.append(problem(rel, line, "image_too_large", target=src, size=f"{size / 1048576:.1f}",
                               limit=f"{max_bytes / 1048576:g}"))
        if not alt:
            out.append(problem(rel, line, "image_no_alt", target=src))
    return out


def article_images(body: str, article_file: Path, root: Path) -> dict[str, Image]:
    """The publishable images of one body, by src as written (those check reports are left out)."""
    out: dict[str, Image] = {}
    for _offset, src, _alt in body_images(body):
        if src in out or not is_local_image(src):
            continue
        path = resolve(src, article_file, root)
        if path is None or path.suffix.lower() not in IMAGE_TYPES or not path.is_file():
            continue
        try:
            out[src] = read_image(path)
        except (OSError, ValueError, SyntaxError):
            continue
    return out


def copy_assets(images: list[Image], folder: Path) -> int:
    """Copy images into a build folder's ``assets/``; returns how many files were written."""
    target = folder / ASSETS_DIR
    target.mkdir(exist_ok=True)
    written = 0
    for img in images:
        dest = target / img.name
        if not dest.exists():
            shutil.copyfile(img.source, dest)
            written += 1
    return written
