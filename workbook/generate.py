"""Write the learner notebooks (``notebooks/``) from the solutions (``solutions/``), the single source.

    python -m workbook.generate            # (re)write every learner notebook
    python -m workbook.generate 03         # reset one notebook (overwrites the learner's work in it)
    python -m workbook.generate --check    # exit 1, listing the differences, when notebooks/ is stale

In a solution's code cells, the lines from ``### BEGIN SOLUTION`` to ``### END SOLUTION`` become a stub
at the indentation of the BEGIN line; in markdown cells, ``<!-- BEGIN SOLUTION -->`` …
``<!-- END SOLUTION -->`` is removed. Outputs and execution counts are cleared, metadata is trimmed to
what JupyterLab needs, and the JSON is written the same way every time, so a second run changes nothing.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
NOTEBOOKS = ROOT / "notebooks"

STUB = ("# your code here", 'raise NotImplementedError("complete this exercise")')
CODE_BEGIN = "### BEGIN SOLUTION"
CODE_END = "### END SOLUTION"
# A region on lines of its own takes its line break with it; an inline one leaves the text around it alone.
MARKDOWN_REGION = re.compile(r"<!-- BEGIN SOLUTION -->.*?<!-- END SOLUTION -->\n?", re.DOTALL)
# Only these survive in a learner notebook: the rest (execution timings, widget state, the exact
# Python version) varies between machines and would make the generated files differ for nothing.
KEPT_CELL_METADATA = ("tags",)
# The workbook's own notebook metadata (``{"workbook": {"optional": true}}``) survives too: make check and the
# grader read it.
KEPT_NOTEBOOK_METADATA = ("workbook",)
OPTIONAL_IN_TITLE = "(optional)"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python"}


class GenerationError(ValueError):
    """A solution notebook's markers are inconsistent; the message names the notebook and the cell."""


@dataclass(frozen=True)
class Difference:
    """One way in which notebooks/ is not what the generator would write."""

    name: str
    problem: str

    def __str__(self) -> str:
        return f"notebooks/{self.name}: {self.problem}"


def stub_code(source: str) -> str:
    """``source`` with each solution region replaced by the stub, indented like its BEGIN line."""
    lines = source.split("\n")
    result: list[str] = []
    indent: str | None = None  # the BEGIN line's indentation while inside a region
    for number, line in enumerate(lines, start=1):
        marker = line.strip()
        if marker == CODE_BEGIN:
            if indent is not None:
                raise GenerationError(f"line {number}: {CODE_BEGIN} inside another solution region")
            indent = line[: len(line) - len(line.lstrip())]
            result.extend(indent + stub for stub in STUB)
        elif marker == CODE_END:
            if indent is None:
                raise GenerationError(f"line {number}: {CODE_END} without {CODE_BEGIN}")
            indent = None
        elif indent is None:
            result.append(line)
    if indent is not None:
        raise GenerationError(f"{CODE_BEGIN} is never closed by {CODE_END}")
    return "\n".join(result)


def strip_markdown(source: str) -> str:
    """``source`` without its ``<!-- BEGIN SOLUTION -->`` … ``<!-- END SOLUTION -->`` regions."""
    stripped = MARKDOWN_REGION.sub("", source)
    if "<!-- BEGIN SOLUTION -->" in stripped or "<!-- END SOLUTION -->" in stripped:
        raise GenerationError("a markdown solution marker has no partner")
    return stripped


def learner_cell(cell: dict[str, Any]) -> dict[str, Any]:
    """The learner's version of one solution cell."""
    cell = copy.deepcopy(cell)
    metadata = cell.get("metadata", {})
    cell["metadata"] = {key: metadata[key] for key in KEPT_CELL_METADATA if metadata.get(key)}
    if cell["cell_type"] == "code":
        cell["source"] = stub_code(cell["source"])
        cell["outputs"] = []
        cell["execution_count"] = None
    elif cell["cell_type"] == "markdown":
        cell["source"] = strip_markdown(cell["source"])
    return cell


