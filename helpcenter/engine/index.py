"""The index on disk: one folder per build, and a ``current`` link to the live one.

Layout of ``<index_dir>``::

    builds/<build_id>/   manifest.json, vectors.faiss (ids + vectors only),
                         slots.npy (which passage each vector in vectors.faiss is),
                         jieba.npz + chars.npz with vocabularies (BM25 per field),
                         passages.json,
                         articles.json, categories.json, dictionary.txt
    current -> builds/<build_id>

A build is written beside the live one and published by atomically replacing
the ``current`` symlink, so a reader sees either the old or the new build,
never a mixture. ``manifest.json`` records how the build was made (model,
dimension, tokeniser fingerprint, per-file checksums) and is checked on load.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ..fsutil import fsync_dir
from . import demotion
from .bm25 import BM25
from .pinyin import PinyinVocab

FORMAT_VERSION = 3  # 2: keyword fields jieba + chars; 3: slots.npy (graph indexes grow)
CURRENT = "current"
BUILDS = "builds"
KEYWORD_FIELDS = ("jieba", "chars")
DATA_FILES = ("vectors.faiss", "slots.npy", *[f for field in KEYWORD_FIELDS for f in BM25.files(field)], "passages.json",
              "articles.json", "categories.json", "dictionary.txt")
# Added in a later release without a format change, so a build made before it still loads (and
# its vectors are reused by the next build): without them search has no pinyin (engine.pinyin).
PINYIN_FIELD = "pinyin"
PINYIN_VOCAB = "pinyin_vocab.json"
OPTIONAL_FILES = (*BM25.files(PINYIN_FIELD), PINYIN_VOCAB)


class IndexError_(RuntimeError):
    """Base for index problems; messages say what is wrong and what to do."""


class IndexMissing(IndexError_):
    pass


class IndexCorrupt(IndexError_):
    pass


class IndexMismatch(IndexError_):
    pass


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# Below this many passages an exact scan costs a few milliseconds; above it a graph
# search answers in well under one (recall@50 about 0.98 at 51k passages).
HNSW_FROM_PASSAGES = 20_000
# A graph index is grown rather than rebuilt (building it is most of a one-article
# rebuild at 10k articles) until this share of its vectors belongs to no passage.
MAX_DEAD_SHARE = 0.2


def resolved_ann_kind(kind: str, n: int) -> str:
    if kind == "auto":
        return "hnsw" if n >= HNSW_FROM_PASSAGES else "flat"
    return kind


def make_ann(kind: str, dim: int, n: int) -> faiss.Index:
    """Exact inner product for help-center sized corpora; HNSW or IVF when a corpus outgrows it."""
    kind = resolved_ann_kind(kind, n)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 40
        index.hnsw.efSearch = 128
        return index
    if kind == "ivf" and n >= 1000:
        nlist = max(1, int(np.sqrt(n)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.nprobe = max(1, nlist // 8)
        return index
    return faiss.IndexFlatIP(dim)


@dataclass
class LoadedIndex:
    """Everything a searcher needs, read from one build folder."""

    path: Path
    manifest: dict[str, Any]
    ann: faiss.Index
    vectors: np.ndarray  # as stored in ``ann``: one row per slot
    keyword: dict[str, BM25]  # field name -> BM25 (jieba tokens, character n-grams, pinyin if built)
    passages: list[dict[str, Any]]
    articles: dict[str, dict[str, Any]]
    categories: dict[str, dict[str, Any]]
    # Slot in ``ann`` -> passage row, -1 where the passage is gone (a grown graph index).
    slot_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    rows_by_article: dict[str, list[int]] = field(default_factory=dict)  # the article's own passages
    learned_by_article: dict[str, list[int]] = field(default_factory=dict)  # visitors' questions (kind learned)
    pinyin: PinyinVocab | None = None  # sound -> words of this corpus (None: built before pinyin)
    demoted: demotion.Demotions | None = None  # queries articles keep failing (engine.demotion)
    # A build a preview made in memory (never written): what its keyword counts were made with.
    keyword_made_with: dict[str, str] | None = None
    exact: bool = field(init=False)  # flat index: scanning ``vectors`` directly is the search
    row_slots: np.ndarray | None = field(init=False)  # passage row -> slot; None when equal
    own_rows: np.ndarray = field(init=False)  # True where the passage is the article's own text

    def __post_init__(self) -> None:
        n = len(self.passages)
        if len(self.slot_rows) == n and np.array_equal(self.slot_rows, np.arange(n)):
            self.row_slots = None
        else:
            self.row_slots = np.empty(n, dtype=np.int64)
            alive = np.flatnonzero(self.slot_rows >= 0)
            self.row_slots[self.slot_rows[alive]] = alive
        self.exact = isinstance(self.ann, faiss.IndexFlat) and self.row_slots is None
        for row, p in enumerate(self.passages):
            by = self.learned_by_article if p["kind"] == "learned" else self.rows_by_article
            by.setdefault(p["article"], []).append(row)
        self.own_rows = np.array([p["kind"] != "learned" for p in self.passages], dtype=bool)

    @property
    def build_id(self) -> str:
        return str(self.manifest["build_id"])

    @property
    def model(self) -> str:
        return str(self.manifest["model"])

    def row_vectors(self, rows: list[int] | np.ndarray) -> np.ndarray:
        """The vectors of these passage rows."""
        return self.vectors[rows] if self.row_slots is None else self.vectors[self.row_slots[rows]]

    def nearest(self, qvec: np.ndarray, k: int) -> list[int]:
        """Passage rows of the ``k`` nearest vectors by the ANN index, best first."""
        n_slots = self.ann.ntotal
        if self.row_slots is None:
            _scores, ids = self.ann.search(qvec[None, :], min(k, n_slots))
            return [int(i) for i in ids[0] if i >= 0]
        # Slots of removed passages are skipped: ask for enough more to make up for them.
        dead = 1.0 - len(self.passages) / max(1, n_slots)
        _scores, ids = self.ann.search(qvec[None, :], min(n_slots, int(k / max(1e-3, 1.0 - dead)) + 8))
        rows = self.slot_rows[ids[0][ids[0] >= 0]]
        return [int(r) for r in rows[rows >= 0][:k]]


def grow_ann(previous: LoadedIndex, vectors: np.ndarray, keys: list[str]) -> tuple[faiss.Index, np.ndarray] | None:
    """The previous build's graph index with this build's new vectors added, and its
    slot -> row map; None when it should be built afresh instead.

    Vectors of unchanged passages stay in their slots (same text, same vector), slots of
    removed passages are skipped at search time, new passages are appended. Past
    ``MAX_DEAD_SHARE`` skipped slots, or for any other kind of index, build afresh.
    """
    if not isinstance(previous.ann, faiss.IndexHNSW) or previous.ann.d != vectors.shape[1]:
        return None
    free: dict[str, list[int]] = {}
    for slot, row in enumerate(previous.slot_rows.tolist()):
        if row >= 0:
            free.setdefault(previous.passages[row]["key"], []).append(slot)
    slot_rows = np.full(previous.ann.ntotal, -1, dtype=np.int64)
    appended = []
    for row, key in enumerate(keys):
        if free.get(key):
            slot_rows[free[key].pop()] = row
        else:
            appended.append(row)
    total = previous.ann.ntotal + len(appended)
    if total - len(keys) > MAX_DEAD_SHARE * total:
        return None
    ann = faiss.clone_index(previous.ann)  # the live one stays untouched
    if appended:
        ann.add(vectors[appended])
    return ann, np.concatenate([slot_rows, np.asarray(appended, dtype=np.int64)])


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise IndexCorrupt(f"{path} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexCorrupt(f"{path} is not valid JSON ({exc})") from None


def load_build(folder: Path, verify_checksums: bool = True) -> LoadedIndex:
    """Load and cross-check one build; any inconsistency raises :class:`IndexCorrupt`."""
    if not folder.is_dir():
        raise IndexMissing(f"no index at {folder}: run `helpcenter build-index`")
    manifest = _read_json(folder / "manifest.json")
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        raise IndexCorrupt(
            f"{folder}/manifest.json has format {manifest.get('format_version') if isinstance(manifest, dict) else '?'}, "
            f"this version reads {FORMAT_VERSION}: rebuild with `helpcenter build-index`"
        )
    files = manifest.get("files", {})
    # Listed: then required like the rest.
    optional = [name for name in (*OPTIONAL_FILES, demotion.DEMOTED_FILE) if name in files]
    for name in (*DATA_FILES, *optional):
        path = folder / name
        if not path.is_file():
            raise IndexCorrupt(f"{path} is missing")
        if verify_checksums and files.get(name) != sha256_file(path):
            raise IndexCorrupt(f"{path} does not match its checksum in manifest.json (corrupt or truncated)")
    try:
        ann = faiss.read_index(str(folder / "vectors.faiss"))
    except RuntimeError as exc:
        raise IndexCorrupt(f"{folder}/vectors.faiss cannot be read: {exc}") from None
    passages = _read_json(folder / "passages.json")
    articles = _read_json(folder / "articles.json")
    categories = _read_json(folder / "categories.json")
    keyword = {}
    pinyin = None
    fields = [*KEYWORD_FIELDS, *([PINYIN_FIELD] if set(OPTIONAL_FILES) <= set(optional) else [])]
    if PINYIN_FIELD in fields:
        try:
            pinyin = PinyinVocab.from_json(_read_json(folder / PINYIN_VOCAB))
        except (AttributeError, TypeError, ValueError) as exc:
            raise IndexCorrupt(f"{folder}/{PINYIN_VOCAB} cannot be read: {exc}") from None
    for field_name in fields:
        try:
            keyword[field_name] = BM25.load(folder, field_name)
        except Exception as exc:  # numpy/scipy raise many types for bad files
            raise IndexCorrupt(f"{folder}/{BM25.files(field_name)[0]} cannot be read: {exc}") from None
    slot_rows = _read_slots(folder / "slots.npy")
    n = len(passages)
    rows = {f: k.weights.shape[0] for f, k in keyword.items()}
    alive = np.sort(slot_rows[slot_rows >= 0])
    if (len(slot_rows) != ann.ntotal or not np.array_equal(alive, np.arange(n)) or set(rows.values()) != {n}
            or manifest.get("counts", {}).get("passages") != n):
        raise IndexCorrupt(
            f"{folder}: passage counts disagree (vectors {ann.ntotal} in {len(slot_rows)} slots, "
            f"{len(alive)} of them live, keyword {rows}, metadata {n})"
        )
    if ann.d != manifest.get("dim"):
        raise IndexCorrupt(f"{folder}: vectors have dimension {ann.d}, manifest says {manifest.get('dim')}")
    try:
        demoted = demotion.load(folder, manifest)
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"{folder}/{demotion.DEMOTED_FILE} cannot be read: {exc}") from None
    return LoadedIndex(folder, manifest, ann, vectors_of(ann), keyword, passages, articles, categories, slot_rows,
                       pinyin=pinyin, demoted=demoted)


def _read_slots(path: Path) -> np.ndarray:
    try:
        slots = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"{path} cannot be read: {exc}") from None
    if slots.ndim != 1 or slots.dtype.kind != "i":
        raise IndexCorrupt(f"{path} is not a list of passage rows")
    return slots.astype(np.int64, copy=False)


def vectors_of(ann: faiss.Index) -> np.ndarray:
    """The stored vectors as an array; a view of FAISS's own copy where it keeps one flat.

    A view rather than a copy: at 50k passages that is 80 MB less per server process.
    The view is valid while ``ann`` lives (a :class:`LoadedIndex` holds both).
    """
    n, d = ann.ntotal, ann.d
    if n == 0:
        return np.zeros((0, d), dtype=np.float32)
    flat = faiss.downcast_index(ann.storage) if isinstance(ann, faiss.IndexHNSW) else ann
    if isinstance(flat, faiss.IndexFlat):
        return faiss.rev_swig_ptr(flat.get_xb(), n * d).reshape(n, d)
    if isinstance(ann, faiss.IndexIVF):
        ann.make_direct_map()
    return ann.reconstruct_n(0, n)


def stored_vectors(folder: Path) -> tuple[str, list[dict[str, Any]], np.ndarray] | None:
    """(model, passages, vectors) of any readable build, even of an older format,
    so a format change does not force re-embedding everything."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
        passages = json.loads((folder / "passages.json").read_text("utf-8"))
        ann = faiss.read_index(str(folder / "vectors.faiss"))
        if isinstance(ann, faiss.IndexIVF):
            ann.make_direct_map()
        stored = ann.reconstruct_n(0, ann.ntotal)
        if (folder / "slots.npy").is_file():
            slot_rows = np.load(folder / "slots.npy", allow_pickle=False)
            vectors = np.zeros((len(passages), ann.d), dtype=np.float32)
            vectors[slot_rows[slot_rows >= 0]] = stored[slot_rows >= 0]
            stored = vectors
        if len(stored) != len(passages):
            return None
        return str(manifest["model"]), passages, stored
    except (OSError, ValueError, KeyError, RuntimeError, IndexError):
        return None


