"""Article Markdown -> safe HTML, done once at build time.

Writers are trusted, but a pasted ``<script>`` or ``javascript:`` link must
never reach a reader, so the rendered HTML goes through nh3 (ammonia) with an
allow-list. Links between articles (``../account/x.md``) become site URLs.
"""

from __future__ import annotations

import xml.etree.ElementTree as etree
from dataclasses import dataclass

import markdown
import nh3
from markdown.extensions import Extension
from markdown.extensions.toc import slugify_unicode
from markdown.treeprocessors import Treeprocessor

from .links import resolve_link

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "details", "div", "em", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "span", "strong", "sub", "summary",
    "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
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


class _LinkExtension(Extension):
    def __init__(self, article_id: str, url_prefix: str) -> None:
        super().__init__()
        self.article_id = article_id
        self.url_prefix = url_prefix

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 (markdown API)
        md.treeprocessors.register(_ArticleLinks(md, self.article_id, self.url_prefix), "hc_links", 5)


def render_article(body: str, article_id: str, url_prefix: str = "/articles/") -> Rendered:
    md = markdown.Markdown(
        extensions=[
            "tables",
            "fenced_code",
            "sane_lists",
            "toc",
            _LinkExtension(article_id, url_prefix),
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
    )
    toc = []

    def walk(tokens: list[dict[str, object]]) -> None:
        for t in tokens:
            toc.append({"id": t["id"], "name": t["name"], "level": t["level"]})
            walk(t.get("children", []))  # type: ignore[arg-type]

    walk(getattr(md, "toc_tokens", []))
    return Rendered(html=html, toc=toc)
