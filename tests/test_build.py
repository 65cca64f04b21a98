import os
from pathlib import Path

import numpy as np
import pytest

from helpcenter.engine.build import BuildError, build_index, live_build_id
from helpcenter.engine.embed import HashEmbedder
from helpcenter.engine.index import load_current
from helpcenter.engine.search import Searcher


class CountingEmbedder(HashEmbedder):
    """The hash embedder, counting what it is asked to embed."""

    def __init__(self) -> None:
        super().__init__(64)
        self.calls: list[int] = []

    def encode(self, texts, role, batch_size=32, progress=False):
        self.calls.append(len(texts))
        return super().encode(texts, role, batch_size, progress)


class BrokenEmbedder(HashEmbedder):
    def encode(self, texts, role, batch_size=32, progress=False):
        raise RuntimeError("model crashed half-way")


def test_first_build_publishes_everything_except_drafts(settings):
    report = build_index(settings, CountingEmbedder())
    idx = load_current(Path(settings.index_dir))
    assert set(idx.articles) == {"account/forgot-password", "account/stolen-account", "contact/email",
                                 "orders/track-order"}
    assert report.embedded == report.passages == len(idx.passages) > 4
    assert report.reused == 0
    # Internal links are rewritten to site URLs in the rendered HTML.
    assert 'href="/articles/contact/email"' in idx.articles["account/forgot-password"]["html"]
    assert list(idx.categories) == ["account", "contact", "orders"]


def test_rebuild_reembeds_only_changed_passages(settings):
    emb = CountingEmbedder()
    first = build_index(settings, emb)
    unchanged = build_index(settings, emb)
    assert unchanged.embedded == 0 and unchanged.reused == first.passages
    assert unchanged.changed_articles == []

    path = Path(settings.articles_dir) / "orders" / "track-order.md"
    path.write_text(path.read_text("utf-8").replace("检查追踪号码是否正确", "先核对追踪号码有没有输错"), "utf-8")
    edited = build_index(settings, emb)
    assert edited.embedded == 1  # only the edited section
    assert edited.changed_articles == ["orders/track-order"]
    idx = load_current(Path(settings.index_dir))
    row = next(i for i, p in enumerate(idx.passages) if "有没有输错" in p["text"])
    fresh = HashEmbedder(64).encode([idx.passages[row]["text"]], "passage")[0]
    assert np.allclose(idx.row_vectors([row])[0], fresh, atol=1e-6)


def test_nothing_changed_publishes_nothing_but_a_category_rename_does(settings):
    first = build_index(settings, HashEmbedder(64))
    again = build_index(settings, HashEmbedder(64))
    assert again.up_to_date and again.build_id == first.build_id
    assert live_build_id(Path(settings.index_dir)) == first.build_id
    cat = Path(settings.articles_dir) / "orders" / "_category.yml"
    cat.write_text(cat.read_text("utf-8").replace("订单与物流", "订单和快递"), "utf-8")
    renamed = build_index(settings, HashEmbedder(64))
    assert not renamed.up_to_date and renamed.embedded == 0
    assert load_current(Path(settings.index_dir)).categories["orders"]["name"] == "订单和快递"


def test_removed_article_disappears(settings):
    build_index(settings, HashEmbedder(64))
    os.remove(Path(settings.articles_dir) / "contact" / "email.md")
    (Path(settings.articles_dir) / "account" / "forgot-password.md").write_text(
        (Path(settings.articles_dir) / "account" / "forgot-password.md").read_text("utf-8")
        .replace("[联系客服](../contact/email.md)", "联系客服"), "utf-8")
    report = build_index(settings, HashEmbedder(64))
    assert report.removed_articles == ["contact/email"]
    assert "contact/email" not in load_current(Path(settings.index_dir)).articles


def test_bad_article_keeps_previous_index(settings):
    build_index(settings, HashEmbedder(64))
    before = live_build_id(Path(settings.index_dir))
    (Path(settings.articles_dir) / "contact" / "bad.md").write_text("---\ntitle: [oops\n---\n", "utf-8")
    with pytest.raises(BuildError) as exc:
        build_index(settings, HashEmbedder(64))
    assert "nothing was published" in str(exc.value)
    assert any("contact/bad.md" in p.path for p in exc.value.problems)
    assert live_build_id(Path(settings.index_dir)) == before
    assert load_current(Path(settings.index_dir)).build_id == before


