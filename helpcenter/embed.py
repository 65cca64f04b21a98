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
    from .config import Settings

from .default_model import (
    DEFAULT_MODEL_NAME,
    WORD_EMBEDDINGS_INPUT,
    cache_root,
    dequantise_q4,
    ensure_default_model,
    source_fingerprint,
)


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


class OnnxEmbedder:
    """The default model through ONNX Runtime: same vectors as torch, about twice as fast.

    Needs neither torch nor sentence-transformers at run time, so the site starts
    in a fraction of the time. ``precision="int8"`` uses the dynamically quantised
    graph (faster still, slightly different vectors, so its own model identity).
    """

    def __init__(self, folder: Path, precision: str = "fp32", threads: int = 0) -> None:
        import onnxruntime as ort
        import sentencepiece

        from .default_model import ONNX_FILE, ONNX_INT8_FILE, SPM_FILE, WORD_EMBEDDINGS_FILE

        self.dim = 384
        self.name = ""
        self._tok = sentencepiece.SentencePieceProcessor(model_file=str(folder / SPM_FILE))
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            # Busy-waiting workers only pay off when one encode owns the cores.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        model_file = folder / (ONNX_INT8_FILE if precision == "int8" else ONNX_FILE)
        self._session = ort.InferenceSession(str(model_file), opts, providers=["CPUExecutionProvider"])
        # fp32 graph: we look up the word-embedding rows (see default_model).
        self._word_rows = np.load(folder / WORD_EMBEDDINGS_FILE) if precision == "fp32" else None
        self._prompts = {"query": "query: ", "passage": "passage: "}

    def token_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """<s> pieces </s>, cut to the model's 512 positions, padded: (ids, mask).

        SentencePiece collapses runs of whitespace; stripping the ends as well makes
        its ids those of tokenizer.json for any text.
        """
        pieces = self._tok.encode([t.strip() for t in texts])
        rows = [[0, *p[:510], 2] for p in pieces]
        width = max(len(r) for r in rows)
        ids = np.ones((len(rows), width), dtype=np.int64)  # 1 = <pad>
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        return ids, mask

    def encode(self, texts: Sequence[str], role: str, batch_size: int = 32,
               progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        prompt = self._prompts.get(role, "")
        # Similar lengths together: less padding per batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batches = range(0, len(order), batch_size)
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc="embedding", unit="batch")
        for start in batches:
            rows = order[start : start + batch_size]
            ids, mask = self.token_ids([prompt + texts[i] for i in rows])
            feed = {"input_ids": ids, "attention_mask": mask}
            if self._word_rows is not None:
                feed[WORD_EMBEDDINGS_INPUT] = dequantise_q4(self._word_rows[ids])
            out[rows] = self._session.run(None, feed)[0]
        return out


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
