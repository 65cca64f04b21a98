"""The ``database_url`` and ``store`` fixtures: each test once on SQLite and once on a real PostgreSQL.

PostgreSQL comes from ``HELPCENTER_TEST_POSTGRES_URL`` (an admin URL; ``scripts/test`` runs
pytest through ``scripts/with-postgres``, which starts a throwaway server and sets it). Each
test gets a fresh database, dropped afterwards. Without the variable the PostgreSQL half is
skipped, except on CI (``CI=true``), where it fails: CI must prove PostgreSQL works.

Use it with ``from .databases import database_url  # noqa: F401``; ``postgres_url`` is the
PostgreSQL half alone.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

POSTGRES_ENV = "HELPCENTER_TEST_POSTGRES_URL"


def postgres_admin_url() -> str:
    url = os.environ.get(POSTGRES_ENV, "")
    if not url:
        message = (f"PostgreSQL tests need {POSTGRES_ENV} (a server they may create databases on); "
                   "scripts/test starts a throwaway one through scripts/with-postgres")
        if os.environ.get("CI", "").lower() in {"true", "1", "yes"}:
            pytest.fail(message + ": on CI it is required", pytrace=False)
        pytest.skip(message)
    return url


def fresh_postgres_database() -> Iterator[str]:
    admin_url = postgres_admin_url()
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"hc_test_{secrets.token_hex(6)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except SQLAlchemyError as exc:
        admin.dispose()
        pytest.fail(f"PostgreSQL at {make_url(admin_url).render_as_string(hide_password=True)} "
                    f"cannot be used: {exc}", pytrace=False)
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hc-test.db'}"
    else:
        yield from fresh_postgres_database()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """Only the PostgreSQL half, for tests about PostgreSQL itself."""
    yield from fresh_postgres_database()


@pytest.fixture
def store(database_url: str) -> Iterator[Any]:
    """A Storage on ``database_url`` with the schema in place (both databases)."""
    from helpcenter.support.storage import Storage

    s = Storage(database_url)
    s.create_all()
    yield s
    s.engine.dispose()

