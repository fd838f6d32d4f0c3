"""Unit tests for ``lambdaone.authorizer``: the event adapter, the ARN parser and the answer builders.

The whole entry point against real keys is in test/integration/test_authorizer.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from lambdaone import authorizer
from lambdaone.authorizer import (
    AuthorizerFailure,
    AuthorizerRequest,
    EventKind,
    MalformedEventError,
    StageArn,
    Unauthorized,
    answer,
    authorizer_context,
    client_id,
    iam_policy,
    parse_execute_api_arn,
    read_event,
    simple_response,
)
from lambdaone.authz import Decision
from lambdaone.reasons import Denial, Reason
from workbook import authorizer_events as events

STAGE = StageArn("aws", "us-east-1", "123456789012", "abcdef1234", "prod")
CLAIMS = {"sub": "learner", "iss": "https://issuer.example.test/", "scope": "b:write a:read", "cid": "okta-client"}


# --- the ARN ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("arn", "expected"), [
    ("arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/treasure",
     "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/*"),
    ("arn:aws:execute-api:us-east-1:123456789012:abcdef12/$default/GET/treasure",
     "arn:aws:execute-api:us-east-1:123456789012:abcdef12/$default/*"),
    ("arn:aws-us-gov:execute-api:us-gov-west-1:123456789012:abc/v1_beta-2/POST/a/b/c",
     "arn:aws-us-gov:execute-api:us-gov-west-1:123456789012:abc/v1_beta-2/*"),
    ("arn:aws-cn:execute-api:cn-north-1:123456789012:abc/prod/", "arn:aws-cn:execute-api:cn-north-1:123456789012:abc/prod/*"),
    ("arn:aws:execute-api:ap-southeast-4:123456789012:abc/prod/*/*", "arn:aws:execute-api:ap-southeast-4:123456789012:abc/prod/*"),
])
def test_the_stage_of_a_method_or_route_arn(arn: str, expected: str) -> None:
    assert parse_execute_api_arn(arn).every_route == expected


@pytest.mark.parametrize("arn", [
    None, 42, "", "arn:aws:execute-api:us-east-1:123456789012:abc",  # no stage
    "arn:aws:execute-api:us-east-1:123456789012:abc/prod",  # no slash after the stage
    "arn:aws:execute-api:*:123456789012:abc/prod/GET/",  # wildcard region
    "arn:aws:execute-api:us-east-1:*:abc/prod/GET/",  # wildcard account
    "arn:aws:execute-api:us-east-1:12345678901:abc/prod/GET/",  # 11 digits
    "arn:aws:execute-api:us-east-1:123456789012:*/prod/GET/",  # wildcard API
    "arn:aws:execute-api:us-east-1:123456789012:abc/*/GET/",  # wildcard stage
    "arn:aws:execute-api:us-east-1:123456789012:abc/pr?d/GET/",
    "arn:aws:execute-api:us-east-1:123456789012:ABC/prod/GET/",  # API ids are lower case
    "arn:aws:lambda:us-east-1:123456789012:abc/prod/GET/",  # another service
    "arn:evil:execute-api:us-east-1:123456789012:abc/prod/GET/",
    "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/\nx",  # a line break in the path
    "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/ x",
    " arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/",
    "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/" + "a" * authorizer.MAX_ARN_LENGTH,
    "arn:aws:execute-api:us-east-1:123456789012:abc/" + "s" * 129 + "/GET/",
])
def test_a_hostile_arn_is_refused(arn: Any) -> None:
    with pytest.raises(MalformedEventError):
        parse_execute_api_arn(arn)


def test_an_arn_at_the_length_limit_is_read() -> None:
    prefix = "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/"
    arn = prefix + "a" * (authorizer.MAX_ARN_LENGTH - len(prefix))
    assert parse_execute_api_arn(arn).stage == "prod"
    with pytest.raises(MalformedEventError, match="longer than"):
        parse_execute_api_arn(arn + "a")


# --- the adapter ----------------------------------------------------------------------------------------


def test_a_token_event_reads_authorization_token() -> None:
    request = read_event(events.rest_token("Bearer abc.def.ghi"))
    assert request.kind is EventKind.REST_TOKEN
    assert request.stage.every_route == events.REST_STAGE_RESOURCE
    assert request.bearer_token() == "abc.def.ghi"


def test_a_token_event_without_a_token_presents_none() -> None:
    assert read_event(events.rest_token(None)).bearer_token() is None
    assert read_event(events.rest_token("")).bearer_token() is None
    assert read_event(events.rest_token("Basic dXNlcjpwYXNz")).bearer_token() is None


@pytest.mark.parametrize("value", [42, ["Bearer abc"], "Bearer", "Bearer a b", "Bearer\tabc"])
def test_a_malformed_token_value_is_a_denial(value: Any) -> None:
    request = read_event({"type": "TOKEN", "methodArn": events.METHOD_ARN, "authorizationToken": value})
    with pytest.raises(Denial) as raised:
        request.bearer_token()
    assert raised.value.reason is Reason.MALFORMED_AUTHORIZATION


@pytest.mark.parametrize(("kind", "expected"), [
    ("rest_request", EventKind.REQUEST), ("http_v1", EventKind.REQUEST), ("http_v2", EventKind.HTTP_SIMPLE)])
def test_request_events_read_the_headers(kind: str, expected: EventKind) -> None:
    request = read_event(events.for_kind(kind, "Bearer abc.def.ghi"))
    assert request.kind is expected
    assert request.bearer_token() == "abc.def.ghi"
    stage = events.HTTP_STAGE_RESOURCE if kind == "http_v2" else events.REST_STAGE_RESOURCE
    assert request.stage.every_route == stage


def test_a_request_event_with_two_authorization_headers_is_a_denial() -> None:
    event = events.rest_request({"Authorization": "Bearer a"})
    event["multiValueHeaders"] = {"Authorization": ["Bearer a", "Bearer b"]}
    with pytest.raises(Denial) as raised:
        read_event(event).bearer_token()
    assert raised.value.reason is Reason.DUPLICATE_AUTHORIZATION


def test_a_version_2_event_reads_the_route_arn_not_a_method_arn() -> None:
    event = events.http_v2({"Authorization": "Bearer abc"})
    event["methodArn"] = events.METHOD_ARN
    event["routeArn"] = "not an arn"
    with pytest.raises(MalformedEventError):
        read_event(event)


@pytest.mark.parametrize("event", [
    None, [], "TOKEN", {}, {"type": "token", "methodArn": events.METHOD_ARN},
    {"type": "TOKEN", "authorizationToken": "Bearer a"},  # no methodArn
    {"type": "REQUEST", "headers": {}},  # no methodArn
    {"type": "REQUEST", "version": "2.0", "headers": {}, "methodArn": events.METHOD_ARN},  # 2.0 needs routeArn
    {"headers": {"authorization": "Bearer a"}},  # a proxy event, not an authorizer event
])
def test_what_is_not_an_authorizer_event_is_refused(event: Any) -> None:
    with pytest.raises(MalformedEventError):
        read_event(event)


# --- the answers ----------------------------------------------------------------------------------------


def test_an_iam_policy_has_the_shape_api_gateway_reads() -> None:
    policy = iam_policy("learner", "Allow", STAGE.every_route, {"sub": "learner"})
    assert policy == {
        "principalId": "learner",
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": STAGE.every_route}]},
        "context": {"sub": "learner"},
    }
    assert "context" not in iam_policy("learner", "Deny", STAGE.every_route)


@pytest.mark.parametrize("effect", ["allow", "", "*", "Allow "])
def test_an_iam_policy_is_allow_or_deny_only(effect: str) -> None:
    with pytest.raises(ValueError, match="Allow or Deny"):
        iam_policy("learner", effect, STAGE.every_route)


def test_a_simple_response() -> None:
    assert simple_response(True, {"sub": "x"}) == {"isAuthorized": True, "context": {"sub": "x"}}
    assert simple_response(False) == {"isAuthorized": False, "context": {}}


@pytest.mark.parametrize(("claims", "expected"), [
    ({"client_id": "rfc9068", "cid": "okta", "azp": "auth0"}, "rfc9068"),
    ({"cid": "okta", "azp": "auth0"}, "okta"),
    ({"azp": "auth0"}, "auth0"),
    ({"client_id": 7, "cid": ["x"], "azp": "auth0"}, "auth0"),
    ({"client_id": "", "azp": "auth0"}, "auth0"),
    ({"client_id": "x" * 1025}, None),
    ({}, None),
])
def test_the_client_id_claim(claims: dict[str, Any], expected: str | None) -> None:
    assert client_id(claims) == expected


def test_the_context_is_flat_and_holds_the_granted_scopes() -> None:
    context = authorizer_context({**CLAIMS, "scp": ["c:admin"], "groups": ["x"], "extra": {"a": 1}})
    assert context == {"sub": "learner", "iss": "https://issuer.example.test/", "scope": "a:read b:write c:admin",
                       "client_id": "okta-client"}
    assert all(isinstance(value, (str, int, float, bool)) for value in context.values())


def test_the_context_leaves_out_claims_that_are_not_short_text() -> None:
    context = authorizer_context({"sub": 12, "iss": "i" * 1025})
    assert context == {"scope": ""}


def request(kind: EventKind = EventKind.REQUEST) -> AuthorizerRequest:
    return AuthorizerRequest(kind, STAGE, {})


def test_an_allowed_decision_allows_the_whole_stage() -> None:
    allowed = Decision(Reason.ALLOWED, claims=CLAIMS)
    for kind in (EventKind.REST_TOKEN, EventKind.REQUEST):
        policy = answer(request(kind), allowed, "learner")
        assert policy["policyDocument"]["Statement"] == [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:us-east-1:"
                                                                            "123456789012:abcdef1234/prod/*"}]
        assert policy["principalId"] == "learner"
        assert policy["context"]["scope"] == "a:read b:write"
    assert answer(request(EventKind.HTTP_SIMPLE), allowed, "learner") == {
        "isAuthorized": True, "context": authorizer_context(CLAIMS)}


def test_a_missing_scope_is_an_explicit_deny() -> None:
    denied = Decision(Reason.INSUFFICIENT_SCOPE, required_scopes=("a:read",))
    policy = answer(request(), denied, "learner")
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert policy["policyDocument"]["Statement"][0]["Resource"] == STAGE.every_route
    assert policy["context"] == {"reason": "insufficient_scope"}
    assert answer(request(EventKind.HTTP_SIMPLE), denied, "learner") == {
        "isAuthorized": False, "context": {"reason": "insufficient_scope"}}


@pytest.mark.parametrize("reason", [r for r in Reason if 400 <= r.status < 500 and r is not Reason.INSUFFICIENT_SCOPE])
@pytest.mark.parametrize("kind", list(EventKind))
def test_no_token_or_a_bad_one_raises_unauthorized(reason: Reason, kind: EventKind) -> None:
    with pytest.raises(Unauthorized) as raised:
        answer(request(kind), Decision(reason), "learner")
    assert str(raised.value) == "Unauthorized"  # the exact message API Gateway turns into 401


@pytest.mark.parametrize("reason", [r for r in Reason if r.status >= 500] + [Reason.AUTHORIZATION_DISABLED])
@pytest.mark.parametrize("kind", list(EventKind))
def test_a_failure_raises_an_error_that_is_not_unauthorized(reason: Reason, kind: EventKind) -> None:
    with pytest.raises(AuthorizerFailure) as raised:
        answer(request(kind), Decision(reason), "learner")
    assert str(raised.value) != "Unauthorized"
    assert not isinstance(raised.value, Unauthorized)


def test_no_allow_without_claims_or_a_principal() -> None:
    with pytest.raises(AuthorizerFailure):
        answer(request(), Decision(Reason.ALLOWED, claims=None), "learner")
    with pytest.raises(AuthorizerFailure):
        answer(request(), Decision(Reason.ALLOWED, claims=CLAIMS), "")
    with pytest.raises(AuthorizerFailure):
        answer(request(), Decision(Reason.INSUFFICIENT_SCOPE), "")


# --- exact messages and boundaries (what mutation testing asked for) ---------------------------------------


@pytest.mark.parametrize(("event", "message"), [
    (None, "the event is not a JSON object"),
    ({"type": "OTHER"}, "the event's type is neither TOKEN nor REQUEST: not an API Gateway authorizer event"),
    ({"type": "TOKEN", "methodArn": 7}, "the method or route ARN is not text"),
    ({"type": "TOKEN", "methodArn": "arn:x"}, "the method or route ARN is not an execute-api ARN of the form "
                                              "arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/..."),
])
def test_each_refusal_says_why(event: Any, message: str) -> None:
    with pytest.raises(MalformedEventError) as raised:
        read_event(event)
    assert str(raised.value) == message


def test_the_error_messages_api_gateway_sees() -> None:
    assert str(Unauthorized()) == "Unauthorized"
    assert str(AuthorizerFailure()) == "Authorizer failure: see the function's log"


def test_claims_at_the_length_limit_are_kept_one_more_is_left_out() -> None:
    limit = authorizer._MAX_CONTEXT_STRING
    at_limit = {"sub": "s" * limit, "iss": "i" * limit, "client_id": "c" * limit}
    assert authorizer_context(at_limit) == {"sub": "s" * limit, "iss": "i" * limit, "scope": "", "client_id": "c" * limit}
    over = {name: value + "x" for name, value in at_limit.items()}
    assert authorizer_context(over) == {"scope": ""}


def test_an_allow_needs_the_principal_passed_in() -> None:
    with pytest.raises(AuthorizerFailure):
        answer(request(), Decision(Reason.ALLOWED, claims=CLAIMS))
    with pytest.raises(AuthorizerFailure):
        answer(request(EventKind.HTTP_SIMPLE), Decision(Reason.INSUFFICIENT_SCOPE))
