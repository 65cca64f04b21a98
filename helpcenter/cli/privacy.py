"""`helpcenter privacy export|delete|purge`: what is stored about a person, and its removal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError

from ..config import Settings
from .common import echo_json, open_storage_or_fail, settings_from


@click.group()
def privacy() -> None:
    """Personal data: export or delete one person's data, purge expired data."""


def _person_options(f: Any) -> Any:
    f = click.option("--phone", help="Phone number (spaces and dashes are ignored).")(f)
    f = click.option("--email", help="E-mail address (case-insensitive).")(f)
    return f


def _need_person(email: str | None, phone: str | None) -> None:
    if not (email or "").strip() and not (phone or "").strip():
        raise click.UsageError("give --email or --phone")


def _upload_dir(settings: Settings) -> Path:
    from ..instance import upload_dir

    return upload_dir(settings)


@privacy.command("export")
@_person_options
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Copy screenshots into this folder (and write export.json there) instead of embedding them.")
@click.pass_context
def export_cmd(ctx: click.Context, email: str | None, phone: str | None, out_dir: str | None) -> None:
    """Print everything stored about a person as JSON (screenshots base64-encoded unless --out)."""
    from ..support.privacy import export_person

    _need_person(email, phone)
    settings = settings_from(ctx)
    try:
        data = export_person(open_storage_or_fail(settings), _upload_dir(settings), email=email, phone=phone, out_dir=out_dir)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"database: {exc}") from None
    echo_json(data)
    click.echo(f"{len(data['escalations'])} escalation(s), {len(data['searches'])} search(es), "
               f"{len(data['conversations'])} assistant conversation(s)"
               + (f"; files and export.json in {out_dir}" if out_dir else ""), err=True)


@privacy.command("delete")
@_person_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def delete_cmd(ctx: click.Context, email: str | None, phone: str | None, yes: bool) -> None:
    """Delete a person's escalations (with their timelines), their screenshot files, the searches of their visits
    and their conversations with the assistant."""
    from ..support.privacy import delete_person

    _need_person(email, phone)
    settings = settings_from(ctx)
    storage, uploads = open_storage_or_fail(settings), _upload_dir(settings)
    try:
        plan = delete_person(storage, uploads, email=email, phone=phone, dry_run=True)
        if not plan.escalations and not plan.conversations:
            click.echo("nothing stored for this person")
            return
        click.echo(f"escalations: {', '.join(plan.escalations)}")
        click.echo(f"screenshot files: {len(plan.files_removed)}"
                   + (f" ({len(plan.files_missing)} already missing)" if plan.files_missing else ""))
        click.echo(f"timeline entries (replies, notes, messages, status changes): {plan.events}")
        click.echo(f"searches of their visits: {plan.searches}")
        click.echo(f"assistant conversations: {plan.conversations}")
        if not yes:
            click.confirm("delete all of this?", abort=True)
        done = delete_person(storage, uploads, email=email, phone=phone)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"database: {exc}") from None
    click.echo(f"removed {len(done.escalations)} escalation(s) ({', '.join(done.escalations)}), "
               f"{len(done.files_removed)} file(s), {done.searches} search(es), {done.events} timeline entries, "
               f"{done.conversations} assistant conversation(s)")
    for name in done.files_missing:
        click.echo(f"  already gone: {name}")
    if done.files_failed:
        raise click.ClickException(f"could not remove {len(done.files_failed)} file(s): "
                                   f"{', '.join(done.files_failed)} (see the log); remove them by hand")


@privacy.command("purge")
@click.option("--days", type=int, help="Override retention_days for this run.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def purge_cmd(ctx: click.Context, days: int | None, as_json: bool) -> None:
    """Clear personal fields, screenshots and the text of replies, notes and messages of escalations
    older than retention_days, and remove screenshots held for forms abandoned over a day ago
    (whatever retention_days is)."""
    from ..support.privacy import PENDING_DIR, purge_expired, sweep_pending

    settings = settings_from(ctx)
    pending = _upload_dir(settings) / PENDING_DIR
    try:
        swept = sweep_pending(pending)
    except OSError as exc:
        raise click.ClickException(f"cannot read {pending}: {exc}") from None
    keep = settings.retention_days if days is None else days
    if keep <= 0:
        if as_json:
            echo_json({"pending_removed": swept})
            return
        click.echo(f"removed {len(swept)} held screenshot(s) older than a day from {pending}")
        click.echo("retention_days is 0: personal data is kept; nothing to purge")
        return
    try:
        done = purge_expired(open_storage_or_fail(settings), _upload_dir(settings), keep)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"database: {exc}") from None
    if as_json:
        echo_json(dict(done.as_json(), pending_removed=swept))
        return
    click.echo(f"removed {len(swept)} held screenshot(s) older than a day from {pending}")
    click.echo(f"cleared personal data of {len(done.escalations)} escalation(s) created before "
               f"{done.cutoff:%Y-%m-%d %H:%M} UTC; removed {len(done.files_removed)} file(s); "
               f"cleared the text of {done.texts_cleared} reply/note/message(s); deleted {done.conversations} "
               f"assistant conversation(s)")
    if done.files_failed:
        raise click.ClickException(f"could not remove {len(done.files_failed)} file(s): {', '.join(done.files_failed)}")
