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
import io
import logging
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from PIL import Image, UnidentifiedImageError
from werkzeug.datastructures import FileStorage
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import Email, Length, Optional, ValidationError

from ..engine.index import IndexError_
from ..support.delivery import planned_deliveries, write_spool
from ..support.storage import NewAttachment, StorageUnavailable
from . import context, limiter, tracking

bp = Blueprint("escalate", __name__)
log = logging.getLogger(__name__)

PHONE_RE = re.compile(r"^\+?[0-9][0-9 \-]{5,19}$")
IMAGE_TYPES = {"PNG": ("image/png", ".png"), "JPEG": ("image/jpeg", ".jpg"),
               "GIF": ("image/gif", ".gif"), "WEBP": ("image/webp", ".webp")}
OTHER_CATEGORY = ("other", "其他问题")


class EscalationForm(FlaskForm):
    name = StringField("姓名（选填）", validators=[Optional(), Length(max=100)])
    email = StringField("电子邮箱", validators=[Optional(), Length(max=254), Email(message="请输入有效的电子邮箱地址")])
    phone = StringField("手机号", validators=[Optional(), Length(max=32)])
    category = SelectField("问题类别", validate_choice=True)
    subject = StringField("主题", validators=[Length(min=2, max=120, message="主题需要 2 到 120 个字")])
    description = TextAreaField("问题描述", validators=[
        Length(min=10, max=5000, message="请用 10 到 5000 个字描述问题")])
    device = StringField("设备型号 / 系统版本（选填）", validators=[Optional(), Length(max=200)])
    order_number = StringField("订单号或交易号（选填）", validators=[Optional(), Length(max=64)])
    website = StringField("请勿填写")  # honeypot: hidden from people, filled by bots

    def validate_phone(self, field: StringField) -> None:
        if field.data and not PHONE_RE.match(field.data.strip()):
            raise ValidationError("请输入有效的手机号（数字，可带 + 和空格）")

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if not (self.email.data or "").strip() and not (self.phone.data or "").strip():
            self.email.errors = list(self.email.errors) + ["请至少留下电子邮箱或手机号，方便我们联系您"]
            ok = False
        if (self.website.data or "").strip():
            self.website.errors = list(self.website.errors) + ["invalid"]
            ok = False
        return ok


def category_choices() -> list[tuple[str, str]]:
    try:
        idx = current_app.extensions["hc_searcher"].index()
        choices = [(c["id"], c["name"]) for c in idx.categories.values()]
    except IndexError_:  # the form must work even without an index
        choices = []
    return choices + [OTHER_CATEGORY]


@dataclass
class Upload:
    data: bytes
    original_name: str
    content_type: str
    ext: str


def check_uploads(files: list[FileStorage]) -> tuple[list[Upload], list[str]]:
    """Images only, verified by decoding their content, each within the size limit."""
    settings = current_app.extensions["hc_settings"]
    limit = settings.max_upload_mb * 1024 * 1024
    files = [f for f in files if f and f.filename]
    errors: list[str] = []
    if len(files) > settings.max_uploads:
        return [], [f"最多上传 {settings.max_uploads} 张截图"]
    out = []
    for f in files:
        data = f.stream.read(limit + 1)
        name = Path(f.filename or "screenshot").name[:255]
        if len(data) > limit:
            errors.append(f"{name}：超过 {settings.max_upload_mb} MB")
            continue
        try:
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format or ""
                img.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            errors.append(f"{name}：不是有效的图片（支持 PNG、JPEG、GIF、WebP）")
            continue
        if fmt not in IMAGE_TYPES:
            errors.append(f"{name}：不支持的图片格式 {fmt}（支持 PNG、JPEG、GIF、WebP）")
            continue
        ctype, ext = IMAGE_TYPES[fmt]
        out.append(Upload(data, name, ctype, ext))
    return out, errors


def save_uploads(uploads: list[Upload]) -> list[NewAttachment]:
    """Random names in a folder the web server never serves."""
    folder: Path = current_app.extensions["hc_upload_dir"]
    saved = []
    for u in uploads:
        stored = secrets.token_hex(16) + u.ext
        (folder / stored).write_bytes(u.data)
        saved.append(NewAttachment(stored, u.original_name, u.content_type, len(u.data)))
    return saved


@dataclass
class Queued:
    """A request spooled while the database was down: it has its reference already."""
    reference: str
    created_at: dt.datetime
    queued: bool = True


def submit(form: EscalationForm, files: list[FileStorage], visit: dict[str, Any]) -> tuple[Any, dict[str, list[str]]]:
    """Validate and store; returns (escalation, {}), (Queued, {}) when the database is down and
    the request was spooled, or (None, field errors). Raises StorageUnavailable only when the
    request could be neither stored nor spooled."""
    form.category.choices = category_choices()
    valid = form.validate()
    uploads, upload_errors = check_uploads(files)
    errors = {name: list(f.errors) for name, f in form._fields.items() if f.errors}
    if upload_errors:
        errors["screenshots"] = upload_errors
    if not valid or upload_errors:
        return None, errors
    fields = {
        "name": (form.name.data or "").strip() or None,
        "email": (form.email.data or "").strip().lower() or None,
        "phone": re.sub(r"[ \-]", "", form.phone.data or "") or None,
        "category": form.category.data,
        "subject": form.subject.data.strip(),
        "description": form.description.data.strip(),
        "device": (form.device.data or "").strip() or None,
        "order_number": (form.order_number.data or "").strip() or None,
    }
    attachments = save_uploads(uploads)
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
            for a in attachments:  # nothing orphaned; the person still has their text
                (current_app.extensions["hc_upload_dir"] / a.stored_name).unlink(missing_ok=True)
            raise exc from None
        log.warning("request %s spooled; it is stored when the database is back", reference)
        return Queued(reference, created), {}
    tracking.mark_escalated(visit)  # search analytics: this visit ended in an escalation
    outbox = current_app.extensions.get("hc_outbox")
    if outbox is not None:
        outbox.wake()  # deliver now rather than at the next poll
    return esc, {}


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
    if request.method == "GET":
        form.subject.data = visit["query"][:120] or None
        last = (visit["unhelpful"] or visit["read"] or [""])[-1]
        if last in articles:
            form.category.data = articles[last]["category"]
        return render_template("contact.html", form=form, visit=visit, articles=articles, errors={})
    try:
        esc, errors = submit(form, request.files.getlist("screenshots"), visit)
    except StorageUnavailable:
        return render_template("contact.html", form=form, visit=visit, articles=articles, errors={},
                               outage=True), 503
    if esc is None:
        return render_template("contact.html", form=form, visit=visit, articles=articles, errors=errors), 400
    session["last_reference"] = esc.reference
    if isinstance(esc, Queued):  # any node can show the page: what it needs travels in the session
        session["queued"] = {"reference": esc.reference, "created_at": esc.created_at.isoformat()}
    return redirect(url_for("escalate.done", reference=esc.reference))


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
        return render_template("queued.html", reference=reference, due=due, hours=hours.describe())
    due = expected_reply(esc.created_at).astimezone(hours.tz)
    return render_template("done.html", esc=esc, due=due, hours=hours.describe())
