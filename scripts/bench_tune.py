"""What fine-tuning the model on learned pairs costs and gains (helpcenter.engine.tune).

Usage: scripts/bench-tune [--sets bq_corpus,insuranceqa_zh] [--epochs 1] [--insurance-sample N] [--reuse]

For each bench set: the half-A queries with their labelled entries are the learned pairs (what
`bench-quality --learn` teaches search: each query -> the entry's passage that the current model
finds closest to it). The default model is fine-tuned on them; the set's index is rebuilt with
the tuned model and half B is evaluated with both, side by side, in one run. Our own held-out set
(tests/eval) is evaluated with each tuned model too: tuning on one domain must not spoil another.
Prints minutes of training for N pairs on this machine and MRR@10 for each model, uncut (no
result cut, no 5-guess limit: the cut was fitted on the current model's scores).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import bench_quality as bq  # noqa: E402

from helpcenter.config import Settings, load_settings  # noqa: E402
from helpcenter.engine.default_model import DEFAULT_MODEL_NAME, ensure_default_model  # noqa: E402
from helpcenter.engine.embed import embedder_for  # noqa: E402
from helpcenter.engine.evaluate import read_qrels, read_queries  # noqa: E402
from helpcenter.engine.index import load_current  # noqa: E402
from helpcenter.engine.tune import Pair, fine_tune, pairs_from_index  # noqa: E402


def learned_pairs(settings: Settings, embedder: Any, queries: list[dict[str, str]],
                  qrels: dict[str, set[str]]) -> list[Pair]:
    """Each labelled half-A query with the passage of its entry that the current model puts closest,
    chosen as `helpcenter tune` chooses it."""
    idx = load_current(Path(settings.index_dir))
    return pairs_from_index(idx, embedder, [(sorted(qrels[q["id"]])[0], q["text"]) for q in queries
                                            if q["id"] in qrels])


def evaluate_all(name: str, settings: Settings, queries: list[dict[str, str]],
                 qrels: dict[str, dict[str, set[str]]], label: str) -> list[dict[str, Any]]:
    # Ranking quality, uncut: the tuned model's cosines are on another scale than the ones the
    # result cut and `confident` were fitted on, which would cap its lists at 5 guesses.
    settings = settings.with_overrides(result_cut=0.0, max_guesses=0)
    embedder, cache = bq.prepared(name, settings, queries, label)
    return [bq.evaluate_method(name, settings, embedder, cache, method, queries, qrels, f"{method}, {label}")[0]
            for method in ("dense", "hybrid")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="bq_corpus,insuranceqa_zh")
    ap.add_argument("--bench", default=str(ROOT.parent / "shared" / "bench"))
    ap.add_argument("--work", default=os.path.expanduser("~/.cache/helpcenter/bench"))
    ap.add_argument("--insurance-sample", type=int, default=5000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--reuse", action="store_true", help="evaluate models tuned by an earlier run (no cost row)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    base = load_settings()
    if base.model != DEFAULT_MODEL_NAME:
        sys.exit("bench-tune fine-tunes the default model; unset HELPCENTER_MODEL")
    folder = str(ensure_default_model(Path(base.model_cache) if base.model_cache else None))
    bench, work = Path(args.bench), Path(args.work)
    held_q = read_queries(ROOT / "tests/eval/queries.jsonl")
    held = {"strict": read_qrels(ROOT / "tests/eval/qrels.tsv")}
    ours = dict(articles_dir=str(ROOT / "articles"), user_dict=str(ROOT / "articles" / "_dictionary.txt"))
    rows: list[dict[str, Any]] = []
    costs = []
    rows += evaluate_all("heldout", base.with_overrides(index_dir=str(work / "heldout-index"), **ours),
                         held_q, held, "current model")
    for name in args.sets.split(","):
        sample = args.insurance_sample if name == "insuranceqa_zh" else None
        articles, id_map = bq.prepare_corpus(bench, name, work / name, sample or None)
        queries = read_queries(bench / name / "queries.jsonl")
        qrels = {"strict": bq.mapped_qrels(bench / name / "qrels.tsv", id_map)}
        half_a = [q for q in queries if bq.half_of(q["id"]) == "A"]
        half_b = [q for q in queries if bq.half_of(q["id"]) == "B"]
        settings = base.with_overrides(articles_dir=str(articles), index_dir=str(work / name / "index"), user_dict="")
        rows += evaluate_all(name, settings, half_b, qrels, "current model")
        pairs = learned_pairs(settings, embedder_for(settings), half_a, qrels["strict"])
        out = work / name / f"tuned-e{args.epochs}"
        t = time.perf_counter()
        if not (args.reuse and (out / "helpcenter-tune.json").is_file()):
            fine_tune(folder, pairs, out, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                      log=lambda m: print(f"[{name}] {m}", file=sys.stderr))
            costs.append((name, len(pairs), args.epochs, (time.perf_counter() - t) / 60))
        tuned = settings.with_overrides(model=str(out), index_dir=str(work / name / f"index-tuned-e{args.epochs}"))
        rows += evaluate_all(name, tuned, half_b, qrels, f"tuned on {name} half A")
        rows += evaluate_all("heldout", tuned.with_overrides(index_dir=str(work / f"heldout-index-{name}-tuned"),
                                                             **ours), held_q, held, f"tuned on {name} half A")
    print(f"\nhalf B of each bench set (our held-out set: all of it); {args.epochs} epoch(s), batch "
          f"{args.batch_size}, lr {args.lr:g}, word embeddings frozen")
    print("| set | method, model | queries | strict mrr@10 | strict recall@1 | strict recall@10 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['set']} | {r['method']} | {r['queries']} | {r['strict mrr@10']:.3f} | "
              f"{r['strict recall@1']:.3f} | {r['strict recall@10']:.3f} |")
    print(f"\ntraining cost on this machine ({os.cpu_count()} cores)")
    print("| set | pairs | epochs | minutes |")
    print("|---|---|---|---|")
    for name, n, epochs, minutes in costs:
        print(f"| {name} | {n} | {epochs} | {minutes:.1f} |")


if __name__ == "__main__":
    main()
