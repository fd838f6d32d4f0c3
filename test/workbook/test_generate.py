"""workbook.generate: stubs, markdown solutions, clean and stable output; and notebooks/ is up to date (CI)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from workbook import generate
from workbook.generate import CODE_BEGIN, CODE_END, GenerationError, strip_markdown, stub_code

STUB_LINES = ["# your code here", 'raise NotImplementedError("complete this exercise")']


def code(source: str, **extra: object) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(source, **extra)


def solution_notebook(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook(cells=list(cells))
    notebook.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                         "language_info": {"name": "python", "version": "3.11.9"}, "widgets": {"state": {}}}
    return notebook


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A solutions/ and notebooks/ pair in a temporary folder, used by the generator instead of the repo's."""
    solutions, notebooks = tmp_path / "solutions", tmp_path / "notebooks"
    solutions.mkdir()
    monkeypatch.setattr(generate, "SOLUTIONS", solutions)
    monkeypatch.setattr(generate, "NOTEBOOKS", notebooks)
    return solutions, notebooks


def write_solution(folder: Path, name: str, *cells: nbformat.NotebookNode) -> Path:
    path = folder / name
    nbformat.write(solution_notebook(*cells), path)
    return path


# --- stubs in code cells ------------------------------------------------------------------------------

def test_a_solution_region_becomes_the_stub_at_the_begin_lines_indentation() -> None:
    source = "\n".join([
        "def add(a, b):",
        '    """Add."""',
        f"    {CODE_BEGIN}",
        "    total = a + b",
        "    return total",
        f"    {CODE_END}",
        "",
        "print('after')",
    ])
    assert stub_code(source).split("\n") == [
        "def add(a, b):", '    """Add."""', *("    " + line for line in STUB_LINES), "", "print('after')"]


def test_regions_at_several_indentations_each_keep_their_own() -> None:
    source = "\n".join([CODE_BEGIN, "x = 1", CODE_END, "class A:", "    def f(self):",
                        f"        {CODE_BEGIN}", "        return 2", f"        {CODE_END}"])
    assert stub_code(source).split("\n") == [
        *STUB_LINES, "class A:", "    def f(self):", *("        " + line for line in STUB_LINES)]


def test_a_cell_without_markers_is_unchanged() -> None:
    source = "import jwt\n\nprint(jwt.__name__)\n"
    assert stub_code(source) == source


@pytest.mark.parametrize(("source", "problem"), [
    (f"{CODE_BEGIN}\nx = 1", "never closed"),
    (f"x = 1\n{CODE_END}", "without"),
    (f"{CODE_BEGIN}\n{CODE_BEGIN}\n{CODE_END}\n{CODE_END}", "inside another"),
])
def test_inconsistent_code_markers_are_refused(source: str, problem: str) -> None:
    with pytest.raises(GenerationError, match=problem):
        stub_code(source)


# --- markdown solutions ----------------------------------------------------------------------------------

def test_markdown_solution_regions_are_removed() -> None:
    source = "Question?\n<!-- BEGIN SOLUTION -->\nThe answer is 42.\n<!-- END SOLUTION -->\nNext.\n"
    assert strip_markdown(source) == "Question?\nNext.\n"
    two = "a <!-- BEGIN SOLUTION -->x<!-- END SOLUTION --> b <!-- BEGIN SOLUTION -->y\n<!-- END SOLUTION -->c"
    assert strip_markdown(two) == "a  b c"


def test_an_unpaired_markdown_marker_is_refused() -> None:
    with pytest.raises(GenerationError, match="no partner"):
        strip_markdown("<!-- BEGIN SOLUTION -->\nanswer")


# --- whole notebooks -------------------------------------------------------------------------------------

def test_outputs_counts_and_metadata_are_cleared_and_tags_kept() -> None:
    cell = code(f"{CODE_BEGIN}\nprint(1)\n{CODE_END}", execution_count=3,
                outputs=[nbformat.v4.new_output("stream", name="stdout", text="1\n")],
                metadata={"tags": ["nbval-ignore-output"], "execution": {"iopub.status.busy": "2024"},
                          "collapsed": False})
    markdown = nbformat.v4.new_markdown_cell("Why?<!-- BEGIN SOLUTION --> Because.<!-- END SOLUTION -->",
                                             metadata={"editable": True})
    learner = generate.learner_notebook(solution_notebook(markdown, cell))
    learner_markdown, learner_code = learner.cells
    assert learner_markdown.source == "Why?" and learner_markdown.metadata == {}
    assert learner_code.source == "\n".join(STUB_LINES)
    assert learner_code.outputs == [] and learner_code.execution_count is None
    assert learner_code.metadata == {"tags": ["nbval-ignore-output"]}
    assert learner_code.id == cell.id  # cell ids are kept: stable output, and cells can be matched up
    assert learner.metadata == {"kernelspec": generate.KERNELSPEC, "language_info": {"name": "python"}}


