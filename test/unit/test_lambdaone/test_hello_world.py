"""Unit tests for ``lambdaone.hello_world``: the one line an authorized caller receives."""

from __future__ import annotations

import os
import platform
import sys

from lambdaone.hello_world import GREETING, hello


def test_the_line() -> None:
    assert hello() == GREETING == "Hello from LambdaOne!"


def test_it_is_one_line_of_printable_text() -> None:
    line = hello()
    assert line.isprintable() and "\n" not in line and line.strip() == line


def test_it_says_nothing_about_the_runtime() -> None:
    # Version strings help an attacker pick exploits; the original template leaked sys.version.
    line = hello()
    details = [sys.version, platform.python_version(), f"{sys.version_info.major}.{sys.version_info.minor}",
               platform.python_implementation(), sys.platform, platform.node(), platform.machine(), os.getcwd()]
    for detail in filter(None, details):  # an empty detail (no hostname) would match anything
        assert detail not in line, detail
    assert "python" not in line.lower()
    assert not any(character.isdigit() for character in line)
