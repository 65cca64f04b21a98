"""build_index(settings): articles -> passages -> tokens + vectors -> published index.

One linear function of named stages. Nothing is published unless every stage
succeeded and the written build loads and verifies; until then the live index
keeps serving. Vectors of passages whose text did not change are copied from
the live build, so editing one article re-embeds only that article's changed
passages.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..config import Settings
from . import demotion, pinyin
from .keywords import KEYWORD_CACHE, keyword_fingerprints, keyword_index, pinyin_vocab, previous_counts
from .assets import Image, article_images, copy_assets
from .content import Article, Collection, ParseCache, Problem, load_articles
from .embed import Embedder, embedder_for, identity_for
from .index import (
    BUILDS,
    PINYIN_FIELD,
    FORMAT_VERSION,
    IndexError_,
    LoadedIndex,
    ann_for,
    current_target,
    grow_ann,
    load_build,
    load_current,
    prune_builds,
    publish,
    resolved_ann_kind,
    stored_vectors,
    vectors_of,
    write_build,
)
from .passages import PASSAGE_RULES_VERSION, Passage, article_passages, learned_passages
from .related import related_again, related_articles
from .render import render_article
from .text import char_ngrams, dictionary_fingerprint, get_tokenizer, normalise
from .translations import article_versions, category_versions
from ..locales import Locales

# Which e5 prompt each passage kind is embedded with: titles and alternate
# questions are question-like, so they match queries symmetrically.
# "learned": a visitor's query that search learned belongs to the article (insights.learning).
ROLE_FOR_KIND = {"title": "query", "question": "query", "section": "passage", "learned": "query"}
RENDER_VERSION = 2  # bump when render_article changes, so cached HTML is redone


class BuildError(RuntimeError):
    """The build cannot publish; the live index is untouched."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


@dataclass
class BuildReport:
    build_id: str
    path: Path
    articles: int
    passages: int
    embedded: int
    reused: int
    changed_articles: list[str]
    removed_articles: list[str]
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)
    up_to_date: bool = False  # nothing changed: the live build was kept, nothing published


@dataclass
class BuildCache:
    """What a long-lived builder (``helpcenter preview``) keeps between builds: parsed files
    (re-read when their mtime or size changes), each article's passages (made again when its
    file was parsed again) and normalised passage text (by passage key: key = text)."""

    files: ParseCache = field(default_factory=dict)
    passages: dict[str, tuple[Article, list[Passage]]] = field(default_factory=dict)
    normalised: dict[str, str] = field(default_factory=dict)
    live: LoadedIndex | None = None  # the build it made last: in memory, never read back from disk
    # An article's page as the last build made it, while its file, its translations and the
    # glossaries are the same objects: (key objects, article JSON without related/changed, images).
    rendered: dict[str, tuple[tuple[Any, ...], dict[str, Any], dict[str, Image]]] = field(default_factory=dict)

    def forget_rendered(self) -> None:
        """An image (or another file pages are made from) changed: make every page again."""
        self.rendered.clear()

    def passages_of(self, article: Article) -> list[Passage]:
        hit = self.passages.get(article.path)
        if hit is None or hit[0] is not article:
            hit = self.passages[article.path] = (article, article_passages(article))
        return hit[1]


def _own(translations: dict[str, Article], drafts: bool) -> dict[str, Article]:
    """A preview shows draft translations as well (their source page says 草稿 when it is one)."""
    return {t: replace(a, draft=False) for t, a in translations.items()} if drafts else translations


