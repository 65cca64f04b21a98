"""The snippet under each result: a window of the answering passage with the query's words marked.

Plain text for the API and the CLI, and HTML (escaped, with ``<mark>``) for the page; the marks
are computed on the text itself, so they never land inside an escaped entity.
"""

from __future__ import annotations

import html
import re

SNIPPET_CHARS = 140


def make_snippet(text: str, tokens: list[str], width: int = SNIPPET_CHARS) -> tuple[str, str]:
    """A window of ``text`` around the first matched term; HTML version marks every match."""
    text = re.sub(r"\s*\n\s*", " ", text).strip()
    terms = sorted({t for t in tokens if len(t) >= 2 or (len(tokens) == 1 and t)}, key=len, reverse=True)
    lower = text.lower()
    spans: list[tuple[int, int]] = []
    if terms and len(lower) == len(text):
        pattern = re.compile("|".join(re.escape(t) for t in terms))
        for m in pattern.finditer(lower):
            if spans and m.start() <= spans[-1][1]:  # adjacent terms read as one mark
                spans[-1] = (spans[-1][0], max(spans[-1][1], m.end()))
            else:
                spans.append((m.start(), m.end()))
    start = 0
    if len(text) > width:
        first = spans[0][0] if spans else 0
        start = max(0, min(first - width // 4, len(text) - width))
    end = min(len(text), start + width)
    window = text[start:end]
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    out, pos = [], start
    for a, b in spans:
        if b <= start or a >= end or a < pos:
            continue
        out.append(html.escape(text[pos:a]))
        out.append(f"<mark>{html.escape(text[a:b])}</mark>")
        pos = b
    out.append(html.escape(text[pos:end]))
    return prefix + window + suffix, html.escape(prefix) + "".join(out) + html.escape(suffix)
