"""helpcenter preview: drafts shown, a save rebuilt and on screen without a reload, findings on the page."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from helpcenter.engine.embed import HashEmbedder
from helpcenter.engine.preview import Preview, seed_from
from helpcenter.engine.search import Searcher

from .conftest import free_port, write_tree

DRAFT = """---
title: 更换绑定手机号
summary: 旧号码还能收短信时可以自己改。
draft: true
---

## 自己更换

在账号设置里选择更换手机号。
"""


@pytest.fixture
def preview(settings, tmp_path) -> Preview:
    write_tree(Path(settings.articles_dir), {"account/change-phone.md": DRAFT})
    live = Preview(settings.with_overrides(index_dir=str(tmp_path / "preview-index")), HashEmbedder(256))
    assert not live.rebuild().error
    return live


@pytest.fixture
def preview_app(preview, tmp_path):
    from helpcenter.web import create_app
    from helpcenter.web.preview import init_preview

    s = preview.settings.with_overrides(instance_dir=str(tmp_path / "instance"), outbox_worker=0)
    app = create_app({"TESTING": True}, settings=s, searcher=Searcher(s, embedder=preview.embedder))
    init_preview(app, preview)
    return app


def edit(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text("utf-8").replace(old, new), "utf-8")


def test_drafts_are_built_and_marked_but_never_in_a_real_build(preview, built) -> None:
    shown = Searcher(preview.settings, HashEmbedder(256)).index().articles
    assert shown["account/change-phone"]["draft"] is True
    assert "account/change-phone" not in Searcher(built, HashEmbedder(256)).index().articles


def test_a_save_is_searchable_after_the_rebuild_and_only_the_file_is_parsed_again(preview) -> None:
    before = dict(preview.cache.files)
    article = Path(preview.settings.articles_dir) / "account/forgot-password.md"
    edit(article, "设置新密码。", "设置新密码。新密码需要包含字母和数字，长度至少八位。")
    state = preview.rebuild([str(article)])
    assert state.version == 2 and not state.error and state.changed == ["articles/account/forgot-password.md"]
    reparsed = [p for p, entry in preview.cache.files.items() if before.get(p) is not entry]
    assert reparsed == [str(article)]
    top = served(preview).search("密码长度至少八位", 3).results[0]
    assert top.id == "account/forgot-password" and "八位" in top.snippet


def served(preview: Preview) -> Searcher:
    """A searcher as the preview's site has one: it serves the build the preview made (in memory)."""
    searcher = Searcher(preview.settings, HashEmbedder(256))
    searcher.handle.adopt(preview.cache.live)
    return searcher


def test_saves_built_in_memory_match_a_build_from_scratch(preview, tmp_path) -> None:
    """After several saves (an edit, a new article, a removed one) the preview's build, made in
    memory from the last one, ranks and counts exactly like a fresh build of the same folder."""
    import numpy as np

    from helpcenter.engine.build import build_index

    root = Path(preview.settings.articles_dir)
    edit(root / "account/forgot-password.md", "设置新密码。", "设置新密码。新密码至少八位。")
    preview.rebuild([str(root / "account/forgot-password.md")])
    write_tree(root, {"orders/refund.md": "---\ntitle: 怎么申请退款\n---\n\n## 申请\n\n在订单页点申请退款。\n"})
    preview.rebuild([str(root / "orders/refund.md")])
    (root / "account/stolen-account.md").unlink()
    state = preview.rebuild([str(root / "account/stolen-account.md")])
    assert not state.error
    mine = preview.cache.live
    fresh_settings = preview.settings.with_overrides(index_dir=str(tmp_path / "fresh"))
    build_index(fresh_settings, HashEmbedder(256), drafts=True)
    fresh = Searcher(fresh_settings, HashEmbedder(256))
    assert [p["key"] for p in mine.passages] == [p["key"] for p in fresh.index().passages]
    for name, bm25 in fresh.index().keyword.items():
        ours = mine.keyword[name]
        order = sorted(bm25.vocab, key=bm25.vocab.get)
        cols = [ours.vocab[t] for t in order]
        assert np.allclose(ours.weights[:, cols].toarray(), bm25.weights.toarray()), name
    assert "account/stolen-account" not in mine.articles
    for q in ("密码至少八位", "怎么申请退款", "客服邮箱是多少", "更换绑定手机号", "号被别人登了"):
        assert ([h.id for h in served(preview).search(q, 5).results]
                == [h.id for h in fresh.search(q, 5).results]), q


