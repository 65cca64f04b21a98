"""The API's one error shape, shared by the blueprints and the app's error handlers.

``{"error": 说明, "code": machine code, "status": n, "fields": {name: [说明]},
"errors": [{"field", "code", "message"}]}`` (documented in static/openapi.yaml). The texts are
in the request's locale (Simplified Chinese by default); the codes never change.
A module of its own so that tracking, uploads and the API can all use it without
importing each other.
"""

from __future__ import annotations

from flask import Response, jsonify


class Coded(str):
    """A field error message with a machine-readable ``code`` (its code goes into ``errors``)."""

    code: str

    def __new__(cls, code: str, message: str) -> "Coded":
        obj = super().__new__(cls, message)
        obj.code = code
        return obj


def error_response(status: int, message: str, fields: dict[str, list[str]] | None = None,
                   code: str | None = None) -> Response:
    """The one error shape (see the module doc); a message without its own code counts as "invalid"."""
    # str(): a lazy (translated) message is not JSON; the codes are never translated.
    body: dict[str, object] = {"error": str(message), "code": code or ("invalid_fields" if fields else "error"),
                               "status": status}
    if fields:
        body["fields"] = {name: [str(m) for m in messages] for name, messages in fields.items()}
        body["errors"] = [{"field": name, "code": getattr(m, "code", "invalid"), "message": str(m)}
                          for name, messages in fields.items() for m in messages]
    resp = jsonify(body)
    resp.status_code = status
    return resp
