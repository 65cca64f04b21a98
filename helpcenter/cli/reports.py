"""`helpcenter report`: the writers' report over the search log, votes and requests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from sqlalchemy.exc import SQLAlchemyError

from ..locales import Locales
from .common import check_days, echo_json, open_storage_or_fail, settings_from

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
    from ..engine.embed import embedder_for
    from ..engine.index import IndexError_
    from ..engine.search import Searcher
    from ..insights.report import build_report, default_period

    settings = settings_from(ctx)
    default_since, default_until = default_period(settings.support_timezone)
    last = until.date() if until else default_until
    first = since.date() if since else last - (default_until - default_since)
    check_days(first, last)
    storage = open_storage_or_fail(settings)
    try:
        titles = {a: art["title"] for a, art in Searcher(settings).index().articles.items()}
    except IndexError_:
        titles = {}  # no index: articles are shown by id
    try:
        result = build_report(storage, lambda: embedder_for(settings), first, last,
                              timezone=settings.support_timezone, threshold=settings.report_cluster_threshold,
                              titles=titles, top=top, default_locale=Locales.parse(settings.locales).default)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"database: {exc}") from None
    if csv_path:
        # UTF-8 with a BOM, so spreadsheet programs read the Chinese text correctly.
        Path(csv_path).write_text(result.to_csv(), encoding="utf-8-sig")
        click.echo(f"wrote {csv_path}", err=True)
    if as_json:
        echo_json(result.as_json())
    else:
        click.echo(result.to_text())
