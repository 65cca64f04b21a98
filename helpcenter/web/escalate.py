"""仍需帮助: the escalation form, its validation, uploads and the confirmation page.

The same validation serves the HTML form and ``POST /api/escalations``. A
reference is shown only after the request is committed to the database, or,
when the database is down, written durably to the spool (helpcenter.support.delivery),
from where it is stored as soon as the database is back. Only if even the spool
cannot be written does the person get the form back with everything they typed.
Notifications (support inbox, confirmation e-mail, webhook) go through the outbox.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, current_app, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import FileStorage
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import Email, Optional, ValidationError

from ..engine.index import IndexError_
from ..support import statuslink, tickets
from ..support.delivery import planned_deliveries, write_spool
from ..support.storage import StorageUnavailable
from . import context, limiter, tracking, uploads
from .i18n import current_locale, localized_category
from .errors import Coded
from .uploads import Upload, check_uploads, save_uploads

bp = Blueprint("escalate", __name__)
log = logging.getLogger(__name__)

PHONE_RE = re.compile(r"^\+?[0-9][0-9 \-]{5,19}$")
OTHER_CATEGORY = ("other", _l("其他问题"))  # the label is lazy: str() it for the choices
# Line and paragraph breaks of any kind: in a one-line field they become a space (a subject
# with CR/LF could never be an e-mail header). Other control characters are refused.
BREAKS_RE = re.compile(r"[\r\n\t\v\f\x1c-\x1e\x85\u2028\u2029]+")
# Where the fields are on the page, for the error summary and the focus.
FIELD_ORDER = ("subject", "description", "category", "email", "phone", "name", "device", "order_number",
               "screenshots", "website")


def one_line(value: Any) -> Any:
    """Filter for single-line fields: breaks become one space, ends trimmed."""
    return BREAKS_RE.sub(" ", value).strip() if isinstance(value, str) else value


def multi_line(value: Any) -> Any:
    return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) else value


def no_controls(_form: Any, field: Any) -> None:
    allowed = "\n\t" if isinstance(field, TextAreaField) else ""
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in field.data or ""):
        raise ValidationError(Coded("control_characters", _("不能包含控制字符，请删除后重试")))


def length(lo: int, hi: int, message: Any) -> Any:
    """Like wtforms' Length, with a code beside the message (wtforms would format it away).
    ``message`` is a lazy string (fields are made at import): translated when the check fails."""
    def check(_form: Any, field: Any) -> None:
        n = len(field.data or "")
        if n == 0 and lo:
            raise ValidationError(Coded("required", str(message)))
        if n < lo or n > hi:
            raise ValidationError(Coded("too_short" if n < lo else "too_long", str(message)))
    return check


def email_address(_form: Any, field: Any) -> None:
    """wtforms' Email, with a code beside the message translated when the check fails."""
    try:
        Email()(_form, field)
    except ValidationError:
        raise ValidationError(Coded("invalid_email", _("请输入有效的电子邮箱地址"))) from None


def line(label: Any, hi: int, *validators: Any, optional: bool = True) -> StringField:
    pre = [Optional()] if optional else []
    return StringField(label, filters=[one_line], validators=[
        *pre, no_controls, length(0, hi, _l("最多 %(n)s 个字", n=hi)), *validators])


class EscalationForm(FlaskForm):
    # Labels and messages are lazy (made at import, translated in each request's locale).
    name = line(_l("姓名（选填）"), 100)
    email = line(_l("电子邮箱"), 254, email_address)
    phone = line(_l("手机号"), 32)
    category = SelectField(_l("问题类别"), validate_choice=False)  # checked below, with our own message
    subject = StringField(_l("主题"), filters=[one_line], validators=[
        no_controls, length(2, 120, _l("主题需要 2 到 120 个字"))])
    description = TextAreaField(_l("问题描述"), filters=[multi_line], validators=[
        no_controls, length(10, 5000, _l("请用 10 到 5000 个字描述问题"))])
    device = line(_l("设备型号 / 系统版本（选填）"), 200)
    order_number = line(_l("订单号或交易号（选填）"), 64)
    website = StringField(_l("请勿填写"))  # honeypot: hidden from people, filled by bots

    def validate_phone(self, field: StringField) -> None:
        if field.data and not PHONE_RE.match(field.data.strip()):
            raise ValidationError(Coded("invalid_phone", _("请输入有效的手机号（数字，可带 + 和空格）")))

    def validate_category(self, field: SelectField) -> None:
        if field.data not in {value for value, _label in field.choices or []}:
            raise ValidationError(Coded("invalid_choice", _("请选择问题类别")))

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if not (self.email.data or "").strip() and not (self.phone.data or "").strip():
            self.email.errors = list(self.email.errors) + [
                Coded("contact_required", _("请至少留下电子邮箱或手机号，方便我们联系您"))]
            ok = False
        if (self.website.data or "").strip():
            self.website.errors = list(self.website.errors) + [Coded("invalid", _("此项请留空"))]
            ok = False
        return ok


