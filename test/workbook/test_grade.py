"""workbook.grade: a learner's repository graded against its first commit, with the template's own checks.

Each full run builds a throwaway git repository from the current tree, with notebooks 00 and 01 only (two
small notebooks keep each grade to a few seconds); its first commit is the template. The learner's work is
then simulated on top: solutions pasted into the exercise cells, a blank copy, tampered check cells and
checks, fake ✅ lines and monkeypatching in an exercise cell.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import nbformat
import pytest

from workbook import grade
from workbook.grade import ExerciseGrade, GradeError, GradeReport

ROOT = Path(__file__).resolve().parents[2]
KEPT_NOTEBOOKS = ("00_", "01_")
POINTS = grade.POINTS_PER_EXERCISE
EXERCISES = ["00/split_scopes", "01/hello_handler"]


def run_git(repo: Path, *arguments: str) -> str:
    # An identity of its own: a fresh machine has no git user, and merges and commits need one.
    identity = ["-c", "user.name=Workbook test", "-c", "user.email=test@example.invalid"]
    completed = subprocess.run(["git", "-C", str(repo), *identity, *arguments],  # noqa: S603, S607
                               capture_output=True, text=True, check=True)
    return completed.stdout


def project_files() -> list[str]:
    """The project's files as they are now (tracked and new), without the notebooks the tests leave out."""
    listed = run_git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard").splitlines()
    kept = []
    for name in listed:
        folder, _, rest = name.partition("/")
        if folder in {"notebooks", "solutions"} and not rest.startswith(KEPT_NOTEBOOKS):
            continue
        if (ROOT / name).is_file():
            kept.append(name)
    return kept


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository whose only commit is the template (notebooks 00 and 01)."""
    repo = tmp_path_factory.mktemp("template") / "repo"
    for name in project_files():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    run_git(repo.parent, "init", "-q", "-b", "main", str(repo))
    run_git(repo, "add", "-A")
    run_git(repo, "-c", "user.name=Template", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "template")
    return repo


@pytest.fixture
def learner(template: Path, tmp_path: Path) -> Path:
    """A learner's clone of the template."""
    clone = tmp_path / "learner"
    run_git(tmp_path, "clone", "-q", str(template), str(clone))
    return clone


def notebook_path(repo: Path, number: str) -> Path:
    return next((repo / "notebooks").glob(f"{number}_*.ipynb"))


def edit_cells(repo: Path, number: str, edit) -> None:  # noqa: ANN001 (a callable on each cell)
    path = notebook_path(repo, number)
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        edit(cell)
    nbformat.write(notebook, path)


def paste_solutions(repo: Path, number: str) -> None:
    """What a learner who solved the notebook has: each exercise cell holds the solution's code."""
    solution = nbformat.read(next((ROOT / "solutions").glob(f"{number}_*.ipynb")), as_version=4)
    answers = {cell.id: "\n".join(line for line in cell.source.split("\n")
                                   if line.strip() not in {"### BEGIN SOLUTION", "### END SOLUTION"})
               for cell in solution.cells if "### BEGIN SOLUTION" in cell.source and cell.cell_type == "code"}

    def edit(cell: nbformat.NotebookNode) -> None:
        if cell.get("id") in answers:
            cell.source = answers[cell.id]
    edit_cells(repo, number, edit)


def commit(repo: Path, message: str) -> None:
    run_git(repo, "add", "-A")
    run_git(repo, "-c", "user.name=Learner", "-c", "user.email=l@example.invalid", "commit", "-q", "-m", message)


def by_id(report: GradeReport) -> dict[str, ExerciseGrade]:
    return {exercise.id: exercise for exercise in report.exercises}


def quiet(*_: object) -> None:
    """No progress lines in test output."""


# --- full runs (each runs notebooks 00 and 01 once) ------------------------------------------------------------

