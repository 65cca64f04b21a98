"""BM25 over token lists, as one sparse matrix product per query.

Term weights are computed once at build time into a (passages x terms) CSC
matrix, so scoring a query is a column slice and a row sum: no Python loop
over documents.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np
import scipy.sparse as sp


class BM25:
    def __init__(self, weights: sp.csc_matrix, vocab: dict[str, int]) -> None:
        self.weights = weights
        self.vocab = vocab

    @classmethod
    def build(cls, docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> "BM25":
        vocab: dict[str, int] = {}
        rows, cols, tfs = [], [], []
        lengths = np.zeros(len(docs), dtype=np.float32)
        for i, doc in enumerate(docs):
            lengths[i] = len(doc)
            for term, tf in Counter(doc).items():
                rows.append(i)
                cols.append(vocab.setdefault(term, len(vocab)))
                tfs.append(tf)
        n = len(docs)
        tf = np.asarray(tfs, dtype=np.float32)
        row = np.asarray(rows, dtype=np.int64)
        col = np.asarray(cols, dtype=np.int64)
        df = np.bincount(col, minlength=len(vocab)).astype(np.float32)
        idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
        avgdl = float(lengths.mean()) if n else 1.0
        norm = k1 * (1.0 - b + b * lengths[row] / max(avgdl, 1e-9))
        w = idf[col] * tf * (k1 + 1.0) / (tf + norm)
        weights = sp.csc_matrix((w, (row, col)), shape=(n, len(vocab)), dtype=np.float32)
        return cls(weights, vocab)

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

    def save(self, folder: Path, field: str) -> None:
        weights_file, vocab_file = self.files(field)
        sp.save_npz(folder / weights_file, self.weights.tocsc(), compressed=False)
        (folder / vocab_file).write_text(json.dumps(self.vocab, ensure_ascii=False), "utf-8")

    @classmethod
    def load(cls, folder: Path, field: str) -> "BM25":
        weights_file, vocab_file = cls.files(field)
        weights = sp.load_npz(folder / weights_file).tocsc()
        vocab = json.loads((folder / vocab_file).read_text("utf-8"))
        return cls(weights, vocab)
