"""Unit tests for ``lambdaone.logs``: one JSON object per line, with the request id, configured once.

The handler writes to whatever ``sys.stdout`` is at the time, so ``capsys`` sees every line.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lambdaone import logs

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """The configured ``lambdaone`` logger at DEBUG; its level is restored afterwards."""
    package_logger = logging.getLogger(logs.LOGGER_NAME)
    level = package_logger.level
    logs.configure(logging.DEBUG)
    yield package_logger.getChild("test_logs")
    package_logger.setLevel(level)


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Every captured stdout line, each parsed as one JSON object."""
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines()]


def stdout_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger(logs.LOGGER_NAME).handlers if isinstance(h, logs._StdoutHandler)]


class RecordCounter(logging.Handler):
    """Counts the records that reach it (stands in for the Lambda runtime's handler on the root logger)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@pytest.fixture
def root_counter() -> Iterator[RecordCounter]:
    counter = RecordCounter()
    root = logging.getLogger()
    root.addHandler(counter)
    yield counter
    root.removeHandler(counter)


# --------------------------------------------------------------------------------------------------
# Line format
# --------------------------------------------------------------------------------------------------


def test_one_json_object_per_line_with_the_documented_fields(logger: logging.Logger,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    logger.info("first")
    logger.warning("second %s", "formatted")
    first, second = lines(capsys)
    assert set(first) == {"timestamp", "level", "logger", "message", "request_id"}
    assert (first["level"], first["message"], first["logger"]) == ("INFO", "first", "lambdaone.test_logs")
    assert (second["level"], second["message"]) == ("WARNING", "second formatted")
    assert first["request_id"] is None
    assert TIMESTAMP.fullmatch(first["timestamp"])


def test_a_message_with_newlines_stays_on_one_line(logger: logging.Logger,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    logger.info("line one\nline two\r\n{\"forged\": true}")
    (entry,) = lines(capsys)
    assert entry["message"] == "line one\nline two\r\n{\"forged\": true}"


def test_fields_are_added_but_never_replace_the_standard_ones(logger: logging.Logger,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    logger.info("denied", extra={"fields": {"reason": "bad_signature", "status": 401, "level": "DEBUG",
                                            "request_id": "forged", "object": object}})
    (entry,) = lines(capsys)
    assert (entry["reason"], entry["status"]) == ("bad_signature", 401)
    assert entry["level"] == "INFO" and entry["request_id"] is None
    assert entry["object"] == str(object)  # anything not JSON is written as text, never an error


def test_the_level_filters_lines(logger: logging.Logger, capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(logging.WARNING)
    logger.info("hidden")
    logger.debug("hidden too")
    logger.error("shown")
    assert [entry["message"] for entry in lines(capsys)] == ["shown"]


def test_exc_info_logs_the_error_type_but_not_its_message(logger: logging.Logger,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    secret = "eyJhbGciOiJSUzI1NiJ9.from-the-request"
    try:
        raise ValueError(f"bad input {secret}")
    except ValueError:
        logger.error("unexpected error", exc_info=True)
    out = capsys.readouterr().out
    (entry,) = [json.loads(line) for line in out.splitlines()]
    assert entry["error_type"] == "ValueError"
    assert secret not in out and "bad input" not in out and "Traceback" not in out


# --------------------------------------------------------------------------------------------------
# Request id
# --------------------------------------------------------------------------------------------------


def test_request_context_sets_and_resets_the_id(logger: logging.Logger,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    logger.info("before")
    with logs.request_context("request-1"):
        logger.info("inside")
        with logs.request_context("request-2"):
            logger.info("nested")
        logger.info("inside again")
    logger.info("after")
    ids = [entry["request_id"] for entry in lines(capsys)]
    assert ids == [None, "request-1", "request-2", "request-1", None]


def test_request_context_resets_the_id_when_the_body_raises(logger: logging.Logger,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RuntimeError), logs.request_context("request-1"):
        raise RuntimeError
    logger.info("after")
    assert lines(capsys)[0]["request_id"] is None


# --------------------------------------------------------------------------------------------------
# Configured once: no duplicate lines on warm invocations
# --------------------------------------------------------------------------------------------------


def test_configure_many_times_keeps_exactly_one_handler(logger: logging.Logger) -> None:
    package_logger = logging.getLogger(logs.LOGGER_NAME)
    before = list(package_logger.handlers)
    for level in [logging.INFO, logging.DEBUG] * 25:
        assert logs.configure(level) is package_logger
    assert package_logger.handlers == before
    assert len(stdout_handlers()) == 1
    assert package_logger.propagate is False


def test_configure_from_scratch_adds_one_handler_and_stops_propagation(monkeypatch: pytest.MonkeyPatch,
                                                                      logger: logging.Logger) -> None:
    package_logger = logging.getLogger(logs.LOGGER_NAME)
    monkeypatch.setattr(package_logger, "handlers", [])
    monkeypatch.setattr(package_logger, "propagate", True)
    for _ in range(10):
        logs.configure(logging.INFO)
    assert len(stdout_handlers()) == 1
    assert isinstance(package_logger.handlers[0].formatter, logs.JsonFormatter)
    assert package_logger.propagate is False


def test_lines_never_reach_the_root_logger(logger: logging.Logger, root_counter: RecordCounter,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    logger.error("only once")
    assert len(lines(capsys)) == 1
    assert root_counter.count == 0  # the Lambda runtime's own handler would print it a second time


WARM_INVOCATIONS = 20


def test_warm_invocations_write_exactly_one_line_each(pem_env: Any, invoke: Callable[[Any], dict[str, Any]],
                                                      logger: logging.Logger, root_counter: RecordCounter,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    invoke({})  # the cold start: builds the runtime
    capsys.readouterr()
    for _ in range(WARM_INVOCATIONS):
        assert invoke({})["statusCode"] == 401
    entries = lines(capsys)
    assert len(entries) == WARM_INVOCATIONS  # one "request denied" line per request, never more
    assert {entry["reason"] for entry in entries} == {"missing_token"}
    assert {entry["request_id"] for entry in entries} == {"test-request-id"}
    assert len(stdout_handlers()) == 1
    assert root_counter.count == 0