def test_a_solved_repository_gets_full_marks_and_a_clean_report(learner: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for number in ("00", "01"):
        paste_solutions(learner, number)
    commit(learner, "my answers")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.chdir(learner)
    assert grade.main(["--json", str(tmp_path / "report.json")]) == 0
    data = json.loads((tmp_path / "report.json").read_text())
    assert (data["score"], data["max_score"], data["tampered"], data["changes"]) == (2 * POINTS, 2 * POINTS, False, [])
    assert data["uncommitted"] is False
    assert data["base"] == run_git(learner, "rev-list", "--max-parents=0", "HEAD").strip() != data["head"]
    assert [entry["id"] for entry in data["exercises"]] == EXERCISES
    assert all(entry["result"] == "pass" and entry["check_passed"] for entry in data["exercises"])
    text = summary.read_text()
    assert text.startswith(f"## Grade: {2 * POINTS} / {2 * POINTS} points")
    assert "| 00 | `split_scopes`" in text and f"| ✅ pass | {POINTS} / {POINTS} |" in text
    assert "None: the check cells" in text
    # The Classroom steps read the same report, one exercise each.
    assert grade.main(["--json", str(tmp_path / "report.json"), "--result", "01/hello_handler"]) == 0
    assert grade.main(["--json", str(tmp_path / "report.json"), "--result", "01/nothing"]) == 2


def test_a_blank_repository_scores_zero_with_each_checks_hint(learner: Path) -> None:
    report = grade.grade(learner, progress=quiet)
    grades = by_id(report)
    assert list(grades) == EXERCISES
    for exercise in grades.values():
        assert (exercise.result, exercise.points, exercise.check_passed) == ("fail", 0, False)
        assert exercise.message.startswith("❌ ") and exercise.hint, exercise
    assert report.to_json()["score"] == 0 and not report.changes
    assert "hint" not in grades["00/split_scopes"].hint  # the hint's text, without its label
    assert grades["00/split_scopes"].heading  # named by the heading above the exercise, not a cell number


def test_fake_passes_and_monkeypatching_in_an_exercise_cell_earn_nothing(learner: Path) -> None:
    cheat = "\n".join([
        "import sys, workbook.checking as checking",
        "def split_scopes(text):",
        "    return []",
        "checking.check = lambda title, cases: print('✅ ' + title + ': all 12 cases pass')",
        "class CheckFailed(Exception): pass",
        "sys.modules['workbook.checks.nb00'] = type(sys)('fake')",
        "sys.modules['workbook.checks.nb00'].check_split_scopes = lambda fn: print('✅ split_scopes: all 12 cases pass')",
        "print('✅ split_scopes: all 12 cases pass')",
    ])

    def edit(cell: nbformat.NotebookNode) -> None:
        if "def split_scopes" in cell.source:
            cell.source = cheat
    edit_cells(learner, "00", edit)
    paste_solutions(learner, "01")

    # A changed check cell: it would print a pass line, and the template's check runs instead.
    def tamper_check_cell(cell: nbformat.NotebookNode) -> None:
        if "check_hello_handler" in cell.source:
            cell.source = "print('✅ hello_handler: all 5 cases pass')  # check_hello_handler(handler)"
    edit_cells(learner, "01", tamper_check_cell)
    report = grade.grade(learner, progress=quiet)
    grades = by_id(report)
    cheated = grades["00/split_scopes"]
    assert (cheated.result, cheated.points, cheated.check_passed) == ("fail", 0, False)
    assert any("sys.modules" in note for note in cheated.notes) and any("✅" in note for note in cheated.notes)
    tampered = grades["01/hello_handler"]
    assert (tampered.result, tampered.points) == ("tampered", 0)
    assert tampered.check_passed is True  # the template's check passed the pasted solution; the change still zeroes it
    assert "the template's check passes on the learner's cell" in tampered.message
    assert report.uncommitted  # graded from the working tree, and the report says so
    assert [(change.path, change.change) for change in report.changes] == [
        (f"notebooks/{notebook_path(learner, '01').name}", "check cell changed (hello_handler)")]
    assert "⚠️ tampered" in grade.markdown(report)


def test_a_changed_checks_module_is_reported_and_zeroes_that_notebook_only(learner: Path) -> None:
    for number in ("00", "01"):
        paste_solutions(learner, number)
    checks = learner / "workbook" / "checks" / "nb01.py"
    checks.write_text(checks.read_text() + "\n\ndef check_hello_handler(handler):\n    print('✅ all pass')\n")
    commit(learner, "make 01 easy")
    report = grade.grade(learner, progress=quiet)
    grades = by_id(report)
    assert (grades["00/split_scopes"].result, grades["00/split_scopes"].points) == ("pass", POINTS)
    assert (grades["01/hello_handler"].result, grades["01/hello_handler"].points) == ("tampered", 0)
    assert [(change.path, change.change, change.exercises) for change in report.changes] == [
        ("workbook/checks/nb01.py", "changed", ["01/hello_handler"])]
    assert report.to_json()["tampered"] is True


# --- pure parts ---------------------------------------------------------------------------------------------------

def sample_report() -> GradeReport:
    report = GradeReport("a" * 40, "b" * 40, exercises=[
        ExerciseGrade("03", "03_x.ipynb", "accepts_valid_token", "Exercise: verify", result="pass", points=POINTS),
        ExerciseGrade("03", "03_x.ipynb", "refuses_forgeries", result="fail", message="❌ refuses: case a|b failed",
                      hint="require exp"),
        ExerciseGrade("04", "04_y.ipynb", "granted_scopes", result="pass", points=POINTS),
        ExerciseGrade("11", "11_z.ipynb", "lambda_env", optional=True, result="pass", points=POINTS),
    ])
    return report


@pytest.mark.parametrize(("path", "zeroed"), [
    ("workbook/checks/nb03.py", ["03/accepts_valid_token", "03/refuses_forgeries"]),
    ("workbook/checking.py", ["03/accepts_valid_token", "03/refuses_forgeries", "04/granted_scopes", "11/lambda_env"]),
    (".github/workflows/classroom.yml",
     ["03/accepts_valid_token", "03/refuses_forgeries", "04/granted_scopes", "11/lambda_env"]),
])
def test_a_changed_file_zeroes_the_exercises_that_rely_on_it(path: str, zeroed: list[str]) -> None:
    report = sample_report()
    grade.apply_changes(report, {path: "changed"})
    assert [exercise.id for exercise in report.exercises if exercise.result == "tampered"] == zeroed
    assert all(exercise.points == 0 for exercise in report.exercises if exercise.id in zeroed)
    assert all(exercise.points == POINTS for exercise in report.exercises
               if exercise.id not in zeroed and exercise.result == "pass")


def test_the_score_counts_required_exercises_and_reports_optional_ones_apart() -> None:
    data = sample_report().to_json()
    assert (data["score"], data["max_score"]) == (2 * POINTS, 3 * POINTS)
    assert (data["optional_score"], data["optional_max_score"]) == (POINTS, POINTS)
    text = grade.markdown(sample_report())
    assert "### Optional (not in the score)" in text
    assert "| 03 | `refuses_forgeries` | ❌ fail | 0 / 10 | require exp |" in text
    assert "`accepts_valid_token` — Exercise: verify" in text
    assert "case a\\|b" not in text  # hints win over messages; a message's | would be escaped


def test_a_pipe_or_newline_cannot_break_the_markdown_table() -> None:
    assert grade.cell_text("a | b\nc") == "a \\| b c"


def test_a_shallow_clone_or_a_template_without_notebooks_cannot_be_graded(template: Path, tmp_path: Path) -> None:
    shallow = tmp_path / "shallow"
    run_git(tmp_path, "clone", "-q", "--depth", "1", f"file://{template}", str(shallow))
    with pytest.raises(GradeError, match="shallow clone"):
        grade.grade(shallow, progress=quiet)
    bare = tmp_path / "empty"
    run_git(tmp_path, "init", "-q", str(bare))
    (bare / "README.md").write_text("x")
    commit(bare, "no notebooks")
    with pytest.raises(GradeError, match="has no notebooks"):
        grade.grade(bare, progress=quiet)


def test_the_grading_cell_is_code_that_compiles_for_every_exercise_name() -> None:
    source = grade.grading_source("from workbook.checks import nb00\n\nnb00.check_x(f)", "x", "n0nce", ROOT)
    compile(source, "<grading cell>", "exec")
    assert "'n0nce'" in source and repr(str(ROOT / "workbook" / "checks" / "nb00.py")) in source


@pytest.mark.parametrize(("source", "imported"), [
    ("from workbook.checks import nb03\n\nnb03.check_a(f)", {"nb03"}),
    ("from workbook.checks import (nb03,\n    nb04)\nnb03.check_a(f)", {"nb03", "nb04"}),
    ("from workbook.checks import nb03, nb04\nimport workbook.checks.nb05", {"nb03", "nb04", "nb05"}),
])
def test_the_check_modules_a_cell_imports_are_read_before_the_run(source: str, imported: set[str]) -> None:
    modules = grade.check_modules(ROOT, source)
    assert set(modules) == {"workbook.checking", "workbook.checks", *(f"workbook.checks.{name}" for name in imported)}
    path, text = modules["workbook.checks.nb03"]
    assert path.endswith("workbook/checks/nb03.py") and text == (ROOT / "workbook/checks/nb03.py").read_text()


def test_an_outcome_counts_only_with_this_runs_secret() -> None:
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("display_data", data={grade.OUTCOME_MIME: {"nonce": "old", "passed": True}}),
                    nbformat.v4.new_output("stream", name="stdout", text="✅ x: all pass\n")]
    assert grade.outcome_of(cell, "new") is None
    assert grade.outcome_of(cell, "old") == {"nonce": "old", "passed": True}


