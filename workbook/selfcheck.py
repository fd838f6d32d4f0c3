"""Check your own notebooks: run them and report, per exercise, whether its check passes.

    python -m workbook.selfcheck 03        # or: make check NB=03
    python -m workbook.selfcheck           # every notebook in notebooks/
    python -m workbook.selfcheck 03 --exercise refuses_forgeries   # exit code for one exercise (autograding)

Each notebook runs from top to bottom in a fresh kernel (the workbook's ``python3`` kernel, in
``notebooks/``), exactly as "Restart Kernel and Run All Cells" would, without changing the file.
A check cell is a code cell with a ``from workbook.checks import`` line; for each one this prints
its ✅ line, or its ❌ line with the case that failed. The exit code is 0 only when every check passes;
with ``--exercise NAME`` (the ``check_NAME`` its check cell calls), only when that exercise's check passes.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import NoSuchKernel
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from workbook.generate import select_notebooks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CHECK_MARKER = "from workbook.checks import"
KERNEL_NAME = "python3"
EXERCISE_CALL = re.compile(r"\bcheck_(\w+)\s*\(")  # nb03.check_refuses_forgeries(...) -> refuses_forgeries
CELL_TIMEOUT_SECONDS = 120


@dataclass
class CheckResult:
    """The outcome of one check cell: ``lines`` are what the learner reads (first line ✅ or ❌)."""

    cell_index: int
    passed: bool
    lines: list[str]
    exercise: str = ""  # the NAME of the check_NAME the cell calls: a stable id for autograding


@dataclass
class NotebookReport:
    name: str
    checks: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # problems outside check cells, or a run that stopped
    stopped: bool = False  # the run ended early (timeout, dead kernel): later cells never ran

    @property
    def passed(self) -> int:
        return sum(result.passed for result in self.checks)

    @property
    def all_pass(self) -> bool:
        return self.passed == len(self.checks) and not self.stopped


def is_check_cell(cell: dict[str, Any]) -> bool:
    return cell.get("cell_type") == "code" and any(
        line.lstrip().startswith(CHECK_MARKER) for line in cell.get("source", "").splitlines())


def exercise_name(cell: dict[str, Any]) -> str:
    match = EXERCISE_CALL.search(cell.get("source", ""))
    return match.group(1) if match else ""


def execute(notebook: nbformat.NotebookNode, cwd: Path, timeout: int = CELL_TIMEOUT_SECONDS) -> str | None:
    """Run every cell in place (errors are kept as outputs); return why the run stopped early, if it did."""
    client = NotebookClient(notebook, timeout=timeout, kernel_name=KERNEL_NAME, allow_errors=True,
                            resources={"metadata": {"path": str(cwd)}})
    try:
        # The kernel's own start-up chatter on stderr is not the learner's concern.
        client.execute(stderr=subprocess.DEVNULL)
    except CellTimeoutError:
        return f"a cell ran longer than {timeout} s: look for an endless loop or a call that waits forever"
    except DeadKernelError:
        return "the kernel died while running the notebook (out of memory, or the process exited)"
    except NoSuchKernel:
        return f"there is no {KERNEL_NAME!r} kernel here: run this from the workbook's .venv (make check NB=..)"
    return None


def error_of(cell: dict[str, Any]) -> dict[str, Any] | None:
    return next((output for output in cell.get("outputs", []) if output.get("output_type") == "error"), None)


def printed_text(cell: dict[str, Any]) -> str:
    return "".join(output.get("text", "") for output in cell.get("outputs", [])
                   if output.get("output_type") == "stream" and output.get("name") == "stdout")


def check_result(index: int, cell: dict[str, Any]) -> CheckResult:
    """Read one executed check cell's outcome from its outputs."""
    error = error_of(cell)
    if error is None:
        passes = [line for line in printed_text(cell).splitlines() if line.startswith("✅")]
        if passes:
            return CheckResult(index, True, passes)
        return CheckResult(index, False, [f"❌ cell {index}: the check printed no result (was it run?)"])
    if error.get("ename") == "CheckFailed":
        return CheckResult(index, False, list(error.get("traceback") or [error.get("evalue", "")]))
    return CheckResult(index, False, [f"❌ cell {index}: the check could not run: {describe(error)}",
                                      f"    hint: {hint_for(error)}"])


