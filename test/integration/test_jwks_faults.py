"""The JWKS key source against endpoints that misbehave the way real networks do.

Every fault of ``workbook.fault_server`` (trickled status line, headers or body, a connection that
is never answered, garbage, a 70 KB header line, 101 header lines, chunked bodies cut short, with a
bad size or endless, a lying Content-Length, JSON nested 100,000 deep, ...) is tried twice through
the whole handler: at cold start (the import's ``warm_up`` survives, requests get 503 with
Retry-After, one fetch) and with an expired-but-stale cache (requests get 200 from the stale keys at
once, exactly one failed refresh, the cooldown respected). Then: ``import lambda_function`` in a
fresh interpreter, 32 concurrent callers, and a differential test of the HTTP reader against
``http.client`` on well-formed and malformed answers.

All servers are on 127.0.0.1, port 0, and stop (with their threads) even when a test fails. Timeouts
are short (0.4 s), so time bounds are asserted with generous margins; latencies are measured in
``bench/jwks_faults.py``, not here.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdaone import handler, jwks_fetch, jwt_key
from workbook.events import bearer, rest_api_v1
from workbook.fault_server import FAILING_FAULTS, FaultServer, refusing_url
from workbook.tokens import AUDIENCE, ISSUER, KeyPair, jwks

pytestmark = pytest.mark.integration

TIMEOUT = 0.4
COOLDOWN = 30.0  # longer than any test: a second fetch inside one would be a bug
MARGIN = 1.0  # generous: the machine is shared
ROOT = Path(__file__).resolve().parents[2]
REQUIRED_SCOPE = "treasure:read"
Invoke = Callable[[Any], dict[str, Any]]

# The faults the issue names, each of which must end in a failed fetch.
NAMED_FAULTS = ("trickle_status", "trickle_headers", "trickle_body", "never_answer", "garbage", "long_header_line",
                "many_header_lines", "chunked_cut_short", "bad_chunk_size", "endless_chunked",
                "lying_content_length", "deep_json")


@pytest.fixture
def fault_server(issuer_key: KeyPair) -> Iterator[FaultServer]:
    with FaultServer("ok", document=jwks(issuer_key), interval=0.05) as server:
        yield server


@pytest.fixture
def configured(clean_env: pytest.MonkeyPatch, fault_server: FaultServer) -> FaultServer:
    """The Lambda pointed at the fault server with a short deadline and a long cooldown."""
    for name, value in {"REQUIRE": REQUIRED_SCOPE, "ISSUER": ISSUER, "AUDIENCE": AUDIENCE,
                        "JWKSPATH": fault_server.url, "JWKS_TIMEOUT_SECONDS": str(TIMEOUT),
                        "JWKS_COOLDOWN_SECONDS": str(COOLDOWN)}.items():
        clean_env.setenv(name, value)
    return fault_server


def key_source() -> jwt_key.JwksKeySource:
    source = handler.current_runtime().key_source
    assert isinstance(source, jwt_key.JwksKeySource)
    return source


def jwt_key_lines(output: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if line["logger"] == "lambdaone.jwt_key" and line["level"] != "INFO"]


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def assert_503_with_retry_after(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 503, response["body"]
    assert json.loads(response["body"])["reason"] == "signing_keys_unavailable"
    assert 1 <= int(response["headers"]["Retry-After"]) <= COOLDOWN


def test_every_named_fault_exists_and_fails() -> None:
    assert set(NAMED_FAULTS) <= set(FAILING_FAULTS)


# --------------------------------------------------------------------------- cold start


@pytest.mark.parametrize("fault", FAILING_FAULTS)
def test_cold_start_survives_the_fault(fault: str, configured: FaultServer, invoke: Invoke, issuer_key: KeyPair,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    configured.set_fault(fault)
    _, elapsed = timed(handler.warm_up)  # what `import lambda_function` runs: it must not raise
    assert elapsed < TIMEOUT + MARGIN
    assert configured.connections == 1
    for _ in range(5):
        assert_503_with_retry_after(invoke(rest_api_v1(bearer(issuer_key.token(scope=REQUIRED_SCOPE)))))
    assert configured.connections == 1  # in the quiet period: not asked again
    [line] = jwt_key_lines(capsys.readouterr().out)  # logged once, at ERROR: an alarm fires
    assert (line["level"], line["message"]) == ("ERROR", "JWKS fetch failed: no signing keys")
    assert configured.url not in json.dumps(line)


def test_cold_start_against_a_refusing_port(clean_env: pytest.MonkeyPatch, invoke: Invoke,
                                            issuer_key: KeyPair) -> None:
    for name, value in {"REQUIRE": REQUIRED_SCOPE, "ISSUER": ISSUER, "AUDIENCE": AUDIENCE,
                        "JWKSPATH": refusing_url(), "JWKS_TIMEOUT_SECONDS": str(TIMEOUT)}.items():
        clean_env.setenv(name, value)
    _, elapsed = timed(handler.warm_up)
    assert elapsed < TIMEOUT + MARGIN
    assert_503_with_retry_after(invoke(rest_api_v1(bearer(issuer_key.token(scope=REQUIRED_SCOPE)))))
    assert key_source().fetches == 1


@pytest.mark.parametrize("fault", ["trickle_body", "never_answer"])
def test_import_lambda_function_in_a_fresh_interpreter_survives(fault: str, fault_server: FaultServer,
                                                                issuer_key: KeyPair) -> None:
    fault_server.set_fault(fault)
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("JWKS", "REQUIRE"))}
    environment.update({"REQUIRE": REQUIRED_SCOPE, "ISSUER": ISSUER, "AUDIENCE": AUDIENCE,
                        "JWKSPATH": fault_server.url, "JWKS_TIMEOUT_SECONDS": str(TIMEOUT),
                        "PYTHONPATH": str(ROOT)})
    code = (
        "import json, sys, time\n"
        "started = time.monotonic()\n"
        "import lambda_function\n"
        "elapsed = time.monotonic() - started\n"
        "event = {'headers': {'Authorization': 'Bearer ' + sys.stdin.read()}}\n"
        "response = lambda_function.handler(event, None)\n"
        "print(json.dumps({'elapsed': elapsed, 'status': response['statusCode'],"
        " 'retry_after': response['headers'].get('Retry-After')}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], input=issuer_key.token(scope=REQUIRED_SCOPE), cwd=ROOT,  # noqa: S603
                          env=environment, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["status"] == 503
    assert int(result["retry_after"]) >= 1
    # Imports (0.2 s, several times that on a loaded machine) plus one deadline; the trickle alone lasts 20 s.
    assert result["elapsed"] < TIMEOUT + 3.0
    assert '"JWKS fetch failed: no signing keys"' in done.stdout
    assert fault_server.connections == 1


# --------------------------------------------------------------------------- expired but stale


@pytest.mark.parametrize("fault", FAILING_FAULTS)
def test_stale_keys_serve_at_once_while_one_refresh_fails(fault: str, configured: FaultServer, invoke: Invoke,
                                                         issuer_key: KeyPair,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    token = issuer_key.token(scope=REQUIRED_SCOPE)
    assert invoke(rest_api_v1(bearer(token)))["statusCode"] == 200  # a good fetch warms the cache
    source = key_source()
    source.expire()
    configured.set_fault(fault)
    response, elapsed = timed(lambda: invoke(rest_api_v1(bearer(token))))
    assert response["statusCode"] == 200
    assert elapsed < TIMEOUT  # it did not wait for the refresh
    assert source.settle(TIMEOUT + MARGIN)
    assert configured.connections == 2  # exactly one refresh
    assert source.failures == 1
    for _ in range(10):
        assert invoke(rest_api_v1(bearer(token)))["statusCode"] == 200
    assert source.settle(0)
    assert configured.connections == 2  # the cooldown keeps the broken endpoint unasked
    [line] = jwt_key_lines(capsys.readouterr().out)
    assert (line["level"], line["message"]) == ("WARNING", "JWKS refresh failed: using the last good keys")
    assert line["retry_in_seconds"] == COOLDOWN


def test_the_cooldown_starts_when_a_failed_fetch_ends(clean_env: pytest.MonkeyPatch, fault_server: FaultServer,
                                                     invoke: Invoke, issuer_key: KeyPair) -> None:
    """A fetch that lasts its whole deadline is followed by a full quiet period, not a shorter one."""
    cooldown = 1.0
    for name, value in {"REQUIRE": REQUIRED_SCOPE, "ISSUER": ISSUER, "AUDIENCE": AUDIENCE,
                        "JWKSPATH": fault_server.url, "JWKS_TIMEOUT_SECONDS": "1",
                        "JWKS_COOLDOWN_SECONDS": str(cooldown)}.items():
        clean_env.setenv(name, value)
    fault_server.set_fault("never_answer")
    token = issuer_key.token(scope=REQUIRED_SCOPE)
    assert_503_with_retry_after(invoke(rest_api_v1(bearer(token))))  # waits one deadline (1 s)
    ended = time.monotonic()
    # Counted from the start of the fetch the quiet period would be over by now; from its end it is not.
    time.sleep(0.3)
    response = invoke(rest_api_v1(bearer(token)))
    assert_503_with_retry_after(response)
    assert fault_server.connections == 1
    time.sleep(max(0.0, ended + cooldown + 0.1 - time.monotonic()))
    fault_server.set_fault("ok")
    assert invoke(rest_api_v1(bearer(token)))["statusCode"] == 200
    assert fault_server.connections == 2


# --------------------------------------------------------------------------- 32 concurrent callers


def _call_concurrently(count: int, call: Callable[[], dict[str, Any]]) -> list[tuple[int, float]]:
    """``count`` threads call at once; each result is (status, seconds). Threads are joined (bounded)."""
    barrier = threading.Barrier(count)
    results: list[tuple[int, float]] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait(timeout=10)
        response, elapsed = timed(call)
        with lock:
            results.append((response["statusCode"], elapsed))

    threads = [threading.Thread(target=run, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT + 10)
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_32_callers_with_stale_keys_none_waits(configured: FaultServer, invoke: Invoke,
                                               issuer_key: KeyPair) -> None:
    token = issuer_key.token(scope=REQUIRED_SCOPE)
    assert invoke(rest_api_v1(bearer(token)))["statusCode"] == 200
    source = key_source()
    source.expire()
    configured.set_fault("trickle_body")
    results = _call_concurrently(32, lambda: invoke(rest_api_v1(bearer(token))))
    assert [status for status, _ in results] == [200] * 32
    assert max(elapsed for _, elapsed in results) < TIMEOUT  # nobody waited for the trickling refresh
    assert source.settle(TIMEOUT + MARGIN)
    assert configured.connections == 2  # one refresh for the window


def test_32_callers_on_a_cold_cache_share_one_fetch_and_its_deadline(configured: FaultServer, invoke: Invoke,
                                                                    issuer_key: KeyPair) -> None:
    token = issuer_key.token(scope=REQUIRED_SCOPE)
    handler.current_runtime()  # the runtime exists; its key source has no keys yet
    configured.set_fault("trickle_body")
    results = _call_concurrently(32, lambda: invoke(rest_api_v1(bearer(token))))
    assert [status for status, _ in results] == [503] * 32
    assert max(elapsed for _, elapsed in results) < TIMEOUT + MARGIN
    assert configured.connections == 1


def test_32_callers_on_a_cold_cache_all_get_the_keys_one_fetch_brings(configured: FaultServer, invoke: Invoke,
                                                                     issuer_key: KeyPair) -> None:
    token = issuer_key.token(scope=REQUIRED_SCOPE)
    configured.interval = TIMEOUT / 4  # a slow but complete answer, well within the deadline
    configured.set_fault("delayed")
    results = _call_concurrently(32, lambda: invoke(rest_api_v1(bearer(token))))
    assert [status for status, _ in results] == [200] * 32
    assert configured.connections == 1


# --------------------------------------------------------------------------- the HTTP reader vs http.client


def with_http_client(url: str) -> bytes:
    target = jwks_fetch.parse_target(url)
    connection = http.client.HTTPConnection(target.host, target.port, timeout=2)
    try:
        connection.request("GET", target.request_target)
        response = connection.getresponse()
        if response.status != 200:
            raise http.client.HTTPException(f"HTTP {response.status}")
        return response.read()
    finally:
        connection.close()


def with_lambdaone(url: str) -> bytes:
    return jwks_fetch.fetch_body(jwks_fetch.parse_target(url), jwks_fetch.Deadline(2.0), {}, jwks_fetch.MAX_BODY_BYTES)


BODY = b'{"keys": [{"kid": "k"}]}'
WELL_FORMED = {
    "content_length": b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY),
    "chunked_with_extension_and_trailer": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                          b"5;x=y\r\n" + BODY[:5] + b"\r\n%x\r\n" % (len(BODY) - 5) + BODY[5:]
                                          + b"\r\n0\r\nX-Trailer: 1\r\n\r\n",
    "close_delimited_http_1_0": b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + BODY,
    "bare_lf_line_ends": b"HTTP/1.1 200 OK\nContent-Length: %d\n\n%s" % (len(BODY), BODY),
    "interim_100_continue": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                            % (len(BODY), BODY),
    "header_names_in_any_case": b"HTTP/1.1 200 OK\r\ncontent-LENGTH: %d\r\nX-a:b\r\n\r\n%s" % (len(BODY), BODY),
    "no_reason_phrase": b"HTTP/1.1 200\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY),
    "content_length_with_spaces": b"HTTP/1.1 200 OK\r\nContent-Length:   %d  \r\n\r\n%s" % (len(BODY), BODY),
    "chunked_uppercase_hex": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n%X\r\n%s\r\n0\r\n\r\n"
                             % (len(BODY), BODY),
}
# Refused by both: what http.client raises on, LambdaOne refuses too.
REFUSED_BY_BOTH = {
    "garbage": b"SSH-2.0-OpenSSH_9.2p1\r\n",
    "redirect": b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/\r\nContent-Length: 0\r\n\r\n",
    "header_line_of_70_kb": b"HTTP/1.1 200 OK\r\nX-Huge: " + b"h" * 70_000 + b"\r\nContent-Length: 2\r\n\r\n{}",
    "101_header_lines": b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(101)) + b"\r\n{}",
    "bad_chunk_size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "chunked_cut_short": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{}",
    "content_length_longer_than_the_body": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}",
}
# Stricter than http.client (which reads these): the README lists them, with why.
STRICTER = {
    "obsolete_line_folding": b"HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 2\r\n\r\n{}",
    "malformed_content_length": b"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\n{}",
    "conflicting_content_lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "header_line_of_9_kb": b"HTTP/1.1 200 OK\r\nX-Big: " + b"b" * 9000 + b"\r\nContent-Length: 2\r\n\r\n{}",
    "unknown_transfer_coding": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    "content_encoding_gzip": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}",
    "space_before_colon": b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\n{}",
}


@pytest.mark.parametrize("name", sorted(WELL_FORMED))
def test_well_formed_answers_read_the_same_as_http_client(name: str, fault_server: FaultServer) -> None:
    fault_server.respond_with(WELL_FORMED[name])
    assert with_lambdaone(fault_server.url) == with_http_client(fault_server.url) == BODY


@pytest.mark.parametrize("name", sorted(REFUSED_BY_BOTH))
def test_malformed_answers_are_refused_like_http_client_does(name: str, fault_server: FaultServer) -> None:
    fault_server.respond_with(REFUSED_BY_BOTH[name])
    with pytest.raises((http.client.HTTPException, OSError)):
        with_http_client(fault_server.url)
    with pytest.raises(jwks_fetch.FetchError):
        with_lambdaone(fault_server.url)


@pytest.mark.parametrize("name", sorted(STRICTER))
def test_answers_http_client_reads_are_refused_on_purpose(name: str, fault_server: FaultServer) -> None:
    fault_server.respond_with(STRICTER[name])
    with_http_client(fault_server.url)  # http.client reads a body from it ...
    with pytest.raises(jwks_fetch.FetchError):  # ... the JWKS reader refuses it
        with_lambdaone(fault_server.url)