def test_errors_name_the_notebook_and_the_cell(workspace: tuple[Path, Path]) -> None:
    solutions, _ = workspace
    write_solution(solutions, "01_broken.ipynb", code("x = 1"), code(f"{CODE_BEGIN}\nx = 2"))
    with pytest.raises(GenerationError, match=r"solutions/01_broken.ipynb cell 1 \(code\)"):
        generate.write()
    assert generate.main([]) == 2


def test_writing_twice_changes_nothing(workspace: tuple[Path, Path]) -> None:
    solutions, notebooks = workspace
    write_solution(solutions, "00_a.ipynb", code(f"def f():\n    {CODE_BEGIN}\n    return 1\n    {CODE_END}"))
    write_solution(solutions, "01_b.ipynb", nbformat.v4.new_markdown_cell("# B"))
    assert generate.write() == ["wrote notebooks/00_a.ipynb", "wrote notebooks/01_b.ipynb"]
    first = {path.name: path.read_bytes() for path in notebooks.iterdir()}
    assert generate.write() == []
    assert {path.name: path.read_bytes() for path in notebooks.iterdir()} == first
    text = first["00_a.ipynb"].decode()
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert json.loads(text)["cells"][0]["source"] == ["def f():\n", "    # your code here\n",
                                                      '    raise NotImplementedError("complete this exercise")']


def test_one_notebook_can_be_reset_alone(workspace: tuple[Path, Path]) -> None:
    solutions, notebooks = workspace
    write_solution(solutions, "00_a.ipynb", code("a = 1"))
    write_solution(solutions, "01_b.ipynb", code("b = 1"))
    generate.write()
    (notebooks / "00_a.ipynb").write_text("my work", encoding="utf-8")
    (notebooks / "01_b.ipynb").write_text("my other work", encoding="utf-8")
    assert generate.write(["01"]) == ["wrote notebooks/01_b.ipynb"]
    assert (notebooks / "00_a.ipynb").read_text(encoding="utf-8") == "my work"
    with pytest.raises(SystemExit, match="No notebook in solutions/ matches 07"):
        generate.write(["07"])


def test_learner_notebooks_without_a_solution_are_removed(workspace: tuple[Path, Path]) -> None:
    solutions, notebooks = workspace
    write_solution(solutions, "00_a.ipynb", code("a = 1"))
    notebooks.mkdir()
    (notebooks / "09_gone.ipynb").write_text("{}", encoding="utf-8")
    (notebooks / "lab-notes.md").write_text("kept", encoding="utf-8")
    assert "removed notebooks/09_gone.ipynb (no solution)" in generate.write()
    assert sorted(path.name for path in notebooks.iterdir()) == ["00_a.ipynb", "lab-notes.md"]


def test_check_lists_every_kind_of_difference(workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    solutions, notebooks = workspace
    for name in ("00_ok", "01_outputs", "02_edited", "03_missing"):
        write_solution(solutions, f"{name}.ipynb", code(f"{CODE_BEGIN}\nx = '{name}'\n{CODE_END}"))
    generate.write()
    assert generate.main(["--check"]) == 0
    assert "up to date (4 notebooks)" in capsys.readouterr().out

    executed = nbformat.read(notebooks / "01_outputs.ipynb", as_version=4)
    executed.cells[0].execution_count = 1
    nbformat.write(executed, notebooks / "01_outputs.ipynb")
    edited = nbformat.read(notebooks / "02_edited.ipynb", as_version=4)
    edited.cells[0].source = "x = 'the answer, pasted by hand'"
    nbformat.write(edited, notebooks / "02_edited.ipynb")
    (notebooks / "03_missing.ipynb").unlink()
    (notebooks / "04_orphan.ipynb").write_text("{}", encoding="utf-8")

    assert generate.main(["--check"]) == 1
    report = capsys.readouterr().err
    assert "notebooks/00_ok" not in report
    assert "notebooks/01_outputs.ipynb: holds outputs" in report
    assert "notebooks/02_edited.ipynb: differs from its solution" in report
    assert "notebooks/03_missing.ipynb: missing" in report
    assert "notebooks/04_orphan.ipynb: has no solution" in report
    assert "make notebooks" in report
    assert (notebooks / "04_orphan.ipynb").exists()  # --check changes nothing


# --- the repository itself (what CI relies on) ------------------------------------------------------------

REPO_SOLUTIONS = sorted(generate.SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))


