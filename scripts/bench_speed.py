"""Build and search speed on synthetic corpora of 1k and 10k articles.

Usage: scripts/bench-speed [--sizes shipped,1000,10000] [--queries 200] [--http-seconds 20] [--work DIR]
                           [--variants 'workers=2;workers=1,HELPCENTER_EMBED_THREADS=1']

Articles are made from the third-party bench data (never copied into this repository):
a title and two alternate questions from bq_corpus, two body sections from insuranceqa_zh
answers, so about five passages each. For each size it prints: full build time and
passages per second beside the raw model's encode throughput on the same texts; the
time of a rebuild after editing one article; in-process query latency p50/p99 split
into normalise / embed / dense / keyword / fuse. For the largest size it then starts
the production server (gunicorn) on 127.0.0.1 and measures /api/search at 1, 8 and 32
concurrent clients on a mix where popular queries repeat (bounded by time and count),
and the server's memory, for each server configuration given with --variants. Machines
are noisy: compare figures from one run. --work keeps the corpora and indexes between
runs (a rerun then rebuilds incrementally, so its "full build" reuses every vector).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from helpcenter.config import load_settings  # noqa: E402
from helpcenter.engine.build import build_index  # noqa: E402
from helpcenter.engine.embed import embedder_for  # noqa: E402
from helpcenter.engine.search import Searcher  # noqa: E402


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))] if s else float("nan")


def make_corpus(bench: Path, out: Path, n: int) -> list[str]:
    """Write n synthetic articles; returns bank questions to search with (some are in the corpus too)."""
    bq = [json.loads(l)["text"] for l in (bench / "bq_corpus/queries.jsonl").read_text("utf-8").splitlines()]
    bq += [json.loads(l)["text"] for l in (bench / "bq_corpus/corpus.jsonl").read_text("utf-8").splitlines()]
    ins = [json.loads(l)["text"] for l in (bench / "insuranceqa_zh/corpus.jsonl").read_text("utf-8").splitlines()]
    rng = random.Random(n)
    rng.shuffle(bq)
    rng.shuffle(ins)
    per_cat = 100
    for i in range(n):
        cat = out / f"c{i // per_cat:03d}"
        if i % per_cat == 0:
            cat.mkdir(parents=True, exist_ok=True)
            (cat / "_category.yml").write_text(f"name: 分类 {i // per_cat}\norder: {i // per_cat}\n", "utf-8")
        q = [bq[(3 * i + j) % len(bq)].replace('"', "") for j in range(3)]
        body = [ins[(2 * i + j) % len(ins)] for j in range(2)]
        (cat / f"a{i:05d}.md").write_text(
            "---\n" + json.dumps({"title": q[0], "questions": [f"{q[1]} ({i})", f"{q[2]} ({i})"], "order": i},
                                 ensure_ascii=False) + "\n---\n\n"
            + f"## 说明\n\n{body[0]}\n\n## 更多\n\n{body[1]}\n", "utf-8")
    start = 3 * n % len(bq)
    return bq[start:] + bq[:start]


def preview_visible(live, settings, embedder, edited: Path, instance: Path, saves: int = 5) -> float:  # noqa: ANN001
    """Median seconds from saving ``edited`` to its page showing the new text, as a writer's open
    browser gets it: the watcher notices, the preview rebuilds, ``/_preview/changes`` answers the
    page's long poll, and the page is fetched again."""
    from helpcenter.web import create_app
    from helpcenter.web.live import serve_in_thread
    from helpcenter.web.preview import init_preview

    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request would bury the tables
    s = settings.with_overrides(instance_dir=str(instance), outbox_worker=0)
    app = create_app({"TESTING": True}, settings=s, searcher=Searcher(s, embedder))
    init_preview(app, live)
    stop = live.start()
    time.sleep(1.0)  # the watcher is ready
    article = "/articles/" + str(edited.relative_to(Path(settings.articles_dir)).with_suffix(""))
    seen = []
    try:
        with serve_in_thread(app) as base:
            for i in range(saves):
                since = live.state.version
                marker = f"页面上看到的第{i}次修改"
                t = time.perf_counter()
                edited.write_text(edited.read_text("utf-8") + f"\n{marker}。\n", "utf-8")
                while True:
                    with urllib.request.urlopen(f"{base}/_preview/changes?since={since}", timeout=30) as r:
                        since = json.loads(r.read())["version"]
                    with urllib.request.urlopen(base + urllib.parse.quote(article), timeout=30) as r:
                        if marker in r.read().decode("utf-8"):
                            break
                seen.append(time.perf_counter() - t)
    finally:
        stop.set()
    return statistics.median(seen)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of a process and its children (gunicorn master + workers), in MB.

    RSS counts pages the workers share (libraries, the model file) once per process;
    PSS splits them between the sharers, so its sum is the memory the server takes.
    """
    totals = {"Rss:": 0, "Pss:": 0}
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                   text=True).stdout.split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                key = line.split()[0] if line.strip() else ""
                if key in totals:
                    totals[key] += int(line.split()[1])
        except OSError:
            pass
    return totals["Rss:"] / 1024, totals["Pss:"] / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (gunicorn master + workers)."""
    total = 0.0
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                   text=True).stdout.split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


