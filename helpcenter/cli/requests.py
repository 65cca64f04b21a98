"""`helpcenter requests list|show|export|resolutions|close-solved`: the requests people sent, for ops and scripts.

Thin commands over :mod:`helpcenter.support.inbox` and :mod:`helpcenter.support.tickets`; days
are read in the support time zone with the report's rules (:mod:`helpcenter.insights.report`).
``list --search`` cuts the text with the site's tokeniser, as the staff inbox does.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import unicodedata
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import click

from ..config import Settings
from ..fsutil import write_private
from ..support import inbox, tickets
from ..support.storage import Storage, StorageUnavailable
from .common import check_days, echo_json, open_storage_or_fail, settings_from
from .reports import date_type

EXPORT_PAGE = 500  # rows read at a time, so a large export never holds every request at once


@click.group()
def requests() -> None:
    """Requests people sent ("仍需帮助"): list, show one, export, resolutions, close solved ones."""


def _period(settings: Settings, since: dt.datetime | None,
            until: dt.datetime | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Whole days in the support time zone, both included, as UTC bounds [since, until + 1 day)."""
    from ..insights.report import FIRST_DAY, LAST_DAY, date_bounds

    first, last = (since.date() if since else None), (until.date() if until else None)
    check_days(first or FIRST_DAY, last or LAST_DAY)  # an open end is the whole range
    start, end = date_bounds(first or FIRST_DAY, last or LAST_DAY, settings.support_timezone)
    return (start if first else None), (end if last else None)


def _storage(ctx: click.Context) -> tuple[Settings, Storage]:
    settings = settings_from(ctx)
    return settings, open_storage_or_fail(settings)


