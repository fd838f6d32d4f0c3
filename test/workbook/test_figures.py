"""The diagrams in figures/: committed bytes equal what their sources draw, render alike everywhere, are used.

A stale SVG is the failure these tests exist for: edit ``workbook/figures/*.py``, run ``make figures``, commit both.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from workbook import figures
from workbook.figures import __main__ as cli
from workbook.figures.__main__ import main, stale
from workbook.figures.svg import GRAY, INK, MUTED, Drawing, FigureError, Span, number, spans, text_width

ROOT = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"
REFERENCE = re.compile(r"\.\./figures/([A-Za-z0-9_.-]+\.svg)")
NOTEBOOK_WIDTH = 800
GENERIC_FAMILIES = ("sans-serif", "serif", "monospace")


@pytest.fixture(scope="module")
def drawn() -> dict[str, bytes]:
    return figures.render_all()


def figure_references(folder: Path) -> dict[str, set[str]]:
    """Each figure file name a notebook's markdown in ``folder`` shows, with the notebooks that show it."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "markdown":
                for name in REFERENCE.findall(cell.source):
                    found.setdefault(name, set()).add(path.name)
    return found


# Staleness ----------------------------------------------------------------------------------------------------------

def test_every_committed_figure_is_what_its_source_draws(drawn: dict[str, bytes]) -> None:
    problems = stale(figures.FIGURES_DIR, drawn)
    assert problems == [], "run `make figures` and commit figures/:\n" + "\n".join(problems)


def test_the_check_names_a_stale_a_missing_and_an_orphaned_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                   drawn: dict[str, bytes]) -> None:
    folder = tmp_path / "figures"
    shutil.copytree(figures.FIGURES_DIR, folder)
    assert main(["--check", "--output", str(folder)]) == 0

    edited, removed = "token-parts.svg", "zip-layout.svg"
    (folder / edited).write_bytes(drawn[edited].replace(b"three", b"four", 1))
    (folder / removed).unlink()
    (folder / "old-picture.svg").write_text("<svg/>")
    assert main(["--check", "--output", str(folder)]) == 1
    errors = capsys.readouterr().err
    assert f"{edited}: differs" in errors
    assert f"{removed}: missing" in errors
    assert "old-picture.svg: no module draws it" in errors
    assert "make figures" in errors


