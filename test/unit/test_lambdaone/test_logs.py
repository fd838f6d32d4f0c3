"""Unit tests for ``lambdaone.logs``: one JSON object per line, shaped like the Lambda runtime's, configured once.

The handler writes to whatever ``sys.stdout`` is at the time, so ``capsys`` sees every line. The
field names and level names are written out here from what the Lambda Python runtime
(``awslambdaric``) writes with ``AWS_LAMBDA_LOG_FORMAT=JSON``, not read back from ``logs``.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import sys
import time
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
    assert list(first) == ["timestamp", "level", "message", "logger", "requestId"]  # the runtime's order
    assert (first["level"], first["message"], first["logger"]) == ("INFO", "first", "lambdaone.test_logs")
    assert (second["level"], second["message"]) == ("WARNING", "second formatted")
    assert first["requestId"] == ""  # outside an invocation, as the runtime writes it
    assert TIMESTAMP.fullmatch(first["timestamp"])


# What awslambdaric's JsonFormatter writes: the level rounded down to a standard one, Python's names.
RUNTIME_LEVEL_NAMES = {
    logging.DEBUG: "DEBUG", logging.INFO: "INFO", logging.WARNING: "WARNING", logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL", 15: "DEBUG", 25: "INFO", 39: "WARNING", 45: "ERROR", 55: "CRITICAL",
    100: "CRITICAL", 5: "NOTSET", 0: "NOTSET", -3: "NOTSET",
}


@pytest.mark.parametrize(("levelno", "name"), RUNTIME_LEVEL_NAMES.items())
def test_level_names_are_the_runtimes(levelno: int, name: str) -> None:
    assert logs.level_name(levelno) == name


@pytest.mark.parametrize("levelno", [25, 39, 55])
def test_a_custom_level_is_written_as_the_standard_level_below_it(logger: logging.Logger, levelno: int,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    logger.log(levelno, "custom")
    (entry,) = lines(capsys)
    assert entry["level"] == RUNTIME_LEVEL_NAMES[levelno]


@pytest.mark.parametrize(("created", "written"), [
    (0.0, "1970-01-01T00:00:00.000Z"),
    (1764581364.2349, "2025-12-01T09:29:24.234Z"),
    (1764581364.9999, "2025-12-01T09:29:24.999Z"),  # never rounded up into the next second
    (1764581364.234, "2025-12-01T09:29:24.234Z"),  # 0.234 is not 0.23399... of a second
    (1764581364.001, "2025-12-01T09:29:24.001Z"),
    (4102444799.5, "2099-12-31T23:59:59.500Z"),
])
def test_timestamps_are_rfc3339_utc_with_milliseconds(created: float, written: str) -> None:
    assert logs.timestamp(created) == written


def test_the_timestamp_is_the_records_time_in_utc(logger: logging.Logger, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")  # the machine's zone never leaks into the line
    time.tzset()
    try:
        before = time.time()
        logger.info("now")
        after = time.time()
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    (entry,) = lines(capsys)
    written = datetime.datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp()
    assert before - 0.001 <= written <= after


def test_the_line_is_compact_json_in_the_documented_order() -> None:
    record = logging.LogRecord("lambdaone.handler", logging.INFO, __file__, 1, "request denied", None, None)
    record.created = 1764581364.234
    record.fields = {"reason": "token_expired", "status": 401}
    with logs.request_context("8f5c1f0e"):
        line = logs.JsonFormatter().format(record)
    assert line == ('{"timestamp":"2025-12-01T09:29:24.234Z","level":"INFO","message":"request denied",'
                    '"logger":"lambdaone.handler","requestId":"8f5c1f0e","reason":"token_expired","status":401}')


def test_a_message_with_newlines_stays_on_one_line(logger: logging.Logger,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    logger.info("line one\nline two\r\n{\"forged\": true}")
    (entry,) = lines(capsys)
    assert entry["message"] == "line one\nline two\r\n{\"forged\": true}"


def test_fields_are_added_but_never_replace_the_standard_ones(logger: logging.Logger,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    forged = {name: "forged" for name in ("timestamp", "level", "message", "logger", "requestId", "errorType",
                                          "location")}
    with logs.request_context("real-id"):
        logger.info("denied", extra={"fields": {"reason": "bad_signature", "status": 401, **forged,
                                                "object": object}})
        try:
            raise ValueError
        except ValueError:
            logger.error("failed", exc_info=True, extra={"fields": forged})
    entry, failure = lines(capsys)
    assert (entry["reason"], entry["status"]) == ("bad_signature", 401)
    assert (entry["level"], entry["message"], entry["logger"]) == ("INFO", "denied", "lambdaone.test_logs")
    assert entry["requestId"] == "real-id" and entry["timestamp"] != "forged"
    assert (entry["errorType"], entry["location"]) == ("forged", "forged")  # no exception: only then a field's
    assert (failure["errorType"], failure["requestId"], failure["level"]) == ("ValueError", "real-id", "ERROR")
    assert re.fullmatch(re.escape(__file__) + r":test_fields_are_added_but_never_replace_the_standard_ones:\d+",
                        failure["location"])
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
    assert entry["errorType"] == "ValueError"
    assert "errorMessage" not in entry and "stackTrace" not in entry and "error_type" not in entry
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
    ids = [entry["requestId"] for entry in lines(capsys)]
    assert ids == ["", "request-1", "request-2", "request-1", ""]


def test_request_context_resets_the_id_when_the_body_raises(logger: logging.Logger,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RuntimeError), logs.request_context("request-1"):
        raise RuntimeError
    logger.info("after")
    assert lines(capsys)[0]["requestId"] == ""


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
    assert {entry["requestId"] for entry in entries} == {"test-request-id"}
    assert len(stdout_handlers()) == 1
    assert root_counter.count == 0


# --------------------------------------------------------------------------------------------------
# Both of Lambda's log formats: the package's lines are the same JSON
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("log_format", ["JSON", "TEXT", None], ids=["JSON", "TEXT", "unset"])
def test_the_field_names_are_the_runtimes_in_both_log_formats(pem_env: Any, invoke: Callable[[Any], dict[str, Any]],
                                                              logger: logging.Logger, log_format: str | None,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    if log_format is None:
        monkeypatch.delenv("AWS_LAMBDA_LOG_FORMAT", raising=False)
    else:
        monkeypatch.setenv("AWS_LAMBDA_LOG_FORMAT", log_format)
    invoke({})
    (entry,) = lines(capsys)
    assert list(entry) == ["timestamp", "level", "message", "logger", "requestId", "reason", "status"]
    assert (entry["level"], entry["message"], entry["logger"]) == ("INFO", "request denied", "lambdaone.handler")
    assert (entry["requestId"], entry["reason"], entry["status"]) == ("test-request-id", "missing_token", 401)
    assert TIMESTAMP.fullmatch(entry["timestamp"])
    assert "request_id" not in entry


def test_every_line_of_a_cold_start_has_the_standard_fields(clean_env: pytest.MonkeyPatch,
                                                            invoke: Callable[[Any], dict[str, Any]],
                                                            logger: logging.Logger,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    clean_env.setenv("AWS_LAMBDA_LOG_FORMAT", "JSON")
    clean_env.setenv("REQUIRE", "treasure:read")  # a configuration error: an ERROR line, then a denial
    invoke({})
    entries = lines(capsys)
    assert [entry["level"] for entry in entries] == ["ERROR", "ERROR"]
    for entry in entries:
        assert list(entry)[:5] == list(logs.STANDARD_FIELDS)
        assert entry["requestId"] == "test-request-id"


# --------------------------------------------------------------------------------------------------
# Differential: the Lambda Python runtime's own JSON formatter (awslambdaric) on the same records
# --------------------------------------------------------------------------------------------------

DIFFERENTIAL_LEVELS = [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 60]


@pytest.mark.parametrize("request_id", ["", "c0ffee-1"])
def test_standard_fields_equal_the_lambda_runtimes(request_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime_logs = pytest.importorskip(
        "awslambdaric.lambda_runtime_log_utils",
        reason="awslambdaric is not installed (pip install --no-deps awslambdaric==4.2.2, the version "
               "lambda_build/standin_base.py pins; --no-deps keeps snapshot-restore-py out of the test run)")
    monkeypatch.setattr(logging.Formatter, "converter", time.gmtime)  # as the runtime's _setup_logging does
    for levelno in DIFFERENTIAL_LEVELS:
        records = [logging.LogRecord("lambdaone.handler", levelno, "/var/task/lambdaone/handler.py", 7,
                                     "request %s", ("denied",), None, func="handle") for _ in range(2)]
        records[1].created, records[1].msecs = records[0].created, records[0].msecs
        records[0].aws_request_id = request_id  # what the runtime's LambdaLoggerFilter sets
        theirs = json.loads(runtime_logs.JsonFormatter().format(records[0]))
        with logs.request_context(request_id or None):
            ours = json.loads(logs.JsonFormatter().format(records[1]))
        assert {name: ours[name] for name in ("level", "message", "logger", "requestId")} == \
            {name: theirs[name] for name in ("level", "message", "logger", "requestId")}, levelno
        assert ours["timestamp"][:19] == theirs["timestamp"][:19]  # the runtime's has whole seconds only
        assert theirs["timestamp"].endswith("Z") and ours["timestamp"].endswith("Z")


def test_an_exception_line_matches_the_runtimes_except_for_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime_logs = pytest.importorskip("awslambdaric.lambda_runtime_log_utils",
                                       reason="awslambdaric is not installed (see the test above)")
    monkeypatch.setattr(logging.Formatter, "converter", time.gmtime)
    try:
        raise ValueError("eyJhbGciOiJSUzI1NiJ9.secret-from-the-request")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("lambdaone.handler", logging.ERROR, "/var/task/lambdaone/handler.py", 9,
                               "unexpected error", None, exc_info, func="handle")
    record.aws_request_id = "c0ffee-2"
    with logs.request_context("c0ffee-2"):
        ours = json.loads(logs.JsonFormatter().format(record))
    theirs = json.loads(runtime_logs.JsonFormatter().format(record))
    assert set(theirs) - set(ours) == {"errorMessage", "stackTrace"}  # what the package never writes
    shared = set(ours) - {"timestamp"}  # level, message, logger, requestId, errorType, location
    assert len(shared) == 6
    assert {name: ours[name] for name in shared} == {name: theirs[name] for name in shared}
    assert "secret-from-the-request" in theirs["errorMessage"]  # the runtime would have logged it
    assert "secret-from-the-request" not in json.dumps(ours)
