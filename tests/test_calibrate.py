"""helpcenter.engine.calibrate: the fitted P(first result is right), and the searcher using it."""

from __future__ import annotations

import json
import random

import pytest

from helpcenter.engine import calibrate
from helpcenter.engine.embed import HashEmbedder
from helpcenter.engine.search import Searcher


def row(cosine: float, latin: bool = False) -> dict[str, float]:
    return calibrate.features(cosine=cosine, dense_lead=0.01, lead=0.02, keyword_agrees=True, keyword_top=0.5,
                              text="password reset" if latin else "重置密码", typed_pinyin=False, rewritten=False)


def test_fit_learns_that_english_is_right_at_lower_cosines():
    rng = random.Random(7)
    rows, labels = [], []
    for _ in range(400):  # Chinese answers are right above 0.88, English ones above 0.82
        latin = rng.random() < 0.5
        cos = rng.uniform(0.75, 0.95)
        rows.append(row(cos, latin))
        labels.append(cos > (0.82 if latin else 0.88))
    cal = calibrate.fit(rows, labels, "m")
    assert cal.probability(row(0.85, latin=True)) > 0.5 > cal.probability(row(0.85, latin=False))
    assert cal.probability(row(0.94)) > 0.9 and cal.probability(row(0.76, latin=True)) < 0.1


def test_threshold_keeps_the_promised_precision():
    probabilities = [0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5]
    labels = [True, True, True, True, False, True, False]
    t = calibrate.threshold_for(probabilities, labels, 0.95)
    kept = [ok for p, ok in zip(probabilities, labels) if p >= t]
    assert t == 0.8 and sum(kept) / len(kept) >= 0.95
    assert calibrate.threshold_for([0.9], [False], 0.95) == 1.0  # nothing can be promised: nothing is sure


def test_reliability_bins_compare_predicted_and_observed():
    table = calibrate.reliability([0.1, 0.15, 0.9, 0.95], [False, False, True, False], bins=5)
    assert [(b["bin"], b["n"], b["observed"]) for b in table] == [("0.0–0.2", 2, 0.0), ("0.8–1.0", 2, 0.5)]


@pytest.fixture
def hash_calibration(tmp_path, monkeypatch):
    """A calibration fitted "for" the tests' hash embedder: everything with a keyword match is sure."""
    cal = calibrate.Calibration(model=HashEmbedder(256).name, coef=(0, 0, 0, 8, 0, 0, 0, 0, 0, 0), intercept=-4,
                                mean=(0,) * 10, scale=(1,) * 10, threshold=0.9)
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(cal.as_json()), "utf-8")
    monkeypatch.setattr(calibrate, "load", lambda: calibrate.Calibration.from_json(json.loads(path.read_text())))
    return cal


def test_the_searcher_uses_the_calibration_of_its_own_model(built, hash_calibration):
    searcher = Searcher(built, embedder=HashEmbedder(256))
    r = searcher.search("忘记密码怎么重置")
    assert r.probability is not None and r.probability > 0.9 and r.confident
    assert r.features["keyword_agrees"] == 1.0 and r.as_json()["probability"] == round(r.probability, 4)
    floor = Searcher(built.with_overrides(confidence="floor"), embedder=HashEmbedder(256)).search("忘记密码怎么重置")
    assert floor.probability is None and not floor.confident  # the hash model's cosines never reach the floor


def test_a_calibration_for_another_model_is_not_used(built, monkeypatch):
    other = calibrate.Calibration(model="some-other-model", coef=(0,) * 10, intercept=10, mean=(0,) * 10,
                                  scale=(1,) * 10, threshold=0.5)
    monkeypatch.setattr(calibrate, "load", lambda: other)
    r = Searcher(built, embedder=HashEmbedder(256)).search("忘记密码怎么重置")
    assert r.probability is None and not r.confident


def test_the_shipped_calibration_says_what_it_was_fitted_on():
    cal = calibrate.load()
    if cal is None:
        pytest.fail("helpcenter/engine/calibration.json is missing: run scripts/fit-calibration")
    assert cal.model.startswith("multilingual-e5-small") and 0 < cal.threshold < 1
    assert cal.fitted_on["half"] == "A" and cal.fitted_on["sets"]["heldout"] > 50
    assert len(cal.coef) == len(calibrate.FEATURES)


def test_the_calibration_ships_with_the_package():
    # pip install (not -e) must carry calibration.json, or every install falls back to the floor.
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    data = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]["package-data"]
    assert "calibration.json" in data["helpcenter.engine"]
