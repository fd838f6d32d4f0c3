"""The whole Lambda (``lambda_function.handler``) against real local servers on 127.0.0.1.

Every front door's event shape with both key sources; the JWKS cache seen from the outside (by
counting the requests the server receives); key rotation; an issuer that goes down, refuses
connections or answers too slowly; configuration errors; relative PEM paths.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from lambdaone import handler, jwt_key
from lambdaone.hello_world import GREETING
from workbook.events import ALL_FORMATS, bearer, direct_invoke, rest_api_v1
from workbook.jwks_server import JwksServer
from workbook.loopback import LoopbackHttpServer
from workbook.tokens import AUDIENCE, ISSUER, KeyPair, jwks

pytestmark = pytest.mark.integration

Invoke = Callable[[Any], dict[str, Any]]

REQUIRED_SCOPE = "treasure:read"
GENERIC_SERVER_ERROR = {"error": "server_error", "reason": "internal_error"}
FORMAT_NAMES = sorted(ALL_FORMATS)
SLEEP_PAST_ONE_SECOND = 1.1  # just past a JWKS_CACHE_SECONDS=1 lifetime


# --------------------------------------------------------------------------- helpers and fixtures


def reason_of(response: dict[str, Any]) -> str:
    return json.loads(response["body"])["reason"]


def with_token(format_name: str, token: str) -> dict[str, Any]:
    return ALL_FORMATS[format_name](bearer(token))


def assert_hello(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 200, response["body"]
    assert response["body"] == GREETING
    assert response["headers"]["Content-Type"].startswith("text/plain")


def assert_keys_unavailable(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 503
    assert reason_of(response) == "signing_keys_unavailable"
    assert int(response["headers"]["Retry-After"]) >= 1


@pytest.fixture(params=["pem", "jwks"])
def key_source(request: pytest.FixtureRequest) -> str:
    """Runs the test once with a PEM key file and once with the local JWKS server."""
    request.getfixturevalue(f"{request.param}_env")
    return request.param


@pytest.fixture(scope="module")
def rotated_key() -> KeyPair:
    """The issuer's next signing key, published at rotation time."""
    return KeyPair.generate("RS256", kid="issuer-key-2")


@pytest.fixture(scope="module")
def second_issuer_key() -> KeyPair:
    """The key of a second JWKS URL, to tell the per-URL caches apart."""
    return KeyPair.generate("RS256", kid="second-issuer-key")


class RecordingJwksServer(LoopbackHttpServer):
    """A JWKS server that records each request's headers and can answer late.

    A late answer waits on an event rather than sleeping, so ``stop()`` releases any handler
    still waiting and no thread outlives the test.
    """

    thread_name = "recording-jwks"

    def __init__(self, document: dict[str, Any], delay: float = 0.0) -> None:
        super().__init__()
        self.body = json.dumps(document).encode()
        self.delay = delay
        self.seen_headers: list[dict[str, str]] = []
        self.seen_paths: list[str] = []
        self._release = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.host_port
        return f"http://{host}:{port}/jwks.json"

    def stop(self) -> None:
        self._release.set()
        super().stop()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return self._handler()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                owner.seen_headers.append(dict(self.headers.items()))
                owner.seen_paths.append(self.path)
                owner._release.wait(owner.delay)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(owner.body)))
                    self.end_headers()
                    self.wfile.write(owner.body)
                except OSError:
                    pass  # the client gave up (its timeout): nothing left to answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def pem_in_task_root(issuer_key: KeyPair) -> Iterator[str]:
    """A uniquely named public PEM file beside lambda_function.py; removed after the test."""
    import lambda_function

    path = Path(lambda_function.__file__).resolve().parent / f"integration-{uuid.uuid4().hex}.pem"
    path.write_bytes(issuer_key.public_pem())
    try:
        yield path.name
    finally:
        path.unlink(missing_ok=True)