def test_crash_during_build_keeps_previous_index_and_leaves_no_debris(settings):
    build_index(settings, HashEmbedder(64))
    before = live_build_id(Path(settings.index_dir))
    (Path(settings.articles_dir) / "contact" / "email.md").write_text(
        (Path(settings.articles_dir) / "contact" / "email.md").read_text("utf-8") + "\n新段落。\n", "utf-8")
    with pytest.raises(RuntimeError, match="crashed"):
        build_index(settings, BrokenEmbedder(64))
    assert live_build_id(Path(settings.index_dir)) == before
    builds = os.listdir(Path(settings.index_dir) / "builds")
    assert not [b for b in builds if b.startswith(".tmp-")]


def test_interrupted_build_leftovers_are_ignored_and_cleared(settings):
    build_index(settings, HashEmbedder(64))
    debris = Path(settings.index_dir) / "builds" / ".tmp-20260101T000000Z-dead"
    debris.mkdir()
    (debris / "vectors.faiss").write_bytes(b"half")
    build_index(settings, HashEmbedder(64))
    assert not debris.exists()


def test_old_builds_are_pruned_but_live_one_kept(settings):
    s = settings.with_overrides(keep_builds=2)
    for n in range(4):
        (Path(s.articles_dir) / "contact" / "email.md").write_text(
            (Path(s.articles_dir) / "contact" / "email.md").read_text("utf-8") + f"\n第{n}次修改。\n", "utf-8")
        build_index(s, HashEmbedder(64))
    builds = sorted(p for p in os.listdir(Path(s.index_dir) / "builds") if not p.startswith("."))
    assert len(builds) == 2
    assert live_build_id(Path(s.index_dir)) == builds[-1]


def test_unwritable_index_dir_is_a_clear_error(settings, tmp_path):
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    with pytest.raises((BuildError, OSError)):
        build_index(settings.with_overrides(index_dir=str(blocker / "index")), HashEmbedder(64))


@pytest.mark.parametrize("ann", ["auto", "flat", "hnsw", "ivf"])
def test_every_ann_type_builds_loads_and_finds_the_same_answer(settings, ann):
    s = settings.with_overrides(ann=ann)
    build_index(s, HashEmbedder(64))
    idx = load_current(Path(settings.index_dir))
    assert idx.ann.ntotal == len(idx.passages) == len(idx.vectors)
    # The vectors searchers score with are the ones FAISS searches.
    assert np.allclose(idx.ann.reconstruct(3), idx.vectors[3], atol=1e-6)
    assert Searcher(s.with_overrides(retrieval="dense"), HashEmbedder(64)).search("忘记密码").results[0].id \
        == "account/forgot-password"


def _term_weights(bm25) -> dict[str, np.ndarray]:
    return {term: bm25.weights[:, col].toarray().ravel() for term, col in bm25.vocab.items()}


def test_rebuild_reuses_html_and_tokens_of_unchanged_articles(settings, monkeypatch):
    import helpcenter.engine.build as build_mod

    build_index(settings, HashEmbedder(64))
    rendered, cut = [], []
    real_render, real_ngrams = build_mod.render_article, build_mod.char_ngrams
    monkeypatch.setattr(build_mod, "render_article", lambda body, aid, **kw: rendered.append(aid) or real_render(body, aid, **kw))
    monkeypatch.setattr(build_mod, "char_ngrams", lambda t, normalised=False: cut.append(t) or real_ngrams(t, normalised))
    path = Path(settings.articles_dir) / "contact" / "email.md"
    path.write_text(path.read_text("utf-8") + "\n新段落。\n", "utf-8")
    stolen = Path(settings.articles_dir) / "account" / "stolen-account.md"
    stolen.unlink()
    build_index(settings, HashEmbedder(64))
    assert rendered == ["contact/email"]
    assert len(cut) == 1  # only the edited section is tokenised again
    idx = load_current(Path(settings.index_dir))
    assert "新段落" in idx.articles["contact/email"]["html"]
    fresh = build_index(settings.with_overrides(index_dir=str(Path(settings.index_dir).parent / "fresh")),
                        HashEmbedder(64))
    other = load_current(fresh.path.parents[1])
    for name in ("jieba", "chars"):  # copied counts give the same keyword index as a fresh cut
        ours, fresh_weights = _term_weights(idx.keyword[name]), _term_weights(other.keyword[name])
        assert ours.keys() == fresh_weights.keys()  # words only the old text had are gone
        for term, column in ours.items():
            assert np.allclose(column, fresh_weights[term], atol=1e-6), term


