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
        demoted = learning.demotions(storage, settings.learn_threshold, **options)
        next_demoted = learning.demoted_questions(storage, settings.learning, settings.learn_threshold, **options)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"database: {exc}") from None
    if as_json:
        echo_json({"mode": settings.learning, "threshold": settings.learn_threshold,
                   "candidates": [c.as_json() for c in found], "decisions": [d.as_json() for d in decided],
                   "demoted": [d.as_json() for d in demoted],
                   "next_build": [{"article": a, "query": q} for a, q in next_build],
                   "next_build_demoted": [{"article": a, "query": q, "strength": w} for a, q, w in next_demoted]})
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
    click.echo("排名被降低的文章（一再没有帮助；采纳即取消）：")
    for d in demoted:
        click.echo(f"  {d.query} → {d.article}  {d.score:.1f} 分，没用 {d.negative_visits} 次访问")
    if not demoted:
        click.echo("  （无）")
    click.echo(f"下次构建索引会加进文章的说法（learning = {settings.learning}）：{len(next_build)} 条，"
               f"降低排名：{len(next_demoted)} 条")


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


@click.command("tune")
@click.option("--epochs", type=click.IntRange(1, 20), default=1, show_default=True, help="Passes over the pairs.")
@click.option("--out", type=click.Path(file_okay=False), help="Folder for the tuned model "
              "(default: <instance>/models/tuned-<time>).")
@click.option("--min-pairs", type=click.IntRange(2), default=50, show_default=True,
              help="Learned pairs needed to train on (besides the 20 % held out to judge by).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def tune_cmd(ctx: click.Context, epochs: int, out: str | None, min_pairs: int, as_json: bool) -> None:
    """Fine-tune the model on the questions search learned; keep it only if it ranks held-out ones better.

    Trains on 80 % of the learned (query, article) pairs the next build would use, judges the
    current and the tuned model on the other 20 % (MRR@10 over the live index's articles) and
    keeps the tuned folder only if it wins by 0.01 or more. Adopting it is a configuration change
    on every node (HELPCENTER_MODEL), then `helpcenter build-index`: the command says how.
    """
    import datetime as dt
    import shutil
    from pathlib import Path

    from ..engine.default_model import ensure_default_model
    from ..engine.embed import embedder_for
    from ..engine.index import IndexError_
    from ..engine.model_files import DEFAULT_MODEL_NAME
    from ..engine.search import Searcher
    from ..engine.tune import GAIN_NEEDED, TuneError, tune_on_site

    settings = settings_from(ctx)
    if settings.learning == "off":
        raise click.UsageError("learning is off (HELPCENTER_LEARNING=off): there are no learned questions to tune on")
    if settings.model == DEFAULT_MODEL_NAME:
        model_path = str(ensure_default_model(Path(settings.model_cache) if settings.model_cache else None))
    elif Path(settings.model).is_dir():
        model_path = settings.model
    else:
        raise click.UsageError(f"model {settings.model!r} is not a sentence-transformers folder on this machine: "
                               "only such a model can be fine-tuned")
    storage = open_storage_or_fail(settings)
    try:
        learned = learning.learned_questions(storage, settings.learning, settings.learn_threshold,
                                             half_life_days=settings.learn_half_life_days, normalise=_normalise)
    except SQLAlchemyError as exc:
        raise click.ClickException(f"database: {exc}") from None
    try:
        idx = Searcher(settings).index()
    except IndexError_ as exc:
        raise click.ClickException(str(exc)) from None
    folder = Path(out) if out else Path(settings.instance_dir) / "models" / (
        "tuned-" + dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    try:
        report = tune_on_site(idx, embedder_for(settings), model_path, learned, folder, epochs=epochs,
                              min_pairs=min_pairs, log=lambda m: click.echo(m, err=True))
    except TuneError as exc:
        raise click.ClickException(str(exc)) from None
    if not report.better:
        shutil.rmtree(folder, ignore_errors=True)  # about 500 MB that would never be used
    if as_json:
        echo_json({**report.as_json(), "kept": report.better})
        return
    click.echo(f"训练 {report.pairs} 对（{report.epochs} 轮，{report.seconds / 60:.1f} 分钟），用 {report.held_out} 对"
               f"未参与训练的检验：当前模型 MRR@10 {report.base_mrr:.3f}，微调后 {report.tuned_mrr:.3f}")
    if report.better:
        click.echo(f"微调后的模型更好，已保存在 {folder}。采用它：在每个节点设置 HELPCENTER_MODEL={folder}"
                   "（或配置文件里的 model），然后运行 helpcenter build-index。")
    else:
        click.echo(f"微调后的模型没有明显更好（需要高出 {GAIN_NEEDED:g}），没有保留；继续用当前模型。")
