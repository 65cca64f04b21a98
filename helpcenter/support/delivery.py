"""Escalations are never lost: the outbox worker and the spool.

**Outbox.** :meth:`Storage.add_escalation` inserts one ``outbox`` row per configured
notification (e-mail to the support inbox, confirmation to the requester, webhook) in the
same transaction as the request. :class:`Outbox` claims due rows, delivers them, marks
them delivered, and on failure schedules a retry with exponential backoff; after
``outbox_max_attempts`` it gives up and leaves the row as ``failed`` (visible in
``helpcenter deliver --once`` and ``/healthz``; ``--retry-failed`` queues them again).
Claims are leases held by one worker (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: a
conditional UPDATE), so any number of workers on any number of nodes can run: a delivered
row is never sent again. The one gap of any outbox: a worker that dies after sending but
before recording it sends that message again once its lease ends; e-mails carry a stable
Message-ID and webhooks an ``Idempotency-Key`` so receivers can drop such a repeat.

**Spool.** When the database cannot be reached at submit time, :func:`write_spool` writes
the request as one JSON file (fsynced, then its folder) and hands out a reference drawn
locally. :func:`replay_spool` (run by every worker pass and by ``helpcenter deliver``)
stores spooled requests under that same reference once the database is back and deletes
each file only after its commit; the unique reference makes a replay idempotent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import random
import secrets
import socket
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from ..config import Settings
from ..db import utcnow
from ..fsutil import fsync_dir, private_dir, write_private
from .hours import SupportHours
from . import channel_reply, statuslink, tickets
from .notify import confirmation_message, reply_message, send_mail, support_message
from .storage import ClaimedMessage, DuplicateReference, NewAttachment, Storage, StorageUnavailable, new_reference

log = logging.getLogger(__name__)

SUPPORT_EMAIL = "support_email"
CONFIRMATION_EMAIL = "confirmation_email"
WEBHOOK = "webhook"
CHANNELS = (SUPPORT_EMAIL, CONFIRMATION_EMAIL, WEBHOOK)

MAX_BACKOFF_SECONDS = 3600.0
LEASE_SECONDS = 300.0   # far longer than one delivery (SMTP and HTTP give up after TIMEOUT)
TIMEOUT_SECONDS = 10.0
SPOOL_VERSION = 1


class PermanentFailure(Exception):
    """Retrying cannot help (the escalation or its address is gone): give up at once."""


def planned_deliveries(settings: Settings, fields: dict[str, Any]) -> list[tuple[str, str | None]]:
    """The (channel, target) outbox rows for a new request, from the settings in force.
    The requester's address is not copied (target None): it is read from the request."""
    out: list[tuple[str, str | None]] = []
    if settings.smtp_host and settings.support_inbox:
        out.append((SUPPORT_EMAIL, settings.support_inbox))
    if settings.smtp_host and fields.get("email"):
        out.append((CONFIRMATION_EMAIL, None))
    if settings.webhook_url:
        out.append((WEBHOOK, settings.webhook_url))
    return out


# --- spool ---------------------------------------------------------------------------


def spool_path(settings: Settings) -> Path:
    return Path(settings.spool_dir) if settings.spool_dir else Path(settings.instance_dir).resolve() / "spool"



def write_spool(folder: Path, fields: dict[str, Any], context: dict[str, Any],
                attachments: list[NewAttachment], now: dt.datetime | None = None) -> tuple[str, dt.datetime]:
    """Write one request durably (file fsynced, then the folder) and return its reference
    (same format as the database's) and time. Raises OSError when it cannot be written."""
    private_dir(folder)  # requests are personal data: owner only, like the files in it
    created = now or utcnow()
    for _attempt in range(20):
        reference = new_reference(created.date())
        final = folder / f"{reference}.json"
        if final.exists():
            continue
        body = json.dumps({"version": SPOOL_VERSION, "reference": reference, "created_at": created.isoformat(),
                           "fields": fields, "context": context,
                           "attachments": [a.__dict__ for a in attachments]},
                          ensure_ascii=False, indent=1).encode("utf-8")
        try:
            # Personal data: owner only; atomic, never replacing a file with the same reference.
            write_private(final, body, fsync=True)
        except FileExistsError:
            continue
        return reference, created
    raise OSError(f"could not allocate a free reference in {folder}")


