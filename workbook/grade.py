"""Grade a learner's repository: the learner's exercise cells, checked by the template's own checks.

    python -m workbook.grade                     # or: make grade; the template is the first commit
    python -m workbook.grade --base v1.0 03      # another template commit; only notebook 03
    python -m workbook.grade --repo ../alice     # grade a clone of a learner's repository
    python -m workbook.grade --result 03/refuses_forgeries   # exit 0 when the report gives it points

The template is the repository's first commit (``git rev-list --max-parents=0 HEAD``): the commit the
learner started from. Its files are exported to a temporary folder, and each of its notebooks is rebuilt
there: every cell comes from the template except the exercise cells (those that hold the stub), which come
from the learner's notebook (matched by cell id, else by the function or class they define). Each notebook
then runs once, in a fresh kernel that imports ``workbook`` and ``lambdaone`` from the template. Each check
cell runs the template's check cell with fresh copies of ``workbook/checking.py`` and ``workbook/checks``
loaded from the template's files, and records its own outcome (passed when the check returned, failed when
it raised) as an output tagged with a secret made for this run: what a cell prints is never read.

Anything the grade relies on that changed since the template is reported, and the exercises that rely on
it score 0: a check cell (that exercise), ``workbook/checks/nbNN.py`` (that notebook's exercises), the rest
of ``workbook/checks/``, ``workbook/checking.py``, the grader and the Classroom workflow (every exercise).

The report goes to the terminal, as Markdown to ``$GITHUB_STEP_SUMMARY`` when it is set (the job summary),
and as JSON to ``grade-report.json``. The exit code is 0 when a report was written (whatever the score),
2 when the repository cannot be graded (no template commit, a shallow clone, no notebooks).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import secrets
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from workbook.generate import STUB, is_optional, select_notebooks
from workbook.selfcheck import (
    CELL_TIMEOUT_SECONDS,
    FAIL_MARK,
    PASS_MARK,
    error_of,
    execute,
    exercise_heading,
    exercise_name,
    is_check_cell,
)

REPORT_VERSION = 1
POINTS_PER_EXERCISE = 10
REPORT_FILE = "grade-report.json"
OUTCOME_MIME = "application/vnd.lambdaone.grade+json"
STUB_LINE = STUB[1]  # the line that marks an exercise cell in a learner notebook
CLASSROOM_WORKFLOW = ".github/workflows/classroom.yml"
CHECKS_FOLDER = "workbook/checks/"
NOTEBOOK_CHECKS = re.compile(r"workbook/checks/nb(\d\d)\.py")
# The files the grade relies on: a change to one of them since the template zeroes the exercises it serves.
RELIED_ON = (CHECKS_FOLDER, "workbook/checking.py", "workbook/grade.py", "workbook/selfcheck.py",
             "workbook/generate.py", CLASSROOM_WORKFLOW, "Makefile")
# The template's code, which must not change while its notebooks run in the grading copy.
TEMPLATE_CODE = ("workbook", "lambdaone")
DEFINITION = re.compile(r"^(?:async\s+def|def|class)\s+(\w+)", re.MULTILINE)
# In an exercise cell, these reach for the grading machinery rather than solve the exercise: reported, so an
# instructor reads the cell (the grade does not depend on them; see "What grading cannot see" in the lab guide).
SUSPICIOUS = re.compile(r"sys\.modules|\bbuiltins\b|get_ipython|CheckFailed|workbook\.check|"
                        r"from workbook import check|" + PASS_MARK + r"|_getframe|\bf_back\b|\bf_locals\b|"
                        r"gc\.get_|input_transformers|events\.register|__import__|settrace|setprofile")

PASS, FAIL, NOT_RUN, TAMPERED = "pass", "fail", "not run", "tampered"


class GradeError(RuntimeError):
    """The repository cannot be graded; the message says why and what to do."""


@dataclass
class ExerciseGrade:
    """One graded exercise (one check cell of the template)."""

    notebook: str  # "03"
    file: str  # "03_pem_verification.ipynb"
    exercise: str  # the NAME of check_NAME
    heading: str = ""
    optional: bool = False
    result: str = NOT_RUN  # pass, fail, not run, tampered
    points: int = 0
    max_points: int = POINTS_PER_EXERCISE
    message: str = ""  # the check's first line, or why it did not count
    hint: str = ""  # the failing case's hint
    lines: list[str] = field(default_factory=list)  # everything the check reported
    check_passed: bool | None = None  # the template check's own verdict (None: it produced none)
    notes: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.notebook}/{self.exercise}"


@dataclass
class Change:
    """A file the grade relies on that differs from the template."""

    path: str
    change: str  # "changed", "deleted", "added", "check cell changed", "check cell deleted"
    exercises: list[str] = field(default_factory=list)  # ids that score 0 because of it


@dataclass
class GradeReport:
    base: str
    head: str
    uncommitted: bool = False  # the working tree (what was graded) differs from HEAD
    exercises: list[ExerciseGrade] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def required(self) -> list[ExerciseGrade]:
        return [grade for grade in self.exercises if not grade.optional]

    @property
    def optional(self) -> list[ExerciseGrade]:
        return [grade for grade in self.exercises if grade.optional]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": REPORT_VERSION,
            "base": self.base,
            "head": self.head,
            "uncommitted": self.uncommitted,
            "score": sum(grade.points for grade in self.required),
            "max_score": sum(grade.max_points for grade in self.required),
            "optional_score": sum(grade.points for grade in self.optional),
            "optional_max_score": sum(grade.max_points for grade in self.optional),
            "tampered": bool(self.changes),
            "changes": [asdict(change) for change in self.changes],
            "exercises": [{"id": grade.id, **asdict(grade)} for grade in self.exercises],
            "notes": list(self.notes),
        }


# --- git --------------------------------------------------------------------------------------------------------

def git(repo: Path, *arguments: str, binary: bool = False) -> Any:
    completed = subprocess.run(["git", "-C", str(repo), *arguments],  # noqa: S603, S607 (fixed program)
                               capture_output=True, check=False)
    if completed.returncode != 0:
        message = completed.stderr.decode(errors="replace").strip()
        raise GradeError(f"git {' '.join(arguments)} failed in {repo}: {message}")
    return completed.stdout if binary else completed.stdout.decode()


def repository_root(path: Path) -> Path:
    return Path(git(path, "rev-parse", "--show-toplevel").strip())


def base_commit(repo: Path, ref: str | None = None) -> str:
    """The template commit: ``ref`` when given, else the repository's only first commit."""
    if ref:
        return git(repo, "rev-parse", "--verify", f"{ref}^{{commit}}").strip()
    if git(repo, "rev-parse", "--is-shallow-repository").strip() == "true":
        raise GradeError("this is a shallow clone, so its first commit is missing: fetch the whole history "
                         "(actions/checkout with fetch-depth: 0, or git fetch --unshallow), or pass BASE=<commit>")
    roots = git(repo, "rev-list", "--max-parents=0", "HEAD").split()
    if len(roots) != 1:
        raise GradeError(f"the history has {len(roots)} first commits ({', '.join(root[:7] for root in roots)}): "
                         "pass the template's commit as BASE=<commit>")
    return roots[0]


