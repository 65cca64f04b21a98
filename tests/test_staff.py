"""Staff accounts (support/staff.py) and the `helpcenter staff` commands, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from helpcenter.cli import main
from helpcenter.db import Staff
from helpcenter.support import staff as accounts

from .databases import database_url, store  # noqa: F401  (fixtures: sqlite and postgresql)

PASSWORD = "correct horse battery"


@pytest.fixture
def storage(store):  # noqa: F811  (the shared fixture, under this file's name)
    return store


def stored_hash(storage, email):
    with storage.session() as s:
        return s.scalar(select(Staff.password_hash).where(Staff.email == email))


def test_passwords_are_hashed_with_argon2_and_verify(storage):
    info = accounts.add_staff(storage, "  Writer@Example.COM ", "writer", PASSWORD)
    assert info.email == "writer@example.com" and info.role == "writer" and info.active
    hashed = stored_hash(storage, "writer@example.com")
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed
    assert accounts.verify(storage, "WRITER@example.com", PASSWORD).email == "writer@example.com"
    assert accounts.verify(storage, "writer@example.com", PASSWORD + "x") is None
    assert accounts.verify(storage, "nobody@example.com", PASSWORD) is None
    assert accounts.list_staff(storage)[0].last_login_at is not None  # sign-in time recorded


def test_an_outdated_hash_is_replaced_at_the_next_sign_in(storage):
    from argon2 import PasswordHasher

    accounts.add_staff(storage, "old@example.com", "admin", PASSWORD)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with storage.session() as s:
        s.scalar(select(Staff).where(Staff.email == "old@example.com")).password_hash = weak
        s.commit()
    assert accounts.verify(storage, "old@example.com", PASSWORD) is not None
    renewed = stored_hash(storage, "old@example.com")
    assert renewed != weak and not PasswordHasher().check_needs_rehash(renewed)
    assert accounts.verify(storage, "old@example.com", PASSWORD) is not None


def test_bad_accounts_are_refused_with_a_reason(storage):
    with pytest.raises(accounts.StaffError, match="至少需要 12 个字符"):
        accounts.add_staff(storage, "a@example.com", "writer", "short")
    with pytest.raises(accounts.StaffError, match="未知角色"):
        accounts.add_staff(storage, "a@example.com", "boss", PASSWORD)
    with pytest.raises(accounts.StaffError, match="邮箱地址无效"):
        accounts.add_staff(storage, "not-an-address", "writer", PASSWORD)
    accounts.add_staff(storage, "a@example.com", "writer", PASSWORD)
    with pytest.raises(accounts.StaffError, match="已有账号"):
        accounts.add_staff(storage, "A@EXAMPLE.com", "admin", PASSWORD)
    assert [s.email for s in accounts.list_staff(storage)] == ["a@example.com"]


def test_disable_and_reset_end_sessions_and_sign_in(storage):
    first = accounts.add_staff(storage, "agent@example.com", "agent", PASSWORD)
    reset = accounts.reset_password(storage, "agent@example.com", "a brand new passphrase")
    assert reset.session_version > first.session_version
    assert accounts.verify(storage, "agent@example.com", PASSWORD) is None
    assert accounts.verify(storage, "agent@example.com", "a brand new passphrase") is not None
    disabled = accounts.disable_staff(storage, "agent@example.com")
    assert not disabled.active and disabled.session_version > reset.session_version
    assert accounts.verify(storage, "agent@example.com", "a brand new passphrase") is None


# --- sign-in backoff (per account, in the database) ---

T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone.utc)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def lock_state(storage, email="agent@example.com"):
    with storage.session() as s:
        row = s.scalar(select(Staff).where(Staff.email == email))
        until = row.locked_until
        return row.failed_logins, (until.replace(tzinfo=dt.timezone.utc) if until and until.tzinfo is None else until)


def guess(storage, times: int, when: dt.datetime = T0, email="agent@example.com") -> None:
    for i in range(times):
        assert accounts.verify(storage, email, f"wrong guess {i}", now=when) is None


def test_the_backoff_schedule():
    # Free for FREE_FAILURES failures in a row, then 30 s doubling up to 15 minutes.
    assert [accounts.lockout_seconds(n) for n in range(12)] == [
        0, 0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900]


def test_wrong_passwords_below_the_limit_cost_nothing_and_a_sign_in_forgets_them(storage):
    accounts.add_staff(storage, "agent@example.com", "agent", PASSWORD)
    guess(storage, accounts.FREE_FAILURES - 1)
    assert lock_state(storage) == (4, None)  # counted, not locked
    assert accounts.verify(storage, "agent@example.com", PASSWORD, now=T0) is not None
    assert lock_state(storage) == (0, None)  # the right password resets the count
    guess(storage, accounts.FREE_FAILURES - 1)
    assert accounts.verify(storage, "agent@example.com", PASSWORD, now=T0) is not None  # four more: still free


def test_five_wrong_passwords_lock_even_the_right_one_until_the_lock_ends(storage):
    accounts.add_staff(storage, "agent@example.com", "agent", PASSWORD)
    guess(storage, accounts.FREE_FAILURES)  # five wrong passwords are answered; after them sign-in backs off
    assert lock_state(storage) == (5, at(30))
    assert accounts.verify(storage, "agent@example.com", PASSWORD, now=at(1)) is None  # the 6th try: refused
    assert accounts.verify(storage, "agent@example.com", PASSWORD, now=at(29)) is None
    assert lock_state(storage) == (5, at(30))  # the owner's refused tries do not count either
    info = accounts.verify(storage, "agent@example.com", PASSWORD, now=at(30))
    assert info is not None and info.email == "agent@example.com"
    assert lock_state(storage) == (0, None)  # counter reset: five free guesses again
    guess(storage, 4, at(31))
    assert lock_state(storage) == (4, None)


def test_guesses_while_locked_do_not_extend_the_lock_and_later_ones_double_it(storage):
    accounts.add_staff(storage, "agent@example.com", "agent", PASSWORD)
    guess(storage, 5)
    for second in (5, 10, 20, 29):
        guess(storage, 3, at(second))
    assert lock_state(storage) == (5, at(30))  # twelve guesses while locked changed nothing
    guess(storage, 1, at(31))  # the lock ended; the next failure locks for twice as long
    assert lock_state(storage) == (6, at(31 + 60))
    assert accounts.verify(storage, "agent@example.com", PASSWORD, now=at(31 + 59)) is None
    assert accounts.verify(storage, "agent@example.com", PASSWORD, now=at(31 + 60)) is not None


def test_a_lock_on_one_account_leaves_other_accounts_alone(storage):
    accounts.add_staff(storage, "agent@example.com", "agent", PASSWORD)
    accounts.add_staff(storage, "writer@example.com", "writer", PASSWORD)
    guess(storage, 5)
    assert accounts.verify(storage, "writer@example.com", PASSWORD, now=at(1)) is not None
    guess(storage, 7, email="nobody@example.com")  # unknown addresses: nothing stored, nothing to lock
    assert [s.email for s in accounts.list_staff(storage)] == ["agent@example.com", "writer@example.com"]


def test_a_password_reset_clears_the_lock(storage):
    accounts.add_staff(storage, "agent@example.com", "agent", PASSWORD)
    guess(storage, 7)  # locked (the guesses after the fifth do not count)
    assert lock_state(storage) == (5, at(30))
    accounts.reset_password(storage, "agent@example.com", "a brand new passphrase")
    assert lock_state(storage) == (0, None)
    assert accounts.verify(storage, "agent@example.com", "a brand new passphrase", now=at(1)) is not None


def test_enable_lets_a_disabled_account_sign_in_again(storage):
    accounts.add_staff(storage, "agent@example.com", "agent", PASSWORD)
    disabled = accounts.disable_staff(storage, "agent@example.com")
    assert accounts.verify(storage, "agent@example.com", PASSWORD) is None
    enabled = accounts.enable_staff(storage, "AGENT@example.com ")
    assert enabled.active and enabled.session_version > disabled.session_version
    assert accounts.verify(storage, "agent@example.com", PASSWORD) is not None
    with pytest.raises(accounts.StaffError, match="没有这个账号"):
        accounts.enable_staff(storage, "ghost@example.com")


# --- the commands ---

@pytest.fixture
def run(app, built):
    env = {"HELPCENTER_MODEL": "hash", "HELPCENTER_USER_DICT": "", "HELPCENTER_INDEX_DIR": built.index_dir,
           "HELPCENTER_INSTANCE_DIR": app.instance_path}

    def invoke(*args, input=None):
        return CliRunner().invoke(main, ["staff", *args], env=env, input=input)
    return invoke


def test_cli_add_list_disable_and_reset_with_password_stdin(run, app):
    res = run("add", "Lead@Example.com", "--role", "admin", "--password-stdin", input=PASSWORD + "\n")
    assert res.exit_code == 0, res.output
    assert "lead@example.com" in res.output
    assert run("add", "w@example.com", "--role", "writer", "--password-stdin",
               input=PASSWORD + "\n").exit_code == 0

    listed = run("list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [(r["email"], r["role"], r["active"]) for r in rows] == [
        ("lead@example.com", "admin", True), ("w@example.com", "writer", True)]
    assert "hash" not in listed.output and PASSWORD not in listed.output
    table = run("list")
    assert "w@example.com" in table.output and "从未登录" in table.output

    store = app.extensions["hc_storage"]
    res = run("reset-password", "w@example.com", "--password-stdin", input="another long passphrase\n")
    assert res.exit_code == 0, res.output
    assert accounts.verify(store, "w@example.com", "another long passphrase") is not None

    res = run("disable", "w@example.com")
    assert res.exit_code == 0 and "已停用" in res.output
    assert json.loads(run("list", "--json").output)[1]["active"] is False
    assert accounts.verify(store, "w@example.com", "another long passphrase") is None
    res = run("enable", "w@example.com")
    assert res.exit_code == 0 and "已启用" in res.output
    assert accounts.verify(store, "w@example.com", "another long passphrase") is not None


def test_cli_prompts_twice_and_refuses_short_passwords_clearly(run):
    typed = run("add", "p@example.com", "--role", "writer", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert typed.exit_code == 0, typed.output
    assert PASSWORD not in typed.output  # hidden input
    short = run("add", "s@example.com", "--role", "writer", "--password-stdin", input="tooshort\n")
    assert short.exit_code == 1 and "密码太短：至少需要 12 个字符" in short.output
    assert run("add", "p@example.com", "--role", "admin", "--password-stdin",
               input=PASSWORD + "\n").exit_code == 1
    unknown = run("disable", "ghost@example.com")
    assert unknown.exit_code == 1 and "没有这个账号" in unknown.output
    bad_role = run("add", "r@example.com", "--role", "boss", "--password-stdin", input=PASSWORD + "\n")
    assert bad_role.exit_code == 2 and "boss" in bad_role.output
    emails = [r["email"] for r in json.loads(run("list", "--json").output)]
    assert emails == ["p@example.com"]
