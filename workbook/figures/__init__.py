"""The workbook's diagrams: SVG files in ``figures/``, each drawn by one module of this package.

    python -m workbook.figures            # (re)write every figures/*.svg (make figures)
    python -m workbook.figures --check    # exit 1, naming them, when a committed SVG is stale or missing

The notebooks show them with ``![...](../figures/NAME.svg)``. Edit the module, never the SVG: the test
``test/workbook/test_figures.py`` fails when the committed files differ from what the modules draw.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from . import (
    authorizer_architectures,
    deployment_paths,
    jwks_cache_timeline,
    pyjwkclient_names,
    request_path,
    token_parts,
    zip_layout,
)
from .svg import Drawing

ROOT = Path(__file__).resolve().parents[2]
FIGURES_DIR = ROOT / "figures"

#: Every figure, by file name, and the function that draws it.
FIGURES: dict[str, Callable[[], Drawing]] = {
    module.NAME: module.draw
    for module in (request_path, token_parts, jwks_cache_timeline, pyjwkclient_names, zip_layout, deployment_paths,
                   authorizer_architectures)
}


def render(name: str) -> bytes:
    """The bytes of figure ``name`` as its module draws it now."""
    return FIGURES[name]().render().encode("utf-8")


def render_all() -> dict[str, bytes]:
    return {name: render(name) for name in FIGURES}
