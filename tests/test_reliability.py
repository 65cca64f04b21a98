"""Faults and load, bounded and on loopback only: concurrent escalations, rebuilds under
search traffic, a build killed half-way.

`HELPCENTER_LOAD_ESCALATIONS` sets how many escalations the concurrency test submits
(200 by default in CI; `scripts/load-test` runs it with 1,000).
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from helpcenter.engine.build import build_index, live_build_id
from helpcenter.engine.embed import HashEmbedder
from helpcenter.engine.index import load_current
from helpcenter.web.live import serve_in_thread

from .databases import database_url, postgres_url  # noqa: F401  (fixtures)
from .test_delivery import SUPPORT, SmtpServer

ROOT = Path(__file__).resolve().parents[1]


def api_client(base: str):
    """A cookie-keeping client with its own CSRF token, as one browser would be."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    token = json.loads(opener.open(f"{base}/api/csrf", timeout=30).read())["csrf_token"]

    def post(path: str, body: dict) -> tuple[int, dict]:
        req = urllib.request.Request(f"{base}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "X-CSRFToken": token})
        try:
            with opener.open(req, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    return post


def test_concurrent_escalations_are_all_stored_and_notified_once(make_app, database_url):  # noqa: F811
    n = int(os.environ.get("HELPCENTER_LOAD_ESCALATIONS", "200"))
    smtp = SmtpServer().start()
    app = make_app(database_url=database_url, smtp_host="127.0.0.1", smtp_port=smtp.port,
                   support_inbox=SUPPORT, outbox_worker=1, outbox_backoff_seconds=0.05,
                   outbox_poll_seconds=0.05, rate_limit_forms="1000000 per minute")
    storage = app.extensions["hc_storage"]
    try:
        with serve_in_thread(app) as base:
            def one_client(c: int) -> list[tuple[int, dict]]:
                post = api_client(base)
                return [post("/api/escalations", {
                    "subject": f"客户 {c} 的第 {i} 个问题", "description": "付款成功了但是会员没有开通，请帮忙查一下。",
                    "email": f"user{c}@example.com", "category": "other"}) for i in range(c, n, 20)]

            with ThreadPoolExecutor(20) as pool:
                answers = [a for batch in pool.map(one_client, range(20)) for a in batch]
            deadline = time.monotonic() + 120
            while storage.outbox_counts().get("delivered", 0) < 2 * n:
                assert time.monotonic() < deadline, storage.outbox_counts()
                time.sleep(0.1)
    finally:
        app.extensions["hc_outbox"].stop()
        smtp.stop()
    assert [code for code, _ in answers] == [201] * n
    refs = [body["reference"] for _, body in answers]
    assert len(set(refs)) == n
    from sqlalchemy import func, select

    from helpcenter.db import Escalation
    with storage.session() as s:
        assert s.scalar(select(func.count()).select_from(Escalation)) == n
    assert sorted(smtp.refs(SUPPORT)) == sorted(refs)  # every request notified, each exactly once
    assert storage.outbox_counts() == {"delivered": 2 * n}
    print(f"\n{database_url.split(':')[0]}: {n} escalations submitted by 20 clients, {n} stored with "
          f"{len(set(refs))} unique references, {len(smtp.refs(SUPPORT))} support notifications "
          f"(each once), {storage.outbox_counts()['delivered']} deliveries")


def test_rebuilds_while_eight_clients_search(make_app, built):
    app = make_app(rate_limit_api="1000000 per minute")
    failures: list[str] = []
    done = threading.Event()
    count = 0
    lock = threading.Lock()

    with serve_in_thread(app) as base:
        def client(c: int) -> None:
            nonlocal count
            queries = ["物流一直不更新", "密码想不起来了", "客服邮箱", "账号被盗"]
            i = 0
            while not done.is_set() and i < 2000:
                q = queries[(c + i) % len(queries)]
                i += 1
                try:
                    with urllib.request.urlopen(f"{base}/api/search?q={urllib.parse.quote(q)}", timeout=30) as r:
                        body = json.loads(r.read())
                        if r.status != 200 or not body["results"]:
                            failures.append(f"{r.status} {q} {body}")
                except Exception as exc:  # noqa: BLE001 - every failure counts
                    failures.append(repr(exc))
                with lock:
                    count += 1

        threads = [threading.Thread(target=client, args=(c,)) for c in range(8)]
        for t in threads:
            t.start()
        builds = set()
        try:
            path = Path(built.articles_dir) / "contact" / "email.md"
            # At least six rebuilds, and on until the clients have searched across them a good
            # while: on a loaded machine builds may outpace searches (a count, not a speed test).
            deadline = time.monotonic() + 120
            i = 0
            while i < 6 or (count <= 100 and time.monotonic() < deadline):
                path.write_text(path.read_text("utf-8") + f"\n第 {i} 次更新。\n", "utf-8")
                builds.add(build_index(built, HashEmbedder(256)).build_id)
                i += 1
                time.sleep(0.1)
        finally:
            done.set()
            for t in threads:
                t.join(timeout=60)
    print(f"\nrebuilds under load: {len(builds)} builds published while 8 clients made {count} searches, "
          f"{len(failures)} failed or empty")
    assert len(builds) == i >= 6  # every rebuild was published
    assert count > 100
    assert failures == []


def write_corpus(root: Path, n: int, marker: str) -> None:
    for i in range(n):
        cat = root / f"c{i // 200}"
        if i % 200 == 0:
            cat.mkdir(parents=True, exist_ok=True)
            (cat / "_category.yml").write_text(f"name: 分类{i // 200}\n", "utf-8")
        (cat / f"a{i}.md").write_text(
            f"---\ntitle: 第{i}篇 {marker}\n---\n\n## 说明\n\n" + f"这是第{i}篇文章的内容，{marker}。" * 20 + "\n", "utf-8")


def test_build_killed_half_way_leaves_the_previous_index_serving(tmp_path):
    articles, index = tmp_path / "articles", tmp_path / "index"
    write_corpus(articles, 1500, "初版")
    env = dict(os.environ, HELPCENTER_MODEL="hash", HELPCENTER_USER_DICT="",
               HELPCENTER_ARTICLES_DIR=str(articles), HELPCENTER_INDEX_DIR=str(index))
    cmd = [sys.executable, "-m", "helpcenter.cli", "build-index", "--quiet"]
    subprocess.run(cmd, env=env, check=True, capture_output=True, cwd=ROOT)
    good = live_build_id(index)
    write_corpus(articles, 1500, "修订版")
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    builds = index / "builds"
    deadline = time.monotonic() + 120
    # Kill it while it is writing the new build beside the live one.
    while not any(p.name.startswith(".tmp-") for p in builds.iterdir()):
        assert proc.poll() is None, "the build finished before it could be killed; make the corpus bigger"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert live_build_id(index) == good
    assert load_current(index).articles["c0/a0"]["title"] == "第0篇 初版"
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    assert again.returncode == 0, again.stderr
    assert load_current(index).articles["c0/a0"]["title"] == "第0篇 修订版"
    assert not [p for p in builds.iterdir() if p.name.startswith(".tmp-")]
    print("\nbuild killed with SIGKILL while writing: previous build kept serving, next build published")

