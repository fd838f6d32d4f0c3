"""The classroom's configuration files: valid, and running the same commands as the README and the notebooks."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jupyterlab
import nbformat
import pytest
import yaml

from workbook.generate import is_optional
from workbook.grade import POINTS_PER_EXERCISE
from workbook.selfcheck import exercise_name, is_check_cell

ROOT = Path(__file__).resolve().parents[2]
DEVCONTAINER = ROOT / ".devcontainer" / "devcontainer.json"
CI_WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
CLASSROOM_WORKFLOW = ROOT / ".github" / "workflows" / "classroom.yml"
LAUNCH = ROOT / ".vscode" / "launch.json"
SETTINGS_OVERRIDES = ROOT / ".jupyter" / "lab" / "settings" / "overrides.json"
LIFECYCLE_COMMANDS = ("onCreateCommand", "updateContentCommand", "postCreateCommand", "postStartCommand",
                      "postAttachCommand", "initializeCommand")
COMMAND_GRADER = "classroom-resources/autograding-command-grader@v1"
GRADING_REPORTER = "classroom-resources/autograding-grading-reporter@v1"
EXERCISE_COMMAND = re.compile(r"\.venv/bin/python -m workbook\.grade --result (\d\d)/(\w+)")
GRADE_COMMAND = ".venv/bin/python -m workbook.grade --json grade-report.json"


# --- readers ---------------------------------------------------------------------------------------------------

def strip_jsonc_comments(text: str) -> str:
    """JSON with comments (devcontainer.json) -> JSON: drop // and /* */ comments outside strings."""
    token = re.compile(r'("(?:\\.|[^"\\])*")|//[^\n]*|/\*.*?\*/', re.DOTALL)
    return token.sub(lambda match: match.group(1) or "", text)


def devcontainer() -> dict[str, Any]:
    return json.loads(strip_jsonc_comments(DEVCONTAINER.read_text()))


def workflow(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path.name} is not a YAML mapping"
    if True in data:  # YAML 1.1 reads the key `on` as the boolean true
        data["on"] = data.pop(True)
    return data


def steps(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in data["jobs"].values() for step in job["steps"]]


def readme_commands() -> list[str]:
    """The commands of the README's quick-start block, without their comments."""
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1]
    block = re.search(r"```shell\n(.*?)```", quick_start, re.DOTALL)
    assert block, "the README's quick start has no ```shell block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.split("#")[0].strip()]


def notebook_exercises(folder: Path = ROOT / "notebooks", optional: bool = False) -> set[tuple[str, str]]:
    """(notebook number, exercise) for every check cell of the required (or the optional) learner notebooks."""
    found = set()
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        if is_optional(notebook) != optional:
            continue
        for cell in notebook.cells:
            if is_check_cell(cell):
                found.add((path.name[:2], exercise_name(cell)))
    return found


def make_dry_run(*arguments: str, env: dict[str, str] | None = None) -> str:
    completed = subprocess.run(["make", "--no-print-directory", "-n", *arguments],  # noqa: S603, S607 (fixed)
                               cwd=ROOT, capture_output=True, text=True, check=True, env=env)
    return completed.stdout


# --- reader self-tests ------------------------------------------------------------------------------------------

def test_the_comment_stripper_keeps_urls_inside_strings() -> None:
    text = '{\n  // a comment\n  "url": "https://x//y", /* another */ "n": 1\n}'
    assert json.loads(strip_jsonc_comments(text)) == {"url": "https://x//y", "n": 1}


# --- the dev container (Codespaces) ---------------------------------------------------------------------------

def test_the_devcontainer_image_is_pinned_python_3_12_on_bookworm() -> None:
    image = devcontainer()["image"]
    assert re.fullmatch(r"mcr\.microsoft\.com/devcontainers/python:\d+-3\.12-bookworm", image), image


def test_docker_in_docker_has_moby_off_and_the_aws_cli_is_there() -> None:
    features = devcontainer()["features"]
    docker = [options for name, options in features.items()
              if name.startswith("ghcr.io/devcontainers/features/docker-in-docker:")]
    assert len(docker) == 1 and docker[0].get("moby") is False
    assert any(name.startswith("ghcr.io/devcontainers/features/aws-cli:") for name in features)


def test_no_port_is_public() -> None:
    config = devcontainer()
    for attributes in [*config.get("portsAttributes", {}).values(), config.get("otherPortsAttributes", {})]:
        assert attributes.get("visibility", "private") == "private", attributes
    for name in LIFECYCLE_COMMANDS:
        assert "public" not in json.dumps(config.get(name, "")), f"{name} changes a port's visibility"


