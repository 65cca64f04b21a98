"""How sure search is: a calibrated estimate of P(the first result is right).

One cosine floor and one lead margin, fitted on Chinese, never trusted an English answer
(English cosines with this model run lower even when right) and trusted some Chinese ones
too much. A logistic regression over what the searcher already knows does better:

- the best passage cosine, and how far the first article leads the second (in cosine and in
  the fused score);
- whether the keyword fields agree with the fused ranking (the first article is also the
  best keyword match), and how strong its keyword match is;
- the query's script and language (Han, pinyin typed without an IME, other Latin text);
- its length, and whether it was rewritten (pinyin read as Chinese, a homophone typo fixed).

``scripts/fit-calibration`` fits it on half A of the bench sets, our held-out set and the
unanswerable questions, picks the threshold that gives the stated precision on held-out half
A, and writes ``calibration.json`` beside this module with the data it was fitted on.
``confident`` is then ``P >= threshold`` for the model it was fitted with; any other model
(the hash embedder of the tests, a model set by configuration) keeps the floor and margin.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

FEATURES = ("cosine", "dense_lead", "lead", "keyword_agrees", "keyword_top", "han", "pinyin", "latin",
            "log_length", "rewritten")
PACKAGED = Path(__file__).with_name("calibration.json")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[a-z]")


def features(*, cosine: float, dense_lead: float, lead: float, keyword_agrees: bool, keyword_top: float,
             text: str, typed_pinyin: bool, rewritten: bool) -> dict[str, float]:
    """The features of one answer, by name (see the module docstring). ``dense_lead``: the first
    article's best cosine minus the second's (near-duplicate entries make it small)."""
    han = len(_HAN.findall(text))
    latin = len(_LATIN.findall(text))
    return {"cosine": float(cosine), "dense_lead": float(dense_lead), "lead": float(lead),
            "keyword_agrees": float(keyword_agrees),
            "keyword_top": float(keyword_top), "han": float(han > 0 and han >= latin),
            "pinyin": float(typed_pinyin), "latin": float(latin > han and not typed_pinyin),
            "log_length": math.log1p(len(text)), "rewritten": float(rewritten)}


@dataclass(frozen=True)
class Calibration:
    """A fitted logistic model: P = sigmoid(intercept + coef · ((x - mean) / scale))."""
    model: str  # the embedding model it was fitted with: only that model's answers use it
    coef: tuple[float, ...]
    intercept: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    threshold: float
    fitted_on: dict[str, Any] = field(default_factory=dict)
    names: tuple[str, ...] = FEATURES

    def probability(self, values: dict[str, float]) -> float:
        x = (np.array([values[n] for n in self.names]) - np.array(self.mean)) / np.array(self.scale)
        z = self.intercept + float(np.dot(self.coef, x))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def as_json(self) -> dict[str, Any]:
        return {"model": self.model, "names": list(self.names), "coef": list(self.coef),
                "intercept": self.intercept, "mean": list(self.mean), "scale": list(self.scale),
                "threshold": self.threshold, "fitted_on": self.fitted_on}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Calibration":
        return cls(model=data["model"], coef=tuple(data["coef"]), intercept=float(data["intercept"]),
                   mean=tuple(data["mean"]), scale=tuple(data["scale"]), threshold=float(data["threshold"]),
                   fitted_on=data.get("fitted_on", {}), names=tuple(data.get("names", FEATURES)))


@lru_cache(maxsize=4)
def load(path: str = str(PACKAGED)) -> Calibration | None:
    """The shipped calibration, or None when there is none (then the floor and margin decide)."""
    try:
        return Calibration.from_json(json.loads(Path(path).read_text("utf-8")))
    except (OSError, ValueError, KeyError):
        return None


def fit(rows: Sequence[dict[str, float]], labels: Sequence[bool], model: str, *, l2: float = 1.0,
        weights: Sequence[float] | None = None, fitted_on: dict[str, Any] | None = None) -> Calibration:
    """Logistic regression by Newton's method (a few thousand rows, nine features: no library
    needed), standardised features, a light L2 penalty so rare features (pinyin) stay tame.
    ``weights`` per row: the caller gives each data set the same total, so the largest one
    (bank FAQ near-duplicates, where a high cosine is often wrong) does not decide alone."""
    x = np.array([[r[n] for n in FEATURES] for r in rows], dtype=np.float64)
    y = np.array(labels, dtype=np.float64)
    sw = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64) * len(x) / np.sum(weights)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / scale])
    w = np.zeros(z.shape[1])
    penalty = np.eye(z.shape[1]) * l2
    penalty[0, 0] = 0.0  # never shrink the intercept
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -30, 30)))
        grad = z.T @ (sw * (p - y)) + penalty @ w
        hess = (z * (sw * p * (1 - p))[:, None]).T @ z + penalty
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return Calibration(model=model, coef=tuple(float(v) for v in w[1:]), intercept=float(w[0]),
                       mean=tuple(float(v) for v in mean), scale=tuple(float(v) for v in scale),
                       threshold=0.5, fitted_on=fitted_on or {})


def threshold_for(probabilities: Iterable[float], labels: Iterable[bool], precision: float) -> float:
    """The lowest threshold at which the answers above it are right at least ``precision`` of
    the time (the most coverage that keeps the promise)."""
    pairs = sorted(zip(probabilities, labels), key=lambda t: -t[0])
    best, right = 1.0, 0
    for i, (p, ok) in enumerate(pairs, 1):
        right += ok
        if right / i >= precision:
            best = p
    return float(best)


def reliability(probabilities: Sequence[float], labels: Sequence[bool], bins: int = 5) -> list[dict[str, float]]:
    """Predicted against observed precision per probability bin (a calibration plot as a table)."""
    out = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, p in enumerate(probabilities) if lo <= p < hi or (b == bins - 1 and p == 1.0)]
        if idx:
            out.append({"bin": f"{lo:.1f}–{hi:.1f}", "n": len(idx),
                        "predicted": float(np.mean([probabilities[i] for i in idx])),
                        "observed": float(np.mean([labels[i] for i in idx]))})
    return out
