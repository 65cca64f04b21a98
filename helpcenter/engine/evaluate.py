"""Retrieval quality of a searcher on labelled queries (MRR, recall, nDCG)."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


@dataclass
class EvalResult:
    metrics: dict[str, float]
    queries: int
    misses: list[dict[str, Any]] = field(default_factory=list)
    unanswerable: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.metrics)
        out["queries"] = self.queries
        out["misses"] = self.misses
        if self.unanswerable is not None:
            out["unanswerable"] = self.unanswerable
        return out


def read_queries(path: str | Path) -> list[dict[str, str]]:
    out = []
    for n, line in enumerate(Path(path).read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            out.append({"id": str(obj["id"]), "text": str(obj["text"])})
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: expected {{\"id\": ..., \"text\": ...}} ({exc})") from None
    return out


def read_qrels(path: str | Path) -> dict[str, set[str]]:
    qrels: dict[str, set[str]] = {}
    with open(path, encoding="utf-8") as f:
        for n, row in enumerate(csv.reader(f, delimiter="\t"), 1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) < 2:
                raise ValueError(f"{path}:{n}: expected query_id<TAB>article_id<TAB>1")
            if len(row) < 3 or float(row[2]) > 0:
                qrels.setdefault(row[0], set()).add(row[1])
    return qrels


def score_ranking(ranked: list[str], relevant: set[str]) -> dict[str, float]:
    """Per-query metrics; averaged by :func:`evaluate`."""
    first = next((i for i, d in enumerate(ranked[:10]) if d in relevant), None)
    dcg = sum(1.0 / math.log2(i + 2) for i, d in enumerate(ranked[:10]) if d in relevant)
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
    m = {"mrr@10": 0.0 if first is None else 1.0 / (first + 1), "ndcg@10": dcg / idcg if idcg else 0.0}
    for k in (1, 3, 10):
        found = len(relevant & set(ranked[:k]))
        m[f"recall@{k}"] = found / len(relevant)
        m[f"hit@{k}"] = 1.0 if found else 0.0
    m["listed@10"] = float(len(ranked[:10]))  # how many results a reader has to look through
    return m


def evaluate(search: Callable[[str, int], tuple[list[str], bool]], queries: list[dict[str, str]],
             qrels: dict[str, set[str]], unanswerable: list[dict[str, str]] | None = None,
             miss_at: int = 3) -> EvalResult:
    """``search(text, k)`` returns (ranked article ids, confident)."""
    totals: dict[str, float] = {}
    misses = []
    counted = confident = 0
    for q in queries:
        relevant = qrels.get(q["id"])
        if not relevant:
            continue
        ranked, conf = search(q["text"], 10)
        confident += conf
        for key, value in score_ranking(ranked, relevant).items():
            totals[key] = totals.get(key, 0.0) + value
        counted += 1
        if not relevant & set(ranked[:miss_at]):
            misses.append({"id": q["id"], "text": q["text"], "expected": sorted(relevant), "got": ranked[:3]})
    metrics = {k: round(v / counted, 4) for k, v in totals.items()} if counted else {}
    result = EvalResult(metrics, counted, misses)
    if unanswerable is not None:
        flagged = [q for q in unanswerable if not search(q["text"], 3)[1]]
        answered = [{"id": q["id"], "text": q["text"]} for q in unanswerable if q not in flagged]
        result.unanswerable = {
            "queries": len(unanswerable),
            "flagged_not_confident": len(flagged),
            "wrongly_confident": answered,
            "answerable_confident": round(confident / counted, 4) if counted else 0.0,
        }
    return result
