"""Check your own notebooks: run them and report, per exercise, whether its check passes.

    python -m workbook.selfcheck 03        # or: make check NB=03 (also NB=3, NB=3,5)
    python -m workbook.selfcheck           # every notebook in notebooks/
    python -m workbook.selfcheck 03 --exercise refuses_forgeries   # exit code for one exercise

Each notebook runs from top to bottom in a fresh kernel (the workbook's ``python3`` kernel, in
``notebooks/``), exactly as "Restart Kernel and Run All Cells" would, without changing the file.
A check cell is a code cell with a ``from workbook.checks import`` line; its exercise is the NAME of
the ``check_NAME`` it calls. For each one this prints its ✅ line, or its ❌ lines with the case that
failed and a hint, then one summary line per notebook (``05 · 1/1 ✅``).

The exit code is 0 when every check of the required notebooks passes. Optional notebooks (11) are
reported apart and never change it. With ``--exercise NAME``, it is 0 only when that exercise passes.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import NoSuchKernel
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from workbook.generate import is_optional, select_notebooks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CHECK_MARKER = "from workbook.checks import"
KERNEL_NAME = "python3"
EXERCISE_CALL = re.compile(r"\bcheck_(\w+)\s*\(")  # nb03.check_refuses_forgeries(...) -> refuses_forgeries
CELL_TIMEOUT_SECONDS = 120
TIMEOUT_ERROR = "CellTimeout"  # the ename given to the output of a cell that ran too long
PASS_MARK, FAIL_MARK = "✅", "❌"


@dataclass
class CheckResult:
    """The outcome of one check cell: ``lines`` are what the learner reads (first line ✅ or ❌)."""

    cell_index: int
    passed: bool
    lines: list[str]
    exercise: str = ""  # the NAME of the check_NAME the cell calls: a stable id for autograding
    heading: str = ""  # the heading of the markdown above the exercise, as JupyterLab shows it

    @property
    def label(self) -> str:
        name = self.exercise or "an unnamed check"
        return f"{name} ({self.heading})" if self.heading else name


@dataclass
class NotebookReport:
    name: str
    checks: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # problems outside check cells, or a run that stopped
    stopped: bool = False  # the run ended early (timeout, dead kernel): later cells never ran
    optional: bool = False  # an optional notebook never fails `make check`

    @property
    def passed(self) -> int:
        return sum(result.passed for result in self.checks)

    @property
    def all_pass(self) -> bool:
        return self.passed == len(self.checks) and not self.stopped

    @property
    def summary(self) -> str:
        """One line: ``05 · 1/1 ✅``."""
        mark = PASS_MARK if self.all_pass and self.checks else FAIL_MARK
        return f"{self.name[:2]} · {self.passed}/{len(self.checks)} {mark}"


@dataclass(frozen=True)
class RunStop:
    """Why a notebook run ended before its last cell, and at which cell (None: not at a cell)."""

    message: str
    cell_index: int | None = None


def is_check_cell(cell: dict[str, Any]) -> bool:
    return cell.get("cell_type") == "code" and any(
        line.lstrip().startswith(CHECK_MARKER) for line in cell.get("source", "").splitlines())


def exercise_name(cell: dict[str, Any]) -> str:
    match = EXERCISE_CALL.search(cell.get("source", ""))
    return match.group(1) if match else ""


def heading_above(cells: list[dict[str, Any]], index: int) -> str:
    """The last markdown heading before cell ``index`` (without its ``#`` marks), "" when there is none."""
    for cell in reversed(cells[:index]):
        if cell.get("cell_type") == "markdown":
            headings = [line.lstrip("#").strip() for line in cell.get("source", "").splitlines()
                        if line.startswith("#")]
            if headings:
                return headings[-1]
    return ""


def exercise_heading(cells: list[dict[str, Any]], check_index: int) -> str:
    """The heading of a check cell's exercise: the last heading above it (the exercise cell has no markdown
    between it and its checks)."""
    return heading_above(cells, check_index)


def cell_label(cells: list[dict[str, Any]], index: int) -> str:
    """How a learner finds a cell in JupyterLab, which shows no cell numbers: its first line and heading."""
    first = next((line.strip() for line in cells[index].get("source", "").splitlines() if line.strip()), "")
    first = first if len(first) <= 60 else first[:59] + "…"
    heading = heading_above(cells, index)
    return f'the cell starting "{first}"' + (f' under "{heading}"' if heading else "")


def timeout_message(timeout: float) -> str:
    return (f"ran longer than {timeout:g} s: look for an endless loop, or a call that waits forever "
            "(a request without a timeout, a server that is never stopped)")


def execute(notebook: nbformat.NotebookNode, cwd: Path, timeout: int = CELL_TIMEOUT_SECONDS,
            env: Mapping[str, str] | None = None) -> RunStop | None:
    """Run every cell in place (errors are kept as outputs); return why the run stopped early, if it did.

    A cell that runs longer than ``timeout`` seconds stops the run; its outputs then end with an error
    named ``CellTimeout`` (instead of the KeyboardInterrupt that stopping the kernel leaves there).
    """
    started: list[int] = []
    client = NotebookClient(notebook, timeout=timeout, kernel_name=KERNEL_NAME, allow_errors=True,
                            resources={"metadata": {"path": str(cwd)}},
                            on_cell_start=lambda cell, cell_index: started.append(cell_index))
    extra: dict[str, Any] = {} if env is None else {"env": dict(env)}
    try:
        # The kernel's own start-up chatter on stderr is not the learner's concern.
        client.execute(stderr=subprocess.DEVNULL, **extra)
    except CellTimeoutError:
        index = started[-1] if started else None
        if index is not None:
            mark_timed_out(notebook.cells[index], timeout)
        where = f"{cell_label(notebook.cells, index)} " if index is not None else "a cell "
        return RunStop(f"{where}{timeout_message(timeout)}; the cells after it did not run", index)
    except DeadKernelError:
        return RunStop("the kernel died while running the notebook (out of memory, or the process exited)",
                       started[-1] if started else None)
    except NoSuchKernel:
        return RunStop(f"there is no {KERNEL_NAME!r} kernel here: run this from the workbook's .venv "
                       "(make check NB=..)")
    return None


def mark_timed_out(cell: dict[str, Any], timeout: float) -> None:
    outputs = [output for output in cell.get("outputs", []) if output.get("output_type") != "error"]
    message = timeout_message(timeout)
    outputs.append(nbformat.from_dict({"output_type": "error", "ename": TIMEOUT_ERROR, "evalue": message,
                                       "traceback": [message]}))
    cell["outputs"] = outputs


def error_of(cell: dict[str, Any]) -> dict[str, Any] | None:
    return next((output for output in cell.get("outputs", []) if output.get("output_type") == "error"), None)


def printed_text(cell: dict[str, Any]) -> str:
    return "".join(output.get("text", "") for output in cell.get("outputs", [])
                   if output.get("output_type") == "stream" and output.get("name") == "stdout")


def check_result(index: int, cell: dict[str, Any], exercise: str = "") -> CheckResult:
    """Read one executed check cell's outcome from its outputs."""
    name = exercise or exercise_name(cell) or "check"
    error = error_of(cell)
    if error is None:
        passes = [line for line in printed_text(cell).splitlines() if line.startswith(PASS_MARK)]
        if passes:
            return CheckResult(index, True, passes, exercise=exercise)
        return CheckResult(index, False, [f"{FAIL_MARK} {name}: the check printed no result (did it run?)"],
                           exercise=exercise)
    if error.get("ename") == "CheckFailed":
        return CheckResult(index, False, list(error.get("traceback") or [error.get("evalue", "")]),
                           exercise=exercise)
    if error.get("ename") == TIMEOUT_ERROR:
        return CheckResult(index, False, [f"{FAIL_MARK} {name}: the check {error.get('evalue', '')}"],
                           exercise=exercise)
    return CheckResult(index, False, [f"{FAIL_MARK} {name}: the check could not run: {describe(error)}",
                                      f"    hint: {hint_for(error)}"], exercise=exercise)


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
    report = NotebookReport(path.name, optional=is_optional(notebook))
    stopped = execute(notebook, path.parent)
    if stopped:
        report.notes.append(stopped.message)
        report.stopped = True
    cells = notebook.cells
    for index, cell in enumerate(cells):
        if is_check_cell(cell):
            result = check_result(index, cell, exercise_name(cell))
            if stopped and (stopped.cell_index is None or index > stopped.cell_index):
                result.lines = [f"{FAIL_MARK} {result.exercise or 'check'}: the check did not run "
                                "(the run stopped before it: see the note below)"]
            result.heading = exercise_heading(cells, index)
            report.checks.append(result)
        elif (error := error_of(cell)) is not None and not _is_incomplete_stub(error) \
                and error.get("ename") != TIMEOUT_ERROR:
            report.notes.append(f"{cell_label(cells, index)} raised {describe(error)}")
    return report


def _is_incomplete_stub(error: dict[str, Any]) -> bool:
    # An exercise left blank raises NotImplementedError; its check already says so.
    return error.get("ename") == "NotImplementedError"


def notebook_paths(names: Iterable[str], folder: Path = NOTEBOOKS) -> list[Path]:
    return select_notebooks(folder, names)


def print_report(report: NotebookReport) -> None:
    print(f"{report.name}" + ("  (optional)" if report.optional else ""))
    for result in report.checks:
        print(f"  exercise {result.label}")
        for line in result.lines:
            print(f"    {line}")
    for note in report.notes:
        print(f"  note: {note}")
    if not report.checks:
        print("  (no checks in this notebook)")
    print(f"  {report.summary}", flush=True)


def print_summary(reports: list[NotebookReport]) -> bool:
    """The per-notebook lines, required first; return whether every required check passes."""
    required = [report for report in reports if not report.optional]
    optional = [report for report in reports if report.optional]
    if required:
        print("\nSummary")
        for report in required:
            print(f"  {report.summary}")
    if optional:
        print("Optional (never fails make check)")
        for report in optional:
            print(f"  {report.summary}")
    checks = sum(len(report.checks) for report in required)
    passed = sum(report.passed for report in required)
    all_pass = all(report.all_pass for report in required)
    verdict = "all pass, well done!" if all_pass else f"keep going: fix the first {FAIL_MARK} above"
    if required:
        print(f"{passed} of {checks} required checks pass in {len(required)} notebook(s): {verdict}")
    else:
        print("only optional notebooks were run: they never fail make check")
    return all_pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbook.selfcheck", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="notebook numbers or name prefixes, e.g. 3 or 03 or 3,5 (default: all)")
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
    all_pass = print_summary(reports)
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
