"""helpcenter.engine.pinyin, and pinyin / homophone queries through the searcher, the site and the CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from helpcenter.cli import main
from helpcenter.engine import pinyin
from helpcenter.engine.text import get_tokenizer


@pytest.mark.parametrize("text", ["chongzhi", "lian xi ke fu", "dingdanchaxun", "mi4ma3", "Chongzhi MeiDaoZhang",
                                  "xi'an", "wangji mima"])
def test_pinyin_is_recognised(text):
    assert pinyin.is_pinyin(text)


@pytest.mark.parametrize("text", ["refund", "app", "line", "password reset", "app 闪退", "重置密码", "", "123456",
                                  "wifi"])
def test_english_chinese_and_numbers_are_not_pinyin(text):
    assert not pinyin.is_pinyin(text)


@pytest.mark.parametrize("word, sound", [
    ("重置", "chong zhi"), ("重新", "chong xin"), ("还款", "huan kuan"), ("银行", "yin hang"),
    ("转人工", "zhuan ren gong"), ("单号", "dan hao"), ("长按", "chang an"), ("处理", "chu li"),
    ("发货", "fa huo"), ("重要", "zhong yao"), ("快递", "kuai di"), ("了解", "liao jie"),
])
def test_customer_service_polyphones_read_as_people_say_them(word, sound):
    assert " ".join(pinyin.reading(word)) == sound


@pytest.fixture(scope="module")
def vocab():
    counts = {"重置": 3, "密码": 9, "充值": 4, "到账": 4, "没": 5, "邮箱": 3, "客服": 12, "联系": 6, "订单": 5,
              "查询": 2, "账号": 8, "被盗": 2, "地址": 2, "只是": 3}
    phrases = {"重置密码": 2, "联系客服": 3}
    return pinyin.PinyinVocab.build(counts, get_tokenizer(None).frequencies(), phrases)


@pytest.mark.parametrize("typed, chinese", [
    ("chongzhi mima", "重置密码"),   # context picks 重置, not 充值
    ("chong zhi mei dao zhang", "充值没到账"),
    ("lianxi kefu", "联系客服"), ("lian xi ke fu", "联系客服"),
    ("kefu youxiang", "客服邮箱"),   # our 邮箱, not jieba's commoner 游戏+昂
    ("dingdanchaxun", "订单查询"),
    ("zhanghao bei dao", "账号被盗"),
])
def test_pinyin_is_read_as_our_own_words(vocab, typed, chinese):
    assert vocab.rewrite(typed)[0] == chinese


def test_a_space_never_cuts_a_syllable(vocab):
    # "xi an" is two syllables (西, 安), "xian" one: the reading must follow where the person typed a space.
    together, apart = vocab.rewrite("xian"), vocab.rewrite("xi an")
    assert len(apart[1]) == 2 and apart[1] == ["xi", "an"]
    assert together is None or together[1] == ["xian"]


@pytest.mark.parametrize("typo, fixed", [("客服油箱", "客服邮箱"), ("冲值没到账", "充值没到账"),
                                         ("密吗忘了", "密码忘了"), ("账号被道了", "账号被盗了")])
def test_homophone_typos_become_words_of_our_corpus(vocab, typo, fixed):
    assert vocab.correct(typo) == fixed


def test_correct_text_is_left_alone(vocab):
    assert vocab.correct("重置密码") is None and vocab.correct("联系客服") is None


def test_the_pinyin_field_matches_a_homophone_typo():
    tok = get_tokenizer(None)
    assert set(pinyin.text_terms(tok.words("冲值"))) == set(pinyin.text_terms(tok.words("充值")))


def test_vocab_survives_the_index_round_trip(vocab):
    again = pinyin.PinyinVocab.from_json(json.loads(json.dumps(vocab.as_json(), ensure_ascii=False)))
    assert again.rewrite("chongzhi mima") == vocab.rewrite("chongzhi mima") and again.corpus == vocab.corpus


# --- through the searcher and the site (tiny index, hash embedder: the keyword side must carry it) ---


def test_a_pinyin_query_finds_the_article_and_says_how_it_was_read(make_app):
    client = make_app(retrieval="keyword").test_client()  # the hash embedder knows no meaning: words must match
    data = client.get("/api/search", query_string={"q": "mima xiang bu qi lai le"}).get_json()
    assert data["results"][0]["id"] == "account/forgot-password"
    assert data["understood_kind"] == "pinyin" and data["understood_as"].startswith("密码")
    page = client.get("/search", query_string={"q": "mima xiang bu qi lai le"}).get_data(as_text=True)
    assert 'id="understood"' in page and "按 <strong" in page


def test_without_pinyin_the_same_query_finds_nothing(make_app):
    app = make_app(pinyin=0, retrieval="keyword")
    data = app.test_client().get("/api/search", query_string={"q": "mima xiang bu qi lai le"}).get_json()
    assert data["understood_kind"] is None and data["results"] == []


def test_a_homophone_typo_is_searched_as_the_word_it_sounds_like(make_app):
    client = make_app(retrieval="keyword").test_client()
    data = client.get("/api/search", query_string={"q": "密吗想不起来了"}).get_json()
    assert (data["understood_kind"], data["understood_as"]) == ("homophone", "密码想不起来了")
    assert data["results"][0]["id"] == "account/forgot-password"
    page = client.get("/search", query_string={"q": "密吗想不起来了"}).get_data(as_text=True)
    assert "您是不是要找：<strong>密码想不起来了</strong>" in page


@pytest.mark.parametrize("on", [1, 0])
def test_the_sound_alone_matches_a_word_spelt_otherwise(make_app, on):
    # The tiny articles say 重置 (chong zhi), never 冲值: only the pinyin field can connect them.
    data = make_app(retrieval="keyword", pinyin=on).test_client().get("/api/search", query_string={"q": "冲值"}).get_json()
    assert [r["id"] for r in data["results"]][:1] == (["account/forgot-password"] if on else [])


def test_an_index_built_before_pinyin_still_serves(built, make_app):
    """A build from before this release has no pinyin files: search works, without sounds."""
    from helpcenter.engine.index import OPTIONAL_FILES, current_target

    folder = current_target(__import__("pathlib").Path(built.index_dir))
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    for name in OPTIONAL_FILES:
        (folder / name).unlink()
        manifest["files"].pop(name)
    (folder / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    data = make_app().test_client().get("/api/search", query_string={"q": "忘记密码"}).get_json()
    assert data["results"][0]["id"] == "account/forgot-password" and data["understood_kind"] is None
    # The next build adds the pinyin field and re-embeds nothing: the old build's vectors are reused.
    from helpcenter.engine.build import build_index
    from helpcenter.engine.embed import HashEmbedder

    (folder / "manifest.json").write_text(json.dumps({**manifest, "fingerprint": "older"}), "utf-8")
    report = build_index(built, HashEmbedder(256))
    assert not report.up_to_date and report.embedded == 0
    data = make_app().test_client().get("/api/search", query_string={"q": "mima xiang bu qi lai le"}).get_json()
    assert data["understood_kind"] == "pinyin"


def test_the_cli_says_what_it_searched(built):
    res = CliRunner().invoke(main, ["search", "mima xiang bu qi lai le", "--index", built.index_dir,
                                    "--model", "hash"], env={"HELPCENTER_USER_DICT": "",
                                                             "HELPCENTER_RETRIEVAL": "keyword"})
    assert res.exit_code == 0, res.output
    assert "按 密码" in res.output and "account/forgot-password" in res.output.splitlines()[1]


def test_a_correction_never_splits_a_word_spelt_right(vocab):
    tok = get_tokenizer(None)
    text = "客服油箱地址是多少"
    assert vocab.correct(text) == "客服邮箱地只是多少"  # by sound alone, 址是 would become 只是
    assert vocab.correct(text, tok.words(text)) == "客服邮箱地址是多少"  # 地址 is a word: left whole
    for typo, fixed in [("冲值没到账", "充值没到账"), ("账号被道了", "账号被盗了"), ("密吗忘了", "密码忘了")]:
        assert vocab.correct(typo, tok.words(typo)) == fixed