def rebuilt(learner_notebook: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, list[ExerciseGrade]]:
    template_notebook = nbformat.read(notebook_path(ROOT, "00"), as_version=4)
    notebook, graded = grade.graded_notebook(
        template_notebook, learner_notebook, lambda name, heading: ExerciseGrade("00", "00.ipynb", name, heading),
        "n0nce", ROOT)
    return notebook, [item.grade for item in graded]


def test_the_learners_exercise_cell_is_found_by_id_or_by_what_it_defines_and_nothing_else_is_taken() -> None:
    learner_notebook = nbformat.read(notebook_path(ROOT, "00"), as_version=4)
    exercise = next(cell for cell in learner_notebook.cells if "def split_scopes" in cell.source)
    exercise.source = "def split_scopes(text):\n    return text.split()"
    demo = next(cell for cell in learner_notebook.cells if cell.cell_type == "code" and cell is not exercise)
    demo.source = "import workbook.checking\nworkbook.checking.check = print"  # not an exercise cell: not taken
    notebook, grades = rebuilt(learner_notebook)
    sources = [cell.source for cell in notebook.cells]
    assert exercise.source in sources and demo.source not in sources
    assert len(notebook.cells) == len(nbformat.read(notebook_path(ROOT, "00"), as_version=4).cells)
    assert grades[0].notes == []

    exercise.id = "a-new-id"  # deleted and written again in a new cell: found by the function it defines
    assert exercise.source in [cell.source for cell in rebuilt(learner_notebook)[0].cells]

    exercise.source = "def something_else(text):\n    return []"
    _, grades = rebuilt(learner_notebook)
    assert any("exercise cell not found" in note for note in grades[0].notes)