def _local(value: dt.datetime | None, settings: Settings, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(ZoneInfo(settings.support_timezone)).strftime(fmt) if value else "–"


# --- fitting Chinese text into terminal columns (a 汉字 takes two) ---

def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    if _width(text) <= width:
        return text
    out, used = "", 0
    for ch in text:
        if used + _width(ch) > width - 1:
            break
        out, used = out + ch, used + _width(ch)
    return out + "…"


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def _table(rows: list[list[str]], cut_column: int) -> list[str]:
    """Aligned columns; ``cut_column`` (the subject) gets what the terminal has left."""
    widths = [max(_width(r[i]) for r in rows) for i in range(len(rows[0]))]
    others = sum(w for i, w in enumerate(widths) if i != cut_column) + 2 * (len(widths) - 1)
    widths[cut_column] = max(10, min(widths[cut_column], shutil.get_terminal_size((120, 24)).columns - others))
    return ["  ".join(_pad(_cut(cell, widths[i]) if i == cut_column else cell, widths[i])
                      for i, cell in enumerate(row)).rstrip() for row in rows]


def _counts_line(counts: dict[str, int]) -> str:
    return "status: " + (", ".join(f"{status} {n}" for status, n in counts.items()) or "no requests")


@requests.command("list")
@click.option("--status", type=click.Choice(inbox.STATUSES), help="Only requests with this status.")
@click.option("--category", help="Only requests of this category (its id, e.g. account).")
@click.option("--since", type=date_type, help="First day (YYYY-MM-DD, support time zone).")
@click.option("--until", type=date_type, help="Last day, included.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="Rows to show.")
@click.option("--offset", default=0, type=click.IntRange(min=0), help="Skip this many (the next page).")
@click.option("--search", "search", help="Words of the subject or description (密码忘了 finds 忘记密码了), "
              "or a reference, e-mail address, phone or order number typed whole.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_cmd(ctx: click.Context, status: str | None, category: str | None, since: dt.datetime | None,
             until: dt.datetime | None, limit: int, offset: int, search: str | None, as_json: bool) -> None:
    """Requests, newest first, with the count per status."""
    settings, storage = _storage(ctx)
    start, end = _period(settings, since, until)
    filters: dict[str, Any] = {"category": category, "since": start, "until": end}
    try:
        if search and search.strip():
            filters["text"] = _text_query(storage, settings, search)
        rows = inbox.list_requests(storage, status=status, limit=limit, offset=offset, **filters)
        total = inbox.count_requests(storage, status=status, **filters)
        counts = inbox.status_counts(storage, **filters)
    except StorageUnavailable as exc:
        raise click.ClickException(f"database: {exc}") from None
    if as_json:
        echo_json({"total": total, "offset": offset, "counts": counts, "requests": [r.as_json() for r in rows]})
        return
    if rows:
        header = ["reference", f"created ({settings.support_timezone})", "status", "category", "subject",
                  "contact"]
        body = [[r.reference, _local(r.created_at, settings), r.status, r.category, r.subject,
                 r.email or r.phone or "–"] for r in rows]
        for line in _table([header] + body, cut_column=4):
            click.echo(line)
        click.echo("")
    click.echo(_counts_line(counts))
    if offset + len(rows) < total:
        click.echo(f"showing {offset + 1}–{offset + len(rows)} of {total}; next page: --offset {offset + len(rows)}")
    elif not rows:
        click.echo(f"no requests match (of {total} with these filters)" if total else "no requests match")


def _text_query(storage: Storage, settings: Settings, search: str) -> inbox.TextQuery:
    """The search as the inbox reads it: cut by our tokeniser (with the site's dictionary), after
    cutting the requests not cut yet (support never imports the engine, so the caller cuts)."""
    from ..engine.text import get_tokenizer

    tokenizer = get_tokenizer(settings.user_dict)
    tickets.backfill_terms(storage, tokenizer.tokens)
    return inbox.TextQuery(search, tuple(tokenizer.tokens(search)))


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    return f"{n / 1024:.0f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def _detail_lines(detail: inbox.RequestDetail, settings: Settings) -> Iterator[str]:
    esc = detail.escalation
    yield f"{esc.reference}  [{esc.status}]"
    fields = [("created", _local(esc.created_at, settings, "%Y-%m-%d %H:%M:%S") + f" ({settings.support_timezone})"),
              ("category", esc.category), ("subject", esc.subject), ("name", esc.name), ("email", esc.email),
              ("phone", esc.phone), ("device", esc.device), ("order number", esc.order_number)]
    for label, value in fields:
        yield f"{label:<14}{value or '–'}"
    yield "description:"
    yield from (f"  {line}" for line in (esc.description or "").splitlines() or ["–"])
    try:
        context = json.loads(esc.context or "{}")
    except ValueError:
        context = {"(unreadable)": esc.context}
    yield "visit context (as stored):"
    labels = {"query": "last query", "shown": "shown", "read": "read", "unhelpful": "unhelpful", "visit": "visit id"}
    for key, value in (context.items() if isinstance(context, dict) else [("(value)", context)]):
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value) or "–"
        elif not isinstance(value, str):
            value = json.dumps(value, ensure_ascii=False)
        yield f"  {labels.get(key, key):<12}{value or '–'}"
    yield f"attachments ({len(esc.attachments)}):"
    for a in esc.attachments:
        yield f"  {a.original_name}  {a.content_type}  {_size(a.size)}  (stored as {a.stored_name})"
    yield f"notifications ({len(detail.deliveries)}):"
    for d in detail.deliveries:
        state = {"delivered": f"delivered {_local(d.delivered_at, settings)}",
                 "pending": f"pending, next try {_local(d.next_attempt_at, settings)}",
                 }.get(d.status, d.status)
        line = f"  {d.channel}{' → ' + d.target if d.target else ''}: {state} ({d.attempts} attempt(s))"
        yield line + (f"; last error: {d.last_error}" if d.last_error else "")
    yield f"timeline ({len(detail.events)}):"
    for ev in detail.events:
        yield from _event_lines(ev, settings)


def _event_lines(ev: Any, settings: Settings) -> Iterator[str]:
    """One timeline entry: when, who, what (notes are marked internal: never shown to the requester)."""
    info = getattr(ev, "info", None) or {}
    what = {"reply": "reply (shown to the requester)", "note": "internal note",
            "message": "message from the requester"}.get(ev.kind, ev.kind)
    if ev.kind == "status":
        what = f"status {info.get('from') or '–'} → {info.get('to') or '–'}"
        if info.get("auto"):
            what += f" (by itself, {info.get('days')} days after solving)"
        elif info.get("reopened"):
            what += " (reopened by the requester)"
    elif ev.kind == "assign":
        what = f"assigned to {info['to']}" if info.get("to") else "unassigned"
    elif ev.kind == "solved":
        what = (f"solved with article {info.get('article')}" if info.get("resolution") == "article"
                else "solved: no article covers this")
    yield f"  {_local(ev.created_at, settings)}  {ev.actor}: {what}"
    yield from (f"      {line}" for line in (ev.body or "").splitlines())
    for a in getattr(ev, "files", []):
        yield f"      screenshot: {a.original_name}  {a.content_type}  {_size(a.size)}  (stored as {a.stored_name})"


@requests.command("show")
@click.argument("reference")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def show_cmd(ctx: click.Context, reference: str, as_json: bool) -> None:
    """One request: every field, the visit context, screenshots, the delivery of each notification and its timeline."""
    settings, storage = _storage(ctx)
    try:
        detail = inbox.get_request(storage, reference)
    except StorageUnavailable as exc:
        raise click.ClickException(f"database: {exc}") from None
    if detail is None:
        raise click.ClickException(f"no request {inbox.normalise_reference(reference)} "
                                   "(references look like HC-20261121-7KQ2; `helpcenter requests list` shows them)")
    if as_json:
        echo_json(detail.as_json())
    else:
        for line in _detail_lines(detail, settings):
            click.echo(line)


@requests.command("export")
@click.option("--since", type=date_type, required=True, help="First day (YYYY-MM-DD, support time zone).")
@click.option("--until", type=date_type, help="Last day, included (default: no end).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file (default: standard output).")
@click.pass_context
def export_cmd(ctx: click.Context, since: dt.datetime, until: dt.datetime | None, fmt: str, out: str | None) -> None:
    """Every request of a period, oldest first: CSV (UTF-8 with BOM, for Excel and WPS) or a JSON list."""
    settings, storage = _storage(ctx)
    start, end = _period(settings, since, until)
    chunks: list[str] = []  # for --out: written at once, private and whole (never half an export)
    write = chunks.append if out else (lambda text: click.echo(text, nl=False))
    count = 0
    try:
        write("" if fmt == "csv" else "[")
        while True:  # page by page (the order, time then id, is stable): rows are never all loaded at once
            page = inbox.list_requests(storage, since=start, until=end, oldest_first=True,
                                       limit=EXPORT_PAGE, offset=count)
            if fmt == "csv":
                write(inbox.to_csv(page, settings.support_timezone, header=count == 0))
            else:
                write("".join(("," if count + i else "") + "\n  " + json.dumps(row.as_json(), ensure_ascii=False)
                              for i, row in enumerate(page)))
            count += len(page)
            if len(page) < EXPORT_PAGE:
                break
        write("" if fmt == "csv" else "\n]\n")
    except StorageUnavailable as exc:
        raise click.ClickException(f"database: {exc}") from None
    if out:
        # Personal data: owner-only (0600), like the privacy export. The BOM lets Excel and WPS read
        # the Chinese text (like `report --csv`); standard output gets none, for scripts.
        data = "".join(chunks).encode("utf-8-sig" if fmt == "csv" else "utf-8")
        try:
            write_private(Path(out), data, replace=True)
        except OSError as exc:
            raise click.ClickException(f"cannot write {out}: {exc}") from None
    click.echo(f"{count} requests" + (f" written to {out}" if out else ""), err=True)


@requests.command("resolutions")
@click.option("--since", type=date_type, help="Solved on or after this day (YYYY-MM-DD, support time zone).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (a list).")
@click.pass_context
def resolutions_cmd(ctx: click.Context, since: dt.datetime | None, as_json: bool) -> None:
    """Solved requests as learning data, oldest first: what the person searched and asked, and the
    article an agent answered with or the gap the agent named."""
    settings, storage = _storage(ctx)
    start, _ = _period(settings, since, None)
    try:
        rows = tickets.resolutions(storage, start)
    except StorageUnavailable as exc:
        raise click.ClickException(f"database: {exc}") from None
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no solved requests" + (f" since {since:%Y-%m-%d}" if since else ""))
        return
    header = ["reference", "solved", "query", "subject", "answer"]
    body = [[r["reference"], _local(dt.datetime.fromisoformat(r["solved_at"]), settings), r["query"] or "–",
             r["subject"], f"article {r['article']}" if r["resolution"] == "article"
             else f"no article: {_cut(r['note'] or '', 60)}"] for r in rows]
    for line in _table([header] + body, cut_column=3):
        click.echo(line)
    gaps = sum(1 for r in rows if r["resolution"] == "no_article")
    click.echo(f"\n{len(rows)} solved: {len(rows) - gaps} with an article, {gaps} with no article covering them")


@requests.command("close-solved")
@click.pass_context
def close_solved_cmd(ctx: click.Context) -> None:
    """Close requests solved more than solved_close_days ago (the site does it hourly too)."""
    settings, storage = _storage(ctx)
    days = settings.solved_close_days
    if days <= 0:
        click.echo("solved_close_days is 0: solved requests never close by themselves; nothing to do")
        return
    try:
        closed = tickets.close_solved(storage, days)
    except StorageUnavailable as exc:
        raise click.ClickException(f"database: {exc}") from None
    for reference in closed:
        click.echo(reference)
    click.echo(f"closed {len(closed)} request(s) solved more than {days} day(s) ago")
