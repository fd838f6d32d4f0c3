"""Fixtures for the acceptance tests: the target Python, and the issuer's public key as a PEM file."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambda_build.build_zip import DEFAULT_PYTHON
from lambda_build.interpreters import find_python, where_looked
from workbook.tokens import KeyPair

#: The Lambda runtime the zip and the image are built for.
TARGET_PYTHON = DEFAULT_PYTHON


@pytest.fixture(scope="session")
def target_python() -> Path:
    """The real executable of the Lambda runtime's Python; the test is skipped, saying so, without it."""
    interpreter = find_python(TARGET_PYTHON)
    if interpreter is None:
        pytest.skip(f"Python {TARGET_PYTHON} is not installed (looked for {where_looked(TARGET_PYTHON)}): "
                    f"the zip can only be proven in a clean interpreter of the Lambda's version")
    return interpreter


@pytest.fixture(scope="session")
def issuer_public_pem(issuer_key: KeyPair, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The issuer's public key in a PEM file outside the repository (the private key stays in memory)."""
    path = tmp_path_factory.mktemp("keys") / "issuer_public.pem"
    path.write_bytes(issuer_key.public_pem())
    return path
