"""Checks for ``01_handler``: the hello handler answers every event shape with a proxy response."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from lambdaone.hello_world import hello
from workbook import events
from workbook.checking import Case, check, output_of

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


HEADERS_HINT = ("the hello response does not depend on the event: never read event['headers'] (it is null in "
                "REST API v1 without headers and missing with aws lambda invoke); event.get('headers') or {} if you must")
CONTEXT_HINT = ("context is None in local runs and tests: never rely on context.aws_request_id; "
                "getattr(context, 'aws_request_id', None) if you must")
SECRET_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaGVjay0wMSJ9.c2lnbmF0dXJlLW9mLWNoZWNrLTAx"


def _raised(call: Callable[[], Any]) -> str:
    try:
        call()
    except NotImplementedError:
        raise  # the stub: reported as an exercise not complete yet, not as a mistake
    except Exception as error:  # what the learner's handler raised, in words
        return f"{type(error).__name__}: {error}"
    return ""


def check_hello_handler(handler: Handler) -> None:
    """``handler(event, context)`` returns 200, text/plain, ``hello()`` for every event shape."""
    first = lambda: handler({}, FAKE_CONTEXT)  # noqa: E731 (a named call reads better in each case)

    def shapes_that_raise() -> list[str]:
        raised = [(shape, _raised(lambda build=build: handler(build(), FAKE_CONTEXT))) for shape, build in _EVENT_SHAPES]
        return [f"{shape}: {error}" for shape, error in raised if error]

    def with_context_none() -> str:
        return _raised(lambda: handler(events.rest_api_v1({"Accept": "text/plain", "User-Agent": "curl"}), None))

    def printed_with_a_token() -> str:
        event = events.rest_api_v1({"Authorization": f"Bearer {SECRET_TOKEN}", "Accept": "*/*"})
        return output_of(lambda: handler(event, FAKE_CONTEXT))[1]

    cases = [
        Case("every event shape is answered without an exception (shapes that raised)", shapes_that_raise, [],
             hint=HEADERS_HINT),
        Case("context None is answered without an exception (what it raised)", with_context_none, "",
             hint=CONTEXT_HINT),
        Case("it prints and logs nothing of the Authorization header (the caller's token)", printed_with_a_token, "",
             satisfies=lambda text: SECRET_TOKEN.split(".")[1] not in text and "Bearer" not in text,
             describe_expected="no trace of the Authorization header in the output",
             hint="never print or log the event: its Authorization header holds the caller's token"),
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
                hint=HEADERS_HINT if context is not None else CONTEXT_HINT,
            ))
    check("hello handler", cases)
