"""`helpcenter learn list|accept|block`: the questions search learned from use.

Thin commands over :mod:`helpcenter.insights.learning`, the same decisions as the buttons of
"搜索学到的问题" on /admin. ``list`` also says which (article, query) pairs the next index build
adds under the current ``learning`` setting.
"""

from __future__ import annotations

import getpass

import click
from sqlalchemy.exc import SQLAlchemyError

from ..insights import learning
from .common import echo_json, open_storage_or_fail, settings_from


@click.group()
def learn() -> None:
    """Questions search learned from use: list the candidates, accept or block them."""


def _normalise(text: str) -> str:
    from ..engine.text import normalise

    return normalise(text)


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in this environment (a bare container)
        return "cli"


@learn.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """Candidates (score, visits, agent links), the decisions made, and what the next build adds."""
    settings = settings_from(ctx)
    storage = open_storage_or_fail(settings)
    options = {"half_life_days": settings.learn_half_life_days, "normalise": _normalise}
    try:
        found = learning.candidates(storage, settings.learn_threshold, **options)
        decided = learning.decisions(storage)
        next_build = learning.learned_questions(storage, settings.learning, settings.learn_threshold, **options)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"database: {exc}") from None
    if as_json:
        echo_json({"mode": settings.learning, "threshold": settings.learn_threshold,
                   "candidates": [c.as_json() for c in found], "decisions": [d.as_json() for d in decided],
                   "next_build": [{"article": a, "query": q} for a, q in next_build]})
        return
    click.echo(f"候选（{settings.learn_threshold:g} 分起）：")
    for c in found:
        mark = "  [已采纳]" if c.status == "accepted" else ""
        click.echo(f"  {c.query} → {c.article}  {c.score:.1f} 分，{c.visits} 次访问（有用 {c.positive_visits} / "
                   f"没用 {c.negative_visits}），客服解答 {c.agent_links}{mark}")
    if not found:
        click.echo("  （无）")
    click.echo("已做的决定：")
    for d in decided:
        click.echo(f"  {d.query} → {d.article}  {'已采纳' if d.status == 'accepted' else '已屏蔽'}  "
                   f"{d.decided_by} {d.decided_at:%Y-%m-%d}")
    if not decided:
        click.echo("  （无）")
    click.echo(f"下次构建索引会加进文章的说法（learning = {settings.learning}）：{len(next_build)} 条")


def _decide(ctx: click.Context, query: str, article: str, status: str, by: str | None) -> None:
    from ..engine.index import IndexError_
    from ..engine.search import Searcher

    settings = settings_from(ctx)
    storage = open_storage_or_fail(settings)
    try:
        known = Searcher(settings).index().articles
    except IndexError_:
        known = None  # no index to check against: the build skips articles it does not have
    if known is not None and article not in known:
        raise click.BadParameter(f"no article {article!r} in the index", param_hint="ARTICLE")
    try:
        decision = learning.decide(storage, query, article, status, by or _operator(), normalise=_normalise)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except SQLAlchemyError as exc:
        raise click.ClickException(f"database: {exc}") from None
    click.echo(f"{'已采纳' if status == 'accepted' else '已屏蔽'}：{decision.query} → {decision.article}")


by_option = click.option("--by", help="Who decided (recorded with the decision; default: cli:<user name>).")


@learn.command("accept")
@click.argument("query")
@click.argument("article")
@by_option
@click.pass_context
def accept(ctx: click.Context, query: str, article: str, by: str | None) -> None:
    """Accept QUERY as a question ARTICLE (e.g. account/forgot-password) answers."""
    _decide(ctx, query, article, "accepted", by)


@learn.command("block")
@click.argument("query")
@click.argument("article")
@by_option
@click.pass_context
def block(ctx: click.Context, query: str, article: str, by: str | None) -> None:
    """Block QUERY for ARTICLE: search never learns it, whatever the evidence."""
    _decide(ctx, query, article, "blocked", by)
