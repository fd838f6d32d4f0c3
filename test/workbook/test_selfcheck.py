"""workbook.selfcheck: how check cells are found and reported, and one real run in a kernel."""

from __future__ import annotations

import re
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
    result = check_result(7, cell, "refuses_forgeries")
    assert not result.passed
    assert result.lines[0] == ("❌ refuses_forgeries: the check could not run: "
                               "NameError: name 'verify_token' is not defined")
    assert "run the exercise cell above it" in result.lines[1]
    assert not any("Traceback" in line for line in result.lines)


def test_a_check_cell_that_printed_nothing_fails() -> None:
    result = check_result(2, executed("..."), "split_scopes")
    assert not result.passed
    assert result.lines == ["❌ split_scopes: the check printed no result (did it run?)"]
    assert check_result(2, executed("nb00.check_split_scopes(f)")).lines[0].startswith("❌ split_scopes: ")
    assert check_result(2, executed("...")).lines[0].startswith("❌ check: ")  # no name to give


def test_each_result_keeps_its_cell_and_exercise() -> None:
    outcomes = [executed("...", stdout("✅ t: all 1 cases pass\n")), executed("..."),
                executed("...", error("CheckFailed", "❌ t", ["❌ t"])),
                executed("...", error("CellTimeout", "ran longer than 2 s", ["ran longer than 2 s"])),
                executed("...", error("ValueError", "bad", []))]
    results = [check_result(9, cell, "key_cache") for cell in outcomes]
    assert [(result.cell_index, result.exercise) for result in results] == [(9, "key_cache")] * 5
    assert [result.passed for result in results] == [True, False, False, False, False]
    assert results[3].lines == ["❌ key_cache: the check ran longer than 2 s"]
    assert results[4].lines == ["❌ key_cache: the check could not run: ValueError: bad",
                                "    hint: fix the cell that raised it (run the notebook top to bottom to see it)"]


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
    assert re.search(r"✅ split_scopes: all \d+ cases pass", out)  # the count is the battery's business
    assert "❌ split_scopes: the check could not run: NameError" in out
    assert 'note: the cell starting "1 / 0" raised ZeroDivisionError: division by zero' in out
    assert "\n  00 · 1/3 ❌\n" in out
    assert "1 of 3 required checks pass in 1 notebook(s)" in out
    assert "Traceback" not in out and "cell 3" not in out and "cell 4" not in out

    nbformat.write(nbformat.v4.new_notebook(cells=cells[2:3]), tmp_path / "00_try.ipynb")
    assert selfcheck.main(["--folder", str(tmp_path), "0"]) == 0  # NB=0 means 00
    out = capsys.readouterr().out
    assert "Summary\n  00 · 1/1 ✅\n" in out
    assert "1 of 1 required checks pass in 1 notebook(s): all pass" in out


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
    assert "1 of 2 required checks pass in 1 notebook(s)" in out  # the whole report is still printed
    assert "exercise split_scopes: passes" in out


def markdown(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text)


def test_an_exercise_is_named_by_the_heading_above_its_code() -> None:
    cells = [markdown("# 04 · Title\n\n## Exercise 1: the scopes\nWrite it."), executed("def f(): ..."),
             executed("from workbook.checks import nb04\n\nnb04.check_a(f)"),
             executed("from workbook.checks import nb04\n\nnb04.check_b(f)"),
             markdown("Some text, no heading"), executed("print(1)")]
    assert selfcheck.exercise_heading(cells, 2) == "Exercise 1: the scopes"
    assert selfcheck.exercise_heading(cells, 3) == "Exercise 1: the scopes"
    assert selfcheck.cell_label(cells, 5) == 'the cell starting "print(1)" under "Exercise 1: the scopes"'
    assert selfcheck.exercise_heading(cells[1:], 1) == ""


def test_the_summary_line_counts_passes_and_marks_the_notebook() -> None:
    passing = selfcheck.NotebookReport("05_jwks.ipynb", checks=[selfcheck.CheckResult(3, True, ["✅"])])
    failing = selfcheck.NotebookReport("03_x.ipynb", checks=[selfcheck.CheckResult(3, True, ["✅"]),
                                                             selfcheck.CheckResult(4, False, ["❌"])])
    stopped = selfcheck.NotebookReport("07_x.ipynb", checks=[selfcheck.CheckResult(3, True, ["✅"])], stopped=True)
    assert [passing.summary, failing.summary, stopped.summary] == ["05 · 1/1 ✅", "03 · 1/2 ❌", "07 · 1/1 ❌"]
    assert selfcheck.NotebookReport("06_x.ipynb").summary == "06 · 0/0 ❌"  # a notebook without checks is suspect


def test_optional_notebooks_are_reported_apart_and_never_fail(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    required = selfcheck.NotebookReport("00_a.ipynb", checks=[selfcheck.CheckResult(3, True, ["✅"])])
    optional = selfcheck.NotebookReport("11_b.ipynb", checks=[selfcheck.CheckResult(3, False, ["❌"])], optional=True)
    assert selfcheck.print_summary([required, optional]) is True
    out = capsys.readouterr().out
    assert "Summary\n  00 · 1/1 ✅\nOptional (never fails make check)\n  11 · 0/1 ❌\n" in out
    assert "1 of 1 required checks pass in 1 notebook(s): all pass" in out
    assert selfcheck.print_summary([optional]) is True
    assert capsys.readouterr().out == ("Optional (never fails make check)\n  11 · 0/1 ❌\n"
                                       "only optional notebooks were run: they never fail make check\n")
    assert selfcheck.print_summary([required, selfcheck.NotebookReport("01_c.ipynb", checks=[
        selfcheck.CheckResult(3, False, ["❌"])])]) is False
    assert "1 of 2 required checks pass in 2 notebook(s): keep going: fix the first ❌ above" in capsys.readouterr().out


def test_a_cell_that_runs_too_long_is_named_and_later_checks_say_they_did_not_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    cells = [markdown("## Exercise: wait"), executed("import time\ntime.sleep(60)"),
             executed("from workbook.checks import nb00\n\nnb00.check_split_scopes(str.split)")]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), tmp_path / "00_slow.ipynb")
    real_execute = selfcheck.execute
    monkeypatch.setattr(selfcheck, "execute", lambda notebook, cwd: real_execute(notebook, cwd, timeout=2))
    assert selfcheck.main(["--folder", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert 'note: the cell starting "import time" under "Exercise: wait" ran longer than 2 s' in out
    assert "❌ split_scopes: the check did not run (the run stopped before it" in out
    assert "KeyboardInterrupt" not in out and "Traceback" not in out
