"""/admin/staff: admins list, add and disable staff accounts; everyone changes their own password.

The same rules as ``helpcenter staff`` (:mod:`helpcenter.support.staff`); every form is
CSRF-protected by the app. An admin cannot disable their own account here, so the page never
locks the last admin out (the command line stays the way back in).
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, redirect, render_template, request, url_for
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


@bp.get("/staff")
@role_required("admin")
def staff():  # type: ignore[no-untyped-def]
    return _page(notice=request.args.get("done") and "已保存。")


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
        return _page(400, error="不能停用自己的账号。")
    try:
        accounts.disable_staff(_storage(), email)
    except accounts.StaffError as exc:
        return _page(400, error=str(exc))
    return redirect(url_for("staff_admin.staff", done=1))


@bp.get("/password")
@role_required("writer", "agent")
def password_form():  # type: ignore[no-untyped-def]
    return render_template("admin_password.html", error=None)


@bp.post("/password")
@role_required("writer", "agent")
def change_password():  # type: ignore[no-untyped-def]
    """A new password ends every other session of the account; this one stays signed in."""
    if accounts.verify(_storage(), current_user.email, request.form.get("current") or "") is None:
        return render_template("admin_password.html", error="当前密码不正确。"), 403
    new = request.form.get("new") or ""
    if new != (request.form.get("confirm") or ""):
        return render_template("admin_password.html", error="两次输入的新密码不一致。"), 400
    try:
        info = accounts.reset_password(_storage(), current_user.email, new)
    except accounts.StaffError as exc:
        return render_template("admin_password.html", error=str(exc)), 400
    login_user(StaffUser(info), fresh=True)  # this session, at the new version
    return redirect(url_for("admin.index"))
