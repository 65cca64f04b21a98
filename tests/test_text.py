from helpcenter.engine.text import Tokenizer, dictionary_fingerprint, normalise


def test_normalise_width_script_case_and_variants():
    assert normalise("ＬＩＮＥ　客服") == "line 客服"
    assert normalise("帳號被盜怎麼辦") == "账号被盗怎么办"
    assert normalise("軟體一直閃退") == "软件一直闪退"  # Taiwan wording to mainland
    assert normalise("登陆不了  帐号") == "登录不了 账号"


def test_user_dictionary_keeps_domain_terms_whole(tmp_path):
    plain = Tokenizer()
    assert "设备锁" not in plain.tokens("怎么开启设备锁")
    d = tmp_path / "dict.txt"
    d.write_text("设备锁 800 n\nQQ群 500 n\n", "utf-8")
    tok = Tokenizer(d)
    assert "设备锁" in tok.tokens("怎么开启设备锁")
    assert "qq群" in tok.tokens("QQ群怎么管理")


def test_tokens_drop_punctuation_and_spaces():
    toks = Tokenizer().tokens("密码，忘了！！ 怎么办？")
    assert toks and all(t.strip() and t not in "，！？" for t in toks)


def test_fingerprint_follows_dictionary_contents(tmp_path):
    d = tmp_path / "d.txt"
    d.write_text("甲 1\n", "utf-8")
    a = dictionary_fingerprint(d)
    d.write_text("乙 1\n", "utf-8")
    assert dictionary_fingerprint(d) != a


def test_char_ngrams_survive_segmentation_differences():
    from helpcenter.engine.text import char_ngrams

    grams = char_ngrams("LINE客服電話")
    assert "line" in grams and "客服" in grams and "电话" in grams and "服电" in grams
    assert "的" not in char_ngrams("我的密码")  # stop words carry no topic
    # A typo jieba cuts differently still shares most grams with the right word.
    right, typo = set(char_ngrams("设备锁")), set(char_ngrams("设备索"))
    assert len(right & typo) >= 3
