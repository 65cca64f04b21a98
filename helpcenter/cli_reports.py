"""`helpcenter report` and `helpcenter privacy ...`: click commands over analytics and privacy.

Registered on the main group in :mod:`helpcenter.cli`.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError

from .config import ConfigError, Settings, load_settings


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    try:
        return load_settings((ctx.find_root().obj or {}).get("config"), **overrides)
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


def _storage(settings: Settings) -> Any:
    from .instance import open_storage
    from .storage import StorageUnavailable

    try:
        return open_storage(settings)
    except StorageUnavailable as exc:
        raise click.ClickException(str(exc)) from None


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


date_type = click.DateTime(formats=["%Y-%m-%d"])


@click.command()
@click.option("--since", type=date_type, help="First day (YYYY-MM-DD, support time zone; default: 29 days before --until).")
@click.option("--until", type=date_type, help="Last day, included (default: today).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Also write the report as one CSV file.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--top", default=20, show_default=True, help="Rows per section.")
@click.pass_context
def report(ctx: click.Context, since: dt.datetime | None, until: dt.datetime | None, csv_path: str | None,
           as_json: bool, top: int) -> None:
    """Writers' report: top queries, unanswered questions grouped by meaning, unhelpful articles, deflection."""
    from .analytics import build_report, default_period
    from .embed import embedder_for
    from .index import IndexError_
    from .search import Searcher

    settings = _settings(ctx)
    default_since, default_until = default_period(settings.support_timezone)
    last = until.date() if until else default_until
    first = since.date() if since else last - (default_until - default_since)
    if last < first:
        raise click.BadParameter(f"{last} is before --since {first}", param_hint="--until")
    storage = _storage(settings)
    try:
        titles = {a: art["title"] for a, art in Searcher(settings).index().articles.items()}
    except IndexError_:
        titles = {}  # no index: articles are shown by id
    try:
        result = build_report(storage, lambda: embedder_for(settings), first, last,
                              timezone=settings.support_timezone, threshold=settings.report_cluster_threshold,
                              titles=titles, top=top)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"database: {exc}") from None
    if csv_path:
        # UTF-8 with a BOM, so spreadsheet programs read the Chinese text correctly.
        Path(csv_path).write_text(result.to_csv(), encoding="utf-8-sig")
        click.echo(f"wrote {csv_path}", err=True)
    if as_json:
        _echo_json(result.as_json())
    else:
        click.echo(result.to_text())


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
    from .instance import upload_dir

    return upload_dir(settings)


@privacy.command("export")
@_person_options
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Copy screenshots into this folder (and write export.json there) instead of embedding them.")
@click.pass_context
def export_cmd(ctx: click.Context, email: str | None, phone: str | None, out_dir: str | None) -> None:
    """Print everything stored about a person as JSON (screenshots base64-encoded unless --out)."""
    from .privacy import export_person

    _need_person(email, phone)
    settings = _settings(ctx)
    try:
        data = export_person(_storage(settings), _upload_dir(settings), email=email, phone=phone, out_dir=out_dir)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"database: {exc}") from None
    _echo_json(data)
    click.echo(f"{len(data['escalations'])} escalation(s), {len(data['searches'])} search(es)"
               + (f"; files and export.json in {out_dir}" if out_dir else ""), err=True)


@privacy.command("delete")
@_person_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def delete_cmd(ctx: click.Context, email: str | None, phone: str | None, yes: bool) -> None:
    """Delete a person's escalations, their screenshot files and the searches of their visits."""
    from .privacy import delete_person

    _need_person(email, phone)
    settings = _settings(ctx)
    storage, uploads = _storage(settings), _upload_dir(settings)
    try:
        plan = delete_person(storage, uploads, email=email, phone=phone, dry_run=True)
        if not plan.escalations:
            click.echo("nothing stored for this person")
            return
        click.echo(f"escalations: {', '.join(plan.escalations)}")
        click.echo(f"screenshot files: {len(plan.files_removed)}"
                   + (f" ({len(plan.files_missing)} already missing)" if plan.files_missing else ""))
        click.echo(f"searches of their visits: {plan.searches}")
        if not yes:
            click.confirm("delete all of this?", abort=True)
        done = delete_person(storage, uploads, email=email, phone=phone)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"database: {exc}") from None
    click.echo(f"removed {len(done.escalations)} escalation(s) ({', '.join(done.escalations)}), "
               f"{len(done.files_removed)} file(s), {done.searches} search(es)")
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
    """Clear personal fields and screenshots of escalations older than retention_days."""
    from .privacy import purge_expired

    settings = _settings(ctx)
    keep = settings.retention_days if days is None else days
    if keep <= 0:
        click.echo("retention_days is 0: personal data is kept; nothing to purge")
        return
    try:
        done = purge_expired(_storage(settings), _upload_dir(settings), keep)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"database: {exc}") from None
    if as_json:
        _echo_json(done.as_json())
        return
    click.echo(f"cleared personal data of {len(done.escalations)} escalation(s) created before "
               f"{done.cutoff:%Y-%m-%d %H:%M} UTC; removed {len(done.files_removed)} file(s)")
    if done.files_failed:
        raise click.ClickException(f"could not remove {len(done.files_failed)} file(s): {', '.join(done.files_failed)}")
