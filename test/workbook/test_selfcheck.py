"""workbook.selfcheck: how check cells are found and reported, and one real run in a kernel."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from workbook import selfcheck
from workbook.selfcheck import check_result, is_check_cell


def executed(source: str, *outputs: dict) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = [nbformat.from_dict(output) for output in outputs]
    return cell


def stdout(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def error(ename: str, evalue: str, traceback: list[str]) -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": traceback}


def test_check_cells_are_found_by_their_import_line() -> None:
    assert is_check_cell(executed("from workbook.checks import nb03\n\nnb03.check_x(f)"))
    assert is_check_cell(executed("x = 1\n  from workbook.checks import nb03"))
    assert not is_check_cell(executed("from workbook.checking import Case, check"))
    assert not is_check_cell(nbformat.v4.new_markdown_cell("from workbook.checks import nb03"))


def test_a_passing_check_reports_its_line() -> None:
    result = check_result(4, executed("...", stdout("some output\n✅ t: all 3 cases pass\n")))
    assert result.passed and result.lines == ["✅ t: all 3 cases pass"]


def test_a_failed_check_reports_its_own_lines() -> None:
    lines = ['❌ t: case "c" failed', "    expected: 1", "    got: 2"]
    result = check_result(4, executed("...", error("CheckFailed", "\n".join(lines), lines)))
    assert not result.passed and result.lines == lines


def test_a_check_that_could_not_run_says_why_without_a_traceback() -> None:
    cell = executed("...", error("NameError", "name 'verify_token' is not defined",
                                 ["\x1b[31mTraceback (most recent call last)", "  File ..."]))
    result = check_result(7, cell)
    assert not result.passed
    assert result.lines[0] == "❌ cell 7: the check could not run: NameError: name 'verify_token' is not defined"
    assert "run the exercise cell above it" in result.lines[1]
    assert not any("Traceback" in line for line in result.lines)


def test_a_check_cell_that_printed_nothing_fails() -> None:
    assert not check_result(2, executed("...")).passed


def test_unknown_notebook_numbers_are_refused_with_the_choices(tmp_path: Path) -> None:
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "00_a.ipynb")
    with pytest.raises(SystemExit, match="No notebook in .* matches 42. Try one of: 00"):
        selfcheck.notebook_paths(["42"], tmp_path)
    assert selfcheck.notebook_paths(["00"], tmp_path) == [tmp_path / "00_a.ipynb"]


def test_a_real_run_reports_each_check_and_sets_the_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cells = [
        nbformat.v4.new_code_cell("def split_scopes(text):\n    return text.split()"),
        nbformat.v4.new_code_cell("from workbook.checks import nb00\n\nnb00.check_split_scopes(split_scopes)"),
        nbformat.v4.new_code_cell("from workbook.checks import nb00\n\n"
                                  "nb00.check_split_scopes(lambda t: list(dict.fromkeys(t.replace(',', ' ').split())))"),
        nbformat.v4.new_code_cell("from workbook.checks import nb00\n\nnb00.check_split_scopes(undefined_name)"),
        nbformat.v4.new_code_cell("1 / 0"),
    ]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), tmp_path / "00_try.ipynb")
    assert selfcheck.main(["--folder", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "00_try.ipynb" in out
    assert "❌ split_scopes: case \"split_scopes('treasure:read,treasure:write')\" failed" in out
    assert "✅ split_scopes: all 12 cases pass" in out
    assert "❌ cell 3: the check could not run: NameError" in out
    assert "note: cell 4 raised ZeroDivisionError: division by zero" in out
    assert "1 of 3 checks pass in 1 notebook(s)" in out
    assert "Traceback" not in out

    nbformat.write(nbformat.v4.new_notebook(cells=cells[2:3]), tmp_path / "00_try.ipynb")
    assert selfcheck.main(["--folder", str(tmp_path), "00"]) == 0
    assert "1 of 1 checks pass in 1 notebook(s): all pass" in capsys.readouterr().out


def test_a_check_cell_names_its_exercise_by_the_check_it_calls() -> None:
    assert selfcheck.exercise_name(executed("from workbook.checks import nb03\n\nnb03.check_refuses_forgeries(f)")) \
        == "refuses_forgeries"
    assert selfcheck.exercise_name(executed("from workbook.checks import nb03")) == ""


def test_the_exercise_exit_code_follows_that_exercise_alone(capsys: pytest.CaptureFixture[str]) -> None:
    report = selfcheck.NotebookReport("03_x.ipynb", checks=[
        selfcheck.CheckResult(4, True, ["✅ a"], exercise="accepts_valid_token"),
        selfcheck.CheckResult(5, False, ["❌ b"], exercise="refuses_forgeries"),
    ])
    assert selfcheck.exercise_exit_code([report], "accepts_valid_token") == 0
    assert selfcheck.exercise_exit_code([report], "refuses_forgeries") == 1
    assert selfcheck.exercise_exit_code([report], "mint_token") == 2
    out = capsys.readouterr().out
    assert "exercise accepts_valid_token: passes" in out
    assert "exercise refuses_forgeries: does not pass yet" in out
    assert "No check cell calls check_mint_token here; the exercises are: accepts_valid_token, refuses_forgeries" in out


def test_a_real_run_with_an_exercise_exits_on_that_exercise_only(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    cells = [
        nbformat.v4.new_code_cell("from workbook.checks import nb00\n\n"
                                  "nb00.check_split_scopes(lambda t: list(dict.fromkeys(t.replace(',', ' ').split())))"),
        nbformat.v4.new_code_cell("from workbook.checks import nb04\n\nnb04.check_granted_scopes(lambda claims: set())"),
    ]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), tmp_path / "00_try.ipynb")
    assert selfcheck.main(["--folder", str(tmp_path), "00", "--exercise", "check_split_scopes"]) == 0
    out = capsys.readouterr().out
    assert "1 of 2 checks pass in 1 notebook(s)" in out  # the whole report is still printed
    assert "exercise split_scopes: passes" in out
