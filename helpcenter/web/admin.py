"""/admin: the writers' report (search analytics, votes, escalations), for signed-in staff.

Staff sign in with their own account (``helpcenter staff add``; :mod:`.auth`): a CSRF-protected
form posting e-mail and password, a generic refusal that never tells whether the address has
an account, a new session at sign-in, and budgets per address and per account so guessing
never costs the public forms. Roles: the report is for writers and admins, and so are the
questions search learned from use (:mod:`helpcenter.insights.learning`), which they accept or
block here.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import (Blueprint, Response, abort, current_app, flash, redirect, render_template, request, session,
                   url_for)
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from sqlalchemy.exc import SQLAlchemyError

from ..engine.text import normalise
from ..locales import Locales
from ..insights import learning
from ..insights.report import build_report, default_period, period_problem
from ..support import staff as accounts
from . import limiter
from .auth import StaffUser, no_store, role_required

bp = Blueprint("admin", __name__, url_prefix="/admin")
log = logging.getLogger(__name__)


bp.after_request(no_store)


def login_account_key() -> str:
    """The limiter key of the account a sign-in is for (normalised as stored), "" when none was given.

    Failed sign-ins are counted per account as well as per address, so guessing one
    account's password from many addresses is limited too (whether or not it exists).
    """
    account = accounts.normalise_email(request.form.get("email") or "")
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
# guessing passwords never costs the people behind the same address their contact form.
# Flask-Limiter only *tests* a deduct_when budget before the request and deducts after the
# answer, so guesses sent in parallel would all pass it; the attempts budget is counted as
# each request arrives and caps them (the failed-only budget stays the strict one).
@limiter.shared_limit(_attempts_limit, scope="admin-login-attempts")
@limiter.shared_limit(_login_limit, scope="admin-login-address", deduct_when=_failed)
@limiter.shared_limit(_login_limit, scope="admin-login-account", key_func=login_account_key,
                      exempt_when=lambda: not login_account_key(), deduct_when=_failed)
def login():  # type: ignore[no-untyped-def]
    email = (request.form.get("email") or "").strip()
    try:
        info = accounts.verify(current_app.extensions["hc_storage"], email, request.form.get("password") or "")
    except SQLAlchemyError as exc:
        log.error("staff sign-in: database unavailable: %s", exc)
        return render_template("admin_login.html", error=False, outage=True, email=email), 503
    if info is None:
        # One answer for an unknown address, a wrong password and a disabled account.
        log.warning("staff sign-in failed")
        return render_template("admin_login.html", error=True, email=email), 403
    session.clear()  # a new session: nothing from before sign-in (CSRF token included) carries over
    login_user(StaffUser(info), fresh=True)
    # Agents have no report: their start page is the inbox.
    return redirect(url_for("inbox.index" if info.role == "agent" else "admin.index"))


@bp.post("/logout")
def logout():  # type: ignore[no-untyped-def]
    if current_user.is_authenticated:
        # Ends every session of the account, a copied cookie included: a signed cookie cannot
        # be revoked one by one, so the account's session version goes up.
        try:
            accounts.end_sessions(current_app.extensions["hc_storage"], current_user.info.id)
        except SQLAlchemyError as exc:
            log.error("staff logout: database unavailable: %s", exc)
    logout_user()
    session.clear()
    return redirect(url_for("admin.index"))


class PeriodError(ValueError):
    """The dates asked for cannot be reported on; the message says why, in the reader's locale."""


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
        raise PeriodError(_("日期格式应为 YYYY-MM-DD（例如 2026-11-01），请修改后再查看。")) from None
    problem = period_problem(since, until)
    if problem:
        raise PeriodError(problem)
    if until < since:
        notice = _("结束日期早于开始日期，已对调。")
        since, until = until, since
    return since, until, notice


def _refused(exc: PeriodError) -> tuple[str, int]:
    typed = {k: request.args.get(k, "") for k in ("since", "until")}
    return render_template("admin.html", report=None, since=typed["since"], until=typed["until"],
                           error=str(exc), outage=False), 400


def _titles() -> dict[str, str] | None:
    """Article titles by id; None when the index is unavailable (the report does not need it)."""
    try:
        return {a: art["title"] for a, art in current_app.extensions["hc_searcher"].index().articles.items()}
    except Exception:  # ids stand in for titles
        return None


