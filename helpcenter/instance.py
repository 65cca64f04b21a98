"""Where the site keeps its data, for commands that work without the web app.

The same resolution as :func:`helpcenter.web.create_app`: the database URL
setting or SQLite in the instance folder, and the upload folder setting or
``instance/uploads``.
"""

from __future__ import annotations

from pathlib import Path

from .config import Settings
from .support.storage import Storage


def instance_path(settings: Settings) -> Path:
    return Path(settings.instance_dir).resolve()


def database_url(settings: Settings) -> str:
    return settings.database_url or f"sqlite:///{instance_path(settings) / 'helpcenter.db'}"


def upload_dir(settings: Settings) -> Path:
    return Path(settings.upload_dir or instance_path(settings) / "uploads")


def open_storage(settings: Settings) -> Storage:
    """A Storage with every table created (raises StorageUnavailable when the database is down)."""
    if not settings.database_url:
        instance_path(settings).mkdir(parents=True, exist_ok=True)
    storage = Storage(database_url(settings))
    storage.create_all()
    return storage
