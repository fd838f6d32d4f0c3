"""Fixtures for the integration tests: the whole handler against real local servers on loopback."""

from __future__ import annotations

import importlib

import pytest

from lambdaone import handler, jwt_key, settings


@pytest.fixture(scope="module", autouse=True)
def _lambda_imported_without_configuration() -> None:
    """Import ``lambda_function`` once with no configuration set, before any test configures one.

    Importing it runs ``warm_up()``, which may fetch JWKS keys. Doing it here, with an empty
    environment, keeps that side effect out of the tests: each test counts only the requests it
    causes, whichever test happens to run first.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name in settings.VARIABLES:
            patch.delenv(name, raising=False)
        importlib.import_module("lambda_function")
        handler._runtime = None
        jwt_key.clear_caches()
