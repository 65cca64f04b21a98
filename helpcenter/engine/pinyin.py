"""Pinyin: queries typed without an IME, and homophone typos in Chinese.

People type ``chongzhi mima`` when no Chinese input method is at hand, and 冲值 for 充值 when
the IME offers the wrong character. Both are the same sound as our text, so both are matched
through sound:

- **A pinyin keyword field.** Every passage is also indexed as toneless syllables (unigrams
  and bigrams, words kept whole through jieba and our user dictionary), and so is every query:
  a pinyin query directly, a Chinese one through its characters. 冲值 and 充值 are both
  ``chong zhi``.
- **Pinyin → Chinese for the dense side.** The encoder reads Chinese, not pinyin. A query
  detected as pinyin (:func:`is_pinyin`) is rewritten (:meth:`PinyinVocab.rewrite`) into the
  likeliest Chinese from our own corpus vocabulary first, then jieba's dictionary, and that
  is embedded and shown ("按 重置密码 搜索").
- **Homophone correction.** A Chinese query word our corpus never uses, with a corpus word
  of the same sound (:meth:`PinyinVocab.correct`), gives "您是不是要找：客服邮箱".

Polyphones are read per word (phrase-level pinyin): 重置 is ``chong zhi``; pypinyin's phrase
table misses some customer-service words, so :data:`PHRASES` adds them.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any, Iterable, Sequence

from pypinyin import Style, lazy_pinyin, load_phrases_dict, pinyin_dict
from pypinyin.style import convert

RULES_VERSION = 1  # bump when the pinyin field's terms change: the next build recounts them

# Readings pypinyin gets wrong in our domain (checked in tests/test_pinyin.py).
PHRASES = {
    "重置": "chóng zhì", "重设": "chóng shè", "重装": "chóng zhuāng", "重启": "chóng qǐ", "重发": "chóng fā",
    "重试": "chóng shì", "重登": "chóng dēng", "重绑": "chóng bǎng", "重开": "chóng kāi", "重复": "chóng fù",
    "还款": "huán kuǎn", "还钱": "huán qián", "归还": "guī huán", "退还": "tuì huán", "还原": "huán yuán",
    "转账": "zhuǎn zhàng", "转人工": "zhuǎn rén gōng", "调取": "diào qǔ", "单号": "dān hào", "订单号": "dìng dān hào",
    "长按": "cháng àn", "扣款": "kòu kuǎn", "处理": "chǔ lǐ", "发货": "fā huò", "快递": "kuài dì",
}
load_phrases_dict({w: [[s] for s in p.split()] for w, p in PHRASES.items()})

TONE_RE = re.compile(r"(?<=[a-z])[1-5]")
LATIN_RE = re.compile(r"^[a-z1-5' ]+$")
HAN_RE = re.compile(r"[\u4e00-\u9fff]")
# English words that happen to split into pinyin syllables; typed alone they mean English.
ENGLISH = frozenset("""
line long hang man pan ban bin fan gen die den tie ten shen change chance hen pin sun tan wan
bang gang ming ping dang lang nan ran sang zen mine lie pie tune dune
""".split())
JIEBA_WORDS = 20000  # jieba's most frequent words (2–4 characters) beside our own vocabulary
MAX_SYLLABLES_PER_WORD = 4
WORD_COST = 1.5  # above any one character's weight: a reading in single characters always loses


@lru_cache(maxsize=1)
def syllables() -> frozenset[str]:
    """Every toneless pinyin syllable (about 420), from pypinyin's character table."""
    out = set()
    for readings in pinyin_dict.pinyin_dict.values():
        for reading in readings.split(","):
            out.add(convert(reading, Style.NORMAL, strict=True))
    out.discard("")
    return frozenset(s for s in out if s.isascii() and s.isalpha())


def _split(chunk: str) -> list[str] | None:
    """``chunk`` cut into valid syllables, preferring fewer (longer) ones; None if it cannot be."""
    valid = syllables()
    best: list[list[str] | None] = [None] * (len(chunk) + 1)
    best[0] = []
    for i in range(len(chunk)):
        if best[i] is None:
            continue
        for j in range(min(len(chunk), i + 6), i, -1):
            if chunk[i:j] in valid and (best[j] is None or len(best[i]) + 1 < len(best[j])):  # type: ignore[arg-type]
                best[j] = best[i] + [chunk[i:j]]  # type: ignore[operator]
    return best[len(chunk)]


