"""gunicorn configuration module: ``gunicorn -c python:helpcenter.web.gunicorn_conf ...`` (scripts/run).

gunicorn writes ``Server: gunicorn`` into every response itself and has no
option to turn it off; naming the server and its version only helps someone
looking for a known hole. Loading this module (in the master, before workers
fork) drops that header line.

The access log must not keep the requesters' status links (each one opens a request without an
account): :class:`RedactingLogger` writes ``/requests/…`` in their place, in the request line,
the path and the Referer. Other settings stay on the command line.
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.glogging import Logger
from gunicorn.http import wsgi as _wsgi

from ..support.statuslink import redact


class RedactingLogger(Logger):
    """gunicorn's logger, with status-link tokens taken out of every access-log field."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        values = super().atoms(resp, req, environ, request_time)
        return {k: redact(v) if isinstance(v, str) else v for k, v in values.items()}


logger_class = RedactingLogger

log = logging.getLogger(__name__)


def _without_server_header(default_headers: Any) -> Any:
    def headers(self: Any) -> list[str]:
        return [h for h in default_headers(self) if not h.lower().startswith("server:")]

    headers.__wrapped__ = default_headers  # type: ignore[attr-defined]
    return headers


if hasattr(_wsgi.Response, "default_headers"):
    if not hasattr(_wsgi.Response.default_headers, "__wrapped__"):
        _wsgi.Response.default_headers = _without_server_header(_wsgi.Response.default_headers)
else:  # a gunicorn that reorganised its response code: say so rather than fail to start
    log.warning("gunicorn_conf: this gunicorn has no Response.default_headers; the Server header stays")
