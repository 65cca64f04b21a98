import pytest

from helpcenter.engine.embed import HashEmbedder
from helpcenter.engine.search import Searcher
from helpcenter.engine.snippets import make_snippet


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


def test_repeated_question_is_answered_from_cache_with_the_askers_own_wording(searcher):
    first = searcher.search("帳號被盜")
    again = searcher.search("帐号被盗")  # same question once normalised
    assert [h.id for h in again.results] == [h.id for h in first.results]
    assert again.query == "帐号被盗" and first.query == "帳號被盜"
    assert "embed" not in again.timings  # answered without running the model
    assert [h.id for h in searcher.search("帐号被盗", k=1).results] == [first.results[0].id]


def test_query_markup_is_escaped_in_snippets(searcher):
    hit = searcher.search("<script>alert(1)</script> 密码").results[0]
    assert "<script>" not in hit.snippet_html


def test_confidence_floor(built):
    strict = Searcher(built.with_overrides(confident_floor=0.99), embedder=HashEmbedder(256))
    lax = Searcher(built.with_overrides(confident_floor=0.01), embedder=HashEmbedder(256))
    assert not strict.search("完全无关的问题比如天气").confident
    assert lax.search("客服邮箱是多少").confident


def test_a_near_tie_between_two_articles_is_not_a_confident_answer(tmp_path, settings):
    from helpcenter.engine.build import build_index
    from tests.conftest import TINY, write_tree

    # Two articles (same title, say in two product lines) answer alike: the first is a coin toss.
    refund = "\n## 到账时间\n\n退款会在七个工作日内原路退回到付款账户。\n"
    articles = write_tree(tmp_path / "tie", dict(TINY, **{
        "orders/refund-time.md": "---\ntitle: 退款到账时间\n---\n" + refund,
        "orders/refund-card.md": "---\ntitle: 退款到账时间\n---\n" + refund,
    }))
    s = settings.with_overrides(articles_dir=str(articles), index_dir=str(tmp_path / "tie-index"),
                                confident_floor=0.8)  # the hash embedder scores lower than e5
    build_index(s)
    searcher = Searcher(s, embedder=HashEmbedder(256))
    tie = searcher.search("退款会在七个工作日内原路退回到付款账户")
    assert {h.id for h in tie.results[:2]} == {"orders/refund-time", "orders/refund-card"}
    assert tie.results[0].dense >= s.confident_floor  # close to a passage, yet
    assert not tie.confident
    clear = searcher.search("物流一直不更新")
    assert clear.results[0].id == "orders/track-order" and clear.confident
    no_margin = Searcher(s.with_overrides(confident_margin=0.0), embedder=HashEmbedder(256))
    assert no_margin.search("退款会在七个工作日内原路退回到付款账户").confident


def test_rrf_rewards_articles_found_by_both_retrievers(built):
    s = Searcher(built.with_overrides(fusion="rrf"), embedder=HashEmbedder(256))
    idx = s.index()
    row = {a: rows[0] for a, rows in idx.rows_by_article.items()}
    dense = [row["account/forgot-password"], row["contact/email"], row["orders/track-order"]]
    kw = [row["orders/track-order"], row["account/stolen-account"]]
    fused = s._rrf(idx, dense, kw)
    # Third by dense but first by keyword: beats the article that only dense found first.
    assert fused["orders/track-order"] > fused["account/forgot-password"] > fused["contact/email"]
    assert fused["account/forgot-password"] == pytest.approx(1 / 61)


def test_score_fusion_adds_weighted_keyword_evidence_to_cosine(built):
    import numpy as np
    s = Searcher(built.with_overrides(keyword_weight=0.5), embedder=HashEmbedder(256))
    idx = s.index()
    qvec = HashEmbedder(256).encode(["追踪号码"], "query")[0]
    kw = np.zeros(len(idx.passages), dtype=np.float32)
    kw[idx.rows_by_article["contact/email"][0]] = 0.5
    arts = {"contact/email", "orders/track-order"}
    fused = s._score_fusion(idx, qvec, None, kw, arts)
    cos = {a: float((idx.row_vectors(idx.rows_by_article[a]) @ qvec).max()) for a in fused}
    assert fused["contact/email"] == pytest.approx(cos["contact/email"] + 0.5)
    assert fused["orders/track-order"] == pytest.approx(cos["orders/track-order"])
    # With every passage's cosine already computed (exact index), the same scores.
    assert s._score_fusion(idx, qvec, idx.vectors @ qvec, kw, arts) == pytest.approx(fused)


def test_keyword_only_and_dense_only_modes(built):
    kw_only = Searcher(built.with_overrides(retrieval="keyword"), embedder=HashEmbedder(256))
    assert kw_only.search("追踪号码").results[0].id == "orders/track-order"
    assert kw_only.search("xyzzy 晴朗").results == []


