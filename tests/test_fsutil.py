"""helpcenter.fsutil: the one way private folders and files are made (uploads, instance, database,
spool, secret key, privacy exports)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from helpcenter.fsutil import private_dir, write_private


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask():
    """The most permissive umask: a private mode must come from the code, not the environment."""
    old = os.umask(0)
    yield
    os.umask(old)


def test_private_dir_creates_owner_only_folders_and_tightens_our_loose_one(tmp_path, open_umask):
    made = private_dir(tmp_path / "a" / "b")
    assert made == tmp_path / "a" / "b" and mode(made) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    assert mode(loose) == 0o755
    private_dir(loose)
    assert mode(loose) == 0o700


def test_write_private_is_owner_only_never_replaces_unless_asked_and_leaves_no_temp_files(tmp_path, open_umask):
    target = tmp_path / "secret"
    write_private(target, b"first")
    assert target.read_bytes() == b"first" and mode(target) == 0o600
    with pytest.raises(FileExistsError):
        write_private(target, b"second")  # e.g. a second worker writing the secret key: the first one stays
    assert target.read_bytes() == b"first"
    target.chmod(0o644)
    write_private(target, b"third", replace=True, fsync=True)  # e.g. an export run again into the same folder
    assert target.read_bytes() == b"third" and mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]


def test_the_site_and_the_spool_make_their_files_through_it_private_whatever_the_umask(make_app, open_umask):
    from helpcenter.support.delivery import write_spool

    app = make_app()
    instance = app.extensions["hc_upload_dir"].parent
    assert mode(instance) == 0o700 and mode(app.extensions["hc_upload_dir"]) == 0o700
    assert mode(instance / "secret_key") == 0o600 and mode(instance / "helpcenter.db") == 0o600
    spool = app.extensions["hc_spool_dir"]
    reference, _ = write_spool(spool, {"subject": "退款"}, {}, [])
    assert [p.name for p in spool.iterdir()] == [f"{reference}.json"]  # no temporary file left
    assert mode(spool / f"{reference}.json") == 0o600
