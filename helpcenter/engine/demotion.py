"""Articles that keep failing a query lose rank for it, and for its near paraphrases.

When visitors who searched "退款多久到账" keep opening 充值没到账怎么办 and saying it did not help
(or asking for a person after reading it), that article is the wrong answer to that question,
however well its words match. ``helpcenter.insights.learning`` finds such (article, query)
pairs from the logs; the build embeds each query (as a query, like the visitor's) and stores
them beside the index, and the searcher scales the article's score down when a new query is
close to one of them.

Within limits, because visitors are noisy and an article may still be the best there is:
- the penalty is at most ``demote_max`` of the article's score (never removed from results);
- it fades with distance: full for the query itself, nothing below ``demote_similarity``
  (e5 puts unrelated Chinese questions at 0.85-0.90 of each other, paraphrases above 0.92);
- ``strength`` (0-1, from the evidence) scales it, so three unhappy visits weigh less than thirty.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

DEMOTED_FILE = "demoted.npy"  # one row per demoted pair, in manifest["demoted"] order


def nearness(cosines: np.ndarray, similarity: float) -> np.ndarray:
    """0 at or below ``similarity``, rising to 1 at the same text (cosine 1): how nearly a query is
    one recorded before. Demotions and learned questions both count only as near as they are."""
    return np.clip((cosines - similarity) / max(1.0 - similarity, 1e-6), 0.0, 1.0)


@dataclass
class Demotions:
    entries: list[dict[str, Any]]  # {"article", "query", "strength"}, as in the manifest
    vectors: np.ndarray            # the queries' vectors, one row per entry
    by_article: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for row, entry in enumerate(self.entries):
            self.by_article.setdefault(entry["article"], []).append(row)

    def factors(self, qvec: np.ndarray, articles: Sequence[str], similarity: float,
                most: float) -> dict[str, float]:
        """Score multipliers (below 1) for those of ``articles`` demoted near this query."""
        out = {}
        for art in articles:
            rows = self.by_article.get(art)
            if not rows:
                continue
            sims = self.vectors[rows] @ qvec
            near = nearness(sims, similarity)
            strength = np.array([self.entries[r]["strength"] for r in rows], dtype=np.float32)
            penalty = float((near * strength).max()) * most
            if penalty > 0:
                out[art] = 1.0 - penalty
        return out


def normalised_entries(pairs: Sequence[tuple[str, str, float]], articles: set[str]) -> list[dict[str, Any]]:
    """(article, query, strength) pairs for published articles, one per pair, sorted (the
    fingerprint depends on them)."""
    seen: dict[tuple[str, str], float] = {}
    for article, query, strength in pairs:
        query = " ".join(str(query).split())
        if article in articles and query:
            seen[(article, query)] = max(seen.get((article, query), 0.0), min(max(float(strength), 0.0), 1.0))
    return [{"article": a, "query": q, "strength": round(s, 4)} for (a, q), s in sorted(seen.items()) if s > 0]


def write(folder: Path, vectors: np.ndarray) -> None:
    np.save(folder / DEMOTED_FILE, np.ascontiguousarray(vectors, dtype=np.float32))


def load(folder: Path, manifest: dict[str, Any]) -> Demotions | None:
    """The build's demotions, or None (none recorded, or a build made before demotion).
    Raises ValueError when the file and the manifest disagree."""
    entries = manifest.get("demoted") or []
    if not entries:
        return None
    vectors = np.load(folder / DEMOTED_FILE, allow_pickle=False)
    if vectors.ndim != 2 or len(vectors) != len(entries) or vectors.shape[1] != manifest.get("dim"):
        raise ValueError(f"{DEMOTED_FILE} holds {vectors.shape}, the manifest lists {len(entries)} "
                         f"demoted queries of dimension {manifest.get('dim')}")
    return Demotions(entries, vectors)


def previous_vectors(folder: Path | None, manifest: dict[str, Any] | None) -> dict[str, np.ndarray]:
    """query -> vector from the live build, so an unchanged demotion is not embedded again."""
    if folder is None or not manifest:
        return {}
    try:
        found = load(folder, manifest)
    except (OSError, ValueError, json.JSONDecodeError):
        return {}
    if found is None:
        return {}
    return {e["query"]: found.vectors[i] for i, e in enumerate(found.entries)}
