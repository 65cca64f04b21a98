"""Demotion (engine/demotion.py): an article that keeps failing a query ranks lower for it and its
near paraphrases, within limits; the queries live in the index build, checked like the rest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpcenter.engine.build import build_index
from helpcenter.engine.demotion import DEMOTED_FILE
from helpcenter.engine.embed import HashEmbedder
from helpcenter.engine.index import IndexCorrupt, load_build, load_current
from helpcenter.engine.search import Searcher

FORGOT = "account/forgot-password"
QUERY = "忘了密码咋办"


def scores(settings, query: str, embedder=None) -> dict[str, float]:
    searcher = Searcher(settings.with_overrides(result_cut=0.0, max_guesses=0), embedder=embedder or HashEmbedder(256))
    return {h.id: h.score for h in searcher.search(query, 10).results}


def test_a_demoted_article_loses_at_most_its_share_for_that_query_and_stays_listed(built):
    before = scores(built, QUERY)
    report = build_index(built, demoted=[(FORGOT, QUERY, 1.0)])
    assert report.embedded == 0  # only the demoted query needed the model, not the passages
    after = scores(built, QUERY)
    assert FORGOT in after  # lower, never gone
    assert after[FORGOT] == pytest.approx(before[FORGOT] * (1 - built.demote_max), rel=1e-3)
    assert {a: s for a, s in after.items() if a != FORGOT} == {a: s for a, s in before.items() if a != FORGOT}
    # Another question about something else: the article is not touched there.
    assert scores(built, "物流一直不更新") == scores(built.with_overrides(demote_max=0.0), "物流一直不更新")
    # Half the evidence, half the penalty; and switched off, none.
    build_index(built, demoted=[(FORGOT, QUERY, 0.5)])
    assert scores(built, QUERY)[FORGOT] == pytest.approx(before[FORGOT] * (1 - built.demote_max / 2), rel=1e-3)
    assert scores(built.with_overrides(demote_max=0.0), QUERY)[FORGOT] == pytest.approx(before[FORGOT], rel=1e-6)


def test_demotions_are_part_of_the_build_and_checked_on_load(built):
    first = build_index(built, demoted=[(FORGOT, QUERY, 1.0), ("account/gone", "whatever", 1.0)])
    live = load_current(Path(built.index_dir))
    assert live.manifest["counts"]["demoted"] == 1  # an article that is not published is skipped
    assert live.manifest["demoted"] == [{"article": FORGOT, "query": QUERY, "strength": 1.0}]
    assert DEMOTED_FILE in live.manifest["files"]
    again = build_index(built, demoted=[(FORGOT, QUERY, 1.0)])
    assert again.up_to_date and again.build_id == first.build_id
    cleared = build_index(built, demoted=[])  # the evidence faded: the next build forgets it
    assert not cleared.up_to_date and load_current(Path(built.index_dir)).demoted is None

    build_index(built, demoted=[(FORGOT, QUERY, 1.0)])
    folder = load_current(Path(built.index_dir)).path
    np.save(folder / DEMOTED_FILE, np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(IndexCorrupt, match=DEMOTED_FILE):
        load_build(folder)
    with pytest.raises(IndexCorrupt, match="demoted.npy"):
        load_build(folder, verify_checksums=False)  # the shape is checked too


@pytest.mark.model
def test_with_the_real_model_a_paraphrase_is_demoted_and_an_unrelated_question_is_not(built, tmp_path):
    from helpcenter.engine.embed import load_embedder
    from helpcenter.engine.model_files import DEFAULT_MODEL_NAME

    real = built.with_overrides(model=DEFAULT_MODEL_NAME, index_dir=str(tmp_path / "real-index"))
    embedder = load_embedder(DEFAULT_MODEL_NAME)
    build_index(real, embedder)
    before = {q: scores(real, q, embedder)[FORGOT] for q in ("密码忘了怎么办", QUERY, "账号被盗了怎么办")}
    build_index(real, embedder, demoted=[(FORGOT, "密码忘了怎么办", 1.0)])
    after = {q: scores(real, q, embedder)[FORGOT] for q in before}
    ratio = {q: after[q] / before[q] for q in before}
    assert ratio["密码忘了怎么办"] == pytest.approx(1 - real.demote_max, rel=1e-3)  # the query itself
    assert 1 - real.demote_max < ratio[QUERY] < 1  # its paraphrase, a little less
    assert ratio["账号被盗了怎么办"] == pytest.approx(1.0)  # a different question (cosine 0.90) keeps its ranking
