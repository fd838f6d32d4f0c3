"""A real browser on a real JupyterLab: open the first notebook, run all its cells, see its check pass; open a
notebook with a diagram and see the picture load.

Chromium comes from the system (Debian's package; `.ci/run` installs it), never from a download: without it, or
when Playwright cannot start it, the test skips and says why.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest

from test.classroom.labs import ROOT, VENV_BIN, RunningLab, running_lab

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

# Debian's chromium first; Google Chrome is what GitHub's Ubuntu runners carry.
BROWSERS = (Path("/usr/bin/chromium"), Path("/usr/bin/google-chrome"))
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-sync"]
NOTEBOOK = "00_welcome.ipynb"
# A learner notebook that shows a diagram from figures/ (its markdown links ../figures/NAME.svg).
DIAGRAM_NOTEBOOK = "notebooks/02_tokens.ipynb"
DIAGRAM = "token-parts.svg"
PASS_LINE = re.compile(r"✅ split_scopes: all \d+ cases pass")
SETTINGS_OVERRIDES = ROOT / ".jupyter" / "lab" / "settings"
WAIT_MS = 45_000
IMAGE_WAIT_MS = 10_000  # a file from the lab's own server: it loads at once or never


@pytest.fixture
def browser_executable() -> Path:
    """Checked before JupyterLab starts, so that a missing browser skips at once."""
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
    found = next((path for path in BROWSERS if path.exists()), None)
    if found is None:
        pytest.skip(f"no Chromium at {BROWSERS[0]} (apt-get install chromium; .ci/run installs it)")
    return found


@pytest.fixture
def workbook_copy(tmp_path: Path) -> Path:
    """A folder with the first notebook, solved and without outputs (the pass line can only come from running it),
    a markdown guide, and a learner notebook with the figures beside it as in the repository."""
    folder = tmp_path / "workbook"
    folder.mkdir()
    notebook = nbformat.read(ROOT / "solutions" / NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(notebook, folder / NOTEBOOK)
    (folder / "lab-guide.md").write_text("# The lab guide\n\nStart with notebook 00.\n")
    (folder / "notebooks").mkdir()
    shutil.copy(ROOT / DIAGRAM_NOTEBOOK, folder / DIAGRAM_NOTEBOOK)
    shutil.copytree(ROOT / "figures", folder / "figures")
    return folder


@pytest.fixture
def lab(browser_executable: Path, workbook_copy: Path, lab_env: dict[str, str], tmp_path: Path) -> Iterator[RunningLab]:
    """JupyterLab as `make lab` starts it locally (loopback, token, the workbook's settings overrides)."""
    command = [str(VENV_BIN / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", "--port=0",
               "--ServerApp.port_retries=0", f"--ServerApp.root_dir={workbook_copy}",
               f"--LabApp.app_settings_dir={SETTINGS_OVERRIDES}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    with running_lab(command, lab_env, workbook_copy, tmp_path / "lab.log") as running:
        yield running


@pytest.fixture
def page(browser_executable: Path, lab: RunningLab) -> Iterator[Page]:
    """A page of headless Chromium, closed before JupyterLab stops."""
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=str(browser_executable), headless=True,
                                                 args=BROWSER_ARGS)
        except Error as error:
            pytest.skip(f"Playwright could not start {browser_executable}: {str(error).splitlines()[0]}")
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_the_first_notebook_runs_in_jupyterlab_and_its_check_passes(page: Page, lab: RunningLab) -> None:
    page.goto(lab.url(f"/lab/tree/{NOTEBOOK}?token={lab.token}"))
    # The status bar names the kernel once it is connected and idle.
    page.get_by_text(re.compile(r"\(ipykernel\) \| Idle")).wait_for(timeout=WAIT_MS)
    outputs = page.locator(".jp-OutputArea-output")
    assert outputs.filter(has_text=PASS_LINE).count() == 0, "the copy must start without outputs"

    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

    outputs.filter(has_text=PASS_LINE).wait_for(timeout=WAIT_MS)
    assert page.get_by_text("Select Kernel").count() == 0
    # The workbook's settings overrides: no "get notified about official Jupyter news?" toast.
    assert page.get_by_text("official Jupyter news").count() == 0


def test_markdown_opens_rendered_so_the_lab_guide_reads_as_a_page(page: Page, lab: RunningLab) -> None:
    page.goto(lab.url(f"/lab/tree/lab-guide.md?token={lab.token}"))
    page.locator(".jp-RenderedMarkdown h1", has_text="The lab guide").wait_for(timeout=WAIT_MS)


def test_a_notebook_shows_its_diagram(page: Page, lab: RunningLab, workbook_copy: Path) -> None:
    """The markdown's ../figures/ link resolves in JupyterLab and the SVG decodes as an image (a broken link or a
    file the browser cannot render leaves naturalWidth at 0)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    shown = f"../figures/{DIAGRAM}" in (workbook_copy / DIAGRAM_NOTEBOOK).read_text()
    assert shown, f"{DIAGRAM_NOTEBOOK} does not show ../figures/{DIAGRAM}"
    page.goto(lab.url(f"/lab/tree/{DIAGRAM_NOTEBOOK}?token={lab.token}"))
    image = page.locator(f'.jp-RenderedMarkdown img[src*="{DIAGRAM}"]').first
    image.wait_for(state="attached", timeout=WAIT_MS)
    image.scroll_into_view_if_needed(timeout=WAIT_MS)
    try:
        page.wait_for_function("image => image.complete && image.naturalWidth > 0", arg=image.element_handle(),
                               timeout=IMAGE_WAIT_MS)
    except PlaywrightTimeout:
        pytest.fail(f"{DIAGRAM} did not load in JupyterLab: src={image.get_attribute('src')!r}, naturalWidth 0")
    width = image.evaluate("image => image.naturalWidth")
    assert width == int(re.search(r'width="(\d+)"', (workbook_copy / "figures" / DIAGRAM).read_text())[1])
    assert image.get_attribute("alt"), "a diagram needs alternative text in its markdown"
