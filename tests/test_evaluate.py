import pytest

from helpcenter.engine.evaluate import evaluate, score_ranking


def test_metrics_for_one_ranking():
    m = score_ranking(["x", "a", "y", "b"], {"a", "b"})
    assert m["mrr@10"] == 0.5
    assert m["recall@1"] == 0.0 and m["recall@3"] == 0.5 and m["recall@10"] == 1.0
    assert m["hit@3"] == 1.0
    assert 0 < m["ndcg@10"] < 1
    assert m["listed@10"] == 4  # search now lists fewer than ten when the tail is weak


def test_evaluate_averages_and_lists_misses():
    rankings = {"good": ["a"], "bad": ["x", "y", "z", "a"]}
    result = evaluate(lambda text, k: (rankings[text], text == "good"),
                      [{"id": "1", "text": "good"}, {"id": "2", "text": "bad"}],
                      {"1": {"a"}, "2": {"a"}}, unanswerable=[{"id": "u", "text": "good"}])
    assert result.metrics["mrr@10"] == pytest.approx((1 + 0.25) / 2)
    assert result.metrics["listed@10"] == pytest.approx((1 + 4) / 2)
    assert [m["id"] for m in result.misses] == ["2"]
    assert result.unanswerable["flagged_not_confident"] == 0