def category_choices() -> list[tuple[str, str]]:
    try:
        idx = current_app.extensions["hc_searcher"].index()
        choices = [(c["id"], localized_category(c)["name"]) for c in idx.categories.values()]
    except IndexError_:  # the form must work even without an index
        choices = []
    return choices + [(OTHER_CATEGORY[0], str(OTHER_CATEGORY[1]))]


@dataclass
class Queued:
    """A request spooled while the database was down: it has its reference already."""
    reference: str
    created_at: dt.datetime
    queued: bool = True


@dataclass
class Outcome:
    """What became of a submission: ``esc`` is the stored escalation or a :class:`Queued` one;
    without it, ``errors`` (field name -> messages with codes) or ``outage`` (neither the
    database nor the spool took it). ``accepted`` are the good screenshots, ``pending_token``
    names them once held for the next try (see helpcenter.web.uploads)."""
    esc: Any = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    accepted: list[Upload] = field(default_factory=list)
    pending_token: str = ""
    outage: bool = False


def submit(form: EscalationForm, files: list[FileStorage], visit: dict[str, Any], *,
           kept: list[Upload] | None = None, kept_errors: list[str] | None = None,
           hold: bool = False, extra_errors: dict[str, list[str]] | None = None) -> Outcome:
    """Validate and store or, when the database is down, spool. ``kept``: screenshots held from
    an earlier try; ``hold``: hold the accepted ones when the request is not taken (the form);
    ``extra_errors``: problems found before the form (the API's wrong types, unknown fields),
    which take the place of the form's own message for that field (a "required" that only
    follows from a refused value)."""
    form.category.choices = category_choices()
    valid = form.validate()
    accepted, upload_errors = check_uploads(files, kept)
    upload_errors = list(kept_errors or []) + upload_errors
    errors = {name: list(f.errors) for name, f in form._fields.items() if f.errors}
    if upload_errors:
        errors["screenshots"] = upload_errors
    errors.update(extra_errors or {})
    if not valid or errors:
        errors = {k: errors[k] for k in sorted(errors, key=lambda k: FIELD_ORDER.index(k)
                                              if k in FIELD_ORDER else len(FIELD_ORDER))}
        # A filled honeypot is a bot: it gets its errors, but parks no files on our disk.
        keep = hold and not (form.website.data or "").strip()
        return Outcome(errors=errors, accepted=accepted,
                       pending_token=uploads.hold(accepted, tracking.visit_id()) if keep else "")
    fields = {
        "name": (form.name.data or "").strip() or None,
        "email": (form.email.data or "").strip().lower() or None,
        "phone": re.sub(r"[ \-]", "", form.phone.data or "") or None,
        "category": form.category.data,
        "subject": form.subject.data.strip(),
        "description": form.description.data.strip(),
        "device": (form.device.data or "").strip() or None,
        "order_number": (form.order_number.data or "").strip() or None,
        "locale": current_locale(),  # their e-mails and status page speak it; agents see it
    }
    attachments = save_uploads(accepted)
    settings = current_app.extensions["hc_settings"]
    try:
        # The notifications are queued in the same transaction (see helpcenter.support.delivery).
        esc = current_app.extensions["hc_storage"].add_escalation(
            fields, visit, attachments, outbox=planned_deliveries(settings, fields))
    except StorageUnavailable as exc:
        log.error("database unavailable, spooling the request: %s", exc)
        try:
            reference, created = write_spool(current_app.extensions["hc_spool_dir"], fields, visit, attachments)
        except OSError:
            log.exception("the spool cannot be written either; the request is not saved")
            for a in attachments:  # nothing orphaned; the person still has their text (and files)
                (current_app.extensions["hc_upload_dir"] / a.stored_name).unlink(missing_ok=True)
            return Outcome(accepted=accepted, outage=True,
                           pending_token=uploads.hold(accepted, tracking.visit_id()) if hold else "")
        log.warning("request %s spooled; it is stored when the database is back", reference)
        uploads.discard_pending(accepted)
        return Outcome(Queued(reference, created))
    uploads.discard_pending(accepted)
    tracking.mark_escalated(visit)  # search analytics: this visit ended in an escalation
    outbox = current_app.extensions.get("hc_outbox")
    if outbox is not None:
        outbox.wake()  # deliver now rather than at the next poll
    return Outcome(esc)


def _limits(kept: int) -> dict[str, int]:
    """What the file field tells the person and the browser (app.js checks before sending):
    ``kept`` screenshots are held already, so only the rest may still be chosen."""
    s = current_app.extensions["hc_settings"]
    per_file = uploads.file_limit()
    left = max(0, s.max_uploads - kept)
    return {"mb": s.max_upload_mb, "count": s.max_uploads, "left": left, "bytes": per_file,
            "total": per_file * left}


