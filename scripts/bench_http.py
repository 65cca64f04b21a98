"""Latency of GET /api/search over HTTP against the production server (gunicorn) on 127.0.0.1.

Usage: scripts/bench-http [--requests N] [--workers W]
Starts gunicorn on a free loopback port over index/current, waits until it is warm, then
sends the held-out queries one at a time (first pass: each query new to the server;
second pass: the same queries again, served from the query-embedding cache). Bounded:
at most N requests per pass, each with a 30 s timeout. Prints medians and p90.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> float:
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as r:
        r.read()
        if r.status != 200:
            raise RuntimeError(f"{url}: HTTP {r.status}")
    return (time.perf_counter() - t) * 1000


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    queries = [json.loads(l)["text"] for l in (ROOT / "tests/eval/queries.jsonl").read_text("utf-8").splitlines() if l.strip()]
    queries = (queries * (args.requests // len(queries) + 1))[: args.requests]
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", HELPCENTER_INSTANCE_DIR=tempfile.mkdtemp(prefix="hc-bench-"),
               HELPCENTER_RATE_LIMIT_API="100000 per minute")
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "--workers", str(args.workers), "--threads", "4",
         "--bind", f"127.0.0.1:{port}", "helpcenter.web.wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            try:
                get(base + "/healthz")
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    sys.exit("server did not start")
                time.sleep(0.5)
        for _ in range(args.workers * 4):  # every worker warm
            get(base + "/api/search?q=" + urllib.parse.quote("预热"))
        rows = []
        for label in ("new queries", "repeated queries"):
            times = [get(f"{base}/api/search?k=5&q={urllib.parse.quote(q)}") for q in queries]
            rows.append((label, len(times), statistics.median(times), pct(times, 90), max(times)))
        print(f"GET /api/search over HTTP, gunicorn {args.workers} workers, sequential, shipped articles")
        print(f"{'pass':<18}{'n':>5}{'median ms':>11}{'p90 ms':>9}{'max ms':>9}")
        for label, n, med, p90, mx in rows:
            print(f"{label:<18}{n:>5}{med:>11.1f}{p90:>9.1f}{mx:>9.1f}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
