"""Text -> vectors, behind one small interface.

The build and the searcher only see :class:`Embedder`: ``encode(texts, role)``
returns L2-normalised float32 rows. ``role`` is "query" or "passage"; models
with prompts (e5 wants ``query: `` / ``passage: ``) get the matching one.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

if TYPE_CHECKING:
    from ..config import Settings

from .default_model import ensure_default_model
from .model_files import DEFAULT_MODEL_NAME, cache_root, source_fingerprint
from .onnx_model import OnnxEmbedder


class Embedder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str], role: str, batch_size: int = 32,
               progress: bool = False) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """Any sentence-transformers model: a hub name, a local folder, or the packaged default."""

    def __init__(self, model: str, cache: str = "") -> None:
        # No hub at run time: a name that is not on disk must fail fast, not hang.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        self.name = model_identity(model)
        if model == DEFAULT_MODEL_NAME:
            path = ensure_default_model(Path(cache) if cache else cache_root())
        else:
            path = Path(model)
        self._model = SentenceTransformer(str(path) if path.exists() else model, device="cpu")
        get_dim = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim() or 0)
        self._prompts = dict(self._model.prompts or {})

    def encode(self, texts: Sequence[str], role: str, batch_size: int = 32,
               progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._model.encode(
            list(texts),
            prompt=self._prompts.get(role),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


class HashEmbedder:
    """Deterministic character n-gram hashing, for fast tests and development.

    Not a language model: texts sharing characters score high. It lets most
    tests build real indexes in milliseconds; the real model has its own tests.
    """

    def __init__(self, dim: int = 256) -> None:
        self.name = f"hash-{dim}"
        self.dim = dim

    def encode(self, texts: Sequence[str], role: str, batch_size: int = 32,
               progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            chars = re.sub(r"\s+", "", text.lower())
            grams = list(chars) + [chars[i : i + 2] for i in range(len(chars) - 1)]
            for g in grams:
                h = int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
            else:
                out[row, 0] = 1.0
        return out


def model_identity(model: str, backend: str = "onnx") -> str:
    """The name an index records for ``model``, known without loading the model.

    torch and ONNX fp32 give the same vectors (checked at set-up), so they share
    a name; int8 vectors differ slightly and get their own.
    """
    if model == DEFAULT_MODEL_NAME:
        suffix = "+int8" if backend == "onnx-int8" else ""
        return f"{DEFAULT_MODEL_NAME}@{source_fingerprint()}{suffix}"
    if model == "hash":
        return "hash-256"
    return model


_cache: dict[tuple[str, str, str, int], Embedder] = {}


def load_embedder(model: str, cache: str = "", backend: str = "onnx", threads: int = 0) -> Embedder:
    """One embedder per model per process: loading a model takes seconds.

    ``backend`` applies to the packaged default model (other models run through
    sentence-transformers): ``onnx`` (default), ``onnx-int8`` or ``torch``.
    """
    key = (model, cache, backend, threads)
    if key not in _cache:
        if model == "hash" or model.startswith("hash-"):
            _cache[key] = HashEmbedder(int(model.split("-")[1]) if "-" in model else 256)
        elif model == DEFAULT_MODEL_NAME and backend.startswith("onnx"):
            folder = ensure_default_model(Path(cache) if cache else cache_root())
            emb = OnnxEmbedder(folder, "int8" if backend == "onnx-int8" else "fp32", threads)
            emb.name = model_identity(model, backend)
            _cache[key] = emb
        else:
            _cache[key] = SentenceTransformerEmbedder(model, cache)
    return _cache[key]


def embedder_for(settings: "Settings") -> Embedder:
    return load_embedder(settings.model, settings.model_cache, settings.embed_backend, settings.embed_threads)


def identity_for(settings: "Settings") -> str:
    return model_identity(settings.model, settings.embed_backend)
