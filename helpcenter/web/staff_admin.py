"""/admin/staff: admins list, add, disable and enable staff accounts and set another account's
password; everyone changes their own password.

The same rules as ``helpcenter staff`` (:mod:`helpcenter.support.staff`); every form is
CSRF-protected by the app. An admin cannot disable their own account here, so the page never
locks the last admin out (the command line stays the way back in), nor set their own password
without the current one (that is /admin/password). A password set by an admin ends every
session of that account and lifts its sign-in lock, like ``helpcenter staff reset-password``.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user, login_user
from sqlalchemy.exc import SQLAlchemyError

from ..support import staff as accounts
from .auth import StaffUser, no_store, role_required

bp = Blueprint("staff_admin", __name__, url_prefix="/admin")
log = logging.getLogger(__name__)


bp.after_request(no_store)


def _storage():  # type: ignore[no-untyped-def]
    return current_app.extensions["hc_storage"]


def _page(status: int = 200, error: str | None = None, notice: str | None = None,
          typed: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    try:
        staff = accounts.list_staff(_storage())
    except SQLAlchemyError as exc:
        log.error("staff page: database unavailable: %s", exc)
        return render_template("admin_staff.html", staff=[], roles=accounts.ROLES, outage=True,
                               error=None, notice=None, typed={}), 503
    return render_template("admin_staff.html", staff=staff, roles=accounts.ROLES, outage=False,
                           error=error, notice=notice, typed=typed or {}), status


NOTICES = {"1": _l("已保存。"), "password": _l("已设置新密码：该账号已登录的会话全部失效，请把新密码告诉本人。"),
           "enabled": _l("账号已重新启用，可以用原来的密码登录。")}  # lazy: str() at use


@bp.get("/staff")
@role_required("admin")
def staff():  # type: ignore[no-untyped-def]
    notice = NOTICES.get(request.args.get("done") or "")
    return _page(notice=str(notice) if notice is not None else None)


@bp.post("/staff")
@role_required("admin")
def add():  # type: ignore[no-untyped-def]
    typed = {"email": (request.form.get("email") or "").strip(), "role": request.form.get("role") or ""}
    try:
        accounts.add_staff(_storage(), typed["email"], typed["role"], request.form.get("password") or "")
    except accounts.StaffError as exc:
        return _page(400, error=str(exc), typed=typed)  # what was typed stays, except the password
    return redirect(url_for("staff_admin.staff", done=1))


@bp.post("/staff/disable")
@role_required("admin")
def disable():  # type: ignore[no-untyped-def]
    email = accounts.normalise_email(request.form.get("email") or "")
    if email == current_user.email:
        return _page(400, error=_("不能停用自己的账号。"))
    try:
        accounts.disable_staff(_storage(), email)
    except accounts.StaffError as exc:
        return _page(400, error=str(exc))
    return redirect(url_for("staff_admin.staff", done=1))


@bp.post("/staff/enable")
@role_required("admin")
def enable():  # type: ignore[no-untyped-def]
    try:
        accounts.enable_staff(_storage(), request.form.get("email") or "")
    except accounts.StaffError as exc:
        return _page(400, error=str(exc))
    log.info("staff account %s enabled by admin %s", accounts.normalise_email(request.form.get("email") or ""),
             current_user.email)
    return redirect(url_for("staff_admin.staff", done="enabled"))


@bp.post("/staff/password")
@role_required("admin")
def set_password():  # type: ignore[no-untyped-def]
    """Another account's new password, typed twice: for someone who forgot theirs or is locked out."""
    email = accounts.normalise_email(request.form.get("email") or "")
    typed = {"reset_email": email}  # the account chosen stays chosen; passwords are never sent back
    if email == current_user.email:
        return _page(400, error=_("自己的密码请在“修改密码”页修改（需要输入当前密码）。"), typed=typed)
    new = request.form.get("new") or ""
    if new != (request.form.get("confirm") or ""):
        return _page(400, error=_("两次输入的新密码不一致。"), typed=typed)
    try:
        accounts.reset_password(_storage(), email, new)
    except accounts.StaffError as exc:
        return _page(400, error=str(exc), typed=typed)
    log.info("password of staff account %s set by admin %s", email, current_user.email)  # who did what
    return redirect(url_for("staff_admin.staff", done="password"))


@bp.get("/password")
@role_required("writer", "agent")
def password_form():  # type: ignore[no-untyped-def]
    return render_template("admin_password.html", error=None)


@bp.post("/password")
@role_required("writer", "agent")
def change_password():  # type: ignore[no-untyped-def]
    """A new password ends every other session of the account; this one stays signed in."""
    if accounts.verify(_storage(), current_user.email, request.form.get("current") or "") is None:
        return render_template("admin_password.html", error=_("当前密码不正确。")), 403
    new = request.form.get("new") or ""
    if new != (request.form.get("confirm") or ""):
        return render_template("admin_password.html", error=_("两次输入的新密码不一致。")), 400
    try:
        info = accounts.reset_password(_storage(), current_user.email, new)
    except accounts.StaffError as exc:
        return render_template("admin_password.html", error=str(exc)), 400
    login_user(StaffUser(info), fresh=True)  # this session, at the new version
    return redirect(url_for("admin.index"))