def spooled_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("HC-*.json")) if folder.is_dir() else []


@dataclass
class ReplayReport:
    replayed: list[str] = field(default_factory=list)      # stored now
    already_stored: list[str] = field(default_factory=list)  # an earlier replay had committed it
    renamed: dict[str, str] = field(default_factory=dict)   # spooled reference -> stored reference
    kept: list[str] = field(default_factory=list)           # still spooled (database down or an error)
    unreadable: list[str] = field(default_factory=list)     # moved to spool/unreadable/


def _same_request(esc: Any, fields: dict[str, Any]) -> bool:
    return all(getattr(esc, k) == fields.get(k) for k in ("subject", "description", "email", "phone"))


def _mark_visit_escalated(storage: Storage, context: dict[str, Any]) -> None:
    """What the web layer does for a stored request: its visit's searches ended in an escalation."""
    if context.get("visit"):
        try:
            storage.mark_visit_escalated(context["visit"])
        except Exception:  # analytics must never hold up a replay
            log.exception("search analytics: marking a replayed escalation failed")


def replay_spool(storage: Storage, settings: Settings, folder: Path | None = None) -> ReplayReport:
    """Store spooled requests, oldest first, under the reference the person was given; each
    file is deleted only after its commit. Safe to run twice or in several processes at once."""
    folder = folder or spool_path(settings)
    report = ReplayReport()
    files = spooled_files(folder)
    for i, path in enumerate(files):
        try:
            data = json.loads(path.read_text("utf-8"))
            reference = data["reference"]
            fields, context = dict(data["fields"]), dict(data["context"])
            attachments = [NewAttachment(**a) for a in data["attachments"]]
            created = dt.datetime.fromisoformat(data["created_at"])
        except FileNotFoundError:
            continue  # another worker replayed it a moment ago
        except (ValueError, KeyError, TypeError) as exc:
            log.error("spooled request %s is unreadable (%s); moved to %s", path.name, exc, folder / "unreadable")
            (folder / "unreadable").mkdir(exist_ok=True)
            path.rename(folder / "unreadable" / path.name)
            report.unreadable.append(path.name)
            continue
        outbox = planned_deliveries(settings, fields)
        try:
            try:
                storage.add_escalation(fields, context, attachments, outbox=outbox, reference=reference,
                                       created_at=created)
                report.replayed.append(reference)
                _mark_visit_escalated(storage, context)
            except DuplicateReference:
                existing = storage.get_escalation(reference)
                if existing is None:
                    raise StorageUnavailable(f"{reference}: refused by the database for another reason")
                if _same_request(existing, fields):
                    report.already_stored.append(reference)  # committed earlier; only the delete was lost
                else:
                    # While the database was down for us, it gave this reference to another request.
                    context["spooled_reference"] = reference
                    esc = storage.add_escalation(fields, context, attachments, outbox=outbox, created_at=created)
                    report.renamed[reference] = esc.reference
                    _mark_visit_escalated(storage, context)
                    log.warning("spooled request %s stored as %s: its reference was taken meanwhile",
                                reference, esc.reference)
        except StorageUnavailable as exc:
            if not storage.ping():  # still down: everything stays spooled for the next pass
                report.kept += [p.stem for p in files[i:]]
                break
            log.error("spooled request %s could not be stored, kept for the next pass: %s", reference, exc)
            report.kept.append(reference)
            continue
        path.unlink(missing_ok=True)
        fsync_dir(folder)
        log.info("spooled request %s stored", reference)
    return report


# --- outbox --------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected POST would be re-sent as a body-less GET and look delivered: refuse it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_http = urllib.request.build_opener(_NoRedirect)


@dataclass
class RunReport:
    replay: ReplayReport = field(default_factory=ReplayReport)
    delivered: list[str] = field(default_factory=list)   # "reference/channel"
    retrying: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)      # gave up this run


