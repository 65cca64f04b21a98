"""One settings schema for every entry point (CLI, web app, scripts, tests).

Precedence, lowest first: the defaults below, a TOML file (``HELPCENTER_CONFIG``
or ``--config``), environment variables ``HELPCENTER_<NAME>``, then explicit
overrides (CLI options, test dicts). Each setting has a help text; a test checks
that every one is documented in the README.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping


class ConfigError(ValueError):
    """A setting has a bad value; the message names the setting and its source."""


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    articles_dir: str = _setting("articles", "Folder of Markdown articles (one sub-folder per category).")
    index_dir: str = _setting("index", "Where built indexes are published; the live one is `index/current`.")
    model: str = _setting(
        "multilingual-e5-small",
        "Embedding model: the packaged default, a sentence-transformers name, a local folder, or `hash` (tests only).",
    )
    model_cache: str = _setting("", "Folder for the assembled default model (default: ~/.cache/helpcenter/models).")
    user_dict: str = _setting("articles/_dictionary.txt", "jieba user dictionary of product and domain terms.")
    embed_batch_size: int = _setting(32, "Passages embedded per batch during a build.")
    ann: str = _setting("flat", "FAISS index type: `flat` (exact), `hnsw` or `ivf` (approximate, for large corpora).")
    keep_builds: int = _setting(3, "How many published index builds to keep for rollback.")
    fusion: str = _setting("rrf", "How dense and keyword results are fused: `rrf` or `weighted`.")
    rrf_k: int = _setting(60, "Reciprocal rank fusion constant.")
    dense_weight: float = _setting(1.0, "Weight of the dense ranking in fusion.")
    keyword_weight: float = _setting(1.0, "Weight of the keyword (BM25) ranking in fusion.")
    candidates: int = _setting(50, "Passages taken from each retriever before fusion.")
    confident_floor: float = _setting(
        0.90, "Best-passage cosine similarity below which search says it has no confident answer."
    )
    max_query_chars: int = _setting(200, "Longer queries are cut to this many characters.")

    def validate(self) -> "Settings":
        if self.fusion not in {"rrf", "weighted"}:
            raise ConfigError(f"fusion: unknown value {self.fusion!r} (use rrf or weighted)")
        if self.ann not in {"flat", "hnsw", "ivf"}:
            raise ConfigError(f"ann: unknown value {self.ann!r} (use flat, hnsw or ivf)")
        for name in ("embed_batch_size", "keep_builds", "rrf_k", "candidates", "max_query_chars"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be at least 1, got {getattr(self, name)}")
        return self

    def with_overrides(self, **values: Any) -> "Settings":
        return replace(self, **{k: v for k, v in values.items() if v is not None}).validate()


def setting_help() -> dict[str, str]:
    return {f.name: f.metadata["help"] for f in fields(Settings)}


def _coerce(name: str, raw: Any, kind: Any, source: str) -> Any:
    try:
        if kind in (int, "int"):
            return int(raw)
        if kind in (float, "float"):
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: setting {name} expects {kind}, got {raw!r}") from None


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    env = os.environ if env is None else env
    known = {f.name: f.type for f in fields(Settings)}
    values: dict[str, Any] = {}
    path = config_file or env.get("HELPCENTER_CONFIG")
    if path:
        try:
            data = tomllib.loads(Path(path).read_text("utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        data = data.get("helpcenter", data)
        for key, raw in data.items():
            if key not in known:
                raise ConfigError(f"{path}: unknown setting {key!r}")
            values[key] = _coerce(key, raw, known[key], str(path))
    for name, kind in known.items():
        raw = env.get(f"HELPCENTER_{name.upper()}")
        if raw is not None:
            values[name] = _coerce(name, raw, kind, f"HELPCENTER_{name.upper()}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values).validate()