def configure_issuer(env: pytest.MonkeyPatch) -> None:
    """The settings every test shares: the required scope, the issuer and the audience."""
    env.setenv("REQUIRE", REQUIRED_SCOPE)
    env.setenv("ISSUER", ISSUER)
    env.setenv("AUDIENCE", AUDIENCE)


def configure_jwks(env: pytest.MonkeyPatch, url: str, **seconds: float) -> None:
    """Point the Lambda at ``url`` with the JWKS_* timings given as keyword arguments."""
    configure_issuer(env)
    env.setenv("JWKSPATH", url)
    for name, value in seconds.items():
        env.setenv(f"JWKS_{name.upper()}_SECONDS", str(value))


# --------------------------------------------------------------------------- every event format, both key sources


@pytest.mark.parametrize("format_name", FORMAT_NAMES)
def test_valid_token_is_served_in_every_format(key_source: str, format_name: str, invoke: Invoke,
                                               issuer_key: KeyPair) -> None:
    assert_hello(invoke(with_token(format_name, issuer_key.token(scope=REQUIRED_SCOPE))))


@pytest.mark.parametrize("format_name", [*FORMAT_NAMES, "direct_invoke"])
def test_no_token_gets_a_bare_bearer_challenge(key_source: str, format_name: str, invoke: Invoke) -> None:
    event = direct_invoke() if format_name == "direct_invoke" else ALL_FORMATS[format_name]()
    response = invoke(event)
    assert response["statusCode"] == 401
    assert response["headers"]["WWW-Authenticate"] == "Bearer"
    assert reason_of(response) == "missing_token"