def learner_notebook(solution: nbformat.NotebookNode, name: str = "") -> nbformat.NotebookNode:
    """The learner's version of a whole solution notebook."""
    cells = []
    for index, cell in enumerate(solution.cells):
        try:
            cells.append(learner_cell(cell))
        except GenerationError as error:
            raise GenerationError(f"solutions/{name} cell {index} ({cell['cell_type']}): {error}") from None
    notebook = nbformat.v4.new_notebook(cells=[nbformat.from_dict(cell) for cell in cells])
    metadata = {"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO}
    metadata.update({key: solution.metadata[key] for key in KEPT_NOTEBOOK_METADATA if key in solution.metadata})
    notebook.metadata = nbformat.from_dict(metadata)
    notebook.nbformat, notebook.nbformat_minor = 4, max(solution.get("nbformat_minor", 5), 5)
    nbformat.validate(notebook)
    return notebook


def render(notebook: nbformat.NotebookNode) -> str:
    """The exact text written to disk (nbformat's own layout, one trailing newline)."""
    return nbformat.writes(notebook).rstrip("\n") + "\n"


def solution_paths(names: Iterable[str] = ()) -> list[Path]:
    """The solution notebooks, all of them or those whose names start with one of ``names`` (``03``)."""
    return select_notebooks(SOLUTIONS, names)


def select_notebooks(folder: Path, names: Iterable[str] = ()) -> list[Path]:
    """The ``NN_*.ipynb`` notebooks of ``folder``, all or those whose names start with one of ``names``.

    A name is a number (``3`` or ``03``), a name prefix (``03_pem``), or several of them separated by commas
    (``3,5``), as ``make check NB=3,5`` passes them.
    """
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    wanted = [normalised_name(part) for name in names for part in name.split(",") if part.strip()]
    if not wanted:
        return paths
    chosen = [path for path in paths if any(path.stem.startswith(prefix) for prefix in wanted)]
    unknown = [prefix for prefix in wanted if not any(path.stem.startswith(prefix) for path in paths)]
    if unknown:
        raise SystemExit(f"No notebook in {folder.name}/ matches {', '.join(unknown)}. "
                         f"Try one of: {', '.join(path.stem[:2] for path in paths)}")
    return chosen


def normalised_name(name: str) -> str:
    """``3`` -> ``03`` (notebook numbers have two digits); other names lose only a trailing ``.ipynb``."""
    name = name.strip().removesuffix(".ipynb")
    return name.zfill(2) if name.isdigit() and len(name) < 2 else name


def is_optional(notebook: nbformat.NotebookNode) -> bool:
    """Whether a notebook is optional: ``{"workbook": {"optional": true}}`` in its metadata, or "(optional)" in
    its title (the first heading of its first markdown cell). Optional notebooks never fail ``make check``."""
    marker = notebook.get("metadata", {}).get("workbook", {})
    if isinstance(marker, dict) and "optional" in marker:
        return marker["optional"] is True
    return OPTIONAL_IN_TITLE in title(notebook).lower()


def title(notebook: nbformat.NotebookNode) -> str:
    """The first heading line of the notebook's first markdown cell, without its ``#`` marks ("" when none)."""
    for cell in notebook.cells:
        if cell.get("cell_type") == "markdown":
            return next((line.lstrip("#").strip() for line in cell.get("source", "").splitlines()
                         if line.startswith("#")), "")
    return ""


def expected_notebooks(paths: Iterable[Path]) -> dict[str, str]:
    """File name → text of the learner notebook that each solution produces."""
    return {path.name: render(learner_notebook(nbformat.read(path, as_version=4), path.name)) for path in paths}


def write(names: Iterable[str] = ()) -> list[str]:
    """Write learner notebooks (all, or those named) and remove orphans; return what changed."""
    names = list(names)
    expected = expected_notebooks(solution_paths(names))
    NOTEBOOKS.mkdir(exist_ok=True)
    changed = []
    for name, text in expected.items():
        target = NOTEBOOKS / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            changed.append(f"wrote notebooks/{name}")
    if not names:  # a full run also removes learner notebooks whose solution is gone
        for orphan in sorted(set(_learner_names()) - set(expected)):
            (NOTEBOOKS / orphan).unlink()
            changed.append(f"removed notebooks/{orphan} (no solution)")
    return changed


def differences() -> list[Difference]:
    """Every way notebooks/ differs from what ``write()`` would produce (empty when it is up to date)."""
    expected = expected_notebooks(solution_paths())
    found: list[Difference] = []
    for name, text in expected.items():
        target = NOTEBOOKS / name
        if not target.exists():
            found.append(Difference(name, "missing"))
            continue
        actual = target.read_text(encoding="utf-8")
        if actual == text:
            continue
        if _has_outputs(actual):
            found.append(Difference(name, "holds outputs or execution counts (clear them, or regenerate)"))
        else:
            found.append(Difference(name, "differs from its solution (edit solutions/, then regenerate)"))
    for orphan in sorted(set(_learner_names()) - set(expected)):
        found.append(Difference(orphan, "has no solution in solutions/ (regenerate to remove it)"))
    return found


def _learner_names() -> list[str]:
    return [path.name for path in NOTEBOOKS.glob("*.ipynb")] if NOTEBOOKS.is_dir() else []


def _has_outputs(text: str) -> bool:
    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception:  # an unreadable file is reported as different, not as a crash
        return False
    return any(cell.get("outputs") or cell.get("execution_count") is not None
               for cell in notebook.cells if cell.cell_type == "code")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbook.generate", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="notebook number or name prefix, e.g. 03 (default: all)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if notebooks/ is stale")
    options = parser.parse_args(argv)
    try:
        if options.check:
            return _report_check()
        for line in write(options.names) or ["notebooks/ is already up to date"]:
            print(line)
    except GenerationError as error:
        print(f"cannot generate: {error}", file=sys.stderr)
        return 2
    return 0


def _report_check() -> int:
    found = differences()
    if not found:
        print(f"notebooks/ is up to date ({len(solution_paths())} notebooks)")
        return 0
    print("notebooks/ is not what `python -m workbook.generate` writes:", file=sys.stderr)
    for difference in found:
        print(f"  {difference}", file=sys.stderr)
    print("Fix: run `make notebooks` (or `python -m workbook.generate`) and commit notebooks/.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
