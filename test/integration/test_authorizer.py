"""The whole authorizer (``lambda_function.authorizer``) for every API Gateway authorizer event type.

Each event type with valid, invalid, expired, scope-lacking, missing and malformed tokens, against the
local JWKS server on 127.0.0.1 and against a PEM key; configuration errors, keys that cannot be
fetched, hostile events and bugs fail closed; and no answer, error or log line ever holds the token.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdaone import handler
from lambdaone.authorizer import AuthorizerFailure, Unauthorized
from workbook import authorizer_events as events
from workbook.tokens import ISSUER, KeyPair

pytestmark = pytest.mark.integration

SCOPE = "treasure:read"
SUBJECT = "learner@example.test"
KINDS = list(events.KINDS)
IAM_KINDS = ["rest_token", "rest_request", "http_v1"]


class Context:
    aws_request_id = "authorizer-request-id"


@pytest.fixture(params=["pem", "jwks"])
def configured(request: pytest.FixtureRequest) -> str:
    """Runs the test once with a PEM key file and once with the local JWKS server."""
    request.getfixturevalue(f"{request.param}_env")
    return request.param


def call(event: Any) -> dict[str, Any]:
    import lambda_function

    return lambda_function.authorizer(event, Context())


def authorize(kind: str, authorization: str | None) -> dict[str, Any]:
    return call(events.for_kind(kind, authorization))


def stage_of(kind: str) -> str:
    return events.HTTP_STAGE_RESOURCE if kind == "http_v2" else events.REST_STAGE_RESOURCE


def statement(answer: dict[str, Any]) -> dict[str, Any]:
    [only] = answer["policyDocument"]["Statement"]
    return dict(only)


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return log_lines_of(capsys.readouterr().out)


def log_lines_of(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


# --- every event type, every kind of token ----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_valid_token_is_allowed_on_the_whole_stage(configured: str, issuer_key: KeyPair, kind: str) -> None:
    token = issuer_key.token(scope=f"{SCOPE} other:write", cid="okta-client")
    answer = authorize(kind, f"Bearer {token}")
    context = {"sub": SUBJECT, "iss": ISSUER, "scope": f"other:write {SCOPE}", "client_id": "okta-client"}
    if kind == "http_v2":
        assert answer == {"isAuthorized": True, "context": context}
        return
    assert answer["principalId"] == SUBJECT
    assert answer["policyDocument"]["Version"] == "2012-10-17"
    assert statement(answer) == {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": stage_of(kind)}
    assert answer["context"] == context
    assert set(answer) == {"principalId", "policyDocument", "context"}


@pytest.mark.parametrize("kind", KINDS)
def test_a_token_lacking_the_scope_is_an_explicit_deny(configured: str, issuer_key: KeyPair, kind: str) -> None:
    token = issuer_key.token(scope="other:write")
    for _ in range(2):  # the second answer comes from the verified-token cache
        answer = authorize(kind, f"Bearer {token}")
        if kind == "http_v2":
            assert answer == {"isAuthorized": False, "context": {"reason": "insufficient_scope"}}
            continue
        assert answer["principalId"] == SUBJECT
        assert statement(answer) == {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": stage_of(kind)}
        assert answer["context"] == {"reason": "insufficient_scope"}


@pytest.mark.parametrize("kind", KINDS)
def test_a_repeated_valid_token_is_allowed_from_the_cache(configured: str, issuer_key: KeyPair, kind: str) -> None:
    token = issuer_key.token(scope=SCOPE, client_id="rfc-client")
    first = authorize(kind, f"Bearer {token}")
    runtime = handler.current_runtime()
    assert runtime.token_cache is not None and runtime.token_cache.get(token) is not None
    assert authorize(kind, f"Bearer {token}") == first
    context = first["context"]
    assert (context["sub"], context["client_id"]) == (SUBJECT, "rfc-client")


def _invalid(issuer_key: KeyPair, other_key: KeyPair) -> dict[str, str | None]:
    """Authorization header values that must each give 401."""
    good = issuer_key.token(scope=SCOPE)
    header, payload, signature = good.split(".")
    return {
        "missing": None,
        "empty": "",
        "another scheme": "Basic dXNlcjpwYXNz",
        "no token": "Bearer ",
        "two tokens": f"Bearer {good} {good}",
        "not a JWT": "Bearer not-a-jwt",
        "forged": f"Bearer {other_key.token(scope=SCOPE, header={'kid': issuer_key.kid})}",
        "unknown key": f"Bearer {other_key.token(scope=SCOPE)}",
        "tampered": f"Bearer {header}.{payload}x.{signature}",
        "expired": f"Bearer {issuer_key.token(scope=SCOPE, lifetime=-120)}",
        "not yet valid": f"Bearer {issuer_key.token(scope=SCOPE, nbf=4102444800)}",
        "wrong issuer": f"Bearer {issuer_key.token(scope=SCOPE, iss='https://evil.example.test/')}",
        "wrong audience": f"Bearer {issuer_key.token(scope=SCOPE, aud='https://other.example.test/')}",
        "no expiry": f"Bearer {issuer_key.token(scope=SCOPE, drop=('exp',))}",
        "no subject": f"Bearer {issuer_key.token(scope=SCOPE, drop=('sub',))}",
        "empty subject": f"Bearer {issuer_key.token(scope=SCOPE, sub='')}",
        "alg none": "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.",
    }


@pytest.mark.parametrize("kind", KINDS)
def test_no_token_or_an_invalid_one_raises_unauthorized(configured: str, issuer_key: KeyPair, other_key: KeyPair,
                                                       kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    cases = _invalid(issuer_key, other_key)
    for case, authorization in cases.items():
        if kind == "rest_token" and authorization == "":
            continue  # API Gateway does not call a TOKEN authorizer without the header's value
        with pytest.raises(Unauthorized) as raised:
            authorize(kind, authorization)
        assert str(raised.value) == "Unauthorized", case
    reasons = [line["reason"] for line in log_lines(capsys) if line.get("message") == "request denied"]
    assert "token_expired" in reasons and "bad_signature" in reasons and "missing_token" in reasons
    assert "missing_claim" in reasons  # no subject: an authorizer answer needs a principal


@pytest.mark.parametrize("kind", KINDS)
def test_one_log_line_per_decision_names_the_authorizer_type(pem_env: object, issuer_key: KeyPair, kind: str,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    authorize(kind, f"Bearer {issuer_key.token(scope='other:write')}")
    [line] = log_lines(capsys)
    assert (line["reason"], line["status"], line["authorizer"]) == (
        "insufficient_scope", 403, {"rest_token": "rest_token", "http_v2": "http_simple"}.get(kind, "request"))
    assert "authorizer-request-id" in line.values()  # the invocation's request id, like the handler's lines


# --- failing closed ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_require_is_a_configuration_error_never_an_allow(clean_env: pytest.MonkeyPatch,
                                                                 issuer_key: KeyPair, kind: str,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    with pytest.raises(AuthorizerFailure) as raised:
        authorize(kind, f"Bearer {issuer_key.token(scope=SCOPE)}")
    assert str(raised.value) != "Unauthorized"
    with pytest.raises(AuthorizerFailure):
        authorize(kind, None)
    denied = [line for line in log_lines(capsys) if line.get("message") == "request denied"]
    assert [line["reason"] for line in denied] == ["configuration_error"] * 2
    assert all(line["level"] == "ERROR" and line["why"] == "REQUIRE is empty: an authorizer never allows every request"
               for line in denied)


@pytest.mark.parametrize("kind", KINDS)
def test_a_configuration_error_fails_closed(clean_env: pytest.MonkeyPatch, issuer_key: KeyPair, kind: str) -> None:
    clean_env.setenv("REQUIRE", SCOPE)
    clean_env.setenv("AUDIENCE", "https://api.example.test/treasure")
    clean_env.setenv("SIGNATUREKEYPATH", "/nonexistent/key.pem")  # and no ISSUER
    with pytest.raises(AuthorizerFailure):
        authorize(kind, f"Bearer {issuer_key.token(scope=SCOPE)}")


@pytest.mark.parametrize("kind", KINDS)
def test_keys_that_cannot_be_fetched_fail_closed_without_a_cacheable_deny(
        clean_env: pytest.MonkeyPatch, issuer_key: KeyPair, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    clean_env.setenv("REQUIRE", SCOPE)
    clean_env.setenv("ISSUER", ISSUER)
    clean_env.setenv("AUDIENCE", "https://api.example.test/treasure")
    clean_env.setenv("JWKSPATH", "http://127.0.0.1:1/.well-known/jwks.json")  # nothing listens on port 1
    clean_env.setenv("JWKS_TIMEOUT_SECONDS", "0.5")
    capsys.readouterr()
    with pytest.raises(AuthorizerFailure):
        authorize(kind, f"Bearer {issuer_key.token(scope=SCOPE)}")
    reasons = [line.get("reason") for line in log_lines(capsys) if line.get("message") == "request denied"]
    assert reasons == ["signing_keys_unavailable"]


def test_a_bug_fails_closed(pem_env: object, issuer_key: KeyPair, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    from lambdaone import authorizer

    def broken(token: str | None) -> Any:
        raise RuntimeError(f"bug holding {token}")

    monkeypatch.setattr(authorizer, "decide_token", broken)
    token = issuer_key.token(scope=SCOPE)
    capsys.readouterr()
    with pytest.raises(AuthorizerFailure):
        authorize("rest_token", f"Bearer {token}")
    output = capsys.readouterr().out
    assert token not in output and "bug holding" not in output
    error, denied = log_lines_of(output)
    assert (error["message"], error["reason"], error.get("errorType", error.get("error_type"))) == (
        "unexpected error while authorizing", "internal_error", "RuntimeError")
    assert (denied["message"], denied["reason"], denied["authorizer"]) == ("request denied", "internal_error", "rest_token")


@pytest.mark.parametrize("event", [
    {}, None, [], {"headers": {"Authorization": "Bearer x"}},
    {"type": "TOKEN", "authorizationToken": "Bearer x", "methodArn": "arn:aws:execute-api:us-east-1:*:*/*/*"},
])
def test_what_is_not_an_authorizer_event_fails_closed(pem_env: object, event: Any,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    with pytest.raises(AuthorizerFailure):
        call(event)
    [line] = log_lines(capsys)
    assert (line["reason"], line["level"]) == ("configuration_error", "ERROR")
    assert line["why"].startswith(("the event", "the method or route ARN"))
    assert line["authorizer"] == "unknown"


def test_a_missing_context_or_request_id_is_fine(pem_env: object, issuer_key: KeyPair,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import lambda_function

    class OddContext:
        aws_request_id = 42

    event = events.for_kind("rest_token", f"Bearer {issuer_key.token(scope='other:write')}")
    capsys.readouterr()
    for context in (None, object(), OddContext()):
        assert lambda_function.authorizer(event, context)["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    lines = log_lines(capsys)
    assert len(lines) == 3 and all(42 not in line.values() for line in lines)


def test_the_log_says_why_a_header_or_a_subject_was_refused(pem_env: object, issuer_key: KeyPair,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    for authorization in ("Bearer a b", f"Bearer {issuer_key.token(scope=SCOPE, drop=('sub',))}"):
        with pytest.raises(Unauthorized):
            authorize("rest_request", authorization)
    malformed, no_subject = log_lines(capsys)
    assert (malformed["reason"], malformed["why"]) == (
        "malformed_authorization", "more than one token or characters outside b64token")
    assert (no_subject["reason"], no_subject["claim"], no_subject["why"]) == (
        "missing_claim", "sub", "an authorizer answer needs a principal")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("arn", [
    "arn:aws:execute-api:us-east-1:123456789012:*/prod/GET/treasure",
    "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/*/GET/treasure",
    "arn:aws:execute-api:us-east-1:123456789012:abcdef1234",
    "",
])
def test_a_valid_token_with_a_malformed_arn_is_never_allowed(pem_env: object, issuer_key: KeyPair, kind: str,
                                                             arn: str) -> None:
    event = events.for_kind(kind, f"Bearer {issuer_key.token(scope=SCOPE)}")
    event["routeArn" if kind == "http_v2" else "methodArn"] = arn
    with pytest.raises(AuthorizerFailure):
        call(event)


# --- the token never comes back ---------------------------------------------------------------------------


def test_no_answer_of_any_kind_ever_holds_the_token(configured: str, issuer_key: KeyPair, other_key: KeyPair,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    valid = issuer_key.token(scope=SCOPE, cid="client", extra="x")
    lacking = issuer_key.token(scope="other:write")
    tokens = [valid, lacking, *(value.split(" ", 1)[1] for value in _invalid(issuer_key, other_key).values()
                                if value and value.startswith("Bearer ") and len(value) > 20)]
    seen = 0
    for kind in KINDS:
        for token in tokens:
            try:
                answer: Any = authorize(kind, f"Bearer {token}")
            except (Unauthorized, AuthorizerFailure) as error:
                answer = {"error": str(error), "type": type(error).__name__, "args": error.args}
            text = json.dumps(answer)
            signature = token.rsplit(".", 1)[-1]
            assert token not in text
            assert not signature or len(signature) < 8 or signature not in text
            seen += 1
    logged = capsys.readouterr().out
    for token in tokens:
        assert token not in logged
        assert token.rsplit(".", 1)[-1] not in logged or len(token.rsplit(".", 1)[-1]) < 8
    assert seen == len(KINDS) * len(tokens) >= 40


def test_a_subject_at_the_length_limit_is_the_principal_one_more_is_refused(pem_env: object,
                                                                           issuer_key: KeyPair) -> None:
    from lambdaone import authorizer

    longest = "s" * authorizer._MAX_CONTEXT_STRING
    allowed = authorize("rest_token", f"Bearer {issuer_key.token(scope=SCOPE, sub=longest)}")
    assert allowed["principalId"] == longest == allowed["context"]["sub"]
    with pytest.raises(Unauthorized):
        authorize("rest_token", f"Bearer {issuer_key.token(scope=SCOPE, sub=longest + 's')}")
