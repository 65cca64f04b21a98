import pytest

from helpcenter.embed import HashEmbedder
from helpcenter.search import Searcher, make_snippet


@pytest.fixture
def searcher(built):
    return Searcher(built, embedder=HashEmbedder(256))


def test_results_are_articles_ranked_by_best_passage(searcher):
    r = searcher.search("物流一直不更新", k=10)
    ids = [h.id for h in r.results]
    assert ids[0] == "orders/track-order"
    assert len(ids) == len(set(ids))  # one entry per article
    assert "orders/draft-returns" not in ids


def test_snippet_shows_answering_section_with_marks(searcher):
    hit = searcher.search("追踪号码")  .results[0]
    assert hit.id == "orders/track-order"
    assert hit.passage_kind == "section"
    assert "<mark>追踪号码</mark>" in hit.snippet_html
    assert "追踪号码" in hit.snippet and "<mark>" not in hit.snippet
    assert hit.anchor in ("先自己核对", "联系客服")


def test_traditional_and_full_width_queries_match(searcher):
    assert searcher.search("帳號被盜").results[0].id == "account/stolen-account"
    assert searcher.search("ＬＩＮＥ　追蹤號碼").results[0].id == "orders/track-order"


def test_empty_and_overlong_queries(searcher, built):
    empty = searcher.search("   ")
    assert empty.results == [] and not empty.confident
    long = searcher.search("密码" * 500)
    assert long.truncated and len(long.normalised) == built.max_query_chars
    assert long.results


def test_query_markup_is_escaped_in_snippets(searcher):
    hit = searcher.search("<script>alert(1)</script> 密码").results[0]
    assert "<script>" not in hit.snippet_html


def test_confidence_floor(built):
    strict = Searcher(built.with_overrides(confident_floor=0.99), embedder=HashEmbedder(256))
    lax = Searcher(built.with_overrides(confident_floor=0.01), embedder=HashEmbedder(256))
    assert not strict.search("完全无关的问题比如天气").confident
    assert lax.search("客服邮箱是多少").confident


def test_rrf_rewards_passages_found_by_both_retrievers(built):
    s = Searcher(built, embedder=HashEmbedder(256))
    import numpy as np
    kw = np.zeros(10, dtype=np.float32)
    fused = s._fuse([1, 2, 3], [0.9, 0.8, 0.7], [3, 4], kw)
    # 3 is third by dense but first by keyword: it beats 1 (first by dense only).
    assert fused[3] > fused[1] > fused[2] > fused[4] * 0.99
    assert fused[1] == pytest.approx(1 / 61)


def test_weighted_fusion_normalises_each_retriever(built):
    import numpy as np
    s = Searcher(built.with_overrides(fusion="weighted", keyword_weight=0.5), embedder=HashEmbedder(256))
    kw = np.array([0, 0, 0, 5.0, 10.0], dtype=np.float32)
    fused = s._fuse([1, 2], [0.9, 0.5], [4, 3], kw)
    assert fused[1] == pytest.approx(1.0) and fused[2] == pytest.approx(0.0)
    assert fused[4] == pytest.approx(0.5) and fused[3] == pytest.approx(0.0)


def test_make_snippet_windows_long_text_around_first_match():
    text = "甲" * 300 + "退款" + "乙" * 300
    plain, marked = make_snippet(text, ["退款"], width=60)
    assert plain.startswith("…") and plain.endswith("…")
    assert "退款" in plain and "<mark>退款</mark>" in marked