def test_related_articles_are_the_nearest_others():
    from helpcenter.engine.related import related_articles

    vecs = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    rel = related_articles(vecs, ["a", "b", "c", "d"], ["a", "b", "c", "d"])
    assert rel["a"][0] == "b" and rel["c"][0] == "d"
    assert all(a not in r for a, r in rel.items())


def test_graph_index_grows_on_rebuild_and_answers_like_a_fresh_build(settings, tmp_path):
    s = settings.with_overrides(ann="hnsw")
    build_index(s, HashEmbedder(64))
    before = load_current(Path(s.index_dir))
    path = Path(s.articles_dir) / "contact" / "email.md"
    path.write_text(path.read_text("utf-8") + "\n## 附件\n\n邮件可以附上截图和订单号。\n", "utf-8")
    build_index(s, HashEmbedder(64))
    grown = load_current(Path(s.index_dir))
    # The graph was reused: old slots kept their vectors, the new section was appended.
    assert grown.ann.ntotal == before.ann.ntotal + 1
    assert grown.passages[grown.slot_rows[-1]]["heading"].endswith("附件")
    assert np.array_equal(grown.vectors[: before.ann.ntotal][grown.slot_rows[: before.ann.ntotal] >= 0],
                          before.vectors[grown.slot_rows[: before.ann.ntotal] >= 0])

    fresh_dir = tmp_path / "fresh-index"
    build_index(s.with_overrides(index_dir=str(fresh_dir)), HashEmbedder(64))
    fresh = load_current(fresh_dir)
    assert fresh.ann.ntotal == len(fresh.passages)
    fresh_row = {p["key"]: r for r, p in enumerate(fresh.passages)}
    for row, p in enumerate(grown.passages):
        assert np.allclose(grown.row_vectors([row]), fresh.row_vectors([fresh_row[p["key"]]]), atol=1e-6)
    dense = s.with_overrides(retrieval="dense")
    for query in ("邮件附上截图", "忘记密码", "包裹到哪了", "账号被盗"):
        ours = [h.id for h in Searcher(dense, HashEmbedder(64)).search(query).results]
        theirs = [h.id for h in Searcher(dense.with_overrides(index_dir=str(fresh_dir)),
                                         HashEmbedder(64)).search(query).results]
        assert ours == theirs, query


def test_graph_index_is_rebuilt_when_too_much_of_it_is_removed(settings):
    s = settings.with_overrides(ann="hnsw")
    build_index(s, HashEmbedder(64))
    before = load_current(Path(s.index_dir))
    gone = ["account/stolen-account", "orders/track-order"]
    assert sum(len(before.rows_by_article[a]) for a in gone) > 0.2 * before.ann.ntotal
    for article in gone:
        (Path(s.articles_dir) / f"{article}.md").unlink()
    build_index(s, HashEmbedder(64))
    after = load_current(Path(s.index_dir))
    assert after.ann.ntotal == len(after.passages)
    assert np.array_equal(after.slot_rows, np.arange(len(after.passages)))
    assert not set(gone) & {p["article"] for p in after.passages}


def test_learned_questions_become_passages_of_their_articles(settings):
    learned = [("account/forgot-password", "口令记不住了"), ("account/no-such-article", "不存在"),
               ("account/forgot-password", "口令记不住了"), ("account/forgot-password", "密码想不起来了")]
    report = build_index(settings, HashEmbedder(256), learned=learned)
    idx = load_current(Path(settings.index_dir))
    mine = [p for p in idx.passages if p["kind"] == "learned"]
    # Once each; none for an article that does not exist; none repeating the article's own question.
    assert [(p["article"], p["text"]) for p in mine] == [("account/forgot-password", "口令记不住了")]
    assert idx.manifest["counts"]["learned"] == 1
    kw = Searcher(settings.with_overrides(retrieval="keyword"), embedder=HashEmbedder(256))
    assert kw.search("口令记不住").results[0].id == "account/forgot-password"
    again = build_index(settings, HashEmbedder(256), learned=learned)
    assert again.up_to_date and again.build_id == report.build_id
    fewer = build_index(settings, HashEmbedder(256), learned=[])
    assert not fewer.up_to_date and fewer.embedded == 0  # dropping one re-embeds nothing else
    assert not [p for p in load_current(Path(settings.index_dir)).passages if p["kind"] == "learned"]