def describe(error: dict[str, Any]) -> str:
    value = str(error.get("evalue", "")).strip().splitlines()
    return f"{error.get('ename', 'Error')}: {value[0]}" if value else str(error.get("ename", "Error"))


def hint_for(error: dict[str, Any]) -> str:
    if error.get("ename") == "NameError":
        return "a name it needs is not defined: run the exercise cell above it, and check the function's name"
    if error.get("ename") in {"ModuleNotFoundError", "ImportError"}:
        return "the kernel cannot import the workbook: choose the workbook's kernel (the .venv) and retry"
    return "fix the cell that raised it (run the notebook top to bottom to see it)"


def report_for(path: Path) -> NotebookReport:
    notebook = nbformat.read(path, as_version=4)
    report = NotebookReport(path.name)
    stopped = execute(notebook, path.parent)
    if stopped:
        report.notes.append(stopped)
        report.stopped = True
    for index, cell in enumerate(notebook.cells):
        if is_check_cell(cell):
            result = check_result(index, cell)
            result.exercise = exercise_name(cell)
            report.checks.append(result)
        elif (error := error_of(cell)) is not None and not _is_incomplete_stub(error):
            report.notes.append(f"cell {index} raised {describe(error)}")
    return report


def _is_incomplete_stub(error: dict[str, Any]) -> bool:
    # An exercise left blank raises NotImplementedError; its check already says so.
    return error.get("ename") == "NotImplementedError"


def notebook_paths(names: Iterable[str], folder: Path = NOTEBOOKS) -> list[Path]:
    return select_notebooks(folder, names)


def print_report(report: NotebookReport) -> None:
    print(f"{report.name}")
    for result in report.checks:
        for line in result.lines:
            print(f"  {line}")
    for note in report.notes:
        print(f"  note: {note}")
    if not report.checks:
        print("  (no checks in this notebook)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbook.selfcheck", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="notebook number or name prefix, e.g. 03 (default: all)")
    parser.add_argument("--folder", type=Path, default=NOTEBOOKS, help="where the notebooks are (default: notebooks/)")
    parser.add_argument("--exercise", metavar="NAME",
                        help="exit with 0 only when this exercise's check passes (NAME as in check_NAME)")
    options = parser.parse_args(argv)
    paths = notebook_paths(options.names, options.folder)
    if not paths:
        print(f"No notebooks in {options.folder}: run `make notebooks` first.")
        return 1
    reports = []
    for path in paths:
        report = report_for(path)
        print_report(report)
        reports.append(report)
    checks = sum(len(report.checks) for report in reports)
    passed = sum(report.passed for report in reports)
    all_pass = all(report.all_pass for report in reports)
    verdict = "all pass, well done!" if all_pass else "keep going: fix the first ❌ above"
    print(f"\n{passed} of {checks} checks pass in {len(reports)} notebook(s): {verdict}")
    if options.exercise:
        return exercise_exit_code(reports, options.exercise.removeprefix("check_"))
    return 0 if all_pass else 1


def exercise_exit_code(reports: list[NotebookReport], name: str) -> int:
    """0 when the exercise's check passes, 1 when it does not, 2 when no check cell calls check_<name>."""
    results = [result for report in reports for result in report.checks if result.exercise == name]
    if not results:
        known = sorted({result.exercise for report in reports for result in report.checks if result.exercise})
        print(f"No check cell calls check_{name} here; the exercises are: {', '.join(known) or 'none'}")
        return 2
    passed = all(result.passed for result in results)
    print(f"exercise {name}: {'passes' if passed else 'does not pass yet'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
