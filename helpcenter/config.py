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
    # --- web site ---
    site_name: str = _setting("帮助中心", "Site name shown in the header and e-mails.")
    instance_dir: str = _setting("instance", "Folder for the SQLite database, uploads and the generated secret key.")
    database_url: str = _setting("", "SQLAlchemy database URL (default: SQLite file in the instance folder).")
    secret_key: str = _setting("", "Session and CSRF signing key (default: generated once into the instance folder).")
    upload_dir: str = _setting("", "Where screenshots are stored, outside the web root (default: instance/uploads).")
    max_upload_mb: int = _setting(5, "Largest screenshot accepted, in MB.")
    max_uploads: int = _setting(3, "Screenshots per request.")
    ratelimit_storage: str = _setting("memory://", "Flask-Limiter storage URL (e.g. redis://host:6379 for several nodes).")
    rate_limit_forms: str = _setting("10 per minute", "Limit per client on form and API submissions.")
    rate_limit_api: str = _setting("120 per minute", "Limit per client on JSON API reads and searches.")
    smtp_host: str = _setting("", "SMTP server for e-mails; empty: no e-mail is sent.")
    smtp_port: int = _setting(25, "SMTP port.")
    smtp_user: str = _setting("", "SMTP user name (optional).")
    smtp_password: str = _setting("", "SMTP password (optional).")
    smtp_starttls: int = _setting(0, "1: upgrade the SMTP connection with STARTTLS.")
    mail_from: str = _setting("helpcenter@localhost", "Sender address of e-mails.")
    support_hours: str = _setting("mon-fri 09:00-18:00", "When support works, e.g. `mon-fri 09:00-18:00` or `mon-sun 08:00-22:00`.")
    support_timezone: str = _setting("Asia/Shanghai", "Time zone of the support hours.")
    response_hours: int = _setting(8, "Promised first response, in working hours.")

    def validate(self) -> "Settings":
        if self.fusion not in {"rrf", "weighted"}:
            raise ConfigError(f"fusion: unknown value {self.fusion!r} (use rrf or weighted)")
        if self.ann not in {"flat", "hnsw", "ivf"}:
            raise ConfigError(f"ann: unknown value {self.ann!r} (use flat, hnsw or ivf)")
        from .hours import SupportHours

        try:
            SupportHours.parse(self.support_hours, self.support_timezone)
        except ValueError as exc:
            raise ConfigError(f"support_hours/support_timezone: {exc}") from None
        for name in ("embed_batch_size", "keep_builds", "rrf_k", "candidates", "max_query_chars",
                     "max_upload_mb", "max_uploads", "response_hours"):
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