def test_jupyterlab_port_is_forwarded_labelled_and_opened() -> None:
    config = devcontainer()
    assert 8888 in config["forwardPorts"]
    attributes = config["portsAttributes"]["8888"]
    assert attributes["label"] and attributes["onAutoForward"] == "openBrowser"


def test_creation_runs_the_readme_set_up_command_once() -> None:
    config = devcontainer()
    assert config["updateContentCommand"] == "make setup"  # prebuilds run and cache updateContentCommand
    # The quick start stays exactly two commands (make lab, make test); make setup is documented beside them.
    assert readme_commands() == ["make lab", "make test"]
    quick_start = (ROOT / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "`make setup`" in quick_start, "the README's quick start must document `make setup`"
    install = make_dry_run("-W", "requirements-dev.txt", "setup")  # -W: as if requirements changed
    assert "pip install" in install and "-r requirements-dev.txt" in install


def test_each_start_runs_make_lab_in_the_background_and_nothing_reinstalls() -> None:
    config = devcontainer()
    start = config["postStartCommand"]
    assert "make lab" in start and start.rstrip().endswith("&") and "> /tmp/jupyterlab.log" in start
    for name in ("postStartCommand", "postAttachCommand"):
        command = json.dumps(config.get(name, ""))
        assert not any(word in command for word in ("install", "make setup", "apt-get")), command


def test_vscode_gets_the_python_and_jupyter_extensions_and_the_venv() -> None:
    vscode = devcontainer()["customizations"]["vscode"]
    assert {"ms-python.python", "ms-toolsai.jupyter"} <= set(vscode["extensions"])
    assert vscode["settings"]["python.defaultInterpreterPath"] == "${containerWorkspaceFolder}/.venv/bin/python"


def test_the_lab_guide_is_opened_first_and_exists() -> None:
    open_files = devcontainer()["customizations"]["codespaces"]["openFiles"]
    assert open_files[0] == "lab-guide.md"
    assert all((ROOT / name).is_file() for name in open_files), open_files


def test_the_devcontainer_leaves_the_learners_vscode_settings_alone() -> None:
    config = json.dumps({name: devcontainer().get(name, "") for name in LIFECYCLE_COMMANDS})
    assert ".vscode" not in config


# --- make lab and the JupyterLab settings overrides -------------------------------------------------------------

def test_make_lab_points_jupyterlab_at_the_workbook_settings_overrides() -> None:
    command = make_dry_run("-o", ".venv/.installed", "lab")
    assert f'--LabApp.app_settings_dir="{SETTINGS_OVERRIDES.parent}"' in command
    assert "--ip=127.0.0.1" in command


@pytest.mark.parametrize(("plugin", "setting", "value"), [
    ("@jupyterlab/apputils-extension:notification", "fetchNews", "false"),
    ("@jupyterlab/apputils-extension:notification", "checkForUpdates", False),
    ("@jupyterlab/docmanager-extension:plugin", "defaultViewers", {"markdown": "Markdown Preview"}),
])
def test_the_overrides_set_real_jupyterlab_settings(plugin: str, setting: str, value: Any) -> None:
    overrides = json.loads(SETTINGS_OVERRIDES.read_text())
    assert overrides[plugin][setting] == value
    package, plugin_name = plugin.split(":")
    schema = json.loads((Path(jupyterlab.__file__).parent / "schemas" / package / f"{plugin_name}.json").read_text())
    allowed = schema["properties"][setting]  # a misspelt setting is silently ignored by JupyterLab
    if "oneOf" in allowed:
        assert value in [choice["const"] for choice in allowed["oneOf"]]


# --- VS Code --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["All Tests", "Coverage All Tests"])
def test_launch_configurations_run_pytest_with_the_venv(name: str) -> None:
    configurations = {entry["name"]: entry for entry in json.loads(LAUNCH.read_text())["configurations"]}
    entry = configurations[name]
    assert (entry["type"], entry["request"], entry["module"]) == ("debugpy", "launch", "pytest")
    assert entry["python"] == "${workspaceFolder}/.venv/bin/python"


def test_coverage_comes_from_pytest_cov_which_is_pinned() -> None:
    configurations = {entry["name"]: entry for entry in json.loads(LAUNCH.read_text())["configurations"]}
    assert "--cov=lambdaone" in configurations["Coverage All Tests"]["args"]
    assert "--cov=lambdaone" not in configurations["All Tests"]["args"]
    pins = (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert any(re.fullmatch(r"pytest-cov==[\d.]+", line.strip()) for line in pins)


# --- GitHub workflows ---------------------------------------------------------------------------------------------

def test_ci_runs_the_readme_test_command_on_push_and_pull_request() -> None:
    data = workflow(CI_WORKFLOW)
    assert {"push", "pull_request"} <= set(data["on"])
    assert all(job["runs-on"] == "ubuntu-latest" for job in data["jobs"].values())
    used = [step.get("uses", "").split("@")[0] for step in steps(data)]
    assert "actions/checkout" in used and "actions/setup-python" in used
    setup_python = next(step for step in steps(data) if step.get("uses", "").startswith("actions/setup-python@"))
    assert str(setup_python["with"]["python-version"]) == "3.12"
    assert [step["run"] for step in steps(data) if "run" in step] == ["make test"]
    assert "make test" in readme_commands()


def classroom_graders() -> list[dict[str, Any]]:
    return [step for step in steps(workflow(CLASSROOM_WORKFLOW)) if step.get("uses") == COMMAND_GRADER]


def test_classroom_scores_every_required_exercise_and_nothing_else() -> None:
    graded = []
    for step in classroom_graders():
        match = EXERCISE_COMMAND.fullmatch(step["with"]["command"])
        assert match, step["with"]["command"]
        graded.append(match.groups())
    expected = notebook_exercises()
    assert expected, "no check cells found in notebooks/"
    assert len(graded) == len(set(graded)), "an exercise is scored twice"
    missing = sorted(expected - set(graded))
    assert not missing, f"add a grading step to classroom.yml for each of {missing}"
    assert not set(graded) - expected, f"classroom.yml scores checks no required notebook has: {sorted(set(graded) - expected)}"
    assert notebook_exercises(optional=True), "the optional notebook has no check: is it still optional?"
    assert not notebook_exercises(optional=True) & set(graded), "an optional exercise must not be in the score"


def test_the_notebooks_are_graded_once_before_any_exercise_is_scored() -> None:
    all_steps = steps(workflow(CLASSROOM_WORKFLOW))
    runs = [index for index, step in enumerate(all_steps) if "workbook.grade" in step.get("run", "")]
    assert [all_steps[index]["run"] for index in runs] == [GRADE_COMMAND], "one grading run, writing the report"
    first_score = next(index for index, step in enumerate(all_steps) if step.get("uses") == COMMAND_GRADER)
    assert runs[0] < first_score
    assert not any("selfcheck" in json.dumps(step) for step in all_steps), "scores come from the grade report"


def test_the_checkout_has_the_first_commit_the_grade_compares_with() -> None:
    checkout = next(step for step in steps(workflow(CLASSROOM_WORKFLOW))
                    if step.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # a shallow clone has no first commit: the grade refuses it


def test_every_classroom_step_scores_points_and_is_reported_even_after_a_failure() -> None:
    all_steps = steps(workflow(CLASSROOM_WORKFLOW))
    graders = classroom_graders()
    for step in graders:
        assert step["with"]["max-score"] == POINTS_PER_EXERCISE, step  # the points the JSON report gives
        assert step["with"]["test-name"] and 0 < int(step["with"]["timeout"]) <= 60
        assert step["if"] == "${{ !cancelled() }}", "an exercise is scored (0) even when the grading step failed"
    reporter = [step for step in all_steps if step.get("uses") == GRADING_REPORTER]
    assert len(reporter) == 1 and reporter[0]["if"] == "${{ !cancelled() }}"
    ids = [step["id"] for step in graders]
    assert reporter[0]["with"]["runners"].split(",") == ids
    assert reporter[0]["env"] == {f"{id_.upper()}_RESULTS": f"${{{{steps.{id_}.outputs.result}}}}" for id_ in ids}


def test_classroom_installs_the_workbook_before_grading() -> None:
    all_steps = steps(workflow(CLASSROOM_WORKFLOW))
    setup = next(index for index, step in enumerate(all_steps) if step.get("run") == "make setup")
    grading = next(index for index, step in enumerate(all_steps) if step.get("run") == GRADE_COMMAND)
    assert setup < grading
    assert workflow(CLASSROOM_WORKFLOW)["permissions"]["checks"] == "write"  # the reporter posts the score


def test_make_grade_runs_the_grader_with_base_repo_and_notebooks() -> None:
    command = make_dry_run("-o", ".venv/.installed", "grade", "BASE=abc123", "REPO=../alice", "NB=3")
    assert '-m workbook.grade --repo "../alice" --base "abc123" 3' in command
    assert "--base" not in make_dry_run("-o", ".venv/.installed", "grade")
    assert "make grade" in make_dry_run("help")


# --- CI script ----------------------------------------------------------------------------------------------------

def test_ci_script_installs_chromium_before_make_test_without_failing_on_it() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    install = script.index("apt-get install -y -qq chromium")
    assert install < script.rindex("\nmake test")
    assert "/usr/bin/chromium" in script
