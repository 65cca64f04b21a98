"""/admin/inbox: the requests people sent, for agents (and admins): the list, one request's page.

The list and the detail page read :mod:`helpcenter.support.inbox`, like ``helpcenter requests``,
so the site and the command line show the same rows; what agents *do* (the forms on the detail
page) is :mod:`helpcenter.web.inbox_actions`, which re-renders this page through
:func:`render_detail` when an action is refused. Screenshots are personal data: served only to
signed-in agents, only by a name found among that request's own attachments (the name typed in
the URL is never joined to a path), never cached, and with a CSP that lets a browser show the
image and nothing else.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import Blueprint, abort, current_app, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from ..db import utcnow
from ..engine.index import IndexError_
from ..engine.text import get_tokenizer
from ..support import inbox, tickets
from ..support import staff as accounts
from ..support.storage import StorageUnavailable
from . import uploads
from .auth import no_store, role_required

bp = Blueprint("inbox", __name__, url_prefix="/admin/inbox")
log = logging.getLogger(__name__)
bp.after_request(no_store)

PER_PAGE = 25
AGES = (1, 7, 30, 90)  # the "created in the last N days" choices
# The labels below are lazy (translated where a page shows them): str() one before storing or comparing it.
ASSIGNEES = {"me": _l("我的"), "none": _l("未分配")}  # besides 全部
MAX_QUERY = 200  # the inbox's search box; longer text only makes the SQL longer
ARTICLE_HITS = 8  # articles offered by the solve form's search
STATUS_NAMES = {"new": _l("新建"), "open": _l("处理中"), "pending": _l("等待回复"), "solved": _l("已解决"),
                "closed": _l("已关闭")}
SETTABLE = ("open", "pending", "closed")  # by hand; "solved" goes through the solve form
DELIVERY_NAMES = {"pending": _l("等待发送"), "sending": _l("发送中"), "delivered": _l("已送达"),
                  "failed": _l("发送失败")}
CHANNEL_NAMES = {"support_email": _l("发给客服邮箱"), "confirmation_email": _l("给求助人的确认邮件"),
                 "webhook": _l("Webhook")}


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


def _staff(storage: Any) -> list[accounts.StaffInfo]:
    """Every account (a disabled assignee keeps its name on the page); raises StorageUnavailable."""
    try:
        return accounts.list_staff(storage)
    except SQLAlchemyError as exc:
        raise StorageUnavailable(str(exc)) from exc


def text_query(raw: str) -> inbox.TextQuery:
    """The search box as the inbox reads it: our tokeniser's words (简体 and 繁體 alike), after
    cutting requests that were never cut (new ones); a reference, address or number typed whole
    is matched by :mod:`helpcenter.support.inbox` itself."""
    storage = current_app.extensions["hc_storage"]
    tokenizer = get_tokenizer(current_app.extensions["hc_settings"].user_dict)
    tickets.backfill_terms(storage, tokenizer.tokens)
    return inbox.TextQuery(raw, tuple(tokenizer.tokens(raw)))


def _filters() -> tuple[dict[str, Any], dict[str, str]]:
    """The filters asked for (as query arguments) and as typed, so the form shows them again.
    A value that is not one of the choices is ignored rather than refused: it came from a link."""
    args = request.args
    typed = {"q": args.get("q", "").strip()[:MAX_QUERY], "status": args.get("status", ""),
             "category": args.get("category", ""), "assignee": args.get("assignee", ""),
             "age": args.get("age", ""), "overdue": "1" if args.get("overdue") else ""}
    query: dict[str, Any] = {"category": typed["category"] or None}
    if typed["status"] not in inbox.STATUSES:
        typed["status"] = ""
    if typed["assignee"] == "me":
        query["assignee"] = current_user.info.id
    elif typed["assignee"] == "none":
        query["assignee"] = "none"
    else:
        typed["assignee"] = ""
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
                                 "assignees": ASSIGNEES, "staff_names": {}, "requests": [], "counts": {},
                                 "total": 0, "page": page, "pages": 1, "outage": False, "now": utcnow(),
                                 "tz": current_app.extensions["hc_hours"].tz, "max_query": MAX_QUERY}
    try:
        if typed["q"]:
            query["text"] = text_query(typed["q"])
        counts = inbox.status_counts(storage, **query)
        total = inbox.count_requests(storage, status=typed["status"] or None, **query)
        pages = max(1, -(-total // PER_PAGE))
        page = min(page, pages)
        rows = inbox.list_requests(storage, status=typed["status"] or None, limit=PER_PAGE,
                                   offset=(page - 1) * PER_PAGE, **query)
        names = {s.id: s.email for s in _staff(storage)}
    except StorageUnavailable as exc:
        log.error("inbox: database unavailable: %s", exc)
        return render_template("inbox.html", **{**page_data, "outage": True}), 503
    links = {k: v for k, v in typed.items() if v}
    page_data.update(counts=counts, total=total, page=page, pages=pages, links=links, staff_names=names,
                     requests=[(esc, _due(esc.created_at)) for esc in rows])
    return render_template("inbox.html", **page_data)


def _article_choices(context: dict[str, Any], titles: dict[str, str], article_q: str) -> dict[str, Any]:
    """What the solve form offers: our own search's top hits for ``article_q``, or before any
    search the articles the visit was shown and read (the likeliest answers)."""
    if not article_q:
        ids = list(dict.fromkeys(context["read"] + context["shown"]))
        return {"searched": False, "error": None, "options": [(a, titles.get(a)) for a in ids]}
    try:
        hits = current_app.extensions["hc_searcher"].search(article_q, k=ARTICLE_HITS).results
    except IndexError_ as exc:
        log.warning("inbox: article search unavailable: %s", exc)
        return {"searched": True, "error": _("文章索引暂时不可用，无法搜索文章。"), "options": []}
    return {"searched": True, "error": None, "options": [(h.id, h.title) for h in hits]}


def _timeline(found: inbox.RequestDetail) -> list[dict[str, Any]]:
    """The request's events and its notifications in one list, oldest first. A reply carries its
    own e-mail (the outbox row ``reply:<event id>``); the other notifications stand alone."""
    esc = found.escalation
    replies = {d.channel: d for d in found.deliveries if d.channel.startswith(tickets.REPLY_CHANNEL)}
    entries: list[tuple[Any, ...]] = [(esc.created_at, 0, 0, {"kind": "received", "at": esc.created_at})]
    for ev in found.events:
        mail = replies.get(f"{tickets.REPLY_CHANNEL}{ev.id}") if ev.kind == "reply" else None
        entries.append((ev.created_at, 1, ev.id, {"kind": ev.kind, "at": ev.created_at, "ev": ev, "mail": mail}))
    for d in found.deliveries:
        if not d.channel.startswith(tickets.REPLY_CHANNEL):
            entries.append((d.created_at, 2, d.id, {"kind": "delivery", "at": d.created_at, "d": d}))
    return [e[3] for e in sorted(entries, key=lambda e: e[:3])]


def render_detail(reference: str, *, code: int = 200, action: str | None = None, error: str | None = None,
                  typed: dict[str, Any] | None = None, article_q: str | None = None):  # type: ignore[no-untyped-def]
    """The request's page; after a refused action (``code`` 400/503) with ``error`` next to the
    ``action``'s form and what was ``typed`` in it. Without the database, a page that still
    holds the typed text, so nothing is lost while it is away."""
    storage = current_app.extensions["hc_storage"]
    settings = current_app.extensions["hc_settings"]
    typed = typed or {}
    article_q = (request.args.get("article_q", "") if article_q is None else article_q).strip()[:MAX_QUERY]
    try:
        found = inbox.get_request(storage, reference)
        people = _staff(storage) if found is not None else []
    except StorageUnavailable as exc:
        log.error("inbox: database unavailable: %s", exc)
        return render_template("inbox_detail.html", outage=True, reference=inbox.normalise_reference(reference),
                               esc=None, articles=None, titles={}, article_q=article_q, action=action, error=error,
                               typed=typed), 503
    if found is None:
        abort(404)
    esc = found.escalation
    titles, categories = _index_info()
    context = inbox.visit_context(esc)
    due = _due(esc.created_at)
    me = current_user.info.id
    return render_template(
        "inbox_detail.html", outage=False, esc=esc, context=context, titles=titles, categories=categories,
        due=due, overdue=due <= utcnow() and esc.status in inbox.AWAITING_ANSWER, timeline=_timeline(found),
        originals=[a for a in esc.attachments if a.event_id is None],
        failed_replies=[d for d in found.deliveries
                        if d.channel.startswith(tickets.REPLY_CHANNEL) and d.status == "failed"],
        has_notifications=any(not d.channel.startswith(tickets.REPLY_CHANNEL) for d in found.deliveries),
        reply_by_email=bool(esc.email and settings.smtp_host), smtp=bool(settings.smtp_host),
        assignable=[s for s in people if s.active and s.role in ("agent", "admin")],
        staff_names={s.id: s.email for s in people}, me=me, settable=SETTABLE,
        article_q=article_q, articles=_article_choices(context, titles, article_q),
        action=action, error=error, typed=typed, statuses=STATUS_NAMES, delivery_names=DELIVERY_NAMES,
        channel_names=CHANNEL_NAMES, tz=current_app.extensions["hc_hours"].tz,
        hours=current_app.extensions["hc_hours"]), code


@bp.get("/<reference>")
@role_required("agent")
def detail(reference: str):  # type: ignore[no-untyped-def]
    return render_detail(reference)


@bp.get("/<reference>/files/<stored_name>")
@role_required("agent")
def screenshot(reference: str, stored_name: str):  # type: ignore[no-untyped-def]
    try:
        esc = current_app.extensions["hc_storage"].get_escalation(inbox.normalise_reference(reference))
    except StorageUnavailable as exc:
        log.error("inbox: database unavailable: %s", exc)
        abort(503)
    return uploads.send_attachment(esc.attachments if esc else [], stored_name)


@bp.app_context_processor
def _inbox_link() -> dict[str, Any]:
    """Whether the signed-in account may open the inbox (for links in the staff pages' header)."""
    def can_open() -> bool:
        return bool(getattr(current_user, "is_authenticated", False) and current_user.role in ("agent", "admin"))
    return {"can_open_inbox": can_open, "inbox_url": lambda: url_for("inbox.index")}
