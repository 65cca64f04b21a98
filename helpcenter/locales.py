"""Which locales the site serves, and how a locale tag is written where.

Shared by every wing: the engine builds a version of each article per locale,
support records the requester's locale, the web layer picks one per request.
A tag is BCP 47 as writers type it in file names (``zh-Hant``); URLs use it in
lower case (``/zh-hant/...``), gettext catalogs with an underscore (``zh_Hant``).
"""

from __future__ import annotations

import gettext
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

TAG_RE = re.compile(r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-[A-Z]{2})?$")
# The UI catalogs (scripts/i18n makes them): the web layer's Flask-Babel and support's e-mails read them.
TRANSLATIONS = Path(__file__).parent / "translations"
# Chinese scripts convert into each other (OpenCC); every other locale needs a translation.
CONVERTIBLE = {"zh-Hant": "s2twp"}
# Accept-Language regions that read Traditional Chinese.
HANT_REGIONS = {"tw", "hk", "mo"}


@dataclass(frozen=True)
class Locales:
    tags: tuple[str, ...]

    @property
    def default(self) -> str:
        return self.tags[0]

    @classmethod
    def parse(cls, text: str) -> "Locales":
        """``"zh-Hans,zh-Hant,en"``: the first is the default, served without a URL prefix."""
        tags = tuple(t.strip() for t in text.split(",") if t.strip())
        if not tags:
            raise ValueError("at least one locale is needed (e.g. zh-Hans)")
        for t in tags:
            if not TAG_RE.match(t):
                raise ValueError(f"{t!r} is not a locale tag like zh-Hans, zh-Hant or en")
        if len(set(t.lower() for t in tags)) != len(tags):
            raise ValueError(f"a locale is listed twice in {text!r}")
        return cls(tags)

    def from_prefix(self, segment: str) -> str | None:
        """The locale a URL's first path segment names, if any (``zh-hant`` → ``zh-Hant``)."""
        low = segment.lower()
        return next((t for t in self.tags if t.lower() == low), None)

    def prefix(self, tag: str) -> str:
        """URL prefix of a locale: none for the default, so its URLs stay as they always were."""
        return "" if tag == self.default else "/" + tag.lower()

    def negotiate(self, accepted: list[tuple[str, float]]) -> str:
        """The best served locale for an Accept-Language list ([(value, quality)], best first)."""
        for value, _q in accepted:
            tag = self.match(value)
            if tag:
                return tag
        return self.default

    def match(self, value: str) -> str | None:
        parts = value.replace("_", "-").lower().split("-")
        lang, rest = parts[0], parts[1:]
        if lang == "zh":
            hant = "hant" in rest or (bool(HANT_REGIONS & set(rest)) and "hans" not in rest)
            wanted = "zh-hant" if hant else "zh-hans"
            return next((t for t in self.tags if t.lower() == wanted), None) or next(
                (t for t in self.tags if t.lower().startswith("zh")), None)
        exact = "-".join(parts)
        return next((t for t in self.tags if t.lower() == exact), None) or next(
            (t for t in self.tags if t.lower().split("-")[0] == lang), None)


def is_chinese(tag: str) -> bool:
    return tag.lower().startswith("zh")


def gettext_name(tag: str) -> str:
    """The catalog folder name: ``zh-Hant`` → ``zh_Hant``."""
    return tag.replace("-", "_")


@lru_cache(maxsize=16)
def catalog(tag: str | None) -> gettext.NullTranslations:
    """The UI strings of ``tag`` outside a request (e-mails): msgids are the 简体 text, so the
    default locale, an unknown one, or None reads them as they are."""
    from babel.support import Translations

    if not tag:
        return gettext.NullTranslations()
    return Translations.load(str(TRANSLATIONS), [gettext_name(tag)])