def export_tree(repo: Path, commit: str, target: Path) -> None:
    """Write the files of ``commit`` to ``target`` (no .git): the template the grade runs in."""
    archive = git(repo, "archive", "--format=tar", commit, binary=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(target, filter="data")
        else:  # Python 3.11 before 3.11.4 (Debian bookworm's 3.11.2) has no extraction filters
            for member in tar.getmembers():
                _refuse_unsafe_member(member)
            tar.extractall(target)  # noqa: S202 (every member was checked just above)


def _refuse_unsafe_member(member: tarfile.TarInfo) -> None:
    """What the "data" filter refuses: absolute or escaping paths, links, devices (a template is plain files)."""
    path = Path(member.name)
    if path.is_absolute() or ".." in path.parts:
        raise GradeError(f"the template holds an unsafe path: {member.name[:80]!r}")
    if not (member.isfile() or member.isdir()) or member.issym() or member.islnk():
        if member.issym() and not Path(member.linkname).is_absolute() and ".." not in Path(member.linkname).parts:
            return
        raise GradeError(f"the template holds a link or special file: {member.name[:80]!r}")


def changed_files(repo: Path, base: str) -> dict[str, str]:
    """Relied-on paths whose working-tree content differs from ``base``: path -> changed / deleted / added."""
    status = git(repo, "diff", "--no-renames", "--name-status", base, "--", *RELIED_ON)
    words = {"M": "changed", "D": "deleted", "A": "added", "T": "changed"}
    found = {}
    for line in status.splitlines():
        code, _, path = line.partition("\t")
        found[path] = words.get(code[:1], "changed")
    untracked = git(repo, "ls-files", "--others", "--exclude-standard", "--", *RELIED_ON)
    for path in untracked.splitlines():
        found.setdefault(path, "added")
    return found


# --- building the graded notebook ---------------------------------------------------------------------------------

def is_exercise_cell(cell: dict[str, Any]) -> bool:
    return cell.get("cell_type") == "code" and STUB_LINE in cell.get("source", "")


def defined_names(source: str) -> set[str]:
    return set(DEFINITION.findall(source))


def learners_cell(learner: nbformat.NotebookNode, template_cell: dict[str, Any],
                  same_kind: Any) -> dict[str, Any] | None:
    """The learner's version of a template cell: the cell with its id, else the first of ``same_kind`` that
    defines the same names (an exercise cell) or calls the same check (a check cell)."""
    cell_id = template_cell.get("id")
    if cell_id:
        for cell in learner.cells:
            if cell.get("id") == cell_id and cell.get("cell_type") == "code":
                return cell
    return next((cell for cell in learner.cells if same_kind(cell)), None)


CHECK_IMPORT = re.compile(r"from[ \t]+workbook\.checks[ \t]+import[ \t]+(\([^)]*\)|[\w \t,]+)"
                          r"|import[ \t]+workbook\.checks\.(\w+)")


def check_modules(template: Path, check_source: str) -> dict[str, tuple[str, str]]:
    """Module name -> (file, source) of ``workbook.checking``, ``workbook.checks`` and the check modules a check
    cell imports, read from the template before any learner code runs."""
    names = []
    for group, single in CHECK_IMPORT.findall(check_source):
        names += [name.strip() for name in (group or single).replace("(", " ").replace(")", " ").split(",")]
    files = {"workbook.checking": template / "workbook" / "checking.py",
             "workbook.checks": template / "workbook" / "checks" / "__init__.py"}
    files.update({f"workbook.checks.{name}": template / "workbook" / "checks" / f"{name}.py"
                  for name in names if name and (template / "workbook" / "checks" / f"{name}.py").is_file()})
    return {name: (str(path), path.read_text(encoding="utf-8")) for name, path in files.items()}


def grading_source(check_source: str, exercise: str, nonce: str, template: Path) -> str:
    """The code that replaces a check cell: the template's check, with fresh check modules, its outcome recorded.

    It is self-contained (an exercise cell that ran before cannot redefine a helper it needs) and builds
    ``workbook.checking`` and the check modules again from the template's sources, read before the notebook ran,
    so whatever an exercise cell did to the imported modules, or to the template's files, is gone.
    """
    modules = check_modules(template, check_source)
    return f'''# The template's check for {exercise}, run by the grader (python -m workbook.grade).
def _lambdaone_grade(check_source, exercise, nonce, modules):
    import sys
    import types

    from IPython.display import display

    def load(name, path, source):
        module = types.ModuleType(name)
        module.__file__ = path
        if name == "workbook.checks":
            module.__path__ = [path.rsplit("/", 1)[0]]
        sys.modules[name] = module
        exec(compile(source, path, "exec"), module.__dict__)
        return module

    for name in [name for name in sys.modules if name == "workbook.checking" or name == "workbook.checks"
                 or name.startswith("workbook.checks.")]:
        del sys.modules[name]
    outcome = {{"nonce": nonce, "exercise": exercise, "passed": False, "lines": []}}
    checking = None
    try:
        checking = load("workbook.checking", *modules.pop("workbook.checking"))
        completed = []
        original_check = checking.check

        def counted_check(*arguments, **keywords):
            result = original_check(*arguments, **keywords)
            completed.append(True)
            return result

        checking.check = counted_check
        package = load("workbook.checks", *modules.pop("workbook.checks"))
        for name, (path, source) in modules.items():
            setattr(package, name.rsplit(".", 1)[1], load(name, path, source))
        exec(compile(check_source, "<check cell>", "exec"), globals())
        outcome["passed"] = bool(completed)
        if not completed:
            outcome["lines"] = ["{FAIL_MARK} " + exercise + ": the check returned without running its cases"]
    except BaseException as error:
        if checking is not None and isinstance(error, checking.CheckFailed):
            outcome["lines"] = list(error.lines)
        else:
            outcome["lines"] = ["{FAIL_MARK} " + exercise + ": the check could not run: "
                                + type(error).__name__ + ": " + str(error).strip().split("\\n")[0]]
    display({{{OUTCOME_MIME!r}: outcome}}, raw=True)
    for line in outcome["lines"]:
        print(line)


_lambdaone_grade({check_source!r}, {exercise!r}, {nonce!r}, {modules!r})
del _lambdaone_grade
'''


@dataclass
class GradedCell:
    index: int
    grade: ExerciseGrade


def graded_notebook(template_notebook: nbformat.NotebookNode, learner: nbformat.NotebookNode | None,
                    grade_of: Any, nonce: str, template: Path) -> tuple[nbformat.NotebookNode, list[GradedCell]]:
    """The notebook that is run: the template's cells, the learner's exercise cells, grading check cells."""
    notebook = nbformat.from_dict(json.loads(json.dumps(template_notebook)))
    cells = notebook.cells
    exercise_notes: dict[int, list[str]] = {}  # exercise cell index -> what its checks should report
    for index, cell in enumerate(cells):
        if is_exercise_cell(cell):
            exercise_notes[index] = substitute_exercise(cell, learner)
    graded: list[GradedCell] = []
    for index, cell in enumerate(cells):
        if not is_check_cell(cell):
            continue
        exercise = exercise_name(cell)
        grade = grade_of(exercise, exercise_heading(cells, index))
        above = [position for position in exercise_notes if position < index]
        if above:
            grade.notes.extend(exercise_notes[above[-1]])
        if learner is not None:
            mine = learners_cell(learner, cell, lambda other, exercise=exercise: is_check_cell(other)
                                 and exercise_name(other) == exercise)
            if mine is None:
                grade.notes.append("check cell deleted")
            elif mine.source.strip() != cell.source.strip():
                grade.notes.append("check cell changed")
        cell.source = grading_source(cell.source, exercise, nonce, template)
        graded.append(GradedCell(index, grade))
    return notebook, graded


def substitute_exercise(cell: dict[str, Any], learner: nbformat.NotebookNode | None) -> list[str]:
    """Put the learner's version of a template exercise cell in its place; return what is worth reporting."""
    if learner is None:
        return []
    names = defined_names(cell["source"])
    mine = learners_cell(learner, cell, lambda other: other.get("cell_type") == "code" and not is_check_cell(other)
                         and bool(names & defined_names(other.get("source", ""))))
    if mine is None:
        return ["exercise cell not found in the learner's notebook (deleted, or both its cell id and its "
                "function's name changed): the blank stub was graded"]
    cell["source"] = mine.source
    return [f"the exercise cell uses {name!r}, which reaches for the grading machinery: read it"
            for name in sorted(set(SUSPICIOUS.findall(mine.source)))]


def outcome_of(cell: dict[str, Any], nonce: str) -> dict[str, Any] | None:
    """The outcome the grading cell recorded for this run, or None when it recorded none."""
    for output in cell.get("outputs", []):
        data = output.get("data", {}) if output.get("output_type") == "display_data" else {}
        outcome = data.get(OUTCOME_MIME)
        if isinstance(outcome, dict) and outcome.get("nonce") == nonce:
            return outcome
    return None


def hint_in(lines: Sequence[str]) -> str:
    return next((line.strip().removeprefix("hint:").strip() for line in lines if line.strip().startswith("hint:")),
                "")


# --- grading ------------------------------------------------------------------------------------------------------

def grade(repo: Path, base: str | None = None, names: Iterable[str] = (),
          timeout: int = CELL_TIMEOUT_SECONDS, progress: Any = print) -> GradeReport:
    """Grade the learner's repository ``repo`` against its template commit."""
    repo = repository_root(repo)
    base_sha = base_commit(repo, base)
    head = git(repo, "rev-parse", "HEAD").strip()
    report = GradeReport(base_sha, head, uncommitted=bool(git(repo, "status", "--porcelain", "--untracked-files=no")))
    with tempfile.TemporaryDirectory(prefix="lambdaone-grade-") as folder:
        template = Path(folder) / "template"
        template.mkdir()
        export_tree(repo, base_sha, template)
        if not (template / "notebooks").is_dir() or not select_notebooks(template / "notebooks"):
            raise GradeError(f"the template commit {base_sha[:7]} has no notebooks/NN_*.ipynb: is it the template "
                             "the learner started from? Pass its commit as BASE=<commit> (BASE=HEAD grades "
                             "against the current commit)")
        nonce = secrets.token_hex(16)
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(template), *filter(None, [os.environ.get("PYTHONPATH")])])}
        for path in select_notebooks(template / "notebooks", names):
            progress(f"grading {path.name} …")
            report.exercises.extend(grade_notebook(repo, template, path, nonce, environment, timeout, report))
    apply_changes(report, changed_files(repo, base_sha))
    return report


