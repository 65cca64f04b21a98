"""Commands for ops: deliver (the outbox and the spool) and serve (the development server)."""

from __future__ import annotations

import click

from .common import index_option, settings_from


@click.command()
@click.option("--once", is_flag=True, help="One pass (replay the spool, deliver what is due), then exit.")
@click.option("--retry-failed", is_flag=True, help="First queue the notifications that were given up on again.")
@click.pass_context
def deliver(ctx: click.Context, once: bool, retry_failed: bool) -> None:
    """Deliver queued notifications (e-mail, webhook) and store spooled requests.

    The web processes do this too (HELPCENTER_OUTBOX_WORKER=1); any number of workers may run.
    Without the site's SQLite database, --once fails and the worker waits for the web app to create
    it, unless requests wait in the spool: storing those is what the database is for.
    """
    import signal
    import time

    from ..instance import database_url, missing_database, secret_key
    from ..support.delivery import Outbox, spool_path, spooled_files
    from ..support.storage import Storage, StorageUnavailable

    settings = settings_from(ctx)
    problem = missing_database(settings)
    if problem and spooled_files(spool_path(settings)):
        problem = None  # the spool proves this is the site's data: create the database to store them
    if problem and (once or retry_failed):
        raise click.ClickException(problem)
    if problem:
        # A worker started before the site (a service at boot): wait rather than make an empty database.
        click.echo(f"{problem}\nwaiting for it to appear (Ctrl-C stops)", err=True)
        try:
            while missing_database(settings):
                time.sleep(settings.outbox_poll_seconds)
        except KeyboardInterrupt:
            return
    storage = Storage(database_url(settings), auto_migrate=bool(settings.auto_migrate))
    secret = secret_key(settings, create=False)
    if not secret and settings.public_url:
        click.echo("no secret key (HELPCENTER_SECRET_KEY, or instance/secret_key written by the site): "
                   "e-mails go out without status links", err=True)
    outbox = Outbox(storage, settings, secret=secret)
    try:
        if retry_failed:
            click.echo(f"queued {storage.retry_failed()} failed notification(s) again")
        if not once:
            signal.signal(signal.SIGTERM, lambda *_: outbox.stop(timeout=0))
            click.echo(f"delivering (worker {outbox.worker_id}); Ctrl-C stops", err=True)
            try:
                outbox.run_forever()
            except KeyboardInterrupt:
                pass
            return
        run = outbox.run_once()
    except StorageUnavailable as exc:
        left = len(spooled_files(spool_path(settings)))
        raise click.ClickException(f"database unavailable ({left} request(s) stay spooled): "
                                   f"{str(exc).splitlines()[0]}") from None
    r = run.replay
    click.echo(f"spool: {len(r.replayed)} stored, {len(r.already_stored)} already stored, "
               f"{len(r.renamed)} stored under a new reference, {len(r.kept)} kept, {len(r.unreadable)} unreadable")
    for old_ref, new_ref in r.renamed.items():
        click.echo(f"  {old_ref} was stored as {new_ref} (its reference had been taken)")
    click.echo(f"outbox: {len(run.delivered)} delivered, {len(run.retrying)} to retry, {len(run.failed)} given up")
    counts = storage.outbox_counts()
    click.echo("queue: " + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("pending", "sending", "delivered", "failed")))
    for m in storage.outbox_messages(status="failed"):
        click.echo(f"  failed: {m.reference} {m.channel} after {m.attempts} attempt(s): {m.last_error}")


@click.command()
@index_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.pass_context
def serve(ctx: click.Context, index_dir: str | None, host: str, port: int) -> None:
    """Development server (the README's run command uses gunicorn)."""
    from ..web import create_app

    app = create_app(settings=settings_from(ctx, index_dir=index_dir))
    app.run(host=host, port=port, threaded=True)