def measured(server_pid: int, load: Callable[[], dict[str, float]]) -> dict[str, float]:
    """Run one load level and add the CPU each request cost the server and this client.

    The client shares the machine's cores with the server, so req/s understates what the
    server alone could do; server CPU per request says what it costs wherever it runs.
    """
    server0, client0 = cpu_seconds(server_pid), time.process_time()
    row = load()
    done = max(1, row["requests"] + row["errors"])
    row["server_cpu_ms"] = (cpu_seconds(server_pid) - server0) * 1000 / done
    row["client_cpu_ms"] = (time.process_time() - client0) * 1000 / done
    return row


def http_load(base: str, popular: list[str], rare: list[str], clients: int, seconds: float,
              max_requests: int) -> dict[str, float]:
    """Bounded closed-loop load: `clients` threads until the time or request budget is spent.

    Half the traffic asks one of the popular questions, as real help centers see; the
    other half asks questions from `rare`, each once (a long tail: no cache helps them).
    """
    rng = random.Random(clients)
    tail = iter(rare)
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker() -> None:
        nonlocal errors
        local_rng = random.Random(rng.random())
        while time.monotonic() < stop:
            with lock:
                if len(latencies) + errors >= max_requests:
                    return
                q = local_rng.choice(popular) if local_rng.random() < 0.5 else next(tail, None)
            if q is None:
                return
            t = time.perf_counter()
            try:
                with urllib.request.urlopen(f"{base}/api/search?k=5&q={urllib.parse.quote(q)}", timeout=30) as r:
                    r.read()
                    ok = r.status == 200
            except OSError:
                ok = False
            with lock:
                if ok:
                    latencies.append((time.perf_counter() - t) * 1000)
                else:
                    errors += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t0
    return {"clients": clients, "requests": len(latencies), "errors": errors, "rps": len(latencies) / elapsed,
            "p50": pct(latencies, 50), "p99": pct(latencies, 99)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="shipped,1000,10000", help="`shipped` = the repository's articles")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--http-seconds", type=float, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--bench", default=str(ROOT.parent / "shared" / "bench"))
    ap.add_argument("--work", default="")
    ap.add_argument("--rates", default="20,40,60", help="fixed arrival rates (req/s) for the open-loop levels")
    ap.add_argument("--variants", default="",
                    help="server configurations to load side by side, `;`-separated; each a `,`-separated list "
                         "of HELPCENTER_*=value, workers=N and threads=N (per worker; 8 as scripts/run), e.g. 'workers=2;workers=1,HELPCENTER_EMBED_THREADS=1'")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    bench = Path(args.bench)
    if not (bench / "bq_corpus").is_dir():
        sys.exit(f"bench data not found in {bench} (pass --bench DIR)")
    work = Path(args.work or tempfile.mkdtemp(prefix="hc-speed-"))
    base_settings = load_settings()
    embedder = embedder_for(base_settings)
    sizes = [0 if x == "shipped" else int(x) for x in args.sizes.split(",")]
    build_rows, query_rows = [], []
    last_settings = None
    queries: list[str] = []
    for n in sizes:
        articles = work / f"articles-{n or 'shipped'}"
        user_dict = ""
        if n == 0:  # the shipped help content, copied so one article can be edited
            import shutil

            shutil.copytree(ROOT / "articles", articles, dirs_exist_ok=True)
            user_dict = str(articles / "_dictionary.txt")
            queries = [json.loads(l)["text"] for l in (ROOT / "tests/eval/queries.jsonl").read_text("utf-8").splitlines()]
        else:
            queries = make_corpus(bench, articles, n)
        s = base_settings.with_overrides(articles_dir=str(articles), index_dir=str(work / f"index-{n or 'shipped'}"),
                                         user_dict=user_dict)
        t = time.perf_counter()
        report = build_index(s, embedder)
        full = time.perf_counter() - t
        # Raw encoder throughput on the same passage texts, for comparison.
        from helpcenter.engine.content import load_articles
        from helpcenter.engine.passages import article_passages

        texts = [p.text for a in load_articles(articles).articles.values() for p in article_passages(a)][:2000]
        t = time.perf_counter()
        embedder.encode(texts, "passage", batch_size=s.embed_batch_size)
        raw_rate = len(texts) / (time.perf_counter() - t)
        edited = articles / ("account/forgot-password.md" if n == 0 else "c000/a00000.md")
        edited.write_text(edited.read_text("utf-8") + "\n## 补充说明\n\n新增一句话。\n", "utf-8")
        t = time.perf_counter()
        inc = build_index(s, embedder)
        one = time.perf_counter() - t
        # helpcenter preview: a save rebuilt by the long-lived process (files, passages, model kept).
        from helpcenter.engine.preview import Preview, seed_from

        pv_settings = s.with_overrides(index_dir=str(work / f"preview-{n or 'shipped'}"))
        seed_from(Path(s.index_dir), Path(pv_settings.index_dir))
        live = Preview(pv_settings, embedder)
        live.rebuild()  # the preview's start: every file parsed once
        saves = []
        for i in range(5):
            edited.write_text(edited.read_text("utf-8") + f"\n预览里又改了一句 {i}。\n", "utf-8")
            saves.append(live.rebuild([str(edited)]).seconds)
        visible = preview_visible(live, pv_settings, embedder, edited, work / f"preview-instance-{n or 'shipped'}")
        build_rows.append((n, report.passages, full, report.passages / full, raw_rate, one, inc.embedded,
                           ", ".join(f"{k} {v:.1f}" for k, v in inc.seconds.items() if v >= 0.05),
                           statistics.median(saves), visible))

        searcher = Searcher(s, embedder)
        searcher.search("预热", 5)
        stages: dict[str, list[float]] = {}
        for q in queries[: args.queries]:
            r = searcher.search(q, 5)
            for k, v in r.timings.items():
                stages.setdefault(k, []).append(v * 1000)
        query_rows.append((n, {k: (pct(v, 50), pct(v, 99)) for k, v in stages.items()}))
        last_settings = s

    print(f"\nbuild ({embedder.name}, backend {base_settings.embed_backend})")
    print("| articles | passages | full build s | passages/s | raw encode passages/s | one-article rebuild s "
          "| re-embedded | rebuild stages s | preview save → rebuilt s (median of 5) "
          "| preview save → page shows it s (median of 5) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n, p, full, rate, raw, one, emb, stages_s, pv, seen in build_rows:
        print(f"| {n or 'shipped'} | {p} | {full:.1f} | {rate:.0f} | {raw:.0f} | {one:.2f} | {emb} | {stages_s} "
              f"| {pv:.2f} | {seen:.2f} |")
    print("\"page shows it\": from writing the file to the page's text holding the edit, through the watcher "
          "(inotify, 0.2 s debounce), the rebuild, the long poll the open page waits on, and the page fetched again.")
    order = ["normalise", "embed", "dense", "keyword", "fuse", "total"]
    print(f"\nin-process query latency, ms, p50 / p99 over {args.queries} distinct queries (no cache hits)")
    print("| articles | " + " | ".join(order) + " |")
    print("|---|" + "---|" * len(order))
    for n, st in query_rows:
        print(f"| {n or 'shipped'} | " + " | ".join(f"{st[k][0]:.2f} / {st[k][1]:.2f}" for k in order if k in st) + " |")

    if last_settings is None or args.http_seconds <= 0:
        return
    popular, tail = queries[:20], queries[20:]
    results = []
    for variant in args.variants.split(";"):
        env_over = dict(kv.split("=", 1) for kv in variant.split(",") if "=" in kv)
        workers = env_over.pop("workers", str(args.workers))
        threads = env_over.pop("threads", "8")  # as scripts/run serves
        # Each level gets its own slice of the long tail, so no level sees another's answers cached.
        levels = 3 + len([r for r in args.rates.split(",") if r])
        slices = [tail[i::levels] for i in range(levels)]
        rows, steady, rss, pss = serve_and_load(work, last_settings.index_dir, workers, threads, env_over,
                                                popular, slices, args)
        results.append((variant or "defaults", f"{workers} x {threads}", rows, steady, rss, pss))
    print(f"\nHTTP /api/search, gunicorn, {sizes[-1] or 'shipped'} articles; half the requests repeat "
          f"20 popular questions, the other half each ask a new one; {args.http_seconds:.0f}s per level")
    print("| server settings | workers x threads | clients | requests | errors | req/s | p50 ms | p99 ms "
          "| server CPU ms/req | client CPU ms/req | RSS MB | PSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for variant, shape, rows, _steady, rss, pss in results:
        for r in rows:
            print(f"| {variant} | {shape} | {r['clients']} | {r['requests']} | {r['errors']} | {r['rps']:.0f} | "
                  f"{r['p50']:.1f} | {r['p99']:.1f} | {r['server_cpu_ms']:.1f} | {r['client_cpu_ms']:.1f} | "
                  f"{rss:.0f} | {pss:.0f} |")
    if args.rates:
        print("\nsame mix at a fixed arrival rate (open loop): the latency a visitor sees at that traffic")
        print("| server settings | workers x threads | offered req/s | requests | errors | p50 ms | p99 ms "
              "| server CPU ms/req |")
        print("|---|---|---|---|---|---|---|---|")
        for variant, shape, _rows, steady, _rss, _pss in results:
            for r in steady:
                print(f"| {variant} | {shape} | {r['rate']:.0f} | {r['requests']} | {r['errors']} | "
                      f"{r['p50']:.1f} | {r['p99']:.1f} | {r['server_cpu_ms']:.1f} |")
    print(f"\nThe load generator runs on the same {os.cpu_count()} cores as the server: server CPU per "
          f"request says what the server could serve alone ({os.cpu_count()} cores x 1000 / that figure).")
    print("RSS counts pages the workers share once per process; PSS splits them (the memory really used).")


def open_loop(base: str, popular: list[str], rare: list[str], rate: float, seconds: float) -> dict[str, float]:
    """Requests sent on a fixed schedule (`rate` per second), whatever the server's pace.

    Closed-loop clients with no think time always saturate the server, so their latency
    is just clients / throughput; a fixed arrival rate shows the latency a visitor gets
    at a given traffic level. Latency counts from the scheduled send time, so a server
    that falls behind is charged for the wait (no coordinated omission).
    """
    from concurrent.futures import ThreadPoolExecutor

    rng = random.Random(int(rate))
    tail = iter(rare)
    n = int(rate * seconds)
    start = time.perf_counter() + 0.2
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def one(i: int, q: str) -> None:
        nonlocal errors
        due = start + i / rate
        time.sleep(max(0.0, due - time.perf_counter()))
        try:
            with urllib.request.urlopen(f"{base}/api/search?k=5&q={urllib.parse.quote(q)}", timeout=30) as r:
                r.read()
            with lock:
                latencies.append((time.perf_counter() - due) * 1000)
        except OSError:
            with lock:
                errors += 1

    with ThreadPoolExecutor(max_workers=128) as pool:
        for i in range(n):
            q = rng.choice(popular) if rng.random() < 0.5 else next(tail, rng.choice(popular))
            pool.submit(one, i, q)
    return {"rate": rate, "requests": len(latencies), "errors": errors,
            "p50": pct(latencies, 50), "p99": pct(latencies, 99)}


def serve_and_load(work: Path, index_dir: str, workers: str, threads: str, env_over: dict[str, str],
                   popular: list[str],
                   slices: list[list[str]], args: argparse.Namespace) -> tuple[list[dict[str, float]], float, float]:
    """Start the production server on a free loopback port, load it at 1, 8 and 32 clients, stop it."""
    port = free_port()
    env = dict(os.environ, HELPCENTER_INDEX_DIR=index_dir, HELPCENTER_USER_DICT="",
               HELPCENTER_INSTANCE_DIR=str(work / "instance"), HELPCENTER_RATE_LIMIT_API="10000000 per minute")
    env.setdefault("HELPCENTER_EMBED_THREADS", "1")  # as scripts/run serves
    env.update(env_over)
    server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "--workers", workers, "--threads", threads,
                               "--bind", f"127.0.0.1:{port}", "helpcenter.web.wsgi:app"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 300
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=5).read()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    sys.exit("server did not start")
                time.sleep(0.5)
        http_load(base, popular, ["预热"], 4, 3, 200)  # warm every worker
        rows = [measured(server.pid, lambda c=c, part=part: http_load(base, popular, part, c, args.http_seconds, 20000))
                for c, part in zip((1, 8, 32), slices[:3])]
        rates = [float(r) for r in args.rates.split(",") if r]
        steady = [measured(server.pid, lambda r=r, part=part: open_loop(base, popular, part, r, args.http_seconds))
                  for r, part in zip(rates, slices[3:])]
        rss, pss = memory_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    return rows, steady, rss, pss

if __name__ == "__main__":
    main()
