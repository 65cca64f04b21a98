"""`helpcenter staff add|list|disable|reset-password`: the people who sign in to /admin.

Thin commands over :mod:`helpcenter.support.staff`. Passwords are never options (they would
end up in shell history and ``ps``): typed twice at a hidden prompt, or read from standard
input with ``--password-stdin`` for scripts.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ..support import staff as accounts
from .common import echo_json, open_storage_or_fail, settings_from

password_stdin_option = click.option("--password-stdin", is_flag=True,
                                     help="Read the password from standard input (first line) instead of a prompt.")


@click.group()
def staff() -> None:
    """Staff accounts for /admin: add, list, disable, reset a password."""


def _password(from_stdin: bool) -> str:
    """The new password, checked for length before anything is changed."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("密码", hide_input=True, confirmation_prompt="再输入一次密码")
    problem = accounts.password_problem(password)
    if problem:
        raise click.ClickException(problem)
    return password


def _storage(ctx: click.Context):  # type: ignore[no-untyped-def]
    return open_storage_or_fail(settings_from(ctx))


@staff.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(accounts.ROLES), required=True,
              help="admin: everything; writer: the report and content gaps; agent: the request inbox.")
@password_stdin_option
@click.pass_context
def add(ctx: click.Context, email: str, role: str, password_stdin: bool) -> None:
    """Create the account EMAIL with a role and a password."""
    storage = _storage(ctx)
    password = _password(password_stdin)
    try:
        info = accounts.add_staff(storage, email, role, password)
    except accounts.StaffError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"已添加 {info.email}（{info.role}）")


@staff.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """List every account (never a password hash)."""
    rows = accounts.list_staff(_storage(ctx))
    if as_json:
        echo_json([r.as_json() for r in rows])
        return
    if not rows:
        click.echo("还没有账号。用 `helpcenter staff add 邮箱 --role admin` 添加第一个管理员。")
        return
    for r in rows:
        last = r.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if r.last_login_at else "从未登录"
        click.echo(f"{r.email}\t{r.role}\t{'启用' if r.active else '已停用'}\t{last}")


def _apply(change: Any, ctx: click.Context, email: str) -> Any:
    """Run one account change, turning the accounts' refusal into a usage error with its message."""
    try:
        return change(_storage(ctx), email)
    except accounts.StaffError as exc:
        raise click.ClickException(str(exc)) from None


@staff.command("disable")
@click.argument("email")
@click.pass_context
def disable(ctx: click.Context, email: str) -> None:
    """Stop EMAIL from signing in; its open sessions end at once."""
    info = _apply(accounts.disable_staff, ctx, email)
    click.echo(f"已停用 {info.email}，其所有会话已失效")


@staff.command("enable")
@click.argument("email")
@click.pass_context
def enable(ctx: click.Context, email: str) -> None:
    """Let a disabled EMAIL sign in again, with its old password."""
    info = _apply(accounts.enable_staff, ctx, email)
    click.echo(f"已启用 {info.email}")


@staff.command("reset-password")
@click.argument("email")
@password_stdin_option
@click.pass_context
def reset_password(ctx: click.Context, email: str, password_stdin: bool) -> None:
    """Set a new password for EMAIL; every session of the account ends."""
    storage = _storage(ctx)
    if accounts.find_staff(storage, email) is None:
        raise click.ClickException(f"没有这个账号：{accounts.normalise_email(email)}")
    password = _password(password_stdin)
    try:
        info = accounts.reset_password(storage, email, password)
    except accounts.StaffError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"已重设 {info.email} 的密码，其所有会话已失效")