def _summary(form: EscalationForm, errors: dict[str, list[str]]) -> list[tuple[str, str, str]]:
    """(field id, label, message) for the list of problems at the top of the form."""
    out = []
    for name, messages in errors.items():
        f = form._fields.get(name)
        label = str(f.label.text) if f is not None else _("截图")
        out += [(f.id if f is not None else name, label, m) for m in messages]
    return out


def expected_reply(created: dt.datetime) -> dt.datetime:
    settings = current_app.extensions["hc_settings"]
    return current_app.extensions["hc_hours"].response_due(created, settings.response_hours)


@bp.route("/contact", methods=["GET", "POST"])
@limiter.shared_limit(lambda: current_app.extensions["hc_settings"].rate_limit_forms, scope="forms",
                      exempt_when=lambda: request.method != "POST")
def contact():  # type: ignore[no-untyped-def]
    visit = context.visit()
    form = EscalationForm()
    form.category.choices = category_choices()
    articles: dict[str, Any] = {}
    try:
        articles = current_app.extensions["hc_searcher"].index().articles
    except IndexError_:
        pass  # no index: the form still works, without article titles in the context box
    page = {"form": form, "visit": visit, "articles": articles, "errors": {}, "kept": [], "pending_token": "",
            "limits": _limits(0), "summary": [], "first_error": ""}
    if request.method in ("GET", "HEAD"):  # HEAD (uptime checks) is a GET without the body, never a submission
        form.subject.data = context.subject_hint(visit["query"])[:120] or None
        last = (visit["unhelpful"] or visit["read"] or [""])[-1]
        if last in articles:
            form.category.data = articles[last]["category"]
        return render_template("contact.html", **page)
    kept, kept_errors = uploads.held(request.form.get("pending_uploads", ""), request.form.getlist("remove_pending"),
                                     tracking.visit_id(create=False))
    outcome = submit(form, request.files.getlist("screenshots"), visit, kept=kept, kept_errors=kept_errors,
                     hold=True)
    if outcome.esc is None:
        page.update(errors=outcome.errors, kept=uploads.describe(outcome.accepted), outage=outcome.outage,
                    pending_token=outcome.pending_token, limits=_limits(len(outcome.accepted)),
                    summary=_summary(form, outcome.errors), first_error=next(iter(outcome.errors), ""))
        return render_template("contact.html", **page), 503 if outcome.outage else 400
    esc = outcome.esc
    session["last_reference"] = esc.reference
    if isinstance(esc, Queued):  # any node can show the page: what it needs travels in the session
        session["queued"] = {"reference": esc.reference, "created_at": esc.created_at.isoformat(),
                             "email": bool((form.email.data or "").strip())}  # the status link comes by e-mail
    return redirect(url_for("escalate.done", reference=esc.reference))


def status_link(reference: str) -> str | None:
    """The absolute link to the request's status page (helpcenter.web.status), to keep or bookmark;
    None while the database cannot give its nonce (the page then shows no link)."""
    try:
        nonce = tickets.status_nonce(current_app.extensions["hc_storage"], reference)
    except StorageUnavailable as exc:
        log.error("status link: database unavailable: %s", exc)
        return None
    if not nonce:
        return None
    token = statuslink.make_token(current_app.secret_key, reference, nonce)  # type: ignore[arg-type]
    return url_for("status.page", token=token, _external=True)


@bp.get("/contact/done/<reference>")
def done(reference: str):  # type: ignore[no-untyped-def]
    # Only the visitor who submitted sees the confirmation (references are not secrets to guess at).
    if session.get("last_reference") != reference:
        return redirect(url_for("escalate.contact"))
    hours = current_app.extensions["hc_hours"]
    try:
        esc = current_app.extensions["hc_storage"].get_escalation(reference)
    except StorageUnavailable:
        esc = None
    if esc is None:
        queued = session.get("queued") or {}
        if queued.get("reference") != reference:
            return redirect(url_for("escalate.contact"))
        due = expected_reply(dt.datetime.fromisoformat(queued["created_at"])).astimezone(hours.tz)
        # No status link before the request is stored; the confirmation e-mail carries it, when there is one.
        settings = current_app.extensions["hc_settings"]
        link_by_email = bool(queued.get("email") and settings.smtp_host and settings.public_url)
        return render_template("queued.html", reference=reference, due=due, hours=hours.describe(current_locale()),
                               link_by_email=link_by_email)
    due = expected_reply(esc.created_at).astimezone(hours.tz)
    resp = make_response(render_template("done.html", esc=esc, due=due, hours=hours.describe(current_locale()),
                                         status_link=status_link(esc.reference)))
    resp.headers["Cache-Control"] = "no-store"  # the page holds the status link, a key to the request
    return resp
