"""Build the Lambda's deployment zip: ``python -m lambda_build.build_zip`` (``make zip``).

1. pip installs ``requirements.txt`` for Lambda's platform and Python version (manylinux wheels only:
   the developer's own platform and Python do not matter) into an empty staging folder;
2. the code, ``lambda_function.py`` and ``lambdaone/``, goes beside the packages: everything sits at the
   zip root, where Lambda looks (never under ``python3.12/site-packages/``);
3. bytecode for any other Python is removed, and bytecode for the target Python is compiled when that
   interpreter is on this machine (``/var/task`` is read-only, so Lambda cannot cache it itself);
4. the zip is written with sorted entries, fixed timestamps and fixed permissions: the same inputs give
   the same bytes.

Tests, notebooks, the workbook, ``.env`` and dev files never go in: only named inputs are copied.
Any failure stops the build with one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .interpreters import check_version, find_python, where_looked

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = PROJECT_ROOT / "build" / "lambdaone.zip"
CODE_FILES = ("lambda_function.py",)
CODE_PACKAGES = ("lambdaone",)
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
DEFAULT_PYTHON = "3.12"  # the Lambda runtime the zip is built for unless --python says otherwise
TASK_ROOT = "/var/task"
PIP_TIMEOUT_SECONDS = 900  # where Lambda extracts the zip: tracebacks name files there

# Lambda's quotas for a zip package: 50 MB to upload directly, 250 MB once extracted.
MAX_ZIPPED_BYTES = 50 * 1000 * 1000
MAX_UNZIPPED_BYTES = 250 * 1000 * 1000

# 1980-01-01, the earliest time a zip entry can hold; SOURCE_DATE_EPOCH overrides it (reproducible-builds.org).
DEFAULT_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
EXECUTABLE_MODE = 0o755
DIRECTORY_MODE = 0o755


class BuildError(Exception):
    """The build cannot go on; the message says what failed and, when it can, how to fix it."""


@dataclass(frozen=True)
class Options:
    requirements: Path
    output: Path
    python_version: str = DEFAULT_PYTHON
    arch: str = "x86_64"
    key: Path | None = None
    root: Path = PROJECT_ROOT

    @property
    def platform(self) -> str:
        return PLATFORMS[self.arch]


@dataclass(frozen=True)
class Entry:
    """One file or folder of the zip: its name in the archive and, for a file, where it is on disk."""

    name: str
    source: Path | None = None

    @property
    def is_directory(self) -> bool:
        return self.source is None


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    try:
        build(options)
    except BuildError as error:
        print(f"build_zip: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a folder that cannot be created, a full disk: one line, not a traceback
        print(f"build_zip: error: {error.filename or ''}: {error.strerror or error}", file=sys.stderr)
        return 1
    return 0


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m lambda_build.build_zip",
        description="Build the Lambda's deployment zip: requirements for Lambda's platform, the code, bytecode.",
    )
    parser.add_argument("--python", default=DEFAULT_PYTHON, dest="python_version", type=_version_argument,
                        help="the Lambda runtime's Python version (default 3.12)")
    parser.add_argument("--arch", default="x86_64", choices=sorted(PLATFORMS),
                        help="the Lambda's architecture (default x86_64)")
    parser.add_argument("--requirements", type=Path, default=PROJECT_ROOT / "requirements.txt",
                        help="the pinned requirements (default requirements.txt)")
    parser.add_argument("--key", type=Path, metavar="FILE",
                        help="an issuer's PEM public key or certificate to put at the zip root (for SIGNATUREKEYPATH)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help="where to write the zip (default build/lambdaone.zip)")
    args = parser.parse_args(argv)
    return Options(requirements=args.requirements, output=args.output, python_version=args.python_version,
                   arch=args.arch, key=args.key)


def _version_argument(text: str) -> str:
    try:
        return check_version(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build(options: Options) -> Path:
    """Build the zip described by ``options``; return its path. Raises :class:`BuildError`."""
    _require_file(options.requirements, "the requirements file")
    for name in CODE_FILES:
        _require_file(options.root / name, "the Lambda's entry point")
    for name in CODE_PACKAGES:
        if not (options.root / name / "__init__.py").is_file():
            raise BuildError(f"{options.root / name} is not a Python package (no __init__.py)")
    if options.key is not None:
        check_public_key(options.key)
    # A zip left from an earlier build must not pass for this one if this one fails.
    options.output.unlink(missing_ok=True)
    options.output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="zip-staging-", dir=options.output.parent) as folder:
        staging = Path(folder)
        install_packages(options, staging)
        removed = remove_bytecode(staging)
        if removed:
            say(f"removed {removed} bytecode files compiled for another Python")
        remove_scripts(staging)
        copy_code(options.root, staging)
        if options.key is not None:
            add_key(options.key, staging)
        compile_for_target(staging, options.python_version)
        write_zip(collect_entries(staging), options.output)
    report(options.output)
    return options.output


def say(message: str) -> None:
    print(f"build_zip: {message}", flush=True)


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise BuildError(f"{what} {path} does not exist")


def install_packages(options: Options, staging: Path) -> None:
    """pip installs the requirements as wheels for the Lambda's platform and Python, into ``staging``."""
    say(f"installing {options.requirements.name} for {options.platform}, CPython {options.python_version}")
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
        "--no-compile",  # pip would compile for the Python running it, not the Lambda's
        "--platform", options.platform, "--implementation", "cp", "--python-version", options.python_version,
        "--only-binary=:all:", "--target", str(staging), "--requirement", str(options.requirements),
    ]
    try:
        completed = subprocess.run(  # noqa: S603 (no shell)
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise BuildError(f"pip did not finish within {PIP_TIMEOUT_SECONDS} s: check the network") from None
    if completed.returncode != 0:
        raise BuildError(
            f"pip could not install {options.requirements.name} for {options.platform}, "
            f"CPython {options.python_version}: {_last_error(completed.stderr + completed.stdout)}"
        )


def _last_error(output: str) -> str:
    """pip's own explanation: its last ``ERROR:`` line, else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    if errors:
        return errors[-1].removeprefix("ERROR:").strip()
    return lines[-1] if lines else "no output"


def remove_bytecode(folder: Path) -> int:
    """Delete every ``__pycache__`` folder and stray ``.pyc``/``.pyo``: they were made for another Python."""
    removed = 0
    for cache in sorted(folder.rglob("__pycache__"), reverse=True):
        if cache.is_dir():
            removed += sum(1 for _ in cache.iterdir())
            shutil.rmtree(cache)
    for stray in [*folder.rglob("*.pyc"), *folder.rglob("*.pyo")]:
        stray.unlink()
        removed += 1
    return removed


def remove_scripts(staging: Path) -> None:
    """pip puts console scripts in ``bin/``: their first line names this machine's Python; Lambda never runs them."""
    scripts = staging / "bin"
    if scripts.is_dir():
        shutil.rmtree(scripts)


def copy_code(root: Path, staging: Path) -> None:
    """Copy the Lambda's own code beside the packages; only source files, never caches or dotfiles."""
    for name in CODE_FILES:
        _copy_new(root / name, staging, Path(name))
    for package in CODE_PACKAGES:
        for source in sorted((root / package).rglob("*")):
            relative = source.relative_to(root)
            if source.is_dir() or _is_junk(relative):
                continue
            _copy_new(source, staging, relative)


def _is_junk(relative: Path) -> bool:
    return any(part == "__pycache__" or part.startswith(".") for part in relative.parts) or relative.suffix in {
        ".pyc", ".pyo"}


def _copy_new(source: Path, staging: Path, relative: Path) -> None:
    destination = staging / relative
    if destination.exists():
        raise BuildError(f"{relative.as_posix()} is both in the code and installed by a requirement: rename one")
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, destination)
    shutil.copymode(source, destination)


