"""Each article in each locale: the writer's translation, a converted 繁體 page, or none.

A 繁體 reader should not wait for a translator: where no ``slug.zh-Hant.md``
exists, the page is converted from the 简体 source at build time with OpenCC's
``s2twp`` (phrases, not only characters: 软件 → 軟體, 视频 → 影片), and a writer
can fix single terms in ``_glossary.zh-Hant.yml``. Other languages need a
writer's translation; without one the reader gets the source, marked, never
nothing. Translations record the version of the source they translate
(``source:``), so ``helpcenter check`` can say which have gone stale.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping

from ..locales import CONVERTIBLE
from .frontmatter import read_fields
from .model import Article
from .problems import Problem, problem

GLOSSARY_FILE = "_glossary.{locale}.yml"
CATEGORY_TRANSLATION = "_category.{locale}.yml"
# Private-use characters hold glossary terms while OpenCC converts around them.
_PLACEHOLDER = 0xE000



def source_hash(article: Article) -> str:
    """The version of a source article a translation says it translates: what readers see."""
    text = "\x00".join([article.title, article.summary, *article.questions, article.body.strip()])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def attach_translations(translated: list[Article], articles: Mapping[str, Article],
                        locales: tuple[str, ...] | None, problems: list[Problem]) -> dict[str, dict[str, Article]]:
    """The writers' translations by article and locale, with what is wrong with them reported."""
    out: dict[str, dict[str, Article]] = {}
    for t in translated:
        source = articles.get(t.id)
        if source is None:
            problems.append(problem(t.path, 1, "orphan_translation", id=t.id, source=f"{t.id}.md"))
            continue
        if locales is not None and (t.locale not in locales or t.locale == locales[0]):
            problems.append(problem(t.path, 1, "unknown_locale", locale=t.locale, known=", ".join(locales[1:])))
            continue
        now = source_hash(source)
        if not t.source:
            problems.append(problem(t.path, 1, "translation_unversioned", "source", hash=now))
        elif t.source != now:
            problems.append(problem(t.path, t.source_line, "stale_translation", "source", old=t.source, hash=now))
        out.setdefault(t.id, {})[t.locale] = t
    return out


def category_translations(folder: Path, root: Path, problems: list[Problem]) -> dict[str, dict[str, str]]:
    """``_category.en.yml`` beside ``_category.yml``: a category's name in another locale."""
    out: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob(CATEGORY_TRANSLATION.format(locale="*"))):
        tag = path.name[len("_category."):-len(".yml")]
        rel = str(path.relative_to(root.parent)) if path.is_relative_to(root.parent) else str(path)
        parsed = read_fields(path.read_text("utf-8-sig"), 1, rel, {"name", "description"}, problems)
        if parsed is None:
            continue
        meta, _lines = parsed
        out[tag] = {k: str(meta[k]).strip() for k in ("name", "description") if isinstance(meta.get(k), str)}
    return out


def load_glossaries(root: Path, problems: list[Problem]) -> dict[str, dict[str, str]]:
    """``_glossary.zh-Hant.yml``: terms the converter must write the writers' way (简体: 繁體)."""
    out: dict[str, dict[str, str]] = {}
    for tag in CONVERTIBLE:
        path = root / GLOSSARY_FILE.format(locale=tag)
        if not path.is_file():
            continue
        rel = str(path.relative_to(root.parent)) if path.is_relative_to(root.parent) else str(path)
        meta, lines, terms = _glossary_fields(path, rel, problems)
        for key, value in meta.items():
            if not isinstance(value, str) or not value.strip():
                problems.append(problem(rel, lines.get(key, 1), "not_text", str(key), value=value))
            else:
                terms[str(key)] = value.strip()
        out[tag] = terms
    return out


def _glossary_fields(path: Path, rel: str, problems: list[Problem]) -> tuple[dict[str, Any], dict[str, int],
                                                                             dict[str, str]]:
    import yaml

    text = path.read_text("utf-8-sig")
    try:
        meta = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problems.append(problem(rel, (mark.line + 1) if mark else 1, "yaml_syntax", detail=str(exc).split("\n")[0]))
        return {}, {}, {}
    if not isinstance(meta, dict):
        problems.append(problem(rel, 1, "not_mapping", fields="简体: 繁體"))
        return {}, {}, {}
    lines = {}
    for i, line in enumerate(text.splitlines(), 1):
        key = line.split(":", 1)[0].strip().strip("'\"")
        if key in meta and key not in lines:
            lines[key] = i
    return meta, lines, {}


