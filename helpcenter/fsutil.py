"""File-system steps shared by the wings: durable writes (index publisher, escalation spool) and the one
way private folders and files are made (uploads, instance folder, database, spool, secret key, exports).

Personal data and keys must never be readable by other users of the machine, whatever the umask, and a
reader (another worker, SQLite, the spool replay) must never see a half-written file.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (new files, renames) to disk, not just the files' contents."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def tighten(path: Path, mode: int) -> bool:
    """Give an existing file or folder of ours ``mode`` if it allows more; True when it was changed.

    Someone else's is left alone (we could not change it anyway). Raises OSError (e.g. not there)."""
    st = path.stat()
    if st.st_uid != os.getuid() or not st.st_mode & 0o777 & ~mode:
        return False
    os.chmod(path, mode)
    return True


def private_dir(path: Path) -> Path:
    """Create a folder readable by us alone (0700; missing parents get the usual mode), or tighten an
    existing one of ours."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if tighten(path, 0o700):
        log.info("folder %s made private (0700)", path)
    return path


def write_private(path: Path, data: bytes, *, replace: bool = False, fsync: bool = False) -> None:
    """Write ``data`` to a new owner-only (0600) file, atomically: readers see all of it or nothing.

    The bytes go to a temporary file in the same folder first, which then takes the name: without
    ``replace`` only if the name is free (FileExistsError otherwise: a racing writer's file stays),
    with it replacing what was there. ``fsync``: the contents and then the folder entry reach the disk.
    """
    tmp = path.with_name(f".tmp-{path.name}-{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # atomic, and refuses to replace an existing file
            except FileExistsError:
                raise
            except OSError:  # a file system without hard links
                if path.exists():
                    raise FileExistsError(path) from None
                os.rename(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if fsync:
        fsync_dir(path.parent)
