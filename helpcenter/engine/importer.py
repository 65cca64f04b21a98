"""Turn an existing FAQ export (JSONL or CSV) into articles in our format.

Teams migrating from another help center keep their entry ids: each entry
becomes ``<category>/<slug>.md`` with ``slug = article_slug(id)``, so links
and evaluation labels made against the old ids still resolve.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import yaml

TITLE_CHARS = 40


class ImportError_(ValueError):
    """A bad input line; the message names the file and line."""


@dataclass
class Entry:
    id: str
    title: str
    text: str


def article_slug(entry_id: str) -> str:
    """A URL-safe slug for an entry id; ids that are not ASCII keep a short hash for uniqueness."""
    slug = re.sub(r"[^a-z0-9]+", "-", entry_id.lower()).strip("-")
    if not slug or slug != entry_id.lower():
        digest = hashlib.sha1(entry_id.encode()).hexdigest()[:8]
        slug = f"{slug[:60]}-{digest}" if slug else f"entry-{digest}"
    return slug


def read_entries(path: Path) -> Iterator[Entry]:
    if path.suffix.lower() == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            missing = {"id", "text"} - set(reader.fieldnames or [])
            if missing:
                raise ImportError_(f"{path}:1: CSV needs columns id, title, text (missing {', '.join(sorted(missing))})")
            for n, row in enumerate(reader, 2):
                yield _entry(path, n, row)
        return
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ImportError_(f"{path}:{n}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise ImportError_(f"{path}:{n}: expected an object with id, title, text")
            yield _entry(path, n, obj)


def _entry(path: Path, n: int, obj: dict[str, object]) -> Entry:
    entry_id = str(obj.get("id") or "").strip()
    text = str(obj.get("text") or "").strip()
    title = str(obj.get("title") or "").strip()
    if not entry_id:
        raise ImportError_(f"{path}:{n}: entry has no id")
    if not text and not title:
        raise ImportError_(f"{path}:{n}: entry {entry_id!r} has neither title nor text")
    return Entry(entry_id, title, text)


def write_article(entry: Entry, folder: Path, order: int) -> Path:
    text = entry.text or entry.title
    title = entry.title or _title_from(text)
    meta = {"title": title, "order": order}
    body = text if text != title else f"{text}\n"
    path = folder / f"{article_slug(entry.id)}.md"
    path.write_text("---\n" + yaml.safe_dump(meta, allow_unicode=True, sort_keys=False) + "---\n\n" + body + "\n",
                    "utf-8")
    return path


def _title_from(text: str) -> str:
    first = re.split(r"[。！？!?\n]", text, maxsplit=1)[0].strip()
    return first if len(first) <= TITLE_CHARS else first[:TITLE_CHARS] + "…"


def import_faq(source: Path, category: str, out: Path, name: str | None = None) -> int:
    """Write every entry of ``source`` into ``out/<category>/``; returns how many."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", category):
        raise ImportError_(f"category {category!r} must be lower-case letters, digits and '-'")
    folder = out / category
    folder.mkdir(parents=True, exist_ok=True)
    cat_file = folder / "_category.yml"
    if not cat_file.exists():
        cat_file.write_text(yaml.safe_dump({"name": name or category, "description": f"Imported from {source.name}",
                                            "order": 100}, allow_unicode=True, sort_keys=False), "utf-8")
    seen: dict[str, str] = {}
    count = 0
    for count, entry in enumerate(read_entries(source), 1):
        slug = article_slug(entry.id)
        if slug in seen:
            raise ImportError_(f"{source}: ids {seen[slug]!r} and {entry.id!r} map to the same article {slug!r}")
        seen[slug] = entry.id
        write_article(entry, folder, count)
    return count
