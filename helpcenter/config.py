"""One settings schema for every entry point (CLI, web app, scripts, tests).

Precedence, lowest first: the defaults below, a TOML file (``HELPCENTER_CONFIG``
or ``--config``), environment variables ``HELPCENTER_<NAME>``, then explicit
overrides (CLI options, test dicts). Each setting has a help text; a test checks
that every one is documented in the README.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

# A search box of this many CJK characters (9 bytes each once percent-encoded) still fits
# gunicorn's largest request line, 8190 bytes (scripts/run sets it).
MAX_QUERY_CHARS = 900


class ConfigError(ValueError):
    """A setting has a bad value; the message names the setting and its source."""


ORIGIN_RE = re.compile(r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$")
BRAND_COLOR_RE = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
# The logo types browsers show as images and never run: SVG is refused (opened on its own it
# runs script on the site's origin). Checked by content, not only by name.
LOGO_TYPES = {".png": b"\x89PNG\r\n\x1a\n", ".jpg": b"\xff\xd8\xff", ".jpeg": b"\xff\xd8\xff", ".webp": b"RIFF"}
MAX_LOGO_BYTES = 1024 * 1024


def logo_problem(path: str) -> None:
    """Refuse a brand_logo the site should not serve, saying why (raises ConfigError)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".svg", ".svgz"):
        raise ConfigError(f"brand_logo: SVG is not accepted (it can run script on the site); export {path} "
                          "as PNG or WebP")
    if suffix not in LOGO_TYPES:
        raise ConfigError(f"brand_logo: {path} must be a .png, .jpg, .jpeg or .webp file")
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError as exc:
        raise ConfigError(f"brand_logo: cannot read {path}: {exc.strerror or exc}") from None
    if size > MAX_LOGO_BYTES:
        raise ConfigError(f"brand_logo: {path} is {size // 1024} KB; a header logo should be at most 1 MB")
    magic = LOGO_TYPES[suffix]
    if not head.startswith(magic) or (suffix == ".webp" and head[8:12] != b"WEBP"):
        raise ConfigError(f"brand_logo: {path} is not a {suffix[1:].upper()} image (its content does not match "
                          "its name)")


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
    embed_backend: str = _setting(
        "onnx", "How the default model runs: `onnx` (fp32, same vectors as torch, faster), `onnx-int8` or `torch`.")
    model_cache: str = _setting("", "Folder for the assembled default model (default: ~/.cache/helpcenter/models).")
    user_dict: str = _setting("articles/_dictionary.txt", "jieba user dictionary of product and domain terms.")
    max_image_mb: float = _setting(
        2.0, "`helpcenter check` warns about article images larger than this many MB (slow on phones).")
    embed_batch_size: int = _setting(32, "Passages embedded per batch during a build.")
    embed_threads: int = _setting(
        0, "Threads ONNX Runtime uses for one encode (0 = one per core). 1 suits a busy web server: "
        "concurrent requests then run side by side instead of contending for the same cores.")
    ann: str = _setting(
        "auto", "FAISS index type: `flat` (exact), `hnsw` or `ivf` (approximate), or `auto`: flat below "
        "20,000 passages, HNSW above.")
    keep_builds: int = _setting(3, "How many published index builds to keep for rollback.")
    retrieval: str = _setting("hybrid", "`hybrid` (dense + keyword), or `dense` / `keyword` alone (for comparison).")
    fusion: str = _setting(
        "score", "How dense and keyword evidence combine: `score` (cosine + weighted keyword scores) or `rrf`.")
    rrf_k: int = _setting(60, "Reciprocal rank fusion constant (fusion = rrf).")
    dense_weight: float = _setting(1.0, "Weight of the dense (cosine) evidence.")
    keyword_weight: float = _setting(
        0.05, "Weight of the character n-gram BM25 score, scaled to the query's best match.")
    jieba_weight: float = _setting(0.0, "Weight of the jieba-token BM25 score, scaled the same way.")
    confidence: str = _setting(
        "calibrated", "`calibrated`: an answer is confident when the shipped calibration's P(first result is right) "
        "reaches its threshold (for the model it was fitted with); `floor`: by confident_floor and confident_margin.")
    pinyin: int = _setting(1, "1: read pinyin queries and homophone typos through their sound (0: off, for comparison).")
    pinyin_weight: float = _setting(
        0.02, "Weight of the pinyin BM25 score for Chinese queries (homophone typos share the sound); a query "
        "typed as pinyin weighs it like the characters.")
    candidates: int = _setting(50, "Passages taken from each retriever before fusion.")
    confident_floor: float = _setting(
        0.90, "Best-passage cosine similarity below which search says it has no confident answer."
    )
    confident_margin: float = _setting(
        0.01, "Lead of the first article's fused score over the second's below which the answer is "
        "not confident either (a near tie is a guess); 0 turns it off, ignored for rrf fusion.")
    result_cut: float = _setting(
        0.05, "Results whose fused score is more than this share below the best one are left out (0.05: "
        "below 95% of it); 0 turns it off, ignored for rrf fusion.")
    max_guesses: int = _setting(5, "At most this many results when search is not confident; 0: no limit.")
    max_query_chars: int = _setting(200, "Longer queries are cut to this many characters.")
    # --- web site ---
    locales: str = _setting(
        "zh-Hans,zh-Hant,en", "Locales the site serves, the default first (its URLs carry no prefix; the others "
        "start with /zh-hant, /en ...). zh-Hant pages convert 简体 articles (OpenCC s2twp) unless a writer "
        "wrote slug.zh-Hant.md; other locales show their slug.<locale>.md, or the default article marked as "
        "untranslated.")
    site_name: str = _setting("帮助中心", "Site name shown in the header and e-mails.")
    brand_color: str = _setting(
        "#0b57d0", "Brand colour, `#rgb` or `#rrggbb`: the header, buttons and links. A colour too light for "
        "white text (WCAG AA, 4.5:1) is darkened until it is readable.")
    brand_logo: str = _setting(
        "", "Logo shown before the site name in the header: a PNG, JPEG or WebP file (not SVG, which can carry "
        "script), served under a content-hashed URL and cached for a year; empty: the name alone.")
    instance_dir: str = _setting("instance", "Folder for the SQLite database, uploads and the generated secret key.")
    database_url: str = _setting("", "SQLAlchemy database URL (default: SQLite file in the instance folder).")
    auto_migrate: int = _setting(
        1, "1: the web app and the data commands bring an older database schema up to date at start-up, under "
        "a lock; 0: they refuse to start on it and `helpcenter db upgrade` does it.")
    secret_key: str = _setting("", "Session and CSRF signing key (default: generated once into the instance folder).")
    upload_dir: str = _setting("", "Where screenshots are stored, outside the web root (default: instance/uploads).")
    max_upload_mb: int = _setting(5, "Largest screenshot accepted, in MB.")
    max_uploads: int = _setting(3, "Screenshots per request.")
    ratelimit_storage: str = _setting("memory://", "Flask-Limiter storage URL (e.g. redis://host:6379 for several nodes).")
    rate_limit_forms: str = _setting("10 per minute", "Limit per client on form and API submissions.")
    rate_limit_api: str = _setting("120 per minute", "Limit per client on JSON API reads and searches.")
    rate_limit_login: str = _setting(
        "10 per minute; 50 per day", "Limit on failed admin sign-ins, per client (and per account once staff "
        "accounts exist): a budget of its own, so guessing never blocks the public forms of people sharing that "
        "address.")
    rate_limit_login_attempts: str = _setting(
        "30 per minute", "Limit on all admin sign-in attempts per client, counted as they arrive: guesses "
        "sent in parallel cannot slip past the failed sign-ins budget, which is only counted after each answer.")
    smtp_host: str = _setting("", "SMTP server for e-mails; empty: no e-mail is sent.")
    smtp_port: int = _setting(25, "SMTP port.")
    smtp_user: str = _setting("", "SMTP user name (optional).")
    smtp_password: str = _setting("", "SMTP password (optional).")
    smtp_starttls: int = _setting(0, "1: upgrade the SMTP connection with STARTTLS.")
    mail_from: str = _setting("helpcenter@localhost", "Sender address of e-mails.")
    support_hours: str = _setting("mon-fri 09:00-18:00", "When support works, e.g. `mon-fri 09:00-18:00` or `mon-sun 08:00-22:00`.")
    support_timezone: str = _setting("Asia/Shanghai", "Time zone of the support hours.")
    response_hours: int = _setting(8, "Promised first response, in working hours.")
    # --- escalation delivery (outbox and spool) ---
    support_inbox: str = _setting("", "Support team's address: each new request is e-mailed there (needs smtp_host); empty: off.")
    webhook_url: str = _setting("", "Each new request is POSTed there as JSON (e.g. a ticket system); empty: off.")
    webhook_secret: str = _setting("", "When set, webhook bodies are signed: header `X-Helpcenter-Signature: sha256=<HMAC>`.")
    outbox_worker: int = _setting(1, "1: each web process runs a background thread delivering the outbox; 0: only `helpcenter deliver` does.")
    outbox_max_attempts: int = _setting(12, "Delivery attempts per notification before it is marked failed (kept, visible).")
    outbox_backoff_seconds: float = _setting(30.0, "First retry delay; it doubles with each failed attempt (at most one hour).")
    outbox_poll_seconds: float = _setting(5.0, "How often the delivery worker looks for due notifications and spooled requests.")
    spool_dir: str = _setting("", "Where requests are spooled while the database is down (default: instance/spool).")
    # --- the support loop (inbox and the requester's status page) ---
    public_url: str = _setting(
        "", "The site's address as people reach it (e.g. `https://help.example.com`), for the status links in "
        "e-mails. Empty: e-mails give the reference and the link appears only on the page shown after sending.")
    solved_close_days: int = _setting(
        7, "A solved request can be reopened by the requester for this many days, then closes by itself (0: never).")
    status_link_days: int = _setting(
        365, "How long the requester's status link works, in days from when it was issued.")
    rate_limit_status: str = _setting(
        "60 per minute; 600 per day", "Limit per client on the requester's status pages (guessing links is pointless, "
        "but is also stopped).")
    trusted_proxies: int = _setting(0, "Proxies/load balancers in front of the site whose X-Forwarded-For/-Proto are trusted (0: none).")
    https: int = _setting(
        0, "1: the site is only served over HTTPS: cookies are `Secure` and every response carries HSTS. 0: the "
        "same for each request that arrived over HTTPS (directly, or per X-Forwarded-Proto from a trusted proxy).")
    # --- the assistant (POST /api/assist, the widget, WeChat, LINE) ---
    assist_max_message_chars: int = _setting(
        500, "Longest message the assistant takes; a longer one is refused with a clear error (nothing is cut).")
    assist_max_turns: int = _setting(
        50, "Turns after which a conversation ends; the next message starts a new one (the client gets its id).")
    assist_max_age_hours: float = _setting(
        24.0, "Hours after its first message after which a conversation ends the same way.")
    assist_transcript_entries: int = _setting(
        200, "Messages kept in a conversation's transcript (and in a request handed over from it); older drop off.")
    assist_clarify_margin: float = _setting(
        0.02, "When not confident, articles whose fused score is within this of the first are offered as "
        "\"您想问的是：A / B / 都不是\" instead of a list of guesses.")
    assist_clarify_floor: float = _setting(
        0.85, "The first article's best cosine under which near-tied articles are not worth asking about.")
    widget_origins: str = _setting(
        "", "Sites that may embed the help widget (`https://shop.example.com`, comma-separated origins): only "
        "their pages may frame it (CSP frame-ancestors); empty: the widget can be framed by no site.")
    # --- messaging channels (off until configured) ---
    wechat_token: str = _setting("", "WeChat Official Account server token (公众号 服务器配置 Token); empty: /channels/wechat is off.")
    wechat_aes_key: str = _setting(
        "", "WeChat EncodingAESKey (43 characters) for safe mode (安全模式); empty: plain-text mode only.")
    wechat_appid: str = _setting("", "WeChat AppID, needed with wechat_aes_key.")
    line_channel_secret: str = _setting(
        "", "LINE Messaging API channel secret (signs webhooks); empty: /channels/line is off.")
    line_access_token: str = _setting("", "LINE channel access token, for replies.")
    line_api_url: str = _setting("https://api.line.me", "LINE Messaging API base URL (a stand-in server in tests).")
    # --- analytics and privacy ---
    report_cluster_threshold: float = _setting(
        0.89, "Cosine similarity at which unanswered queries are grouped as one topic in the report (tuned for e5)."
    )
    retention_days: int = _setting(
        0, "Escalations older than this many days lose their personal fields and screenshots (0: keep forever)."
    )
    # --- search learns from use (helpcenter.insights.learning) ---
    learning: str = _setting(
        "reviewed", "Which learned questions the next index build adds as passages: `reviewed` (only those a "
        "writer accepted), `auto` (also every candidate at or above learn_threshold, unless blocked) or `off`.")
    learn_threshold: float = _setting(
        3.0, "Evidence score at which a (query, article) pair becomes a candidate (a click is 1, a click with a "
        "\"有帮助\" vote 2, an agent's resolution 3).")
    learned_boost: float = _setting(
        0.05, "Score a learned question adds to its article for a query asked in the same words; paraphrases "
        "add less, down to nothing at learned_similarity.")
    learned_similarity: float = _setting(
        0.9, "Cosine between a query and a learned question from which the learned question counts.")
    demote_max: float = _setting(
        0.3, "An article that keeps failing a query (strong negative evidence) loses at most this share of its "
        "score for that query and its paraphrases; 0: no demotion.")
    demote_similarity: float = _setting(
        0.93, "How close a new query must be to a demoted one for the demotion to apply (cosine; full at 1.0).")
    learn_half_life_days: float = _setting(
        30.0, "Evidence from visits counts half after this many days (older behaviour says less about today's articles).")

    def validate(self) -> "Settings":
        if self.confidence not in {"calibrated", "floor"}:
            raise ConfigError(f"confidence: unknown value {self.confidence!r} (use calibrated or floor)")
        if self.fusion not in {"rrf", "score"}:
            raise ConfigError(f"fusion: unknown value {self.fusion!r} (use score or rrf)")
        if self.embed_backend not in {"onnx", "onnx-int8", "torch"}:
            raise ConfigError(f"embed_backend: unknown value {self.embed_backend!r} (use onnx, onnx-int8 or torch)")
        if self.retrieval not in {"hybrid", "dense", "keyword"}:
            raise ConfigError(f"retrieval: unknown value {self.retrieval!r} (use hybrid, dense or keyword)")
        if self.ann not in {"auto", "flat", "hnsw", "ivf"}:
            raise ConfigError(f"ann: unknown value {self.ann!r} (use auto, flat, hnsw or ivf)")
        from .support.hours import SupportHours

        try:
            SupportHours.parse(self.support_hours, self.support_timezone)
        except ValueError as exc:
            raise ConfigError(f"support_hours/support_timezone: {exc}") from None
        from .locales import Locales

        try:
            Locales.parse(self.locales)
        except ValueError as exc:
            raise ConfigError(f"locales: {exc}") from None
        if not BRAND_COLOR_RE.match(self.brand_color):
            raise ConfigError(f"brand_color: must be a colour like #0b57d0 or #05d, got {self.brand_color!r}")
        if self.brand_logo:
            logo_problem(self.brand_logo)
        if self.embed_threads < 0:
            raise ConfigError(f"embed_threads must be 0 (automatic) or more, not {self.embed_threads}")
        for name in ("embed_batch_size", "keep_builds", "rrf_k", "candidates", "max_query_chars",
                     "max_upload_mb", "max_uploads", "response_hours", "assist_max_message_chars",
                     "assist_max_turns", "assist_transcript_entries"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.result_cut < 1.0:
            raise ConfigError(f"result_cut: must be in [0, 1), got {self.result_cut}")
        if self.max_guesses < 0:
            raise ConfigError(f"max_guesses: must be 0 (no limit) or more, got {self.max_guesses}")
        if self.max_query_chars > MAX_QUERY_CHARS:
            raise ConfigError(f"max_query_chars: at most {MAX_QUERY_CHARS} (a full search box of Chinese must fit "
                              f"the server's 8190-byte request line), got {self.max_query_chars}")
        if self.auto_migrate not in (0, 1):
            raise ConfigError(f"auto_migrate: must be 0 or 1, got {self.auto_migrate}")
        if self.https not in (0, 1):
            raise ConfigError(f"https: must be 0 or 1, got {self.https}")
        if self.trusted_proxies < 0:
            raise ConfigError(f"trusted_proxies: must be 0 or more, got {self.trusted_proxies}")
        if self.outbox_max_attempts < 1:
            raise ConfigError(f"outbox_max_attempts: must be at least 1, got {self.outbox_max_attempts}")
        for name in ("outbox_backoff_seconds", "outbox_poll_seconds"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name}: must be more than 0, got {getattr(self, name)}")
        if self.support_inbox and not self.smtp_host:
            raise ConfigError("support_inbox: e-mail to the support inbox needs smtp_host")
        if self.webhook_url and not self.webhook_url.startswith(("http://", "https://")):
            raise ConfigError(f"webhook_url: must be an http:// or https:// URL, got {self.webhook_url!r}")
        if self.retention_days < 0:
            raise ConfigError(f"retention_days: must be 0 (keep forever) or more, got {self.retention_days}")
        if self.learning not in {"auto", "reviewed", "off"}:
            raise ConfigError(f"learning: unknown value {self.learning!r} (use reviewed, auto or off)")
        if not self.learn_threshold > 0:
            raise ConfigError(f"learn_threshold: must be more than 0, got {self.learn_threshold}")
        if self.learned_boost < 0:
            raise ConfigError(f"learned_boost: must be 0 or more, got {self.learned_boost}")
        if not 0.0 < self.learned_similarity < 1.0:
            raise ConfigError(f"learned_similarity: must be between 0 and 1, got {self.learned_similarity}")
        if not 0.0 <= self.demote_max < 1.0:
            raise ConfigError(f"demote_max: must be in [0, 1), got {self.demote_max}")
        if not 0.0 < self.demote_similarity < 1.0:
            raise ConfigError(f"demote_similarity: must be between 0 and 1, got {self.demote_similarity}")
        if not self.learn_half_life_days > 0:
            raise ConfigError(f"learn_half_life_days: must be more than 0, got {self.learn_half_life_days}")
        for origin in filter(None, (o.strip() for o in self.widget_origins.split(","))):
            if not ORIGIN_RE.match(origin):
                raise ConfigError(f"widget_origins: {origin!r} is not an origin like https://shop.example.com "
                                  "(scheme, host and port only; no path, no wildcard)")
        if self.wechat_aes_key and (len(self.wechat_aes_key) != 43 or not self.wechat_appid):
            raise ConfigError("wechat_aes_key: must be the 43-character EncodingAESKey, and wechat_appid must be set")
        if self.line_channel_secret and not self.line_access_token:
            raise ConfigError("line_channel_secret: replies need line_access_token too")
        if not self.line_api_url.startswith(("http://", "https://")):
            raise ConfigError(f"line_api_url: must be an http:// or https:// URL, got {self.line_api_url!r}")
        if not self.assist_max_age_hours > 0:
            raise ConfigError(f"assist_max_age_hours: must be more than 0, got {self.assist_max_age_hours}")
        if not 0.0 <= self.assist_clarify_margin < 1.0:
            raise ConfigError(f"assist_clarify_margin: must be in [0, 1), got {self.assist_clarify_margin}")
        if not 0.0 < self.report_cluster_threshold <= 1.0:
            raise ConfigError(f"report_cluster_threshold: must be in (0, 1], got {self.report_cluster_threshold}")
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


# Settings that are gone but still accepted (ignored) in a config file.
RETIRED = frozenset({"admin_token"})  # /admin uses staff accounts now (`helpcenter staff add`)


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
            if key in RETIRED:
                continue  # ignored, so an old file keeps working (README: Staff accounts)
            if key not in known:
                raise ConfigError(f"{path}: unknown setting {key!r}")
            values[key] = _coerce(key, raw, known[key], str(path))
    for name, kind in known.items():
        raw = env.get(f"HELPCENTER_{name.upper()}")
        if raw is not None:
            values[name] = _coerce(name, raw, kind, f"HELPCENTER_{name.upper()}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values).validate()
