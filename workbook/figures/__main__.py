"""``python -m workbook.figures [--check] [--output DIR]``: write the diagrams, or say which are stale."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import FIGURES_DIR, render_all
from .svg import FigureError


def stale(folder: Path, figures: dict[str, bytes]) -> list[str]:
    """What differs between ``folder`` and ``figures``: one line per figure, empty when all match."""
    problems = []
    for name, content in figures.items():
        path = folder / name
        if not path.exists():
            problems.append(f"{name}: missing")
        elif path.read_bytes() != content:
            problems.append(f"{name}: differs from what its source draws")
    for path in sorted(folder.glob("*.svg")):
        if path.name not in figures:
            problems.append(f"{path.name}: no module draws it (delete it, or add its source)")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbook.figures", description=__doc__)
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when a committed SVG is stale, missing or has no source")
    parser.add_argument("--output", type=Path, default=FIGURES_DIR, help=f"the folder (default {FIGURES_DIR})")
    args = parser.parse_args(argv)
    try:
        figures = render_all()
    except FigureError as error:
        print(f"cannot draw the figures: {error}", file=sys.stderr)
        return 1
    if args.check:
        problems = stale(args.output, figures)
        for problem in problems:
            print(f"stale: {args.output.name}/{problem}", file=sys.stderr)
        if problems:
            print("run `make figures` (python -m workbook.figures) and commit figures/", file=sys.stderr)
            return 1
        print(f"{len(figures)} figures up to date in {args.output}")
        return 0
    args.output.mkdir(parents=True, exist_ok=True)
    for name, content in figures.items():
        path = args.output / name
        changed = not path.exists() or path.read_bytes() != content
        if changed:
            path.write_bytes(content)
        print(f"{'wrote' if changed else 'unchanged'} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
