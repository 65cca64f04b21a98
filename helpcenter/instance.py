"""Where the site keeps its data, for commands that work without the web app.

The same resolution as :func:`helpcenter.web.create_app`: the database URL
setting or SQLite in the instance folder, and the upload folder setting or
``instance/uploads``.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from .config import Settings
from .fsutil import private_dir, write_private
from .support.storage import Storage, sqlite_file

log = logging.getLogger(__name__)


def instance_path(settings: Settings) -> Path:
    return Path(settings.instance_dir).resolve()


def make_instance_dir(settings: Settings) -> Path:
    """The instance folder, created private (0700): it holds personal data and the secret key.

    A folder left readable by an earlier version is tightened, if it is ours.
    """
    path = instance_path(settings)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)  # a folder we cannot make stops the site here
    try:
        private_dir(path)  # logs when it tightens
    except OSError as exc:
        log.warning("cannot make the instance folder %s private: %s", path, exc)
    return path


def missing_database(settings: Settings) -> str | None:
    """Why the site's SQLite database is not there, naming where it was looked for; None when it is.

    Commands that read data refuse to run without it: SQLite would silently make
    a new, empty one (and report zeros) when run from the wrong folder.
    """
    url = database_url(settings)
    db_file = sqlite_file(url)
    if db_file is None or db_file.exists():
        return None
    where = db_file.resolve()
    if settings.database_url:
        return (f"no database at {where} (from HELPCENTER_DATABASE_URL): check the setting. "
                "Only the web app and `helpcenter db upgrade` create the database.")
    return (f"no database at {where}. Run this command in the site's folder (where the web app keeps "
            "instance/), or point it at the site's data with HELPCENTER_INSTANCE_DIR=/path/to/instance or "
            "HELPCENTER_DATABASE_URL=... (in the environment or the HELPCENTER_CONFIG file). "
            "Only the web app and `helpcenter db upgrade` create the database.")


def database_url(settings: Settings) -> str:
    return settings.database_url or f"sqlite:///{instance_path(settings) / 'helpcenter.db'}"


def upload_dir(settings: Settings) -> Path:
    return Path(settings.upload_dir or instance_path(settings) / "uploads")


def open_storage(settings: Settings) -> Storage:
    """A Storage with its schema at head (raises StorageUnavailable when the database is down,
    SchemaError when it refuses the schema: see ``auto_migrate``)."""
    if not settings.database_url:
        make_instance_dir(settings)
    storage = Storage(database_url(settings), auto_migrate=bool(settings.auto_migrate))
    storage.create_all()
    return storage


def secret_key(settings: Settings, create: bool = True) -> str:
    """The key that signs sessions, CSRF tokens and the requesters' status links: the setting, or
    one generated into the instance folder. The outbox worker (``helpcenter deliver``) needs the
    same key as the site to put working links into e-mails, so it never makes one (``create``
    False: "" when there is none)."""
    if settings.secret_key:
        return settings.secret_key
    key_file = (make_instance_dir(settings) if create else instance_path(settings)) / "secret_key"
    if not create and not key_file.is_file():
        return ""
    if not key_file.exists():
        # Written once, readable only by us; several workers share it through the file. Atomic, so
        # a worker starting meanwhile never reads a half-written key; the first writer's key wins.
        try:
            write_private(key_file, secrets.token_hex(32).encode("ascii"), fsync=True)
        except FileExistsError:
            pass
    return key_file.read_text().strip()