def grade_notebook(repo: Path, template: Path, path: Path, nonce: str, environment: dict[str, str],
                   timeout: int, report: GradeReport) -> list[ExerciseGrade]:
    template_notebook = nbformat.read(path, as_version=4)
    optional = is_optional(template_notebook)
    learner_path = repo / "notebooks" / path.name
    learner = None
    try:
        learner = nbformat.read(learner_path, as_version=4)
    except FileNotFoundError:
        report.notes.append(f"notebooks/{path.name} is missing: its exercises were graded blank")
    except Exception as error:  # a learner's file may be anything; grade it blank and say so
        report.notes.append(f"notebooks/{path.name} cannot be read ({type(error).__name__}): graded blank")

    def grade_of(exercise: str, heading: str) -> ExerciseGrade:
        return ExerciseGrade(path.name[:2], path.name, exercise, heading, optional)

    notebook, graded = graded_notebook(template_notebook, learner, grade_of, nonce, template)
    before = code_digests(template)
    stopped = execute(notebook, path.parent, timeout=timeout, env=environment)
    if stopped:
        report.notes.append(f"{path.name}: {stopped.message}")
    for item in graded:
        settle(item.grade, notebook.cells[item.index], nonce, stopped, item.index)
    after = code_digests(template)
    for changed in sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name)):
        report.changes.append(Change(changed, f"changed while {path.name} ran (the grading copy of the template)",
                                     [item.grade.id for item in graded]))
    return [item.grade for item in graded]


