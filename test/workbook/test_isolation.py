"""Isolation: every notebook starts from a clean Lambda configuration and gives the learner's back at its end.

``workbook.environment`` does the saving, clearing and restoring. The solution notebooks' nbval run (``make test``)
starts every kernel with ``workbook.environment.HOSTILE`` set (``solutions/conftest.py``) and compares the stored
outputs: a notebook that only adds its variables answers 500 there instead of what it stored.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import nbformat
import pytest

from lambdaone import settings
from workbook import environment
from workbook.environment import HOSTILE, LambdaEnvironment
from workbook.generate import SOLUTIONS

SOLUTION_NOTEBOOKS = sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))
# What makes a notebook depend on the Lambda's configuration: it imports the Lambda into its kernel or sets its
# variables there (09 and 10 run the Lambda in a clean interpreter or a container, with an environment of their own).
USES_CONFIGURATION = re.compile(r"^\s*(import lambda_function(?=\s*(#|$))|from lambdaone import handler|os\.environ\[|os\.environ\.update)"
                                r"|settings\.VARIABLES", re.MULTILINE)


def code_cells(path: Path) -> list[str]:
    return [cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]


def test_start_clears_every_variable_and_sets_only_the_notebooks() -> None:
    environ = {"SIGNATUREKEYPATH": "/learner/key.pem", "LEEWAY": "5", "PATH": "/bin"}
    handle = LambdaEnvironment(environ)
    handle.start({"REQUIRE": "treasure:read", "JWKSPATH": "http://127.0.0.1:1/jwks.json"})
    assert environ == {"REQUIRE": "treasure:read", "JWKSPATH": "http://127.0.0.1:1/jwks.json", "PATH": "/bin"}
    assert handle.active


def test_restore_gives_back_the_learners_values_and_unsets_the_notebooks() -> None:
    environ = {"SIGNATUREKEYPATH": "/learner/key.pem", "PATH": "/bin"}
    handle = LambdaEnvironment(environ)
    handle.start({"REQUIRE": "treasure:read"})
    environ["AWS_LAMBDA_LOG_LEVEL"] = "DEBUG"  # a notebook cell may change a variable directly
    handle.restore()
    assert environ == {"SIGNATUREKEYPATH": "/learner/key.pem", "PATH": "/bin"}
    assert not handle.active


def test_a_second_start_keeps_the_first_snapshot() -> None:
    """Running the setup cell again must not save the notebook's own values as the learner's."""
    environ = {"LEEWAY": "5"}
    handle = LambdaEnvironment(environ)
    handle.start({"REQUIRE": "a"})
    handle.start({"REQUIRE": "b", "ISSUER": "https://issuer.example.test/"})
    assert environ == {"REQUIRE": "b", "ISSUER": "https://issuer.example.test/"}
    handle.restore()
    assert environ == {"LEEWAY": "5"}


def test_restore_without_start_changes_nothing() -> None:
    environ = {"LEEWAY": "5"}
    LambdaEnvironment(environ).restore()
    assert environ == {"LEEWAY": "5"}


def test_a_name_the_lambda_does_not_read_is_refused() -> None:
    environ: dict[str, str] = {}
    with pytest.raises(KeyError, match="JWKS_PATH"):
        LambdaEnvironment(environ).start({"JWKS_PATH": "https://typo.example.test/"})
    assert environ == {}


def test_using_restores_even_when_the_block_raises() -> None:
    environ = {"LOG_LEVEL": "DEBUG"}
    with pytest.raises(RuntimeError), LambdaEnvironment(environ).using({"REQUIRE": "a"}):
        assert environ == {"REQUIRE": "a"}
        raise RuntimeError
    assert environ == {"LOG_LEVEL": "DEBUG"}


def test_the_kernel_functions_work_on_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNATUREKEYPATH", "/learner/key.pem")
    monkeypatch.delenv("REQUIRE", raising=False)
    environment.start({"REQUIRE": "treasure:read"})
    try:
        assert os.environ.get("SIGNATUREKEYPATH") is None and os.environ["REQUIRE"] == "treasure:read"
    finally:
        environment.restore()
    assert os.environ["SIGNATUREKEYPATH"] == "/learner/key.pem" and "REQUIRE" not in os.environ


def test_the_hostile_environment_sets_every_variable_both_key_sources_and_none_loads() -> None:
    assert set(HOSTILE) == set(settings.VARIABLES), "a new Lambda variable needs a hostile value too"
    assert HOSTILE["SIGNATUREKEYPATH"] and HOSTILE["JWKSPATH"]
    with pytest.raises(settings.ConfigurationError):
        settings.load(HOSTILE)


def test_the_solutions_nbval_run_starts_kernels_with_the_hostile_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """solutions/conftest.py sets HOSTILE while nbval starts a kernel, and gives the pytest process its own back."""
    monkeypatch.setenv("LEEWAY", "5")
    spec = importlib.util.spec_from_file_location("solutions_conftest", SOLUTIONS / "conftest.py")
    assert spec is not None and spec.loader is not None
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    hook = conftest.pytest_runtest_setup.__wrapped__ if hasattr(conftest.pytest_runtest_setup, "__wrapped__") \
        else conftest.pytest_runtest_setup
    during = hook(None)
    next(during)
    assert {name: os.environ.get(name) for name in HOSTILE} == HOSTILE
    with pytest.raises(StopIteration):
        next(during)
    assert os.environ["LEEWAY"] == "5"
    assert not any(os.environ.get(name) == value for name, value in HOSTILE.items())


@pytest.mark.parametrize("path", SOLUTION_NOTEBOOKS, ids=[path.stem for path in SOLUTION_NOTEBOOKS])
def test_a_notebook_that_uses_the_configuration_starts_clean_and_restores(path: Path) -> None:
    cells = code_cells(path)
    if not any(USES_CONFIGURATION.search(source) for source in cells):
        pytest.skip(f"{path.name} neither runs the Lambda nor sets its variables")
    starts = [index for index, source in enumerate(cells) if "environment.start(" in source]
    assert starts, f"{path.name} uses the Lambda's configuration without environment.start()"
    first_use = next(index for index, source in enumerate(cells) if USES_CONFIGURATION.search(source))
    assert starts[0] <= first_use, f"{path.name}: environment.start() comes after the configuration is first used"
    assert "environment.restore()" in cells[-1], f"{path.name}: its last (cleanup) cell does not restore"
    assert not any("settings.VARIABLES" in source for source in cells), (
        f"{path.name} saves or clears variables by hand: use workbook.environment")
