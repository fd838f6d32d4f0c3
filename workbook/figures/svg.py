"""A small SVG writer for the workbook's diagrams: the same input gives the same bytes on every machine.

Only what every viewer renders alike is written (JupyterLab, VS Code, GitHub): shapes, real ``<text>``
with a generic font family at the end of its list, presentation attributes instead of CSS, one arrow
marker, a white background so the picture reads on a dark theme too. No scripts, no ``foreignObject``,
no external fonts, no timestamps or random ids.

Text cannot be measured without a font, so widths are estimated from the advance widths of DejaVu Sans
(Book and Bold) and DejaVu Sans Mono, the fonts Linux falls back to; Verdana, listed first, has nearly
the same metrics, and Helvetica, Arial and Consolas are narrower. Every piece of text drawn with a
``max_width`` is checked against that estimate (plus a margin), so a label that would overflow its box
stops the generator instead of being cut off in the picture.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

SANS = "Verdana, 'DejaVu Sans', 'Bitstream Vera Sans', sans-serif"
MONO = "Menlo, Consolas, 'DejaVu Sans Mono', monospace"

# Colours with a contrast of at least 4.5:1: INK and MUTED on white and on every FILL; each STROKE on white.
INK = "#1f2328"
MUTED = "#424a53"
WHITE = "#ffffff"


@dataclass(frozen=True)
class Tone:
    """A fill for boxes and the darker stroke that outlines them (also usable as text colour on white)."""

    fill: str
    stroke: str


BLUE = Tone("#ddf4ff", "#0969da")
GREEN = Tone("#dafbe1", "#1a7f37")
YELLOW = Tone("#fff8c5", "#9a6700")
RED = Tone("#ffebe9", "#cf222e")
PURPLE = Tone("#fbefff", "#8250df")
GRAY = Tone("#f6f8fa", "#57606a")

# Advance widths (units per 1000 em) of ASCII 32..126, measured with cairo from the DejaVu fonts.
_SANS_WIDTHS = (
    318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636, 636, 636, 636,
    636, 636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632, 575, 775, 752, 295, 295, 656,
    557, 863, 748, 787, 603, 787, 695, 635, 611, 732, 684, 989, 685, 611, 685, 390, 337, 390, 838, 500, 500, 613,
    635, 550, 635, 615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818,
    592, 592, 525, 636, 337, 636, 838,
)
_BOLD_WIDTHS = (
    348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365, 696, 696, 696, 696, 696, 696,
    696, 696, 696, 696, 400, 400, 838, 838, 838, 580, 1000, 774, 762, 734, 830, 683, 683, 821, 837, 372, 372, 775,
    637, 995, 837, 850, 733, 850, 770, 720, 682, 812, 774, 1103, 771, 724, 725, 457, 365, 457, 838, 500, 500, 675,
    716, 593, 716, 678, 435, 716, 712, 343, 343, 665, 343, 1042, 712, 687, 716, 716, 493, 595, 478, 712, 652, 924,
    645, 652, 582, 712, 365, 712, 838,
)
_MONO_WIDTH = 602
_WIDE = 1000  # anything outside ASCII (arrows, ellipsis, dashes): no narrower than this in any fallback font
_FIT_MARGIN = 1.06  # Verdana runs up to a few per cent wider than DejaVu Sans


class FigureError(ValueError):
    """A figure cannot be drawn as described (text wider than its box, an unknown style)."""


@dataclass(frozen=True)
class Span:
    """A run of text inside one line: ``code`` for monospace, ``bold`` for emphasis, an optional colour."""

    text: str
    code: bool = False
    bold: bool = False
    fill: str | None = None


Line = str | Span | Sequence[str | Span]


def spans(line: Line) -> list[Span]:
    """A line as spans; in a plain string, text between backticks becomes code (as in Markdown)."""
    if isinstance(line, Span):
        return [line]
    if isinstance(line, str):
        parts = line.split("`")
        if len(parts) % 2 == 0:
            raise FigureError(f"unbalanced backticks in {line!r}")
        return [Span(part, code=index % 2 == 1) for index, part in enumerate(parts) if part]
    result: list[Span] = []
    for item in line:
        result.extend(spans(item))
    return result


def text_width(line: Line, size: float, *, bold: bool = False) -> float:
    """The estimated width in pixels of ``line`` at font size ``size``."""
    total = 0.0
    for span in spans(line):
        for char in span.text:
            if span.code:
                units = _MONO_WIDTH if char.isascii() else _WIDE
            elif 32 <= ord(char) <= 126:
                units = (_BOLD_WIDTHS if (bold or span.bold) else _SANS_WIDTHS)[ord(char) - 32]
            else:
                units = _WIDE
            total += units
    return total * size / 1000


def number(value: float) -> str:
    """A coordinate as the shortest exact text: 12, 12.5 (never 12.0 or 12.500000001)."""
    rounded = round(value, 2)
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:.2f}".rstrip("0")


def _attributes(pairs: Iterable[tuple[str, object]]) -> str:
    out = []
    for name, value in pairs:
        if value is None:
            continue
        text = number(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)
        out.append(f" {name}={quoteattr(text)}")
    return "".join(out)


class Drawing:
    """An SVG picture built element by element; :meth:`render` gives its text."""

    def __init__(self, width: int, height: int, *, title: str, description: str, slug: str) -> None:
        self.width = width
        self.height = height
        self.title = title
        self.description = description
        self.slug = slug  # prefixes the ids, so that two pictures inlined in one page never share one
        self._elements: list[str] = []

    # Shapes ---------------------------------------------------------------------------------------------------

    def rect(self, x: float, y: float, width: float, height: float, *, fill: str = WHITE, stroke: str | None = None,
             radius: float = 6, stroke_width: float = 1.5, dash: str | None = None) -> None:
        self._elements.append("<rect" + _attributes([
            ("x", x), ("y", y), ("width", width), ("height", height), ("rx", radius if radius else None),
            ("fill", fill), ("stroke", stroke), ("stroke-width", stroke_width if stroke else None),
            ("stroke-dasharray", dash)]) + "/>")

    def line(self, x1: float, y1: float, x2: float, y2: float, *, stroke: str = MUTED, width: float = 1.5,
             dash: str | None = None, arrow: bool = False) -> None:
        self._elements.append("<line" + _attributes([
            ("x1", x1), ("y1", y1), ("x2", x2), ("y2", y2), ("stroke", stroke), ("stroke-width", width),
            ("stroke-dasharray", dash), ("marker-end", self._marker(stroke) if arrow else None)]) + "/>")

    def path(self, d: str, *, stroke: str = MUTED, width: float = 1.5, fill: str = "none", dash: str | None = None,
             arrow: bool = False) -> None:
        self._elements.append("<path" + _attributes([
            ("d", d), ("fill", fill), ("stroke", stroke), ("stroke-width", width), ("stroke-dasharray", dash),
            ("marker-end", self._marker(stroke) if arrow else None)]) + "/>")

    def circle(self, cx: float, cy: float, r: float, *, fill: str, stroke: str | None = None) -> None:
        self._elements.append("<circle" + _attributes([
            ("cx", cx), ("cy", cy), ("r", r), ("fill", fill), ("stroke", stroke)]) + "/>")

    def arrow(self, x1: float, y1: float, x2: float, y2: float, *, stroke: str = MUTED, width: float = 1.5,
              dash: str | None = None) -> None:
        """A straight line with an arrowhead at (x2, y2)."""
        self.line(x1, y1, x2, y2, stroke=stroke, width=width, dash=dash, arrow=True)

    # Text -----------------------------------------------------------------------------------------------------

    def text(self, x: float, y: float, line: Line, *, size: float = 14, bold: bool = False, anchor: str = "start",
             fill: str = INK, max_width: float | None = None, halo: bool = False) -> float:
        """One line of text with its baseline at ``y``; returns its estimated width.

        ``max_width`` is the room it has: more than that (by the estimate) is a :class:`FigureError`.
        ``halo`` outlines the letters in white, so that a label stays readable where it crosses a line.
        """
        if anchor not in ("start", "middle", "end"):
            raise FigureError(f"unknown text anchor {anchor!r}")
        parts = spans(line)
        width = text_width(parts, size, bold=bold)
        if max_width is not None and width * _FIT_MARGIN > max_width:
            plain = "".join(part.text for part in parts)
            raise FigureError(f"{self.slug}: {plain!r} needs about {width * _FIT_MARGIN:.0f} px, has {max_width:.0f}")
        inner = []
        for part in parts:
            inner.append("<tspan" + _attributes([
                ("font-family", MONO if part.code else None),
                ("font-weight", "bold" if part.bold and not bold else None),
                ("fill", part.fill)]) + ">" + escape(part.text) + "</tspan>"
                if (part.code or part.bold or part.fill) else escape(part.text))
        self._elements.append("<text" + _attributes([
            ("x", x), ("y", y), ("font-size", size), ("font-weight", "bold" if bold else None),
            ("text-anchor", anchor if anchor != "start" else None), ("fill", fill),
            ("stroke", WHITE if halo else None), ("stroke-width", 4 if halo else None),
            ("stroke-linejoin", "round" if halo else None), ("paint-order", "stroke" if halo else None)]) + ">" + "".join(inner) + "</text>")
        return width

    def lines(self, x: float, y: float, lines: Sequence[Line], *, size: float = 13, leading: float = 1.45,
              anchor: str = "start", fill: str = INK, max_width: float | None = None, bold: bool = False) -> float:
        """Several lines, the first baseline at ``y``; returns the baseline after the last one."""
        for line in lines:
            self.text(x, y, line, size=size, anchor=anchor, fill=fill, max_width=max_width, bold=bold)
            y += size * leading
        return y

    def box(self, x: float, y: float, width: float, height: float, tone: Tone, *, heading: Line | None = None,
            body: Sequence[Line] = (), size: float = 13, heading_size: float = 14, center: bool = False,
            padding: float = 10, dash: str | None = None) -> None:
        """A rounded box with an optional bold heading and lines of body text, all checked to fit."""
        self.rect(x, y, width, height, fill=tone.fill, stroke=tone.stroke, dash=dash)
        room = width - 2 * padding
        anchor, tx = ("middle", x + width / 2) if center else ("start", x + padding)
        baseline = y + padding + (heading_size if heading is not None else size) * 0.95
        if heading is not None:
            self.text(tx, baseline, heading, size=heading_size, bold=True, anchor=anchor, max_width=room)
            baseline += heading_size * 1.5
        end = self.lines(tx, baseline, body, size=size, anchor=anchor, max_width=room)
        used = (end - size * 1.45 if body else baseline - heading_size * 1.5) + size * 0.35 + padding - y
        if used > height + 0.5:
            raise FigureError(f"{self.slug}: the text of box {heading!r} needs {used:.0f} px of height, has {height}")

    # Output ---------------------------------------------------------------------------------------------------

    def _marker(self, colour: str) -> str:
        return f"url(#{self.slug}-arrow-{colour.lstrip('#')})"

    def render(self) -> str:
        """The SVG document: accessible name and description first, then the background and the elements."""
        body = "\n".join(self._elements)
        colours = sorted({element.split("-arrow-")[1].split(")")[0] for element in self._elements
                          if "-arrow-" in element})
        markers = "".join(
            f'<marker id="{self.slug}-arrow-{colour}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#{colour}"/></marker>'
            for colour in colours)
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
            f'viewBox="0 0 {self.width} {self.height}" role="img" '
            f'aria-labelledby="{self.slug}-title {self.slug}-desc" font-family="{SANS}" font-size="14">\n'
            f'<title id="{self.slug}-title">{escape(self.title)}</title>\n'
            f'<desc id="{self.slug}-desc">{escape(self.description)}</desc>\n'
            + (f"<defs>{markers}</defs>\n" if markers else "")
            + f'<rect width="{self.width}" height="{self.height}" fill="{WHITE}"/>\n'
            f"{body}\n</svg>\n"
        )