def _report(since: dt.date, until: dt.date) -> Any:
    settings = current_app.extensions["hc_settings"]
    searcher = current_app.extensions["hc_searcher"]
    return build_report(current_app.extensions["hc_storage"], lambda: searcher.embedder, since, until,
                        timezone=settings.support_timezone, threshold=settings.report_cluster_threshold,
                        titles=_titles() or {}, default_locale=Locales.parse(settings.locales).default)


LEARNED_SHOWN = 50  # candidates and decisions listed on the page


def _learned() -> dict[str, Any]:
    """The section "搜索学到的问题": candidates to decide on, and the decisions made."""
    settings, storage = current_app.extensions["hc_settings"], current_app.extensions["hc_storage"]
    options = {"half_life_days": settings.learn_half_life_days, "normalise": normalise}
    found = learning.candidates(storage, settings.learn_threshold, **options)
    demoted = learning.demotions(storage, settings.learn_threshold, **options) if settings.learning != "off" else []
    return {"candidates": found[:LEARNED_SHOWN], "more": max(len(found) - LEARNED_SHOWN, 0),
            "demoted": demoted[:LEARNED_SHOWN], "demote_max": settings.demote_max, "min_visits": learning.MIN_VISITS,
            "decisions": learning.decisions(storage)[:LEARNED_SHOWN], "mode": settings.learning,
            "threshold": settings.learn_threshold, "half_life": settings.learn_half_life_days,
            "titles": _titles() or {}, "yaml_line": learning.yaml_line}


@bp.get("")
@bp.get("/")
@role_required("writer")
def index():  # type: ignore[no-untyped-def]
    try:
        since, until, error = _period()
    except PeriodError as exc:
        return _refused(exc)
    try:
        report = _report(since, until)
        learned = _learned()
    except SQLAlchemyError as exc:
        log.error("admin report: database unavailable: %s", exc)
        return render_template("admin.html", report=None, since=since, until=until, error=error,
                               outage=True), 503
    return render_template("admin.html", report=report, since=since, until=until, error=error, outage=False,
                           learned=learned)


@bp.get("/report.csv")
@role_required("writer")
def report_csv():  # type: ignore[no-untyped-def]
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


DECIDED = {"accepted": _l("已采纳"), "blocked": _l("已屏蔽")}  # the labels are lazy: str() at use


def _per_account() -> str:
    return f"staff:{current_user.get_id()}" if current_user.is_authenticated else request.remote_addr or "-"


@bp.post("/learned")
@role_required("writer")
@limiter.shared_limit(lambda: current_app.extensions["hc_settings"].rate_limit_api, scope="admin-learned",
                      key_func=_per_account)
def learned():  # type: ignore[no-untyped-def]
    """Accept or block a learned question (the buttons of "搜索学到的问题"), then back to the report."""
    query, article = request.form.get("query", ""), request.form.get("article", "").strip()
    status = request.form.get("status", "")
    back = url_for("admin.index", since=request.form.get("since") or None,
                   until=request.form.get("until") or None) + "#learned"
    titles = _titles()
    problem = None
    if status not in DECIDED:
        problem = _("未知的操作：只能“采纳”或“屏蔽”。")
    elif not query.strip() or not article:
        problem = _("缺少搜索内容或文章，这次决定没有保存。")
    elif titles is not None and article not in titles:
        problem = _("没有这篇文章：%(article)s。它可能已被删除或改名，请刷新页面。", article=article)
    if problem:
        return render_template("error.html", code=400, message=problem), 400
    try:
        # The query as the candidate list showed it (already in the search log's form): not normalised
        # again, so the decision always matches the evidence it was made on.
        decision = learning.decide(current_app.extensions["hc_storage"], query, article, status,
                                   current_user.email)
    except SQLAlchemyError as exc:
        log.error("learned question: decision not saved, database unavailable: %s", exc)
        return render_template("error.html", code=503,
                               message=_("数据库暂时不可用，这次决定没有保存，请稍后再试。")), 503
    title = (titles or {}).get(article) or article
    flash(_("%(decision)s：“%(query)s” → %(title)s", decision=DECIDED[status], query=decision.query, title=title),
          "info")
    return redirect(back)