def test_every_check_cell_becomes_a_grading_cell_with_the_template_source() -> None:
    notebook, grades = rebuilt(nbformat.read(notebook_path(ROOT, "00"), as_version=4))
    grading = [cell.source for cell in notebook.cells if "_lambdaone_grade(" in cell.source]
    assert len(grading) == len(grades) == 1 and grades[0].exercise == "split_scopes"
    assert "nb00.check_split_scopes(split_scopes)" in grading[0] and "'n0nce'" in grading[0]


def test_an_exercise_cell_that_rewrites_the_templates_checks_while_it_runs_is_caught(learner: Path) -> None:
    rewrite = "\n".join([
        "from pathlib import Path",
        "import workbook",
        "def split_scopes(text):",
        "    return []",
        "checks = Path(workbook.__file__).parent / 'checks' / 'nb00.py'",
        "checks.write_text(checks.read_text() + '\\ndef check_split_scopes(fn):\\n    check(\"x\", [])\\n')",
    ])

    def edit(cell: nbformat.NotebookNode) -> None:
        if "def split_scopes" in cell.source:
            cell.source = rewrite
    edit_cells(learner, "00", edit)
    report = grade.grade(learner, names=["00"], progress=quiet)
    (cheated,) = report.exercises
    assert cheated.check_passed is False  # the check came from the sources read before the notebook ran
    assert (cheated.result, cheated.points) == ("tampered", 0)
    assert [(change.path, change.exercises) for change in report.changes] == [
        ("workbook/checks/nb00.py", ["00/split_scopes"])]
    assert "changed while 00_welcome.ipynb ran" in report.changes[0].change
    assert (learner / "workbook" / "checks" / "nb00.py").read_text() == (ROOT / "workbook/checks/nb00.py").read_text()


