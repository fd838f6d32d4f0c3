"""The packaging figures: prints Markdown tables (ready for the README); it is not a test.

    .venv/bin/python bench/package_figures.py            # about half a minute
    .venv/bin/python bench/package_figures.py --runs 3   # quicker, noisier

1. Zip size: the zip ``make zip`` builds next to the one the AWS documentation's steps give
   (``pip install --target package -r requirements.txt`` for the machine at hand, ``zip -r`` of it, then
   the code added with ``zip -r``), and whether each imports in Lambda's Python (``python3.12 -I -S``).
2. Cold import of ``lambda_function`` from the extracted zip on the target Python, with the bytecode the
   zip carries and without it, in fresh processes (``-B``: like the read-only /var/task, nothing is written).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from any folder: lambda_build lives at the root

from lambda_build.build_zip import DEFAULT_PYTHON  # noqa: E402
from lambda_build.interpreters import find_python  # noqa: E402

# In the child: time the import of the handler module alone (interpreter start-up excluded).
TIME_IMPORT = """
import sys, time
sys.path.insert(0, sys.argv[1])
started = time.perf_counter()
import lambda_function
print(f"{(time.perf_counter() - started) * 1000:.3f}")
"""
CHECK_IMPORT = "import sys; sys.path.insert(0, sys.argv[1]); import lambda_function"


@dataclass(frozen=True)
class ZipFigures:
    label: str
    path: Path
    imports: str

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def contents(self) -> tuple[int, int, str]:
        """Files, unzipped bytes, and the bytecode files with the Pythons they are for."""
        with zipfile.ZipFile(self.path) as archive:
            files = [info for info in archive.infolist() if not info.is_dir()]
        compiled = [info.filename for info in files if info.filename.endswith(".pyc")]
        tags = sorted({name.rsplit(".", 2)[-2] for name in compiled})
        return len(files), sum(info.file_size for info in files), f"{len(compiled):,} ({', '.join(tags) or '-'})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per cold-import figure (default 7)")
    args = parser.parse_args()
    target = find_python(DEFAULT_PYTHON)
    print(f"LambdaOne packaging figures, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{platform.system()}; builder Python {platform.python_version()}; "
          f"target Python {DEFAULT_PYTHON}: {target or 'not installed'}\n")
    with tempfile.TemporaryDirectory(prefix="package-figures-") as folder:
        work = Path(folder)
        ours = build_ours(work / "ours")
        documented = build_as_documented(work / "documented")
        figures = [
            ZipFigures("`make zip` (manylinux2014_x86_64, CPython 3.12, bytecode for 3.12)", ours,
                       import_check(target, ours, work / "check-ours")),
            ZipFigures(f"AWS docs' basic steps (pip for this machine: CPython {platform.python_version()}, "
                       f"{platform.machine()}; `zip -r`)", documented,
                       import_check(target, documented, work / "check-documented")),
        ]
        print_size_table(figures)
        if target is None:
            print(f"\nCold import: skipped, no Python {DEFAULT_PYTHON} interpreter on this machine.")
            return 0
        print_cold_import_table(target, ours, work, args.runs)
    return 0


def build_ours(folder: Path) -> Path:
    output = folder / "lambdaone.zip"
    run([sys.executable, "-m", "lambda_build.build_zip", "--output", str(output)], cwd=ROOT)
    return output


def build_as_documented(folder: Path) -> Path:
    """The documentation's steps, as a learner types them in the project folder: no platform, no filtering."""
    package = folder / "package"
    output = folder / "my_deployment_package.zip"
    project = folder / "project"
    # The code as it sits in the working tree, caches included: `zip -r` takes whatever is there.
    project.mkdir(parents=True)
    shutil.copy2(ROOT / "lambda_function.py", project)
    shutil.copytree(ROOT / "lambdaone", project / "lambdaone")
    run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--target", str(package), "-r", str(ROOT / "requirements.txt")], cwd=folder)
    zip_recursively(package, output, ["."])
    zip_recursively(project, output, ["lambda_function.py", "lambdaone"])
    return output


