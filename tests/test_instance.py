"""The instance folder (instance.py): private file modes, and data commands that never invent a database."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpcenter.cli import main

from .conftest import csrf_from


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_files_and_instance_folder_are_private(make_app, tmp_path):
    app = make_app()
    instance = Path(app.instance_path)
    db = instance / "helpcenter.db"
    assert mode(instance) == 0o700
    assert db.exists() and mode(db) == 0o600
    client = app.test_client()  # writes: a vote and a logged search go through the WAL
    assert client.post("/articles/contact/email/feedback",
                       data={"csrf_token": csrf_from(client), "helpful": "yes"}).status_code == 302
    client.get("/search?q=密码")
    assert app.extensions["hc_search_log"].flush()
    wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
    assert wal.exists() and shm.exists()
    assert (mode(db), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)
    assert mode(instance / "secret_key") == 0o600


def test_an_existing_readable_database_is_made_private_on_start(make_app, tmp_path):
    first = make_app()
    db = Path(first.instance_path) / "helpcenter.db"
    first.extensions["hc_storage"].engine.dispose()
    os.chmod(db, 0o644)  # as every earlier version left it
    make_app()
    assert mode(db) == 0o600


ENV_KEYS = ("HELPCENTER_DATABASE_URL", "HELPCENTER_INSTANCE_DIR", "HELPCENTER_CONFIG")


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A folder that is not the site's: no instance/ here."""
    folder = tmp_path / "somewhere-else"
    folder.mkdir()
    monkeypatch.chdir(folder)
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    return folder


@pytest.mark.parametrize("args", [
    ["report"],
    ["privacy", "export", "--email", "a@example.com"],
    ["privacy", "delete", "--email", "a@example.com", "--yes"],
    ["privacy", "purge", "--days", "30"],
    ["deliver", "--once"],
])
def test_data_commands_refuse_a_missing_database_and_say_where_they_looked(elsewhere, args):
    res = CliRunner().invoke(main, args, env={"HELPCENTER_MODEL": "hash"})
    assert res.exit_code != 0
    expected = str(elsewhere / "instance" / "helpcenter.db")
    assert expected in res.output
    assert "HELPCENTER_INSTANCE_DIR" in res.output and "HELPCENTER_DATABASE_URL" in res.output
    assert not (elsewhere / "instance").exists()  # nothing created


def test_data_commands_use_the_database_the_site_made(make_app, monkeypatch):
    app = make_app()
    monkeypatch.chdir(Path(app.instance_path).parent)
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    res = CliRunner().invoke(main, ["privacy", "export", "--email", "nobody@example.com"])
    assert res.exit_code == 0, res.output


def test_the_delivery_worker_waits_for_the_database_instead_of_making_one(elsewhere):
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    proc = subprocess.Popen([sys.executable, "-m", "helpcenter.cli", "deliver"], cwd=elsewhere, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()
        assert str(elsewhere / "instance" / "helpcenter.db") in first
        assert "waiting" in proc.stderr.readline() and proc.poll() is None
        assert not (elsewhere / "instance").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stderr.close()
