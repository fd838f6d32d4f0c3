"""OAuth 2.0 Protected Resource Metadata (RFC 9728): which issuers a client gets a token from.

With ``RESOURCE`` set, the Lambda answers a GET (or HEAD) for the metadata path RFC 9728 §3.1
derives from the resource identifier, with no token needed, in every event shape; every
``WWW-Authenticate`` challenge then points to the document with ``resource_metadata="<URL>"``.
Unset, nothing here runs: that path is an ordinary request.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from .responses import resource_metadata_response
from .settings import Settings

logger = logging.getLogger(__name__)

#: RFC 9728 §3: the well-known URI suffix, inserted between the host and the resource's path.
WELL_KNOWN = "/.well-known/oauth-protected-resource"
#: What a client may do at the metadata path; anything else is a 405.
ALLOWED_METHODS = ("GET", "HEAD")


class Location(NamedTuple):
    """Where the metadata of one resource identifier lives: the absolute URL and the request path."""

    url: str
    path: str


@functools.lru_cache(maxsize=16)
def location(resource: str) -> Location:
    """RFC 9728 §3.1: ``https://api.example.com/v1`` → ``https://api.example.com/.well-known/oauth-protected-resource/v1``.

    A terminating "/" of the resource's path is removed first (``https://api.example.com/`` has its
    metadata at ``/.well-known/oauth-protected-resource``). ``resource`` is a validated ``RESOURCE``
    (no query, no fragment: see ``settings``).
    """
    parts = urlsplit(resource)
    path = WELL_KNOWN + parts.path.rstrip("/")
    return Location(f"{parts.scheme}://{parts.netloc}{path}", path)


def metadata_url(settings: Settings | None) -> str | None:
    """The absolute URL of the metadata document, or None when ``RESOURCE`` is unset."""
    if settings is None or settings.resource is None:
        return None
    return location(settings.resource).url


def document(settings: Settings) -> dict[str, Any]:
    """The metadata document (RFC 9728 §2): the resource, its issuers, the scopes it requires, how to send a token."""
    assert settings.resource is not None
    return {
        "resource": settings.resource,  # §3.3: identical to the identifier the URL was derived from
        "authorization_servers": list(settings.issuers),
        "scopes_supported": list(settings.required_scopes),
        "bearer_methods_supported": ["header"],  # only the Authorization header is read
    }


def document_json(settings: Settings) -> str:
    return json.dumps(document(settings), separators=(",", ":"))


def request_target(event: Any) -> tuple[str | None, str | None]:
    """The request's method and path in any event shape; None for what the event does not carry as text.

    HTTP API (payload 2.0) and function URLs: ``requestContext.http.method`` and ``rawPath``;
    REST API (payload 1.0, also HTTP API's 1.0) and ALB: ``httpMethod`` and ``path``.
    """
    if not isinstance(event, dict):
        return None, None
    method: Any = None
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, dict) else None
    if isinstance(http, dict):
        method = http.get("method")
    if not isinstance(method, str):
        method = event.get("httpMethod")
    path = event.get("rawPath")
    if not isinstance(path, str):
        path = event.get("path")
    return (method if isinstance(method, str) else None), (path if isinstance(path, str) else None)


def is_metadata_request(event: Any, settings: Settings | None) -> bool:
    """Whether ``event`` asks for the metadata path (any method) while ``RESOURCE`` is set."""
    if settings is None or settings.resource is None or not settings.authorization_required:
        return False
    _, path = request_target(event)
    return path == location(settings.resource).path


def answer(event: Any, settings: Settings | None) -> dict[str, Any] | None:
    """The response for a request on the metadata path, or None for any other request (or ``RESOURCE`` unset)."""
    if settings is None or not is_metadata_request(event, settings):
        return None
    method, _ = request_target(event)
    response = resource_metadata_response(document_json(settings), method)
    status = response["statusCode"]
    if status == 200:
        logger.debug("resource metadata served", extra={"fields": {"reason": "resource_metadata", "status": status}})
    else:  # the method is not logged: it is the client's text
        logger.info("request denied", extra={"fields": {"reason": "method_not_allowed", "status": status}})
    return response
