"""``helpcenter check --search``: does each article answer its own questions?

A writer lists how people ask (``questions``). Searched against an index built without
the questions, each must still find its article by title and text: otherwise the
question is only findable because it is listed, and asking it in other words misses. Two articles that
each win the other's questions compete: likely duplicates, or a split that needs a
clearer line. Findings are :class:`Problem` records at the question's own line, so
editors and CI annotate them like any other check.
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol

from .content import Collection
from .problems import Problem, problem

TOP = 3  # a question must find its article among the first this many results


class _Searcher(Protocol):
    def search(self, query: str, k: int = 5, locale: str | None = None): ...  # noqa: E704


def search_findings(collection: Collection, searcher: _Searcher, top: int = TOP) -> list[Problem]:
    """Misses (a title or question that does not find its article in the first ``top``) and
    competing pairs, for published articles."""
    out: list[Problem] = []
    wins: Counter[tuple[str, str]] = Counter()  # (asked of, won by) over first results
    first_question: dict[str, int] = {}
    published = {a.id: a for a in collection.articles.values() if not a.draft}
    for art in published.values():
        asked = [(art.title, art.title_line, "title")] + [
            (q, line, "questions") for q, line in zip(art.questions, art.question_lines)]
        for text, line, fld in asked:
            hits = [h.id for h in searcher.search(text, max(top, 5)).results]
            if hits and hits[0] != art.id:
                wins[(art.id, hits[0])] += 1
                first_question.setdefault(art.id, line)
            if art.id not in hits[:top]:
                found = "、".join(hits[:top]) or "—"
                out.append(problem(art.path, line, "search_misses", fld, question=text, top=top, found=found))
    for (a, b), n in sorted(wins.items()):
        if a < b and wins.get((b, a)) and b in published:
            m = wins[(b, a)]
            out.append(problem(published[a].path, first_question.get(a, 1), "search_competes", other=published[b].path,
                               mine=n, theirs=m))
            out.append(problem(published[b].path, first_question.get(b, 1), "search_competes", other=published[a].path,
                               mine=m, theirs=n))
    return sorted(out, key=lambda p: (p.path, p.line))
