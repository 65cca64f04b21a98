"""Serve an app on a loopback port in a background thread, and launch Debian's Chromium.

Used by the browser tests and scripts/screenshots; never downloads a browser.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from ..support.statuslink import redact

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling out of a closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


class _RedactingHandler(WSGIRequestHandler):
    """Werkzeug's request log, without the requesters' status-link tokens."""

    def log(self, type: str, message: str, *args: Any) -> None:
        super().log(type, "%s", redact(message % args))


@contextmanager
def serve_in_thread(app: Flask, port: int = 0) -> Iterator[str]:
    """``port`` 0: any free one. A fixed one lets a test give the app its own address first
    (``public_url``, for the links in e-mails)."""
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=_RedactingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@contextmanager
def chromium(**launch: Any) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, **launch)
        try:
            yield browser
        finally:
            browser.close()
