"""HTTPS hardening: `Secure` cookies and HSTS, by setting or per request that came over HTTPS.

With ``https=1`` the site is taken to be HTTPS-only. Without it, a request that
arrived over HTTPS (TLS at gunicorn, or ``X-Forwarded-Proto: https`` from a
proxy counted in ``trusted_proxies``, which ProxyFix applies) still gets both,
so a site behind a TLS-terminating proxy is hardened without an extra setting,
and a plain-HTTP test or intranet set-up is not locked out by a Secure cookie.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, has_request_context, request
from flask.sessions import SecureCookieSessionInterface

HSTS_HEADER = "Strict-Transport-Security"
HSTS_VALUE = "max-age=31536000"  # one year; no includeSubDomains: other hosts of the domain are not ours


def over_https() -> bool:
    """Whether this request is (or the whole site is configured as) served over HTTPS."""
    return bool(current_app.extensions["hc_settings"].https) or (has_request_context() and request.is_secure)


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with ``Secure`` decided per request (see the module doc)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or over_https()


def add_hsts(resp: Response) -> Response:
    if over_https():
        resp.headers.setdefault(HSTS_HEADER, HSTS_VALUE)
    return resp
