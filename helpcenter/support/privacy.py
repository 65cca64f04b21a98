"""Personal data: export it, delete it, and let it expire.

What the site stores about a person is in their escalations (name, e-mail,
phone, device, order number, description, the visit context), the request's
timeline (``request_events``: agents' replies and internal notes, the person's
later messages, status changes, assignment, the resolution) and the screenshots
they attached, with the request or with a later message (files in the upload
folder; ``Attachment.event_id`` names the message). The visit context also
holds the random visit id of :mod:`helpcenter.insights.searchlog`, which links the
searches of that visit to the escalation; export includes those searches and
delete removes them, and unlinks the visit's article votes (``feedback.visit_id``), which stay
as anonymous counts. Export gives the whole timeline, notes included: it is
data about the person. Delete removes the escalation row; its events and
attachment rows go with it (foreign keys ``ON DELETE CASCADE``), its files after.

A person is found by e-mail (case-insensitive) or phone (spaces and dashes
ignored), the same normalisation the escalation form applies before storing.

Retention (``retention_days``): escalations older than that lose their
personal fields, their screenshots (message screenshots too) and the text of
replies, notes and messages (free text: it may hold anything). Kept for
statistics: reference, category, subject, description, status, timestamps, the
visit context (articles read), the resolution, and each event's kind, time,
actor and status data, so response times and the lifecycle can still be counted.
Screenshots held for a form that came back with an error (``uploads/pending``)
and never sent go after a day, whatever ``retention_days`` is.

Conversations with the assistant (:mod:`helpcenter.support.conversations`) are the person's
words too: export and delete include those found by the contact given at a hand-over or by
the person's requests, retention deletes them whole, and a request's copy of its transcript
(``context.transcript``) is cleared with the visit id.

The same hourly pass in the web app also closes requests solved more than
``solved_close_days`` ago (:func:`helpcenter.support.tickets.close_solved`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, exists, func, or_, select, update

from ..db import Attachment, Escalation, Feedback, RequestEvent, SearchClick, SearchLog, utcnow
from ..fsutil import private_dir, write_private
from . import conversations, tickets
from .storage import Storage

log = logging.getLogger(__name__)

PERSONAL_FIELDS = ("name", "email", "phone", "device", "order_number")
# Events whose text retention clears: free text from the person or about them. A "solved"
# event's text is the agent's note on what the articles lack (the writers' learning data,
# also kept as Escalation.resolution_note); status and assign events carry no text.
FREE_TEXT_KINDS = ("reply", "note", "message")
PURGE_BATCH = 500
PURGE_INTERVAL = 3600.0  # seconds between purges in a running web app
PENDING_DIR = "pending"  # in the upload folder: screenshots held while a form is corrected
PENDING_MAX_AGE = 24 * 3600  # seconds a held screenshot waits for its form


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_phone(phone: str) -> str:
    return re.sub(r"[\s\-]", "", phone)


def _contacts(email: str | None, phone: str | None) -> tuple[list[str], list[str]]:
    return ([normalise_email(email)] if email else []), ([normalise_phone(phone)] if phone else [])


def _person_filter(email: str | None, phone: str | None) -> Any:
    conds = []
    if email and normalise_email(email):
        conds.append(func.lower(Escalation.email) == normalise_email(email))
    if phone and normalise_phone(phone):
        stored = func.replace(func.replace(Escalation.phone, " ", ""), "-", "")
        conds.append(stored == normalise_phone(phone))
    if not conds:
        raise ValueError("give an e-mail address or a phone number")
    return or_(*conds)


def _visit_ids(escalations: list[Escalation]) -> set[str]:
    out = set()
    for esc in escalations:
        try:
            visit = json.loads(esc.context or "{}").get("visit")
        except (ValueError, AttributeError):
            continue
        if isinstance(visit, str) and visit:
            out.add(visit)
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_person(storage: Storage, upload_dir: str | Path, *, email: str | None = None,
                  phone: str | None = None, out_dir: str | Path | None = None) -> dict[str, Any]:
    """Everything stored about the person, as JSON-ready data.

    Each escalation carries its timeline as ``events`` (oldest first; each with the
    ``attachments`` sent with it, by stored name); its ``attachments`` are every
    screenshot, ``event_id`` naming the message a later one came with (None: the
    request itself). Screenshots are embedded base64-encoded (``content_base64``), or,
    with ``out_dir``, copied to ``out_dir/<reference>/<stored name>`` and referenced
    by that relative ``file`` path (``out_dir/export.json`` then holds the JSON).
    """
    where = _person_filter(email, phone)
    upload_dir = Path(upload_dir)
    with storage.session() as s:
        escalations = list(s.scalars(select(Escalation).where(where).order_by(Escalation.created_at, Escalation.id)))
        for esc in escalations:
            _ = esc.attachments  # load while the session is open
        events: dict[int, list[RequestEvent]] = {}
        ids = [esc.id for esc in escalations]
        for i in range(0, len(ids), PURGE_BATCH):
            for ev in s.scalars(select(RequestEvent).where(RequestEvent.escalation_id.in_(ids[i:i + PURGE_BATCH]))
                                .order_by(RequestEvent.created_at, RequestEvent.id)):
                events.setdefault(ev.escalation_id, []).append(ev)
        visits = _visit_ids(escalations)
        searches = list(s.scalars(select(SearchLog).where(SearchLog.visit_id.in_(visits))
                                  .order_by(SearchLog.created_at, SearchLog.id))) if visits else []
        clicks: dict[int, list[dict[str, Any]]] = {}
        if searches:
            for c in s.scalars(select(SearchClick).where(SearchClick.search_id.in_([r.id for r in searches]))
                               .order_by(SearchClick.id)):
                clicks.setdefault(c.search_id, []).append({"article": c.article_id, "rank": c.rank})
        talks = conversations.of_person(s, *_contacts(email, phone), [e.reference for e in escalations])
    out = Path(out_dir) if out_dir else None
    data: dict[str, Any] = {
        "request": {"email": normalise_email(email) if email else None,
                    "phone": normalise_phone(phone) if phone else None},
        "generated_at": utcnow().isoformat(),
        "escalations": [],
        "searches": [dict(r.as_json(), clicks=clicks.get(r.id, [])) for r in searches],
        "conversations": talks,  # with the assistant: the transcript is what they typed
    }
    for esc in escalations:
        item = esc.as_json()
        item["events"] = [dict(ev.as_json(), attachments=[a.stored_name for a in esc.attachments
                                                          if a.event_id == ev.id])
                          for ev in events.get(esc.id, [])]
        for att_json in item["attachments"]:
            att_json.setdefault("event_id", None)  # said outright in an export: None is the request's own
            path = upload_dir / att_json["stored_name"]
            if not path.is_file():
                att_json["file_missing"] = True
                continue
            att_json["sha256"] = _sha256(path)
            if out is not None:  # personal data: the copies are as private as the originals
                target = private_dir(out / esc.reference) / att_json["stored_name"]
                write_private(target, path.read_bytes(), replace=True)
                att_json["file"] = f"{esc.reference}/{att_json['stored_name']}"
            else:
                att_json["content_base64"] = base64.b64encode(path.read_bytes()).decode("ascii")
        data["escalations"].append(item)
    if out is not None:
        write_private(private_dir(out) / "export.json",
                      json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8"), replace=True)
    return data


@dataclass
class Removal:
    escalations: list[str] = field(default_factory=list)   # references
    files_removed: list[str] = field(default_factory=list)
    files_missing: list[str] = field(default_factory=list)
    files_failed: list[str] = field(default_factory=list)
    searches: int = 0
    events: int = 0  # timeline entries (replies, notes, messages, status changes) removed with them
    conversations: int = 0  # with the assistant, found by the contact given or the request handed over

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _unlink(upload_dir: Path, names: list[str], removal: Removal) -> None:
    for name in names:
        path = upload_dir / name
        try:
            path.unlink()
            removal.files_removed.append(name)
        except FileNotFoundError:
            removal.files_missing.append(name)
        except OSError as exc:
            log.error("cannot remove %s: %s", path, exc)
            removal.files_failed.append(name)


def delete_person(storage: Storage, upload_dir: str | Path, *, email: str | None = None,
                  phone: str | None = None, dry_run: bool = False) -> Removal:
    """Remove the person's escalations, their timelines, their screenshots and the searches of their visits.

    The rows go in one transaction (events and attachment rows by the foreign keys'
    cascade, as the escalation row goes); the files are removed after it commits (a
    file that cannot be removed is reported in ``files_failed``). With
    ``dry_run`` nothing changes and the result says what would be removed.
    """
    where = _person_filter(email, phone)
    upload_dir = Path(upload_dir)
    removal = Removal()
    with storage.session() as s:
        escalations = list(s.scalars(select(Escalation).where(where).order_by(Escalation.created_at, Escalation.id)))
        names = [a.stored_name for esc in escalations for a in esc.attachments]
        removal.escalations = [esc.reference for esc in escalations]
        visits = _visit_ids(escalations)
        search_ids = list(s.scalars(select(SearchLog.id).where(SearchLog.visit_id.in_(visits)))) if visits else []
        removal.searches = len(search_ids)
        ids = [esc.id for esc in escalations]
        removal.events = sum(s.scalar(select(func.count()).select_from(RequestEvent)
                                      .where(RequestEvent.escalation_id.in_(ids[i:i + PURGE_BATCH]))) or 0
                             for i in range(0, len(ids), PURGE_BATCH))
        person = (*_contacts(email, phone), removal.escalations)
        if dry_run:
            removal.conversations = len(conversations.of_person(s, *person))
            removal.files_removed = [n for n in names if (upload_dir / n).is_file()]
            removal.files_missing = [n for n in names if not (upload_dir / n).is_file()]
            return removal  # the session closes without committing
        for i in range(0, len(search_ids), PURGE_BATCH):
            batch = search_ids[i:i + PURGE_BATCH]
            s.execute(delete(SearchClick).where(SearchClick.search_id.in_(batch)))
            s.execute(delete(SearchLog).where(SearchLog.id.in_(batch)))
        # Their votes stay as anonymous counts, no longer linked to the visit (or its searches).
        visit_list = sorted(visits)
        for i in range(0, len(visit_list), PURGE_BATCH):
            s.execute(update(Feedback).where(Feedback.visit_id.in_(visit_list[i:i + PURGE_BATCH]))
                      .values(visit_id=None).execution_options(synchronize_session=False))
        for esc in escalations:
            s.delete(esc)  # its attachment rows and events go with it (ON DELETE CASCADE)
        removal.conversations = conversations.delete_of_person(s, *person)
        s.commit()
    _unlink(upload_dir, names, removal)
    return removal


@dataclass
class Purge:
    cutoff: dt.datetime
    escalations: list[str] = field(default_factory=list)
    files_removed: list[str] = field(default_factory=list)
    files_missing: list[str] = field(default_factory=list)
    files_failed: list[str] = field(default_factory=list)
    texts_cleared: int = 0  # replies, notes and messages whose text was cleared
    conversations: int = 0  # assistant conversations deleted whole (begun before the cutoff)

    def as_json(self) -> dict[str, Any]:
        return dict(asdict(self), cutoff=self.cutoff.isoformat())


def purge_expired(storage: Storage, upload_dir: str | Path, days: int, now: dt.datetime | None = None) -> Purge:
    """Clear personal fields, screenshots and the text of replies, notes and messages of
    escalations created more than ``days`` days ago.

    Kept: reference, category, subject, description, status, created_at, the resolution,
    the context (without the visit id) and every event's kind, time and data (status
    changes, assignment). ``days`` <= 0 keeps everything. Safe to run
    concurrently from several processes; a second run finds nothing to do.
    """
    cutoff = (now or utcnow()) - dt.timedelta(days=max(days, 0))
    result = Purge(cutoff)
    if days <= 0:
        return result
    result.conversations = conversations.purge_older_than(storage, days, now)
    upload_dir = Path(upload_dir)
    free_text = RequestEvent.kind.in_(FREE_TEXT_KINDS) & RequestEvent.body.is_not(None)
    has_personal = or_(*[getattr(Escalation, f).is_not(None) for f in PERSONAL_FIELDS],
                       exists().where(Attachment.escalation_id == Escalation.id),
                       exists().where(RequestEvent.escalation_id == Escalation.id, free_text))
    while True:
        with storage.session() as s, s.begin():
            rows = list(s.scalars(select(Escalation).where(Escalation.created_at < cutoff, has_personal)
                                  .order_by(Escalation.id).limit(PURGE_BATCH)))
            if not rows:
                break
            ids = [r.id for r in rows]
            names = list(s.scalars(select(Attachment.stored_name).where(Attachment.escalation_id.in_(ids))))
            s.execute(delete(Attachment).where(Attachment.escalation_id.in_(ids)))  # message screenshots too
            cleared = s.execute(update(RequestEvent).where(RequestEvent.escalation_id.in_(ids), free_text)
                                .values(body=None).execution_options(synchronize_session=False))
            result.texts_cleared += cleared.rowcount or 0
            for r in rows:
                for f in PERSONAL_FIELDS:
                    setattr(r, f, None)
                try:
                    ctx = json.loads(r.context or "{}")
                except ValueError:
                    ctx = {}
                if isinstance(ctx, dict) and ("visit" in ctx or "transcript" in ctx):
                    ctx.pop("visit", None)
                    ctx.pop("transcript", None)  # an assistant conversation: what the person typed
                    r.context = json.dumps(ctx, ensure_ascii=False)
            result.escalations += [r.reference for r in rows]
        removal = Removal()
        _unlink(upload_dir, names, removal)
        result.files_removed += removal.files_removed
        result.files_missing += removal.files_missing
        result.files_failed += removal.files_failed
    return result


def sweep_pending(folder: str | Path, max_age: float = PENDING_MAX_AGE, now: float | None = None) -> list[str]:
    """Remove held screenshots (``uploads/pending``) older than ``max_age`` seconds; returns their names.

    They belong to forms that came back with an error and were never sent again: the person
    was told they are kept for a day. A missing folder is nothing to do; errors are logged.
    """
    cutoff = (time.time() if now is None else now) - max_age
    removed: list[str] = []
    try:
        entries = list(Path(folder).iterdir())
    except FileNotFoundError:
        return removed
    for path in entries:
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path.name)
        except FileNotFoundError:
            pass  # taken by its form, or swept by another worker, meanwhile
        except OSError as exc:
            log.error("cannot remove the held screenshot %s: %s", path, exc)
    return removed


def start_retention(storage: Storage, upload_dir: str | Path, days: int, *, solved_close_days: int = 0,
                    interval: float = PURGE_INTERVAL) -> threading.Thread:
    """Run a pass now, then every ``interval`` seconds in a daemon thread (web app start-up).

    Each pass sweeps held screenshots of abandoned forms; closes requests solved more than
    ``solved_close_days`` ago (when above 0: the requester can no longer reopen them, so they
    are done); and purges escalations when ``days`` is above 0. Every node may run it: closing
    and purging are conditional updates, done once. Errors are logged; they never stop the site.
    """
    pending = Path(upload_dir) / PENDING_DIR

    def run_once() -> None:
        try:
            swept = sweep_pending(pending)
            if swept:
                log.info("removed %d held screenshot(s) of forms abandoned for over a day", len(swept))
        except OSError as exc:  # e.g. the folder is unreadable: the purge still runs
            log.error("sweeping held screenshots failed: %s", exc)
        if solved_close_days > 0:
            try:
                closed = tickets.close_solved(storage, solved_close_days)
                if closed:
                    log.info("closed %d request(s) solved more than %d days ago", len(closed), solved_close_days)
            except Exception as exc:  # the database may be down; try again next time
                log.error("closing solved requests failed: %s", exc)
        if days <= 0:
            return
        try:
            done = purge_expired(storage, upload_dir, days)
            if done.conversations:
                log.info("retention: deleted %d assistant conversation(s) older than %d days", done.conversations, days)
            if done.escalations:
                log.info("retention: cleared personal data of %d escalation(s) older than %d days, %d file(s), "
                         "%d text(s) of replies, notes and messages", len(done.escalations), days,
                         len(done.files_removed), done.texts_cleared)
        except Exception as exc:  # the database may be down; try again next time
            log.error("retention purge failed: %s", exc)

    run_once()
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            run_once()

    thread = threading.Thread(target=loop, name="helpcenter-retention", daemon=True)
    thread.stop = stop  # type: ignore[attr-defined]
    thread.start()
    return thread