def zip_recursively(folder: Path, output: Path, names: list[str]) -> None:
    """``cd folder && zip -r output names...`` (Info-ZIP when present, else the same with zipfile)."""
    zip_command = shutil.which("zip")
    if zip_command:
        run([zip_command, "-q", "-r", str(output), *names], cwd=folder)
        return
    with zipfile.ZipFile(output, "a", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            start = folder / name
            for path in sorted([start, *start.rglob("*")] if start.is_dir() else [start]):
                archive.write(path, path.relative_to(folder).as_posix())


def import_check(target: Path | None, zip_path: Path, folder: Path) -> str:
    """Whether ``import lambda_function`` works from the extracted zip in ``python3.12 -I -S``."""
    if target is None:
        return "not checked"
    extract(zip_path, folder)
    completed = subprocess.run(  # noqa: S603 (the target interpreter, fixed arguments)
        [str(target), "-I", "-S", "-B", "-c", CHECK_IMPORT, str(folder)],
        capture_output=True, text=True, timeout=120, check=False, env=quiet_environment(),
    )
    if completed.returncode == 0:
        return "yes"
    last = [line for line in completed.stderr.splitlines() if line.strip()]
    return f"no: {last[-1].strip() if last else 'exit status ' + str(completed.returncode)}"


def print_size_table(figures: list[ZipFigures]) -> None:
    print(f"### Deployment zip ({requirements_line()})\n")
    print("| zip | size | files | of which bytecode | unzipped | imports on Python 3.12 (`-I -S`) |")
    print("|---|---:|---:|---:|---:|---|")
    for figure in figures:
        files, unzipped, compiled = figure.contents()
        print(f"| {figure.label} | {megabytes(figure.size)} | {files:,} | {compiled} | {megabytes(unzipped)} "
              f"| {figure.imports} |")


def print_cold_import_table(target: Path, zip_path: Path, work: Path, runs: int) -> None:
    with_bytecode = work / "task-with-bytecode"
    without_bytecode = work / "task-without-bytecode"
    extract(zip_path, with_bytecode)
    extract(zip_path, without_bytecode)
    for cache in list(without_bytecode.rglob("__pycache__")):
        shutil.rmtree(cache)
    version = run([str(target), "-c", "import platform; print(platform.python_version())"]).strip()
    # Alternate the two, after one unmeasured round, so a noisy neighbour slows both alike.
    timings: dict[Path, list[tuple[float, float]]] = {with_bytecode: [], without_bytecode: []}
    for round_number in range(runs + 1):
        for folder in timings:
            measured = time_cold_import(target, folder)
            if round_number:
                timings[folder].append(measured)
    print(f"\n### Cold import of `lambda_function` from the extracted zip (Python {version}, `-I -S -B`, "
          f"median of {runs} fresh processes)\n")
    print("| bytecode | import lambda_function | whole process |")
    print("|---|---:|---:|")
    labels = {with_bytecode: f"compiled for {DEFAULT_PYTHON}, in the zip",
              without_bytecode: "none: compiled at every cold start (/var/task is read-only)"}
    for folder, samples in timings.items():
        imports = statistics.median(sample[0] for sample in samples)
        processes = statistics.median(sample[1] for sample in samples)
        print(f"| {labels[folder]} | {imports:.0f} ms | {processes:.0f} ms |")


def time_cold_import(target: Path, folder: Path) -> tuple[float, float]:
    """One fresh process: the import's own time and the whole process's wall time, in milliseconds."""
    started = time.perf_counter()
    output = run([str(target), "-I", "-S", "-B", "-c", TIME_IMPORT, str(folder)], env=quiet_environment())
    wall = (time.perf_counter() - started) * 1000
    return float(output.strip().splitlines()[-1]), wall


def quiet_environment() -> dict[str, str]:
    # No configuration: authorization is off, so the import does no I/O beyond loading modules.
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AWS_LAMBDA_LOG_LEVEL": "ERROR"}


def extract(zip_path: Path, folder: Path) -> None:
    folder.mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(folder)


def requirements_line() -> str:
    pins = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    return ", ".join(pins)


def run(command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    completed = subprocess.run(  # noqa: S603 (fixed commands)
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if completed.returncode != 0:
        sys.exit(f"package_figures: {' '.join(command[:4])} ... failed: {(completed.stderr or completed.stdout)[-500:]}")
    return completed.stdout


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:.2f} MB"


if __name__ == "__main__":
    sys.exit(main())