def test_writing_restores_the_figures_and_a_second_run_changes_nothing(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "a" / "new" / "figures"
    assert main(["--output", str(folder)]) == 0
    assert stale(folder, figures.render_all()) == []
    assert capsys.readouterr().out.count("wrote ") == len(figures.FIGURES)
    assert main(["--output", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "wrote" not in out and out.count("unchanged ") == len(figures.FIGURES)


def test_the_check_reads_the_repository_s_figures_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check"]) == 0
    assert f"{len(figures.FIGURES)} figures up to date in {figures.FIGURES_DIR}" in capsys.readouterr().out


def test_a_figure_that_cannot_be_drawn_fails_the_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    def overflowing() -> dict[str, bytes]:
        raise FigureError("request-path: 'a label' needs about 300 px, has 200")

    monkeypatch.setattr(cli, "render_all", overflowing)
    assert main(["--output", str(tmp_path)]) == 1
    assert "cannot draw the figures: request-path: 'a label' needs about 300 px" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_bytes_do_not_depend_on_the_process(drawn: dict[str, bytes], tmp_path: Path) -> None:
    """Another interpreter with another hash seed writes the same bytes (no set order, time or id leaks in)."""
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    completed = subprocess.run(  # noqa: S603 (a fixed command)
        [sys.executable, "-m", "workbook.figures", "--output", str(tmp_path)], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert {path.name: path.read_bytes() for path in tmp_path.glob("*.svg")} == drawn


# What every viewer renders alike --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(figures.FIGURES))
def test_a_figure_is_plain_accessible_svg(name: str, drawn: dict[str, bytes]) -> None:
    text = drawn[name].decode("utf-8")
    root = ET.fromstring(text)  # noqa: S314 (our own output)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    width, height = int(root.get("width")), int(root.get("height"))
    assert width <= NOTEBOOK_WIDTH and root.get("viewBox") == f"0 0 {width} {height}"
    # The accessible name and description come first and are referenced by id.
    title, desc = root[0], root[1]
    assert (title.tag, desc.tag) == (f"{SVG}title", f"{SVG}desc")
    assert len(title.text) > 10 and len(desc.text) > 200
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    # Nothing a sanitizer strips or a viewer refuses: no scripts, CSS, embedded HTML, links or external resources.
    tags = {element.tag.removeprefix(SVG) for element in root.iter()}
    assert tags <= {"svg", "title", "desc", "defs", "marker", "path", "rect", "line", "circle", "text", "tspan"}
    assert not re.search(r"\b(href|style|class|on[a-z]+)=", text)
    values = [value for element in root.iter() for value in element.attrib.values()]
    assert not [value for value in values if "://" in value or ("url(" in value and "url(#" not in value)]
    # Ids are unique and carry the figure's prefix, so two figures inlined in one page never collide.
    ids = [element.get("id") for element in root.iter() if element.get("id")]
    assert len(ids) == len(set(ids)) and all(id_.startswith(name.removesuffix(".svg") + "-") for id_ in ids)
    # Every font list ends with a generic family; the text is real text.
    families = {element.get("font-family") for element in root.iter() if element.get("font-family")}
    assert families and all(family.endswith(GENERIC_FAMILIES) for family in families)
    assert sum(1 for element in root.iter(f"{SVG}text")) >= 10
    # A white background covers the picture, so it reads on a dark theme too.
    background = root.find(f"{SVG}rect")
    assert (background.get("width"), background.get("height"), background.get("fill")) == (
        str(width), str(height), "#ffffff")


def test_text_widths_follow_the_font_metrics() -> None:
    assert text_width("a", 10) == pytest.approx(6.13)
    assert text_width("a", 10, bold=True) == pytest.approx(6.75)
    assert text_width([Span("a", bold=True)], 10) == pytest.approx(6.75)
    assert text_width("`a`", 10) == pytest.approx(6.02)
    assert text_width(" ~", 10) == pytest.approx(3.18 + 8.38)  # both ends of the ASCII table
    for wide in ("\u2026", "\x7f", "`\u2192`"):
        assert text_width(wide, 10) == pytest.approx(10)


def test_coordinates_are_written_short_and_exact() -> None:
    assert [number(value) for value in (12, 12.0, 12.5, 12.25, 0.1 + 0.2, 100, 10.10, 1 / 3)] == [
        "12", "12", "12.5", "12.25", "0.3", "100", "10.1", "0.33"]


def test_text_that_would_overflow_its_room_stops_the_generator() -> None:
    drawing = Drawing(200, 100, title="t", description="d", slug="t")
    needed = text_width("abc", 10) * 1.06
    drawing.text(0, 10, "abc", size=10, max_width=needed)  # exactly enough room
    with pytest.raises(FigureError, match=r"^t: 'abc' needs about 19 px, has 19$"):
        drawing.text(0, 10, "abc", size=10, max_width=needed - 0.01)
    with pytest.raises(FigureError, match=r"'use kid' needs about"):
        drawing.text(0, 10, "use `kid`", size=10, max_width=10)
    with pytest.raises(FigureError, match="'abc' needs about"):  # bold is wider
        drawing.text(0, 10, "abc", size=10, bold=True, max_width=needed)
    with pytest.raises(FigureError, match="'abc' needs about"):
        drawing.lines(0, 10, ["abc"], size=10, bold=True, max_width=needed)
    with pytest.raises(FigureError, match="unknown text anchor 'left'"):
        drawing.text(0, 10, "abc", anchor="left")


def test_a_box_checks_its_text_fits_across_and_down() -> None:
    drawing = Drawing(400, 200, title="t", description="d", slug="t")
    with pytest.raises(FigureError, match="needs about"):
        drawing.box(0, 0, 120, 60, GRAY, body=["this line is far too long for a box this narrow"])
    with pytest.raises(FigureError, match="needs about"):
        drawing.box(0, 0, 120, 60, GRAY, heading="a heading far too long for it")
    fits_without_padding = text_width("abcdefgh", 13) * 1.06 + 1
    drawing.box(0, 0, fits_without_padding, 40, GRAY, body=["abcdefgh"], padding=0)
    with pytest.raises(FigureError, match="needs about"):  # the padding on both sides is not room for text
        drawing.box(0, 0, fits_without_padding, 40, GRAY, body=["abcdefgh"], padding=2)
    # Heading 14 px and two lines of 13 px with 10 px of padding need 77.7 px; a heading alone 37.85 px;
    # the two lines alone 55.75 px (half a pixel of slack).
    cases = ((dict(heading="h", body=["one", "two"]), 77.7), (dict(heading="h"), 37.85),
             (dict(body=["one", "two"]), 55.75))
    for content, needed in cases:
        drawing.box(0, 0, 100, needed - 0.5, GRAY, **content)
        with pytest.raises(FigureError, match="px of height"):
            drawing.box(0, 0, 100, needed - 0.51, GRAY, **content)
    # Without a heading the first line starts at the top, not a heading's height lower.
    lone = Drawing(100, 100, title="t", description="d", slug="t")
    lone.box(0, 0, 100, 60, GRAY, body=["one"], dash="5 3")
    assert '<text x="10" y="22.35" font-size="13"' in lone.render()
    assert 'stroke-dasharray="5 3"' in lone.render()


def test_shapes_write_only_the_attributes_they_need() -> None:
    drawing = Drawing(100, 100, title="t", description="d", slug="s")
    drawing.rect(0, 0, 10, 10, radius=0)
    drawing.rect(0, 0, 10, 10, stroke=INK, dash="2 2")
    drawing.path("M0,0 H5", dash="3 1")
    drawing.circle(5, 5, 2, fill=INK, stroke=MUTED)
    drawing.arrow(0, 0, 5, 5, stroke=INK, width=3)
    drawing.arrow(0, 0, 5, 5, stroke=MUTED)
    drawing.text(0, 0, "label", halo=True)
    rendered = drawing.render()
    assert '<rect x="0" y="0" width="10" height="10" fill="#ffffff"/>' in rendered
    assert 'stroke="#1f2328" stroke-width="1.5" stroke-dasharray="2 2"/>' in rendered
    assert '<path d="M0,0 H5" fill="none" stroke="#424a53" stroke-width="1.5" stroke-dasharray="3 1"/>' in rendered
    assert '<circle cx="5" cy="5" r="2" fill="#1f2328" stroke="#424a53"/>' in rendered
    assert 'stroke-width="3" marker-end="url(#s-arrow-1f2328)"/>' in rendered
    assert 'stroke="#ffffff" stroke-width="4" stroke-linejoin="round" paint-order="stroke">label</text>' in rendered
    # One marker per arrow colour, side by side in <defs>.
    assert '<path d="M0,0 L10,5 L0,10 z" fill="#1f2328"/></marker><marker id="s-arrow-424a53"' in rendered


def test_backticks_mark_code_and_text_is_escaped() -> None:
    assert spans("use `kid` here") == [Span("use "), Span("kid", code=True), Span(" here")]
    with pytest.raises(FigureError, match="unbalanced"):
        spans("a `b")
    drawing = Drawing(100, 50, title="<t&>", description="d", slug="x")
    drawing.text(0, 20, "a < b & `c > d`")
    rendered = drawing.render()
    ET.fromstring(rendered)  # noqa: S314 (our own output)
    assert "<title id=\"x-title\">&lt;t&amp;&gt;</title>" in rendered and "a &lt; b &amp; " in rendered


# Each figure checks the facts it draws ---------------------------------------------------------------------------------

def test_a_figure_refuses_to_draw_facts_that_changed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from lambda_build import build_zip
    from lambdaone import settings
    from workbook.exercises import jwks_via_from_import
    from workbook.figures import deployment_paths, jwks_cache_timeline, pyjwkclient_names, zip_layout

    with monkeypatch.context() as patch:
        patch.setattr(settings, "VARIABLES", tuple(name for name in settings.VARIABLES if name != "JWKS_STALE_SECONDS"))
        with pytest.raises(FigureError, match="no longer reads JWKS_STALE_SECONDS$"):
            jwks_cache_timeline.draw()
    with monkeypatch.context() as patch:
        patch.setattr(jwks_via_from_import, "PyJWKClient", object)
        with pytest.raises(FigureError, match="no longer one class object"):
            pyjwkclient_names.draw()
    with monkeypatch.context() as patch:
        patch.setattr(build_zip, "CODE_PACKAGES", ("lambdaone", "extra"))
        with pytest.raises(FigureError, match="no longer lambda_function.py and lambdaone/"):
            zip_layout.draw()
    dockerfile = tmp_path / "Dockerfile"
    monkeypatch.setattr(deployment_paths, "DOCKERFILE", dockerfile)
    base = "ARG BASE_IMAGE=public.ecr.aws/lambda/python:3.12\n"
    for text, message in ((base + 'CMD ["app.main"]\n', "CMD names app.main, the zip path lambda_function.handler"),
                          (base, "no ARG BASE_IMAGE"), ('CMD ["lambda_function.handler"]\n', "no ARG BASE_IMAGE")):
        dockerfile.write_text(text)
        with pytest.raises(FigureError, match=message):
            deployment_paths.draw()


# The notebooks show them ------------------------------------------------------------------------------------------------

def test_every_figure_a_notebook_shows_exists() -> None:
    for folder in (ROOT / "solutions", ROOT / "notebooks"):
        for name, notebooks in figure_references(folder).items():
            assert name in figures.FIGURES, f"{folder.name}/{sorted(notebooks)} show ../figures/{name}: no such figure"
            assert (figures.FIGURES_DIR / name).is_file(), f"figures/{name} is not committed"


def test_learner_notebooks_show_the_same_figures_as_the_solutions() -> None:
    assert figure_references(ROOT / "notebooks") == figure_references(ROOT / "solutions")


def test_every_figure_is_shown_by_a_notebook() -> None:
    shown = figure_references(ROOT / "solutions")
    assert sorted(set(figures.FIGURES) - set(shown)) == []
