"""Text normalisation and jieba tokenisation, shared by the build and the searcher.

Both sides must treat text identically, so the index records a fingerprint of
this module's rules and dictionary, and ships a copy of the user dictionary it
was built with (the searcher tokenises queries with that copy).
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import jieba

NORMALISER_VERSION = 1

# Written variants and frequent typos mapped to one form on both sides
# (OpenCC gives 帐号 for 帳號, while mainland articles write 账号).
VARIANTS = {
    "帐号": "账号",
    "帐户": "账户",
    "到帐": "到账",
    "登陆": "登录",
    "重制密码": "重置密码",
    "密马": "密码",
}
# Function words that carry no topic: a keyword match on "了" says nothing, yet
# rank fusion would count it as much as a match on "退款".
STOPWORDS = frozenset("""
的 了 吗 呢 啊 吧 呀 嘛 哦 是 我 你 您 他 她 它 我们 你们 他们 在 和 与 及 或 也 都 就 还 又 被 把 让
给 这 那 这个 那个 这样 那样 哪 哪个 什么 怎么 怎么办 怎样 咋 咋办 如何 为什么 为何 一个 一下 请问 请
得 地 着 过 吗 么 能 会 要 想 可以 应该 该 有 个 下 上 去 来 到 说 呀 啦 嗯 the a an to of my i is
are do does how what can you your me it in on for and or
""".split())
_VARIANT_RE = re.compile("|".join(map(re.escape, sorted(VARIANTS, key=len, reverse=True))))
_SPACE_RE = re.compile(r"\s+")
# A token is kept for keyword search when it has a letter, digit or CJK character.
_WORD_RE = re.compile(r"[\w\u4e00-\u9fff]", re.UNICODE)


@lru_cache(maxsize=1)
def _converter():  # type: ignore[no-untyped-def]
    import opencc

    # Taiwan phrasing to mainland Simplified (軟體 -> 软件, 網路 -> 网络).
    return opencc.OpenCC("tw2sp")


def to_simplified(text: str) -> str:
    """Traditional (Taiwan usage) to Simplified, as queries are normalised."""
    return str(_converter().convert(text))


def normalise(text: str) -> str:
    """Full-width to half-width, Traditional to Simplified, lower case, one space."""
    text = unicodedata.normalize("NFKC", text)
    text = _converter().convert(text)
    text = text.lower()
    text = _VARIANT_RE.sub(lambda m: VARIANTS[m.group(0)], text)
    return _SPACE_RE.sub(" ", text).strip()


_CJK_RUN_RE = re.compile(r"[\u4e00-\u9fff]+|[a-z0-9]+")


def char_ngrams(text: str, normalised: bool = False) -> list[str]:
    """Character unigrams and bigrams of Chinese runs, whole words of Latin/digit runs.

    Needs no dictionary, so it still matches when jieba cuts a typo or a new
    product name differently in the query and the article.
    """
    if not normalised:
        text = normalise(text)
    out: list[str] = []
    for run in _CJK_RUN_RE.findall(text):
        if run[0].isascii():
            if run not in STOPWORDS:
                out.append(run)
            continue
        out.extend(c for c in run if c not in STOPWORDS)
        out.extend(run[i : i + 2] for i in range(len(run) - 1))
    return out


def dictionary_fingerprint(user_dict: str | Path | None) -> str:
    h = hashlib.sha256(f"normaliser{NORMALISER_VERSION}:{sorted(VARIANTS.items())}:{sorted(STOPWORDS)}".encode())
    if user_dict and Path(user_dict).is_file():
        h.update(Path(user_dict).read_bytes())
    return h.hexdigest()[:16]


@lru_cache(maxsize=8)
def _shared_tokenizer(user_dict: str, fingerprint: str) -> "Tokenizer":
    return Tokenizer(user_dict or None)


def get_tokenizer(user_dict: str | Path | None) -> "Tokenizer":
    """A shared tokenizer per dictionary contents: building jieba's prefix dict takes a second."""
    return _shared_tokenizer(str(user_dict or ""), dictionary_fingerprint(user_dict))


PASSAGE_WORDS_KEPT = 400_000  # about four passages each of 100,000 articles


class Tokenizer:
    """jieba search-mode tokens over normalised text, with a user dictionary."""

    def __init__(self, user_dict: str | Path | None = None) -> None:
        jieba.setLogLevel(logging.WARNING)
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()
        self._passage_words: dict[str, list[str]] = {}
        self.user_dict = Path(user_dict) if user_dict else None
        if self.user_dict and self.user_dict.is_file():
            self._jieba.load_userdict(str(self.user_dict))
            # load_userdict lower-cases nothing; our text is lower-cased, so add lower forms too.
            for line in self.user_dict.read_text("utf-8").splitlines():
                word = line.split(" ")[0].strip()
                if word and word.lower() != word:
                    self._jieba.add_word(word.lower())

    def frequencies(self) -> dict[str, int]:
        """jieba's word frequencies (its dictionary and ours): common words for pinyin readings."""
        return self._jieba.FREQ

    def words(self, text: str, normalised: bool = False) -> list[str]:
        """The text as a sequence of words (jieba's precise cut, no overlaps), stop words kept:
        what is read aloud, for the pinyin field and for phrases (engine.pinyin)."""
        if not normalised:
            text = normalise(text)
        return [t for t in self._jieba.cut(text, HMM=False) if _WORD_RE.search(t)]

    def words_of_passage(self, text: str) -> list[str]:
        """:meth:`words` of normalised passage text, remembered: each build cuts every title and
        question again for pinyin phrases, and a preview builds on every save."""
        hit = self._passage_words.get(text)
        if hit is None:
            if len(self._passage_words) > PASSAGE_WORDS_KEPT:
                self._passage_words.clear()
            hit = self._passage_words[text] = self.words(text, normalised=True)
        return hit

    def tokens(self, text: str, normalised: bool = False) -> list[str]:
        """Keyword tokens: search-mode jieba cut; punctuation, spaces and stop words dropped."""
        if not normalised:
            text = normalise(text)
        return [t for t in self._jieba.cut_for_search(text) if _WORD_RE.search(t) and t not in STOPWORDS]
