"""Articles cut into the passages that search matches against.

An article is found through several doors: its title and summary, each of the
alternate phrasings writers list under ``questions``, and each section of the
body with the headings above it. Each passage knows its kind, so the embedder
can use the right prompt (question-like texts and body text are embedded
differently by e5) and the searcher can show the answering section.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Iterable
from functools import cached_property

from .content import Article

# Bump when the rules below change, so the next build redoes the passages.
PASSAGE_RULES_VERSION = 2
# Sections longer than this are split at paragraph boundaries.
MAX_PASSAGE_CHARS = 400
_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE_RE = re.compile(r"^(```|~~~)")
_MD_INLINE_RE = re.compile(r"!?\[([^\]]*)\]\([^)]*\)|[*_`>]+|^\s*(?:[-+*]|\d+\.)\s+", re.M)


@dataclass(frozen=True)
class Passage:
    article_id: str
    kind: str  # "title", "question", "section", or "learned" (taught by visitors and agents)
    heading: str  # heading path shown to users, "" for title/question passages
    anchor: str  # HTML id of the section's heading, for deep links
    text: str
    locale: str = ""  # a writer's translation (slug.en.md); "" for the source article's own text

    @cached_property  # asked for a dozen times per passage in a build
    def key(self) -> str:
        """Content hash: an unchanged passage keeps its stored vector."""
        return hashlib.sha256(f"{self.kind}\x00{self.text}".encode()).hexdigest()[:24]


def plain(markdown_text: str) -> str:
    """Markdown markup removed, for embedding and snippets."""
    text = _MD_INLINE_RE.sub(lambda m: m.group(1) or "", markdown_text)
    return re.sub(r"[ \t]+", " ", re.sub(r"\n{2,}", "\n", text)).strip()


def slugify_heading(title: str, seen: set[str]) -> str:
    """Same ids as python-markdown's toc extension gives CJK headings (unicode slugs)."""
    from markdown.extensions.toc import slugify_unicode, unique

    return unique(slugify_unicode(title, "-"), seen)


_SENTENCE_END_RE = re.compile(r"(?<=[。！？!?；;])")


def _pieces(text: str) -> list[str]:
    """Paragraphs, with any paragraph longer than a passage cut at sentence ends."""
    out: list[str] = []
    for para in text.split("\n"):
        if len(para) <= MAX_PASSAGE_CHARS:
            out.append(para)
            continue
        for sentence in _SENTENCE_END_RE.split(para):
            while len(sentence) > MAX_PASSAGE_CHARS:
                out.append(sentence[:MAX_PASSAGE_CHARS])
                sentence = sentence[MAX_PASSAGE_CHARS:]
            if sentence:
                out.append(sentence)
    return out


def _chunks(text: str) -> list[str]:
    if len(text) <= MAX_PASSAGE_CHARS:
        return [text]
    out, cur = [], ""
    for para in _pieces(text):
        if cur and len(cur) + 1 + len(para) > MAX_PASSAGE_CHARS:
            out.append(cur)
            cur = ""
        cur = f"{cur}\n{para}" if cur else para
    if cur:
        out.append(cur)
    return out


def sections(body: str) -> list[tuple[list[str], str, str]]:
    """(heading path, anchor, markdown text) for the intro and every heading's section."""
    result: list[tuple[list[str], str, str]] = []
    path: list[tuple[int, str]] = []
    anchor = ""
    seen: set[str] = set()
    buf: list[str] = []
    in_fence = False

    def flush() -> None:
        if "".join(buf).strip():
            result.append(([h for _, h in path], anchor, "\n".join(buf)))
        buf.clear()

    for line in body.splitlines():
        if _FENCE_RE.match(line.strip()):
            in_fence = not in_fence
        m = None if in_fence else _HEADING_RE.match(line)
        if m:
            flush()
            level, title = len(m.group(1)), plain(m.group(2))
            path = [(lv, h) for lv, h in path if lv < level] + [(level, title)]
            anchor = slugify_heading(m.group(2), seen)
        else:
            buf.append(line)
    flush()
    return result


def article_passages(article: Article) -> list[Passage]:
    """Title, questions and sections, without passages that only repeat another.

    A FAQ entry that is just its question (body = title) is one question-like
    passage; an answer whose title is merely its first sentence (as imported
    answer banks are) is body passages only: embedding that fragment as a
    question matched questions it does not answer.
    """
    body_text = plain(article.body)
    title_only = body_text == article.title.strip() and not article.summary
    title_is_fragment = (not article.summary and len(body_text) > len(article.title)
                         and body_text.startswith(article.title.rstrip("…").strip()))
    out = []
    if not title_is_fragment:
        out.append(Passage(article.id, "title", "", "", f"{article.title}\n{article.summary}".strip(), article.locale))
    out += [Passage(article.id, "question", "", "", q, article.locale) for q in article.questions]
    if title_only:
        return out
    for heads, anchor, md in sections(article.body):
        heading = " › ".join(heads)
        for chunk in _chunks(plain(md)):
            # The heading path gives a section its context ("步骤" alone means little).
            text = f"{article.title} › {heading}\n{chunk}" if heading else f"{article.title}\n{chunk}"
            out.append(Passage(article.id, "section", heading, anchor, text, article.locale))
    return out


def learned_passages(learned: Iterable[tuple[str, str]], published: set[str],
                     existing: list[Passage]) -> list[Passage]:
    """Learned questions as passages (kind ``learned``) of published articles, leaving out any
    that repeat one of the article's own texts or another learned one (a writer may have added
    it to ``questions`` meanwhile), and articles that are gone or drafts."""
    seen = {(p.article_id, p.text.strip()) for p in existing}
    out = []
    for article_id, query in learned:
        text = (query or "").strip()
        if article_id in published and text and (article_id, text) not in seen:
            seen.add((article_id, text))
            out.append(Passage(article_id, "learned", "", "", text))
    return out
