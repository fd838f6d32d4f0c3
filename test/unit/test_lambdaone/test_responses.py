"""Unit tests for ``lambdaone.responses``: every reason's status, headers and body (RFC 6750 §3).

The expected values are written out from the documented response table, not read back from
``Reason``, so a change to a reason's status or challenge shows up here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdaone.authz import Decision
from lambdaone.hello_world import GREETING
from lambdaone.reasons import Reason
from lambdaone.responses import respond, www_authenticate

REQUIRED = ("treasure:read", "treasure:write")
INVALID_TOKEN = 'Bearer error="invalid_token"'
INVALID_REQUEST = 'Bearer error="invalid_request"'

# reason -> (status, WWW-Authenticate or None, body "error" or None for the text body)
DOCUMENTED: dict[Reason, tuple[int, str | None, str | None]] = {
    Reason.ALLOWED: (200, None, None),
    Reason.AUTHORIZATION_DISABLED: (200, None, None),
    Reason.MISSING_TOKEN: (401, "Bearer", "unauthorized"),
    Reason.MALFORMED_AUTHORIZATION: (400, INVALID_REQUEST, "invalid_request"),
    Reason.DUPLICATE_AUTHORIZATION: (400, INVALID_REQUEST, "invalid_request"),
    Reason.TOKEN_TOO_LARGE: (401, INVALID_TOKEN, "invalid_token"),
    Reason.MALFORMED_TOKEN: (401, INVALID_TOKEN, "invalid_token"),
    Reason.UNSUPPORTED_TOKEN_TYPE: (401, INVALID_TOKEN, "invalid_token"),
    Reason.ALGORITHM_NOT_ALLOWED: (401, INVALID_TOKEN, "invalid_token"),
    Reason.ALGORITHM_KEY_MISMATCH: (401, INVALID_TOKEN, "invalid_token"),
    Reason.UNKNOWN_KEY: (401, INVALID_TOKEN, "invalid_token"),
    Reason.BAD_SIGNATURE: (401, INVALID_TOKEN, "invalid_token"),
    Reason.TOKEN_EXPIRED: (401, INVALID_TOKEN, "invalid_token"),
    Reason.TOKEN_NOT_YET_VALID: (401, INVALID_TOKEN, "invalid_token"),
    Reason.MISSING_CLAIM: (401, INVALID_TOKEN, "invalid_token"),
    Reason.WRONG_ISSUER: (401, INVALID_TOKEN, "invalid_token"),
    Reason.WRONG_AUDIENCE: (401, INVALID_TOKEN, "invalid_token"),
    Reason.INVALID_TOKEN: (401, INVALID_TOKEN, "invalid_token"),
    Reason.INSUFFICIENT_SCOPE: (403, 'Bearer error="insufficient_scope", scope="treasure:read treasure:write"',
                                "insufficient_scope"),
    Reason.CONFIGURATION_ERROR: (500, None, "server_error"),
    Reason.INTERNAL_ERROR: (500, None, "server_error"),
    Reason.SIGNING_KEYS_UNAVAILABLE: (503, None, "temporarily_unavailable"),
}


def response_for(reason: Reason, **detail: Any) -> dict[str, Any]:
    return respond(Decision(reason, required_scopes=REQUIRED, detail=detail))


def test_the_table_covers_every_reason() -> None:
    assert set(DOCUMENTED) == set(Reason)


@pytest.mark.parametrize("reason", list(Reason), ids=[reason.code for reason in Reason])
def test_status_and_challenge(reason: Reason) -> None:
    status, challenge, _ = DOCUMENTED[reason]
    response = response_for(reason)
    assert response["statusCode"] == status
    assert response["headers"].get("WWW-Authenticate") == challenge
    assert response["isBase64Encoded"] is False


@pytest.mark.parametrize("reason", list(Reason), ids=[reason.code for reason in Reason])
def test_every_response_is_not_cached_and_not_sniffed(reason: Reason) -> None:
    headers = response_for(reason)["headers"]
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert all(isinstance(name, str) and isinstance(value, str) for name, value in headers.items())


@pytest.mark.parametrize("reason", [r for r in Reason if DOCUMENTED[r][2] is not None], ids=lambda r: r.code)
def test_error_bodies_are_json_with_error_and_reason(reason: Reason) -> None:
    response = response_for(reason)
    assert response["headers"]["Content-Type"] == "application/json"
    expected_reason = "internal_error" if DOCUMENTED[reason][0] == 500 else reason.code
    assert json.loads(response["body"]) == {"error": DOCUMENTED[reason][2], "reason": expected_reason}


@pytest.mark.parametrize("reason", [Reason.ALLOWED, Reason.AUTHORIZATION_DISABLED])
def test_allowed_requests_get_the_text_line(reason: Reason) -> None:
    response = response_for(reason)
    assert response["headers"]["Content-Type"] == "text/plain; charset=utf-8"
    assert response["body"] == GREETING == "Hello from LambdaOne!"


def test_server_errors_share_one_body_that_says_nothing() -> None:
    configuration = response_for(Reason.CONFIGURATION_ERROR, variable="ISSUER", problem="ISSUER: missing")
    internal = response_for(Reason.INTERNAL_ERROR, error="RuntimeError")
    assert configuration == internal
    for word in ["configuration", "ISSUER", "RuntimeError", "missing"]:
        assert word not in configuration["body"]


@pytest.mark.parametrize(("retry_after", "header"), [(None, "10"), (7, "7"), (0, "1"), (-5, "1"), (2.9, "2")])
def test_unavailable_signing_keys_say_when_to_retry(retry_after: float | None, header: str) -> None:
    detail = {} if retry_after is None else {"retry_after": retry_after}
    response = response_for(Reason.SIGNING_KEYS_UNAVAILABLE, **detail)
    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == header


@pytest.mark.parametrize("reason", [r for r in Reason if r is not Reason.SIGNING_KEYS_UNAVAILABLE],
                         ids=lambda r: r.code)
def test_only_503_has_retry_after(reason: Reason) -> None:
    assert "Retry-After" not in response_for(reason)["headers"]


def test_the_scope_challenge_names_the_configured_scopes_in_order() -> None:
    one = www_authenticate(Decision(Reason.INSUFFICIENT_SCOPE, required_scopes=("treasure:read",)))
    assert one == 'Bearer error="insufficient_scope", scope="treasure:read"'
    two = www_authenticate(Decision(Reason.INSUFFICIENT_SCOPE, required_scopes=("b", "a")))
    assert two == 'Bearer error="insufficient_scope", scope="b a"'


def test_no_response_contains_anything_from_the_request() -> None:
    # Whatever a decision carries from the request (claims, kid, alg, sub, header fragments) stays in the log.
    marker = "MARKER-from-the-request"
    for reason in Reason:
        decision = Decision(reason, claims={"sub": marker, "scope": marker}, required_scopes=REQUIRED,
                            detail={"kid": marker, "alg": marker, "sub": marker, "why": marker, "missing": [marker]})
        response = respond(decision)
        assert marker not in json.dumps(response), reason


# --------------------------------------------------------------------------------------------------
# RFC 9728: with RESOURCE set, every challenge points to the metadata; nothing else changes
# --------------------------------------------------------------------------------------------------

METADATA_URL = "https://api.example.com/.well-known/oauth-protected-resource/v1"
POINTER = f'resource_metadata="{METADATA_URL}"'
# reason -> the challenge with RESOURCE set, written out (None: no challenge at all)
WITH_RESOURCE: dict[Reason, str | None] = {
    reason: (None if challenge is None else
             f"Bearer {POINTER}" if challenge == "Bearer" else f"{challenge}, {POINTER}")
    for reason, (_, challenge, _) in DOCUMENTED.items()
}


def test_the_pointer_follows_the_error_and_the_scope() -> None:
    assert WITH_RESOURCE[Reason.MISSING_TOKEN] == f'Bearer resource_metadata="{METADATA_URL}"'
    assert WITH_RESOURCE[Reason.INSUFFICIENT_SCOPE] == (
        f'Bearer error="insufficient_scope", scope="treasure:read treasure:write", resource_metadata="{METADATA_URL}"')


@pytest.mark.parametrize("reason", list(Reason), ids=[reason.code for reason in Reason])
def test_every_challenge_carries_resource_metadata(reason: Reason) -> None:
    response = respond(Decision(reason, required_scopes=REQUIRED), METADATA_URL)
    assert response["headers"].get("WWW-Authenticate") == WITH_RESOURCE[reason]
    without = response_for(reason)
    assert response["statusCode"] == without["statusCode"] and response["body"] == without["body"]
    assert {k: v for k, v in response["headers"].items() if k != "WWW-Authenticate"} == \
        {k: v for k, v in without["headers"].items() if k != "WWW-Authenticate"}


def test_metadata_response_for_get_head_and_other_methods() -> None:
    from lambdaone.responses import resource_metadata_response
    document = '{"resource":"https://api.example.com/v1"}'
    get = resource_metadata_response(document, "GET")
    head = resource_metadata_response(document, "HEAD")
    assert (get["statusCode"], get["body"], head["statusCode"], head["body"]) == (200, document, 200, "")
    assert get["isBase64Encoded"] is False and head["isBase64Encoded"] is False
    assert get["headers"] == head["headers"] == {
        "Content-Type": "application/json", "Cache-Control": "public, max-age=3600",
        "X-Content-Type-Options": "nosniff", "Access-Control-Allow-Origin": "*"}
    for method in ["POST", "get", "", None]:
        refused = resource_metadata_response(document, method)
        assert (refused["statusCode"], refused["headers"]["Allow"]) == (405, "GET, HEAD")
        assert json.loads(refused["body"]) == {"error": "invalid_request", "reason": "method_not_allowed"}
        assert document not in refused["body"]
