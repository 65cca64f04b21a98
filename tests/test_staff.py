"""Staff accounts (support/staff.py) and the `helpcenter staff` commands, on SQLite and PostgreSQL."""

from __future__ import annotations

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