def is_pinyin(text: str) -> bool:
    """Latin letters (with optional spaces, apostrophes and tone digits) that split fully into
    valid syllables: ``chongzhi``, ``lian xi ke fu``, ``mi4ma3``; not ``refund``, ``app``, or a
    single English word such as ``line``."""
    text = text.strip().lower()
    if not text or not LATIN_RE.match(text):
        return False
    toned = bool(TONE_RE.search(text))
    chunks = [c for c in re.split(r"[ ']+", TONE_RE.sub(" ", text)) if c]
    if not chunks or any(not c.isalpha() for c in chunks):
        return False
    parts = [_split(c) for c in chunks]
    if any(p is None for p in parts):
        return False
    count = sum(len(p) for p in parts)  # type: ignore[arg-type]
    if toned:
        return True
    if len(chunks) == 1 and chunks[0] in ENGLISH:
        return False
    return count >= 2


def reading(word: str) -> list[str]:
    """Toneless syllables of a Chinese word, read as a phrase (polyphones by context)."""
    return list(_reading(word))


@lru_cache(maxsize=1 << 18)
def _reading(word: str) -> tuple[str, ...]:
    # Remembered: every build reads the whole vocabulary again (a preview rebuilds on each save).
    return tuple(s for s in lazy_pinyin(word, errors="ignore") if s.isascii() and s.isalpha())


def terms(syllable_seq: Sequence[str], unigrams: bool = True) -> list[str]:
    """Keyword terms of a syllable sequence: each syllable, and each pair as ``a_b``. A Chinese
    query asks for the pairs only: one syllable is shared by dozens of characters (晴 and 请
    are both ``qing``), so alone it matches nearly anything."""
    seq = list(syllable_seq)
    return (seq if unigrams else []) + [f"{a}_{b}" for a, b in zip(seq, seq[1:])]


def text_terms(words: Iterable[str], unigrams: bool = True) -> list[str]:
    """The pinyin field of text already cut into words (pinyin words split into syllables);
    ``unigrams`` False for a Chinese query (see :func:`terms`)."""
    seq: list[str] = []
    for w in words:
        if HAN_RE.search(w):
            seq += reading(w)
        elif w.isascii() and w.isalpha() and is_pinyin(w):
            seq += _split(w) or []
    return terms(seq, unigrams)


_COMMON: dict[tuple[int, int], dict[str, dict[str, list[Any]]]] = {}


def _common_readings(freq: dict[str, int]) -> dict[str, dict[str, list[Any]]]:
    """Readings of jieba's most frequent words, weighted 0.3–0.8 a character (ours weigh
    1.0–1.5). Reading 26,000 words takes seconds: done once per process and dictionary (the
    tokenizer, and so its ``freq``, is shared per dictionary: engine.text.get_tokenizer)."""
    key = (id(freq), len(freq))
    if key not in _COMMON:
        common = sorted(((w, f) for w, f in freq.items()
                         if f > 0 and 1 <= len(w) <= 4 and all(HAN_RE.match(c) for c in w)), key=lambda x: -x[1])
        top = math.log1p(common[0][1]) if common else 1.0
        singles = [(w, f) for w, f in common if len(w) == 1][:6000]
        out: dict[str, dict[str, list[Any]]] = {}
        for w, f in [x for x in common if len(x[0]) > 1][:JIEBA_WORDS] + singles:
            sy = reading(w)
            if sy and len(sy) == len(w):
                out.setdefault("".join(sy), {})[w] = [w, " ".join(sy), round(0.3 + 0.5 * math.log1p(f) / top, 4)]
        _COMMON[key] = out
    return _COMMON[key]


