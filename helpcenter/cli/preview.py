"""``helpcenter preview``: the site on the working folder, drafts shown, rebuilt on every save."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from .common import articles_option, index_option, model_option, settings_from


@click.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@articles_option
@index_option
@model_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5001, show_default=True, type=int)
@click.pass_context
def preview(ctx: click.Context, directory: str | None, articles_dir: str | None, index_dir: str | None,
            model: str | None, host: str, port: int) -> None:
    """Serve the articles as they will look, drafts included (marked 草稿), and reload the open
    page after every save, with `check`'s findings for it on the page.

    Builds into a folder of its own, starting from a copy of the published index (so only what
    you changed is embedded), and uses a throwaway database: the real site is never touched.
    """
    from ..engine.preview import Preview, seed_from
    from ..engine.search import Searcher
    from ..web import create_app
    from ..web.preview import init_preview

    base = settings_from(ctx, articles_dir=directory or articles_dir, index_dir=index_dir, model=model)
    work = Path(tempfile.mkdtemp(prefix="helpcenter-preview-"))
    settings = base.with_overrides(index_dir=str(work / "index"), instance_dir=str(work / "instance"),
                                   database_url="", outbox_worker=0, public_url="")
    if seed_from(Path(base.index_dir), Path(settings.index_dir)):
        click.echo(f"starting from the published index in {base.index_dir}")
    live = Preview(settings)
    click.echo(f"building {settings.articles_dir} (drafts included) …")
    state = live.rebuild()
    click.echo(f"built in {state.seconds:.1f} s" + (f"; not published: {state.error}" if state.error else ""))
    if state.error and not (Path(settings.index_dir) / "current").exists():
        raise click.ClickException("the articles have errors and there is nothing to show yet: "
                                   "run `helpcenter check` and fix them")
    app = create_app(settings=settings, searcher=Searcher(settings, embedder=live.embedder))
    init_preview(app, live)
    stop = live.start()
    click.echo(f"preview on http://{host}:{port}/ — watching {settings.articles_dir}; Ctrl-C stops")
    try:
        app.run(host=host, port=port, threaded=True, use_reloader=False)
    finally:
        stop.set()