def test_notebooks_folder_is_exactly_what_the_generator_writes() -> None:
    if not REPO_SOLUTIONS:
        pytest.skip("no solution notebooks in solutions/ yet")
    problems = [str(difference) for difference in generate.differences()]
    assert problems == [], "run `make notebooks` and commit notebooks/:\n" + "\n".join(problems)


@pytest.mark.parametrize("solution", REPO_SOLUTIONS, ids=[path.stem for path in REPO_SOLUTIONS])
def test_learner_notebook_has_no_outputs_and_no_solution_left(solution: Path) -> None:
    learner = nbformat.read(generate.NOTEBOOKS / solution.name, as_version=4)
    original = nbformat.read(solution, as_version=4)
    assert [cell.id for cell in learner.cells] == [cell.id for cell in original.cells]
    code_cells = [cell for cell in learner.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code_cells)
    learner_text = "\n".join(cell.source for cell in learner.cells)
    assert "BEGIN SOLUTION" not in learner_text and "END SOLUTION" not in learner_text
    exercises = [(mine, theirs) for mine, theirs in zip(original.cells, learner.cells, strict=True)
                 if mine.cell_type == "code" and CODE_BEGIN in mine.source]
    assert exercises, "every notebook has at least one exercise"
    for mine, theirs in exercises:
        assert 'raise NotImplementedError("complete this exercise")' in theirs.source
        assert theirs.source.count("\n") < mine.source.count("\n"), "the solution region must hold the answer"


# --- choosing notebooks, and optional ones -----------------------------------------------------------------------

def test_notebooks_are_chosen_by_number_with_or_without_the_zero_and_several_at_once(tmp_path: Path) -> None:
    for name in ("00_a", "03_b", "05_c", "11_d"):
        nbformat.write(nbformat.v4.new_notebook(), tmp_path / f"{name}.ipynb")
    chosen = [path.name for path in generate.select_notebooks(tmp_path, ["3"])]
    assert chosen == ["03_b.ipynb"]
    assert [path.name[:2] for path in generate.select_notebooks(tmp_path, ["3,5"])] == ["03", "05"]
    assert [path.name[:2] for path in generate.select_notebooks(tmp_path, ["00", "11_d.ipynb"])] == ["00", "11"]
    assert len(generate.select_notebooks(tmp_path, [])) == 4
    with pytest.raises(SystemExit, match="No notebook in .* matches 04, 07. Try one of: 00, 03, 05, 11"):
        generate.select_notebooks(tmp_path, ["4,3", "7"])


@pytest.mark.parametrize(("metadata", "title", "optional"), [
    ({}, "# 11 · A real identity provider (optional): Auth0", True),
    ({}, "# 03 · Verifying tokens", False),
    ({"workbook": {"optional": True}}, "# 12 · Extra", True),
    ({"workbook": {"optional": False}}, "# 12 · Not (optional) after all", False),
    ({"workbook": {"optional": "yes"}}, "# 12 · A typo is not a yes", False),
])
def test_a_notebook_is_optional_by_its_metadata_or_its_title(metadata: dict, title: str, optional: bool) -> None:
    notebook = nbformat.v4.new_notebook(cells=[code("x = 1"), nbformat.v4.new_markdown_cell(title + "\n\ntext")])
    notebook.metadata.update(metadata)
    assert generate.is_optional(notebook) is optional


def test_a_notebooks_title_is_its_first_markdown_heading() -> None:
    notebook = nbformat.v4.new_notebook(cells=[code("# not a title"), nbformat.v4.new_markdown_cell(
        "Intro\n## 11 · A real IdP (optional)\n# later"), nbformat.v4.new_markdown_cell("# Second")])
    assert generate.title(notebook) == "11 · A real IdP (optional)"
    assert generate.title(nbformat.v4.new_notebook(cells=[code("x = 1")])) == ""


def test_the_workbook_metadata_survives_generation() -> None:
    solution = solution_notebook(code("x = 1"))
    solution.metadata["workbook"] = {"optional": True}
    learner = generate.learner_notebook(solution, "12_x.ipynb")
    assert learner.metadata["workbook"] == {"optional": True}
    assert "widgets" not in learner.metadata


def test_notebook_13_is_the_optional_one() -> None:
    optional = [path.name[:2] for path in generate.select_notebooks(generate.NOTEBOOKS)
                if generate.is_optional(nbformat.read(path, as_version=4))]
    assert optional == ["13"]
