"""Links in article Markdown: finding them with their line, and what they point to.

Shared by the renderer (``.md`` links become site URLs) and by ``helpcenter check``
(every link must lead somewhere), so both read a link the same way. This module
sits below both and imports neither.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote

# [text](target "title") and ![alt](target); the text may hold one level of brackets
# ([![图](a.png)](b.md)), the target may be in <angle brackets>.
_INLINE_RE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
_REF_DEF_RE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")  # [name]: target
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN_RE = re.compile(r"(`+).+?\1")
_SCHEME_RE = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)")  # https:, mailto:, tel:, //host
_SITE_ARTICLE_RE = re.compile(r"^/articles/([^/?#]+)/([^/?#]+)/?$")
_SITE_CATEGORY_RE = re.compile(r"^/categories/([^/?#]+)/?$")
_ID_RE = re.compile(r'\bid="([^"]*)"')


@dataclass(frozen=True)
class Target:
    """Where a link leads: ``kind`` is "article", "category", "file", "anchor" (same article) or "other"."""

    kind: str
    value: str = ""  # article id, category id or file path relative to the article's folder
    anchor: str = ""


def resolve_link(article_id: str, target: str) -> str | None:
    """Article id a relative ``.md`` link points to, or None for external links."""
    if "://" in target or target.startswith(("/", "mailto:")):
        return None
    base = PurePosixPath(article_id).parent
    parts: list[str] = []
    for part in (base / target).parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    resolved = "/".join(parts)
    return resolved[:-3] if resolved.endswith(".md") else resolved


def body_links(body: str) -> Iterator[tuple[int, str]]:
    """(0-based line in ``body``, target) of every link and image, outside code."""
    fence = ""
    for offset, line in enumerate(body.splitlines()):
        m = _FENCE_RE.match(line)
        if m and (not fence or m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence)):
            fence = "" if fence else m.group(1)
            continue
        if fence:
            continue
        line = _CODE_SPAN_RE.sub(lambda c: " " * len(c.group(0)), line)
        ref = _REF_DEF_RE.match(line)
        if ref:
            yield offset, ref.group(1).strip("<>")
            continue
        for link in _INLINE_RE.finditer(line):
            yield offset, link.group(1).strip("<>")


def classify(article_id: str, target: str) -> Target:
    """What a link written in article ``article_id`` points to."""
    if not target or _SCHEME_RE.match(target):
        return Target("other")
    path, _, anchor = target.partition("#")
    path = path.partition("?")[0]
    anchor = unquote(anchor)
    if not path:
        return Target("anchor", article_id, anchor)
    if path.startswith("/"):
        m = _SITE_ARTICLE_RE.match(path)
        if m:
            return Target("article", unquote(f"{m.group(1)}/{m.group(2)}"), anchor)
        m = _SITE_CATEGORY_RE.match(path)
        return Target("category", unquote(m.group(1))) if m else Target("other")
    if path.endswith(".md"):
        return Target("article", unquote(resolve_link(article_id, path) or ""), anchor)
    return Target("file", unquote(path), anchor)


def heading_ids(rendered_html: str) -> list[str]:
    """Every ``id`` in an article's rendered HTML, in page order: what a ``#anchor`` can land on."""
    return list(dict.fromkeys(html.unescape(v) for v in _ID_RE.findall(rendered_html)))
