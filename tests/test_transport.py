"""Transport hardening: Secure cookies and HSTS over HTTPS, no `Server: gunicorn` from a real gunicorn."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from .conftest import free_port

HSTS = "Strict-Transport-Security"


def session_cookie(resp) -> str:
    return next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("session="))


def test_plain_http_gets_no_secure_cookie_and_no_hsts(app):
    r = app.test_client().get("/api/csrf")
    assert "Secure" not in session_cookie(r) and HSTS not in r.headers
    # Without trusted proxies a client cannot claim HTTPS through X-Forwarded-Proto.
    forged = app.test_client().get("/api/csrf", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in session_cookie(forged) and HSTS not in forged.headers


def test_https_setting_makes_cookies_secure_and_sends_hsts(make_app):
    client = make_app(https=1).test_client()
    r = client.get("/api/csrf")
    assert "; Secure" in session_cookie(r)
    assert r.headers[HSTS].startswith("max-age=") and int(r.headers[HSTS].split("=")[1]) >= 15552000
    assert HSTS in client.get("/").headers


def test_https_behind_a_trusted_proxy_is_taken_from_x_forwarded_proto(make_app):
    app = make_app(trusted_proxies=1)
    r = app.test_client().get("/api/csrf", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.5"})
    assert "; Secure" in session_cookie(r) and HSTS in r.headers
    plain = app.test_client().get("/api/csrf", headers={"X-Forwarded-Proto": "http", "X-Forwarded-For": "203.0.113.5"})
    assert "Secure" not in session_cookie(plain) and HSTS not in plain.headers


def test_https_setting_is_validated():
    from helpcenter.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="https"):
        Settings(https=2).validate()


def test_real_gunicorn_sends_no_server_header(built, tmp_path):
    """As scripts/run starts it: with the config module that drops gunicorn's Server header."""
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", HELPCENTER_MODEL="hash", HELPCENTER_USER_DICT="",
               HELPCENTER_ARTICLES_DIR=built.articles_dir, HELPCENTER_INDEX_DIR=built.index_dir,
               HELPCENTER_INSTANCE_DIR=str(tmp_path / "instance"), HELPCENTER_OUTBOX_WORKER="0")
    cmd = [sys.executable, "-m", "gunicorn", "-c", "python:helpcenter.web.gunicorn_conf", "--workers", "1",
           "--no-control-socket", "--bind", f"127.0.0.1:{port}", "helpcenter.web.wsgi:app"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        headers = None
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
                    headers = resp.headers
                    break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None:
                    break
                time.sleep(0.2)
        assert headers is not None, proc.communicate(timeout=10)[0].decode(errors="replace")
        assert "Server" not in headers and "gunicorn" not in str(headers).lower()
        assert headers["X-Content-Type-Options"] == "nosniff"  # the app's own headers still arrive
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/no-such-page", timeout=5)
        assert missing.value.code == 404 and "Server" not in missing.value.headers
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()