def test_make_snippet_windows_long_text_around_first_match():
    text = "甲" * 300 + "退款" + "乙" * 300
    plain, marked = make_snippet(text, ["退款"], width=60)
    assert plain.startswith("…") and plain.endswith("…")
    assert "退款" in plain and "<mark>退款</mark>" in marked


MORE = {  # enough articles that an unrelated query could list ten of them
    "orders/refund.md": "---\ntitle: 退款多久到账\n---\n\n## 到账时间\n\n退款原路退回，银行卡三到七个工作日。\n",
    "orders/cancel.md": "---\ntitle: 怎么取消订单\n---\n\n## 取消\n\n未发货的订单可以在订单详情里取消。\n",
    "orders/invoice.md": "---\ntitle: 如何申请发票\n---\n\n## 开票\n\n在订单详情页点申请开票，填写抬头。\n",
    "account/phone.md": "---\ntitle: 更换绑定手机号\n---\n\n## 换绑\n\n在设置里验证旧手机后绑定新号码。\n",
    "account/delete.md": "---\ntitle: 注销账号\n---\n\n## 注销\n\n注销后数据无法恢复，请先备份。\n",
    "contact/phone.md": "---\ntitle: 客服电话\n---\n\n## 热线\n\n工作日九点到六点拨打客服热线。\n",
    "contact/chat.md": "---\ntitle: 在线客服\n---\n\n## 聊天\n\n在应用里点在线客服和人工对话。\n",
    "orders/address.md": "---\ntitle: 修改收货地址\n---\n\n## 改地址\n\n发货前可以在订单里修改收货地址。\n",
}


@pytest.fixture
def more_searcher(tmp_path, settings):
    from helpcenter.engine.build import build_index
    from tests.conftest import TINY, write_tree

    articles = write_tree(tmp_path / "more", dict(TINY, **MORE))
    s = settings.with_overrides(articles_dir=str(articles), index_dir=str(tmp_path / "more-index"))
    build_index(s)
    return Searcher(s, embedder=HashEmbedder(256))


@pytest.mark.parametrize("query", ["帮我订一张机票", "asdfghjkl"])
def test_an_unrelated_query_lists_a_few_guesses_not_ten(more_searcher, query):
    assert len(more_searcher.index().articles) > 10
    r = more_searcher.search(query, 10)
    assert not r.confident
    assert 0 < len(r.results) <= more_searcher.settings.max_guesses <= 5


def test_results_far_below_the_best_are_left_out(more_searcher):
    everything = Searcher(more_searcher.settings.with_overrides(result_cut=0.0, max_guesses=0),
                          embedder=HashEmbedder(256))
    for query, right in (("物流一直不更新", "orders/track-order"), ("怎么找回登录密码", "account/forgot-password"),
                         ("退款多久到账", "orders/refund")):
        cut = [h.id for h in more_searcher.search(query, 10).results]
        full = [h.id for h in everything.search(query, 10).results]
        assert cut[0] == full[0] == right, query  # the answer stays first
        assert len(full) == 10  # 0 turns both limits off: the whole tail is listed
        # What the cut leaves out is the tail, in order: nothing before it moves or goes missing.
        assert cut == full[: len(cut)] and len(cut) < len(full), query


def test_a_learned_question_adds_by_nearness_and_never_outranks_as_a_passage(built):
    """A visitor's question learned for an article lifts that article for the same question (by
    learned_boost) and for nothing far from it; its words are not the article's own text."""
    from helpcenter.engine.build import build_index

    uncut = built.with_overrides(result_cut=0.0, max_guesses=0)

    def scores(query: str) -> dict[str, float]:
        return {h.id: h.score for h in Searcher(uncut, embedder=HashEmbedder(256)).search(query, 10).results}

    taught, other = "订单号查不到物流", "怎么找回登录密码"
    before = {q: scores(q) for q in (taught, other)}
    build_index(built, learned=[("orders/track-order", taught)])
    after = {q: scores(q) for q in (taught, other)}
    assert after[taught]["orders/track-order"] == pytest.approx(
        before[taught]["orders/track-order"] + built.learned_boost, abs=1e-4)  # the same words: the full boost
    # A question far from it: the same order, the scores within BM25's corpus statistics (the
    # learned words are counted in its document frequencies).
    assert list(after[other]) == list(before[other])
    assert after[other] == pytest.approx(before[other], rel=0.01)
    # Keyword-only search has no nearness to go by: the question is one more passage there.
    keyword = Searcher(uncut.with_overrides(retrieval="keyword"), embedder=HashEmbedder(256))
    assert keyword.search(taught, 1).results[0].id == "orders/track-order"
