"""RFC 9728 end to end, as an OAuth client would follow it, against two local issuers on 127.0.0.1.

A request without a token gets a 401 whose ``resource_metadata`` names the metadata URL; the
client reads the document there (in each event shape), picks an issuer from
``authorization_servers``, gets a token from it and is served. Reading the metadata never touches
the issuers, and the log lines keep the runtime's field names throughout.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from test.unit.test_lambdaone.test_resource_metadata import FORMATS, request
from workbook import events
from workbook.issuer_server import IssuerServer
from workbook.tokens import KeyPair, jwks

POINTER = re.compile(r'resource_metadata="([^"]+)"')


@pytest.fixture
def two_issuers(issuer_key: KeyPair, other_key: KeyPair) -> Iterator[tuple[IssuerServer, IssuerServer]]:
    with IssuerServer(jwks(issuer_key)) as first, IssuerServer(jwks(other_key), path="/realms/b") as second:
        yield first, second


@pytest.fixture
def configured(clean_env: pytest.MonkeyPatch, two_issuers: tuple[IssuerServer, IssuerServer]) -> str:
    """Two issuers by discovery and a loopback RESOURCE; returns the resource identifier."""
    first, second = two_issuers
    resource = f"{first.base}/api"  # any loopback URL: the Lambda never fetches it
    clean_env.setenv("REQUIRE", "treasure:read")
    clean_env.setenv("AUDIENCE", "https://api.example.com/treasure")
    clean_env.setenv("ISSUER", f"{first.issuer} {second.issuer}")
    clean_env.setenv("RESOURCE", resource)
    return resource


@pytest.mark.parametrize("event_format", FORMATS)
def test_a_client_discovers_the_issuer_from_a_401_and_is_then_served(
        configured: str, two_issuers: tuple[IssuerServer, IssuerServer], other_key: KeyPair,
        invoke: Callable[[Any], dict[str, Any]], event_format: str, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = two_issuers
    denied = invoke(request(event_format, "/api/treasure"))
    assert denied["statusCode"] == 401
    pointer = POINTER.search(denied["headers"]["WWW-Authenticate"])
    assert pointer is not None
    metadata_url = pointer.group(1)
    assert metadata_url == f"{first.base}/.well-known/oauth-protected-resource/api"

    fetched_before = first.requests + second.requests
    answer = invoke(request(event_format, urlsplit(metadata_url).path))
    assert answer["statusCode"] == 200
    document = json.loads(answer["body"])
    assert document == {"resource": configured, "authorization_servers": [first.issuer, second.issuer],
                        "scopes_supported": ["treasure:read"], "bearer_methods_supported": ["header"]}
    assert first.requests + second.requests == fetched_before  # the metadata needs no network

    chosen = document["authorization_servers"][1]
    token = other_key.token(iss=chosen, aud="https://api.example.com/treasure", scope="treasure:read")
    served = invoke(request(event_format, "/api/treasure", headers=events.bearer(token)))
    assert (served["statusCode"], served["body"]) == (200, "Hello from LambdaOne!")

    out = capsys.readouterr().out
    assert token not in out
    for line in map(json.loads, out.splitlines()):
        assert list(line)[:5] == ["timestamp", "level", "message", "logger", "requestId"]
        assert "request_id" not in line
