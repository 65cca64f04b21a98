"""The requester's status link: a signed token that opens one request without an account.

The token is ``itsdangerous`` signed and timed, over (reference, nonce): without the secret
key it cannot be made, a changed character breaks the signature, and it expires after
``status_link_days``. The nonce is stored with the request; a deleted request (or a new nonce)
ends every link to it, and a token that names another request's reference fails the nonce.
The token is a bearer secret: it is kept out of access logs (helpcenter.web.gunicorn_conf)
and analytics, and the page sends no Referer.
"""

from __future__ import annotations

import hmac
import re

from itsdangerous import BadData, URLSafeTimedSerializer

SALT = "helpcenter.request-status"
PATH = "/requests/"  # the status page's URL prefix (helpcenter.web.status), also redacted in logs
_TOKEN_RE = re.compile(re.escape(PATH) + r"[^\s/?#\"']+")


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def make_token(secret: str, reference: str, nonce: str) -> str:
    return _serializer(secret).dumps([reference, nonce])


def read_token(secret: str, token: str, max_age_days: int) -> tuple[str, str] | None:
    """(reference, nonce) of a good, unexpired token; None for anything else (never an error)."""
    if not token or len(token) > 300:
        return None
    try:
        value = _serializer(secret).loads(token, max_age=max(1, max_age_days) * 86400)
    except BadData:
        return None
    if (not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, str) for v in value)):
        return None
    return value[0], value[1]


def nonce_matches(stored: str | None, given: str) -> bool:
    return bool(stored) and hmac.compare_digest(stored.encode(), given.encode())  # type: ignore[union-attr]


def status_url(public_url: str, token: str, locale_prefix: str = "") -> str | None:
    """The link for e-mails (``locale_prefix``: the requester's, e.g. ``/en``); None when the
    site's public address is not configured."""
    if not public_url:
        return None
    return public_url.rstrip("/") + locale_prefix + PATH + token


def redact(text: str) -> str:
    """Text for a log line, with any status-link token replaced by "…"."""
    return _TOKEN_RE.sub(PATH + "…", text) if PATH in text else text
