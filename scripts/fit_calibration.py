"""Fit the confidence calibration (helpcenter/engine/calibration.json) and report it.

Usage: scripts/fit-calibration [--precision 0.95] [--bench DIR] [--dry-run]

Runs the default configuration on half A of bq_corpus and insuranceqa_zh (their own indexes,
made by scripts/bench-quality's import), on half A of our held-out set and on the unanswerable
questions (shipped articles), collects each answer's features (helpcenter.engine.calibrate)
and whether its first result is right, fits a logistic regression, and picks the threshold
that keeps the stated precision on held-out half A. Then it prints, on half B of each set and
on the held-out multi-script set (never fitted on), the reliability table (predicted against
observed precision by bins), coverage and precision at the threshold, per query language,
and the unanswerable flag rate.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

import bench_quality as bq

from helpcenter.config import load_settings
from helpcenter.engine import calibrate
from helpcenter.engine.build import build_index
from helpcenter.engine.embed import embedder_for
from helpcenter.engine.evaluate import read_qrels, read_queries
from helpcenter.engine.search import Searcher

ROOT = bq.ROOT


def language(text: str, features: dict[str, float]) -> str:
    if features.get("pinyin"):
        return "pinyin"
    if features.get("latin"):
        return "latin"
    return "han"


def sets(bench: Path, work: Path, sample: int) -> list[dict[str, Any]]:
    """Each set: its index settings, queries with labels, and unanswerable questions."""
    out = []
    for name in ("bq_corpus", "insuranceqa_zh"):
        articles, id_map = bq.prepare_corpus(bench, name, work / name, sample if name == "insuranceqa_zh" else None)
        out.append({"name": name, "articles": articles, "index": work / name / "index", "user_dict": "",
                    "queries": read_queries(bench / name / "queries.jsonl"),
                    "qrels": bq.mapped_qrels(bench / name / "qrels.tsv", id_map), "unanswerable": []})
    out.append({"name": "heldout", "articles": ROOT / "articles", "index": work / "heldout-index",
                "user_dict": str(ROOT / "articles" / "_dictionary.txt"),
                "queries": read_queries(ROOT / "tests/eval/queries.jsonl"),
                "qrels": read_qrels(ROOT / "tests/eval/qrels.tsv"),
                "unanswerable": read_queries(ROOT / "tests/eval/unanswerable.jsonl")})
    multi = read_queries(ROOT / "tests/eval/queries_multi.jsonl")
    out.append({"name": "multi (held out)", "articles": ROOT / "articles", "index": work / "heldout-index",
                "user_dict": str(ROOT / "articles" / "_dictionary.txt"), "queries": multi,
                "qrels": read_qrels(ROOT / "tests/eval/qrels_multi.tsv"), "unanswerable": [], "report_all": True})
    return out


def answers(spec: dict[str, Any], base: Any) -> list[dict[str, Any]]:
    """Every query's features and label (and each unanswerable question, label False)."""
    settings = base.with_overrides(articles_dir=str(spec["articles"]), index_dir=str(spec["index"]),
                                   user_dict=spec["user_dict"], confidence="floor")
    embedder = embedder_for(settings)
    build_index(settings, embedder)
    searcher = Searcher(settings, embedder)
    rows = []
    for q, answerable in [(q, True) for q in spec["queries"] if q["id"] in spec["qrels"]] + \
                        [(q, False) for q in spec["unanswerable"]]:
        r = searcher.search(q["text"], 10)
        if not r.results:
            continue
        right = answerable and r.results[0].id in spec["qrels"][q["id"]]
        half = "B" if spec.get("report_all") else bq.half_of(q["id"])
        rows.append({"set": spec["name"], "half": half, "answerable": answerable, "right": right,
                     "features": r.features, "language": language(q["text"], r.features),
                     "floor": r.confident})  # the floor-and-margin rule, for comparison
    print(f"[{spec['name']}] {len(rows)} answers", file=sys.stderr)
    return rows


