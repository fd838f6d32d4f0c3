"""Fixtures shared by every test: keys generated at run time, a clean configuration, a local JWKS server."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdaone import handler, jwt_key, settings
from workbook.jwks_server import JwksServer
from workbook.tokens import AUDIENCE, ISSUER, KeyPair, jwks

REQUIRED_SCOPES = "treasure:read"


@pytest.fixture(scope="session")
def issuer_key() -> KeyPair:
    """The issuer's RS256 key pair (generated once per run, never written to disk)."""
    return KeyPair.generate("RS256", kid="issuer-key-1")


@pytest.fixture(scope="session")
def other_key() -> KeyPair:
    """A key pair the issuer does not publish: tokens signed with it are forgeries."""
    return KeyPair.generate("RS256", kid="attacker-key")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No configuration variable set, no cached runtime or JWKS keys; everything restored after."""
    for name in settings.VARIABLES:
        monkeypatch.delenv(name, raising=False)
    jwt_key.clear_caches()
    monkeypatch.setattr(handler, "_runtime", None)
    yield monkeypatch
    jwt_key.clear_caches()


@pytest.fixture
def jwks_server(issuer_key: KeyPair) -> Iterator[JwksServer]:
    """A running JWKS server on 127.0.0.1 (ephemeral port) publishing the issuer's key."""
    with JwksServer(jwks(issuer_key)) as server:
        yield server


@pytest.fixture
def jwks_env(clean_env: pytest.MonkeyPatch, jwks_server: JwksServer) -> JwksServer:
    """The Lambda configured for the local JWKS server; returns the server."""
    clean_env.setenv("REQUIRE", REQUIRED_SCOPES)
    clean_env.setenv("ISSUER", ISSUER)
    clean_env.setenv("AUDIENCE", AUDIENCE)
    clean_env.setenv("JWKSPATH", jwks_server.url)
    return jwks_server


@pytest.fixture
def pem_env(clean_env: pytest.MonkeyPatch, issuer_key: KeyPair, tmp_path: Path) -> Path:
    """The Lambda configured with the issuer's public key in a PEM file; returns its path."""
    pem = tmp_path / "public.pem"
    pem.write_bytes(issuer_key.public_pem())
    clean_env.setenv("REQUIRE", REQUIRED_SCOPES)
    clean_env.setenv("ISSUER", ISSUER)
    clean_env.setenv("AUDIENCE", AUDIENCE)
    clean_env.setenv("SIGNATUREKEYPATH", str(pem))
    return pem


@pytest.fixture
def invoke() -> Callable[[Any], dict[str, Any]]:
    """Call ``lambda_function.handler`` with a fake context, checking the response is well formed."""
    import lambda_function

    class Context:
        aws_request_id = "test-request-id"

    def call(event: Any) -> dict[str, Any]:
        response = lambda_function.handler(event, Context())
        assert_well_formed(response)
        return response

    return call


def assert_well_formed(response: Any) -> None:
    """A proxy response API Gateway accepts: int status, str headers, str body; JSON for errors."""
    assert isinstance(response, dict)
    assert isinstance(response["statusCode"], int)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in response["headers"].items())
    assert isinstance(response["body"], str)
    if response["statusCode"] != 200:
        body = json.loads(response["body"])
        assert set(body) == {"error", "reason"}


def body_reason(response: dict[str, Any]) -> str:
    return json.loads(response["body"])["reason"]


@pytest.fixture(autouse=True)
def _no_stray_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never inherit configuration from the shell or a .env: each sets what it needs."""
    for name in settings.VARIABLES:
        if name in os.environ:
            monkeypatch.delenv(name)
