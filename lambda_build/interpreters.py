"""Find the Python interpreter of the Lambda's runtime version (``3.12``, ``3.13``) on this machine.

The zip's bytecode must be compiled by that version, and the acceptance test runs the handler with it.
``python3.12`` on PATH may be a pyenv shim that refuses to run when 3.12 is not selected, so every
candidate is run once to learn its real executable and version.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

_VERSION = re.compile(r"3\.\d+")
_PROBE = "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2])"


def check_version(version: str) -> str:
    """``version`` if it reads like ``3.12``; ValueError otherwise."""
    if not _VERSION.fullmatch(version):
        raise ValueError(f"{version!r} is not a Python version such as 3.12")
    return version


def find_python(version: str) -> Path | None:
    """The real executable of Python ``version`` here, or None when there is none that runs."""
    check_version(version)
    for candidate in _candidates(version):
        executable = _probe(candidate, version)
        if executable is not None:
            return executable
    return None


def where_looked(version: str) -> str:
    """A short description of the search, for the message that says the interpreter is missing."""
    return f"python{version} on PATH, {_pyenv_root() / 'versions' / (version + '.*')}, /usr/bin, /usr/local/bin"


def _candidates(version: str) -> list[str]:
    name = f"python{version}"
    found: list[str] = []
    on_path = shutil.which(name)
    if on_path:
        found.append(on_path)
    pyenv_versions = sorted(
        (_pyenv_root() / "versions").glob(f"{version}.*/bin/{name}"),
        key=lambda path: _patch_level(path.parent.parent.name),
        reverse=True,  # the newest patch release first
    )
    found.extend(str(path) for path in pyenv_versions)
    found.extend(f"{folder}/{name}" for folder in ("/usr/local/bin", "/usr/bin"))
    return list(dict.fromkeys(found))


def _pyenv_root() -> Path:
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def _patch_level(folder_name: str) -> tuple[int, ...]:
    numbers = re.findall(r"\d+", folder_name)
    return tuple(int(number) for number in numbers)


def _probe(candidate: str, version: str) -> Path | None:
    if not os.access(candidate, os.X_OK):
        return None
    try:
        completed = subprocess.run(  # noqa: S603 (a Python interpreter found above, no shell)
            [candidate, "-I", "-S", "-c", _PROBE], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = completed.stdout.split()
    if completed.returncode != 0 or len(lines) != 2 or lines[1] != version:
        return None
    return Path(lines[0])
