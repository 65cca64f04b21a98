"""Staff sign-in for the web: Flask-Login over :mod:`helpcenter.support.staff`, and role checks.

The session (Flask's signed cookie) holds ``"<staff id>:<session version>"`` as Flask-Login's
user id. Each request loads the account and accepts the session only while the account is
active and its version is unchanged, so logout, a password reset and disabling end every
session of the account at once, on every web node, with nothing kept in a process.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable, TypeVar

from flask import Response, abort, current_app, redirect, render_template, request, url_for
from flask_login import LoginManager, UserMixin, current_user
from sqlalchemy.exc import SQLAlchemyError

from ..support import staff as accounts

log = logging.getLogger(__name__)
login_manager = LoginManager()
# "basic": a changed address or browser marks the session not fresh; "strong" would sign out
# staff whose mobile carrier changes their address. Sessions are renewed at sign-in instead.
login_manager.session_protection = "basic"

F = TypeVar("F", bound=Callable[..., Any])


class StaffUser(UserMixin):
    """The signed-in account for this request (a snapshot, never the password hash)."""

    def __init__(self, info: accounts.StaffInfo) -> None:
        self.info = info

    @property
    def email(self) -> str:
        return self.info.email

    @property
    def role(self) -> str:
        return self.info.role

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.info.active

    def get_id(self) -> str:
        return f"{self.info.id}:{self.info.session_version}"


@login_manager.user_loader
def _load(user_id: str) -> StaffUser | None:
    staff_id, _, version = user_id.partition(":")
    if not (staff_id.isdigit() and version.isdigit()):
        return None
    try:
        info = accounts.get_staff(current_app.extensions["hc_storage"], int(staff_id))
    except SQLAlchemyError as exc:
        log.error("staff sign-in: database unavailable: %s", exc)
        return None
    if info is None or not info.active or info.session_version != int(version):
        return None  # ended by logout, a password reset or disabling
    return StaffUser(info)


@login_manager.unauthorized_handler
def _unauthorized():  # type: ignore[no-untyped-def]
    if request.method == "GET" and request.endpoint == "admin.index":
        return render_template("admin_login.html", error=False, email="")
    return redirect(url_for("admin.index"))


def role_required(*roles: str) -> Callable[[F], F]:
    """Only signed-in staff with one of ``roles``; "admin" may always pass. Others: sign-in or 403."""
    allowed = set(roles) | {"admin"}

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)
        return wrapped  # type: ignore[return-value]
    return decorate


def no_store(resp: Response) -> Response:
    """Staff pages hold personal data and the report: never cached, never indexed."""
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Robots-Tag"] = "noindex, nofollow"
    return resp

