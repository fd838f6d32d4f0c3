"""Unit tests for ``lambdaone.handler``: runtime reuse, configuration errors, failing closed, safe logs.

Log lines are counted on stdout (``capsys``): the ``lambdaone`` logger writes there and does not
propagate, exactly as in Lambda.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdaone import handler
from lambdaone import settings as settings_module
from workbook import events
from workbook.tokens import KeyPair

SERVER_ERROR_BODY = {"error": "server_error", "reason": "internal_error"}
REQUESTS = 5


class Context:
    """The part of Lambda's context object the handler reads."""

    def __init__(self, aws_request_id: Any = "request-under-test") -> None:
        self.aws_request_id = aws_request_id


@pytest.fixture(autouse=True)
def _restore_log_level() -> Iterator[None]:
    # Loading a configuration sets the package logger's level; later tests must not inherit it.
    package_logger = logging.getLogger("lambdaone")
    level = package_logger.level
    yield
    package_logger.setLevel(level)


def call(event: Any, context: Any = None) -> dict[str, Any]:
    return handler.handle(event, context if context is not None else Context())


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def counting(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    """Replace ``owner.name`` by a wrapper that counts its calls; returns the (one-item) counter."""
    calls = [0]
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return calls


# --------------------------------------------------------------------------------------------------
# One runtime per configuration
# --------------------------------------------------------------------------------------------------


def test_the_runtime_is_built_once_and_reused(pem_env: Path, issuer_key: KeyPair,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    loads = counting(monkeypatch, settings_module, "load")
    key_sources = counting(monkeypatch, handler, "build_key_source")
    event = events.http_api_v2(events.bearer(issuer_key.token(scope="treasure:read")))
    for _ in range(REQUESTS):
        assert call(event)["statusCode"] == 200
    assert (loads[0], key_sources[0]) == (1, 1)
    assert handler.current_runtime() is handler.current_runtime()


def test_warm_requests_do_not_read_the_key_file_again(pem_env: Path, issuer_key: KeyPair) -> None:
    event = events.http_api_v2(events.bearer(issuer_key.token(scope="treasure:read")))
    assert call(event)["statusCode"] == 200
    pem_env.unlink()
    assert call(event)["statusCode"] == 200


def test_the_runtime_is_rebuilt_when_the_environment_changes(pem_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loads = counting(monkeypatch, settings_module, "load")
    first = handler.current_runtime()
    monkeypatch.setenv("LEEWAY", "5")
    second = handler.current_runtime()
    assert second is not first
    assert (first.settings.leeway, second.settings.leeway) == (30, 5)
    assert handler.current_runtime() is second
    monkeypatch.setenv("REQUIRE", "treasure:write")
    assert handler.current_runtime().settings.required_scopes == ("treasure:write",)
    assert loads[0] == 3


# --------------------------------------------------------------------------------------------------
# Configuration errors: logged once, a generic 500 for every request
# --------------------------------------------------------------------------------------------------

BROKEN_CONFIGURATIONS = {
    "missing-issuer": ({"ISSUER": None}, "ISSUER"),
    "key-file-missing": ({"SIGNATUREKEYPATH": "/nowhere/public.pem"}, "SIGNATUREKEYPATH"),
    "algorithm-does-not-fit-key": ({"ALGORITHMS": "ES256"}, "ALGORITHMS"),
    "both-key-sources": ({"JWKSPATH": "https://issuer.example.test/jwks.json"}, "JWKSPATH/SIGNATUREKEYPATH"),
    "http-jwks": ({"SIGNATUREKEYPATH": None, "JWKSPATH": "http://issuer.example.test/jwks.json"}, "JWKSPATH"),
}


@pytest.mark.parametrize(("changes", "variable"), list(BROKEN_CONFIGURATIONS.values()), ids=list(BROKEN_CONFIGURATIONS))
def test_a_configuration_error_is_logged_once_and_every_request_gets_a_generic_500(
        pem_env: Path, issuer_key: KeyPair, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        changes: dict[str, str | None], variable: str) -> None:
    for name, value in changes.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    token = issuer_key.token(scope="treasure:read")
    for event in [events.http_api_v2(events.bearer(token)), {}] * REQUESTS:
        response = call(event)
        assert response["statusCode"] == 500
        assert json.loads(response["body"]) == SERVER_ERROR_BODY
    lines = log_lines(capsys)
    reports = [line for line in lines if line["message"].startswith("configuration error")]
    assert len(reports) == 1
    assert reports[0]["level"] == "ERROR" and reports[0]["variable"] == variable
    assert "Fix:" in reports[0]["problem"]
    denials = [line for line in lines if line["message"] == "request denied"]
    assert len(denials) == 2 * REQUESTS
    assert {(line["reason"], line["status"], line["level"]) for line in denials} == {("configuration_error", 500, "ERROR")}


def test_fixing_the_configuration_recovers_without_a_restart(pem_env: Path, issuer_key: KeyPair,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALGORITHMS", "HS256")
    event = events.http_api_v2(events.bearer(issuer_key.token(scope="treasure:read")))
    assert call(event)["statusCode"] == 500
    monkeypatch.setenv("ALGORITHMS", "RS256")
    assert call(event)["statusCode"] == 200


def test_without_require_every_request_is_served_and_warned_about_once_per_configuration(
        clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(REQUESTS):
        response = call({})
        assert (response["statusCode"], response["body"]) == (200, "Hello from LambdaOne!")
    clean_env.setenv("LEEWAY", "10")  # another configuration, still without REQUIRE
    for _ in range(REQUESTS):
        assert call(events.http_api_v2(events.bearer("not-even-a-token")))["statusCode"] == 200
    warnings = [line for line in log_lines(capsys) if line["level"] == "WARNING"]
    assert len(warnings) == 2
    assert all("REQUIRE is empty" in line["message"] for line in warnings)


# --------------------------------------------------------------------------------------------------
# Failing closed
# --------------------------------------------------------------------------------------------------


def raise_unexpected(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("unexpected failure quoting secret-input-42")


@pytest.mark.parametrize("broken", ["authorize", "bearer_token", "current_runtime"])
def test_an_unexpected_exception_becomes_a_500_and_never_escapes(
        pem_env: Path, issuer_key: KeyPair, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], broken: str) -> None:
    monkeypatch.setattr(handler, broken, raise_unexpected)
    response = call(events.http_api_v2(events.bearer(issuer_key.token(scope="treasure:read"))))
    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == SERVER_ERROR_BODY
    out = capsys.readouterr().out
    error_line, denial_line = (json.loads(line) for line in out.splitlines())
    assert (error_line["errorType"], error_line["reason"], error_line["level"]) == ("RuntimeError", "internal_error", "ERROR")
    assert (denial_line["reason"], denial_line["status"]) == ("internal_error", 500)
    assert "secret-input-42" not in out and "Traceback" not in out


def test_an_unexpected_error_while_loading_the_configuration_is_a_500(
        pem_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings_module, "load", raise_unexpected)
    for _ in range(2):
        assert json.loads(call({})["body"]) == SERVER_ERROR_BODY


@pytest.mark.parametrize("event", [None, [], "text", 42, {"headers": 7}, {"headers": {"authorization": 7}}],
                         ids=["none", "list", "str", "int", "headers-int", "value-int"])
def test_odd_events_get_a_response_not_an_exception(pem_env: Path, event: Any) -> None:
    assert call(event)["statusCode"] in {400, 401}


# --------------------------------------------------------------------------------------------------
# What the logs carry: never a token, always the request id
# --------------------------------------------------------------------------------------------------


def tokens_to_try(issuer_key: KeyPair, other_key: KeyPair) -> dict[str, tuple[str, int]]:
    return {
        "valid": (issuer_key.token(scope="treasure:read"), 200),
        "wrong-scope": (issuer_key.token(scope="treasure:write"), 403),
        "forged": (other_key.token(scope="treasure:read", header={"kid": issuer_key.kid}), 401),
        "expired": (issuer_key.token(scope="treasure:read", lifetime=-3600), 401),
        "wrong-audience": (issuer_key.token(scope="treasure:read", aud="https://other.example.test"), 401),
    }


def test_tokens_never_appear_in_the_logs_even_at_debug(
        pem_env: Path, issuer_key: KeyPair, other_key: KeyPair, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    caplog.set_level(logging.DEBUG)  # and anything any other logger might write
    attempts = tokens_to_try(issuer_key, other_key)
    for token, status in attempts.values():
        assert call(events.rest_api_v1(events.bearer(token)))["statusCode"] == status
        assert call(events.http_api_v2({"Authorization": f"Bearer {token} {token}"}))["statusCode"] == 400
    captured = capsys.readouterr()
    everything = captured.out + captured.err + caplog.text
    assert '"request allowed"' in captured.out  # DEBUG lines were written: the check below is not vacuous
    assert captured.out.count('"request denied"') == 2 * len(attempts) - 1
    for token, _ in attempts.values():
        header, payload, signature = token.split(".")
        for fragment in (token, payload, signature):
            assert fragment not in everything
        assert signature[:16] not in everything


@pytest.mark.parametrize(("context", "expected"), [(Context("abc-123"), "abc-123"), (Context(12345), ""),
                                                   (object(), "")], ids=["id", "not-text", "no-attribute"])
def test_the_request_id_from_the_context_is_in_the_log_line(pem_env: Path, capsys: pytest.CaptureFixture[str],
                                                            context: Any, expected: str) -> None:
    call({}, context)
    (line,) = log_lines(capsys)
    assert line["requestId"] == expected
    assert line["reason"] == "missing_token"


def test_the_request_id_does_not_outlive_the_request(pem_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    call({}, Context("abc-123"))
    handler.logger.warning("after the request")
    assert [line["requestId"] for line in log_lines(capsys)] == ["abc-123", ""]


def test_a_denial_line_has_reason_status_and_level_info(pem_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    call(events.http_api_v2({"Authorization": "Bearer"}))
    (line,) = log_lines(capsys)
    assert (line["level"], line["message"]) == ("INFO", "request denied")
    assert (line["reason"], line["status"]) == ("malformed_authorization", 400)