class PinyinVocab:
    """Sound → words, from our corpus (its own words first) and jieba's dictionary; built at
    index time (:meth:`build`), stored in the index as JSON (:meth:`as_json`)."""

    def __init__(self, words: dict[str, list[Any]], corpus: set[str] | None = None) -> None:
        # "chongzhi" -> [[word, "chong zhi", weight], ...], best first
        self.words = words
        self.corpus = corpus if corpus is not None else {w for entries in words.values()
                                                         for w, _s, weight in entries if weight >= 1.0}

    @classmethod
    def build(cls, corpus_counts: dict[str, int], jieba_freq: dict[str, int] | None = None,
              phrases: dict[str, int] | None = None) -> "PinyinVocab":
        """``corpus_counts``: our passages' words and in how many passages each appears;
        ``phrases``: adjacent word pairs of our text (重置+密码), so context picks the reading
        (chongzhi mima is 重置密码 here, not 充值密码)."""
        entries: dict[str, dict[str, list[Any]]] = {}

        def add(word: str, weight: float) -> None:
            sy = reading(word)
            if not sy or len(sy) > MAX_SYLLABLES_PER_WORD or len(sy) != len(word):
                return
            bucket = entries.setdefault("".join(sy), {})
            if word not in bucket or bucket[word][2] < weight:
                bucket[word] = [word, " ".join(sy), round(weight, 4)]

        def han(word: str) -> bool:
            return bool(word) and all(HAN_RE.match(c) for c in word)

        # Weights per character: ours 1.0–1.5, jieba's 0.3–0.8, so our words always win a tie.
        for word, n in corpus_counts.items():
            if han(word):
                add(word, 1.0 + 0.1 * math.log1p(n))
        for word, n in (phrases or {}).items():
            if han(word) and len(word) <= MAX_SYLLABLES_PER_WORD:
                add(word, 1.05 + 0.1 * math.log1p(n))
        if jieba_freq:
            for key, bucket in _common_readings(jieba_freq).items():
                mine = entries.setdefault(key, {})
                for word, entry in bucket.items():
                    if word not in mine:
                        mine[word] = entry
        words = {k: sorted(v.values(), key=lambda e: -e[2]) for k, v in entries.items()}
        return cls(words, {w for w in corpus_counts if han(w)})

    def as_json(self) -> dict[str, Any]:
        return {"words": self.words, "corpus": sorted(self.corpus)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "PinyinVocab":
        return cls(data.get("words", {}), set(data.get("corpus", [])))

    def rewrite(self, text: str) -> tuple[str, list[str]] | None:
        """(likeliest Chinese, its syllables) for a pinyin query; None when no reading fits.
        A word may span a space ("lian xi") but a syllable may not."""
        text = TONE_RE.sub(" ", text.strip().lower())
        compact, cuts, pos = "", {0}, 0
        for chunk in (c for c in re.split(r"[ ']+", text) if c):
            compact += chunk
            pos += len(chunk)
            cuts.add(pos)
        n = len(compact)
        best: list[tuple[float, list[tuple[str, str]]] | None] = [None] * (n + 1)
        best[0] = (0.0, [])
        for i in range(n):
            if best[i] is None:
                continue
            for j in range(i + 1, min(n, i + 6 * MAX_SYLLABLES_PER_WORD) + 1):
                for word, sy, weight in self.words.get(compact[i:j], [])[:1]:
                    if not self._respects(cuts, i, sy):
                        continue
                    # Fewer, longer words and our own words win (each word costs WORD_COST).
                    score = best[i][0] + weight * len(word) - WORD_COST  # type: ignore[index]
                    if best[j] is None or score > best[j][0]:  # type: ignore[index]
                        best[j] = (score, best[i][1] + [(word, sy)])  # type: ignore[index]
        if best[n] is None:
            return None
        chosen = best[n][1]  # type: ignore[index]
        return "".join(w for w, _ in chosen), " ".join(sy for _, sy in chosen).split()

    @staticmethod
    def _respects(cuts: set[int], start: int, sy: str) -> bool:
        """The user's spaces fall on this word's syllable boundaries (a space never cuts a syllable)."""
        bounds, pos = {start}, start
        for s in sy.split():
            pos += len(s)
            bounds.add(pos)
        inside = {c for c in cuts if start < c < pos}
        return inside <= bounds

    def correct(self, text: str, words: Sequence[str] | None = None) -> str | None:
        """``text`` (normalised) with homophone typos fixed: a run of 2–3 Chinese characters our
        corpus never uses, sounding like a corpus word that differs in one character, becomes
        that word (客服油箱 → 客服邮箱, 冲值 → 充值); None if nothing changes. The caller
        searches both and keeps the better, so a wrong guess costs little. ``words``: the text cut
        into words (jieba); a correction then never splits a word that is spelt right (地址是
        stays, where 址是 alone would sound like 只是)."""
        cuts = _boundaries(text, words) if words is not None else None
        out, i, changed = [], 0, False
        while i < len(text):
            fixed = None
            for size in (3, 2):
                window = text[i:i + size]
                if len(window) < size or not all(HAN_RE.match(c) for c in window) or window in self.corpus:
                    continue
                if cuts is not None and (i not in cuts or i + size not in cuts):
                    continue
                sound = "".join(reading(window))
                fixed = next((e[0] for e in self.words.get(sound, []) if e[0] in self.corpus
                              and len(e[0]) == size and sum(a != b for a, b in zip(e[0], window)) == 1), None)
                if fixed:
                    break
            if fixed:
                out.append(fixed)
                i += len(fixed)
                changed = True
            else:
                out.append(text[i])
                i += 1
        return "".join(out) if changed else None


def _boundaries(text: str, words: Sequence[str]) -> set[int]:
    """Character offsets in ``text`` where one of ``words`` starts or ends."""
    cuts, pos = {0, len(text)}, 0
    for w in words:
        at = text.find(w, pos)
        if at < 0:
            continue
        cuts.update((at, at + len(w)))
        pos = at + len(w)
    return cuts
