"""The deployment zip: what sits at its root, what is compiled for which Python, what never goes in (notebook 10).

The code's names, the target Python and the platform come from ``lambda_build.build_zip``, the builder itself.
"""

from __future__ import annotations

from lambda_build import build_zip

from .svg import BLUE, GRAY, GREEN, MUTED, PURPLE, RED, YELLOW, Drawing, FigureError, Line, Span, Tone, text_width

NAME = "zip-layout.svg"
WIDTH, HEIGHT = 800, 500
LEFT, RIGHT = 24, 776
PANEL = 500  # where the "never" panel starts
ROW = 34
DESCRIPTION_X = 214


def target() -> tuple[str, str]:
    """The zip's Python version and CPython tag, for the default x86_64 platform: ("3.12", "312")."""
    version = build_zip.DEFAULT_PYTHON
    if build_zip.CODE_FILES != ("lambda_function.py",) or build_zip.CODE_PACKAGES != ("lambdaone",):
        raise FigureError(f"{NAME}: the zip's code is no longer lambda_function.py and lambdaone/: redraw it")
    return version, version.replace(".", "")


def chip(drawing: Drawing, x: float, y: float, name: str, tone: Tone) -> float:
    """An entry's name in a coloured rounded box, its text baseline at ``y``; returns the box's right edge."""
    width = text_width([Span(name, code=True)], 12.5) + 16
    drawing.rect(x, y - 16, width, 23, fill=tone.fill, stroke=tone.stroke, radius=4, stroke_width=1.2)
    drawing.text(x + 8, y, [Span(name, code=True)], size=12.5)
    return x + width


def row(drawing: Drawing, y: float, name: str, description: Line, tone: Tone, *, below: bool = False) -> float:
    """One top-level entry of the zip: its name and what it is; returns the next row's baseline."""
    drawing.line(LEFT + 10, y - 4, LEFT + 26, y - 4, stroke=MUTED, width=1.2)
    end = chip(drawing, LEFT + 28, y, name, tone)
    if below:
        drawing.text(LEFT + 36, y + 24, description, size=12.5, fill=MUTED, max_width=PANEL - LEFT - 50)
        return y + ROW + 22
    if end > DESCRIPTION_X - 8:
        raise FigureError(f"{NAME}: the entry {name!r} is too wide for its row")
    drawing.text(DESCRIPTION_X, y, description, size=12.5, fill=MUTED, max_width=PANEL - DESCRIPTION_X - 14)
    return y + ROW


def draw() -> Drawing:
    version, tag = target()
    drawing = Drawing(WIDTH, HEIGHT, slug="zip-layout", title="The deployment zip: everything at its root",
                      description=(
                          "The zip that make zip builds, as Lambda extracts it into /var/task, the first folder on "
                          "sys.path. At its root: lambda_function.py (the handler module), the package lambdaone, "
                          "and the packages jwt (PyJWT, pure Python), cryptography (its _rust.abi3.so runs on any "
                          f"CPython from 3.11 on Linux), cffi and pycparser, and _cffi_backend.cpython-{tag}-"
                          f"x86_64-linux-gnu.so, which loads only on CPython {version} on Linux x86_64; each "
                          f"package's dist-info metadata; and bytecode compiled by Python {version} "
                          f"(__pycache__ with .cpython-{tag}.pyc files), because /var/task is read-only. Never in "
                          "it: tests, notebooks, the workbook, .venv, requirements files, pip's bin folder of "
                          "console scripts, .env and .git, private keys, bytecode for another Python, or packages "
                          "under python3.12/site-packages."))
    drawing.text(LEFT, 30, "The deployment zip: everything at its root", size=18, bold=True)
    drawing.lines(LEFT, 56, [
        "Lambda extracts it into `/var/task`, first on `sys.path`: `import jwt` finds `jwt/` at the root.",
    ], size=12.5, fill=MUTED, max_width=RIGHT - LEFT)

    top = 92
    drawing.text(LEFT, top, [Span("build/lambdaone.zip", code=True, bold=True)], size=13.5)
    y = top + 30
    first = y
    y = row(drawing, y, "lambda_function.py", [Span("handler "), Span("lambda_function.handler", code=True)], GREEN)
    y = row(drawing, y, "lambdaone/", "the package it imports", GREEN)
    y = row(drawing, y, "jwt/", "PyJWT: pure Python, any version", BLUE)
    y = row(drawing, y, "cryptography/", "`_rust.abi3.so`: CPython 3.11+, Linux", BLUE)
    y = row(drawing, y, "cffi/  pycparser/", "what cryptography imports", BLUE)
    y = row(drawing, y, f"_cffi_backend.cpython-{tag}-x86_64-linux-gnu.so",
            [Span(f"loads on CPython {version}, Linux x86_64, and nowhere else", bold=True, fill=YELLOW.stroke)],
            YELLOW, below=True)
    y = row(drawing, y, "*.dist-info/", "each package's metadata", GRAY)
    y = row(drawing, y, f"__pycache__/*.cpython-{tag}.pyc",
            f"bytecode by Python {version} (`/var/task` is read-only at run time)",
            PURPLE, below=True)
    drawing.line(LEFT + 10, first - 22, LEFT + 10, y - ROW - 26, stroke=MUTED, width=1.2)
    drawing.text(LEFT + 36, y - 10, "(in every package's folder too)", size=12, fill=MUTED)

    _never(drawing, top - 16)
    drawing.lines(LEFT, HEIGHT - 30, [
        f"Built for one runtime: `make zip` targets python{version} on x86_64. For another, build again",
        "(`--python 3.13`, `--arch arm64`) and configure the function to match.",
    ], size=12.5, fill=MUTED, max_width=RIGHT - LEFT)
    return drawing


def _never(drawing: Drawing, top: float) -> None:
    """The red panel: what the builder never copies, each item crossed out."""
    items: list[Line] = [
        "`test/`, `tests/`, `notebooks/`",
        "`*.ipynb` anywhere",
        "`workbook/`, `bench/`, `lambda_build/`",
        "`.venv/` (your machine's packages)",
        "`requirements*.txt`, `Makefile`",
        "`bin/` (pip's console scripts)",
        "`.env`, `.git/`",
        "private keys (a public PEM is fine)",
        "bytecode for another Python",
        "`python3.12/site-packages/...`",
    ]
    step = 24
    height = 44 + len(items) * step + 30
    left = PANEL + 12
    drawing.rect(PANEL, top, RIGHT - PANEL, height, fill=RED.fill, stroke=RED.stroke)
    drawing.text(left, top + 26, "never in the zip", size=14, bold=True, fill=RED.stroke)
    y = top + 52
    for item in items:
        drawing.line(left, y - 9, left + 8, y - 1, stroke=RED.stroke, width=1.6)
        drawing.line(left, y - 1, left + 8, y - 9, stroke=RED.stroke, width=1.6)
        drawing.text(left + 16, y, item, size=12.5, max_width=RIGHT - left - 18)
        y += step
    drawing.text(left, top + height - 14, "`make zip` copies named inputs only", size=12, fill=MUTED,
                 max_width=RIGHT - PANEL - 24)