class Outbox:
    """Delivers outbox rows; ``run_once`` for a pass, ``start``/``stop`` for a background thread."""

    def __init__(self, storage: Storage, settings: Settings, *, worker_id: str | None = None,
                 lease_seconds: float = LEASE_SECONDS, max_backoff: float = MAX_BACKOFF_SECONDS,
                 batch: int = 20, secret: str = "") -> None:
        """``secret``: the site's secret key, which signs the status links put into e-mails."""
        self.storage = storage
        self.settings = settings
        self.secret = secret
        self.hours = SupportHours.parse(settings.support_hours, settings.support_timezone)
        self.worker_id = worker_id or f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"
        self.lease_seconds = lease_seconds
        self.max_backoff = max_backoff
        self.batch = batch
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_problem = ""

    # -- one pass --

    def backoff(self, attempts: int) -> float:
        """Delay after the ``attempts``-th failure: base, 2×base, 4×base … at most max_backoff,
        with a little jitter so many workers do not retry in step."""
        base = self.settings.outbox_backoff_seconds
        return min(self.max_backoff, base * 2 ** (attempts - 1)) * random.uniform(1.0, 1.2)

    def run_once(self, replay: bool = True) -> RunReport:
        """Replay the spool, then deliver every row due when the pass started (a retry scheduled
        during the pass waits for the next one). Raises StorageUnavailable if the database is down."""
        report = RunReport()
        if replay:
            report.replay = replay_spool(self.storage, self.settings)
        started = utcnow()
        while not self._stop.is_set():
            batch = self.storage.claim_outbox(self.worker_id, self.batch, self.lease_seconds, due_by=started)
            if not batch:
                break
            for msg in batch:
                self._deliver(msg, report)
        return report

    def _deliver(self, msg: ClaimedMessage, report: RunReport) -> None:
        label = f"{msg.reference}/{msg.channel}"
        try:
            if msg.escalation_id is None:  # a messaging channel's reply (LINE)
                channel_reply.send(self.settings, msg.channel, msg.payload)
            else:
                esc = self.storage.get_escalation_by_id(msg.escalation_id)
                if esc is None:
                    raise PermanentFailure("the escalation no longer exists")
                self.send(msg, esc)
        except StorageUnavailable:
            raise  # the claim's lease runs out and the row is tried again
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            give_up = (isinstance(exc, (PermanentFailure, channel_reply.PermanentReplyFailure))
                       or msg.attempts >= self.settings.outbox_max_attempts)
            retry_at = None if give_up else utcnow() + dt.timedelta(seconds=self.backoff(msg.attempts))
            self.storage.mark_failed(msg.id, self.worker_id, error, retry_at)
            if give_up:
                log.error("giving up on %s after %d attempt(s): %s", label, msg.attempts, error)
                report.failed.append(label)
            else:
                log.warning("delivery of %s failed (attempt %d), retrying at %s: %s", label, msg.attempts,
                            retry_at, error)
                report.retrying.append(label)
            return
        if self.storage.mark_delivered(msg.id, self.worker_id):
            report.delivered.append(label)
        else:  # our lease ran out and another worker took the row over
            log.warning("%s was delivered but its claim had expired", label)

    # -- channels --

    def send(self, msg: ClaimedMessage, esc: Any) -> None:
        # The address in force wins (ops may fix a wrong one while messages wait); the one
        # recorded with the row serves when the setting has been emptied since.
        if msg.channel == WEBHOOK:
            self.post_webhook(self.settings.webhook_url or msg.target or "", esc, msg.attempts)
            return
        try:
            mail = self.build_mail(msg, esc)
        except (ValueError, TypeError, LookupError) as exc:  # e.g. a header with CR/LF: the same next time
            raise PermanentFailure(f"the message cannot be built: {exc}") from exc
        if not self.settings.smtp_host:
            raise RuntimeError("smtp_host is not set")
        send_mail(self.settings, mail)

    def build_mail(self, msg: ClaimedMessage, esc: Any) -> EmailMessage:
        """The e-mail for an outbox row. Raises ValueError when the stored request cannot make a
        valid message (an address with CR/LF), which no retry can change."""
        due = self.hours.response_due(esc.created_at, self.settings.response_hours)
        if msg.channel == SUPPORT_EMAIL:
            mail = support_message(self.settings, esc, due)
            del mail["To"]
            mail["To"] = self.settings.support_inbox or msg.target
        elif msg.channel == CONFIRMATION_EMAIL:
            if not esc.email:
                raise PermanentFailure("the request has no e-mail address (any more)")
            mail = confirmation_message(self.settings, esc, due, self.status_link(esc))
        elif msg.channel.startswith(tickets.REPLY_CHANNEL):
            if not esc.email:
                raise PermanentFailure("the request has no e-mail address (any more)")
            event_id = msg.channel[len(tickets.REPLY_CHANNEL):]
            reply = next((ev for ev in tickets.timeline(self.storage, esc.id, public_only=True)
                          if str(ev.id) == event_id and ev.kind == "reply"), None)
            if reply is None:
                raise PermanentFailure("the reply no longer exists")
            mail = reply_message(self.settings, esc, reply.body or "", self.status_link(esc))
        else:
            raise PermanentFailure(f"unknown channel {msg.channel!r}")
        domain = self.settings.mail_from.rpartition("@")[2] or "helpcenter"
        # Stable per notification: a message sent twice (see the module doc) can be recognised.
        mail["Message-ID"] = f"<{esc.reference}.{msg.channel.replace(':', '-')}@{domain}>"
        if msg.channel != CONFIRMATION_EMAIL and msg.channel != SUPPORT_EMAIL:  # one thread in the mailbox
            mail["References"] = f"<{esc.reference}.{CONFIRMATION_EMAIL}@{domain}>"
        mail["X-Helpcenter-Reference"] = esc.reference
        mail.as_bytes()  # serialise now: a message that cannot be rendered fails here, not in SMTP
        return mail

    def status_link(self, esc: Any) -> str | None:
        """The requester's status page, when the secret key and the public address are known."""
        if not (self.secret and self.settings.public_url):
            return None
        nonce = tickets.status_nonce(self.storage, esc.reference)
        if not nonce:
            return None
        from ..locales import Locales

        locales = Locales.parse(self.settings.locales)
        prefix = locales.prefix(esc.locale) if getattr(esc, "locale", None) in locales.tags else ""
        return statuslink.status_url(self.settings.public_url, statuslink.make_token(self.secret, esc.reference, nonce),
                                     prefix)

    def post_webhook(self, url: str, esc: Any, attempt: int) -> None:
        if not url:
            raise RuntimeError("webhook_url is not set")
        body = json.dumps({"event": "escalation.created", "delivery": f"{esc.reference}/{WEBHOOK}",
                           "escalation": esc.as_json()}, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "helpcenter-outbox",
                   "Idempotency-Key": f"{esc.reference}/{WEBHOOK}", "X-Helpcenter-Reference": esc.reference,
                   "X-Helpcenter-Attempt": str(attempt)}
        if self.settings.webhook_secret:
            digest = hmac.new(self.settings.webhook_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
            headers["X-Helpcenter-Signature"] = f"sha256={digest}"
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with _http.open(req, timeout=TIMEOUT_SECONDS) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"webhook answered HTTP {exc.code}") from None
        if not 200 <= status < 300:
            raise RuntimeError(f"webhook answered HTTP {status}")

    # -- background thread --

    def run_forever(self) -> None:
        """Passes every ``outbox_poll_seconds`` (sooner after :meth:`wake`) until :meth:`stop`."""
        while not self._stop.is_set():
            try:
                self.run_once()
                if self._last_problem:
                    log.info("outbox worker %s: database reachable again", self.worker_id)
                self._last_problem = ""
            except Exception as exc:  # the loop must survive anything; say it once per kind of problem
                problem = f"{type(exc).__name__}: {exc}".splitlines()[0]
                if problem != self._last_problem:
                    log.warning("outbox worker %s: %s", self.worker_id, problem)
                self._last_problem = problem
            self._wake.wait(self.settings.outbox_poll_seconds)
            self._wake.clear()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> "Outbox":
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self.run_forever, name="helpcenter-outbox", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
