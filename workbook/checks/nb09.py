"""Checks for notebook 09 (logging): ``redact(event)`` returns a copy of an event that is safe to log."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Collection
from typing import Any

from workbook import events
from workbook.checking import Case, check, output_of


def _segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# Token-shaped strings (no key is needed: redact never verifies anything). Each has a payload and a signature
# of its own, and the check looks for every part of them in what redact returns.
TOKEN = ".".join([_segment({"alg": "RS256", "kid": "key-1"}), _segment({"sub": "learner", "scope": "treasure:read"}),
                  "c2lnbmF0dXJlLW9mLXRoZS1maXJzdC10b2tlbg"])
OTHER_TOKEN = ".".join([_segment({"alg": "RS256", "kid": "key-2"}), _segment({"sub": "admin", "scope": "treasure:admin"}),
                        "c2lnbmF0dXJlLW9mLWFub3RoZXItdG9rZW4"])
SESSION = "session=8f2d6c1e9b7a4f30"
API_KEY = "apikey-5d41402abc4b2a76b9719d911017c592"
BODY_SECRET = "password=hunter2-body-secret"
# What must not survive, by name; the header segment of a token ({"alg":..., "kid":...}) is not secret.
SECRETS = {
    "the token's payload": TOKEN.split(".")[1],
    "the token's signature": TOKEN.split(".")[2],
    "the second token's payload": OTHER_TOKEN.split(".")[1],
    "the second token's signature": OTHER_TOKEN.split(".")[2],
    "the session cookie": SESSION,
    "the API key": API_KEY,
    "the body": BODY_SECRET,
}
FRAGMENT = 12  # a masked value may keep a few characters, never this many of a secret in a row


def leaks(value: Any) -> list[str]:
    """The secrets of which a fragment can still be read anywhere in ``value``."""
    text = json.dumps(value, default=str)
    return [name for name, secret in SECRETS.items()
            if any(secret[i:i + FRAGMENT] in text for i in range(len(secret) - FRAGMENT + 1))]


def rest_event(name: str = "Authorization") -> dict[str, Any]:
    event = events.rest_api_v1({name: f"Bearer {TOKEN}", "User-Agent": "curl/8.5.0", "Accept": "*/*"})
    event["body"] = BODY_SECRET
    return event


def http_v2_event() -> dict[str, Any]:
    event = events.http_api_v2({"authorization": f"Bearer {TOKEN}", "user-agent": "curl/8.5.0",
                                "cookie": SESSION})
    event["cookies"] = [SESSION]
    event["body"] = BODY_SECRET
    return event


def mixed_case_event() -> dict[str, Any]:
    event = events.rest_api_v1({"AUTHORIZATION": f"Bearer {TOKEN}", "Accept": "*/*"})
    event["multiValueHeaders"] = {"aUtHoRiZaTiOn": [f"Bearer {TOKEN}", f"Bearer {OTHER_TOKEN}"], "Accept": ["*/*"]}
    return event


def credentials_event() -> dict[str, Any]:
    return events.rest_api_v1({"Cookie": SESSION, "Proxy-Authorization": f"Bearer {OTHER_TOKEN}",
                               "X-Api-Key": API_KEY, "User-Agent": "curl/8.5.0"})


NULL_HINT = ("check that headers (and multiValueHeaders) is a dict before filtering it: it may be missing, or null "
             "in REST API v1; keep a null as it is")


def check_redact(redact: Callable[[dict[str, Any]], Any], sensitive_headers: Collection[str]) -> None:
    """``redact(event)``: a copy without credentials, cookies or body; ``event`` itself unchanged."""

    def leaked(make_event: Callable[[], dict[str, Any]]) -> Callable[[], list[str]]:
        return lambda: leaks(redact(make_event()))

    def unchanged(make_event: Callable[[], dict[str, Any]]) -> Callable[[], bool]:
        def run() -> bool:
            event = make_event()
            before = copy.deepcopy(event)
            redact(event)
            return event == before
        return run

    def written() -> list[str]:
        texts = []
        for make in (rest_event, http_v2_event, mixed_case_event, credentials_event):
            try:
                texts.append(output_of(lambda make=make: redact(make()))[1])
            except Exception:  # noqa: S112 (a redact that raises is reported by the cases below, not here)
                continue
        return leaks("\n".join(texts))

    def diagnose(outcome: Any) -> str | None:
        """Name the kind of secret that leaked, from probes that each hold one kind only."""
        if isinstance(outcome, (AttributeError, TypeError)) and "NoneType" in str(outcome):
            return NULL_HINT
        probes = [
            ("compare name.lower() with SENSITIVE_HEADERS: header names arrive in any case",
             lambda: events.rest_api_v1({"Authorization": f"Bearer {TOKEN}"}), lambda: events.rest_api_v1(
                 {"authorization": f"Bearer {TOKEN}"})),
            ("filter event['multiValueHeaders'] too: REST API v1 repeats every header there",
             lambda: {**events.rest_api_v1(None), "multiValueHeaders": {"authorization": [f"Bearer {TOKEN}"]}}, None),
            ("every name in SENSITIVE_HEADERS, not only authorization: cookie carries a session",
             lambda: events.rest_api_v1({"cookie": SESSION}), None),
            ("drop 'body': it may hold passwords or tokens", lambda: {**events.rest_api_v1(None), "body": BODY_SECRET},
             None),
            ("drop event['cookies'] too (HTTP API 2.0 puts the cookies there)",
             lambda: {**events.http_api_v2({}), "cookies": [SESSION]}, None),
        ]
        for hint, leaking, safe in probes:
            try:
                if leaks(redact(leaking())) and (safe is None or not leaks(redact(safe()))):
                    return hint
            except Exception:  # noqa: S112 (a probe that crashes tells nothing; the next one may)
                continue
        return None

    def kept() -> tuple[Any, ...]:
        safe = redact(rest_event())
        return (safe["headers"].get("User-Agent"), safe["multiValueHeaders"].get("Accept"), safe["path"],
                safe["requestContext"]["requestId"])

    def no_body_no_cookies() -> list[str]:
        safe = redact(http_v2_event())
        return sorted(name for name in ("body", "cookies") if safe.get(name))

    def without_headers() -> list[Any]:
        results = [redact(events.direct_invoke()), redact(events.rest_api_v1(None))]
        return [type(result).__name__ for result in results] + [results[1].get("headers")]

    missing = {"authorization", "cookie"} - {name.lower() for name in sensitive_headers}
    check("redact", [
        Case("SENSITIVE_HEADERS names authorization and cookie in lower case (missing)", lambda: sorted(missing), [],
             hint="keep the SENSITIVE_HEADERS cell as given and compare lower-cased header names with it"),
        Case("redact prints and logs none of the secrets of the event it is given (leaked)", written, [],
             hint="never print or log the event inside redact: it still holds the token. Return the copy; "
                  "whoever logs, logs only that"),
        Case("REST API event: nothing of the token survives in headers or multiValueHeaders (leaked)",
             leaked(rest_event), [], explain=diagnose,
             hint="filter both event['headers'] and event['multiValueHeaders']; drop 'body'"),
        Case("HTTP API 2.0 event: lower-case authorization, cookie header, cookies and body (leaked)",
             leaked(http_v2_event), [], explain=diagnose,
             hint="payload 2.0 lower-cases header names and puts cookies in event['cookies']: drop it"),
        Case("header names in any case: AUTHORIZATION, aUtHoRiZaTiOn (leaked)", leaked(mixed_case_event), [], explain=diagnose,
             hint="compare name.lower() with SENSITIVE_HEADERS"),
        Case("Cookie, Proxy-Authorization and X-Api-Key are redacted too (leaked)", leaked(credentials_event), [], explain=diagnose,
             hint="every name in SENSITIVE_HEADERS, not only authorization"),
        Case("body and cookies are dropped (still there)", no_body_no_cookies, [],
             hint="leave 'body' and 'cookies' out of the copy (or set them to None)"),
        Case("everything else is kept: a header, a multi-value header, path, request id", kept,
             ("curl/8.5.0", ["*/*"], "/hello", "rest-request"),
             hint="copy the other fields and headers as they are"),
        Case("the REST API event given to redact is not modified", unchanged(mixed_case_event), True,
             hint="build new dictionaries; dict(event) alone still shares event['headers'] with the caller"),
        Case("the HTTP API event given to redact is not modified", unchanged(http_v2_event), True,
             hint="do not pop or del from the event or from its headers: copy while filtering"),
        Case("no headers at all, and \"headers\": null, work (types, headers)", without_headers,
             ["dict", "dict", None],
             hint=NULL_HINT),
    ])
