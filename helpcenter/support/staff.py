"""Staff accounts: add, list, disable and enable, reset a password, verify a sign-in. No Flask here.

Shared by the ``helpcenter staff`` commands and the web sign-in, so both apply the same rules
(address normalised to lower case, the password length, the roles). Passwords are hashed with
argon2id (argon2-cffi, memory-hard); a hash made with older parameters is replaced at the next
successful sign-in, so raising the cost needs no forced reset.

``session_version`` ends sessions without any state in a web process: a session stores the
version it was made with and counts only while it still matches (see :mod:`helpcenter.web.auth`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..db import Staff, as_utc, utcnow

ROLES = ("admin", "agent", "writer")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # hashing a megabyte "password" would be a cheap way to burn CPU
FREE_FAILURES = 5  # wrong passwords in a row before sign-in backs off
MAX_LOCKOUT = 900.0  # seconds

_hasher = PasswordHasher()  # argon2id with argon2-cffi's current recommended parameters
# Verified against when the address is unknown, so a sign-in takes as long either way.
_DUMMY_HASH = _hasher.hash("no such account: timing stays the same")


class StaffError(ValueError):
    """A request the accounts cannot take; the message says what is wrong, in Chinese."""


@dataclass(frozen=True)
class StaffInfo:
    """One account as shown to people and scripts (never the hash)."""
    id: int
    email: str
    role: str
    active: bool
    session_version: int
    created_at: dt.datetime
    last_login_at: dt.datetime | None

    def as_json(self) -> dict[str, Any]:
        last = as_utc(self.last_login_at)
        return {"email": self.email, "role": self.role, "active": self.active,
                "created_at": as_utc(self.created_at).isoformat(),  # type: ignore[union-attr]
                "last_login_at": last.isoformat() if last else None}


def _info(row: Staff) -> StaffInfo:
    return StaffInfo(row.id, row.email, row.role, row.active, row.session_version, row.created_at,
                     row.last_login_at)


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None: length only (people choose passphrases)."""
    if len(password) < MIN_PASSWORD:
        return f"密码太短：至少需要 {MIN_PASSWORD} 个字符（现在是 {len(password)} 个）。"
    if len(password) > MAX_PASSWORD:
        return f"密码太长：最多 {MAX_PASSWORD} 个字符。"
    return None


def _check_password(password: str) -> None:
    problem = password_problem(password)
    if problem:
        raise StaffError(problem)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def add_staff(storage: Any, email: str, role: str, password: str) -> StaffInfo:
    """Create an account; refuses a malformed address, an unknown role, a short password, a duplicate."""
    address = normalise_email(email)
    if "@" not in address or address.startswith("@") or address.endswith("@") or len(address) > 254:
        raise StaffError(f"邮箱地址无效：{email!r}")
    if role not in ROLES:
        raise StaffError(f"未知角色：{role!r}（可选：{'、'.join(ROLES)}）")
    _check_password(password)
    row = Staff(email=address, role=role, password_hash=hash_password(password), active=True,
                session_version=1, created_at=utcnow())
    with storage.session() as s:
        s.add(row)
        try:
            s.commit()
        except IntegrityError:
            raise StaffError(f"该邮箱已有账号：{address}") from None
        return _info(row)


def list_staff(storage: Any) -> list[StaffInfo]:
    with storage.session() as s:
        return [_info(r) for r in s.scalars(select(Staff).order_by(Staff.email))]


def get_staff(storage: Any, staff_id: int) -> StaffInfo | None:
    with storage.session() as s:
        row = s.get(Staff, staff_id)
        return _info(row) if row else None


def find_staff(storage: Any, email: str) -> StaffInfo | None:
    with storage.session() as s:
        row = s.scalar(select(Staff).where(Staff.email == normalise_email(email)))
        return _info(row) if row else None


def _change(storage: Any, email: str, **values: Any) -> StaffInfo:
    """Apply ``values`` and end every session of the account (its version goes up)."""
    with storage.session() as s:
        row = s.scalar(select(Staff).where(Staff.email == normalise_email(email)).with_for_update())
        if row is None:
            raise StaffError(f"没有这个账号：{normalise_email(email)}")
        for key, value in values.items():
            setattr(row, key, value)
        row.session_version = row.session_version + 1
        s.commit()
        return _info(row)


def disable_staff(storage: Any, email: str) -> StaffInfo:
    """The account can no longer sign in, and its open sessions stop working."""
    return _change(storage, email, active=False)


def enable_staff(storage: Any, email: str) -> StaffInfo:
    """A disabled account may sign in again (with its old password; sessions from before stay ended)."""
    return _change(storage, email, active=True)


def reset_password(storage: Any, email: str, password: str) -> StaffInfo:
    """A new password; every existing session of the account ends."""
    _check_password(password)
    return _change(storage, email, password_hash=hash_password(password), failed_logins=0, locked_until=None)


def end_sessions(storage: Any, staff_id: int) -> None:
    """Logout: this session and every other one of the account stop working."""
    with storage.session() as s:
        row = s.get(Staff, staff_id)
        if row is not None:
            row.session_version = row.session_version + 1
            s.commit()


def lockout_seconds(failures: int) -> float:
    """How long sign-in stays shut after ``failures`` wrong passwords in a row: free for the first
    FREE_FAILURES, then 30 s, doubling, at most 15 minutes. Per account, in the database, so
    guessing across nodes or addresses gains nothing; the per-IP limit (web) stops the rest."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(MAX_LOCKOUT, 30.0 * 2 ** (failures - FREE_FAILURES))


def verify(storage: Any, email: str, password: str, now: dt.datetime | None = None) -> StaffInfo | None:
    """The account when the address and password match an active account, else None.

    The same work happens for an unknown address (a dummy argon2 verify), so neither the answer
    nor its timing tells whether the address has an account. While the account is locked out
    (see :func:`lockout_seconds`) even the right password is refused, with the same answer. On
    success the sign-in time is recorded, the failures are forgotten and an outdated hash is replaced.
    """
    password = password[:MAX_PASSWORD + 1]
    now = now or utcnow()
    with storage.session() as s:
        row = s.scalar(select(Staff).where(Staff.email == normalise_email(email)).with_for_update())
        locked = row is not None and row.locked_until is not None and as_utc(row.locked_until) > now
        try:
            _hasher.verify(_DUMMY_HASH if row is None or locked else row.password_hash, password)
            good = row is not None and not locked
        except (VerificationError, InvalidHashError):
            good = False
        if row is None:
            return None
        if not good:
            if not locked:  # guesses while locked do not lengthen the lock: the owner gets back in
                row.failed_logins = (row.failed_logins or 0) + 1
                wait = lockout_seconds(row.failed_logins)
                row.locked_until = now + dt.timedelta(seconds=wait) if wait else None
                s.commit()
            return None
        if not row.active:
            return None
        if _hasher.check_needs_rehash(row.password_hash):
            row.password_hash = hash_password(password)
        row.last_login_at = now
        row.failed_logins = 0
        row.locked_until = None
        s.commit()
        return _info(row)