def test_a_broken_save_keeps_the_last_good_build_and_says_where(preview) -> None:
    draft = Path(preview.settings.articles_dir) / "account/change-phone.md"
    edit(draft, "draft: true", "draft: true\nupdated: 2026-02-30")
    state = preview.rebuild([str(draft)])
    assert state.error and "nothing was published" in state.error
    (finding,) = preview.findings_for("articles/account/change-phone.md")
    assert (finding.line, finding.field, finding.severity) == (5, "updated", "error")
    assert "account/change-phone" in Searcher(preview.settings, HashEmbedder(256)).index().articles


def test_the_watcher_rebuilds_on_save(preview) -> None:
    stop = preview.start()
    try:
        time.sleep(0.5)  # the watch is set up
        edit(Path(preview.settings.articles_dir) / "account/stolen-account.md", "设备锁", "设备锁和异地登录提醒")
        state = preview.wait(1, timeout=20)
        assert state.version >= 2 and "articles/account/stolen-account.md" in state.changed
    finally:
        stop.set()


def test_the_page_shows_its_findings_and_the_draft_mark(preview_app, preview) -> None:
    client = preview_app.test_client()
    page = client.get("/articles/account/change-phone").get_data(as_text=True)
    assert 'id="preview"' in page and "草稿" in page and "发布后的网站上不会出现" in page
    draft = Path(preview.settings.articles_dir) / "account/change-phone.md"
    edit(draft, "draft: true", "draft: true\nupdated: 2026-02-30")
    preview.rebuild([str(draft)])
    page = client.get("/articles/account/change-phone").get_data(as_text=True)
    assert "articles/account/change-phone.md:5 updated" in page and "2026-02-30" in page
    english = client.get("/en/articles/account/change-phone").get_data(as_text=True)
    assert "Draft" in english and "Preview" in english


def test_the_changes_endpoint_answers_when_the_folder_was_rebuilt(preview_app, preview) -> None:
    client = preview_app.test_client()
    assert client.get("/_preview/changes?since=0").get_json()["version"] == 1
    preview.rebuild()
    assert client.get("/_preview/changes?since=1").get_json()["version"] == 2


def test_the_preview_is_not_on_the_real_site(client) -> None:
    assert client.get("/_preview/changes").status_code == 404
    assert 'id="preview"' not in client.get("/articles/account/forgot-password").get_data(as_text=True)


def test_a_saved_change_appears_in_the_open_browser(preview_app, preview, browser) -> None:
    from helpcenter.web.live import serve_in_thread

    stop = preview.start()
    try:
        with serve_in_thread(preview_app) as base:
            page = browser.new_page()
            page.goto(base + "/articles/account/forgot-password")
            assert "指纹" not in page.inner_text("article")
            time.sleep(0.5)
            edit(Path(preview.settings.articles_dir) / "account/forgot-password.md", "设置新密码。", "设置新密码，也可以用指纹登录。")
            page.locator("article", has_text="指纹").wait_for(timeout=20000)  # no reload by hand
            page.close()
    finally:
        stop.set()


def test_the_command_serves_the_working_folder(built, tmp_path) -> None:
    """`helpcenter preview` on a folder, starting from its published index; a separate database."""
    write_tree(Path(built.articles_dir), {"account/change-phone.md": DRAFT})
    port = free_port()
    env = {**os.environ, "HELPCENTER_INSTANCE_DIR": str(tmp_path / "real-instance"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "helpcenter.cli", "preview", built.articles_dir, "--index",
                             built.index_dir, "--model", "hash", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        page = ""
        for _ in range(120):
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/articles/account/change-phone").read().decode()
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.5)
        assert "更换绑定手机号" in page and "草稿" in page, proc.stdout.read() if proc.poll() is not None else page
        assert not (tmp_path / "real-instance").exists()
    finally:
        proc.terminate()
        out = proc.communicate(timeout=20)[0]
    assert "starting from the published index" in out


def test_seeding_copies_the_published_build(built, tmp_path) -> None:
    assert seed_from(Path(built.index_dir), tmp_path / "p")
    assert (tmp_path / "p" / "current").is_symlink()
    assert not seed_from(tmp_path / "nothing", tmp_path / "q")
