"""Start JupyterLab for a test and stop it: ephemeral port, its own process group, its log kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
START_TIMEOUT_SECONDS = 60
# What a learner's own shell may hold and would change how JupyterLab starts.
CODESPACE_VARIABLES = ("CODESPACES", "CODESPACE_NAME", "GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN")


@dataclass
class RunningLab:
    port: int
    token: str
    log: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running_lab(command: list[str], env: dict[str, str], cwd: Path, log: Path) -> Iterator[RunningLab]:
    """Run ``command`` (JupyterLab, or make starting it) in its own process group until the block ends."""
    with log.open("w") as log_file:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log_file,  # noqa: S603 (fixed commands)
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        info = _wait_until_serving(process, Path(env["JUPYTER_RUNTIME_DIR"]), log)
        yield RunningLab(port=info["port"], token=info["token"], log=log)
    finally:
        _stop(process)


def _wait_until_serving(process: subprocess.Popen[bytes], runtime_dir: Path, log: Path) -> dict:
    """The server's own info file (port, token) once it answers HTTP; fails with its log if it never does."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        for info_file in runtime_dir.glob("jpserver-*.json"):
            try:
                info = json.loads(info_file.read_text())
                requests.get(f"http://127.0.0.1:{info['port']}/api/status", timeout=2)
                return info
            except (ValueError, KeyError, requests.ConnectionError):
                pass  # written but not complete yet, or not listening yet
        time.sleep(0.2)
    pytest.fail(f"JupyterLab did not answer within {START_TIMEOUT_SECONDS} s:\n{log.read_text(errors='replace')}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the group we started (JupyterLab then shuts its kernels down), SIGKILL if it lingers."""
    group = process.pid  # start_new_session: the group's id is the process's own
    _signal_group(group, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while _group_alive(group) and time.monotonic() < deadline:
        process.poll()  # reap our own child so it no longer counts
        time.sleep(0.1)
    if _group_alive(group):
        _signal_group(group, signal.SIGKILL)
    process.wait(timeout=10)


def _signal_group(group: int, signum: int) -> None:
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        pass  # already gone


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True
