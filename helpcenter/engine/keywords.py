"""The build's keyword side: BM25 fields counted incrementally, and the pinyin sound table.

Unchanged passages keep their term counts from the live build (counted under the same rules,
see :func:`keyword_fingerprints`); only changed ones are cut again.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from . import pinyin
from .bm25 import BM25
from .index import PINYIN_FIELD, LoadedIndex
from .passages import Passage
from .text import dictionary_fingerprint, normalise

KEYWORD_CACHE = "keyword-counts.json"  # what the cached term counts were made with


def keyword_fingerprints(dictionary: str) -> dict[str, str]:
    """What each keyword field's counts depend on: jieba on the user dictionary (and the
    normaliser), character n-grams on the normaliser alone, pinyin also on its own rules."""
    return {"jieba": dictionary, "chars": dictionary_fingerprint(None),
            PINYIN_FIELD: f"{dictionary}:{pinyin.RULES_VERSION}"}


def pinyin_vocab(passages: list[Passage], words: BM25, tokenizer: Any,
                  norm: Callable[[Passage], str]) -> pinyin.PinyinVocab:
    """Sound → words for pinyin queries: every word of our passages (how many passages use it,
    from the keyword index), word pairs of titles, questions and headings (context: 重置+密码),
    and jieba's common words. Pairs come from those short texts only: cutting every body again
    would cost a large corpus a minute per build."""
    df = np.asarray((words.weights > 0).sum(axis=0)).ravel()
    counts = {term: int(df[col]) for term, col in words.vocab.items()}
    phrases: dict[str, int] = {}
    for p in passages:
        seq = tokenizer.words_of_passage(norm(p) if p.kind != "section" else normalise(p.text.split("\n", 1)[0]))
        for a, b in zip(seq, seq[1:]):
            if len(a) + len(b) <= pinyin.MAX_SYLLABLES_PER_WORD:
                phrases[a + b] = phrases.get(a + b, 0) + 1
    return pinyin.PinyinVocab.build(counts, tokenizer.frequencies(), phrases)


def previous_counts(live: LoadedIndex | None, expected: dict[str, str]) -> dict[str, tuple[sp.csr_matrix, dict[str, int]]]:
    """Per keyword field, the live build's term counts (rows in its passage order) and
    vocabulary, where they were counted under the same rules."""
    if live is None:
        return {}
    made_with = live.keyword_made_with  # a preview's build in memory holds its counts
    if made_with is None:
        try:
            made_with = json.loads((live.path / KEYWORD_CACHE).read_text("utf-8"))
        except (OSError, ValueError):
            return {}
    out = {}
    for field_name, fingerprint in expected.items():
        if field_name not in live.keyword:
            continue  # a build from before the field (pinyin): it is counted afresh
        if made_with.get(field_name) != fingerprint:
            counts = None
        elif live.keyword_made_with is not None:
            counts = live.keyword[field_name].counts
        else:
            counts = BM25.load_counts(live.path, field_name)
        vocab = live.keyword[field_name].vocab
        if counts is not None and counts.shape == (len(live.passages), len(vocab)):
            out[field_name] = (counts, vocab)
    return out


def keyword_index(passages: list[Passage], cut: Callable[[Passage], list[str]],
                   previous: tuple[sp.csr_matrix, dict[str, int]] | None,
                   previous_rows: dict[str, int]) -> BM25:
    """BM25 for one field: rows of unchanged passages are copied, only the rest are cut."""
    old_counts, old_vocab = previous if previous is not None else (None, {})
    vocab = dict(old_vocab)
    kept = [previous_rows[p.key] for p in passages if old_counts is not None and p.key in previous_rows]
    todo = [p for p in passages if old_counts is None or p.key not in previous_rows]
    fresh = BM25.count([cut(p) for p in todo], vocab)
    if old_counts is None:
        return BM25.from_counts(fresh, vocab)
    copied = old_counts[kept]
    copied.resize((len(kept), len(vocab)))
    # Stacked as [copied; fresh]; put every row back at its passage's place.
    place, n_kept, n_fresh = [], 0, len(kept)
    for p in passages:
        if p.key in previous_rows:
            place.append(n_kept)
            n_kept += 1
        else:
            place.append(n_fresh)
            n_fresh += 1
    return BM25.from_counts(sp.vstack([copied, fresh], format="csr")[place], vocab)
