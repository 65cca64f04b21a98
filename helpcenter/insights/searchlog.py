"""The search log: what people search and click, written without slowing a search.

Every search on the site and the API is logged as one row: the normalised query
(with e-mail addresses and long numbers masked), the result ids, the top score
and dense similarity, whether search was confident, and a random per-visit id
(kept in the visitor's session cookie). No IP address, user agent or contact
details are stored. Clicks on search results and escalations from the same visit
are attributed to the visit's searches. The tables are in :mod:`helpcenter.db`.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import logging
import os
import queue
import re
import secrets
import threading
import time
import weakref
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..db import SearchClick, SearchLog, utcnow
from ..support.storage import Storage

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 500          # stored; the searcher already cuts queries to max_query_chars
PAUSE_AFTER_ERROR = 60.0       # seconds without logging after a database error
MAX_QUEUE = 10000              # rows waiting for the writer thread; more are dropped
WRITE_BATCH = 500              # rows per transaction
WRITER_IDLE_EXIT = 30.0        # seconds; an idle writer thread ends and restarts on the next row
BATCH_WAIT = 0.25              # seconds the writer gathers rows before a transaction

# Personal details people sometimes type into a search box; masked before storing.
EMAIL_RE = re.compile(r"[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)+", re.IGNORECASE)
NUMBER_RE = re.compile(r"\+?[0-9](?:[ \-]?[0-9]){6,}")  # 7+ digits: phone, order, ID numbers
EMAIL_MASK, NUMBER_MASK = "<邮箱>", "<数字>"  # what they become (the form's subject hint leaves them out)


def mask_personal(query: str) -> str:
    """Mask e-mail addresses and long digit runs (phone, order or ID numbers) in a query."""
    return NUMBER_RE.sub(NUMBER_MASK, EMAIL_RE.sub(EMAIL_MASK, query))


class SearchLogger:
    """Writes the log from a background thread, so a search never waits for the database.

    ``log_search`` returns the new row's random key at once (result links carry
    it); rows, clicks and escalation marks are queued in order and written in
    batches. A database problem costs a log line and the queued rows, never a
    search; after an error, logging pauses for a minute. When the queue is full
    (the database is far behind), rows are dropped. ``background=False`` writes
    synchronously (scripts, tests of the writer itself).
    """

    def __init__(self, storage: Storage, background: bool = True, max_queue: int = MAX_QUEUE) -> None:
        self.storage = storage
        self.background = background
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._paused_until = 0.0
        self._dropped = 0
        self._lock = threading.Lock()

    # -- called by the web layer; cheap and never raising on database problems --

    def log_search(self, visit_id: str, source: str, response: Any, locale: str | None = None,
                   channel: str | None = None) -> str | None:
        """Queue one search (a :class:`helpcenter.engine.search.SearchResponse`); returns its key or None.
        ``locale``: the reader's, so writers see which locales search fails; ``channel``: where an
        assistant turn (source ``assist``) was asked."""
        if not response.normalised:
            return None
        top = response.results[0] if response.results else None
        key = secrets.token_hex(8)
        row = {"key": key, "created_at": utcnow(), "visit_id": visit_id[:32], "source": source[:8],
               "query": mask_personal(response.normalised)[:MAX_QUERY_CHARS],
               "results": json.dumps([h.id for h in response.results], ensure_ascii=False),
               "top_score": top.score if top else None, "top_dense": top.dense if top else None,
               "confident": bool(response.confident), "escalated": False,
               "build_id": (response.build_id or "")[:64], "locale": (locale or None) and locale[:16],
               "channel": (channel or None) and channel[:16]}
        return key if self._submit(("search", row)) else None

    def log_click(self, visit_id: str, search_key: str, article_id: str) -> None:
        """This visit opened ``article_id`` from its search ``search_key`` (counted once per pair)."""
        self._submit(("click", (visit_id, search_key, article_id, utcnow())))

    def mark_escalated(self, visit_id: str) -> None:
        """The visit ended in an escalation: mark its searches."""
        if visit_id:
            self._submit(("escalated", visit_id))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written (or dropped)."""
        if not self.background:
            return True
        done = threading.Event()
        return self._enqueue(("flush", done)) and done.wait(timeout)

    # -- the writer --

    def _submit(self, item: tuple[str, Any]) -> bool:
        if time.monotonic() < self._paused_until:
            self._dropped += 1
            return False
        if not self.background:
            self._write([item])
            return True
        if self._enqueue(item):
            return True
        self._dropped += 1
        if self._dropped % 1000 == 1:
            log.warning("search analytics: queue full, %d row(s) dropped so far", self._dropped)
        return False

    def _enqueue(self, item: tuple[str, Any]) -> bool:
        with self._lock:  # uncontended in practice; keeps a row from being queued as the writer retires
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                # Started on first use in each process (gunicorn workers fork after the app is created).
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="helpcenter-search-log", daemon=True)
                self._thread.start()
                _writers.add(self)
            try:
                self._queue.put_nowait(item)
                return True
            except queue.Full:
                return False

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=WRITER_IDLE_EXIT)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None  # idle: let go of the database until the next search
                        return
                continue
            # Gather what arrives in the next moment into the same transaction: one commit per
            # search cost a busy server about a seventh of its CPU (SQLite's commit and fsync).
            batch = [first]
            deadline = time.monotonic() + BATCH_WAIT
            while len(batch) < WRITE_BATCH and batch[-1][0] != "flush":
                wait = deadline - time.monotonic()
                try:
                    batch.append(self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write([item for item in batch if item[0] != "flush"])
            except Exception:  # the writer thread must survive anything
                log.exception("search analytics: writing failed")
            for kind, payload in batch:
                if kind == "flush":
                    payload.set()

    def _write(self, batch: list[tuple[str, Any]]) -> None:
        if not batch:
            return
        if time.monotonic() < self._paused_until:
            self._dropped += len(batch)
            return
        try:
            with self.storage.session() as s, s.begin():
                for kind, payload in batch:
                    if kind == "search":
                        s.add(SearchLog(**payload))
                    elif kind == "click":
                        s.flush()
                        self._click(s, *payload)
                    elif kind == "escalated":
                        s.flush()
                        s.execute(update(SearchLog).where(SearchLog.visit_id == payload,
                                                          SearchLog.escalated.is_(False)).values(escalated=True))
        except SQLAlchemyError as exc:
            self._paused_until = time.monotonic() + PAUSE_AFTER_ERROR
            self._dropped += len(batch)
            log.warning("search analytics: writing %d row(s) failed, logging paused for %.0fs: %s",
                        len(batch), PAUSE_AFTER_ERROR, exc)

    @staticmethod
    def _click(s: Session, visit_id: str, key: str, article_id: str, when: dt.datetime) -> None:
        row = s.scalar(select(SearchLog).where(SearchLog.key == key))
        if row is None or row.visit_id != visit_id:
            return  # not this visit's search: nothing to attribute
        shown = json.loads(row.results or "[]")
        if article_id not in shown:
            return
        seen = s.scalar(select(SearchClick.id).where(SearchClick.search_id == row.id,
                                                     SearchClick.article_id == article_id))
        if seen is None:
            s.add(SearchClick(search_id=row.id, article_id=article_id, rank=shown.index(article_id) + 1,
                              created_at=when))


_writers: "weakref.WeakSet[SearchLogger]" = weakref.WeakSet()


@atexit.register
def _flush_all_writers() -> None:
    for writer in list(_writers):
        writer.flush(2.0)


# --- the report -------------------------------------------------------------------------------------
