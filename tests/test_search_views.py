"""The search page (helpcenter.web.search_views), also behind the production server."""

import http.client
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from .conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def production_command() -> str:
    """The gunicorn command line of scripts/run, exactly as it serves the site."""
    text = (ROOT / "scripts" / "run").read_text("utf-8").replace("\\\n", " ")
    line = next(l for l in text.splitlines() if l.lstrip().startswith("exec ") and "gunicorn" in l)
    return line.strip()


def request_line_limit() -> int:
    m = re.search(r"--limit-request-line[ =](\d+)", production_command())
    assert m, "scripts/run must set gunicorn's --limit-request-line (its default, 4094 bytes, is too small)"
    return int(m.group(1))


def test_the_search_box_takes_no_more_than_the_searcher_reads(client, app):
    limit = app.extensions["hc_settings"].max_query_chars
    for path in ("/", "/search?q=密码", "/articles/account/forgot-password"):
        box = re.search(r'<input id="q"[^>]*>', client.get(path).get_data(as_text=True)).group(0)
        assert f'maxlength="{limit}"' in box, path


def test_a_full_search_box_fits_the_production_request_line(settings):
    # The widest character per unit of maxlength: a CJK character, 3 bytes, %XX%XX%XX (9 bytes).
    full = "GET /search?q=" + quote("密" * settings.max_query_chars) + " HTTP/1.1"
    assert len(full.encode()) <= request_line_limit()
    # and a much longer shared link still reaches the app, which cuts it with a notice
    assert len(("GET /search?q=" + quote("密" * 500) + " HTTP/1.1").encode()) <= request_line_limit()
    # A setting that would let the box outgrow the request line is refused up front.
    from helpcenter.config import MAX_QUERY_CHARS, ConfigError

    widest = "GET /search?q=" + quote("密" * MAX_QUERY_CHARS) + " HTTP/1.1"
    assert len(widest.encode()) <= request_line_limit()
    with pytest.raises(ConfigError, match="max_query_chars"):
        settings.with_overrides(max_query_chars=MAX_QUERY_CHARS + 1)


@pytest.fixture
def gunicorn(tmp_path, built):
    port = free_port()
    env = dict(os.environ, HELPCENTER_BIND=f"127.0.0.1:{port}", HELPCENTER_WORKERS="1",
               HELPCENTER_MODEL="hash", HELPCENTER_USER_DICT="", HELPCENTER_OUTBOX_WORKER="0",
               HELPCENTER_ARTICLES_DIR=built.articles_dir, HELPCENTER_INDEX_DIR=built.index_dir,
               HELPCENTER_INSTANCE_DIR=str(tmp_path / "gunicorn-instance"))
    log = open(tmp_path / "gunicorn.log", "wb")
    proc = subprocess.Popen(["bash", "-c", production_command()], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def test_a_very_long_chinese_query_is_cut_with_a_notice_by_the_production_server(gunicorn, settings):
    conn = http.client.HTTPConnection("127.0.0.1", gunicorn, timeout=30)
    conn.request("GET", "/search?q=" + quote("密码忘了怎么办" * 70))  # 490 characters, 4,410 bytes encoded
    resp = conn.getresponse()
    html = resp.read().decode("utf-8", "replace")
    assert resp.status == 200, html[:300]
    assert f"只按前 {settings.max_query_chars} 个字搜索" in html
    assert 'class="result-title"' in html


def test_head_on_a_search_answers_like_get_without_counting(make_app):
    """Uptime checks send HEAD /search?q=...: no search log row, no visit or query in the session."""
    from sqlalchemy import func, select

    from helpcenter.db import SearchLog

    app = make_app()
    probe = app.test_client()

    def logged() -> int:
        writer = app.extensions.get("hc_search_log")  # wait for the background writer
        assert writer is None or writer.flush()
        with app.extensions["hc_storage"].session() as s:
            return s.scalar(select(func.count()).select_from(SearchLog))

    for _ in range(3):
        for url in ("/search?q=密码", "/api/search?q=密码"):
            r = probe.head(url)
            assert r.status_code == 200 and r.get_data() == b"", url
    assert logged() == 0
    with probe.session_transaction() as sess:
        assert "q" not in sess and "vid" not in sess  # the contact form is not pre-filled from a probe
    reader = app.test_client()
    assert reader.get("/search?q=密码").status_code == 200
    assert logged() == 1
    with reader.session_transaction() as sess:
        assert sess["q"] == "密码" and sess["vid"]


def test_a_confident_search_shows_the_best_answer_with_its_passage_and_a_count(client):
    html = client.get("/search", query_string={"q": "密码想不起来了"}).text
    card = re.search(r'<section class="best-answer".*?</section>', html, re.S)
    assert card, html
    assert "最佳答案" in card.group(0) and "忘记密码怎么重置" in card.group(0)
    assert "<mark>密码</mark>" in card.group(0)  # the answering passage, matched words marked
    link = re.search(r'class="best-more" href="([^"]+)"', card.group(0)).group(1)
    assert link.startswith("/articles/account/forgot-password?from=") and link.endswith("#自己动手重置")
    n = len(re.findall(r'class="result-title"', html))
    assert f"找到 {n} 篇相关文章" in html
    assert "Articles found: " in client.get("/en/search", query_string={"q": "密码想不起来了"}).text


def test_without_confidence_there_is_no_best_answer_only_guesses(client):
    html = client.get("/search", query_string={"q": "你们公司在哪里招聘"}).text
    assert "没有找到确切答案" in html and 'class="best-answer"' not in html
    assert re.search(r"找到 \d+ 篇相关文章", html)
