"""BM25 over token lists, as one sparse matrix product per query.

Term weights are computed once at build time into a (passages x terms) CSC
matrix, so scoring a query is a column slice and a row sum: no Python loop
over documents. The raw term counts are kept beside the weights, so the next
build copies the rows of unchanged passages instead of counting them again.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np
import scipy.sparse as sp


class BM25:
    def __init__(self, weights: sp.csc_matrix, vocab: dict[str, int],
                 counts: sp.csr_matrix | None = None) -> None:
        self.weights = weights
        self.vocab = vocab
        self.counts = counts  # (passages x terms) raw term frequencies, for the next build

    @staticmethod
    def count(docs: Sequence[Sequence[str]], vocab: dict[str, int]) -> sp.csr_matrix:
        """Term counts of ``docs``; new terms are added to ``vocab`` in place."""
        indptr, cols, tfs = [0], [], []
        for doc in docs:
            for term, tf in Counter(doc).items():
                cols.append(vocab.setdefault(term, len(vocab)))
                tfs.append(tf)
            indptr.append(len(cols))
        return sp.csr_matrix((np.asarray(tfs, dtype=np.float32), np.asarray(cols, dtype=np.int64),
                              np.asarray(indptr, dtype=np.int64)), shape=(len(docs), len(vocab)))

    @classmethod
    def from_counts(cls, counts: sp.csr_matrix, vocab: dict[str, int],
                    k1: float = 1.2, b: float = 0.75) -> "BM25":
        """Weights from counts; terms no passage uses any more leave the vocabulary."""
        counts = sp.csr_matrix(counts, dtype=np.float32)
        counts.sum_duplicates()
        df = np.bincount(counts.indices, minlength=counts.shape[1]).astype(np.float32)
        if (df == 0).any():
            keep = np.flatnonzero(df)
            terms = sorted(vocab, key=vocab.__getitem__)
            vocab = {terms[old]: new for new, old in enumerate(keep.tolist())}
            counts = counts[:, keep]
            df = df[keep]
        n = counts.shape[0]
        lengths = np.asarray(counts.sum(axis=1), dtype=np.float32).ravel()
        coo = counts.tocoo()
        row, col, tf = coo.row, coo.col, coo.data
        idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
        avgdl = float(lengths.mean()) if n else 1.0
        norm = k1 * (1.0 - b + b * lengths[row] / max(avgdl, 1e-9))
        w = idf[col] * tf * (k1 + 1.0) / (tf + norm)
        weights = sp.csc_matrix((w, (row, col)), shape=counts.shape, dtype=np.float32)
        return cls(weights, vocab, counts)

    @classmethod
    def build(cls, docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> "BM25":
        vocab: dict[str, int] = {}
        return cls.from_counts(cls.count(docs, vocab), vocab, k1, b)

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        counts = Counter(t for t in query_tokens if t in self.vocab)
        if not counts:
            return np.zeros(self.weights.shape[0], dtype=np.float32)
        cols = [self.vocab[t] for t in counts]
        qw = np.asarray([counts[t] for t in counts], dtype=np.float32)
        return np.asarray(self.weights[:, cols] @ qw, dtype=np.float32).ravel()

    @staticmethod
    def files(field: str) -> tuple[str, str]:
        return f"{field}.npz", f"{field}.vocab.json"

    @staticmethod
    def counts_file(field: str) -> str:
        """A cache for the next build, not part of the index (searching never reads it)."""
        return f"{field}.counts.npz"

    def save(self, folder: Path, field: str) -> None:
        weights_file, vocab_file = self.files(field)
        sp.save_npz(folder / weights_file, self.weights.tocsc(), compressed=False)
        (folder / vocab_file).write_text(json.dumps(self.vocab, ensure_ascii=False), "utf-8")
        if self.counts is not None:
            sp.save_npz(folder / self.counts_file(field), self.counts, compressed=False)

    @classmethod
    def load(cls, folder: Path, field: str) -> "BM25":
        weights_file, vocab_file = cls.files(field)
        weights = sp.load_npz(folder / weights_file).tocsc()
        vocab = json.loads((folder / vocab_file).read_text("utf-8"))
        return cls(weights, vocab)

    @classmethod
    def load_counts(cls, folder: Path, field: str) -> sp.csr_matrix | None:
        try:
            return sp.load_npz(folder / cls.counts_file(field)).tocsr()
        except (OSError, ValueError):
            return None
