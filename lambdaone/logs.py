"""JSON log lines in the shape of the Lambda Python runtime's own: one object per line.

Every line has the fields the runtime writes with Lambda's advanced logging controls
(``AWS_LAMBDA_LOG_FORMAT=JSON``): ``timestamp`` (RFC 3339, UTC, milliseconds), ``level`` (the
runtime's names: DEBUG, INFO, WARNING, ERROR, CRITICAL), ``message``, ``logger`` and ``requestId``
(``""`` outside an invocation, as the runtime writes it), then the package's own facts
(``reason``, ``status``, ...). So one CloudWatch Logs Insights query and Lambda's log-level filter
treat these lines like the runtime's. The line is the same JSON whatever ``AWS_LAMBDA_LOG_FORMAT``
says: with TEXT only the runtime's own lines change, and Logs Insights still finds these fields.

Configured once per process on the ``lambdaone`` logger, which does not propagate: the Lambda
runtime's own handler on the root logger never sees (and never duplicates) these lines, and warm
invocations add nothing. Nothing here ever receives a token, a signature or raw headers: callers
log reason codes and short, sanitized facts only. A line logged with an exception carries the
runtime's ``errorType`` and ``location`` (where it was logged), never ``errorMessage`` or
``stackTrace``: an exception's message may quote the input.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any, TextIO

LOGGER_NAME = "lambdaone"
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("lambdaone_request_id", default=None)


#: The fields every line starts with, in the runtime's order; a record's ``fields`` never replace them.
STANDARD_FIELDS = ("timestamp", "level", "message", "logger", "requestId")


def level_name(levelno: int) -> str:
    """The ``level`` the Lambda runtime writes for ``levelno``: rounded down to a standard level.

    As ``awslambdaric``'s JSON formatter does, so a custom level (25) is written as ``INFO``, not as
    a name Lambda's log-level filter cannot place.
    """
    return logging.getLevelName(min(logging.CRITICAL, max(logging.NOTSET, levelno)) // 10 * 10)


def timestamp(created: float) -> str:
    """``created`` (seconds since the epoch) as RFC 3339 UTC with milliseconds: ``2026-12-01T09:29:24.234Z``."""
    # From whole milliseconds: ``created - int(created)`` loses one (…364.234 gives 0.23399…).
    seconds, millis = divmod(int(created * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record; ``extra={"fields": {...}}`` adds structured facts."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": timestamp(record.created),
            "level": level_name(record.levelno),
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": _request_id.get() or "",
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["errorType"] = record.exc_info[0].__name__  # the type only: messages may quote input
            entry["location"] = f"{record.pathname}:{record.funcName}:{record.lineno}"
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                entry.setdefault(key, value)
        # ensure_ascii: no raw U+2028 or NEL that a log viewer could take for a line break
        return json.dumps(entry, default=str, separators=(",", ":"))


class _StdoutHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stdout`` is at the time (Lambda's stdout, or a test's capture)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # the stream is always the current sys.stdout


def configure(level: int = logging.INFO) -> logging.Logger:
    """Set up the ``lambdaone`` logger once; later calls only change the level."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(handler, _StdoutHandler) for handler in logger.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
    if logger.level != level:
        logger.setLevel(level)
    return logger


class request_context:  # noqa: N801 (used like a function: ``with request_context(request_id):``)
    """Every line logged inside carries this request id.

    A class rather than ``@contextlib.contextmanager``: it runs on every invocation, and the
    generator machinery cost a few microseconds per request (see bench/run.py).
    """

    __slots__ = ("_request_id", "_token")

    def __init__(self, request_id: str | None) -> None:
        self._request_id = request_id

    def __enter__(self) -> None:
        self._token = _request_id.set(self._request_id)

    def __exit__(self, *exc_info: object) -> None:
        _request_id.reset(self._token)