@pytest.mark.parametrize("format_name", FORMAT_NAMES)
def test_wrong_scope_gets_403_naming_the_required_scope(key_source: str, format_name: str, invoke: Invoke,
                                                        issuer_key: KeyPair) -> None:
    # treasure:readwrite contains the required scope as a substring: only whole words count.
    token = issuer_key.token(scope="treasure:write treasure:readwrite")
    response = invoke(with_token(format_name, token))
    assert response["statusCode"] == 403
    assert response["headers"]["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="treasure:read"'
    assert reason_of(response) == "insufficient_scope"


def test_forged_token_is_refused(key_source: str, invoke: Invoke, issuer_key: KeyPair, other_key: KeyPair) -> None:
    # Signed by a key the issuer does not hold, under the issuer's own kid.
    forged = other_key.token(scope=REQUIRED_SCOPE, header={"kid": issuer_key.kid})
    response = invoke(rest_api_v1(bearer(forged)))
    assert response["statusCode"] == 401
    assert response["headers"]["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert reason_of(response) == "bad_signature"


def test_rest_v1_reads_a_mixed_case_header_name(key_source: str, invoke: Invoke, issuer_key: KeyPair) -> None:
    event = rest_api_v1({"AuThOrIzAtIoN": f"Bearer {issuer_key.token(scope=REQUIRED_SCOPE)}"})
    assert_hello(invoke(event))


def test_rest_v1_with_null_headers_gets_401(key_source: str, invoke: Invoke) -> None:
    event = rest_api_v1()
    assert event["headers"] is None  # what API Gateway sends for a request without headers
    response = invoke(event)
    assert response["statusCode"] == 401
    assert response["headers"]["WWW-Authenticate"] == "Bearer"


# --------------------------------------------------------------------------- the JWKS cache, seen from the server


def test_warm_invocations_make_no_network_call(jwks_env: JwksServer, invoke: Invoke, issuer_key: KeyPair) -> None:
    before = jwks_env.requests
    for _ in range(50):
        assert_hello(invoke(rest_api_v1(bearer(issuer_key.token(scope=REQUIRED_SCOPE)))))
    assert jwks_env.requests - before == 1


def test_warm_up_fetches_the_keys_before_the_first_request(jwks_env: JwksServer, invoke: Invoke,
                                                          issuer_key: KeyPair) -> None:
    import lambda_function

    before = jwks_env.requests
    lambda_function.warm_up()
    assert jwks_env.requests - before == 1
    for _ in range(50):
        assert_hello(invoke(rest_api_v1(bearer(issuer_key.token(scope=REQUIRED_SCOPE)))))
    assert jwks_env.requests - before == 1  # the cold-start fetch was the only one


def test_jwks_cache_is_per_url_and_survives_reconfiguration(jwks_env: JwksServer, clean_env: pytest.MonkeyPatch,
                                                            invoke: Invoke, issuer_key: KeyPair,
                                                            second_issuer_key: KeyPair) -> None:
    first_token = issuer_key.token(scope=REQUIRED_SCOPE)
    second_token = second_issuer_key.token(scope=REQUIRED_SCOPE)
    with JwksServer(jwks(second_issuer_key)) as second:
        assert_hello(invoke(rest_api_v1(bearer(first_token))))
        clean_env.setenv("JWKSPATH", second.url)
        assert_hello(invoke(rest_api_v1(bearer(second_token))))
        clean_env.setenv("JWKSPATH", jwks_env.url)
        assert_hello(invoke(rest_api_v1(bearer(first_token))))
        assert (jwks_env.requests, second.requests) == (1, 1)  # going back reused the first URL's cached keys

        # Each URL answers with its own keys only: the second issuer's key is unknown here.
        response = invoke(rest_api_v1(bearer(second_token)))
        assert response["statusCode"] == 401
        assert reason_of(response) == "unknown_key"
        assert second.requests == 1


# --------------------------------------------------------------------------- key rotation


def test_rotated_key_is_fetched_once_and_unknown_kids_cost_nothing(jwks_env: JwksServer, invoke: Invoke,
                                                                   issuer_key: KeyPair,
                                                                   rotated_key: KeyPair) -> None:
    assert_hello(invoke(rest_api_v1(bearer(issuer_key.token(scope=REQUIRED_SCOPE)))))
    jwks_env.publish(jwks(issuer_key, rotated_key))
    before = jwks_env.requests

    assert_hello(invoke(rest_api_v1(bearer(rotated_key.token(scope=REQUIRED_SCOPE)))))
    assert jwks_env.requests - before == 1
    assert_hello(invoke(rest_api_v1(bearer(issuer_key.token(scope=REQUIRED_SCOPE)))))  # both keys are published

    # A flood of random kids right after the refetch: all refused, none reaches the server (cooldown 10 s).
    for _ in range(200):
        token = issuer_key.token(scope=REQUIRED_SCOPE, header={"kid": f"random-{secrets.token_hex(8)}"})
        response = invoke(rest_api_v1(bearer(token)))
        assert response["statusCode"] == 401
        assert reason_of(response) == "unknown_key"
    assert jwks_env.requests - before == 1


def test_retired_key_is_refused_once_the_cache_is_refreshed(jwks_env: JwksServer, clean_env: pytest.MonkeyPatch,
                                                           invoke: Invoke, issuer_key: KeyPair,
                                                           rotated_key: KeyPair) -> None:
    # The refetch for the new kid starts a cooldown during which no refresh happens: keep both short.
    clean_env.setenv("JWKS_CACHE_SECONDS", "1")
    clean_env.setenv("JWKS_COOLDOWN_SECONDS", "1")
    old_token = issuer_key.token(scope=REQUIRED_SCOPE)
    assert_hello(invoke(rest_api_v1(bearer(old_token))))
    jwks_env.publish(jwks(issuer_key, rotated_key))
    assert_hello(invoke(rest_api_v1(bearer(rotated_key.token(scope=REQUIRED_SCOPE)))))

    jwks_env.publish(jwks(rotated_key))  # the old key is retired
    assert_hello(invoke(rest_api_v1(bearer(old_token))))  # still cached: trusted until the lifetime ends
    time.sleep(SLEEP_PAST_ONE_SECOND)
    # Past the lifetime the cached keys still serve at once while one refresh runs in the background.
    assert_hello(invoke(rest_api_v1(bearer(old_token))))
    handler.current_runtime().key_source.settle(5)

    response = invoke(rest_api_v1(bearer(old_token)))
    assert response["statusCode"] == 401
    assert reason_of(response) == "unknown_key"
    assert_hello(invoke(rest_api_v1(bearer(rotated_key.token(scope=REQUIRED_SCOPE)))))


# --------------------------------------------------------------------------- the issuer goes down


def test_cached_keys_keep_working_while_the_server_is_down(jwks_env: JwksServer, invoke: Invoke,
                                                          issuer_key: KeyPair) -> None:
    assert_hello(invoke(rest_api_v1(bearer(issuer_key.token(scope=REQUIRED_SCOPE)))))
    jwks_env.go_down()
    before = jwks_env.requests
    for _ in range(10):
        assert_hello(invoke(rest_api_v1(bearer(issuer_key.token(scope=REQUIRED_SCOPE)))))
    assert jwks_env.requests == before


def test_stale_keys_keep_working_after_the_cache_lifetime(jwks_env: JwksServer, clean_env: pytest.MonkeyPatch,
                                                         invoke: Invoke, issuer_key: KeyPair) -> None:
    clean_env.setenv("JWKS_CACHE_SECONDS", "1")  # JWKS_STALE_SECONDS stays at its default (1800)
    token = issuer_key.token(scope=REQUIRED_SCOPE)
    assert_hello(invoke(rest_api_v1(bearer(token))))
    jwks_env.go_down()
    time.sleep(SLEEP_PAST_ONE_SECOND)
    before = jwks_env.requests

    assert_hello(invoke(rest_api_v1(bearer(token))))  # served at once; the refresh runs in the background
    handler.current_runtime().key_source.settle(5)
    assert jwks_env.requests - before == 1  # one refresh was tried, and failed
    for _ in range(10):
        assert_hello(invoke(rest_api_v1(bearer(token))))
    assert jwks_env.requests - before == 1  # the failure's cooldown keeps the broken server unasked


def test_expired_keys_without_stale_allowance_get_503_then_recover(jwks_env: JwksServer,
                                                                  clean_env: pytest.MonkeyPatch, invoke: Invoke,
                                                                  issuer_key: KeyPair) -> None:
    for name, value in {"JWKS_CACHE_SECONDS": "1", "JWKS_STALE_SECONDS": "0", "JWKS_COOLDOWN_SECONDS": "0"}.items():
        clean_env.setenv(name, value)
    token = issuer_key.token(scope=REQUIRED_SCOPE)
    assert_hello(invoke(rest_api_v1(bearer(token))))
    jwks_env.go_down()
    time.sleep(SLEEP_PAST_ONE_SECOND)

    assert_keys_unavailable(invoke(rest_api_v1(bearer(token))))
    jwks_env.come_back()
    assert_hello(invoke(rest_api_v1(bearer(token))))


def test_no_keys_ever_fetched_gets_503_until_the_server_comes_back(jwks_env: JwksServer,
                                                                  clean_env: pytest.MonkeyPatch, invoke: Invoke,
                                                                  issuer_key: KeyPair) -> None:
    cooldown = 0.5
    clean_env.setenv("JWKS_COOLDOWN_SECONDS", str(cooldown))
    jwks_env.go_down()
    token = issuer_key.token(scope=REQUIRED_SCOPE)
    before = jwks_env.requests

    assert_keys_unavailable(invoke(rest_api_v1(bearer(token))))
    assert jwks_env.requests - before == 1
    jwks_env.come_back()
    assert_keys_unavailable(invoke(rest_api_v1(bearer(token))))  # within the cooldown: not asked again yet
    assert jwks_env.requests - before == 1

    time.sleep(cooldown + 0.05)
    assert_hello(invoke(rest_api_v1(bearer(token))))
    assert jwks_env.requests - before == 2


def test_connection_refused_gets_503_quickly(clean_env: pytest.MonkeyPatch, invoke: Invoke,
                                             issuer_key: KeyPair) -> None:
    with JwksServer(jwks(issuer_key)) as server:
        url = server.url
    # The server is stopped and its socket closed: the port now refuses connections.
    configure_jwks(clean_env, url, timeout=0.3)
    started = time.monotonic()
    response = invoke(rest_api_v1(bearer(issuer_key.token(scope=REQUIRED_SCOPE))))
    assert time.monotonic() - started < 2
    assert_keys_unavailable(response)


def test_slow_server_gets_503_after_the_configured_timeout(clean_env: pytest.MonkeyPatch, invoke: Invoke,
                                                           issuer_key: KeyPair) -> None:
    # The server would answer after 1.5 s, within the 2 s default: only the configured 0.3 s makes this a 503.
    with RecordingJwksServer(jwks(issuer_key), delay=1.5) as server:
        configure_jwks(clean_env, server.url, timeout=0.3)
        started = time.monotonic()
        response = invoke(rest_api_v1(bearer(issuer_key.token(scope=REQUIRED_SCOPE))))
        elapsed = time.monotonic() - started
        assert len(server.seen_paths) == 1  # the request did reach the server
    assert_keys_unavailable(response)
    assert 0.25 <= elapsed < 2


def test_jwks_request_names_itself_with_a_user_agent(clean_env: pytest.MonkeyPatch, invoke: Invoke,
                                                     issuer_key: KeyPair) -> None:
    # Answering after 0.2 s is fine under a 1 s timeout: the configured timeout is a bound, not a delay.
    with RecordingJwksServer(jwks(issuer_key), delay=0.2) as server:
        configure_jwks(clean_env, server.url, timeout=1)
        assert_hello(invoke(rest_api_v1(bearer(issuer_key.token(scope=REQUIRED_SCOPE)))))
        assert server.seen_paths == ["/jwks.json"]
        user_agent = server.seen_headers[0].get("User-Agent")
    assert user_agent == jwt_key.USER_AGENT
    assert not user_agent.startswith("Python-urllib")


# --------------------------------------------------------------------------- configuration errors, end to end


def test_plain_http_jwks_url_off_loopback_is_a_generic_500(jwks_env: JwksServer, clean_env: pytest.MonkeyPatch,
                                                           invoke: Invoke, issuer_key: KeyPair) -> None:
    token = issuer_key.token(scope=REQUIRED_SCOPE)
    clean_env.setenv("JWKSPATH", "http://jwks.example.test/.well-known/jwks.json")
    response = invoke(rest_api_v1(bearer(token)))
    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == GENERIC_SERVER_ERROR  # nothing about the configuration leaks
    assert "WWW-Authenticate" not in response["headers"]

    clean_env.setenv("JWKSPATH", jwks_env.url)  # fixed: the next request loads the configuration again
    assert_hello(invoke(rest_api_v1(bearer(token))))


def test_both_key_sources_is_a_generic_500(pem_env: Path, jwks_env: JwksServer, clean_env: pytest.MonkeyPatch,
                                           invoke: Invoke, issuer_key: KeyPair) -> None:
    token = issuer_key.token(scope=REQUIRED_SCOPE)
    response = invoke(rest_api_v1(bearer(token)))
    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == GENERIC_SERVER_ERROR
    assert jwks_env.requests == 0  # a rejected configuration fetches nothing

    clean_env.delenv("SIGNATUREKEYPATH")
    assert_hello(invoke(rest_api_v1(bearer(token))))
    assert jwks_env.requests == 1


def test_bare_pem_file_name_resolves_beside_lambda_function(clean_env: pytest.MonkeyPatch, invoke: Invoke,
                                                           pem_in_task_root: str, tmp_path: Path,
                                                           issuer_key: KeyPair, other_key: KeyPair) -> None:
    # A decoy with the same name in the working directory holds another key: resolving the name
    # against the working directory would refuse the token.
    (tmp_path / pem_in_task_root).write_bytes(other_key.public_pem())
    clean_env.chdir(tmp_path)
    configure_issuer(clean_env)
    clean_env.setenv("SIGNATUREKEYPATH", pem_in_task_root)
    assert_hello(invoke(rest_api_v1(bearer(issuer_key.token(scope=REQUIRED_SCOPE)))))
