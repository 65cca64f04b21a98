"""What every command shares: settings, the usual options, storage and JSON output."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click

from ..config import ConfigError, Settings, load_settings


def settings_from(ctx: click.Context, **overrides: Any) -> Settings:
    """Settings for this command: defaults, the config file, the environment, then its options."""
    try:
        return load_settings((ctx.find_root().obj or {}).get("config"), **overrides)
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


def open_storage_or_fail(settings: Settings) -> Any:
    """The site's storage for a command that reads or changes its data; a missing SQLite file is an error.

    Run from the wrong folder, SQLite would otherwise make a new empty database
    and the command would report zeros or "nothing stored" as if that were true.
    """
    from ..instance import missing_database, open_storage
    from ..support.migrate import SchemaError
    from ..support.storage import StorageUnavailable

    problem = missing_database(settings)
    if problem:
        raise click.ClickException(problem)
    try:
        return open_storage(settings)
    except (StorageUnavailable, SchemaError) as exc:
        raise click.ClickException(str(exc)) from None


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


articles_option = click.option("--articles", "articles_dir", type=click.Path(file_okay=False),
                               help="Articles folder (default: articles/).")
index_option = click.option("--index", "index_dir", type=click.Path(file_okay=False),
                            help="Index folder (default: index/).")
model_option = click.option("--model", help="Embedding model name or path (default: the packaged e5-small).")


def check_days(first: dt.date, last: dt.date) -> None:
    """Refuse days a report or an export cannot cover (the admin page's rule and words), and an
    --until before --since, as usage errors."""
    from ..insights.report import period_problem

    problem = period_problem(first, last)
    if problem:
        raise click.UsageError(problem)
    if last < first:
        raise click.BadParameter(f"{last} is before --since {first}", param_hint="--until")

