"""Checks for ``01_handler``: the hello handler answers every event shape with a proxy response."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from lambdaone.hello_world import hello
from workbook import events
from workbook.checking import Case, check

Handler = Callable[[Any, Any], Any]

#: A stand-in for the LambdaContext object AWS passes (only the attributes handlers commonly read).
FAKE_CONTEXT = SimpleNamespace(aws_request_id="check-request-id", function_name="lambdaone",
                               memory_limit_in_mb=128, get_remaining_time_in_millis=lambda: 3000)

_EVENT_SHAPES: tuple[tuple[str, Callable[[], Any]], ...] = (
    ('{} (aws lambda invoke)', events.direct_invoke),
    ("REST API v1 with headers null", events.rest_api_v1),
    ("REST API v1 with headers", lambda: events.rest_api_v1({"Accept": "text/plain", "User-Agent": "curl"})),
    ("HTTP API v2", lambda: events.http_api_v2({"accept": "*/*"})),
    ("function URL", lambda: events.function_url({"accept": "*/*"})),
    ("ALB", lambda: events.alb({"accept": "*/*"})),
    ("ALB with multi-value headers", lambda: events.alb({"accept": "*/*"}, multi_value=True)),
)


def content_type(response: Any) -> Any:
    """The Content-Type header of a response, whatever the case of its name (None when absent)."""
    headers = response.get("headers") if isinstance(response, dict) else None
    if not isinstance(headers, dict):
        return None
    return next((value for name, value in headers.items() if str(name).lower() == "content-type"), None)


def is_hello_response(response: Any) -> bool:
    return (isinstance(response, dict) and response.get("statusCode") == 200 and response.get("body") == hello()
            and str(content_type(response)).startswith("text/plain")
            and response.get("isBase64Encoded", False) is False)


def check_hello_handler(handler: Handler) -> None:
    """``handler(event, context)`` returns 200, text/plain, ``hello()`` for every event shape."""
    first = lambda: handler({}, FAKE_CONTEXT)  # noqa: E731 (a named call reads better in each case)
    cases = [
        Case("returns a dict", lambda: type(first()).__name__, expected="dict",
             hint='return a dict such as {"statusCode": 200, "headers": {...}, "body": "..."}'),
        Case("statusCode", lambda: first().get("statusCode"), expected=200,
             hint="statusCode is an int, 200"),
        Case("body", lambda: first().get("body"), expected=hello(),
             hint="the body is the string hello() returns (import it from lambdaone.hello_world)"),
        Case("Content-Type header", lambda: content_type(first()),
             satisfies=lambda value: isinstance(value, str) and value.startswith("text/plain"),
             describe_expected="'text/plain' (a charset may follow)",
             hint='headers is a dict: {"Content-Type": "text/plain"}'),
        Case("the response is JSON-serializable", lambda: json.loads(json.dumps(first())) == first(), expected=True,
             hint="use only dicts, lists, str, int and bool: API Gateway turns the response into JSON"),
        Case("isBase64Encoded, if present, is False", lambda: first().get("isBase64Encoded", False), expected=False,
             hint="the body is plain text, not base64"),
    ]
    for shape, build in _EVENT_SHAPES:
        for context_name, context in (("a context", FAKE_CONTEXT), ("context None", None)):
            cases.append(Case(
                f"{shape}, {context_name}", lambda build=build, context=context: handler(build(), context),
                satisfies=is_hello_response, describe_expected="200, text/plain, body hello()",
                hint="the hello response does not depend on the event: never read headers that may be missing",
            ))
    check("hello handler", cases)
