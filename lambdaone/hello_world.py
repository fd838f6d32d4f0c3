"""The business response: the one line of text an authorized caller receives."""

from __future__ import annotations

GREETING = "Hello from LambdaOne!"


def hello() -> str:
    """The line served to an authorized request (nothing about the runtime leaks into it)."""
    return GREETING