def report(rows: list[dict[str, Any]], cal: calibrate.Calibration) -> None:
    print(f"\nthreshold {cal.threshold:.3f} (precision {cal.fitted_on['precision']} on held-out half A); "
          "half B of each set (the multi-script set: all of it, never fitted on)")
    print("| set | language | answers | coverage | precision at threshold | unanswerable flagged "
          "| floor rule: coverage | precision | flagged |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in dict.fromkeys(r["set"] for r in rows):
        mine = [r for r in rows if r["set"] == name and r["half"] == "B"]
        for lang in ["all", *sorted({r["language"] for r in mine})]:
            part = [r for r in mine if lang == "all" or r["language"] == lang]
            ok = [r for r in part if r["answerable"]]
            sure = [r for r in ok if r["p"] >= cal.threshold]
            off = [r for r in part if not r["answerable"]]
            flagged = f"{sum(r['p'] < cal.threshold for r in off) / len(off):.2f}" if off else "—"
            precision = f"{sum(r['right'] for r in sure) / len(sure):.2f}" if sure else "—"
            old = [r for r in ok if r["floor"]]
            old_precision = f"{sum(r['right'] for r in old) / len(old):.2f}" if old else "—"
            old_flagged = f"{sum(not r['floor'] for r in off) / len(off):.2f}" if off else "—"
            print(f"| {name} | {lang} | {len(ok)} | {len(sure) / max(1, len(ok)):.2f} | {precision} | {flagged} "
                  f"| {len(old) / max(1, len(ok)):.2f} | {old_precision} | {old_flagged} |")
    print("\nreliability, half B (predicted P against the observed share right, by bins of P)")
    print("| set | bin | answers | predicted | observed |")
    print("|---|---|---|---|---|")
    for name in dict.fromkeys(r["set"] for r in rows):
        mine = [r for r in rows if r["set"] == name and r["half"] == "B"]
        for b in calibrate.reliability([r["p"] for r in mine], [r["right"] for r in mine]):
            print(f"| {name} | {b['bin']} | {b['n']} | {b['predicted']:.2f} | {b['observed']:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--precision", type=float, default=0.95)
    ap.add_argument("--bench", default=str(ROOT.parent / "shared" / "bench"))
    ap.add_argument("--work", default=os.path.expanduser("~/.cache/helpcenter/bench"))
    ap.add_argument("--insurance-sample", type=int, default=5000)
    ap.add_argument("--dry-run", action="store_true", help="report, but do not write calibration.json")
    ap.add_argument("--fit-sets", default="insuranceqa_zh,heldout",
                    help="the sets whose half A the model is fitted on (all are reported)")
    ap.add_argument("--reuse", action="store_true", help="reuse the answers of the last run (same code and data)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    base = load_settings()
    cache = Path(args.work) / "calibration-answers.json"
    if args.reuse and cache.is_file():
        rows = json.loads(cache.read_text("utf-8"))
    else:
        rows = []
        for spec in sets(Path(args.bench), Path(args.work), args.insurance_sample):
            rows += answers(spec, base)
        cache.write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
    fit_sets = set(args.fit_sets.split(","))
    train = [r for r in rows if r["half"] == "A" and r["set"] in fit_sets]
    per_set = {name: sum(r["set"] == name for r in train) for name in dict.fromkeys(r["set"] for r in train)}
    model = embedder_for(base).name
    cal = calibrate.fit([r["features"] for r in train], [r["right"] for r in train], model,
                        weights=[1.0 / per_set[r["set"]] for r in train])  # each set counts the same
    for r in rows:
        r["p"] = cal.probability(r["features"])
    held = [r for r in train if r["set"] == "heldout"]
    threshold = calibrate.threshold_for([r["p"] for r in held], [r["right"] for r in held], args.precision)
    cal = calibrate.Calibration(**{**cal.__dict__, "threshold": threshold, "fitted_on": {
        "sets": per_set, "weighting": "each set the same total weight", "half": "A", "precision": args.precision, "threshold_set": "heldout half A",
        "insuranceqa_sample": args.insurance_sample, "date": dt.date.today().isoformat(),
        "script": "scripts/fit-calibration"}})
    report(rows, cal)
    print("\ncoefficients (standardised features): " + ", ".join(
        f"{n} {c:+.2f}" for n, c in zip(cal.names, cal.coef)) + f"; intercept {cal.intercept:+.2f}")
    if not args.dry_run:
        calibrate.PACKAGED.write_text(json.dumps(cal.as_json(), ensure_ascii=False, indent=1) + "\n", "utf-8")
        print(f"wrote {calibrate.PACKAGED.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
