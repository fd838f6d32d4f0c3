"""Unit tests for ``lambda_function``: the entry point AWS calls delegates to ``lambdaone``."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from workbook import events
from workbook.tokens import KeyPair

Invoke = Callable[[Any], dict[str, Any]]
FORMATS = list(events.ALL_FORMATS.values())
FORMAT_IDS = list(events.ALL_FORMATS)


@pytest.fixture
def entry_point(clean_env: pytest.MonkeyPatch) -> ModuleType:
    """``lambda_function``, imported with no configuration set (its import runs ``warm_up``)."""
    return importlib.import_module("lambda_function")


def test_handler_delegates_to_lambdaone(entry_point: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[Any, Any]] = []
    answer = {"statusCode": 200, "headers": {}, "body": "from lambdaone"}

    def handle(event: Any, context: Any) -> dict[str, Any]:
        seen.append((event, context))
        return answer

    monkeypatch.setattr(entry_point, "handle", handle)
    event, context = {"headers": {}}, object()
    assert entry_point.handler(event, context) is answer
    assert seen == [(event, context)]


@pytest.mark.parametrize("build", FORMATS, ids=FORMAT_IDS)
def test_a_valid_token_gets_the_text_line(pem_env: Path, issuer_key: KeyPair, invoke: Invoke,
                                          build: Callable[..., dict[str, Any]]) -> None:
    response = invoke(build(events.bearer(issuer_key.token(scope="treasure:read"))))
    assert response["statusCode"] == 200
    assert response["body"] == "Hello from LambdaOne!"
    assert response["headers"]["Content-Type"].startswith("text/plain")
    assert "WWW-Authenticate" not in response["headers"]


@pytest.mark.parametrize("build", [*FORMATS, lambda headers=None: events.direct_invoke()], ids=[*FORMAT_IDS, "direct"])
def test_no_token_gets_a_401_bearer_challenge(pem_env: Path, invoke: Invoke,
                                              build: Callable[..., dict[str, Any]]) -> None:
    response = invoke(build({"Accept": "*/*"}))
    assert response["statusCode"] == 401
    assert response["headers"]["WWW-Authenticate"] == "Bearer"
    assert json.loads(response["body"]) == {"error": "unauthorized", "reason": "missing_token"}


@pytest.mark.parametrize("build", FORMATS, ids=FORMAT_IDS)
def test_a_token_without_the_required_scope_gets_a_403(pem_env: Path, issuer_key: KeyPair, invoke: Invoke,
                                                       build: Callable[..., dict[str, Any]]) -> None:
    # treasure:readwrite must not satisfy treasure:read: scopes are whole words.
    response = invoke(build(events.bearer(issuer_key.token(scope="treasure:write treasure:readwrite"))))
    assert response["statusCode"] == 403
    assert response["headers"]["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="treasure:read"'
    assert json.loads(response["body"]) == {"error": "insufficient_scope", "reason": "insufficient_scope"}


# --------------------------------------------------------------------------- what the import loads

_ROOT = Path(__file__).resolve().parent.parent.parent
PROBE = "import sys, json, lambda_function; print(json.dumps('lambdaone.authorizer' in sys.modules))"


def authorizer_loaded_at_import(handler_name: str | None) -> bool:
    environment = {k: v for k, v in os.environ.items() if k != "_HANDLER"}
    environment.update(REQUIRE="", PYTHONPATH=str(_ROOT))  # authorization off: no key source, no network
    if handler_name is not None:
        environment["_HANDLER"] = handler_name
    completed = subprocess.run([sys.executable, "-c", PROBE], env=environment, cwd=_ROOT,  # noqa: S603
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
