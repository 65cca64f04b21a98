"""Articles and categories as writers commit them, and every way they can be wrong.

Loading never stops at the first mistake: it collects :class:`Problem` records
(file, line, field) so ``helpcenter check`` can tell a writer everything at
once, and the build can refuse to publish while errors remain.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

# libyaml's parser when PyYAML has it: several times faster on 10k articles.
YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

ARTICLE_FIELDS = {"title", "summary", "questions", "tags", "order", "draft", "updated"}
CATEGORY_FILE = "_category.yml"
# Markdown links to other articles: [text](../cat/slug.md) or (slug.md#anchor).
LINK_RE = re.compile(r"\[[^\]]*\]\(\s*([^)\s]+?\.md)(#[^)\s]*)?\s*\)")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    severity: str  # "error" or "warning"
    message: str
    field: str = ""

    def __str__(self) -> str:
        where = f"[{self.field}] " if self.field else ""
        return f"{self.path}:{self.line}: {self.severity}: {where}{self.message}"


@dataclass
class Category:
    id: str
    name: str
    description: str = ""
    order: int = 0


@dataclass
class Article:
    id: str
    category: str
    path: str
    title: str
    body: str
    body_line: int
    summary: str = ""
    questions: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    order: int = 0
    draft: bool = False
    updated: str = ""
    # 1-based file line of each questions entry, for pointing writers at duplicates.
    question_lines: list[int] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return self.id.split("/", 1)[1]


@dataclass
class Collection:
    categories: dict[str, Category]
    articles: dict[str, Article]
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def _key_lines(text: str) -> dict[str, int]:
    """1-based line of each top-level key, so field errors point at the field."""
    try:
        node = yaml.compose(text, Loader=YamlLoader)
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}


def split_front_matter(text: str) -> tuple[str | None, str, int]:
    """Return (yaml text or None, body, 1-based line where the body starts)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return None, text, 1
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            return "".join(lines[1:i]), "".join(lines[i + 1 :]), i + 2
    return None, text, 1


def _str_list(value: Any) -> list[str] | None:
    if value is None:
        return []
    if isinstance(value, str):
        return None
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return [str(v).strip() for v in value if str(v).strip()]
    return None


