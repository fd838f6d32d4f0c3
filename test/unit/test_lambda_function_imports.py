"""What ``import lambda_function`` loads at cold start, in a fresh interpreter for each case."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
PROBE = "import sys, json, lambda_function; print(json.dumps('lambdaone.authorizer' in sys.modules))"


def authorizer_loaded_at_import(handler_name: str | None) -> bool:
    environment = {k: v for k, v in os.environ.items() if k != "_HANDLER"}
    environment.update(REQUIRE="", PYTHONPATH=str(ROOT))  # authorization off: no key source, no network
    if handler_name is not None:
        environment["_HANDLER"] = handler_name
    completed = subprocess.run([sys.executable, "-c", PROBE], env=environment, cwd=ROOT,  # noqa: S603
                               capture_output=True, text=True, timeout=60, check=True)
    loaded: bool = json.loads(completed.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize(("handler_name", "loaded"), [
    (None, False),
    ("lambda_function.handler", False),
    ("lambda_function.authorizer", True),
])
def test_the_authorizer_adapter_is_imported_only_where_it_is_deployed(handler_name: str | None, loaded: bool) -> None:
    assert authorizer_loaded_at_import(handler_name) is loaded