def check_public_key(path: Path) -> None:
    """Refuse a key file the Lambda would refuse: missing, private, or not a PEM public key or certificate."""
    from lambdaone.fixed_key import KeyFileError, load_public_key

    try:
        load_public_key(path)
    except KeyFileError as error:
        raise BuildError(f"--key: {error}") from None


def add_key(key: Path, staging: Path) -> None:
    destination = staging / key.name
    if destination.exists():
        raise BuildError(f"--key: {key.name} would overwrite a file of the same name at the zip root; rename the key")
    shutil.copyfile(key, destination)
    say(f"added {key.name} at the zip root: configure the Lambda with SIGNATUREKEYPATH={key.name}")


def compile_for_target(staging: Path, version: str) -> None:
    """Compile bytecode with the target Python, or say plainly that it is skipped."""
    interpreter = find_python(version)
    if interpreter is None:
        say(f"WARNING: no Python {version} interpreter found (looked for {where_looked(version)}): "
            f"bytecode skipped; the Lambda will compile every module at each cold start")
        return
    # unchecked-hash: the .pyc stay valid whatever the files' timestamps (the zip fixes them) and Python never
    # rewrites them; -s/-p record /var/task paths instead of this staging folder; a fixed hash seed keeps
    # set constants in the same order, so the bytes repeat.
    command = [
        str(interpreter), "-s", "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash",
        "-s", str(staging), "-p", TASK_ROOT, str(staging),
    ]
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONHASHSEED": "0"}
    completed = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)  # noqa: S603
    if completed.returncode != 0:
        raise BuildError(f"Python {version} could not compile the zip's files: {_last_line(completed)}")
    say(f"compiled bytecode for Python {version} with {interpreter}")