def parse_article(path: Path, root: Path) -> tuple[Article | None, list[Problem]]:
    rel = _rel(path, root)
    problems: list[Problem] = []

    def err(line: int, msg: str, fld: str = "", severity: str = "error") -> None:
        problems.append(Problem(rel, line, severity, msg, fld))

    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        err(1, f"file is not valid UTF-8 ({exc.reason} at byte {exc.start})")
        return None, problems
    fm_text, body, body_line = split_front_matter(text)
    if fm_text is None:
        err(1, "missing YAML front matter: the file must start with a line '---', then fields, then '---'")
        return None, problems
    try:
        meta = yaml.load(fm_text, Loader=YamlLoader) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        # Errors found at end of input (an unclosed bracket) point at the last field line.
        last = len(fm_text.rstrip("\n").splitlines()) + 1
        line = min(mark.line + 2, last) if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        err(line, f"YAML error in front matter: {problem}")
        return None, problems
    if not isinstance(meta, dict):
        err(2, "front matter must be a mapping of fields (title: ..., summary: ...)")
        return None, problems
    lines = _key_lines(fm_text)

    def line_of(key: str) -> int:
        return lines.get(key, 0) + 1 if key in lines else 1

    for key in meta:
        if key not in ARTICLE_FIELDS:
            err(line_of(str(key)), f"unknown field {key!r} (known: {', '.join(sorted(ARTICLE_FIELDS))})",
                str(key), "warning")

    title = meta.get("title")
    if title is None or (isinstance(title, str) and not title.strip()):
        err(line_of("title") if "title" in meta else 1, "missing required field", "title")
        title = ""
    elif not isinstance(title, str):
        err(line_of("title"), "must be text", "title")
        title = str(title)

    summary = meta.get("summary") or ""
    if not isinstance(summary, str):
        err(line_of("summary"), "must be text", "summary")
        summary = ""

    questions = _str_list(meta.get("questions"))
    if questions is None:
        err(line_of("questions"), "must be a list of phrasings, one per line starting with '- '", "questions")
        questions = []
    tags = _str_list(meta.get("tags"))
    if tags is None:
        err(line_of("tags"), "must be a list, e.g. [账号, 密码]", "tags")
        tags = []

    order = meta.get("order", 0)
    if isinstance(order, bool) or not isinstance(order, int):
        err(line_of("order"), f"must be a whole number, got {order!r}", "order")
        order = 0
    draft = meta.get("draft", False)
    if not isinstance(draft, bool):
        err(line_of("draft"), f"must be true or false, got {draft!r}", "draft")
        draft = False
    updated = meta.get("updated", "")
    if isinstance(updated, (dt.date, dt.datetime)):
        updated = updated.isoformat()[:10]
    elif updated and not (isinstance(updated, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", updated)):
        err(line_of("updated"), f"must be a date YYYY-MM-DD, got {updated!r}", "updated")
        updated = ""

    if not body.strip():
        err(body_line, "article has no body text")

    fm_lines = fm_text.splitlines()
    q_start = lines.get("questions", 0)
    question_lines = []
    for q in questions:
        found = next((i + 2 for i in range(q_start, len(fm_lines)) if q in fm_lines[i]), line_of("questions"))
        question_lines.append(found)

    category = path.parent.name
    slug = path.stem
    if not SLUG_RE.match(slug):
        err(1, f"file name {path.name!r} must be lower-case letters, digits and '-' (it becomes the URL)")
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
    )
    return article, problems


def parse_category(folder: Path, root: Path) -> tuple[Category, list[Problem]]:
    cat_file = folder / CATEGORY_FILE
    rel = _rel(cat_file, root)
    cat = Category(id=folder.name, name=folder.name)
    if not cat_file.is_file():
        return cat, [Problem(rel, 1, "error", f"category folder '{folder.name}' has no {CATEGORY_FILE} (name, description, order)")]
    try:
        meta = yaml.load(cat_file.read_text("utf-8"), Loader=YamlLoader) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return cat, [Problem(rel, mark.line + 1 if mark else 1, "error", f"YAML error: {getattr(exc, 'problem', exc)}")]
    problems: list[Problem] = []
    if not isinstance(meta, dict):
        return cat, [Problem(rel, 1, "error", "must be a mapping with name, description, order")]
    lines = _key_lines(cat_file.read_text("utf-8"))
    for key in meta:
        if key not in {"name", "description", "order"}:
            problems.append(Problem(rel, lines.get(str(key), 1), "warning", f"unknown field {key!r}", str(key)))
    name = meta.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(Problem(rel, lines.get("name", 1), "error", "missing required field", "name"))
    else:
        cat.name = name.strip()
    desc = meta.get("description", "")
    cat.description = desc.strip() if isinstance(desc, str) else ""
    order = meta.get("order", 0)
    if isinstance(order, bool) or not isinstance(order, int):
        problems.append(Problem(rel, lines.get("order", 1), "error", f"must be a whole number, got {order!r}", "order"))
    else:
        cat.order = order
    if not SLUG_RE.match(folder.name):
        problems.append(Problem(rel, 1, "error", f"folder name {folder.name!r} must be lower-case letters, digits and '-'"))
    return cat, problems


def resolve_link(article_id: str, target: str) -> str | None:
    """Article id a relative ``.md`` link points to, or None for external links."""
    if "://" in target or target.startswith(("/", "mailto:")):
        return None
    base = PurePosixPath(article_id).parent
    parts: list[str] = []
    for part in (base / target).parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    resolved = "/".join(parts)
    return resolved[:-3] if resolved.endswith(".md") else resolved


def load_articles(root: str | Path) -> Collection:
    """Read every category and article under ``root`` and cross-check them."""
    root = Path(root)
    problems: list[Problem] = []
    categories: dict[str, Category] = {}
    articles: dict[str, Article] = {}
    if not root.is_dir():
        return Collection({}, {}, [Problem(str(root), 0, "error", "articles folder does not exist")])

    for md in sorted(root.glob("*.md")):
        if md.name.lower() != "readme.md":
            problems.append(Problem(_rel(md, root), 1, "error", "article is not inside a category folder (articles/<category>/<slug>.md)"))

    seen_lower: dict[str, str] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        files = sorted(folder.glob("*.md"))
        cat, cat_problems = parse_category(folder, root)
        problems.extend(cat_problems)
        categories[cat.id] = cat
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
            if any(sub.rglob("*.md")):
                problems.append(Problem(_rel(sub, root), 1, "error", "nested folders are not categories; move these articles up one level"))
        for path in files:
            article, art_problems = parse_article(path, root)
            problems.extend(art_problems)
            if article is None:
                continue
            key = article.id.lower()
            if key in seen_lower:
                problems.append(Problem(article.path, 1, "error", f"duplicate article id {article.id!r} (also {seen_lower[key]})"))
                continue
            seen_lower[key] = article.path
            articles[article.id] = article

    # Cross-article checks: shared questions, links to articles that do not exist.
    owner: dict[str, Article] = {}
    for art in articles.values():
        for q, q_line in zip(art.questions, art.question_lines):
            norm = re.sub(r"[\s？?！!。，,]", "", q).lower()
            if norm in owner and owner[norm].id != art.id:
                problems.append(Problem(art.path, q_line, "error",
                                        f"question {q!r} is also in {owner[norm].path}; each phrasing should lead to one article",
                                        "questions"))
            owner.setdefault(norm, art)
        for offset, line in enumerate(art.body.splitlines()):
            for m in LINK_RE.finditer(line):
                target = resolve_link(art.id, m.group(1))
                if target is not None and target not in articles:
                    problems.append(Problem(art.path, art.body_line + offset, "error",
                                            f"link to {m.group(1)!r} points to no article ({target})"))
                elif target is not None and articles[target].draft and not art.draft:
                    problems.append(Problem(art.path, art.body_line + offset, "warning",
                                            f"link to {m.group(1)!r} points to a draft"))
    for cat_id in categories:
        if not any(a.category == cat_id for a in articles.values()):
            problems.append(Problem(f"{root.name}/{cat_id}", 0, "warning", "category has no articles"))
    return Collection(categories, articles, problems)
