"""YAML front matter as writers type it, read without ever stopping the run.

Two things PyYAML does not do for us: a value that looks like a date or number but
cannot be one (``updated: 2026-02-30``) raises ValueError and would end
``helpcenter check`` with a traceback; and a syntax error is found where YAML gave
up (the end of the front matter), not where the writer's mistake starts. Here the
first becomes a problem at that value's line and the second is reported at the line
libyaml's context mark remembers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from .problems import Problem, problem


@dataclass(frozen=True)
class BadValue:
    """A scalar YAML recognised (a date, a number) but could not build, e.g. 2026-02-30."""

    text: str
    line: int  # 0-based line within the parsed text
    code: str  # the problem to report: impossible_date, bad_number, not_bool


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's parser when PyYAML has it (several times faster on 10k articles); values
    that look like a date or number but are impossible become :class:`BadValue` instead of
    a ValueError that would stop the whole run."""


def _tolerant(tag: str, code: str) -> None:
    build = _Loader.yaml_constructors[f"tag:yaml.org,2002:{tag}"]

    def construct(loader: Any, node: Any) -> Any:
        try:
            return build(loader, node)
        except (ValueError, TypeError, KeyError, OverflowError):
            return BadValue(str(node.value), node.start_mark.line, code)

    _Loader.add_constructor(f"tag:yaml.org,2002:{tag}", construct)


for _tag, _code in (("timestamp", "impossible_date"), ("int", "bad_number"), ("float", "bad_number"),
                   ("bool", "not_bool")):
    _tolerant(_tag, _code)


REPORTED = object()  # stands in for a value whose problem is already reported
_CLOSING = {"[": "]", "{": "}"}


def _yaml_error(exc: yaml.YAMLError, text: str, first_line: int) -> tuple[int, str, dict[str, str]]:
    """(file line, problem code, args) for a YAML syntax error, at the line where the
    mistake starts: an unclosed quote or bracket is only noticed at the end of the
    front matter, but libyaml's context_mark remembers where it was opened."""
    problem_mark, context_mark = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
    context, detail = getattr(exc, "context", None) or "", getattr(exc, "problem", None) or str(exc).splitlines()[0]
    lines = text.splitlines() or [""]

    def at(mark: Any) -> int:
        return first_line + min(mark.line, len(lines) - 1) if mark is not None else first_line

    def char(mark: Any) -> str:
        line = lines[mark.line] if mark.line < len(lines) else ""
        return line[mark.column] if mark.column < len(line) else ""

    if context_mark is not None and "quoted scalar" in context:
        return at(context_mark), "yaml_unclosed_quote", {"quote": char(context_mark)}
    if context_mark is not None and char(context_mark) in _CLOSING and "did not find expected" in detail:
        return at(context_mark), "yaml_unclosed_bracket", {"bracket": char(context_mark),
                                                          "closing": _CLOSING[char(context_mark)]}
    if "mapping values are not allowed" in detail:
        return at(problem_mark), "yaml_colon", {}
    if "tab" in detail:
        return at(problem_mark), "yaml_tab", {}
    return at(problem_mark), "yaml_syntax", {"detail": f"{context}: {detail}" if context else detail}


def _load_yaml(text: str, first_line: int) -> tuple[Any, dict[str, int], tuple[int, str, dict[str, str]] | None]:
    """(data, file line of each top-level key, syntax error or None), from one parse."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        return None, {}, _yaml_error(exc, text, first_line)
    finally:
        loader.dispose()
    keys = {}
    if isinstance(node, yaml.MappingNode):
        keys = {k.value: first_line + k.start_mark.line for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
    return data, keys, None


def _take_bad_values(value: Any, report: Callable[[BadValue], None]) -> Any:
    """``value`` with every :class:`BadValue` reported and taken out (dropped from lists)."""
    if isinstance(value, BadValue):
        report(value)
        return REPORTED
    if isinstance(value, list):
        return [v for v in (_take_bad_values(x, report) for x in value) if v is not REPORTED]
    if isinstance(value, dict):
        return {k: _take_bad_values(v, report) for k, v in value.items()}
    return value


def shown(value: Any) -> Any:
    """A value as the writer typed it, for messages (dates as YYYY-MM-DD, not date(...))."""
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


def split_front_matter(text: str) -> tuple[str | None, str, int]:
    """Return (yaml text or None, body, 1-based line where the body starts)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return None, text, 1
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            return "".join(lines[1:i]), "".join(lines[i + 1 :]), i + 2
    return None, text, 1


def read_fields(text: str, first_line: int, rel: str, known: set[str],
                problems: list[Problem]) -> tuple[dict[str, Any], dict[str, int]] | None:
    """Parsed fields and their lines; problems of the YAML itself, unknown fields and
    unbuildable values are added to ``problems``. None if there are no fields to check."""
    meta, lines, syntax = _load_yaml(text, first_line)
    if syntax is not None:
        line, code, args = syntax
        problems.append(problem(rel, line, code, **args))
        return None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        problems.append(problem(rel, first_line, "not_mapping", fields=", ".join(sorted(known))))
        return None
    out: dict[str, Any] = {}
    for key, value in meta.items():
        key = str(key)
        if key not in known:
            problems.append(problem(rel, lines.get(key, first_line), "unknown_field", key,
                                    name=key, known=", ".join(sorted(known))))
            continue
        out[key] = _take_bad_values(value, lambda bad, key=key: problems.append(
            problem(rel, first_line + bad.line, bad.code, key, value=bad.text)))
    return out, lines
