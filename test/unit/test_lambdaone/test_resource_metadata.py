"""OAuth 2.0 Protected Resource Metadata (RFC 9728): ``RESOURCE``, the metadata route, ``resource_metadata=``.

The expected URLs, documents and challenges are written out here from RFC 9728 §2, §3.1 and §5.1,
not derived with ``lambdaone.resource_metadata``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lambdaone import resource_metadata
from lambdaone.settings import ConfigurationError, Settings, load
from test.conftest import REQUIRED_SCOPES
from workbook import events
from workbook.tokens import AUDIENCE, ISSUER, KeyPair

RESOURCE = "https://api.example.com/v1"
METADATA_PATH = "/.well-known/oauth-protected-resource/v1"
METADATA_URL = "https://api.example.com/.well-known/oauth-protected-resource/v1"
DOCUMENT = {"resource": RESOURCE, "authorization_servers": [ISSUER], "scopes_supported": [REQUIRED_SCOPES],
            "bearer_methods_supported": ["header"]}
FORMATS = ["rest_api_v1", "http_api_v2", "function_url", "alb", "alb_multi_value"]
BASE = {"REQUIRE": "treasure:read", "ISSUER": ISSUER, "AUDIENCE": AUDIENCE,
        "JWKSPATH": "https://issuer.example.com/jwks.json"}


def request(event_format: str, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> Any:
    """An event of ``event_format`` for ``method path``: where each front door puts them."""
    event = events.ALL_FORMATS[event_format](headers)
    if event_format in ("http_api_v2", "function_url"):
        event["rawPath"] = path
        event["requestContext"]["http"].update(method=method, path=path)
        event["routeKey"] = f"{method} {path}" if event_format == "http_api_v2" else "$default"
    else:
        event.update(path=path, httpMethod=method)
        if event_format == "rest_api_v1":
            event["resource"] = path
    return event


@pytest.fixture
def resource_env(pem_env: Path, clean_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The PEM-configured Lambda with ``RESOURCE`` set."""
    clean_env.setenv("RESOURCE", RESOURCE)
    return clean_env


# --------------------------------------------------------------------------------------------------
# RFC 9728 §3.1: where the metadata of a resource identifier lives
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("resource", "url", "path"), [
    ("https://api.example.com/v1", METADATA_URL, METADATA_PATH),
    ("https://api.example.com/v1/", METADATA_URL, METADATA_PATH),  # the terminating "/" is removed first
    ("https://api.example.com", "https://api.example.com/.well-known/oauth-protected-resource",
     "/.well-known/oauth-protected-resource"),
    ("https://api.example.com/", "https://api.example.com/.well-known/oauth-protected-resource",
     "/.well-known/oauth-protected-resource"),
    ("https://api.example.com:8443/treasure/v2", "https://api.example.com:8443/.well-known/oauth-protected-resource/treasure/v2",
     "/.well-known/oauth-protected-resource/treasure/v2"),
    ("http://127.0.0.1:9000/api", "http://127.0.0.1:9000/.well-known/oauth-protected-resource/api",
     "/.well-known/oauth-protected-resource/api"),
])
def test_the_metadata_location_is_derived_as_rfc_9728_says(resource: str, url: str, path: str) -> None:
    assert resource_metadata.location(resource) == (url, path)


# --------------------------------------------------------------------------------------------------
# RESOURCE: validated like a URL that goes into a header
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", [
    "https://api.example.com/v1", "https://api.example.com", "https://api.example.com/", "https://API.example.com/V1",
    "https://api.example.com:8443/a/b", "http://127.0.0.1:9000/api", "http://localhost/api", "http://[::1]:8080/",
    "https://api.example.com/a%20b", "https://[2001:db8::1]/api",
])
def test_a_valid_resource_is_kept_exactly(resource: str) -> None:
    assert load({**BASE, "RESOURCE": f"  {resource} "}).resource == resource


@pytest.mark.parametrize("value", [None, "", "   "])
def test_an_unset_resource_is_none(value: str | None) -> None:
    environ = dict(BASE) if value is None else {**BASE, "RESOURCE": value}
    assert load(environ).resource is None


