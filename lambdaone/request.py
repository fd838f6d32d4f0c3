"""Reading a request out of any Lambda event shape, treating every part of it as hostile.

API Gateway REST (v1) keeps the client's header case, adds ``multiValueHeaders`` and sends
``"headers": null`` when there are none; HTTP API (v2), function URLs and ALB lower-case names;
``aws lambda invoke`` with ``{}`` has no headers at all. All of them are read the same way here.
"""

from __future__ import annotations

import re
from typing import Any

from .reasons import Denial, Reason

#: Larger tokens are refused before any parsing (API Gateway's own header limit is about 10 KB).
MAX_TOKEN_LENGTH = 16 * 1024

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# The auth-scheme: everything up to the first whitespace character of any kind.
_SCHEME = re.compile(r"[^\s]+")
# RFC 9110 §5.5: a field value's leading and trailing whitespace (SP, HTAB) is not part of it.
_FIELD_WHITESPACE = " \t"


def header_values(event: Any, name: str) -> list[Any]:
    """Every value of header ``name`` (any case) in the event; ``multiValueHeaders`` wins when present."""
    if not isinstance(event, dict):
        return []
    wanted = name.lower()
    size = len(wanted)  # compared first: most header names differ in length, and len() is cheaper than lower()
    values: list[Any] = []
    multi = event.get("multiValueHeaders")
    if isinstance(multi, dict):
        for key, found in multi.items():
            if isinstance(key, str) and len(key) == size and key.lower() == wanted:
                values.extend(found if isinstance(found, list) else [found])
        if values:
            return values
    single = event.get("headers")
    if isinstance(single, dict):
        for key, found in single.items():
            if isinstance(key, str) and len(key) == size and key.lower() == wanted:
                values.append(found)
    return values


def bearer_token(event: Any) -> str | None:
    """The bearer token of the request, or None when it presents no bearer credentials.

    RFC 6750 §2.1: ``credentials = "Bearer" 1*SP b64token``. The scheme is matched in any case
    (RFC 9110 §11.1) and whitespace around the whole value is ignored (an HTTP field value's
    optional whitespace); between scheme and token only spaces are accepted. Raises
    :class:`Denial` (400 ``invalid_request``) for a malformed header: several Authorization headers,
    a bearer scheme with no token, with more than one, or separated from it by a tab or a newline.
    """
    values = header_values(event, "authorization")
    if not values:
        return None
    if len(values) > 1:
        raise Denial(Reason.DUPLICATE_AUTHORIZATION)
    value = values[0]
    if not isinstance(value, str):
        raise Denial(Reason.MALFORMED_AUTHORIZATION, why="header value is not text")
    if not value or value.isspace():
        return None  # an empty header presents no credentials
    value = value.strip(_FIELD_WHITESPACE)
    scheme = _SCHEME.match(value)
    if scheme is None:
        raise Denial(Reason.MALFORMED_AUTHORIZATION, why="a line break or other whitespace before the scheme")
    if scheme.group().lower() != "bearer":
        return None  # another scheme (Basic, ...): no bearer token presented (RFC 6750 §3.1)
    rest = value[scheme.end():]
    credentials = rest.lstrip(" ")
    if not credentials:
        raise Denial(Reason.MALFORMED_AUTHORIZATION, why="bearer scheme without a token")
    if len(credentials) == len(rest):
        raise Denial(Reason.MALFORMED_AUTHORIZATION, why="scheme and token not separated by spaces")
    if len(credentials) > MAX_TOKEN_LENGTH:
        raise Denial(Reason.TOKEN_TOO_LARGE, length=len(credentials))
    if not _B64TOKEN.fullmatch(credentials):
        raise Denial(Reason.MALFORMED_AUTHORIZATION, why="more than one token or characters outside b64token")
    return credentials