def _last_line(completed: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (completed.stdout + completed.stderr).splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"exit status {completed.returncode}"


def collect_entries(staging: Path) -> list[Entry]:
    """Every folder and file under ``staging`` as zip entries, sorted by name (the order is part of the bytes)."""
    entries = []
    for path in staging.rglob("*"):
        name = path.relative_to(staging).as_posix()
        entries.append(Entry(name + "/") if path.is_dir() else Entry(name, path))
    return sorted(entries, key=lambda entry: entry.name)


def write_zip(entries: Iterable[Entry], output: Path) -> None:
    """Write the zip atomically: fixed timestamp, normalized permissions, entries in the given order."""
    timestamp = zip_timestamp()
    partial = output.with_name(output.name + ".partial")
    try:
        with zipfile.ZipFile(partial, "w") as archive:
            for entry in entries:
                info = zipfile.ZipInfo(entry.name, date_time=timestamp)
                info.create_system = 3  # Unix, so external_attr carries the permissions
                if entry.source is None:
                    info.external_attr = (0o040000 | DIRECTORY_MODE) << 16 | 0x10  # folder, and MS-DOS folder bit
                    archive.writestr(info, b"")
                    continue
                info.external_attr = (0o100000 | _file_mode(entry.source)) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, entry.source.read_bytes())
        partial.replace(output)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise BuildError(f"cannot write {output}: {error.strerror or error}") from None


def zip_timestamp() -> tuple[int, int, int, int, int, int]:
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not epoch:
        return DEFAULT_TIMESTAMP
    try:
        seconds = int(epoch)
    except ValueError:
        raise BuildError(f"SOURCE_DATE_EPOCH={epoch[:20]!r} is not a number of seconds") from None
    fields = time.gmtime(max(seconds, 315532800))  # zip times start at 1980
    return (fields.tm_year, fields.tm_mon, fields.tm_mday, fields.tm_hour, fields.tm_min, fields.tm_sec)


def _file_mode(path: Path) -> int:
    return EXECUTABLE_MODE if path.stat().st_mode & 0o100 else FILE_MODE


def report(output: Path) -> None:
    """Print the zip's size and what went in: files, sizes per top-level entry, quotas."""
    with zipfile.ZipFile(output) as archive:
        files = [info for info in archive.infolist() if not info.is_dir()]
    unzipped = sum(info.file_size for info in files)
    zipped = output.stat().st_size
    digest = hashlib.sha256(output.read_bytes()).hexdigest()
    say(f"wrote {_shown(output)}: {_megabytes(zipped)} ({zipped:,} bytes), {len(files):,} files, "
        f"{_megabytes(unzipped)} unzipped, sha256 {digest[:16]}")
    for line in summary_lines(files):
        print(line)
    if zipped > MAX_ZIPPED_BYTES:
        say(f"WARNING: larger than the {_megabytes(MAX_ZIPPED_BYTES)} Lambda accepts for a direct upload: upload via S3")
    if unzipped > MAX_UNZIPPED_BYTES:
        say(f"WARNING: larger unzipped than Lambda's {_megabytes(MAX_UNZIPPED_BYTES)} quota: use a container image")


def summary_lines(files: Sequence[zipfile.ZipInfo]) -> list[str]:
    """One line per top-level entry, largest first: files, unzipped and zipped bytes."""
    totals: dict[str, list[int]] = {}
    for info in files:
        top = info.filename.split("/")[0] + ("/" if "/" in info.filename else "")
        counts = totals.setdefault(top, [0, 0, 0])
        counts[0] += 1
        counts[1] += info.file_size
        counts[2] += info.compress_size
    width = max(len("top-level entry"), *(len(top) for top in totals))
    lines = [f"  {'top-level entry':<{width}} {'files':>6} {'unzipped':>10} {'zipped':>10}"]
    for top, (count, size, compressed) in sorted(totals.items(), key=lambda item: (-item[1][2], item[0])):
        lines.append(f"  {top:<{width}} {count:>6} {_megabytes(size):>10} {_megabytes(compressed):>10}")
    return lines


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.2f} MB"


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
