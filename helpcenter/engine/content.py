"""Articles and categories as writers commit them, and every way they can be wrong.

Loading never stops at the first mistake: it collects :class:`Problem` records
(file, line, field) so ``helpcenter check`` can tell a writer everything at
once, and the build can refuse to publish while errors remain. Their wording
lives in :mod:`.problems`, the YAML reading in :mod:`.frontmatter`, how a link is
read in :mod:`.links` (shared with the renderer, whose heading ids anchors are
checked against).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..icons import ICONS
from .assets import IMAGE_TYPES, image_problems, is_local_image
from .frontmatter import REPORTED, read_fields, shown, split_front_matter
from .links import body_links, classify, heading_ids, resolve_link
from .model import Article, Category, Collection
from .problems import Problem, problem
from .render import render_article
from .translations import attach_translations, category_translations, load_glossaries

__all__ = ["Article", "Category", "Collection", "Problem", "load_articles", "parse_article", "parse_category",
           "resolve_link", "split_front_matter"]

ARTICLE_FIELDS = {"title", "summary", "questions", "tags", "order", "draft", "updated"}
# A translation (slug.<locale>.md) also records which version of its source it translates.
TRANSLATION_FIELDS = ARTICLE_FIELDS | {"source"}
LOCALE_SUFFIX_RE = re.compile(r"^(?P<slug>.+)\.(?P<locale>[a-z]{2,3}(?:-[A-Z][a-z]{3})?(?:-[A-Z]{2})?)$")
CATEGORY_FIELDS = {"name", "description", "order", "icon"}
CATEGORY_FILE = "_category.yml"
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def _str_list(value: Any) -> list[str] | None:
    if value is None:
        return []
    if isinstance(value, str):
        return None
    if isinstance(value, list) and all(isinstance(v, (str, int, float, dt.date)) for v in value):
        return [str(shown(v)).strip() for v in value if str(v).strip()]
    return None


def _read(path: Path, rel: str) -> tuple[str | None, list[Problem]]:
    """The file's text (a UTF-8 byte order mark from Notepad dropped), or why it cannot be read."""
    try:
        return path.read_text("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        return None, [problem(rel, 1, "not_utf8", byte=exc.start)]
    except OSError as exc:
        return None, [problem(rel, 1, "unreadable", reason=exc.strerror or str(exc))]


def parse_article(path: Path, root: Path) -> tuple[Article | None, list[Problem]]:
    rel = _rel(path, root)
    text, problems = _read(path, rel)
    if text is None:
        return None, problems

    def err(line: int, code: str, fld: str = "", **args: Any) -> None:
        problems.append(problem(rel, line, code, fld, **args))

    fm_text, body, body_line = split_front_matter(text)
    if fm_text is None:
        err(1, "front_matter_unclosed" if text.split("\n", 1)[0].strip() == "---" else "no_front_matter")
        return None, problems
    named = LOCALE_SUFFIX_RE.match(path.stem)
    parsed = read_fields(fm_text, 2, rel, TRANSLATION_FIELDS if named else ARTICLE_FIELDS, problems)
    if parsed is None:
        return None, problems
    meta, lines = parsed

    def line_of(key: str) -> int:
        return lines.get(key, 1)

    def value(key: str, default: Any) -> Any:
        v = meta.get(key, default)
        return default if v is REPORTED or v is None else v

    title = value("title", "")
    if meta.get("title") is not REPORTED and isinstance(title, str) and not title.strip():
        err(line_of("title"), "missing_field", "title")
    elif not isinstance(title, str):
        err(line_of("title"), "not_text", "title", value=shown(title))
        title = str(shown(title))
    summary = value("summary", "")
    if not isinstance(summary, str):
        err(line_of("summary"), "not_text", "summary", value=shown(summary))
        summary = ""

    questions = _str_list(value("questions", None))
    if questions is None:
        err(line_of("questions"), "not_questions", "questions")
        questions = []
    tags = _str_list(value("tags", None))
    if tags is None:
        err(line_of("tags"), "not_list", "tags")
        tags = []

    order = value("order", 0)
    if isinstance(order, bool) or not isinstance(order, int):
        err(line_of("order"), "not_int", "order", value=shown(order))
        order = 0
    draft = value("draft", False)
    if not isinstance(draft, bool):
        err(line_of("draft"), "not_bool", "draft", value=shown(draft))
        draft = False
    updated = value("updated", "")
    if isinstance(updated, (dt.date, dt.datetime)):
        updated = updated.isoformat()[:10]
    elif updated and not (isinstance(updated, str) and DATE_RE.match(updated)):
        err(line_of("updated"), "not_date", "updated", value=updated)
        updated = ""
    elif updated:
        try:
            dt.date.fromisoformat(updated)
        except ValueError:
            err(line_of("updated"), "impossible_date", "updated", value=updated)
            updated = ""

    if not body.strip():
        err(body_line, "empty_body")

    fm_lines = fm_text.splitlines()
    q_start = lines.get("questions", 1) - 1
    question_lines = []
    for q in questions:
        found = next((i + 2 for i in range(q_start, len(fm_lines)) if q in fm_lines[i]), line_of("questions"))
        question_lines.append(found)

    source = value("source", "")
    category = path.parent.name
    slug = named.group("slug") if named else path.stem
    if not SLUG_RE.match(slug):
        err(1, "bad_file_name", name=path.name)
    article = Article(
        id=f"{category}/{slug}",
        category=category,
        path=rel,
        title=title.strip(),
        body=body,
        body_line=body_line,
        summary=summary.strip(),
        questions=questions,
        tags=tags,
        order=order,
        draft=draft,
        updated=str(updated or ""),
        question_lines=question_lines,
        locale=named.group("locale") if named else "",
        source=str(source).strip(),
        source_line=line_of("source"),
        title_line=line_of("title"),
    )
    return article, problems


def parse_category(folder: Path, root: Path) -> tuple[Category, list[Problem]]:
    cat_file = folder / CATEGORY_FILE
    rel = _rel(cat_file, root)
    cat = Category(id=folder.name, name=folder.name)
    problems: list[Problem] = []
    if not SLUG_RE.match(folder.name):
        problems.append(problem(rel, 1, "bad_folder_name", name=folder.name))
    if not cat_file.is_file():
        return cat, [problem(rel, 1, "no_category_file", folder=folder.name, file=CATEGORY_FILE), *problems]
    text, read_problems = _read(cat_file, rel)
    parsed = read_fields(text, 1, rel, CATEGORY_FIELDS, problems) if text is not None else None
    if parsed is None:
        return cat, read_problems + problems
    meta, lines = parsed
    name = meta.get("name")
    if name is REPORTED:
        pass
    elif name is None or (isinstance(name, str) and not name.strip()):
        problems.append(problem(rel, lines.get("name", 1), "missing_field", "name"))
    elif not isinstance(name, str):
        problems.append(problem(rel, lines["name"], "not_text", "name", value=shown(name)))
    else:
        cat.name = name.strip()
    desc = meta.get("description")
    if isinstance(desc, str):
        cat.description = desc.strip()
    elif desc is not None and desc is not REPORTED:
        problems.append(problem(rel, lines["description"], "not_text", "description", value=shown(desc)))
    order = meta.get("order", 0)
    if order is not REPORTED and (isinstance(order, bool) or not isinstance(order, int)):
        problems.append(problem(rel, lines.get("order", 1), "not_int", "order", value=shown(order)))
    elif order is not REPORTED:
        cat.order = order
    icon = meta.get("icon")
    if isinstance(icon, str) and icon.strip() in ICONS:
        cat.icon = icon.strip()
    elif icon is not None and icon is not REPORTED:
        code = "unknown_icon" if isinstance(icon, str) else "not_text"
        problems.append(problem(rel, lines["icon"], code, "icon", value=shown(icon), known=", ".join(sorted(ICONS))))
    return cat, problems


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long, a NUL from %00: nothing there either way
        return False


def _link_problems(art: Article, root: Path, articles: dict[str, Article], categories: dict[str, Category],
                   anchors_of: Callable[[Article], list[str]]) -> list[Problem]:
    """Every link in ``art`` that leads nowhere: to no article, no section, no category or no
    file. A link to an article whose file exists but failed to load is not reported: that
    file's own problem is the one to fix."""
    out: list[Problem] = []
    folder = root / art.category
    for offset, written in body_links(art.body):
        line, target = art.body_line + offset, classify(art.id, written)
        if target.kind == "file" and is_local_image(written):
            continue  # checked, and published, by .assets
        if target.kind == "file":
            if _exists(folder / f"{target.value}.md"):
                pass  # an article written without .md: the renderer links it
            elif not _exists(folder / target.value):
                out.append(problem(art.path, line, "missing_file", target=written))
            else:
                out.append(problem(art.path, line, "file_not_published", target=written,
                                   types=", ".join(sorted(IMAGE_TYPES))))
        elif target.kind == "category" and target.value not in categories:
            out.append(problem(art.path, line, "dead_category_link", target=written, id=target.value))
        elif target.kind in ("article", "anchor"):
            linked = articles.get(target.value)
            if linked is None:
                if not _exists(root / f"{target.value}.md"):
                    out.append(problem(art.path, line, "dead_link", target=written, id=target.value))
                continue
            there = anchors_of(linked) if target.anchor else []
            if target.anchor and not there:
                out.append(problem(art.path, line, "dead_anchor_no_headings", target=written, id=linked.id))
            elif target.anchor and target.anchor not in there:
                listed = ", ".join(f"#{a}" for a in there[:12]) + (" …" if len(there) > 12 else "")
                out.append(problem(art.path, line, "dead_anchor", target=written, id=linked.id,
                                   anchor=target.anchor, anchors=listed))
            elif linked.draft and not art.draft and linked.id != art.id:
                out.append(problem(art.path, line, "draft_link", target=written))
    return out


# path -> ((mtime_ns, size), the article, its own problems)
ParseCache = dict[str, tuple[tuple[int, int], "Article | None", list[Problem]]]


def _parse_cached(path: Path, root: Path, cache: ParseCache | None) -> tuple[Article | None, list[Problem]]:
    if cache is None:
        return parse_article(path, root)
    try:
        st = path.stat()
    except OSError:
        return parse_article(path, root)
    stamp = (st.st_mtime_ns, st.st_size)
    hit = cache.get(str(path))
    if hit is not None and hit[0] == stamp:
        return hit[1], hit[2]
    article, found = parse_article(path, root)
    cache[str(path)] = (stamp, article, found)
    return article, found


def load_articles(root: str | Path, locales: tuple[str, ...] | None = None,
                  max_image_bytes: int = 2 * 1024 * 1024, cache: ParseCache | None = None) -> Collection:
    """Read every category, article and translation under ``root`` and cross-check them.

    ``cache``: kept by a long-lived caller (``helpcenter preview``) so a file that did not
    change since the last call (same mtime and size) is not read and parsed again; the
    cross-article checks always run on the whole set.

    Problems come in file order (by path, then line), the order a writer fixes them in.
    ``locales``: the site's locales, so a translation into one it does not serve is reported.
    """
    root = Path(root)
    problems: list[Problem] = []
    categories: dict[str, Category] = {}
    articles: dict[str, Article] = {}
    if not root.is_dir():
        return Collection({}, {}, [problem(str(root), 0, "articles_dir_missing")])

    for md in sorted(root.glob("*.md")):
        if md.name.lower() != "readme.md":
            problems.append(problem(_rel(md, root), 1, "outside_category"))

    seen_lower: dict[str, str] = {}
    translated: list[Article] = []
    unloaded: set[str] = set()  # categories with an article that failed to load
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        files = sorted(folder.glob("*.md"))
        cat, cat_problems = parse_category(folder, root)
        problems.extend(cat_problems)
        cat.locales = category_translations(folder, root, problems)
        categories[cat.id] = cat
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
            if any(sub.rglob("*.md")):
                problems.append(problem(_rel(sub, root), 1, "nested_folder"))
        for path in files:
            article, art_problems = _parse_cached(path, root, cache)
            problems.extend(art_problems)
            if article is None:
                if not LOCALE_SUFFIX_RE.match(path.stem):
                    unloaded.add(cat.id)
                continue
            if article.locale:
                translated.append(article)
                continue
            key = article.id.lower()
            if key in seen_lower:
                problems.append(problem(article.path, 1, "duplicate_id", id=article.id, other=seen_lower[key]))
                continue
            seen_lower[key] = article.path
            articles[article.id] = article

    # Cross-article checks: shared questions, links that lead nowhere. Section ids are
    # the renderer's own, worked out only for articles that anchored links point into.
    ids: dict[str, list[str]] = {}

    def anchors_of(art: Article) -> list[str]:
        if art.id not in ids:
            ids[art.id] = heading_ids(render_article(art.body, art.id).html)
        return ids[art.id]

    owner: dict[str, Article] = {}
    for art in articles.values():
        for q, q_line in zip(art.questions, art.question_lines):
            norm = re.sub(r"[\s？?！!。，,]", "", q).lower()
            if norm in owner and owner[norm].id != art.id:
                problems.append(problem(art.path, q_line, "duplicate_question", "questions",
                                        question=q, other=owner[norm].path))
            owner.setdefault(norm, art)
        problems.extend(_link_problems(art, root, articles, categories, anchors_of))
    translations = attach_translations(translated, articles, locales, problems)
    for art in (t for by_locale in translations.values() for t in by_locale.values()):
        problems.extend(_link_problems(art, root, articles, categories, anchors_of))
    for art in (*articles.values(), *(t for by_locale in translations.values() for t in by_locale.values())):
        problems.extend(image_problems(art.path, art.body, art.body_line, root.parent / art.path, root,
                                       max_image_bytes))
    for cat_id in categories:
        if cat_id not in unloaded and not any(a.category == cat_id for a in articles.values()):
            problems.append(problem(f"{root.name}/{cat_id}", 0, "empty_category"))
    glossaries = load_glossaries(root, problems)
    problems.sort(key=lambda p: (p.path, p.line))
    return Collection(categories, articles, problems, translations, glossaries)