class Converter:
    """简体 → another script (OpenCC), with the glossary's terms kept as the writers want them."""

    def __init__(self, config: str, glossary: Mapping[str, str] | None = None) -> None:
        import opencc

        self._cc = opencc.OpenCC(config)
        self._terms = sorted((glossary or {}).items(), key=lambda kv: -len(kv[0]))

    def __call__(self, text: str) -> str:
        if not text:
            return text
        held: list[str] = []
        for source, target in self._terms:
            if source in text:
                text = text.replace(source, chr(_PLACEHOLDER + len(held)))
                held.append(target)
        text = self._cc.convert(text)
        for i, target in enumerate(held):
            text = text.replace(chr(_PLACEHOLDER + i), target)
        return text


@lru_cache(maxsize=8)
def _converter(tag: str, glossary: tuple[tuple[str, str], ...]) -> Converter:
    return Converter(CONVERTIBLE[tag], dict(glossary))


def converter_for(tag: str, glossary: Mapping[str, str] | None = None) -> Converter | None:
    """The converter into ``tag``, or None where the locale needs a writer's translation."""
    if tag not in CONVERTIBLE:
        return None
    return _converter(tag, tuple(sorted((glossary or {}).items())))


def category_view(category: Mapping[str, Any], tag: str, default: str) -> dict[str, Any]:
    """A category as a reader of ``tag`` sees it."""
    if tag == default:
        return dict(category)
    return {**category, **category.get("locales", {}).get(tag, {})}


def article_view(article: Mapping[str, Any], tag: str, default: str) -> dict[str, Any]:
    """An article as a reader of ``tag`` sees it: its version in that locale, or the source
    marked ``untranslated`` (with ``shown_locale`` the locale of the text shown)."""
    version = article.get("locales", {}).get(tag) if tag != default else None
    if version is None:
        return {**article, "shown_locale": default, "untranslated": tag != default}
    return {**article, **version, "shown_locale": tag, "untranslated": False}


def _shown(images: Mapping[str, Any]) -> list[tuple[str, str, int, int]]:
    return sorted((src, img.url, img.width, img.height) for src, img in images.items())


def _render_key(*parts: object) -> str:
    import json

    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]


def article_versions(article: Article, own: Mapping[str, Article], tags: tuple[str, ...],
                     glossaries: Mapping[str, Mapping[str, str]], source_html: str,
                     old: Mapping[str, Any], render_version: int,
                     images_of: Callable[[Article], Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The article in every locale but the default (``tags[0]``): the writer's translation,
    else a conversion, else nothing (the site then shows the source, marked). Versions whose
    input did not change are taken from ``old`` (the live build's), not rendered again.
    ``images_of``: an article's published images (helpcenter.engine.assets), by src."""
    from ..locales import Locales
    from .links import heading_ids
    from .render import render_article

    locales = Locales(tags)
    out: dict[str, dict[str, Any]] = {}
    for tag in tags[1:]:
        prefix = f"{locales.prefix(tag)}/articles/"
        t = own.get(tag)
        if t is not None and not t.draft:
            images = images_of(t)
            key = _render_key(render_version, "translated", prefix, article.id, t.title, t.summary, t.questions,
                              t.body, t.updated, t.path, t.source == source_hash(article), _shown(images))
            if old.get(tag, {}).get("render_key") == key:
                out[tag] = dict(old[tag])
                continue
            r = render_article(t.body, article.id, prefix, images)
            out[tag] = {"title": t.title, "summary": t.summary, "questions": t.questions, "html": r.html,
                        "toc": r.toc, "kind": "translated", "path": t.path, "updated": t.updated or article.updated,
                        "stale": t.source != source_hash(article), "render_key": key}
            continue
        glossary = dict(glossaries.get(tag, {}))
        convert = converter_for(tag, glossary)
        if convert is None:
            continue
        # Converting the body converts Chinese file names in it too: the images keep their files.
        images = {convert(src): img for src, img in images_of(article).items()}
        key = _render_key(render_version, "converted", prefix, article.id, article.title, article.summary,
                          article.questions, article.body, glossary, _shown(images))
        if old.get(tag, {}).get("render_key") == key:
            out[tag] = dict(old[tag])
            continue
        r = render_article(convert(article.body), article.id, prefix, images)
        # Section anchors of the converted page, by the source's: search results link to sections.
        anchors = {a: b for a, b in zip(heading_ids(source_html), heading_ids(r.html)) if a != b}
        out[tag] = {"title": convert(article.title), "summary": convert(article.summary),
                    "questions": [convert(q) for q in article.questions], "html": r.html, "toc": r.toc,
                    "kind": "converted", "anchors": anchors, "render_key": key}
    return out


def category_versions(name: str, description: str, own: Mapping[str, Mapping[str, str]], tags: tuple[str, ...],
                      glossaries: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """A category's name and description in each other locale: the writer's, else converted."""
    out: dict[str, dict[str, str]] = {}
    for tag in tags[1:]:
        convert = converter_for(tag, glossaries.get(tag))
        version = {"name": convert(name), "description": convert(description)} if convert else {}
        version.update(own.get(tag, {}))
        if version:
            out[tag] = version
    return out
