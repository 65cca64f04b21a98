"""Images in articles: checked for writers, published with hashed names, served cached."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from helpcenter.config import Settings
from helpcenter.engine.build import build_index
from helpcenter.engine.content import load_articles
from helpcenter.engine.embed import HashEmbedder
from helpcenter.engine.index import load_current

from .conftest import TINY, write_tree

WITH_IMAGES = """
    ---
    title: 登录页在哪里
    ---

    ## 找到入口

    打开应用后点右上角。

    ![登录页的“找回密码”按钮](images/登录.png)

    ![](../_assets/logo.png)

    !!! warning "注意"
        不要把验证码告诉任何人。
    """


def _png(path: Path, size: tuple[int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, "navy").save(path)
    return path


def _site(tmp_path: Path) -> Path:
    root = write_tree(tmp_path / "articles", {**TINY, "account/login-page.md": WITH_IMAGES})
    _png(root / "account/images/登录.png", (320, 200))
    _png(root / "_assets/logo.png", (64, 64))
    return root


def test_check_reports_missing_refused_large_and_undescribed_images(tmp_path: Path) -> None:
    root = _site(tmp_path)
    write_tree(root, {"account/bad-images.md": (
        "---\ntitle: 图\n---\n\n![没有](images/none.png)\n![矢量](images/a.svg)\n![外面](../../secret.png)\n"
        "![坏的](images/broken.png)\n")})
    (root / "account/images/a.svg").write_text("<svg onload='alert(1)'/>", "utf-8")
    (root / "account/images/broken.png").write_text("not a png", "utf-8")
    problems = load_articles(root).problems
    found = {(p.path.rsplit("/", 1)[1], p.line, p.code) for p in problems if "image" in p.code}
    assert found == {
        ("bad-images.md", 5, "missing_image"), ("bad-images.md", 6, "image_type"),
        ("bad-images.md", 7, "image_outside"), ("bad-images.md", 8, "unreadable_image"),
        ("login-page.md", 11, "image_no_alt"),  # the shared logo has no alt text
    }
    big = _png(root / "account/images/big.png", (1200, 1200))
    write_tree(root, {"account/big.md": "---\ntitle: 大图\n---\n\n![大图](images/big.png)\n"})
    limit = big.stat().st_size - 1
    (large,) = [p for p in load_articles(root, max_image_bytes=limit).problems if p.code == "image_too_large"]
    assert large.line == 5 and large.severity == "warning"


def test_build_publishes_images_with_hashed_names_sizes_and_lazy_loading(tmp_path: Path) -> None:
    root = _site(tmp_path)
    s = Settings(articles_dir=str(root), index_dir=str(tmp_path / "index"), model="hash", user_dict="").validate()
    build_index(s, embedder=HashEmbedder(64))
    idx = load_current(Path(s.index_dir))
    html = idx.articles["account/login-page"]["html"]
    (shot,) = [tag for tag in re.findall(r"<img [^>]*>", html) if "找回密码" in tag]
    for attribute in ('alt="登录页的“找回密码”按钮"', 'width="320"', 'height="200"', 'loading="lazy"'):
        assert attribute in shot
    published = sorted(p.name for p in (idx.path / "assets").iterdir())
    assert len(published) == 2 and all(f'src="/assets/{n}"' in html for n in published)
    # A callout box, sanitised but kept.
    assert '<div class="admonition warning">' in html and "不要把验证码告诉任何人" in html
    # The 繁體 page converts the body, file names included, and still shows the same images.
    hant = idx.articles["account/login-page"]["locales"]["zh-Hant"]["html"]
    assert all(f'src="/assets/{n}"' in hant for n in published)

    # A changed image gets a new name; the old page's URL is never reused for other bytes.
    _png(root / "account/images/登录.png", (321, 200))
    build_index(s, embedder=HashEmbedder(64))
    again = load_current(Path(s.index_dir))
    assert 'width="321"' in again.articles["account/login-page"]["html"]
    assert set(p.name for p in (again.path / "assets").iterdir()) != set(published)


def test_images_are_served_for_a_year_and_nothing_else_is(make_app, tmp_path: Path, built: Settings) -> None:
    root = Path(built.articles_dir)
    write_tree(root, {"account/login-page.md": WITH_IMAGES})
    _png(root / "account/images/登录.png", (320, 200))
    _png(root / "_assets/logo.png", (64, 64))
    build_index(built, embedder=HashEmbedder(256))
    client = make_app().test_client()
    name = next((load_current(Path(built.index_dir)).path / "assets").iterdir()).name
    r = client.get(f"/assets/{name}")
    assert r.status_code == 200 and r.mimetype == "image/png"
    assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get("/zh-hant/assets/" + name).status_code == 200
    for bad in ("../manifest.json", "manifest.json", "0" * 20 + ".png", name.replace(".png", ".svg")):
        assert client.get(f"/assets/{bad}").status_code == 404
