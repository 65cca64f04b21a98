"""Articles in every locale: writers' translations, 繁體 conversion, staleness, search."""

from __future__ import annotations

from pathlib import Path

from helpcenter.config import Settings
from helpcenter.engine.build import build_index
from helpcenter.engine.content import load_articles
from helpcenter.engine.embed import HashEmbedder
from helpcenter.engine.search import Searcher
from helpcenter.engine.translations import Converter, source_hash

from .conftest import TINY, write_tree

TAGS = ("zh-Hans", "zh-Hant", "en")

EN_FORGOT = """
    ---
    title: How to reset a forgotten password
    summary: Verify by e-mail or text message, then choose a new password.
    questions:
      - I can't remember my password
    source: {source}
    ---

    You can reset it yourself.

    ## Reset it yourself

    On the sign-in page choose "Forgot password" and verify by e-mail or text message.

    ## Ask support

    If no code arrives, [contact support](../contact/email.md).
    """


def _source_of(root: Path, article_id: str) -> str:
    return source_hash(load_articles(root, TAGS).articles[article_id])


def _with_english(tmp_path: Path, source: str | None = None) -> Path:
    root = write_tree(tmp_path / "articles", TINY)
    src = source if source is not None else _source_of(root, "account/forgot-password")
    write_tree(root, {"account/forgot-password.en.md": EN_FORGOT.format(source=src),
                      "account/_category.en.yml": "name: Account and security\n",
                      "_glossary.zh-Hant.yml": "账号: 帳號\n"})
    return root


def _built(tmp_path: Path, root: Path) -> Searcher:
    s = Settings(articles_dir=str(root), index_dir=str(tmp_path / "index"), model="hash", user_dict="").validate()
    build_index(s, embedder=HashEmbedder(256))
    return Searcher(s, embedder=HashEmbedder(256))


def test_a_translation_is_attached_to_its_article_not_loaded_as_one(tmp_path: Path) -> None:
    root = _with_english(tmp_path)
    c = load_articles(root, TAGS)
    assert "account/forgot-password.en" not in c.articles
    t = c.translations["account/forgot-password"]["en"]
    assert t.title == "How to reset a forgotten password" and t.locale == "en"
    assert not [p for p in c.problems if p.path.endswith(".en.md")]
    assert c.categories["account"].locales == {"en": {"name": "Account and security"}}


def test_check_names_stale_unversioned_orphan_and_unserved_translations(tmp_path: Path) -> None:
    root = _with_english(tmp_path, source="0123abcd0123")
    now = _source_of(root, "account/forgot-password")
    write_tree(root, {
        "account/stolen-account.en.md": "---\ntitle: Stolen account\n---\nChange the password.\n",
        "account/gone.en.md": "---\ntitle: Gone\nsource: x\n---\nBody\n",
        "account/forgot-password.ja.md": "---\ntitle: パスワード\n---\n本文\n",
    })
    found = {(p.path.split("articles/")[1], p.line, p.code) for p in load_articles(root, TAGS).problems}
    assert ("account/forgot-password.en.md", 6, "stale_translation") in found  # the `source:` line
    assert ("account/stolen-account.en.md", 1, "translation_unversioned") in found
    assert ("account/gone.en.md", 1, "orphan_translation") in found
    assert ("account/forgot-password.ja.md", 1, "unknown_locale") in found
    stale = next(p for p in load_articles(root, TAGS).problems if p.code == "stale_translation")
    assert now in stale.format("en") and "0123abcd0123" in stale.format("en")


def test_glossary_terms_win_over_the_converter() -> None:
    plain = Converter("s2twp")
    assert plain("登录软件看视频") == "登入軟體看影片"  # phrase level, not character by character
    assert plain("官方账号") != "官方帳號"  # what the shipped glossary is for
    assert Converter("s2twp", {"账号": "帳號", "二维码": "QR Code"})("官方账号的二维码") == "官方帳號的QR Code"


def test_build_keeps_every_locale_and_search_shows_the_readers_version(tmp_path: Path) -> None:
    searcher = _built(tmp_path, _with_english(tmp_path))
    idx = searcher.index()
    versions = idx.articles["account/forgot-password"]["locales"]
    assert versions["en"]["kind"] == "translated" and not versions["en"]["stale"]
    assert versions["zh-Hant"]["kind"] == "converted" and versions["zh-Hant"]["title"] == "忘記密碼怎麼重置"
    # Links in a page stay in its locale.
    assert 'href="/en/articles/contact/email"' in versions["en"]["html"]
    assert 'href="/zh-hant/articles/contact/email"' in versions["zh-Hant"]["html"]
    assert {p.get("locale") for p in idx.passages if p["article"] == "account/forgot-password"} == {"zh-Hans", "en"}

    # An English query finds the article through its English passages, in every locale.
    for locale in (None, "zh-Hant", "en"):
        top = searcher.search("forgot password reset it yourself", 3, locale=locale).results[0]
        assert top.id == "account/forgot-password"
    en = searcher.search("forgot password reset it yourself", 3, locale="en").results[0]
    assert (en.title, en.locale, en.untranslated) == ("How to reset a forgotten password", "en", False)
    # Its section and snippet come from the English text.
    assert en.anchor in {"", "reset-it-yourself", "ask-support"}
    assert en.snippet and not any("\u4e00" <= ch <= "\u9fff" for ch in en.snippet)
    assert en.category_name == "Account and security"

    hant = searcher.search("密码想不起来了", 3, locale="zh-Hant").results[0]
    assert hant.title == "忘記密碼怎麼重置"
    assert hant.category_name == "帳號與安全"  # the glossary's term, where OpenCC alone gives 賬號
    assert "密碼" in hant.snippet and "密码" not in hant.snippet
    converted = idx.articles["account/forgot-password"]["locales"]["zh-Hant"]
    assert hant.anchor in {t["id"] for t in converted["toc"]} | {""}


def test_english_reader_gets_the_source_marked_where_no_translation_exists(tmp_path: Path) -> None:
    searcher = _built(tmp_path, _with_english(tmp_path))
    hit = searcher.search("账号被盗", 3, locale="en").results[0]
    assert hit.id == "account/stolen-account"
    assert (hit.title, hit.locale, hit.untranslated) == ("账号被盗怎么办", "zh-Hans", True)


def test_a_stale_translation_is_published_and_marked(tmp_path: Path) -> None:
    searcher = _built(tmp_path, _with_english(tmp_path, source="0123abcd0123"))
    assert searcher.index().articles["account/forgot-password"]["locales"]["en"]["stale"] is True


def test_editing_the_source_rerenders_its_conversion_only(tmp_path: Path) -> None:
    root = _with_english(tmp_path)
    searcher = _built(tmp_path, root)
    before = searcher.index().articles
    path = root / "orders/track-order.md"
    path.write_text(path.read_text("utf-8").replace("检查追踪号码", "先检查追踪号码"), "utf-8")
    s = searcher.settings
    build_index(s, embedder=HashEmbedder(256))
    after = Searcher(s, embedder=HashEmbedder(256)).index().articles
    assert "先檢查追蹤號碼" in after["orders/track-order"]["locales"]["zh-Hant"]["html"]
    assert after["account/forgot-password"]["locales"] == before["account/forgot-password"]["locales"]
