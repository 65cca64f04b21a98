"""`bench-quality --learn`: how much search learns from one half of a set's visitors.

Half A of the queries is played as visits to the real site (the Flask app over the set's index,
with its own SQLite database in the bench cache), the way people and agents use it:

- the visitor searches (``/search``); if a labelled entry is among the results, they open it and
  vote "有帮助";
- otherwise they open the first result, vote "没有帮助", and ask for a person (``/contact``); an
  agent signed in to the inbox solves the request with a labelled entry (``/admin/inbox/<ref>/solve``).

Then ``helpcenter build-index`` (the command ops run, with ``learning = auto``) reads what was
learned from that database, and half B is evaluated on the new build. Nothing writes passages
directly: what the build adds is what :mod:`helpcenter.insights.learning` makes of the logs.

``visitors``: how many distinct people ask each half-A question (1: each once, as the data has it).
A click with "有帮助" from a single visit is evidence but not yet a candidate (two visits are
needed, so one person cannot teach search alone); an agent's resolution is enough by itself.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from helpcenter.config import Settings

PASSWORD = "bench agent passphrase"
RESULT_LINK = re.compile(r'class="result-title" href="(/articles/([^"?]+)\?from=[^"]+)"')


def _csrf(client: Any) -> str:
    return client.get("/api/csrf").get_json()["csrf_token"]


def play(settings: Settings, embedder: Any, queries: list[dict[str, str]], qrels: dict[str, set[str]],
         instance: Path, visitors: int = 1) -> dict[str, int]:
    """Play ``queries`` (those with labels) as visits; return what happened, counted."""
    from helpcenter.engine.search import Searcher
    from helpcenter.support import staff
    from helpcenter.web import create_app

    shutil.rmtree(instance, ignore_errors=True)
    s = settings.with_overrides(instance_dir=str(instance), database_url="", rate_limit_forms="1000000 per minute",
                                rate_limit_api="1000000 per minute", rate_limit_login="1000 per minute",
                                outbox_worker=0)
    app = create_app({}, settings=s, searcher=Searcher(s, embedder=embedder))
    store = app.extensions["hc_storage"]
    staff.add_staff(store, "agent@bench.invalid", "agent", PASSWORD)
    agent = app.test_client()
    r = agent.post("/admin/login", data={"csrf_token": _csrf(agent), "email": "agent@bench.invalid",
                                         "password": PASSWORD})
    if r.status_code != 302:
        sys.exit(f"bench agent could not sign in ({r.status_code})")
    counts = dict.fromkeys(("visits", "found", "escalated", "solved", "failed"), 0)
    t = time.perf_counter()
    for q in queries:
        labelled = qrels.get(q["id"])
        if not labelled:
            continue
        for _ in range(visitors):
            counts["visits"] += 1
            person = app.test_client()
            html = person.get("/search", query_string={"q": q["text"]}).get_data(as_text=True)
            links = RESULT_LINK.findall(html)
            right = [(link, art) for link, art in links if art in labelled]
            if right:
                link, art = right[0]
                person.get(link)
                person.post(f"/articles/{art}/feedback", data={"csrf_token": _csrf(person), "helpful": "yes"})
                counts["found"] += 1
                continue
            if links:
                link, art = links[0]
                person.get(link)
                person.post(f"/articles/{art}/feedback", data={"csrf_token": _csrf(person), "helpful": "no"})
            subject = q["text"].strip()[:120]
            r = person.post("/contact", data={
                "csrf_token": _csrf(person), "subject": subject if len(subject) >= 2 else f"{subject}？",
                "description": f"我搜索了“{q['text'].strip()[:200]}”，没有找到答案，请帮忙。", "category": "other",
                "email": f"visitor{counts['visits']}@example.com"})
            if r.status_code != 302:
                counts["failed"] += 1
                continue
            counts["escalated"] += 1
            ref = r.headers["Location"].rstrip("/").rsplit("/", 1)[1]
            solved = agent.post(f"/admin/inbox/{ref}/solve",
                                data={"csrf_token": _csrf(agent), "article": sorted(labelled)[0]})
            counts["solved"] += solved.status_code == 302
    writer = app.extensions.get("hc_search_log")
    if writer is not None:
        writer.flush()
    store.engine.dispose()
    print(f"  played {counts['visits']} visits in {time.perf_counter() - t:.0f}s: {counts}", file=sys.stderr)
    return counts


def _env(settings: Settings, instance: Path) -> dict[str, str]:
    return {"HELPCENTER_ARTICLES_DIR": settings.articles_dir, "HELPCENTER_INDEX_DIR": settings.index_dir,
            "HELPCENTER_USER_DICT": settings.user_dict, "HELPCENTER_INSTANCE_DIR": str(instance),
            "HELPCENTER_DATABASE_URL": "", "HELPCENTER_MODEL": settings.model, "HELPCENTER_LEARNING": "auto"}


def tune(settings: Settings, instance: Path, out: Path) -> dict[str, Any]:
    """`helpcenter tune` on what the site learned, as ops would run it; returns its report."""
    import json

    from click.testing import CliRunner

    from helpcenter.cli import main

    shutil.rmtree(out, ignore_errors=True)
    res = CliRunner().invoke(main, ["tune", "--json", "--out", str(out)], env=_env(settings, instance))
    if res.exit_code != 0:
        print(f"  tune: {res.output.strip().splitlines()[-1]}", file=sys.stderr)
        return {"kept": False}
    report = json.loads(res.stdout)
    print(f"  tune: {report}", file=sys.stderr)
    return report


def rebuild(settings: Settings, instance: Path) -> str:
    """`helpcenter build-index` with learning on, as ops run it; returns what it said."""
    from click.testing import CliRunner

    from helpcenter.cli import main

    res = CliRunner().invoke(main, ["build-index", "--quiet"], env=_env(settings, instance))
    if res.exit_code != 0:
        sys.exit(f"build-index with learning failed:\n{res.output}")
    said = " ".join(line for line in res.output.splitlines() if line.startswith(("learned", "published")))
    print(f"  {said}", file=sys.stderr)
    return said
