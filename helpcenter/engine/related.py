"""Related articles: the nearest articles by the mean of their passage vectors, worked out at
build time (helpcenter.engine.build) so an article page needs no search to list them."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from .index import LoadedIndex

RELATED_PER_ARTICLE = 4


def related_articles(vectors: np.ndarray, owners: list[str], ids: list[str],
                     only: set[str] | None = None) -> dict[str, list[str]]:
    """Nearest articles by the mean of their passage vectors (for ``only`` those, if given)."""
    if not ids:
        return {}
    pos = {a: i for i, a in enumerate(ids)}
    owner_of_row = np.fromiter((pos[o] for o in owners), dtype=np.int64, count=len(owners))
    membership = sp.csr_matrix((np.ones(len(owners), dtype=np.float32), (owner_of_row, np.arange(len(owners)))),
                               shape=(len(ids), len(owners)))
    centroids = np.asarray(membership @ vectors, dtype=np.float32)
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-9)
    k = min(RELATED_PER_ARTICLE, len(ids) - 1)
    out: dict[str, list[str]] = {}
    if k < 1:
        return {a: [] for a in ids}
    # In blocks, with a partial sort: the full n x n ranking took seconds at 10k articles.
    rows = np.arange(len(ids)) if only is None else np.array(sorted(pos[a] for a in only), dtype=np.int64)
    for start in range(0, len(rows), 1024):
        block = rows[start : start + 1024]
        sims = centroids[block] @ centroids.T
        sims[np.arange(len(block)), block] = -np.inf
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        for r, cols in enumerate(top):
            best = cols[np.argsort(-sims[r, cols])]
            out[ids[block[r]]] = [ids[j] for j in best]
    return out


def related_again(vectors: np.ndarray, owners: list[str], ids: list[str], articles_json: dict[str, Any],
                   live: LoadedIndex) -> dict[str, list[str]]:
    """Related articles for a preview: the live build's lists where the article did not change,
    worked out again for those that did (comparing all 10,000 takes seconds; a save changes one)."""
    kept = {a: live.articles[a].get("related", []) for a in ids
            if a in live.articles and live.articles[a].get("hash") == articles_json[a]["hash"]
            and all(r in articles_json for r in live.articles[a].get("related", []))}
    if len(kept) == len(ids):
        return kept
    again = related_articles(vectors, owners, ids, only={a for a in ids if a not in kept})
    return {**kept, **again}
