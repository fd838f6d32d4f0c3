"""JSON log lines: one object per line with level, message, logger and the Lambda request id.

Configured once per process on the ``lambdaone`` logger, which does not propagate: the Lambda
runtime's own handler on the root logger never sees (and never duplicates) these lines, and warm
invocations add nothing. Nothing here ever receives a token, a signature or raw headers: callers
log reason codes and short, sanitized facts only.
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


class JsonFormatter(logging.Formatter):
    """One JSON object per record; ``extra={"fields": {...}}`` adds structured facts."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": _request_id.get(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                entry.setdefault(key, value)
        if record.exc_info and record.exc_info[0] is not None:
            entry["error_type"] = record.exc_info[0].__name__  # the type only: messages may quote input
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
