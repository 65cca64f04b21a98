"""The shapes articles and categories take once read, shared by loading and translating.

They live apart from :mod:`.content` so that :mod:`.translations`, which
content calls while loading, can name them without importing content back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .problems import Problem


@dataclass
class Category:
    id: str
    name: str
    description: str = ""
    order: int = 0
    locales: dict[str, dict[str, str]] = field(default_factory=dict)  # _category.en.yml: name, description
    icon: str = ""  # a name from helpcenter.icons


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
    locale: str = ""  # a translation's locale (slug.en.md); "" for the source article
    source: str = ""  # a translation's `source`: the source_hash of the version it translates
    source_line: int = 1
    title_line: int = 2

    @property
    def slug(self) -> str:
        return self.id.split("/", 1)[1]


@dataclass
class Collection:
    categories: dict[str, Category]
    articles: dict[str, Article]
    problems: list[Problem]
    # article id -> locale -> the writer's translation (helpcenter.engine.translations)
    translations: dict[str, dict[str, Article]] = field(default_factory=dict)
    glossaries: dict[str, dict[str, str]] = field(default_factory=dict)  # _glossary.zh-Hant.yml

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]