def test_the_cell_with_the_exercises_id_wins_over_a_scratch_copy_above_it() -> None:
    learner_notebook = nbformat.read(notebook_path(ROOT, "00"), as_version=4)
    index = next(i for i, cell in enumerate(learner_notebook.cells) if "def split_scopes" in cell.source)
    learner_notebook.cells[index].source = "def split_scopes(text):\n    return text.split()  # the answer"
    scratch = nbformat.v4.new_code_cell("def split_scopes(text):\n    return []  # trying things")
    learner_notebook.cells.insert(1, scratch)
    sources = [cell.source for cell in rebuilt(learner_notebook)[0].cells]
    assert learner_notebook.cells[index + 1].source in sources and scratch.source not in sources


def test_the_template_is_the_only_first_commit_or_the_one_named(template: Path, tmp_path: Path) -> None:
    root = run_git(template, "rev-parse", "HEAD").strip()
    assert grade.base_commit(template) == root
    assert grade.base_commit(template, "HEAD") == root
    with pytest.raises(GradeError, match="no-such-ref"):
        grade.base_commit(template, "no-such-ref")
    two = tmp_path / "two-roots"
    run_git(tmp_path, "clone", "-q", str(template), str(two))
    run_git(two, "checkout", "-q", "--orphan", "other")
    commit(two, "a second first commit")
    run_git(two, "merge", "-q", "--allow-unrelated-histories", "-m", "join", "main")
    with pytest.raises(GradeError, match="the history has 2 first commits .*pass the template's commit as BASE"):
        grade.base_commit(two)


def test_the_json_report_has_the_documented_fields() -> None:
    data = sample_report().to_json()
    assert set(data) == {"version", "base", "head", "uncommitted", "score", "max_score", "optional_score",
                         "optional_max_score", "tampered", "changes", "exercises", "notes"}
    assert data["version"] == 1 and data["base"] == "a" * 40 and data["tampered"] is False
    assert set(data["exercises"][0]) == {"id", "notebook", "file", "exercise", "heading", "optional", "result",
                                         "points", "max_points", "message", "hint", "lines", "check_passed", "notes"}
    assert data["exercises"][1]["id"] == "03/refuses_forgeries"