def _article_hash(article_json: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(article_json, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def stage(self, name: str) -> "_Timer":
        self._name, self._t0 = name, time.perf_counter()
        return self

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self.seconds[self._name] = round(time.perf_counter() - self._t0, 3)


def _load_live(index_dir: Path) -> LoadedIndex | None:
    """The live build, or None if there is none or it is unreadable (then build from scratch)."""
    try:
        return load_current(index_dir)
    except IndexError_:
        return None


def _previous_vectors(live: LoadedIndex | None, index_dir: Path, model: str) -> dict[str, np.ndarray]:
    """Stored vectors of the live build, by passage key, if it used the same model.

    Taken from the already loaded live build; only a build this version cannot load
    (an older format) is read again, for its vectors alone.
    """
    if live is not None:
        stored: tuple[str, list[dict[str, Any]], np.ndarray] | None = (
            live.model, live.passages, live.row_vectors(np.arange(len(live.passages))))
    else:
        target = current_target(index_dir)
        stored = stored_vectors(target) if target else None
    if stored is None or stored[0] != model:
        return {}
    _model, passages, vectors = stored
    return {p["key"]: vectors[i] for i, p in enumerate(passages)}


def build_index(settings: Settings, embedder: Embedder | None = None,
                log: Callable[[str], None] = lambda _m: None, progress: bool = False,
                learned: Sequence[tuple[str, str]] | None = None,
                demoted: Sequence[tuple[str, str, float]] | None = None, questions: bool = True,
                drafts: bool = False, cache: BuildCache | None = None) -> BuildReport:
    """Build and publish the index. ``learned``: (article id, query) pairs that visitors and
    agents taught (helpcenter.insights.learning, read by the caller: the engine never touches
    the database); each becomes a passage of its article, so paraphrases find it too.
    ``demoted``: (article id, query, strength) pairs the article keeps failing; stored with
    the queries' vectors so search ranks it lower for them and their paraphrases
    (helpcenter.engine.demotion). ``questions=False`` leaves the writers' questions out, so
    searching one tells whether the article itself answers it (``check --search``).
    ``drafts=True`` publishes drafts too, marked, and ``cache`` keeps parsed files between
    builds: both for ``helpcenter preview`` (helpcenter.engine.preview)."""
    index_dir = Path(settings.index_dir)
    (index_dir / BUILDS).mkdir(parents=True, exist_ok=True)
    timer = _Timer()
    lock = open(index_dir / ".build.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise BuildError(f"another build is running on {index_dir}; try again when it has finished") from None
    tmp: Path | None = None
    try:
        with timer.stage("load"):
            tags = Locales.parse(settings.locales).tags
            collection: Collection = load_articles(settings.articles_dir, tags,
                                                   int(settings.max_image_mb * 1024 * 1024),
                                                   cache.files if cache else None)
        if collection.errors:
            raise BuildError(
                f"{len(collection.errors)} error(s) in {settings.articles_dir}; nothing was published "
                "(run `helpcenter check` for details)",
                collection.errors,
            )
        published = [a for a in collection.articles.values() if drafts or not a.draft]
        if not published:
            raise BuildError(f"no published articles in {settings.articles_dir}; nothing was published")
        published.sort(key=lambda a: (collection.categories[a.category].order, a.category, a.order, a.id))

        with timer.stage("passages"):
            # A writer's translation is more passages of its article: an English query matches English text.
            translated = collection.translations
            passages: list[Passage] = [
                p for a in published
                for version in (a, *(t for t in translated.get(a.id, {}).values() if drafts or not t.draft))
                for p in (cache.passages_of(version) if cache else article_passages(version))
                if questions or p.kind != "question"]
            passages += learned_passages(learned or (), {a.id for a in published}, passages)
            demoted_entries = demotion.normalised_entries(demoted or (), {a.id for a in published})

        live = cache.live if cache and cache.live and cache.live.path == current_target(index_dir) else None
        live = live or _load_live(index_dir)
        with timer.stage("render"):
            # Unchanged bodies keep the HTML the live build rendered for them.
            old_articles = live.articles if live is not None else {}
            articles_json: dict[str, dict[str, object]] = {}
            root = Path(settings.articles_dir)
            published_images: dict[str, Image] = {}

            def images_of(art: Article) -> dict[str, Image]:
                found = article_images(art.body, root.parent / art.path, root)
                published_images.update({img.name: img for img in found.values()})
                return found

            glossaries_key = json.dumps(collection.glossaries, sort_keys=True, ensure_ascii=False)
            for a in published:
                own = _own(translated.get(a.id, {}), drafts)
                # A preview keeps each page while nothing it is made from changed (the same parsed
                # objects): a save then renders and hashes one article, not ten thousand.
                same = (a, tuple(sorted(own.items(), key=lambda kv: kv[0])), glossaries_key)
                kept = cache.rendered.get(a.id) if cache is not None else None
                if kept is not None and len(kept[0]) == len(same) and all(x is y or x == y
                                                                          for x, y in zip(kept[0], same)):
                    articles_json[a.id] = dict(kept[1])
                    published_images.update({img.name: img for img in kept[2].values()})
                    continue
                images = images_of(a)
                shown = sorted((src, img.url, img.width, img.height) for src, img in images.items())
                source = hashlib.sha256(f"{RENDER_VERSION}\x00{a.id}\x00{a.body}\x00{shown}".encode()).hexdigest()[:16]
                old = old_articles.get(a.id, {})
                if old.get("source") == source:
                    html, toc = old["html"], old["toc"]
                else:
                    rendered = render_article(a.body, a.id, images=images)
                    html, toc = rendered.html, rendered.toc
                articles_json[a.id] = {
                    "id": a.id, "category": a.category, "title": a.title, "summary": a.summary,
                    "questions": a.questions, "tags": a.tags, "order": a.order, "updated": a.updated,
                    "html": html, "toc": toc, "path": a.path, "source": source,
                    "locales": article_versions(a, own, tags, collection.glossaries, html,
                                                old.get("locales", {}), RENDER_VERSION, images_of),
                }
                if a.draft:  # only in a preview (drafts=True): the page says 草稿
                    articles_json[a.id]["draft"] = True
                articles_json[a.id]["hash"] = _article_hash(articles_json[a.id])
                if cache is not None:
                    cache.rendered[a.id] = (same, dict(articles_json[a.id]), dict(images))
            in_category: dict[str, list[str]] = {}
            for a in published:
                in_category.setdefault(a.category, []).append(a.id)
            categories_json = {
                c.id: {"id": c.id, "name": c.name, "description": c.description, "order": c.order,
                       "articles": in_category[c.id],
                       "icon": c.icon,
                       "locales": category_versions(c.name, c.description, c.locales, tags, collection.glossaries)}
                for c in sorted(collection.categories.values(), key=lambda c: (c.order, c.id))
                if c.id in in_category
            }

        user_dict = Path(settings.user_dict) if settings.user_dict else None
        model_name = embedder.name if embedder else identity_for(settings)
        fingerprint = hashlib.sha256(json.dumps(
            [FORMAT_VERSION, PASSAGE_RULES_VERSION, model_name, settings.ann, ROLE_FOR_KIND, tags, questions,
             collection.glossaries,
             dictionary_fingerprint(user_dict),
             {a_id: a["hash"] for a_id, a in articles_json.items()}, categories_json,
             sorted((p.article_id, p.text) for p in passages if p.kind == "learned"), demoted_entries],
            sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
        if live is not None and live.manifest.get("fingerprint") == fingerprint:
            # Nothing that goes into the index changed: keep the live build as it is.
            prune_builds(index_dir, settings.keep_builds)
            return BuildReport(build_id=live.build_id, path=live.path, articles=len(published),
                               passages=len(live.passages), embedded=0, reused=len(live.passages),
                               changed_articles=[], removed_articles=[], seconds=timer.seconds,
                               warnings=collection.warnings, up_to_date=True)

        with timer.stage("tokenise"):
            dict_fp = dictionary_fingerprint(user_dict)
            made_with = keyword_fingerprints(dict_fp)
            earlier = previous_counts(live, made_with)
            previous_rows = {p["key"]: i for i, p in enumerate(live.passages)} if live else {}
            normalised: dict[str, str] = cache.normalised if cache else {}
            jieba: list[Any] = []  # its dictionary takes a second to load: only if a passage needs it

            def norm(p: Passage) -> str:
                if p.key not in normalised:
                    normalised[p.key] = normalise(p.text)
                return normalised[p.key]

            def words(p: Passage) -> list[str]:
                if not jieba:
                    jieba.append(get_tokenizer(user_dict))
                return jieba[0].tokens(norm(p), normalised=True)

            def sounds(p: Passage) -> list[str]:
                if not jieba:
                    jieba.append(get_tokenizer(user_dict))
                return pinyin.text_terms(jieba[0].words(norm(p), normalised=True))

            cutters: dict[str, Callable[[Passage], list[str]]] = {
                "jieba": words,
                "chars": lambda p: char_ngrams(norm(p), normalised=True),
                PINYIN_FIELD: sounds,
            }
            keyword = {name: keyword_index(passages, cut, earlier.get(name), previous_rows)
                       for name, cut in cutters.items()}

        with timer.stage("pinyin"):
            if not jieba:
                jieba.append(get_tokenizer(user_dict))
            vocab = pinyin_vocab(passages, keyword["jieba"], jieba[0], norm)

        with timer.stage("embed"):
            # The model is loaded only if something needs embedding.
            # Unchanged passages take the live build's vectors in one gather (a loop over 50,000
            # rows cost a preview's save a third of a second).
            same_model = live is not None and live.model == model_name
            previous = {} if same_model else _previous_vectors(live, index_dir, model_name)
            source = np.fromiter((previous_rows.get(p.key, -1) if same_model else -1 for p in passages),
                                 dtype=np.int64, count=len(passages))
            todo: dict[str, list[int]] = {}
            for i, p in enumerate(passages):
                if source[i] < 0 and p.key not in previous:
                    todo.setdefault(ROLE_FOR_KIND[p.kind], []).append(i)
            known = demotion.previous_vectors(live.path, live.manifest) if live and live.model == model_name else {}
            fresh = sorted({e["query"] for e in demoted_entries} - set(known))
            if todo or fresh:
                embedder = embedder or embedder_for(settings)
                dim = embedder.dim
            else:
                dim = live.vectors.shape[1] if same_model else next(iter(previous.values())).shape[0]  # type: ignore[union-attr]
            vectors = np.zeros((len(passages), dim), dtype=np.float32)
            reused = source >= 0
            if reused.any():
                vectors[reused] = live.row_vectors(source[reused])  # type: ignore[union-attr]
            for i, p in enumerate(passages):
                if p.key in previous:
                    vectors[i] = previous[p.key]
            embedded = sum(len(rows) for rows in todo.values())
            log(f"passages: {len(passages)} ({embedded} to embed, {len(passages) - embedded} reused)")
            for role, rows in todo.items():
                assert embedder is not None
                vectors[rows] = embedder.encode([passages[i].text for i in rows], role,
                                                batch_size=settings.embed_batch_size, progress=progress)
            if fresh:
                assert embedder is not None
                known.update(zip(fresh, embedder.encode(fresh, "query", batch_size=settings.embed_batch_size)))
            demoted_vectors = np.array([known[e["query"]] for e in demoted_entries], dtype=np.float32)
            if not np.isfinite(vectors).all() or not np.isfinite(demoted_vectors).all():
                raise BuildError("the embedding model returned non-finite vectors; nothing was published")

        # A preview builds on its last build in memory (demotions are never part of one).
        in_memory = cache is not None and live is not None and live.model == model_name and not demoted_entries
        with timer.stage("write"):
            owners = [p.article_id for p in passages]
            if cache is not None and live is not None:  # a preview: only what changed is compared again
                related = related_again(vectors, owners, [a.id for a in published], articles_json, live)
            else:
                related = related_articles(vectors, owners, [a.id for a in published])
            for a_id, rel in related.items():
                articles_json[a_id]["related"] = rel
            old_hashes: dict[str, str] = live.manifest.get("articles", {}) if live else {}
            new_hashes = {a_id: str(a["hash"]) for a_id, a in articles_json.items()}
            now = dt.datetime.now(dt.timezone.utc)
            for a_id, a_json in articles_json.items():  # when the page last changed: Last-Modified
                before = live.articles.get(a_id, {}) if live else {}
                same = before.get("hash") == a_json["hash"] and before.get("changed")
                a_json["changed"] = before["changed"] if same else now.isoformat(timespec="seconds")
            build_id = now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + hashlib.sha256(
                json.dumps(new_hashes, sort_keys=True).encode()).hexdigest()[:8]
            manifest = {
                "format_version": FORMAT_VERSION,
                "build_id": build_id,
                "fingerprint": fingerprint,
                "created": now.isoformat(timespec="seconds"),
                "model": model_name,
                "dim": dim,
                "ann": settings.ann,
                "roles": ROLE_FOR_KIND,
                "dictionary": dictionary_fingerprint(user_dict),
                "counts": {"articles": len(published), "passages": len(passages),
                           "categories": len(categories_json),
                           "learned": sum(p.kind == "learned" for p in passages),
                           "demoted": len(demoted_entries),
                           "translations": sum(a["locales"].get(t, {}).get("kind") == "translated"
                                               for a in articles_json.values() for t in tags[1:])},
                "articles": new_hashes,
                "demoted": demoted_entries,
                "locales": list(tags),
                "glossaries": collection.glossaries,  # search converts snippets for zh-Hant readers
            }
            passages_json = [
                {"article": p.article_id, "kind": p.kind, "heading": p.heading, "anchor": p.anchor,
                 "text": p.text, "key": p.key, "locale": p.locale or tags[0]}
                for p in passages
            ]
            images = sorted(published_images.values(), key=lambda i: i.name)
            if in_memory:
                assert live is not None
                # A preview's build is served from memory and never read back: writing and
                # verifying 300 MB on every save took most of a save's time at 10,000 articles.
                # It searches exactly (one product over the vectors): growing a graph cost more.
                ann, slot_rows = ann_for(vectors, "flat")
                made = LoadedIndex(live.path, manifest, ann, vectors_of(ann), keyword, passages_json, articles_json,
                                   categories_json, slot_rows, pinyin=vocab, keyword_made_with=made_with)
                copy_assets(images, live.path)  # content-hashed names: new ones sit beside the old
                cache.live = made  # type: ignore[union-attr]
                final = live.path
            else:
                grown = None
                if (live is not None and live.model == model_name
                        and resolved_ann_kind(settings.ann, len(passages)) == "hnsw"):
                    grown = grow_ann(live, vectors, [p.key for p in passages])
                tmp = index_dir / BUILDS / f".tmp-{build_id}"
                write_build(tmp, manifest, vectors, settings.ann, keyword, passages_json, articles_json,
                            categories_json, user_dict, grown, pinyin=vocab, demoted=demoted_vectors)
                # The term counts beside the keyword index are a cache for the next build, not
                # part of the index: never checksummed, never required.
                (tmp / KEYWORD_CACHE).write_text(json.dumps(made_with), "utf-8")
                copy_assets(images, tmp)

        if not in_memory:
            with timer.stage("verify"):
                verified = load_build(tmp)  # the build must load cleanly before anyone can see it
                final = index_dir / BUILDS / build_id
                os.rename(tmp, final)
                verified.path = final.resolve()
                tmp = None

            with timer.stage("publish"):
                publish(index_dir, final)
                prune_builds(index_dir, settings.keep_builds)
                if cache is not None:
                    cache.live = verified

        return BuildReport(
            build_id=build_id, path=final, articles=len(published), passages=len(passages),
            embedded=embedded, reused=len(passages) - embedded,
            changed_articles=sorted(a for a, h in new_hashes.items() if old_hashes.get(a) != h),
            removed_articles=sorted(set(old_hashes) - set(new_hashes)),
            seconds=timer.seconds, warnings=collection.warnings,
        )
    except OSError as exc:
        raise BuildError(f"could not write the index in {index_dir}: {exc}; the live index is unchanged") from exc
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


def live_build_id(index_dir: Path) -> str | None:
    target = current_target(index_dir)
    return target.name if target else None