def code_digests(template: Path) -> dict[str, str]:
    """SHA-256 of every file of the template's code, which no notebook has a reason to write."""
    found = {}
    for folder in TEMPLATE_CODE:
        for path in sorted((template / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                found[path.relative_to(template).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def settle(grade: ExerciseGrade, cell: dict[str, Any], nonce: str, stopped: Any, index: int) -> None:
    """Turn a grading cell's recorded outcome into the exercise's result and points."""
    outcome = outcome_of(cell, nonce)
    if outcome is None:
        grade.check_passed = None
        grade.result = NOT_RUN if stopped else FAIL
        error = error_of(cell)
        if stopped and (stopped.cell_index is None or index >= stopped.cell_index):
            grade.message = f"{FAIL_MARK} {grade.exercise}: not run: {stopped.message}"
        elif error is not None:
            grade.message = f"{FAIL_MARK} {grade.exercise}: the check could not run: {error.get('ename')}"
        else:
            grade.message = f"{FAIL_MARK} {grade.exercise}: the check recorded no outcome (something interfered)"
        grade.lines = [grade.message]
        return
    grade.check_passed = bool(outcome.get("passed"))
    grade.lines = [str(line) for line in outcome.get("lines", [])]
    if grade.check_passed:
        grade.result, grade.points = PASS, grade.max_points
        grade.message = f"{PASS_MARK} {grade.exercise}: passes"
    else:
        grade.result, grade.points = FAIL, 0
        grade.message = grade.lines[0] if grade.lines else f"{FAIL_MARK} {grade.exercise}: fails"
        grade.hint = hint_in(grade.lines)


def apply_changes(report: GradeReport, changed: dict[str, str]) -> None:
    """Record each change to what the grade relies on; the exercises relying on it score 0."""
    for grade in report.exercises:  # changes found during the runs are already in report.changes
        for note in [note for note in grade.notes if note.startswith("check cell ")]:
            report.changes.append(Change(f"notebooks/{grade.file}", f"{note} ({grade.exercise})", [grade.id]))
    for path, change in sorted(changed.items()):
        match = NOTEBOOK_CHECKS.fullmatch(path)
        served = [grade for grade in report.exercises if match is None or grade.notebook == match.group(1)]
        report.changes.append(Change(path, change, [grade.id for grade in served]))
    zeroed = {exercise for change in report.changes for exercise in change.exercises}
    for grade in report.exercises:
        if grade.id in zeroed:
            reasons = [f"{change.path} {change.change}" for change in report.changes if grade.id in change.exercises]
            verdict = {True: "passes", False: "fails", None: "gave no verdict"}[grade.check_passed]
            grade.result, grade.points, grade.hint = TAMPERED, 0, ""
            grade.message = (f"⚠️ {grade.exercise}: scores 0, changed since the template: {'; '.join(reasons)} "
                             f"(the template's check {verdict} on the learner's cell)")


# --- the report -----------------------------------------------------------------------------------------------------

RESULT_MARKS = {PASS: f"{PASS_MARK} pass", FAIL: f"{FAIL_MARK} fail", NOT_RUN: f"{FAIL_MARK} not run",
                TAMPERED: "⚠️ tampered"}


def cell_text(text: str) -> str:
    """Text that stays inside one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def markdown(report: GradeReport) -> str:
    data = report.to_json()
    lines = [f"## Grade: {data['score']} / {data['max_score']} points",
             "",
             f"{sum(grade.result == PASS for grade in report.required)} of {len(report.required)} required "
             f"exercises pass. Graded against the template commit `{report.base[:12]}` at `{report.head[:12]}`"
             f"{' with uncommitted changes' if report.uncommitted else ''}: "
             "each notebook ran once, with the template's check cells and `workbook/checks`.",
             ""]
    for title, grades in (("Required", report.required), ("Optional (not in the score)", report.optional)):
        if not grades:
            continue
        lines += [f"### {title}", "", "| Notebook | Exercise | Result | Points | Hint |", "|---|---|---|---|---|"]
        for grade in grades:
            exercise = f"`{grade.exercise}`" + (f" — {cell_text(grade.heading)}" if grade.heading else "")
            detail = grade.hint or ("" if grade.result == PASS else grade.message.split(": ", 1)[-1])
            lines.append(f"| {grade.notebook} | {exercise} | {RESULT_MARKS[grade.result]} | "
                         f"{grade.points} / {grade.max_points} | {cell_text(detail)} |")
        lines.append("")
    lines += ["### Changes to what grading relies on", ""]
    if report.changes:
        for change in report.changes:
            scope = ", ".join(f"`{exercise}`" for exercise in change.exercises) or "no graded exercise"
            lines.append(f"- `{change.path}`: {change.change}; scores 0: {scope}")
    else:
        lines.append("None: the check cells, `workbook/checks/`, `workbook/checking.py`, the grader and the "
                     "Classroom workflow are as in the template.")
    notes = [*report.notes, *(f"{grade.id}: {note}" for grade in report.exercises for note in grade.notes
                               if not note.startswith("check cell "))]
    if notes:
        lines += ["", "### Notes", "", *(f"- {cell_text(note)}" for note in notes)]
    return "\n".join(lines) + "\n"


def terminal(report: GradeReport) -> str:
    data = report.to_json()
    lines = []
    for grade in report.exercises:
        optional = " (optional)" if grade.optional else ""
        lines.append(f"{grade.id}{optional}: {RESULT_MARKS[grade.result]}, {grade.points}/{grade.max_points}")
        if grade.result != PASS:
            lines.append(f"    {grade.message}")
            if grade.hint:
                lines.append(f"    hint: {grade.hint}")
    for change in report.changes:
        lines.append(f"changed since the template: {change.path}: {change.change}")
    lines.extend(f"note: {note}" for note in report.notes)
    lines.append(f"score: {data['score']} / {data['max_score']}"
                 + (f" (optional: {data['optional_score']} / {data['optional_max_score']})" if report.optional else ""))
    return "\n".join(lines)


def write_reports(report: GradeReport, json_path: Path) -> None:
    json_path.write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as stream:
            stream.write(markdown(report))


def result_exit_code(json_path: Path, exercise_id: str) -> int:
    """0 when the report gives ``NN/NAME`` points, 1 when it does not, 2 when the report or exercise is missing."""
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"no readable grade report at {json_path} ({type(error).__name__}): run python -m workbook.grade first")
        return 2
    found = [entry for entry in data.get("exercises", []) if entry.get("id") == exercise_id]
    if not found:
        print(f"{exercise_id} is not in {json_path}")
        return 2
    entry = found[0]
    print(f"{exercise_id}: {entry.get('result')}, {entry.get('points')}/{entry.get('max_points')} "
          f"{entry.get('message', '')}".rstrip())
    return 0 if entry.get("points", 0) > 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbook.grade", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="notebook numbers to grade, e.g. 03 or 3,5 (default: all)")
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="the learner's repository (default: here)")
    parser.add_argument("--base", metavar="REF", default=os.environ.get("BASE") or None,
                        help="the template commit (default: the repository's first commit)")
    parser.add_argument("--json", type=Path, default=Path(REPORT_FILE), help=f"the JSON report (default: {REPORT_FILE})")
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT_SECONDS, help="seconds a cell may run")
    parser.add_argument("--result", metavar="NN/NAME",
                        help="grade nothing: exit 0 when the JSON report gives this exercise points")
    options = parser.parse_args(argv)
    if options.result:
        return result_exit_code(options.json, options.result)
    try:
        report = grade(options.repo, options.base, options.names, options.timeout)
    except GradeError as error:
        print(f"cannot grade: {error}", file=sys.stderr)
        return 2
    print(terminal(report))
    write_reports(report, options.json)
    print(f"report: {options.json}" + (" and the job summary" if os.environ.get("GITHUB_STEP_SUMMARY") else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
