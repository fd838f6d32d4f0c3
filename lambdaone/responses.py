"""Turning a decision into an API Gateway proxy response (``statusCode``, ``headers``, ``body``).

RFC 6750 §3: no credentials gives ``WWW-Authenticate: Bearer`` with no error; a bad request,
a bad token and a missing scope give ``invalid_request`` (400), ``invalid_token`` (401) and
``insufficient_scope`` (403). Bodies are small JSON objects with a stable reason and never
echo anything from the request. Server-side failures share one generic body.

With ``RESOURCE`` set (RFC 9728), every challenge also carries ``resource_metadata="<URL>"``:
the 401s, and the 400 and 403 too (RFC 9728 §5.1 allows it on any Bearer challenge; after a 403
``insufficient_scope`` a client learns there which issuer grants the missing scopes).
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


#: The metadata document changes only with the configuration: clients may keep it an hour.
METADATA_CACHE_CONTROL = "public, max-age=3600"
#: The body of a 405 on the metadata path.
_METHOD_NOT_ALLOWED_BODY = json.dumps({"error": "invalid_request", "reason": "method_not_allowed"})


def respond(decision: Decision, resource_metadata: str | None = None) -> dict[str, Any]:
    """The proxy response for ``decision``; ``resource_metadata`` is the RFC 9728 metadata URL, if any."""
    reason = decision.reason
    if reason.allowed:
        return _response(200, _TEXT, hello())
    if reason.status == 500:
        return _response(500, _JSON, _SERVER_ERROR_BODY)
    if reason is Reason.SIGNING_KEYS_UNAVAILABLE:
        body = json.dumps({"error": "temporarily_unavailable", "reason": reason.code})
        retry_after = int(decision.detail.get("retry_after", 10))
        return _response(503, _JSON, body, {"Retry-After": str(max(1, retry_after))})
    challenge = www_authenticate(decision, resource_metadata)
    return _response(reason.status, _JSON, _error_body(reason), {"WWW-Authenticate": challenge})


def www_authenticate(decision: Decision, resource_metadata: str | None = None) -> str:
    """The RFC 6750 challenge for a denied request, pointing to the RFC 9728 metadata when given."""
    error = decision.reason.rfc6750_error
    parameters = []
    if error is not None:
        parameters.append(f'error="{error}"')
        if decision.reason is Reason.INSUFFICIENT_SCOPE:
            parameters.append(f'scope="{" ".join(decision.required_scopes)}"')
    if resource_metadata is not None:  # a validated RESOURCE: no quote or backslash to escape
        parameters.append(f'resource_metadata="{resource_metadata}"')
    return "Bearer " + ", ".join(parameters) if parameters else "Bearer"


def resource_metadata_response(document: str, method: str | None) -> dict[str, Any]:
    """The answer on the RFC 9728 metadata path: the document for GET, its headers for HEAD, else 405.

    Public and the same for everyone, so it may be cached and read from any origin (a browser-based
    OAuth client fetches it before it has a token).
    """
    if method == "GET" or method == "HEAD":
        headers = {"Content-Type": _JSON, "Cache-Control": METADATA_CACHE_CONTROL,
                   "X-Content-Type-Options": "nosniff", "Access-Control-Allow-Origin": "*"}
        body = document if method == "GET" else ""
        return {"statusCode": 200, "headers": headers, "body": body, "isBase64Encoded": False}
    return _response(405, _JSON, _METHOD_NOT_ALLOWED_BODY, {"Allow": "GET, HEAD"})


def _error_body(reason: Reason) -> str:
    return json.dumps({"error": reason.rfc6750_error or "unauthorized", "reason": reason.code})


def _response(status: int, content_type: str, body: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    headers = {"Content-Type": content_type, **_COMMON_HEADERS, **(extra or {})}
    return {"statusCode": status, "headers": headers, "body": body, "isBase64Encoded": False}
