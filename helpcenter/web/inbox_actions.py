"""The forms on a request's page in /admin/inbox: reply, internal note, assign, status, solve.

Each is a POST (CSRF-checked by the app) for agents and admins, done by
:mod:`helpcenter.support.tickets` in one transaction, then a redirect back to the page with a
short notice (so a reload never sends a reply twice). A refused action re-renders the page with
400 and the message beside its form; a database outage gives 503. Either way what the agent
typed is still in the form: a reply written for ten minutes must never be lost to an error.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user

from ..engine.index import IndexError_
from ..support import inbox, tickets
from ..support.storage import StorageUnavailable
from . import limiter
from .auth import no_store, role_required
from .inbox import SETTABLE, STATUS_NAMES, render_detail

bp = Blueprint("inbox_actions", __name__, url_prefix="/admin/inbox")
log = logging.getLogger(__name__)
bp.after_request(no_store)

OUTAGE = _l("数据库暂时不可用，这次操作没有保存。您输入的内容还在下面，请稍后再提交。")


def _per_account() -> str:
    """Limits count per staff account: a team behind one office address shares no budget."""
    return f"staff:{current_user.get_id()}" if current_user.is_authenticated else request.remote_addr or "-"


action_limit = limiter.shared_limit(lambda: current_app.extensions["hc_settings"].rate_limit_api,
                                    scope="inbox-actions", key_func=_per_account)


def _act(reference: str, action: str, typed: dict[str, Any], do: Callable[[], str],
         article_q: str | None = None) -> Any:
    """Run ``do`` (which returns the notice); success → back to the page (PRG), else the page
    again with the error beside the ``action``'s form and the ``typed`` text in it."""
    try:
        notice = do()
    except tickets.TicketError as exc:
        if exc.code == "not_found":
            abort(404)
        return render_detail(reference, code=400, action=action, error=str(exc), typed=typed, article_q=article_q)
    except StorageUnavailable as exc:
        log.error("inbox: %s on %s not saved, database unavailable: %s", action, reference, exc)
        return render_detail(reference, code=503, action=action, error=str(OUTAGE), typed=typed, article_q=article_q)
    flash(notice, "info")
    return redirect(url_for("inbox.detail", reference=inbox.normalise_reference(reference)))


def _actor() -> tickets.Actor:
    return tickets.Actor.staff(current_user.info)


def _ref(reference: str) -> str:
    return inbox.normalise_reference(reference)


@bp.post("/<reference>/reply")
@role_required("agent")
@action_limit
def reply(reference: str) -> Any:
    body = request.form.get("body", "")
    wait = bool(request.form.get("wait"))
    typed = {"body": body, "wait": wait}

    def do() -> str:
        storage, settings = current_app.extensions["hc_storage"], current_app.extensions["hc_settings"]
        esc = storage.get_escalation(_ref(reference))  # read first: nothing may fail once the reply is saved
        if esc is None:
            abort(404)
        tickets.reply(storage, esc.reference, _actor(), body, wait_for_requester=wait,
                      email=bool(settings.smtp_host))
        queued = bool(settings.smtp_host and esc.email)  # tickets.reply queued reply:<event id>
        outbox = current_app.extensions.get("hc_outbox")
        if queued and outbox is not None:
            outbox.wake()  # send now rather than at the next poll
        # Four whole sentences (never glued from parts), so each translates as a sentence.
        if queued and wait:
            return _("已回复：邮件已排队发送，求助现在等待求助人回复。")
        if queued:
            return _("已回复：邮件已排队发送，求助现在仍在处理中。")
        if wait:
            return _("已回复：未发邮件（只显示在求助人的状态页），求助现在等待求助人回复。")
        return _("已回复：未发邮件（只显示在求助人的状态页），求助现在仍在处理中。")
    return _act(reference, "reply", typed, do)


@bp.post("/<reference>/note")
@role_required("agent")
@action_limit
def note(reference: str) -> Any:
    body = request.form.get("body", "")

    def do() -> str:
        tickets.add_note(current_app.extensions["hc_storage"], _ref(reference), _actor(), body)
        return _("已添加内部备注（求助人看不到）。")
    return _act(reference, "note", {"body": body}, do)


@bp.post("/<reference>/assign")
@role_required("agent")
@action_limit
def assign(reference: str) -> Any:
    raw = (request.form.get("assignee") or "").strip()
    if request.form.get("to") == "me":  # the 分配给我 button
        raw = str(current_user.info.id)

    def do() -> str:
        if raw and not raw.isdigit():
            raise tickets.TicketError("invalid_assignee", _("只能分配给在职的客服或管理员"))
        who = int(raw) if raw else None
        tickets.assign(current_app.extensions["hc_storage"], _ref(reference), _actor(), who)
        if who is None:
            return _("已取消分配。")
        return _("已分配给我。") if who == current_user.info.id else _("已分配。")
    return _act(reference, "assign", {"assignee": raw}, do)


@bp.post("/<reference>/status")
@role_required("agent")
@action_limit
def status(reference: str) -> Any:
    to = request.form.get("status", "")

    def do() -> str:
        if to not in SETTABLE:  # tickets refuses it too; checked here so the message names the choices
            raise tickets.TicketError("invalid_status", _("状态只能改为处理中、等待回复或已关闭；标记解决请填写解决方式"))
        tickets.set_status(current_app.extensions["hc_storage"], _ref(reference), _actor(), to)
        return _("状态已改为“%(status)s”。", status=STATUS_NAMES[to])
    return _act(reference, "status", {"status": to}, do)


@bp.post("/<reference>/solve")
@role_required("agent")
@action_limit
def solve(reference: str) -> Any:
    article = (request.form.get("article") or "").strip()
    note_text = request.form.get("note", "")
    article_q = request.form.get("article_q", "")
    typed = {"article": article, "note": note_text}

    def do() -> str:
        if article and note_text.strip():
            raise tickets.TicketError("resolution_required", _("选了文章时不用写“缺少什么”；如果没有文章涵盖这个问题，"
                                                               "请选“没有文章涵盖这个问题”"))
        unchecked = False
        if article:
            try:
                known = article in current_app.extensions["hc_searcher"].index().articles
            except IndexError_ as exc:
                log.warning("inbox: solving %s with %s unchecked, index unavailable: %s", reference, article, exc)
                known, unchecked = True, True
            if not known:
                raise tickets.TicketError("invalid_article", _("已发布的文章里没有 %(article)s，请重新搜索并选择文章",
                                                                 article=article))
        tickets.solve(current_app.extensions["hc_storage"], _ref(reference), _actor(),
                      article=article or None, no_article_note=None if article else note_text)
        if unchecked:
            return _("已标记为已解决。文章索引暂时不可用，未能核对文章 %(article)s 是否存在。", article=article)
        return _("已标记为已解决。")
    return _act(reference, "solve", typed, do, article_q=article_q)
