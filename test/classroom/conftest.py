"""The environment the classroom tests start JupyterLab in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from test.classroom.labs import CODESPACE_VARIABLES


@pytest.fixture
def lab_env(tmp_path: Path) -> dict[str, str]:
    """The environment for a JupyterLab that leaves the learner's own Jupyter folders alone."""
    env = {name: value for name, value in os.environ.items() if name not in CODESPACE_VARIABLES}
    for variable, folder in (("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTERLAB_SETTINGS_DIR", "user-settings"),
                             ("JUPYTERLAB_WORKSPACES_DIR", "workspaces")):
        (tmp_path / folder).mkdir()
        env[variable] = str(tmp_path / folder)
    env["BROWSER"] = "true"  # a no-op browser: nothing pops up on a developer's desktop
    return env
