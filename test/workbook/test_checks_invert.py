"""Every check can fail: on the blank learner notebook each check cell must raise CheckFailed.

Each learner notebook in notebooks/ runs top to bottom in a fresh kernel with errors allowed, as a
learner who has not started would run it. Every check cell must then fail with ``CheckFailed``,
rendered as its own lines (no traceback). The same cells in solutions/ pass: their stored outputs
hold the ✅ line, and nbval (``make test``) proves those outputs are what the cells print today.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from workbook.generate import NOTEBOOKS, SOLUTIONS
from workbook.selfcheck import KERNEL_NAME, error_of, is_check_cell, printed_text

LEARNER_NOTEBOOKS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
CELL_TIMEOUT_SECONDS = 120


def run_blank(path: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_SECONDS, kernel_name=KERNEL_NAME, allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(stderr=subprocess.DEVNULL)
    return notebook


@pytest.fixture(scope="module", params=LEARNER_NOTEBOOKS, ids=[path.stem for path in LEARNER_NOTEBOOKS])
def blank_run(request: pytest.FixtureRequest) -> tuple[Path, nbformat.NotebookNode]:
    """A learner notebook, executed once as it is (blank), shared by the tests below."""
    return request.param, run_blank(request.param)


def check_cell_indexes(notebook: nbformat.NotebookNode) -> list[int]:
    return [index for index, cell in enumerate(notebook.cells) if is_check_cell(cell)]


def test_there_are_learner_notebooks() -> None:
    assert LEARNER_NOTEBOOKS, "notebooks/ is empty: run `make notebooks`"


def test_every_check_cell_fails_on_the_blank_notebook(blank_run: tuple[Path, nbformat.NotebookNode]) -> None:
    path, notebook = blank_run
    indexes = check_cell_indexes(notebook)
    assert indexes, f"{path.name} has no check cell"
    for index in indexes:
        error = error_of(notebook.cells[index])
        assert error is not None, f"{path.name} cell {index}: the check passed on the blank notebook"
        assert error["ename"] == "CheckFailed", (
            f"{path.name} cell {index}: expected CheckFailed, got {error['ename']}: {error['evalue']}")
        lines = error["traceback"]
        assert lines[0].startswith("❌ ") and lines[0].endswith("failed"), lines
        assert not any("Traceback" in line for line in lines), "a failed check shows its lines, not a traceback"


def test_the_blank_notebook_raises_nothing_but_incomplete_exercises(
        blank_run: tuple[Path, nbformat.NotebookNode]) -> None:
    """Demo cells must run before the learner has written anything; only exercises and checks may fail."""
    path, notebook = blank_run
    for index, cell in enumerate(notebook.cells):
        error = error_of(cell) if cell.cell_type == "code" else None
        if error is not None and not is_check_cell(cell):
            assert error["ename"] == "NotImplementedError", (
                f"{path.name} cell {index} raised {error['ename']}: {error['evalue']} on the blank notebook")


def test_the_same_check_cells_pass_in_the_solution(blank_run: tuple[Path, nbformat.NotebookNode]) -> None:
    path, notebook = blank_run
    solution = nbformat.read(SOLUTIONS / path.name, as_version=4)
    assert check_cell_indexes(solution) == check_cell_indexes(notebook)
    for index in check_cell_indexes(solution):
        cell = solution.cells[index]
        assert error_of(cell) is None, f"solutions/{path.name} cell {index} stores an error"
        assert any(line.startswith("✅ ") for line in printed_text(cell).splitlines()), (
            f"solutions/{path.name} cell {index} stores no ✅ line: execute the solution and store its outputs")
