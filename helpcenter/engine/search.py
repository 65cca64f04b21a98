"""Searcher: normalise -> dense + keyword -> fuse -> articles with snippets.

One searcher serves the CLI, the web app and the benchmarks. It reads the
index through :class:`IndexHandle`, which follows the ``current`` link: when
ops publish a new build the next query uses it, and a build that fails to load
is logged and skipped while the previous one keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Settings
from .embed import Embedder, embedder_for, identity_for
from . import calibrate, demotion, pinyin
from .index import PINYIN_FIELD, IndexError_, IndexMismatch, IndexMissing, LoadedIndex, current_target, load_build
from .results import Hit, make_hit
from .text import Tokenizer, char_ngrams, get_tokenizer, normalise

log = logging.getLogger(__name__)
RETRY_FAILED_BUILD_AFTER = 30.0  # seconds
ANSWER_CACHE_SIZE = 1024  # whole answers kept per searcher (keyed by build, so a rebuild starts afresh)


@dataclass
class SearchResponse:
    query: str
    normalised: str
    results: list[Hit]
    confident: bool
    truncated: bool = False
    build_id: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    # What was searched instead of the text typed: pinyin read as Chinese ("pinyin"), or
    # homophone typos fixed ("homophone"); shown as "按 重置密码 搜索" / "您是不是要找".
    understood_as: str | None = None
    understood_kind: str | None = None
    # P(first result is right) from the calibration (engine.calibrate); None where it does not apply.
    probability: float | None = None
    features: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "query": self.query, "confident": self.confident, "truncated": self.truncated,
            "understood_as": self.understood_as, "understood_kind": self.understood_kind,
            "probability": None if self.probability is None else round(self.probability, 4),
            "results": [h.as_json() for h in self.results],
        }


@dataclass
class Ranked:
    """One ranking of one text (the query, or our reading of it)."""
    hits: list[Hit]
    confident: bool
    probability: float | None
    features: dict[str, float]


class IndexHandle:
    """The live index, re-read when ``current`` changes; a bad build never replaces a good one."""

    def __init__(self, index_dir: str | Path, expected_model: str | None = None) -> None:
        self.index_dir = Path(index_dir)
        self.expected_model = expected_model
        self._index: LoadedIndex | None = None
        self._target: Path | None = None
        self._failed: tuple[Path, float] | None = None
        self._lock = threading.Lock()
        self.last_error: str | None = None

    def _check_model(self, loaded: LoadedIndex) -> None:
        if self.expected_model and loaded.model != self.expected_model:
            raise IndexMismatch(
                f"index {loaded.path} was built with model {loaded.model!r}, but this search uses "
                f"{self.expected_model!r}: rebuild it with `helpcenter build-index`"
            )

    def get(self) -> LoadedIndex:
        target = current_target(self.index_dir)
        if self._index is not None and target == self._target:
            return self._index
        with self._lock:
            if self._index is not None and target == self._target:
                return self._index
            failed_recently = (self._failed is not None and self._failed[0] == target
                               and time.monotonic() - self._failed[1] < RETRY_FAILED_BUILD_AFTER)
            if target is not None and not failed_recently:
                try:
                    loaded = load_build(target)
                    self._check_model(loaded)
                    self._index, self._target, self._failed, self.last_error = loaded, target, None, None
                    log.info("serving index build %s", loaded.build_id)
                    return loaded
                except IndexError_ as exc:
                    self._failed = (target, time.monotonic())
                    self.last_error = str(exc)
                    if self._index is None:
                        raise
                    log.error("keeping index %s: new build cannot be used: %s", self._index.build_id, exc)
            if self._index is None:
                if target is None:
                    raise IndexMissing(f"no index published in {self.index_dir}: run `helpcenter build-index`")
                raise IndexError_(self.last_error or f"index {target} cannot be loaded")
            return self._index

    def adopt(self, loaded: LoadedIndex) -> None:
        """Serve a build this process has just built and verified (a preview), without reading it
        back from disk; ignored unless it is the published one."""
        if loaded.path == current_target(self.index_dir):
            self._check_model(loaded)
            with self._lock:
                self._index, self._target, self._failed, self.last_error = loaded, loaded.path, None, None


class Searcher:
    def __init__(self, settings: Settings, embedder: Embedder | None = None,
                 query_cache: OrderedDict[str, np.ndarray] | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._handle: IndexHandle | None = None
        self._tokenizers: dict[str, Tokenizer] = {}
        # Popular questions repeat: their vectors are kept (and may be shared between searchers),
        # and so are whole answers, per index build.
        self._qcache: OrderedDict[str, np.ndarray] = OrderedDict() if query_cache is None else query_cache
        self._answers: OrderedDict[tuple[str, str, int, str], SearchResponse] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = embedder_for(self.settings)
        return self._embedder

    @property
    def handle(self) -> IndexHandle:
        if self._handle is None:
            # Known without loading the model, so browsing never waits for it.
            name = self._embedder.name if self._embedder else identity_for(self.settings)
            self._handle = IndexHandle(self.settings.index_dir, name)
        return self._handle

    def index(self) -> LoadedIndex:
        return self.handle.get()

    def warm_up(self) -> None:
        """Load model and index before the first visitor, not during their request."""
        try:
            self.search("预热", 1)
        except IndexError_ as exc:
            log.error("index not ready at start-up: %s", exc)

    def _tokenizer(self, idx: LoadedIndex) -> Tokenizer:
        # Queries are cut with the dictionary the index was built with.
        key = idx.manifest.get("dictionary", "")
        with self._lock:
            if key not in self._tokenizers:
                self._tokenizers = {key: get_tokenizer(idx.path / "dictionary.txt")}
            return self._tokenizers[key]

    def _embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            if text in self._qcache:
                self._qcache.move_to_end(text)
                return self._qcache[text]
        vec = self.embedder.encode([text], "query")[0]
        with self._lock:
            self._qcache[text] = vec
            if len(self._qcache) > 2048:
                self._qcache.popitem(last=False)
        return vec

    def search(self, query: str, k: int = 5, locale: str | None = None, cut: bool = True) -> SearchResponse:
        """``locale``: the reader's; results are ranked the same in every locale, and shown
        (title, snippet, section) in the version that reader gets (engine.translations).
        ``cut=False`` keeps the tail the result cut leaves out: the assistant offers the next
        article when the first did not help."""
        s = self.settings
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        idx = self.index()
        norm = normalise(query)
        truncated = len(norm) > s.max_query_chars
        norm = norm[: s.max_query_chars]
        timings["normalise"] = time.perf_counter() - t0
        if not norm:
            return SearchResponse(query, norm, [], False, truncated, idx.build_id, timings)
        key = (idx.build_id, norm, k, locale or "", cut)
        with self._lock:
            cached = self._answers.get(key)
            if cached is not None:
                self._answers.move_to_end(key)
        if cached is not None:
            timings["total"] = time.perf_counter() - t0
            return replace(cached, query=query, truncated=truncated, timings=timings)
        t = time.perf_counter()
        sound = idx.pinyin if s.pinyin else None  # None: a build made before pinyin, or switched off
        reading = sound.rewrite(norm) if sound and pinyin.is_pinyin(norm) else None
        timings["pinyin"] = time.perf_counter() - t
        if reading is not None:  # typed without an IME: search the Chinese it reads as
            best = self._rank(idx, reading[0], k, timings, pinyin.terms(reading[1]), typed_pinyin=True,
                              rewritten=True, locale=locale, cut=cut)
            understood: tuple[str | None, str | None] = (reading[0], "pinyin")
        else:
            words = self._tokenizer(idx).words(norm, normalised=True) if sound else []
            best = self._rank(idx, norm, k, timings, pinyin.text_terms(words, unigrams=False) if sound else [],
                              locale=locale, cut=cut)
            understood = (None, None)
            fixed = sound.correct(norm, words) if sound and not best.confident else None
            if fixed:  # a homophone typo: search the fix too, and keep it only if it answers better
                t = time.perf_counter()
                alt_words = self._tokenizer(idx).words(fixed, normalised=True)
                alt = self._rank(idx, fixed, k, {}, pinyin.text_terms(alt_words, unigrams=False), rewritten=True,
                                 locale=locale, cut=cut)
                timings["homophone"] = time.perf_counter() - t
                if alt.hits and (alt.confident or not best.hits or alt.hits[0].score > best.hits[0].score):
                    best, understood = alt, (fixed, "homophone")
        timings["total"] = time.perf_counter() - t0
        response = SearchResponse(query, norm, best.hits, best.confident, truncated, idx.build_id, timings,
                                  *understood, best.probability, best.features)
        with self._lock:
            self._answers[key] = response
            if len(self._answers) > ANSWER_CACHE_SIZE:
                self._answers.popitem(last=False)
        return response

    def _rank(self, idx: LoadedIndex, norm: str, k: int, timings: dict[str, float], sounds: list[str],
              typed_pinyin: bool = False, rewritten: bool = False, locale: str | None = None,
              cut: bool = True) -> Ranked:
        """The ranked, trimmed hits for normalised text, whether the first is a confident answer,
        and why (:mod:`helpcenter.engine.calibrate`). ``sounds``: the query's pinyin terms
        (weighted up when it was typed as pinyin); ``rewritten``: ``norm`` is our reading of it."""
        s = self.settings
        n = len(idx.passages)
        cand = min(s.candidates, n)

        t = time.perf_counter()
        qvec = self._embed_query(norm)
        timings["embed"] = time.perf_counter() - t

        t = time.perf_counter()
        dense_ids: list[int] = []
        sims: np.ndarray | None = None
        if idx.exact and n:
            # One matrix-vector product gives every passage's cosine, reused by fusion.
            sims = idx.vectors @ qvec
        if s.retrieval != "keyword":
            if sims is not None:
                top = np.argpartition(-sims, cand - 1)[:cand] if cand < n else np.arange(n)
                dense_ids = [int(i) for i in top[np.argsort(-sims[top])]]
            else:
                dense_ids = idx.nearest(qvec, cand)
        timings["dense"] = time.perf_counter() - t

        t = time.perf_counter()
        tokens = self._tokenizer(idx).tokens(norm, normalised=True)
        kw = self._keyword_scores(idx, norm, tokens, sounds, typed_pinyin)
        kw_ids: list[int] = []
        if s.retrieval != "dense":
            top = np.argpartition(-kw, cand - 1)[:cand] if cand < n else np.arange(n)
            kw_ids = [int(i) for i in top[np.argsort(-kw[top])] if kw[i] > 0]
        timings["keyword"] = time.perf_counter() - t

        t = time.perf_counter()
        candidates = {idx.passages[p]["article"] for p in dense_ids + kw_ids}
        if s.fusion == "rrf":
            scores = self._rrf(idx, dense_ids, kw_ids)
        else:
            scores = self._score_fusion(idx, qvec, sims, kw, candidates)
        if idx.demoted is not None and s.demote_max > 0:  # articles that keep failing this question
            for art, factor in idx.demoted.factors(qvec, list(scores), s.demote_similarity, s.demote_max).items():
                scores[art] *= factor
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        hits = [make_hit(idx, qvec, tokens, art, score, s.confident_floor, locale) for art, score in ranked[:k]]
        timings["fuse"] = time.perf_counter() - t
        lead = ranked[0][1] - ranked[1][1] if len(ranked) > 1 else (ranked[0][1] if ranked else 0.0)
        values: dict[str, float] = {}
        probability = None
        if hits:
            top_rows = idx.rows_by_article[hits[0].id]
            best_kw = int(np.argmax(kw)) if len(kw) and kw.max() > 0 else -1
            values = calibrate.features(
                cosine=hits[0].dense, dense_lead=hits[0].dense - (hits[1].dense if len(hits) > 1 else 0.0), lead=lead, keyword_top=float(kw[top_rows].max()), text=norm,
                keyword_agrees=best_kw >= 0 and idx.passages[best_kw]["article"] == hits[0].id,
                typed_pinyin=typed_pinyin, rewritten=rewritten)
            cal = self._calibration(idx)
            if cal is not None:
                probability = cal.probability(values)
        if probability is not None:
            confident = probability >= self._calibration(idx).threshold  # type: ignore[union-attr]
        else:
            # Close enough to a passage, and clearly ahead of the next article (see README).
            leads = s.fusion == "rrf" or len(ranked) < 2 or lead >= s.confident_margin
            confident = bool(hits) and hits[0].confident and leads
        return Ranked(self._trim(hits, confident) if cut else hits, confident, probability, values)

    def _calibration(self, idx: LoadedIndex) -> calibrate.Calibration | None:
        """The shipped calibration where it applies: fitted for this index's model, with the
        default fusion (it was fitted on its scores), and not switched off."""
        if self.settings.confidence != "calibrated" or self.settings.fusion != "score":
            return None
        cal = calibrate.load()
        return cal if cal is not None and cal.model == idx.model else None

    def _trim(self, hits: list[Hit], confident: bool) -> list[Hit]:
        """Leave out the tail nobody should have to read: articles far below the best, and
        beyond a few guesses when there is no confident answer (a query about flights on a
        help center would otherwise list ten unrelated articles). Page, API and CLI agree."""
        s = self.settings
        if hits and s.fusion == "score" and s.result_cut > 0 and hits[0].score > 0:
            floor = hits[0].score * (1 - s.result_cut)
            hits = [h for h in hits if h.score >= floor]
        if not confident and s.max_guesses:
            hits = hits[: s.max_guesses]
        return hits

    def _keyword_scores(self, idx: LoadedIndex, norm: str, tokens: list[str], sounds: list[str] = (),  # type: ignore[assignment]
                        typed_pinyin: bool = False) -> np.ndarray:
        """Per passage: each field's BM25 scaled to this query's best match, weighted. The pinyin
        field counts as much as the characters when the query was typed as pinyin (its Chinese is
        only our guess), and a little otherwise (a homophone typo still shares its sound)."""
        s = self.settings
        total = np.zeros(len(idx.passages), dtype=np.float32)
        fields = (("chars", s.keyword_weight, char_ngrams(norm, normalised=True)),
                  ("jieba", s.jieba_weight, tokens),
                  (PINYIN_FIELD, s.keyword_weight if typed_pinyin else s.pinyin_weight, list(sounds)))
        # Ranking by keywords alone (keyword-only retrieval, RRF): both fields count equally.
        equal = s.retrieval == "keyword" or s.fusion == "rrf"
        for name, weight, terms in fields:
            weight = 1.0 if equal else weight
            if weight <= 0:
                continue
            if name not in idx.keyword or not terms:
                continue  # a build made before the pinyin field
            raw = idx.keyword[name].scores(terms)
            # Scaled to the best of the articles' own text: learned questions only add by nearness.
            own = raw if equal or s.retrieval == "keyword" else raw[idx.own_rows]
            top = float(own.max()) if len(own) else 0.0
            if top > 0:
                total += weight * raw / top
        return total

    def _score_fusion(self, idx: LoadedIndex, qvec: np.ndarray, sims: np.ndarray | None, kw: np.ndarray,
                      candidates: set[str]) -> dict[str, float]:
        """Article score = weighted best cosine + weighted best keyword score of its passages.

        Score-aware rather than rank-based: a weak keyword match (one shared
        character) adds little, where RRF would count it like a strong one.
        """
        s = self.settings
        dense_w = 0.0 if s.retrieval == "keyword" else s.dense_weight
        kw_w = 0.0 if s.retrieval == "dense" else 1.0
        out = {}
        for art in candidates:
            rows = idx.rows_by_article[art]
            learned = idx.learned_by_article.get(art, [])
            if learned and not dense_w:  # keyword only: a visitor's question is one more passage
                rows = rows + learned
            cos = sims[rows] if sims is not None else idx.row_vectors(rows) @ qvec
            out[art] = dense_w * float(cos.max()) + kw_w * float(kw[rows].max())
            if learned and dense_w:
                # A learned question is a question, and e5 puts any two questions closer to each other
                # than a question to an answer: as one more passage it would outrank the answers to
                # every loosely related question. So it adds only as near as the query is to it.
                near = sims[learned] if sims is not None else idx.row_vectors(learned) @ qvec
                out[art] += s.learned_boost * float(demotion.nearness(near, s.learned_similarity).max())
        return out

    def _rrf(self, idx: LoadedIndex, dense_ids: list[int], kw_ids: list[int]) -> dict[str, float]:
        """Reciprocal rank fusion over articles (each retriever's ranking, best passage per article)."""
        s = self.settings
        out: dict[str, float] = {}
        for weight, ids in ((s.dense_weight, dense_ids), (1.0, kw_ids)):
            seen: list[str] = []
            for pid in ids:
                art = idx.passages[pid]["article"]
                if art not in seen:
                    seen.append(art)
            for rank, art in enumerate(seen):
                out[art] = out.get(art, 0.0) + weight / (s.rrf_k + rank + 1)
        return out
