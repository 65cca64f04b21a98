"""我的求助: the requester's status page, opened by the signed link of the done page and e-mails.

The link (:mod:`helpcenter.support.statuslink`) is the only key: no account, no session. A bad,
tampered or expired token, a deleted request and a token whose nonce is not that request's own
all get the same plain 404, so the page never tells whether some request exists. Only the public
part of the timeline is shown (replies as “客服”, the person's own messages): agents' notes and
e-mail addresses never reach it. Every response is never cached, never indexed and sends no
Referer, so the token does not travel to other sites or into caches; the access log redacts it
(helpcenter.web.gunicorn_conf). The routes share a limit of their own (``rate_limit_status``):
guessing links stays slow, and a person who reloads a lot can still use the contact form.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import TextAreaField
from wtforms.validators import ValidationError

from ..db import Escalation, utcnow
from ..support import statuslink, tickets
from ..support.storage import StorageUnavailable
from . import limiter, tracking, uploads
from .i18n import current_locale
from .errors import Coded
from .escalate import multi_line, no_controls

bp = Blueprint("status", __name__, url_prefix=statuslink.PATH.rstrip("/"))
log = logging.getLogger(__name__)

# The requester's words for each status (the inbox has the agents' words); lazy: str() them at use.
STATUS_NAMES = {"new": _l("新建"), "open": _l("处理中"), "pending": _l("等待您的回复"), "solved": _l("已解决"),
                "closed": _l("已关闭")}
AWAITING_US = ("new", "open")  # the statuses that show when to expect an answer
# After a message, what became of the request (tickets.requester_message moves it); lazy, as above.
SENT = {"new": _l("已收到您的补充说明，客服会一并查看。"),
        "open": _l("已收到您的补充说明，客服会一并查看。"),
        "pending": _l("已收到您的回复，求助已转回客服继续处理。"),
        "solved": _l("已收到您的补充说明，求助已重新打开，客服会继续处理。")}

status_limit = limiter.shared_limit(lambda: current_app.extensions["hc_settings"].rate_limit_status, scope="status")


@bp.after_request
def _private(resp: Response) -> Response:
    """The page holds personal data and its address is a key: no cache, no index, no Referer
    (the app's own headers keep a Referrer-Policy already set, see helpcenter.web)."""
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Robots-Tag"] = "noindex, nofollow"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


class MessageForm(FlaskForm):
    body = TextAreaField(_l("补充内容"), filters=[multi_line], validators=[no_controls])

    def validate_body(self, field: TextAreaField) -> None:
        # Counted like tickets counts (trimmed), so the form and the data layer agree on the limit.
        n = len((field.data or "").strip())
        if n == 0:
            raise ValidationError(Coded("required", _("补充内容不能为空")))
        if n > tickets.MAX_BODY:
            raise ValidationError(Coded("too_long", _("补充内容最多 %(max)s 个字（现在 %(n)s 个）",
                                                      max=tickets.MAX_BODY, n=n)))


def _settings() -> Any:
    return current_app.extensions["hc_settings"]


def _storage() -> Any:
    return current_app.extensions["hc_storage"]


def _find(token: str) -> Escalation:
    """The request the token opens, or 404 for every kind of wrong token alike (503: no database)."""
    found = statuslink.read_token(current_app.secret_key, token, _settings().status_link_days)  # type: ignore[arg-type]
    if found is None:
        abort(404)
    reference, nonce = found
    esc = _storage().get_escalation(reference)  # StorageUnavailable: the caller decides
    if esc is None or not statuslink.nonce_matches(esc.status_nonce, nonce):
        abort(404)
    return esc


def _find_or_503(token: str) -> Escalation:
    try:
        return _find(token)
    except StorageUnavailable as exc:
        log.error("status page: database unavailable: %s", exc)
        abort(503)


def _limits(kept: int) -> dict[str, int]:
    """The file field's limits, as on the contact form (app.js checks them before sending)."""
    s = _settings()
    per_file = uploads.file_limit()
    left = max(0, s.max_uploads - kept)
    return {"mb": s.max_upload_mb, "count": s.max_uploads, "left": left, "bytes": per_file, "total": per_file * left}


def _render(token: str, esc: Escalation | None, form: MessageForm, *, errors: dict[str, list[str]] | None = None,
            accepted: list[uploads.Upload] | None = None, pending_token: str = "", outage: bool = False) -> str:
    """The page; ``esc`` None when the database failed before the request could be read (then only
    the outage notice and the person's form, with what they typed, are shown)."""
    settings = _settings()
    hours = current_app.extensions["hc_hours"]
    events, due, can_reopen = None, None, False
    if esc is not None:
        try:
            events = tickets.timeline(_storage(), esc.id, public_only=True)
        except StorageUnavailable as exc:
            log.error("status page: database unavailable: %s", exc)
            outage = True
        if esc.status in AWAITING_US:
            due = hours.response_due(esc.created_at, settings.response_hours)
            # A time already past promises nothing (a request reopened long after it was sent).
            due = due.astimezone(hours.tz) if due > utcnow() else None
        can_reopen = tickets.can_reopen(esc, settings.solved_close_days)
    errors = errors or {}
    kept = uploads.describe(accepted or [])
    return render_template(
        "status.html", token=token, esc=esc, events=events, form=form, errors=errors, outage=outage,
        status_name=str(STATUS_NAMES.get(esc.status, esc.status)) if esc else "", due=due, hours=hours.describe(current_locale()),
        tz=hours.tz, can_reopen=can_reopen, reopen_days=settings.solved_close_days,
        originals=[a for a in (esc.attachments if esc else []) if a.event_id is None],
        kept=kept, pending_token=pending_token, limits=_limits(len(kept)),
        first_error=next((k for k in ("body", "screenshots") if k in errors), ""))


@bp.get("/<token>")
@status_limit
def page(token: str):  # type: ignore[no-untyped-def]
    esc = _find_or_503(token)
    from .i18n import ENVIRON_KEY, ROOT_KEY, locales

    locs = locales()
    if request.environ.get(ENVIRON_KEY) is None and esc.locale in locs.tags and esc.locale != locs.default:
        # A link without a prefix (older e-mails, typed by hand): the page in the requester's locale.
        return redirect(request.environ.get(ROOT_KEY, "") + locs.prefix(esc.locale) + request.path, 302)
    return _render(token, esc, MessageForm(formdata=None))


def _said(exc: tickets.TicketError, body: str = "") -> str:
    """What went wrong, in the requester's locale (support's own messages are 简体)."""
    if exc.code == "required":
        return _("补充内容不能为空")
    if exc.code == "too_long":
        return _("补充内容最多 %(n)s 个字（现在 %(m)s 个）", n=tickets.MAX_BODY, m=len(body))
    if exc.code == "closed":
        return _("这个求助已关闭，请提交新的求助")
    if exc.code == "cannot_reopen":
        return _("只有已解决且在 %(days)s 天内的求助可以重新打开", days=_settings().solved_close_days)
    return str(exc)


def _refuse(token: str, esc: Escalation | None, form: MessageForm, accepted: list[uploads.Upload],
            errors: dict[str, list[str]], code: int) -> tuple[str, int]:
    """The page again with what was typed, and the good screenshots held so nobody picks them twice
    (not for a closed request: it shows no form to send them with)."""
    closed = esc is not None and esc.status == "closed"
    if closed:
        uploads.discard_pending(accepted)
    held = "" if closed else uploads.hold(accepted, tracking.visit_id())
    return _render(token, esc, form, errors=errors, accepted=accepted, pending_token=held,
                   outage=code == 503), code


@bp.post("/<token>/messages")
@status_limit
def message(token: str):  # type: ignore[no-untyped-def]
    form = MessageForm()
    try:
        esc: Escalation | None = _find(token)
    except StorageUnavailable as exc:
        log.error("status page: database unavailable, message not stored: %s", exc)
        esc = None
    kept, kept_errors = uploads.held(request.form.get("pending_uploads", ""), request.form.getlist("remove_pending"),
                                     tracking.visit_id(create=False))
    accepted, upload_errors = uploads.check_uploads(request.files.getlist("screenshots"), kept)
    if esc is None:
        return _refuse(token, None, form, accepted, {}, 503)
    form.validate()  # the CSRF token was checked before the view (CSRFProtect)
    errors: dict[str, list[str]] = {"body": list(form.body.errors)} if form.body.errors else {}
    if kept_errors or upload_errors:
        errors["screenshots"] = list(kept_errors) + list(upload_errors)
    if errors:
        return _refuse(token, esc, form, accepted, errors, 400)
    attachments = uploads.save_uploads(accepted)
    try:
        tickets.requester_message(_storage(), esc.reference, form.body.data, attachments)
    except (tickets.TicketError, StorageUnavailable) as exc:
        folder = current_app.extensions["hc_upload_dir"]
        for a in attachments:  # nothing orphaned: the screenshots are held again below
            (folder / a.stored_name).unlink(missing_ok=True)
        if isinstance(exc, StorageUnavailable):
            log.error("status page: database unavailable, message not stored: %s", exc)
            return _refuse(token, esc, form, accepted, {}, 503)
        if exc.code == "not_found":
            abort(404)  # deleted meanwhile
        # "closed" (closed meanwhile, or a stale page) goes above the form, the rest beside the text.
        field = "body" if exc.code in ("required", "too_long") else "request"
        if exc.code == "closed":
            esc.status = "closed"  # the page shows it as it is now (a detached copy: nothing is written)
        return _refuse(token, esc, form, accepted, {field: [_said(exc, form.body.data or "")]}, 400)
    uploads.discard_pending(accepted)
    outbox = current_app.extensions.get("hc_outbox")
    if outbox is not None:
        outbox.wake()  # agents' notifications, if any, go now rather than at the next poll
    flash(str(SENT.get(esc.status, SENT["open"])), "info")  # str(): the session stores it
    return redirect(url_for("status.page", token=token) + "#conversation")


@bp.post("/<token>/reopen")
@status_limit
def reopen(token: str):  # type: ignore[no-untyped-def]
    esc = _find_or_503(token)
    try:
        tickets.reopen(_storage(), esc.reference, _settings().solved_close_days)
    except tickets.TicketError as exc:
        if exc.code == "not_found":
            abort(404)
        return _render(token, esc, MessageForm(formdata=None), errors={"request": [_said(exc)]}), 400
    except StorageUnavailable as exc:
        log.error("status page: database unavailable, not reopened: %s", exc)
        abort(503)
    flash(_("已重新打开您的求助，客服会继续处理。如有新情况，请在下面补充。"), "info")
    return redirect(url_for("status.page", token=token))


@bp.get("/<token>/files/<stored_name>")
@status_limit
def screenshot(token: str, stored_name: str):  # type: ignore[no-untyped-def]
    esc = _find_or_503(token)
    return uploads.send_attachment(esc.attachments, stored_name)