FIX = "set it to the API's https URL, e.g. https://api.example.com/v1 (plain http only on loopback)"
NOT_HTTPS = "is not an https URL"
FRAGMENT = "has a fragment, which a resource identifier never has"
INVALID = "is not a valid URL"
CHARACTERS = "holds characters a URL cannot (space, quote, ...)"
DOT_SEGMENT = "has a '.' or '..' path segment"


@pytest.mark.parametrize(("resource", "problem", "fix"), [
    ("http://api.example.com/v1", NOT_HTTPS, FIX),
    ("http://10.0.0.1/v1", NOT_HTTPS, FIX),
    ("ftp://api.example.com/v1", NOT_HTTPS, FIX),
    ("api.example.com/v1", NOT_HTTPS, FIX),
    ("https:///v1", NOT_HTTPS, FIX),
    ("http://api.example.com/" + "long-" * 30, NOT_HTTPS, FIX),  # the message shows the first 60 characters
    ("https://api.example.com/v1#section", FRAGMENT, FIX),
    ("https://api.example.com/v1#", FRAGMENT, FIX),
    ("https://api.example.com/v1?tenant=a", "has a query", "use the API's URL without '?...'"),
    ("https://api.example.com/v1?", "has a query", "use the API's URL without '?...'"),
    ("https://api.example.com/a/../v1", DOT_SEGMENT, FIX),
    ("https://api.example.com/./v1", DOT_SEGMENT, FIX),
    ("https://api.example.com:99999/v1", INVALID, FIX),
    ("https://[::1/v1", INVALID, FIX),
    ("https://api.example.com/v 1", CHARACTERS, FIX),
    ('https://api.example.com/v1", error="forged', CHARACTERS, FIX),
    ("https://api.example.com/v1\r\nSet-Cookie: a=b", CHARACTERS, FIX),
    ("https://api.example.com/v1\\", CHARACTERS, FIX),
    ("https://api.example.com/\u00e9", CHARACTERS, FIX),
])
def test_an_invalid_resource_is_a_configuration_error(resource: str, problem: str, fix: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load({**BASE, "RESOURCE": resource})
    assert raised.value.variable == "RESOURCE"
    assert str(raised.value) == f"RESOURCE: {resource[:60]!r} {problem}. Fix: {fix}"


def test_credentials_in_the_resource_are_refused_and_never_repeated() -> None:
    with pytest.raises(ConfigurationError) as raised:
        load({**BASE, "RESOURCE": "https://admin:hunter2@api.example.com/v1"})
    assert raised.value.variable == "RESOURCE"
    assert str(raised.value) == \
        f"RESOURCE: 'https://***@api.example.com/v1' carries credentials (user:password@). Fix: {FIX}"


def test_resource_without_require_publishes_nothing_and_says_so() -> None:
    loaded = load({"RESOURCE": RESOURCE})
    assert loaded.resource is None
    assert any("RESOURCE is set but REQUIRE is empty" in warning for warning in loaded.warnings)
    assert not any("RESOURCE" in warning for warning in load({}).warnings)


def test_an_invalid_resource_without_require_is_not_an_error() -> None:
    assert load({"RESOURCE": "http://api.example.com/v1"}).resource is None


def test_resource_is_a_configuration_variable() -> None:
    from lambdaone import settings
    assert "RESOURCE" in settings.VARIABLES
    assert settings.fingerprint({"RESOURCE": "a"}) != settings.fingerprint({"RESOURCE": "b"})


# --------------------------------------------------------------------------------------------------
# The document (RFC 9728 §2)
# --------------------------------------------------------------------------------------------------


def test_the_document_lists_every_issuer_and_required_scope_in_order() -> None:
    settings = Settings(required_scopes=("treasure:read", "treasure:write"), audiences=(AUDIENCE,),
                        issuers=("https://a.example.com/", "https://b.example.com"), resource=RESOURCE)
    assert json.loads(resource_metadata.document_json(settings)) == {
        "resource": RESOURCE,
        "authorization_servers": ["https://a.example.com/", "https://b.example.com"],
        "scopes_supported": ["treasure:read", "treasure:write"],
        "bearer_methods_supported": ["header"],
    }


def test_metadata_url_is_none_without_a_resource() -> None:
    assert resource_metadata.metadata_url(None) is None
    assert resource_metadata.metadata_url(Settings(required_scopes=("a",), issuer=ISSUER)) is None
    assert resource_metadata.metadata_url(Settings(required_scopes=("a",), issuer=ISSUER, resource=RESOURCE)) \
        == METADATA_URL


# --------------------------------------------------------------------------------------------------
# The metadata route, in every event shape
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_format", FORMATS)
def test_get_on_the_metadata_path_answers_the_document_without_a_token(
        resource_env: pytest.MonkeyPatch, invoke: Callable[[Any], dict[str, Any]], event_format: str) -> None:
    response = invoke(request(event_format, METADATA_PATH))
    assert (response["statusCode"], response["isBase64Encoded"]) == (200, False)
    assert json.loads(response["body"]) == DOCUMENT
    assert response["body"] == (  # compact: no spaces
        '{"resource":"https://api.example.com/v1","authorization_servers":["https://issuer.example.test/"],'
        '"scopes_supported":["treasure:read"],"bearer_methods_supported":["header"]}')
    assert response["headers"] == {"Content-Type": "application/json", "Cache-Control": "public, max-age=3600",
                                   "X-Content-Type-Options": "nosniff", "Access-Control-Allow-Origin": "*"}


@pytest.mark.parametrize("event_format", FORMATS)
def test_the_document_is_served_whatever_token_comes_with_the_request(
        resource_env: pytest.MonkeyPatch, invoke: Callable[[Any], dict[str, Any]], other_key: KeyPair,
        event_format: str) -> None:
    for headers in [events.bearer(other_key.token()), {"Authorization": "Bearer"}, {"Authorization": "Basic eA=="}]:
        response = invoke(request(event_format, METADATA_PATH, headers=headers))
        assert (response["statusCode"], json.loads(response["body"])) == (200, DOCUMENT)


@pytest.mark.parametrize("event_format", FORMATS)
def test_head_on_the_metadata_path_answers_the_headers_only(
        resource_env: pytest.MonkeyPatch, invoke: Callable[[Any], dict[str, Any]], event_format: str) -> None:
    response = invoke(request(event_format, METADATA_PATH, method="HEAD"))
    assert (response["statusCode"], response["body"]) == (200, "")
    assert response["headers"]["Content-Type"] == "application/json"
    assert response["headers"]["Cache-Control"] == "public, max-age=3600"


@pytest.mark.parametrize("event_format", FORMATS)
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get", "TRACE"])
def test_other_methods_on_the_metadata_path_are_405(
        resource_env: pytest.MonkeyPatch, invoke: Callable[[Any], dict[str, Any]], event_format: str,
        method: str) -> None:
    response = invoke(request(event_format, METADATA_PATH, method=method))
    assert response["statusCode"] == 405
    assert response["headers"]["Allow"] == "GET, HEAD"
    assert response["headers"]["Cache-Control"] == "no-store"
    assert json.loads(response["body"]) == {"error": "invalid_request", "reason": "method_not_allowed"}
    assert "WWW-Authenticate" not in response["headers"]


@pytest.mark.parametrize("path", [
    METADATA_PATH + "/", METADATA_PATH.upper(), "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/v1/extra", "/prod" + METADATA_PATH, "/v1", "/hello",
    "/.well-known/oauth-authorization-server/v1",
])
@pytest.mark.parametrize("event_format", ["rest_api_v1", "http_api_v2"])
def test_only_the_exact_metadata_path_is_answered(resource_env: pytest.MonkeyPatch,
                                                  invoke: Callable[[Any], dict[str, Any]], path: str,
                                                  event_format: str) -> None:
    response = invoke(request(event_format, path))
    assert response["statusCode"] == 401  # an ordinary request: no token


def test_the_query_string_does_not_change_the_route(resource_env: pytest.MonkeyPatch,
                                                    invoke: Callable[[Any], dict[str, Any]]) -> None:
    event = request("http_api_v2", METADATA_PATH)
    event["rawQueryString"] = "x=1"
    event["queryStringParameters"] = {"x": "1"}
    assert invoke(event)["statusCode"] == 200


@pytest.mark.parametrize(("event", "status"), [
    ({}, 401), ({"rawPath": ["/.well-known/oauth-protected-resource/v1"]}, 401), ({"path": None, "httpMethod": "GET"}, 401),
    ({"rawPath": 7, "path": METADATA_PATH, "httpMethod": "GET"}, 200),  # the 1.0 shape's path
    ({"requestContext": "GET", "path": METADATA_PATH, "httpMethod": "GET"}, 200),
    ({"requestContext": {"http": {"method": ["GET"]}}, "rawPath": METADATA_PATH, "httpMethod": "GET"}, 200),
    ({"requestContext": {"http": "GET"}, "rawPath": METADATA_PATH, "httpMethod": "GET"}, 200),
    ({"requestContext": {"http": {"method": "DELETE"}}, "rawPath": METADATA_PATH, "httpMethod": "GET"}, 405),
    ([METADATA_PATH], 401), (METADATA_PATH, 401), (None, 401),
], ids=["direct-invoke", "path-list", "path-null", "rawPath-number", "context-text", "method-list",
        "http-text", "v2-method-wins", "list-event", "text-event", "null-event"])
def test_odd_events_never_crash_the_route(resource_env: pytest.MonkeyPatch, invoke: Callable[[Any], dict[str, Any]],
                                          event: Any, status: int) -> None:
    assert invoke(event)["statusCode"] == status


@pytest.mark.parametrize(("event", "target"), [
    ({"requestContext": {"http": {"method": "GET"}}, "rawPath": "/a", "httpMethod": "POST", "path": "/b"}, ("GET", "/a")),
    ({"httpMethod": "POST", "path": "/b"}, ("POST", "/b")),
    ({"httpMethod": 1, "path": 2}, (None, None)), ({"rawPath": None, "path": ["/b"]}, (None, None)),
    ({"requestContext": {"http": {"method": None}}, "httpMethod": "PUT", "rawPath": 3, "path": "/c"}, ("PUT", "/c")),
    ({}, (None, None)), ("GET /", (None, None)),
])
def test_request_target_reads_text_only(event: Any, target: tuple[str | None, str | None]) -> None:
    assert resource_metadata.request_target(event) == target


def test_a_method_that_is_not_text_on_the_metadata_path_is_405(resource_env: pytest.MonkeyPatch,
                                                               invoke: Callable[[Any], dict[str, Any]]) -> None:
    assert invoke({"rawPath": METADATA_PATH, "httpMethod": 42})["statusCode"] == 405
    assert invoke({"rawPath": METADATA_PATH})["statusCode"] == 405


@pytest.mark.parametrize("event_format", FORMATS)
def test_without_resource_the_metadata_path_is_an_ordinary_request(
        pem_env: Path, invoke: Callable[[Any], dict[str, Any]], issuer_key: KeyPair, event_format: str) -> None:
    denied = invoke(request(event_format, METADATA_PATH))
    assert denied["statusCode"] == 401
    assert denied["headers"]["WWW-Authenticate"] == "Bearer"
    allowed = invoke(request(event_format, METADATA_PATH, headers=events.bearer(issuer_key.token(scope="treasure:read"))))
    assert (allowed["statusCode"], allowed["body"]) == (200, "Hello from LambdaOne!")
    assert invoke(request(event_format, METADATA_PATH, method="POST"))["statusCode"] == 401


def test_without_require_the_metadata_path_is_served_like_any_path(clean_env: pytest.MonkeyPatch,
                                                                   invoke: Callable[[Any], dict[str, Any]]) -> None:
    clean_env.setenv("RESOURCE", RESOURCE)
    response = invoke(request("http_api_v2", METADATA_PATH))
    assert (response["statusCode"], response["body"]) == (200, "Hello from LambdaOne!")


def test_a_configuration_error_is_a_500_on_the_metadata_path_too(resource_env: pytest.MonkeyPatch,
                                                                 invoke: Callable[[Any], dict[str, Any]]) -> None:
    resource_env.delenv("ISSUER")
    response = invoke(request("http_api_v2", METADATA_PATH))
    assert response["statusCode"] == 500
    assert "WWW-Authenticate" not in response["headers"]


# --------------------------------------------------------------------------------------------------
# Every challenge points to the metadata (RFC 9728 §5.1)
# --------------------------------------------------------------------------------------------------

POINTER = f'resource_metadata="{METADATA_URL}"'


@pytest.mark.parametrize("event_format", FORMATS)
def test_every_401_carries_resource_metadata(resource_env: pytest.MonkeyPatch, invoke: Callable[[Any], dict[str, Any]],
                                             other_key: KeyPair, issuer_key: KeyPair, event_format: str) -> None:
    cases = {
        "missing": ({}, f"Bearer {POINTER}"),
        "basic": ({"Authorization": "Basic eA=="}, f"Bearer {POINTER}"),
        "forged": (events.bearer(other_key.token(scope="treasure:read")), f'Bearer error="invalid_token", {POINTER}'),
        "expired": (events.bearer(issuer_key.token(scope="treasure:read", lifetime=-3600)),
                    f'Bearer error="invalid_token", {POINTER}'),
    }
    for name, (headers, challenge) in cases.items():
        response = invoke(request(event_format, "/hello", headers=headers))
        assert response["statusCode"] == 401, name
        assert response["headers"]["WWW-Authenticate"] == challenge, name


@pytest.mark.parametrize("event_format", FORMATS)
def test_400_and_403_keep_their_rfc_6750_meaning_and_point_to_the_metadata(
        resource_env: pytest.MonkeyPatch, invoke: Callable[[Any], dict[str, Any]], issuer_key: KeyPair,
        event_format: str) -> None:
    bad_request = invoke(request(event_format, "/hello", headers={"Authorization": "Bearer"}))
    assert bad_request["statusCode"] == 400
    assert bad_request["headers"]["WWW-Authenticate"] == f'Bearer error="invalid_request", {POINTER}'
    forbidden = invoke(request(event_format, "/hello", headers=events.bearer(issuer_key.token(scope="other"))))
    assert forbidden["statusCode"] == 403
    assert forbidden["headers"]["WWW-Authenticate"] == \
        f'Bearer error="insufficient_scope", scope="treasure:read", {POINTER}'


def test_an_allowed_request_with_resource_is_unchanged(resource_env: pytest.MonkeyPatch,
                                                       invoke: Callable[[Any], dict[str, Any]],
                                                       issuer_key: KeyPair) -> None:
    response = invoke(request("http_api_v2", "/hello", headers=events.bearer(issuer_key.token(scope="treasure:read"))))
    assert (response["statusCode"], response["body"]) == (200, "Hello from LambdaOne!")
    assert "WWW-Authenticate" not in response["headers"]


# --------------------------------------------------------------------------------------------------
# Logs
# --------------------------------------------------------------------------------------------------


def test_the_metadata_route_logs_at_debug_and_a_405_at_info(resource_env: pytest.MonkeyPatch,
                                                            invoke: Callable[[Any], dict[str, Any]],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    invoke(request("http_api_v2", METADATA_PATH))
    invoke(request("http_api_v2", METADATA_PATH, method="DELETE"))
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["level"], e["message"], e["reason"], e["status"], e["requestId"]) for e in entries] == [
        ("INFO", "request denied", "method_not_allowed", 405, "test-request-id")]
    resource_env.setenv("LOG_LEVEL", "DEBUG")
    invoke(request("http_api_v2", METADATA_PATH))
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["level"], e["message"], e["reason"], e["status"]) for e in entries] == [
        ("DEBUG", "resource metadata served", "resource_metadata", 200)]
