"""Turning a decision into an API Gateway proxy response (``statusCode``, ``headers``, ``body``).

RFC 6750 §3: no credentials gives ``WWW-Authenticate: Bearer`` with no error; a bad request,
a bad token and a missing scope give ``invalid_request`` (400), ``invalid_token`` (401) and
``insufficient_scope`` (403). Bodies are small JSON objects with a stable reason and never
echo anything from the request. Server-side failures share one generic body.
"""

from __future__ import annotations

import json
from typing import Any

from .authz import Decision
from .hello_world import hello
from .reasons import Reason

_COMMON_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_TEXT = "text/plain; charset=utf-8"
_JSON = "application/json"
# A configuration problem or a bug says nothing more to the caller than this; the log has the rest.
_SERVER_ERROR_BODY = json.dumps({"error": "server_error", "reason": "internal_error"})


def respond(decision: Decision) -> dict[str, Any]:
    """The proxy response for ``decision``."""
    reason = decision.reason
    if reason.allowed:
        return _response(200, _TEXT, hello())
    if reason.status == 500:
        return _response(500, _JSON, _SERVER_ERROR_BODY)
    if reason is Reason.SIGNING_KEYS_UNAVAILABLE:
        body = json.dumps({"error": "temporarily_unavailable", "reason": reason.code})
        retry_after = int(decision.detail.get("retry_after", 10))
        return _response(503, _JSON, body, {"Retry-After": str(max(1, retry_after))})
    return _response(reason.status, _JSON, _error_body(reason), {"WWW-Authenticate": www_authenticate(decision)})


def www_authenticate(decision: Decision) -> str:
    """The RFC 6750 challenge for a denied request."""
    error = decision.reason.rfc6750_error
    if error is None:
        return "Bearer"
    challenge = f'Bearer error="{error}"'
    if decision.reason is Reason.INSUFFICIENT_SCOPE:
        challenge += f', scope="{" ".join(decision.required_scopes)}"'
    return challenge


def _error_body(reason: Reason) -> str:
    return json.dumps({"error": reason.rfc6750_error or "unauthorized", "reason": reason.code})


def _response(status: int, content_type: str, body: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    headers = {"Content-Type": content_type, **_COMMON_HEADERS, **(extra or {})}
    return {"statusCode": status, "headers": headers, "body": body, "isBase64Encoded": False}