def current_target(index_dir: Path) -> Path | None:
    """The build folder ``current`` points to, or None when nothing is published."""
    link = index_dir / CURRENT
    try:
        target = os.readlink(link)
    except (FileNotFoundError, OSError):
        return None
    return (index_dir / target).resolve()


def load_current(index_dir: Path) -> LoadedIndex:
    target = current_target(index_dir)
    if target is None:
        raise IndexMissing(f"no index published in {index_dir}: run `helpcenter build-index`")
    return load_build(target)


def ann_for(vectors: np.ndarray, ann_kind: str,
            grown: tuple[faiss.Index, np.ndarray] | None = None) -> tuple[faiss.Index, np.ndarray]:
    """The ANN index of a build and its slot -> row map: the previous graph grown, or a new one."""
    if grown is not None:
        return grown
    ann = make_ann(ann_kind, vectors.shape[1], len(vectors))
    if len(vectors) and not ann.is_trained:
        ann.train(vectors)
    if len(vectors):
        ann.add(vectors)
    return ann, np.arange(len(vectors), dtype=np.int64)


def write_build(folder: Path, manifest: dict[str, Any], vectors: np.ndarray, ann_kind: str,
                keyword: dict[str, BM25], passages: list[dict[str, Any]], articles: dict[str, Any],
                categories: dict[str, Any], dictionary: Path | None,
                grown: tuple[faiss.Index, np.ndarray] | None = None, pinyin: PinyinVocab | None = None,
                demoted: np.ndarray | None = None) -> None:
    """Write every file, fsync them, then the manifest (with checksums) last.

    ``grown`` is the previous build's graph index grown by :func:`grow_ann`; without
    it the ANN index is built from ``vectors``.
    """
    folder.mkdir(parents=True)
    ann, slot_rows = ann_for(vectors, ann_kind, grown)
    faiss.write_index(ann, str(folder / "vectors.faiss"))
    np.save(folder / "slots.npy", slot_rows)
    for field_name, bm25 in keyword.items():
        bm25.save(folder, field_name)
    for name, obj in (("passages.json", passages), ("articles.json", articles), ("categories.json", categories)):
        (folder / name).write_text(json.dumps(obj, ensure_ascii=False), "utf-8")
    if dictionary and dictionary.is_file():
        shutil.copyfile(dictionary, folder / "dictionary.txt")
    else:
        (folder / "dictionary.txt").write_text("", "utf-8")
    names = list(DATA_FILES)
    if pinyin is not None and PINYIN_FIELD in keyword:
        (folder / PINYIN_VOCAB).write_text(json.dumps(pinyin.as_json(), ensure_ascii=False), "utf-8")
        names += OPTIONAL_FILES
    if demoted is not None and len(demoted):  # the queries of manifest["demoted"], in its order
        demotion.write(folder, demoted)
        names.append(demotion.DEMOTED_FILE)
    manifest = dict(manifest, files={name: sha256_file(folder / name) for name in names})
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), "utf-8")
    for name in (*names, "manifest.json"):
        with open(folder / name, "rb") as f:
            os.fsync(f.fileno())
    fsync_dir(folder)



def publish(index_dir: Path, build_folder: Path) -> None:
    """Point ``current`` at ``build_folder`` in one atomic rename."""
    tmp_link = index_dir / f".{CURRENT}.{os.getpid()}"
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    os.symlink(os.path.relpath(build_folder, index_dir), tmp_link)
    os.replace(tmp_link, index_dir / CURRENT)
    fsync_dir(index_dir)


def prune_builds(index_dir: Path, keep: int) -> list[Path]:
    """Remove the oldest builds beyond ``keep``, never the live one; return what went."""
    live = current_target(index_dir)
    builds = sorted((p for p in (index_dir / BUILDS).iterdir() if p.is_dir()), key=lambda p: p.name)
    removed = []
    finished = [b for b in builds if not b.name.startswith(".")]
    for old in finished[: max(0, len(finished) - keep)]:
        if live is not None and old.resolve() == live:
            continue
        shutil.rmtree(old, ignore_errors=True)
        removed.append(old)
    # Leftovers of interrupted builds (".tmp-*") are never served; clear them.
    for tmp in (b for b in builds if b.name.startswith(".tmp-")):
        shutil.rmtree(tmp, ignore_errors=True)
    return removed
