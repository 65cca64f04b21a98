"""Fine-tune the embedding model on what search learned: (visitor's question -> article text).

Learned passages teach the index a question's exact words; fine-tuning teaches the model the
site's vocabulary, so paraphrases nobody asked yet land closer to their article too. It is an
experiment a site runs on its own data, judged on pairs it did not train on: the tuned model
is kept only if it ranks the held-out pairs' articles clearly better than the current model.

Training is contrastive with in-batch negatives (sentence-transformers'
``MultipleNegativesRankingLoss``), with e5's prompts, on the CPU. The word-embedding table
(96 M of e5-small's 118 M weights) stays frozen: a few hundred pairs cannot move it usefully,
and freezing it makes each step several times cheaper. A plain loop over the loss rather than
sentence-transformers' trainer, which needs ``datasets`` and ``accelerate`` besides.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .build import ROLE_FOR_KIND

QUERY_PROMPT, PASSAGE_PROMPT = "query: ", "passage: "
MIN_JUDGE_PAIRS = 20   # fewer held-out pairs cannot tell a better model from luck
GAIN_NEEDED = 0.01     # MRR@10 a tuned model must win by on the held-out pairs to be kept


@dataclass
class Pair:
    query: str
    article: str
    text: str  # the article's text the query should land near (a passage of it)


@dataclass
class TuneReport:
    pairs: int
    held_out: int
    epochs: int
    seconds: float
    base_mrr: float
    tuned_mrr: float
    path: str

    @property
    def better(self) -> bool:
        return self.tuned_mrr >= self.base_mrr + GAIN_NEEDED

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def held_out(query: str, share: float) -> bool:
    """Pairs held out for judging, by a hash of the query: stable from run to run."""
    return hashlib.sha256(query.encode("utf-8")).digest()[0] < share * 256


def dense_mrr(encode: Callable[[Sequence[str], str], np.ndarray], pairs: Sequence[Pair],
              passages: Sequence[tuple[str, str, str]], k: int = 10) -> float:
    """MRR@k of each pair's article when articles are ranked by their best passage's cosine.
    ``passages``: (article, text, role)."""
    if not pairs:
        return float("nan")
    by_role: dict[str, list[int]] = {}
    for i, (_a, _t, role) in enumerate(passages):
        by_role.setdefault(role, []).append(i)
    vectors = np.zeros((len(passages), 0), dtype=np.float32)
    for role, rows in by_role.items():
        enc = encode([passages[i][1] for i in rows], role)
        if vectors.shape[1] == 0:
            vectors = np.zeros((len(passages), enc.shape[1]), dtype=np.float32)
        vectors[rows] = enc
    owners = np.array([a for a, _t, _r in passages])
    articles, inverse = np.unique(owners, return_inverse=True)
    queries = encode([p.query for p in pairs], "query")
    total = 0.0
    for pair, qvec in zip(pairs, queries):
        best = np.full(len(articles), -np.inf, dtype=np.float32)
        np.maximum.at(best, inverse, vectors @ qvec)
        ranked = articles[np.argsort(-best)][:k]
        hits = np.flatnonzero(ranked == pair.article)
        total += 1.0 / (int(hits[0]) + 1) if len(hits) else 0.0
    return float(total / len(pairs))


def fine_tune(model_path: str, pairs: Sequence[Pair], out: Path, *, epochs: int = 1, batch_size: int = 32,
              lr: float = 2e-5, max_tokens: int = 256, seed: int = 0,
              log: Callable[[str], None] = lambda _m: None) -> Path:
    """Train a copy of the sentence-transformers model at ``model_path`` on ``pairs``; write it to
    ``out`` (a complete sentence-transformers folder). Returns ``out``."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # e5 has no pooler weights, and needs none: not "MISSING"
    hf_logging.disable_progress_bar()
    torch.manual_seed(seed)
    model = SentenceTransformer(model_path, device="cpu")
    saved_length = model.max_seq_length
    model.max_seq_length = min(saved_length, max_tokens)  # long answers: their start says what they are about
    for name, param in model.named_parameters():
        if "word_embeddings" in name:
            param.requires_grad = False
    loss_fn = MultipleNegativesRankingLoss(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=lr)
    order = list(range(len(pairs)))
    rng = random.Random(seed)
    steps = epochs * math.ceil(len(pairs) / batch_size)
    done = 0
    model.train()
    for epoch in range(epochs):
        rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            batch = [pairs[i] for i in order[start:start + batch_size]]
            if len(batch) < 2:
                continue  # in-batch negatives need company
            # Two pairs of one article in a batch would be each other's "negatives": keep one.
            seen: dict[str, Pair] = {}
            for p in batch:
                seen.setdefault(p.article, p)
            batch = list(seen.values())
            q = model.tokenize([QUERY_PROMPT + p.query for p in batch])
            d = model.tokenize([PASSAGE_PROMPT + p.text for p in batch])
            loss = loss_fn([q, d], torch.zeros(len(batch)))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            done += 1
            if done % 10 == 0 or done == steps:
                log(f"tune: step {done}/{steps} (epoch {epoch + 1}), loss {loss.item():.3f}")
    model.eval()
    model.max_seq_length = saved_length
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out))
    (out / "helpcenter-tune.json").write_text(json.dumps(
        {"base": model_path, "pairs": len(pairs), "epochs": epochs, "batch_size": batch_size, "lr": lr,
         "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, ensure_ascii=False, indent=2), "utf-8")
    return out


class TuneError(RuntimeError):
    """Why there is nothing to tune, or nothing to tune with."""




def pairs_from_index(idx: Any, embedder: Any, learned: Sequence[tuple[str, str]]) -> list[Pair]:
    """Each learned (article, query) with the article's passage the current model puts closest to
    the query: what the query was answered by. Learned passages themselves are never a target."""
    usable = [(a, q) for a, q in learned if a in idx.rows_by_article]
    if not usable:
        return []
    qvecs = embedder.encode([q for _a, q in usable], "query")
    out = []
    for (article, query), qvec in zip(usable, qvecs):
        rows = idx.rows_by_article[article]  # the article's own passages, never the learned ones
        best = rows[int((idx.row_vectors(rows) @ qvec).argmax())]
        out.append(Pair(query, article, idx.passages[best]["text"]))
    return out


def tune_on_site(idx: Any, current: Any, model_path: str, learned: Sequence[tuple[str, str]], out: Path, *,
                 epochs: int = 1, min_pairs: int = 50, held_share: float = 0.2,
                 load: Callable[[str], Any] | None = None, log: Callable[[str], None] = lambda _m: None) -> TuneReport:
    """Tune ``model_path`` on the site's learned pairs, holding ``held_share`` of them out, and judge
    both models on those: MRR@10 of their article among the live index's articles (dense, over
    every passage but the learned ones, which would hold the very questions being judged).
    ``current`` is the embedder serving now; ``load(path)`` an embedder for the tuned folder."""
    pairs = pairs_from_index(idx, current, learned)
    judge = [p for p in pairs if held_out(p.query, held_share)]
    train = [p for p in pairs if not held_out(p.query, held_share)]
    if len(train) < min_pairs or len(judge) < MIN_JUDGE_PAIRS:
        raise TuneError(f"not enough learned questions to tune on: {len(train)} to train on (need {min_pairs}) "
                        f"and {len(judge)} held out to judge by (need {MIN_JUDGE_PAIRS}), from {len(pairs)} "
                        "pairs; search learns more with every visit (helpcenter learn list)")
    passages = [(p["article"], p["text"], _role(p["kind"])) for p in idx.passages if p["kind"] != "learned"]
    t = time.perf_counter()
    fine_tune(model_path, train, out, epochs=epochs, log=log)
    seconds = time.perf_counter() - t
    base = dense_mrr(current.encode, judge, passages)
    if load is None:
        from .embed import SentenceTransformerEmbedder

        load = SentenceTransformerEmbedder
    tuned = dense_mrr(load(str(out)).encode, judge, passages)
    report = TuneReport(len(train), len(judge), epochs, round(seconds, 1), round(base, 4), round(tuned, 4), str(out))
    (out / "helpcenter-tune.json").write_text(json.dumps(
        {**json.loads((out / "helpcenter-tune.json").read_text("utf-8")), **report.as_json()},
        ensure_ascii=False, indent=2), "utf-8")
    return report


def _role(kind: str) -> str:
    return ROLE_FOR_KIND.get(kind, "passage")
