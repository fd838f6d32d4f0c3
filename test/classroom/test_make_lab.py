"""`make lab` itself, started as a learner starts it: loopback and a token locally; in a codespace, no token and
the forwarded page's origin as the one other origin allowed; the workbook's settings overrides served either way."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests

from test.classroom.labs import ROOT, RunningLab, running_lab

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed"),
    pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "jupyter").exists(), reason="no .venv: run `make setup` first"),
]

# -o: never (re)install .venv from a test, whatever the stamp's age; LAB_PORT=0: an ephemeral port.
MAKE_LAB = ["make", "--no-print-directory", "-o", ".venv/.installed", "lab", "LAB_PORT=0"]
CODESPACE = {"CODESPACES": "true", "CODESPACE_NAME": "solid-space-waddle",
             "GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN": "app.github.dev"}
NOTIFICATION_PLUGIN = "@jupyterlab/apputils-extension:notification"


def status(lab: RunningLab, **headers: str) -> int:
    return requests.get(lab.url("/api/status"), headers=headers, timeout=10).status_code


def fetch_news_default(lab: RunningLab) -> str:
    response = requests.get(lab.url(f"/lab/api/settings/{NOTIFICATION_PLUGIN}"),
                            headers={"Authorization": f"token {lab.token}"}, timeout=10)
    response.raise_for_status()
    return response.json()["schema"]["properties"]["fetchNews"]["default"]


def test_locally_it_listens_on_loopback_and_keeps_its_token(lab_env: dict[str, str], tmp_path: Path) -> None:
    with running_lab(MAKE_LAB, lab_env, ROOT, tmp_path / "lab.log") as lab:
        assert lab.token, "a local JupyterLab must have a token"
        assert status(lab) == 403
        assert status(lab, Authorization=f"token {lab.token}") == 200
        assert fetch_news_default(lab) == "false"  # the workbook's overrides, not JupyterLab's "ask"
        log = lab.log_text()
    assert "--ip=127.0.0.1" in log and "--IdentityProvider.token" not in log


def test_in_a_codespace_the_forwarding_authenticates_and_only_its_origin_is_allowed(
        lab_env: dict[str, str], tmp_path: Path) -> None:
    forwarded = f"https://{CODESPACE['CODESPACE_NAME']}-0.{CODESPACE['GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN']}"
    with running_lab(MAKE_LAB, lab_env | CODESPACE, ROOT, tmp_path / "lab.log") as lab:
        assert lab.token == ""
        # What the port forwarding sends: the Host it connects to, the Origin of the page in the learner's browser.
        assert status(lab, Host=f"localhost:{lab.port}", Origin=forwarded) == 200
        # Any other site in the learner's browser is still refused (404 is how jupyter_server refuses an origin).
        assert status(lab, Host=f"localhost:{lab.port}", Origin="https://evil-0.app.github.dev") == 404
        assert status(lab, Host=f"localhost:{lab.port}", Origin="https://example.com") == 404
        assert fetch_news_default(lab) == "false"
        log = lab.log_text()
    assert "--ip=127.0.0.1" in log and "--no-browser" in log
