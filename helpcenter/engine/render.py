"""Article Markdown -> safe HTML, done once at build time.

Writers are trusted, but a pasted ``<script>`` or ``javascript:`` link must
never reach a reader, so the rendered HTML goes through nh3 (ammonia) with an
allow-list. Links between articles (``../account/x.md``) become site URLs.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as etree
from dataclasses import dataclass
from typing import Any, Mapping

import markdown
import nh3
from markdown.extensions import Extension
from markdown.extensions.toc import slugify_unicode
from markdown.treeprocessors import Treeprocessor

from .links import resolve_link

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "details", "div", "em", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "span", "strong", "sub", "summary",
    "sup", "table", "tbody", "td", "th", "thead", "tr", "ul", "img",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height", "loading", "decoding"},
    "div": {"class"},  # callouts: admonition, admonition-title, tip, note, warning
    "p": {"class"},
    "code": {"class"},
    "td": {"align"},
    "th": {"align"},
    "*": {"id"},
}


@dataclass
class Rendered:
    html: str
    toc: list[dict[str, object]]  # [{"id", "name", "level"}]


class _ArticleLinks(Treeprocessor):
    def __init__(self, md: markdown.Markdown, article_id: str, url_prefix: str) -> None:
        super().__init__(md)
        self.article_id = article_id
        self.url_prefix = url_prefix

    def run(self, root: etree.Element) -> None:
        for a in root.iter("a"):
            href = a.get("href", "")
            target, _, anchor = href.partition("#")
            if target.endswith(".md"):
                resolved = resolve_link(self.article_id, target)
                if resolved is not None:
                    a.set("href", f"{self.url_prefix}{resolved}" + (f"#{anchor}" if anchor else ""))


class _Images(Treeprocessor):
    """Published images get their hashed URL and size; any other image is dropped."""

    def __init__(self, md: markdown.Markdown, images: Mapping[str, Any]) -> None:
        super().__init__(md)
        self.images = images

    def run(self, root: etree.Element) -> None:
        for parent in list(root.iter()):
            for img in [c for c in parent if c.tag == "img"]:
                found = self.images.get(img.get("src", ""))
                if found is None:
                    parent.remove(img)
                    continue
                img.set("src", found.url)
                img.set("width", str(found.width))
                img.set("height", str(found.height))
                img.set("loading", "lazy")
                img.set("decoding", "async")


class _LinkExtension(Extension):
    def __init__(self, article_id: str, url_prefix: str, images: Mapping[str, Any]) -> None:
        super().__init__()
        self.article_id = article_id
        self.url_prefix = url_prefix
        self.images = images

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 (markdown API)
        md.treeprocessors.register(_ArticleLinks(md, self.article_id, self.url_prefix), "hc_links", 5)
        md.treeprocessors.register(_Images(md, self.images), "hc_images", 4)


_EMPTY_IMG_RE = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>")
# Callout boxes: "!!! tip" (提示), "!!! note" (注意), "!!! warning" (警告); others render as note.
CALLOUTS = {"tip", "note", "warning"}


def _only_published(tag: str, attr: str, value: str) -> str | None:
    """The sanitiser's last word on attributes: images only from our assets, classes only ours."""
    if tag == "img" and attr == "src":
        return value if value.startswith("/assets/") else None
    if attr == "class" and tag in ("div", "p"):
        kept = [c for c in value.split() if c in CALLOUTS | {"admonition", "admonition-title"}]
        return " ".join(kept) or None
    return value


def render_article(body: str, article_id: str, url_prefix: str = "/articles/",
                   images: Mapping[str, Any] | None = None) -> Rendered:
    """``images``: the published images by src as written (helpcenter.engine.assets)."""
    md = markdown.Markdown(
        extensions=[
            "tables",
            "fenced_code",
            "sane_lists",
            "toc",
            "admonition",
            _LinkExtension(article_id, url_prefix, images or {}),
        ],
        extension_configs={"toc": {"slugify": slugify_unicode, "toc_depth": "2-3"}},
        output_format="html",
    )
    raw = md.convert(body)
    html = nh3.clean(
        raw,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        attribute_filter=_only_published,
    )
    html = _EMPTY_IMG_RE.sub("", html)  # an <img> whose src was not ours is nothing to show
    toc = []

    def walk(tokens: list[dict[str, object]]) -> None:
        for t in tokens:
            toc.append({"id": t["id"], "name": t["name"], "level": t["level"]})
            walk(t.get("children", []))  # type: ignore[arg-type]

    walk(getattr(md, "toc_tokens", []))
    return Rendered(html=html, toc=toc)
