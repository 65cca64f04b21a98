"""The help-center site: Flask app factory, extensions, security headers, errors.

The web layer only reads the published index (through the Searcher) and the
database; it never parses Markdown or builds vectors.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask, g, jsonify, render_template, request
from flask_babel import gettext as _, lazy_gettext as _l
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from ..config import Settings, load_settings
from ..engine.index import IndexError_
from ..engine.search import Searcher
from ..fsutil import private_dir
from ..support.hours import SupportHours
from ..support.statuslink import redact
from ..support.storage import Storage, StorageUnavailable

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
log = logging.getLogger(__name__)

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


SHARED_URLS = {"static": "/static/", "brand.css": "/brand/", "brand.logo": "/brand/"}


class HelpCenterApp(Flask):
    def url_for(self, endpoint: str, **values: Any) -> str:  # type: ignore[override]
        """Static files (and the brand's) keep one URL in every locale, so a browser caches them once."""
        url = super().url_for(endpoint, **values)
        folder = SHARED_URLS.get(endpoint)
        if folder and request:
            from .i18n import ENVIRON_KEY, ROOT_KEY

            if request.environ.get(ENVIRON_KEY):
                inner = request.environ.get("SCRIPT_NAME", "")
                url = url.replace(inner + folder, request.environ.get(ROOT_KEY, "") + folder, 1)
        return url


def create_app(test_config: dict[str, Any] | None = None, settings: Settings | None = None,
               searcher: Searcher | None = None) -> Flask:
    """``test_config`` overrides Flask config; ``settings`` and ``searcher`` let tests inject parts."""
    settings = settings or load_settings()
    app = HelpCenterApp(__name__, instance_path=str(Path(settings.instance_dir).resolve()))
    from ..instance import make_instance_dir, secret_key

    instance = make_instance_dir(settings)  # private (0700): personal data and the secret key
    upload_dir = Path(settings.upload_dir or instance / "uploads")
    from .uploads import FormRequest

    private_dir(upload_dir)  # screenshots are personal data: owner only (0700, files 0600)

    app.config.update(
        SECRET_KEY=secret_key(settings),  # signs sessions, CSRF and status links
        # Three screenshots at the size limit plus the form itself.
        MAX_CONTENT_LENGTH=(settings.max_upload_mb * settings.max_uploads + 1) * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,  # a long form must not expire while someone types
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage,
        RATELIMIT_HEADERS_ENABLED=True,
        JSON_AS_ASCII=False,
    )
    from .transport import SessionInterface, add_hsts

    app.session_interface = SessionInterface()  # Secure cookies over HTTPS (setting `https` or per request)
    if settings.https:
        app.config.update(SESSION_COOKIE_SECURE=True, PREFERRED_URL_SCHEME="https")
    if test_config:
        app.config.update(test_config)
    if settings.trusted_proxies:
        # Behind a load balancer: the client address (for rate limits) and scheme come from
        # the X-Forwarded-* headers set by that many trusted proxies.
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    from .i18n import init_i18n

    init_i18n(app, settings.locales)  # /zh-hant/..., /en/...: the reader's locale (helpcenter.web.i18n)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.request_class = FormRequest  # per-endpoint request limits; a too-large photo costs no typed text

    app.extensions["hc_settings"] = settings
    app.extensions["hc_searcher"] = searcher or Searcher(settings)
    app.extensions["hc_upload_dir"] = upload_dir
    app.extensions["hc_hours"] = SupportHours.parse(settings.support_hours, settings.support_timezone)
    storage = Storage(settings.database_url or f"sqlite:///{instance / 'helpcenter.db'}",
                      auto_migrate=bool(settings.auto_migrate))
    try:
        # Schema at head: migrated under a lock (several nodes may start together), or with
        # auto_migrate=0 checked; a schema we refuse (old, or newer than this code) stops the start
        # with SchemaError saying what to run. Not a StorageUnavailable: never serve on it.
        storage.create_all()
    except StorageUnavailable as exc:
        # The site still serves articles and search; submissions are spooled until it is back.
        log.error("database unavailable at start-up: %s", exc)
    app.extensions["hc_storage"] = storage
    from ..support.delivery import Outbox, spool_path

    app.extensions["hc_spool_dir"] = spool_path(settings)
    if settings.outbox_worker:
        # Delivers notifications and replays the spool; safe in every process of every node.
        app.extensions["hc_outbox"] = Outbox(storage, settings, secret=app.config["SECRET_KEY"]).start()
    from ..support.privacy import start_retention

    # Now, then hourly: held screenshots of abandoned forms always; requests solved more than
    # solved_close_days ago are closed; personal data is purged when retention_days is set.
    app.extensions["hc_retention"] = start_retention(storage, upload_dir, settings.retention_days,
                                                     solved_close_days=settings.solved_close_days)

    csrf.init_app(app)
    limiter.init_app(app)
    from flask_compress import Compress

    # zstd, br or gzip for pages, CSS, JS, JSON and the sitemap, whichever the client takes; a
    # revalidation after compressing still gets its 304 (helpcenter.web.seo.conditional).
    Compress(app)
    from .auth import login_manager

    login_manager.init_app(app)  # staff sign-in for /admin (accounts: `helpcenter staff add`)
    if os.environ.get("HELPCENTER_ADMIN_TOKEN"):
        log.warning("HELPCENTER_ADMIN_TOKEN is set but ignored: /admin now uses staff accounts. Make the "
                    "first admin with `helpcenter staff add you@example.com --role admin`, then remove the token.")

    from . import admin, api, assist, browse, channels, escalate, inbox, inbox_actions, search_views, staff_admin, status

    app.register_blueprint(browse.bp)
    app.register_blueprint(search_views.bp)
    app.register_blueprint(escalate.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(assist.bp)  # POST /api/assist: the assistant, one turn at a time
    app.register_blueprint(channels.bp)  # /channels/wechat, /channels/line: signed by the platforms
    csrf.exempt(channels.bp)  # no browser session: every request is checked by its platform signature
    from . import widget

    app.register_blueprint(widget.bp)  # /widget.js and the panel it frames (no cookies: see its doc)
    csrf.exempt(widget.assist_api)
    csrf.exempt(widget.escalations_api)
    app.register_blueprint(admin.bp)
    app.register_blueprint(staff_admin.bp)
    app.register_blueprint(inbox.bp)  # /admin/inbox: requests, for agents
    app.register_blueprint(inbox_actions.bp)  # the forms on a request's page: reply, note, assign, solve
    app.register_blueprint(status.bp)  # /requests/<token>: 我的求助, for the requester
    from . import assets, seo

    app.register_blueprint(assets.bp)  # /assets/<hash>.png: article images, cached for a year
    app.register_blueprint(seo.bp)  # /sitemap.xml, /robots.txt
    from .brand import init_brand

    init_brand(app, settings.brand_color, settings.brand_logo)  # /brand/<hash>.css and the logo, cached a year
    from .tracking import client_visit

    app.before_request(client_visit)  # an API client's own visit id (X-Visit-Id), checked up front

    @app.context_processor
    def _globals() -> dict[str, Any]:
        # max_query_chars: the search box's maxlength, so a full box always fits the server's request line
        from flask_babel import gettext

        # The default name has a translation; a configured one is shown as written.
        return {"site_name": gettext(settings.site_name), "max_query_chars": settings.max_query_chars}

    @app.after_request
    def _security_headers(resp):  # type: ignore[no-untyped-def]
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers["X-Content-Type-Options"] = "nosniff"
        if request.endpoint != "widget.panel":  # the panel is framed by the widget's hosts (its CSP says which)
            resp.headers["X-Frame-Options"] = "DENY"
        resp.headers.setdefault("Referrer-Policy", "same-origin")  # the status page sends none (its URL is a key)
        return add_hsts(resp)

    _register_errors(app)
    return app


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/widget/api/")) or request.path == "/healthz"


def _register_errors(app: Flask) -> None:
    messages = {  # lazy: translated per request, in the reader's locale
        400: _l("请求无效。"), 403: _l("您的账号没有权限查看这个页面。"), 404: _l("页面不存在。"),
        405: _l("不支持这种请求方式。"), 413: _l("上传的内容太大了。"), 429: _l("操作太频繁，请稍后再试。"),
        500: _l("服务器出错了，请稍后再试。"), 503: _l("服务暂时不可用，请稍后再试。"),
    }

    codes = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 413: "too_large",
             429: "rate_limited", 500: "internal_error", 503: "unavailable"}

    def render(code: int, message: str, fields: dict[str, list[str]] | None = None,
               error_code: str | None = None):  # type: ignore[no-untyped-def]
        message = str(message)  # a lazy string from ``messages``: translated now
        if wants_json():  # the API's error shape (helpcenter.web.errors)
            from .errors import error_response

            return error_response(code, message, fields, error_code or codes.get(code, "error"))
        return render_template("error.html", code=code, message=message), code

    @app.errorhandler(CSRFError)
    def _csrf(e: CSRFError):  # type: ignore[no-untyped-def]
        return render(400, _("表单已过期或缺少安全令牌（CSRF），请刷新页面后重新提交。"), error_code="csrf_failed")

    @app.errorhandler(413)
    def _too_large(e: HTTPException):  # type: ignore[no-untyped-def]
        from .uploads import too_large_message

        return render(413, too_large_message())  # what is too large for this endpoint

    @app.errorhandler(429)
    def _rate(e: HTTPException):  # type: ignore[no-untyped-def]
        return render(429, _("操作太频繁，请稍后再试。"))

    @app.errorhandler(IndexError_)
    def _no_index(e: IndexError_):  # type: ignore[no-untyped-def]
        log.error("index unavailable: %s", e)
        return render(503, _("搜索和文章暂时不可用（索引未就绪），您仍可以提交求助表单。"), error_code="index_unavailable")

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):  # type: ignore[no-untyped-def]
        return render(e.code or 500, messages.get(e.code or 500, e.description or ""))

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):  # type: ignore[no-untyped-def]
        log.exception("unhandled error on %s", redact(request.path))  # no status-link tokens in logs
        return render(500, messages[500])

    @app.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        searcher: Searcher = app.extensions["hc_searcher"]
        storage_ok = app.extensions["hc_storage"].ping()
        try:
            idx = searcher.index()
            index_info: dict[str, Any] = {"build": idx.build_id, "articles": len(idx.articles),
                                          "model": idx.model, "ok": True}
        except IndexError_ as exc:
            index_info = {"ok": False, "error": str(exc)}
        if searcher.handle.last_error and index_info.get("ok"):
            index_info["last_reload_error"] = searcher.handle.last_error
        ok = bool(index_info["ok"]) and storage_ok
        body: dict[str, Any] = {"ok": ok, "index": index_info, "database": storage_ok}
        try:  # informative only: pending/failed notifications and requests spooled on this node
            from ..support.delivery import spooled_files

            body["spooled"] = len(spooled_files(app.extensions["hc_spool_dir"]))
            if storage_ok:
                body["outbox"] = app.extensions["hc_storage"].outbox_counts()
        except Exception as exc:
            log.warning("healthz: outbox status unavailable: %s", exc)
        body["requests"] = None  # informative only: requests nobody has looked at yet, and for how long
        try:
            if storage_ok:
                from ..support.inbox import unhandled

                body["requests"] = unhandled(app.extensions["hc_storage"]).as_json()
        except Exception as exc:
            log.warning("healthz: request counts unavailable: %s", exc)
        return jsonify(body), 200 if ok else 503

    @app.before_request
    def _start() -> None:
        g.settings = app.extensions["hc_settings"]
