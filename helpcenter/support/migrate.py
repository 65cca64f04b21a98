"""Schema migrations: bring a database to the schema this code needs, safely, or say why not.

The migrations are Alembic scripts shipped in :mod:`helpcenter.migrations`; Alembic is configured
here in code (no ``alembic.ini``). Three kinds of database arrive here:

- empty: every migration runs, from ``0001`` (the baseline);
- made by release 0.1.0, which used ``create_all`` and has no ``alembic_version`` table: once its
  tables are checked it is *stamped* at the baseline (its schema is exactly that), then upgraded;
- already under Alembic: upgraded from its revision. A revision this code does not know means the
  database is newer than the code (a rollback of the code): refused, never downgraded.

Every upgrade holds a lock for its whole run, so web nodes and workers starting together are safe
(one migrates, the others wait and then find nothing to do): on PostgreSQL an advisory lock on the
connection Alembic uses, on SQLite the database's write lock (``BEGIN IMMEDIATE``, with the whole
upgrade in that one transaction: SQLite's DDL is transactional once pysqlite stops committing
behind our back).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
BASELINE = "0001"
# The key release 0.1.0's create_all locked: an old node starting mid-upgrade waits for us too.
PG_LOCK_KEY = 7243001
UPGRADE_COMMAND = "helpcenter db upgrade"
# Alembic's `context` is one module-level object: two commands at once in one process (two
# Storages, two threads) would trample each other's. Taken inside the database lock, always.
_ALEMBIC = threading.Lock()


class SchemaError(RuntimeError):
    """The database's schema is not the one this code needs and will not be changed here.

    Not a StorageUnavailable: at start-up it stops the site (the message says what to do)
    instead of letting it run on a schema it does not understand.
    """


class SchemaOutdated(SchemaError):
    """Behind this code's schema while automatic migration is off."""


class SchemaTooNew(SchemaError):
    """At a revision this code does not know: made by a newer release."""


class SchemaUnrecognised(SchemaError):
    """Some of the baseline tables without an ``alembic_version``: not a database we made."""


@dataclass(frozen=True)
class SchemaState:
    current: tuple[str, ...]  # revisions in alembic_version; () without one
    head: str  # what this code needs
    unknown: tuple[str, ...]  # revisions of current this code does not know (a newer release)
    legacy: bool  # release 0.1.0's tables, no alembic_version
    empty: bool  # none of our tables

    @property
    def at_head(self) -> bool:
        return self.current == (self.head,)

    def describe(self) -> str:
        if self.unknown:
            return f"at {', '.join(self.current)}, newer than this code (head {self.head})"
        if self.at_head:
            return f"at {self.head} (head)"
        if self.legacy:
            return f"release 0.1.0's tables without a revision (head {self.head})"
        if self.empty:
            return f"empty (head {self.head})"
        return f"at {', '.join(self.current)}, behind head {self.head}"


@dataclass(frozen=True)
class UpgradeResult:
    before: SchemaState
    after: str  # the revision the database is at now (head)
    stamped: bool  # a 0.1.0 database was stamped at the baseline first

    @property
    def changed(self) -> bool:
        return not self.before.at_head


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration in code: the shipped scripts and, for commands that touch the
    database, the connection to use (``env.py`` takes it from ``attributes``)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")  # versions/0002_add_staff.py
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    heads = _script().get_heads()
    if len(heads) != 1:  # two migrations made on two branches: a writer must merge them
        raise SchemaError(f"the migrations have {len(heads)} heads ({', '.join(heads)}); "
                          "merge them with Alembic's command.merge (README, Upgrades and migrations)")
    return heads[0]


def baseline_tables() -> tuple[str, ...]:
    return tuple(_script().get_revision(BASELINE).module.TABLES)  # type: ignore[union-attr]


def read_state(conn: Connection) -> SchemaState:
    """Where the database stands (reads only)."""
    current = tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
    known = {s.revision for s in _script().walk_revisions()}
    tables = set(inspect(conn).get_table_names())
    ours = tables & set(baseline_tables())
    return SchemaState(current=current, head=head(), unknown=tuple(r for r in current if r not in known),
                       legacy=not current and bool(ours), empty=not current and not ours)


def state(engine: Engine) -> SchemaState:
    with engine.connect() as conn:
        return read_state(conn)


