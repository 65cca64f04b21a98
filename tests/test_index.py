import json
import logging
from pathlib import Path

import pytest

from helpcenter.engine.build import build_index
from helpcenter.engine.embed import HashEmbedder
from helpcenter.engine.index import IndexCorrupt, IndexMismatch, IndexMissing, current_target, load_build
from helpcenter.engine.search import IndexHandle, Searcher


def live(settings) -> Path:
    target = current_target(Path(settings.index_dir))
    assert target is not None
    return target


def test_missing_index_says_how_to_build(tmp_path):
    with pytest.raises(IndexMissing, match="build-index"):
        IndexHandle(tmp_path / "nothing").get()


@pytest.mark.parametrize("victim,damage", [
    ("vectors.faiss", lambda p: p.write_bytes(p.read_bytes()[:100])),
    ("passages.json", lambda p: p.write_text("[{", "utf-8")),
    ("manifest.json", lambda p: p.write_text("{not json", "utf-8")),
    ("chars.npz", lambda p: p.unlink()),
    ("jieba.vocab.json", lambda p: p.write_text("{", "utf-8")),
])
def test_corrupt_or_truncated_files_are_refused(built, victim, damage):
    folder = live(built)
    damage(folder / victim)
    with pytest.raises(IndexCorrupt) as exc:
        load_build(folder)
    assert victim in str(exc.value)


def test_counts_that_disagree_are_refused_even_with_valid_checksums(built):
    folder = live(built)
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    manifest["counts"]["passages"] += 1
    (folder / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    with pytest.raises(IndexCorrupt, match="counts disagree"):
        load_build(folder)


def test_index_built_by_another_model_is_refused(built):
    searcher = Searcher(built, embedder=HashEmbedder(128))  # index was built with hash-256
    with pytest.raises(IndexMismatch, match="rebuild"):
        searcher.search("密码")


def test_running_searcher_picks_up_a_new_build(built):
    searcher = Searcher(built, embedder=HashEmbedder(256))
    first = searcher.search("发票怎么开").build_id
    path = Path(built.articles_dir) / "orders" / "invoice.md"
    path.write_text("---\ntitle: 怎么开发票\n---\n\n## 开发票\n\n在订单页申请开发票。\n", "utf-8")
    build_index(built, HashEmbedder(256))
    response = searcher.search("发票怎么开")
    assert response.build_id != first
    assert response.results[0].id == "orders/invoice"


def test_bad_new_build_keeps_old_one_serving(built, caplog):
    searcher = Searcher(built, embedder=HashEmbedder(256))
    good = searcher.search("密码").build_id
    (Path(built.articles_dir) / "contact" / "email.md").write_text(
        (Path(built.articles_dir) / "contact" / "email.md").read_text("utf-8") + "\n新内容\n", "utf-8")
    build_index(built, HashEmbedder(256))
    (live(built) / "vectors.faiss").write_bytes(b"garbage")  # published, then damaged
    with caplog.at_level(logging.ERROR):
        response = searcher.search("密码")
    assert response.build_id == good
    assert response.results
    assert "cannot be used" in caplog.text
    assert searcher.handle.last_error and "vectors.faiss" in searcher.handle.last_error
