"""The solution notebooks run under nbval with a hostile Lambda configuration in their kernels' environment.

Each notebook must start from a clean configuration (``workbook.environment.start``) and give the same outputs
whatever the learner's kernel holds: so every kernel this run starts inherits ``workbook.environment.HOSTILE``
(both key sources, values no configuration accepts). The pytest process itself keeps its own environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from workbook.environment import HOSTILE, LambdaEnvironment


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    # nbval starts a notebook's kernel while its first cell is set up: the kernel copies os.environ then.
    hostile = LambdaEnvironment(os.environ)
    hostile.start(HOSTILE)
    try:
        yield
    finally:
        hostile.restore()
