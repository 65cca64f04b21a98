"""`helpcenter db upgrade|current|revision`: the database schema, for ops and for writers of a change.

The web app upgrades by itself at start-up (``HELPCENTER_AUTO_MIGRATE=1``); these commands let ops
do it as a step of their own (scripts/run does, before gunicorn) and see where a database stands.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy.exc import SQLAlchemyError

from .common import settings_from

if TYPE_CHECKING:
    from ..support.storage import Storage


def _name(storage: "Storage") -> str:
    return storage.engine.url.render_as_string(hide_password=True)


@click.group()
def db() -> None:
    """The database schema: upgrade it to this version's, show where it stands."""


@db.command("upgrade")
@click.pass_context
def upgrade_cmd(ctx: click.Context) -> None:
    """Bring the database to this version's schema (creating it if there is none), under a lock.

    An install of release 0.1.0 is recognised and kept; a database newer than this code is refused.
    """
    from ..instance import database_url, make_instance_dir
    from ..support.migrate import SchemaError
    from ..support.storage import Storage, StorageUnavailable

    settings = settings_from(ctx)
    if not settings.database_url:
        make_instance_dir(settings)  # the default SQLite file lives there
    storage = Storage(database_url(settings))
    try:
        result = storage.upgrade()
    except (SchemaError, StorageUnavailable) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        storage.engine.dispose()
    if not result.changed:
        click.echo(f"{_name(storage)}: already at {result.after} (head), nothing to do")
        return
    if result.stamped:
        click.echo(f"{_name(storage)}: release 0.1.0's tables found, recorded as revision 0001 (rows kept)")
    click.echo(f"{_name(storage)}: {result.before.describe()} -> upgraded to {result.after} (head)")


@db.command("current")
@click.pass_context
def current_cmd(ctx: click.Context) -> None:
    """Print the database's revision and whether it is at this version's head (exit 1 when not)."""
    from ..instance import database_url, missing_database
    from ..support import migrate
    from ..support.storage import Storage

    settings = settings_from(ctx)
    problem = missing_database(settings)
    if problem:
        raise click.ClickException(problem)
    storage = Storage(database_url(settings))
    try:
        state = migrate.state(storage.engine)
    except (SQLAlchemyError, migrate.SchemaError) as exc:
        raise click.ClickException(f"database {_name(storage)}: {exc}") from None
    finally:
        storage.engine.dispose()
    click.echo(f"{_name(storage)}: {state.describe()}")
    if not state.at_head:
        if not state.unknown:
            click.echo(f"run `{migrate.UPGRADE_COMMAND}` to bring it to {state.head}", err=True)
        ctx.exit(1)


@db.command("revision")
@click.option("-m", "--message", required=True, help="What the change does, e.g. \"staff accounts\".")
@click.option("--autogenerate/--empty", default=True, show_default=True,
              help="Fill it with the difference between helpcenter/db.py and the migrations so far.")
def revision_cmd(message: str, autogenerate: bool) -> None:
    """For writers of a schema change: add helpcenter/migrations/versions/NNNN_<message>.py.

    The difference is taken against a throwaway SQLite database upgraded to the current head, so
    no real database is touched. Read the file it writes and fix what Alembic cannot guess
    (renames, data to move), then run tests/test_migrations.py.
    """
    from alembic import command
    from sqlalchemy import create_engine

    from ..support import migrate

    rev_id = f"{int(migrate.head()) + 1:04d}" if migrate.head().isdigit() else None
    with tempfile.TemporaryDirectory(prefix="helpcenter-revision-") as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'head.db'}")
        try:
            if autogenerate:
                migrate.upgrade(engine)
            with engine.connect() as conn:
                scripts = command.revision(migrate.alembic_config(conn), message, autogenerate=autogenerate,
                                           rev_id=rev_id)
        finally:
            engine.dispose()
    for script in scripts if isinstance(scripts, list) else [scripts]:
        if script is not None:
            click.echo(f"wrote {script.path}")
