"""One search result as a reader of one locale sees it.

Ranking is the same in every locale; what is shown is the version that reader
gets (helpcenter.engine.translations): the writer's translation with a snippet
from its own passages, the 繁體 conversion with the source's snippet converted
and its section anchor mapped, or the source marked ``untranslated``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .index import LoadedIndex
from .snippets import make_snippet
from .translations import article_view, category_view, converter_for


@dataclass
class Hit:
    id: str
    title: str
    category: str
    category_name: str
    score: float
    dense: float  # best passage cosine similarity
    heading: str
    anchor: str
    snippet: str
    snippet_html: str
    confident: bool
    passage_kind: str
    locale: str = ""  # the locale of the title and snippet shown
    untranslated: bool = False  # no version in the reader's locale: the source is shown
    # The whole answering section as shown (the assistant quotes it); not in the JSON of a search.
    passage: str = field(default="", repr=False, compare=False)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        del out["passage"]
        return out


def default_locale(idx: LoadedIndex) -> str:
    return str((idx.manifest.get("locales") or ["zh-Hans"])[0])


def make_hit(idx: LoadedIndex, qvec: np.ndarray, tokens: list[str], art_id: str, score: float,
             confident_floor: float, locale: str | None) -> Hit:
    article = idx.articles[art_id]
    default = default_locale(idx)
    tag = locale or default
    view = article_view(article, tag, default)
    rows = idx.rows_by_article[art_id]
    sims = idx.row_vectors(rows) @ qvec
    best_any = float(sims.max())
    # The snippet comes from the text shown: a translation's own passages, else the source's.
    text_locale = tag if view.get("kind") == "translated" else default
    mine = [j for j in range(len(rows)) if idx.passages[rows[j]].get("locale", default) == text_locale] \
        or list(range(len(rows)))
    # Show the section that answers: the best-matching body section, else the summary.
    sections = [(float(sims[j]), rows[j]) for j in mine if idx.passages[rows[j]]["kind"] == "section"]
    shown = idx.passages[max(sections)[1]] if sections else idx.passages[rows[mine[0]]]
    text = shown["text"].split("\n", 1)[1] if "\n" in shown["text"] else shown["text"]
    snippet, snippet_html = make_snippet(text, tokens)
    heading, anchor = shown["heading"], shown["anchor"]
    if view.get("kind") == "converted":
        convert = converter_for(tag, (idx.manifest.get("glossaries") or {}).get(tag))
        if convert is not None:  # marks and escapes are ASCII: converting the HTML keeps them
            snippet, snippet_html, heading = convert(snippet), convert(snippet_html), convert(heading)
            text = convert(text)
            anchor = view.get("anchors", {}).get(anchor, anchor)
    category = category_view(idx.categories.get(article["category"], {}), tag, default)
    return Hit(
        id=art_id, title=view["title"], category=article["category"],
        category_name=category.get("name", article["category"]), score=round(score, 6),
        dense=round(best_any, 4), heading=heading, anchor=anchor,
        snippet=snippet, snippet_html=snippet_html,
        confident=best_any >= confident_floor, passage_kind=shown["kind"],
        locale=view["shown_locale"], untranslated=bool(view["untranslated"]), passage=text,
    )
