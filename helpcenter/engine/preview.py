"""The writer's working folder, rebuilt on every save: what ``helpcenter preview`` serves.

One process keeps what a fresh ``build-index`` would load again: the parsed files
(only a changed file is read and parsed again), the live build (vectors of passages
whose text did not change are reused), jieba and the model. So a save costs the
changed article, not the corpus. Drafts are built too, marked. A save with errors
keeps the last good build on screen and reports the errors, like the real build.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from ..config import Settings
from .build import BuildCache, BuildError, build_index
from .content import Problem
from .embed import Embedder, embedder_for

log = logging.getLogger(__name__)


@dataclass
class PreviewState:
    """What the last rebuild gave: the page shows its findings, the browser reloads on ``version``."""

    version: int = 0
    seconds: float = 0.0  # the last rebuild, from the save being noticed to the build published
    changed: list[str] = field(default_factory=list)  # files (relative to the articles' parent)
    problems: list[Problem] = field(default_factory=list)  # every finding of the last check, errors first
    error: str = ""  # the build refused to publish: the last good build is still shown
    built_at: float = 0.0


class Preview:
    """Builds ``settings.articles_dir`` into ``settings.index_dir`` (a preview's own) again and
    again; a web app reads that index as usual and waits on :meth:`wait` to reload its page."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or embedder_for(settings)
        self.cache = BuildCache()
        self.state = PreviewState()
        self._changed = threading.Condition()
        self._build_lock = threading.Lock()
        # Told each new build before any page is reloaded: a searcher adopts it (no re-read).
        self.on_built: list[Callable[[Any], None]] = []

    def rebuild(self, changed: Iterable[str] = ()) -> PreviewState:
        t0 = time.perf_counter()
        changed = list(changed)
        with self._build_lock:
            if any(not p.endswith((".md", ".yml", ".yaml")) for p in changed):
                self.cache.forget_rendered()  # an image changed: pages that show it are made again
            try:
                report = build_index(self.settings, self.embedder, drafts=True, cache=self.cache)
                problems, error = list(report.warnings), ""
                if self.cache.live is not None:
                    for tell in self.on_built:
                        tell(self.cache.live)
            except BuildError as exc:
                problems, error = list(exc.problems), str(exc)
                log.warning("preview: %s", exc)
            root = Path(self.settings.articles_dir).resolve().parent
            rel = sorted({_relative(p, root) for p in changed})
            with self._changed:
                self.state = PreviewState(self.state.version + 1, round(time.perf_counter() - t0, 3), rel,
                                          sorted(problems, key=lambda p: (p.severity != "error", p.path, p.line)),
                                          error, time.time())
                self._changed.notify_all()
        return self.state

    def wait(self, seen: int, timeout: float) -> PreviewState:
        """The state once its version is past ``seen``, or as it is after ``timeout`` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self.state.version > seen, timeout)
            return self.state

    def findings_for(self, path: str) -> list[Problem]:
        """The findings in one article's file and its translations (``account/x.md`` → also ``x.en.md``)."""
        stem = path[:-3] if path.endswith(".md") else path
        return [p for p in self.state.problems if p.path == path or p.path.startswith(stem + ".")]

    def watch(self, stop: threading.Event) -> None:
        """Rebuild whenever something under the articles folder is saved, until ``stop`` is set."""
        from watchfiles import watch

        for changes in watch(self.settings.articles_dir, stop_event=stop, debounce=200, step=20,
                             watch_filter=_worth_a_build, raise_interrupt=False):
            self.rebuild(path for _kind, path in changes)

    def start(self) -> threading.Event:
        """Watch in a background thread; set the returned event to stop."""
        stop = threading.Event()
        threading.Thread(target=self.watch, args=(stop,), name="preview-watch", daemon=True).start()
        return stop


def seed_from(published_index: Path, preview_index: Path) -> bool:
    """Start a preview from a copy of the published build, so its first build embeds only what
    the working folder changed (at 10,000 articles, seconds instead of an hour of encoding)."""
    import shutil

    from .index import BUILDS, current_target, publish

    source = current_target(published_index)
    if source is None:
        return False
    target = preview_index / BUILDS / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target, dirs_exist_ok=True)
    publish(preview_index, target)
    return True


def _worth_a_build(_change: Any, path: str) -> bool:
    """Editors' temporary and swap files are not a save."""
    name = Path(path).name
    return not (name.startswith((".", "#")) or name.endswith(("~", ".swp", ".swx", ".tmp")))


def _relative(path: str, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return path
