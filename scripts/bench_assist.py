"""How well the assistant resolves the held-out questions, talking to it as a person would.

Usage: scripts/bench-assist [--sets heldout,multi] [--half A|B|all] [--work DIR]

Builds the shipped articles with the default model, then for each question of the held-out
sets (tests/eval) opens a conversation through ``POST /api/assist`` on the real app:

- turn 1 sends the question. An answer whose article is labelled for it is **right first time**.
- otherwise the person, who knows which article they need, goes on for one more turn: "否" to a
  wrong answer, the number of a labelled article when asked "您想问的是", or (after a list of
  guesses) nothing more in the conversation. An answer of a labelled article then is **resolved
  in two turns**.

It prints, per set, the share right first time, the share resolved within two turns, the same
among the first answers that were refused, and how the first replies were spread over the kinds.
The unanswerable questions are reported apart: for them a confident answer is a mistake. The
assistant's thresholds (clarify margin and floor) were set before this was first run and were
not tuned on it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_quality import half_of  # noqa: E402
from helpcenter.config import load_settings  # noqa: E402
from helpcenter.engine.build import build_index  # noqa: E402
from helpcenter.engine.embed import embedder_for  # noqa: E402
from helpcenter.engine.search import Searcher  # noqa: E402
from helpcenter.web import create_app  # noqa: E402

SETS = {"heldout": ("queries.jsonl", "qrels.tsv"), "multi": ("queries_multi.jsonl", "qrels_multi.tsv")}


def read_set(name: str) -> tuple[list[dict], dict[str, set[str]]]:
    queries_file, qrels_file = SETS[name]
    queries = [json.loads(line) for line in (ROOT / "tests/eval" / queries_file).read_text("utf-8").splitlines()]
    relevant: dict[str, set[str]] = {}
    for line in (ROOT / "tests/eval" / qrels_file).read_text("utf-8").splitlines():
        qid, article, _grade = line.split("\t")
        relevant.setdefault(qid, set()).add(article)
    return queries, relevant


def converse(client, token: str, question: str, relevant: set[str]) -> dict:
    """One person's conversation; returns what happened in its first two turns."""
    def say(message: str, conv: str | None) -> dict:
        body = {"message": message, **({"conversation_id": conv} if conv else {})}
        r = client.post("/api/assist", json=body, headers={"X-CSRFToken": token})
        assert r.status_code == 200, r.get_data(as_text=True)
        return r.get_json()

    first = say(question, None)
    reply, conv = first["reply"], first["conversation_id"]
    out = {"kind": reply["kind"], "first_right": False, "two_turns": False, "refused": False}
    if reply["kind"] == "answer":
        if reply["article"]["id"] in relevant:
            out["first_right"] = out["two_turns"] = True
            return out
        out["refused"] = True
        second = say("否", conv)["reply"]
    elif reply["kind"] == "clarify":
        ids = [a["id"] for a in reply["articles"]]
        pick = next((i for i, a in enumerate(ids, 1) if a in relevant), len(ids) + 1)
        second = say(str(pick), conv)["reply"]
    else:
        return out
    out["two_turns"] = second.get("kind") == "answer" and second["article"]["id"] in relevant
    return out


def share(part: int, whole: int) -> str:
    return f"{part / whole:.3f} ({part}/{whole})" if whole else "–"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="heldout,multi")
    ap.add_argument("--half", choices=["A", "B", "all"], default="all")
    ap.add_argument("--work", default="")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = Path(args.work or tempfile.mkdtemp(prefix="hc-assist-"))
    base = load_settings()
    settings = base.with_overrides(articles_dir=str(ROOT / "articles"), index_dir=str(work / "index"),
                                   user_dict=str(ROOT / "articles/_dictionary.txt"),
                                   instance_dir=str(work / "instance"), outbox_worker=0,
                                   rate_limit_api="1000000 per minute", rate_limit_forms="1000000 per minute")
    embedder = embedder_for(settings)
    build_index(settings, embedder)
    app = create_app({"TESTING": True}, settings=settings, searcher=Searcher(settings, embedder))
    client = app.test_client()
    token = client.get("/api/csrf").get_json()["csrf_token"]
    print(f"assistant on the shipped articles ({embedder.name}); half {args.half}; "
          f"clarify margin {settings.assist_clarify_margin}, floor {settings.assist_clarify_floor}")
    print("| set | questions | right first time | resolved within two turns | after a refused first answer "
          "| first replies |")
    print("|---|---|---|---|---|---|")
    for name in args.sets.split(","):
        queries, relevant = read_set(name)
        queries = [q for q in queries if args.half == "all" or half_of(q["id"]) == args.half]
        results = [converse(client, token, q["text"], relevant.get(q["id"], set())) for q in queries]
        n = len(results)
        refused = [r for r in results if r["refused"]]
        kinds = Counter(r["kind"] for r in results)
        print(f"| {name} | {n} | {share(sum(r['first_right'] for r in results), n)} "
              f"| {share(sum(r['two_turns'] for r in results), n)} "
              f"| {share(sum(r['two_turns'] for r in refused), len(refused))} "
              f"| {', '.join(f'{k} {v}' for k, v in kinds.most_common())} |")
    unanswerable = [json.loads(line) for line in
                    (ROOT / "tests/eval/unanswerable.jsonl").read_text("utf-8").splitlines()]
    kinds = Counter()
    for q in unanswerable:
        r = client.post("/api/assist", json={"message": q["text"]}, headers={"X-CSRFToken": token})
        kinds[r.get_json()["reply"]["kind"]] += 1
    print(f"\nunanswerable questions ({len(unanswerable)}): first replies "
          f"{', '.join(f'{k} {v}' for k, v in kinds.most_common())} (an answer here is a mistake)")


if __name__ == "__main__":
    main()
