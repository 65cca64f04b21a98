"""/admin: the writers' report (search analytics, votes, escalations), behind a token.

Off (404) unless ``admin_token`` is set. Sign-in is a CSRF-protected form that
posts the token; it is compared in constant time and a session flag derived
from it (and the secret key) is set, so changing the token signs everyone out.
The token never appears in a URL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from typing import Any

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, session, url_for
from sqlalchemy.exc import SQLAlchemyError

from ..insights.report import build_report, default_period, period_problem
from . import limiter

bp = Blueprint("admin", __name__, url_prefix="/admin")
log = logging.getLogger(__name__)

SESSION_KEY = "hc_admin"


def _token() -> str:
    return current_app.extensions["hc_settings"].admin_token


def _mark(token: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"helpcenter-admin:" + token.encode(), hashlib.sha256).hexdigest()


def signed_in() -> bool:
    mark = session.get(SESSION_KEY)
    return isinstance(mark, str) and hmac.compare_digest(mark, _mark(_token()))


@bp.before_request
def _only_when_enabled() -> None:
    if not _token():
        abort(404)


@bp.after_request
def _private(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Robots-Tag"] = "noindex, nofollow"
    return resp


def login_account_key() -> str:
    """The limiter key of the account a sign-in is for (normalised), "" when none was given.

    Ready for staff accounts, not in use yet: today's sign-in form posts only the
    shared token, the view reads no ``account`` field, so this is always "" and
    only the per-address budgets apply. Once staff accounts post ``account``,
    failed sign-ins are also counted per account, from any address.
    """
    account = " ".join((request.form.get("account") or "").split()).casefold()
    return f"admin-account:{account}" if account else ""


def _failed(resp: Response) -> bool:
    # Only failed sign-ins use up the budget: staff signing in often are never locked out.
    return resp.status_code == 403


def _login_limit() -> str:
    return current_app.extensions["hc_settings"].rate_limit_login


def _attempts_limit() -> str:
    return current_app.extensions["hc_settings"].rate_limit_login_attempts


@bp.post("/login")
# Its own budgets (per address, per account), apart from the public forms' "forms" budget:
# guessing at the token never costs the people behind the same address their contact form.
# Flask-Limiter only *tests* a deduct_when budget before the request and deducts after the
# answer, so guesses sent in parallel would all pass it; the attempts budget is counted as
# each request arrives and caps them (the failed-only budget stays the strict one).
@limiter.shared_limit(_attempts_limit, scope="admin-login-attempts")
@limiter.shared_limit(_login_limit, scope="admin-login-address", deduct_when=_failed)
@limiter.shared_limit(_login_limit, scope="admin-login-account", key_func=login_account_key,
                      exempt_when=lambda: not login_account_key(), deduct_when=_failed)
def login():  # type: ignore[no-untyped-def]
    given = (request.form.get("token") or "").strip()
    if given and hmac.compare_digest(given.encode(), _token().encode()):
        session[SESSION_KEY] = _mark(_token())
        return redirect(url_for("admin.index"))
    log.warning("admin: wrong token")
    return render_template("admin_login.html", error=True), 403


@bp.post("/logout")
def logout():  # type: ignore[no-untyped-def]
    session.pop(SESSION_KEY, None)
    return redirect(url_for("admin.index"))


class PeriodError(ValueError):
    """The dates asked for cannot be reported on; the message says why, in Chinese."""


def _period() -> tuple[dt.date, dt.date, str | None]:
    """The days asked for (default: the last 30), and a notice when they had to be swapped.

    Raises PeriodError for a malformed or out-of-range date: the page then answers 400
    with the dates as typed, rather than a report for a period nobody asked for.
    """
    tz = current_app.extensions["hc_settings"].support_timezone
    since, until = default_period(tz)
    notice = None
    try:
        if request.args.get("since"):
            since = dt.date.fromisoformat(request.args["since"])
        if request.args.get("until"):
            until = dt.date.fromisoformat(request.args["until"])
    except ValueError:
        raise PeriodError("日期格式应为 YYYY-MM-DD（例如 2026-11-01），请修改后再查看。") from None
    problem = period_problem(since, until)
    if problem:
        raise PeriodError(problem)
    if until < since:
        notice = "结束日期早于开始日期，已对调。"
        since, until = until, since
    return since, until, notice


def _refused(exc: PeriodError) -> tuple[str, int]:
    typed = {k: request.args.get(k, "") for k in ("since", "until")}
    return render_template("admin.html", report=None, since=typed["since"], until=typed["until"],
                           error=str(exc), outage=False), 400


def _report(since: dt.date, until: dt.date) -> Any:
    settings = current_app.extensions["hc_settings"]
    searcher = current_app.extensions["hc_searcher"]
    try:
        titles = {a: art["title"] for a, art in searcher.index().articles.items()}
    except Exception:  # the report does not need the index; ids stand in for titles
        titles = {}
    return build_report(current_app.extensions["hc_storage"], lambda: searcher.embedder, since, until,
                        timezone=settings.support_timezone, threshold=settings.report_cluster_threshold,
                        titles=titles)


@bp.get("")
@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    if not signed_in():
        return render_template("admin_login.html", error=False)
    try:
        since, until, error = _period()
    except PeriodError as exc:
        return _refused(exc)
    try:
        report = _report(since, until)
    except SQLAlchemyError as exc:
        log.error("admin report: database unavailable: %s", exc)
        return render_template("admin.html", report=None, since=since, until=until, error=error,
                               outage=True), 503
    return render_template("admin.html", report=report, since=since, until=until, error=error, outage=False)


@bp.get("/report.csv")
def report_csv():  # type: ignore[no-untyped-def]
    if not signed_in():
        return redirect(url_for("admin.index"))
    try:
        since, until, _notice = _period()
    except PeriodError as exc:
        return _refused(exc)
    try:
        report = _report(since, until)
    except SQLAlchemyError as exc:
        log.error("admin report: database unavailable: %s", exc)
        abort(503)
    # With a BOM so spreadsheet programs read the Chinese text as UTF-8.
    return Response("\ufeff" + report.to_csv(), mimetype="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="helpcenter-report-{since}-{until}.csv"'})
