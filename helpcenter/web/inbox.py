"""/admin/inbox: the requests people sent, for agents (and admins), read-only for now.

The list and the detail page read :mod:`helpcenter.support.inbox`, like ``helpcenter requests``,
so the site and the command line show the same rows. Screenshots are personal data: served
only to signed-in agents, only by a name found among that request's own attachments (the
name typed in the URL is never joined to a path), never cached, and with a CSP that lets a
browser show the image and nothing else.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from urllib.parse import quote

from flask import Blueprint, abort, current_app, render_template, request, send_file, url_for
from flask_login import current_user

from ..db import utcnow
from ..support import inbox
from ..support.storage import StorageUnavailable
from .auth import no_store, role_required

bp = Blueprint("inbox", __name__, url_prefix="/admin/inbox")
log = logging.getLogger(__name__)
bp.after_request(no_store)

PER_PAGE = 25
AGES = (1, 7, 30, 90)  # the "created in the last N days" choices
STATUS_NAMES = {"new": "新建", "open": "处理中", "pending": "等待回复", "solved": "已解决", "closed": "已关闭"}
DELIVERY_NAMES = {"pending": "等待发送", "sending": "发送中", "delivered": "已送达", "failed": "发送失败"}
CHANNEL_NAMES = {"support_email": "发给客服邮箱", "confirmation_email": "给求助人的确认邮件", "webhook": "Webhook"}
IMAGE_CSP = "default-src 'none'; img-src 'self'; sandbox"


def _index_info() -> tuple[dict[str, str], dict[str, str]]:
    """Article and category titles from the published index; empty when it is not available
    (the pages then show ids rather than fail)."""
    try:
        idx = current_app.extensions["hc_searcher"].index()
        return ({a: art["title"] for a, art in idx.articles.items()},
                {c["id"]: c["name"] for c in idx.categories.values()})
    except Exception as exc:
        log.warning("inbox: index unavailable, showing ids: %s", exc)
        return {}, {}


def _due(created: dt.datetime) -> dt.datetime:
    settings = current_app.extensions["hc_settings"]
    return current_app.extensions["hc_hours"].response_due(created, settings.response_hours)


def _filters() -> tuple[dict[str, Any], dict[str, str]]:
    """The filters asked for (as query arguments) and as typed, so the form shows them again.
    A value that is not one of the choices is ignored rather than refused: it came from a link."""
    args = request.args
    typed = {"status": args.get("status", ""), "category": args.get("category", ""),
             "age": args.get("age", ""), "overdue": "1" if args.get("overdue") else ""}
    query: dict[str, Any] = {"category": typed["category"] or None}
    if typed["status"] not in inbox.STATUSES:
        typed["status"] = ""
    if typed["age"].isdigit() and int(typed["age"]) in AGES:
        query["since"] = utcnow() - dt.timedelta(days=int(typed["age"]))
    else:
        typed["age"] = ""
    if typed["overdue"]:
        settings = current_app.extensions["hc_settings"]
        cutoff = inbox.overdue_cutoff(current_app.extensions["hc_hours"], settings.response_hours, utcnow())
        # Nothing is overdue yet: a cutoff before any request keeps the list (and counts) empty.
        query["overdue_before"] = cutoff or dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return query, typed


@bp.get("")
@bp.get("/")
@role_required("agent")
def index():  # type: ignore[no-untyped-def]
    query, typed = _filters()
    page = max(1, request.args.get("page", 1, type=int) or 1)
    storage = current_app.extensions["hc_storage"]
    _titles, categories = _index_info()
    page_data: dict[str, Any] = {"typed": typed, "statuses": STATUS_NAMES, "ages": AGES, "categories": categories,
                                 "requests": [], "counts": {}, "total": 0, "page": page, "pages": 1,
                                 "outage": False, "now": utcnow(), "tz": current_app.extensions["hc_hours"].tz}
    try:
        counts = inbox.status_counts(storage, **query)
        total = inbox.count_requests(storage, status=typed["status"] or None, **query)
        pages = max(1, -(-total // PER_PAGE))
        page = min(page, pages)
        rows = inbox.list_requests(storage, status=typed["status"] or None, limit=PER_PAGE,
                                   offset=(page - 1) * PER_PAGE, **query)
    except StorageUnavailable as exc:
        log.error("inbox: database unavailable: %s", exc)
        return render_template("inbox.html", **{**page_data, "outage": True}), 503
    links = {k: v for k, v in typed.items() if v}
    page_data.update(counts=counts, total=total, page=page, pages=pages, links=links,
                     requests=[(esc, _due(esc.created_at)) for esc in rows])
    return render_template("inbox.html", **page_data)


@bp.get("/<reference>")
@role_required("agent")
def detail(reference: str):  # type: ignore[no-untyped-def]
    try:
        found = inbox.get_request(current_app.extensions["hc_storage"], reference)
    except StorageUnavailable as exc:
        log.error("inbox: database unavailable: %s", exc)
        abort(503)
    if found is None:
        abort(404)
    esc = found.escalation
    titles, categories = _index_info()
    due = _due(esc.created_at)
    now = utcnow()
    return render_template("inbox_detail.html", esc=esc, deliveries=found.deliveries, context=inbox.visit_context(esc),
                           titles=titles, categories=categories, due=due,
                           overdue=due <= now and esc.status in inbox.AWAITING_ANSWER,
                           statuses=STATUS_NAMES, delivery_names=DELIVERY_NAMES, channel_names=CHANNEL_NAMES,
                           tz=current_app.extensions["hc_hours"].tz, hours=current_app.extensions["hc_hours"])


@bp.get("/<reference>/files/<stored_name>")
@role_required("agent")
def screenshot(reference: str, stored_name: str):  # type: ignore[no-untyped-def]
    try:
        esc = current_app.extensions["hc_storage"].get_escalation(inbox.normalise_reference(reference))
    except StorageUnavailable as exc:
        log.error("inbox: database unavailable: %s", exc)
        abort(503)
    # Only a name stored for this request; the path comes from the database row, not the URL.
    att = next((a for a in (esc.attachments if esc else []) if a.stored_name == stored_name), None)
    if att is None:
        abort(404)
    folder = current_app.extensions["hc_upload_dir"]
    path = folder / att.stored_name
    if path.parent != folder or not path.is_file():
        abort(404)  # purged by retention, or removed by hand
    resp = send_file(path, mimetype=att.content_type, conditional=False, etag=False, max_age=0)
    disposition = "inline" if att.content_type.startswith("image/") else "attachment"
    resp.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(att.original_name, safe='')}"
    resp.headers["Content-Security-Policy"] = IMAGE_CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


@bp.app_context_processor
def _inbox_link() -> dict[str, Any]:
    """Whether the signed-in account may open the inbox (for links in the staff pages' header)."""
    def can_open() -> bool:
        return bool(getattr(current_user, "is_authenticated", False) and current_user.role in ("agent", "admin"))
    return {"can_open_inbox": can_open, "inbox_url": lambda: url_for("inbox.index")}