def test_the_markdown_report_reads_exactly_so() -> None:
    report = sample_report()
    report.changes.append(grade.Change("workbook/checks/nb04.py", "changed", ["04/granted_scopes"]))
    report.exercises[2].result, report.exercises[2].points = "tampered", 0
    report.exercises[2].message = "⚠️ granted_scopes: scores 0"
    report.notes.append("08_x.ipynb: a cell ran longer than 120 s")
    report.exercises[1].notes.append("the exercise cell uses 'sys.modules'")
    assert grade.markdown(report) == """## Grade: 10 / 30 points

1 of 3 required exercises pass. Graded against the template commit `aaaaaaaaaaaa` at `bbbbbbbbbbbb`: each \
notebook ran once, with the template's check cells and `workbook/checks`.

### Required

| Notebook | Exercise | Result | Points | Hint |
|---|---|---|---|---|
| 03 | `accepts_valid_token` — Exercise: verify | ✅ pass | 10 / 10 |  |
| 03 | `refuses_forgeries` | ❌ fail | 0 / 10 | require exp |
| 04 | `granted_scopes` | ⚠️ tampered | 0 / 10 | scores 0 |

### Optional (not in the score)

| Notebook | Exercise | Result | Points | Hint |
|---|---|---|---|---|
| 11 | `lambda_env` | ✅ pass | 10 / 10 |  |

### Changes to what grading relies on

- `workbook/checks/nb04.py`: changed; scores 0: `04/granted_scopes`

### Notes

- 08_x.ipynb: a cell ran longer than 120 s
- 03/refuses_forgeries: the exercise cell uses 'sys.modules'
"""


def test_a_classroom_step_reads_its_exercise_from_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "grade-report.json"
    grade.write_reports(sample_report(), path)
    assert grade.result_exit_code(path, "03/accepts_valid_token") == 0
    assert grade.result_exit_code(path, "03/refuses_forgeries") == 1
    assert grade.result_exit_code(path, "03/nothing") == 2
    assert grade.result_exit_code(tmp_path / "missing.json", "03/accepts_valid_token") == 2
    path.write_text("{not json")
    assert grade.result_exit_code(path, "03/accepts_valid_token") == 2
    out = capsys.readouterr().out
    assert "03/refuses_forgeries: fail, 0/10 ❌ refuses: case a|b failed" in out
    assert "03/nothing is not in" in out and "run python -m workbook.grade first" in out


def test_changes_to_relied_on_files_are_found_committed_or_not(learner: Path) -> None:
    (learner / "workbook" / "checks" / "nb00.py").write_text("changed")
    (learner / "workbook" / "checking.py").unlink()
    (learner / "workbook" / "checks" / "nb99.py").write_text("new, untracked")
    (learner / ".github" / "workflows" / "classroom.yml").write_text("name: mine\n")
    commit(learner, "the workflow is mine")
    (learner / "workbook" / "checks" / "extra.py").write_text("untracked")
    (learner / "lambdaone" / "handler.py").write_text("the learner may change the production code")
    base = grade.base_commit(learner)
    assert grade.changed_files(learner, base) == {
        ".github/workflows/classroom.yml": "changed", "workbook/checking.py": "deleted",
        "workbook/checks/nb00.py": "changed", "workbook/checks/nb99.py": "added", "workbook/checks/extra.py": "added"}


@pytest.mark.parametrize(("name", "kind", "linkname"), [
    ("/etc/passwd", tarfile.REGTYPE, ""),
    ("../outside.py", tarfile.REGTYPE, ""),
    ("workbook/../../outside.py", tarfile.REGTYPE, ""),
    ("link", tarfile.SYMTYPE, "/etc/passwd"),
    ("link", tarfile.SYMTYPE, "../../outside"),
    ("hard", tarfile.LNKTYPE, "workbook/grade.py"),
    ("device", tarfile.CHRTYPE, ""),
])
def test_a_template_member_that_could_escape_is_refused_without_extraction_filters(
        name: str, kind: bytes, linkname: str) -> None:
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, linkname
    with pytest.raises(GradeError, match="unsafe path|link or special file"):
        grade._refuse_unsafe_member(member)


@pytest.mark.parametrize(("name", "kind", "linkname"), [
    ("workbook/grade.py", tarfile.REGTYPE, ""),
    ("workbook", tarfile.DIRTYPE, ""),
    ("figures/link.svg", tarfile.SYMTYPE, "token-parts.svg"),
])
def test_a_plain_template_member_is_extracted_without_extraction_filters(name: str, kind: bytes, linkname: str) -> None:
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, linkname
    grade._refuse_unsafe_member(member)  # no exception