def check(engine: Engine) -> SchemaState:
    """The state if the database is at this code's head; else SchemaOutdated or SchemaTooNew,
    naming the database and what to run."""
    st = state(engine)
    _refuse_newer(st, engine.url)
    if not st.at_head:
        raise SchemaOutdated(f"database {_name(engine.url)} is {st.describe()}: this code needs {st.head}. "
                             f"Run `{UPGRADE_COMMAND}` (HELPCENTER_AUTO_MIGRATE=0 keeps the site from doing it).")
    return st


def upgrade(engine: Engine, connect_args: dict[str, Any] | None = None) -> UpgradeResult:
    """Bring the database of ``engine`` to head under the lock (see the module docstring); returns
    what it found. ``connect_args``: the driver's, for the migrating connection.

    A database already at head is only read, through ``engine`` and without the lock, so
    starting nodes cost nothing.
    """
    url = engine.url
    st = state(engine)
    _refuse_newer(st, url)
    if st.at_head:
        return UpgradeResult(st, st.head, stamped=False)
    migrating = _migration_engine(url, connect_args or {})
    try:
        with migrating.connect() as conn, _locked(conn):
            st = read_state(conn)  # again, under the lock: another node may have done it meanwhile
            _refuse_newer(st, url)
            stamped = False
            if st.legacy:
                missing = sorted(set(baseline_tables()) - set(inspect(conn).get_table_names()))
                if missing:
                    raise SchemaUnrecognised(
                        f"database {_name(url)} has some of helpcenter's tables but not {', '.join(missing)}, "
                        "and no alembic_version: not a schema any release made; nothing was changed")
                _commit_if_pg(conn)
                with _ALEMBIC:
                    command.stamp(alembic_config(conn), BASELINE)
                stamped = True
            _commit_if_pg(conn)
            if not st.at_head:
                with _ALEMBIC:
                    command.upgrade(alembic_config(conn), "head")
        return UpgradeResult(st, head(), stamped)
    finally:
        migrating.dispose()


def _refuse_newer(st: SchemaState, url: URL) -> None:
    if st.unknown:
        raise SchemaTooNew(
            f"database {_name(url)} is at revision {', '.join(st.unknown)}, which this version of helpcenter "
            f"does not know (its newest is {st.head}): it was upgraded by a newer release. Run that release, "
            "or restore a backup made before its upgrade; helpcenter never downgrades a database.")


def _name(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _commit_if_pg(conn: Connection) -> None:
    """On PostgreSQL, end the reads' implicit transaction: Alembic then runs the migrations in
    transactions of its own (so a later migration may use ``autocommit_block``). SQLite keeps its
    one ``BEGIN IMMEDIATE`` transaction: committing would let the lock go."""
    if conn.dialect.name != "sqlite" and conn.in_transaction():
        conn.commit()


def _migration_engine(url: URL, connect_args: dict[str, Any]) -> Engine:
    """An engine of its own (one connection, no pool) for migrating.

    SQLite: pysqlite's own transaction handling is off, so the ``BEGIN IMMEDIATE`` below starts a
    real transaction that DDL joins, and the write lock is taken before anything is read. The
    ``foreign_keys`` pragma stays off (SQLite's default) as Alembic's batch mode needs: it rebuilds
    a table by copy, drop and rename, and with foreign keys on, dropping ``escalations`` would
    cascade into its attachments and outbox rows. A long busy timeout: a second upgrader waits.
    """
    if url.get_backend_name() != "sqlite":
        return create_engine(url, poolclass=NullPool, connect_args=connect_args)
    engine = create_engine(url, poolclass=NullPool, connect_args={**connect_args, "timeout": 600})

    @event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@contextlib.contextmanager
def _locked(conn: Connection) -> Iterator[None]:
    if conn.dialect.name == "sqlite":
        with conn.begin():  # BEGIN IMMEDIATE (above); commits the whole upgrade, or rolls it all back
            yield
        return
    if conn.dialect.name != "postgresql":  # only SQLite and PostgreSQL are tested; others run unlocked
        yield
        return
    conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": PG_LOCK_KEY})
    conn.commit()  # a session lock: it outlives the transactions Alembic opens and commits
    try:
        yield
    finally:
        if conn.in_transaction():
            conn.rollback()
        with contextlib.suppress(Exception):  # a broken connection has dropped the lock with itself
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PG_LOCK_KEY})
            conn.commit()
