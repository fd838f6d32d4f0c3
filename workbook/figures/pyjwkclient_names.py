"""PyJWKClient: one class object, three names, and what each kind of patch replaces (notebook 06).

The names are the ones ``workbook.exercises`` uses; drawing this figure checks that they still are one class.
"""

from __future__ import annotations

import jwt
import jwt.jwks_client

from workbook.exercises import jwks_via_from_import

from .svg import BLUE, GRAY, GREEN, INK, MUTED, RED, Drawing, FigureError, Span

NAME = "pyjwkclient-names.svg"
WIDTH, HEIGHT = 800, 580
LEFT, RIGHT = 24, 776

NAMES = (
    ("1 · in the package `jwt`", "`jwt.PyJWKClient`", "looked up in the package at each call"),
    ("2 · in the module `jwt.jwks_client`", "`jwt.jwks_client.PyJWKClient`", "where the class is defined"),
    ("3 · in your module", "`from jwt import PyJWKClient`", "copied into your module at import"),
)
FAKE, REAL = Span("fake", bold=True, fill=GREEN.stroke), Span("real", bold=True, fill=RED.stroke)
# What each patch makes the three names use, as notebook 06 measures it (the server counts real requests).
PATCHES = (
    ('`mock.patch("jwt.PyJWKClient", Fake)`', (FAKE, REAL, REAL)),
    ('`mock.patch("jwt.jwks_client.PyJWKClient", Fake)`', (REAL, FAKE, REAL)),
    ('`mock.patch.object(your_module, "PyJWKClient", Fake)`', (REAL, REAL, FAKE)),
    ("both names of 1 and 2, then `importlib.reload(your_module)`", (FAKE, FAKE, FAKE)),
    ('`mock.patch.object(PyJWKClient, "fetch_data", fake)`', (FAKE, FAKE, FAKE)),
)


def check_names() -> None:
    """The three names must still be one class object, or this picture would teach something false."""
    if not (jwt.PyJWKClient is jwt.jwks_client.PyJWKClient is jwks_via_from_import.PyJWKClient):
        raise FigureError(f"{NAME}: the three names of PyJWKClient are no longer one class object")


def draw() -> Drawing:
    check_names()
    drawing = Drawing(WIDTH, HEIGHT, slug="pyjwkclient-names", title="PyJWKClient: one class, three names",
                      description=(
                          "Three names point at one class object, PyJWKClient, defined in jwt/jwks_client.py, whose "
                          "fetch_data method is the one network call. Name 1 is jwt.PyJWKClient in the package jwt; "
                          "name 2 is jwt.jwks_client.PyJWKClient in the module that defines it; name 3 is the name "
                          "a module got with from jwt import PyJWKClient, copied when it was imported. A patch "
                          "rebinds one name: patching jwt.PyJWKClient makes only name 1 use the fake; patching "
                          "jwt.jwks_client.PyJWKClient only name 2; patching the module's own name with "
                          "mock.patch.object only name 3. Patching both names 1 and 2 and then reloading the module "
                          "reaches all three (reload again after the patches are undone). Patching the class's "
                          "fetch_data method reaches all three, since they share the class. Passing the client in "
                          "needs no patch at all."))
    drawing.text(LEFT, 30, "PyJWKClient: one class, three names", size=18, bold=True)
    top, height, gap = 52, 76, 10
    class_x, class_y, class_w, class_h = 500, 84, RIGHT - 500, 150
    for index, (heading, name, note) in enumerate(NAMES):
        y = top + index * (height + gap)
        drawing.box(LEFT, y, 340, height, GRAY, heading=heading, body=[name, note], size=12.5,
                    heading_size=13.5)
        drawing.arrow(LEFT + 340, y + height / 2, class_x - 4, class_y + 35 + index * 40, stroke=INK)
    drawing.box(class_x, class_y, class_w, class_h, BLUE, heading="the class object", body=[
        "`class PyJWKClient`, in",
        "`jwt/jwks_client.py`",
        "",
        "`fetch_data()`: the one network call",
        "`get_signing_key_from_jwt()`",
    ], size=12.5)
    drawing.text(class_x + class_w / 2, class_y + class_h + 22, "1, 2 and 3 are the same object (`is`)", size=12,
                 anchor="middle", fill=MUTED)

    y = top + 3 * (height + gap) + 30
    drawing.text(LEFT, y, "A patch rebinds one name. Through each name, does the fake run, or the real fetch?", size=14.5, bold=True)
    first, column = 520, 84
    y += 26
    drawing.text(LEFT, y, "the patch", size=12.5, bold=True, fill=MUTED)
    for index in range(3):
        drawing.text(first + column * index + column / 2, y, f"name {index + 1}", size=12.5, bold=True,
                     anchor="middle", fill=MUTED)
    for patch, outcome in PATCHES:
        drawing.line(LEFT, y + 9, RIGHT, y + 9, stroke="#d0d7de", width=1)
        y += 29
        drawing.text(LEFT, y, patch, size=12.5, max_width=first - LEFT - 8)
        for index, result in enumerate(outcome):
            drawing.text(first + column * index + column / 2, y, result, size=12.5, anchor="middle")
    drawing.lines(LEFT, y + 34, [
        [Span("Patch where the name is looked up", bold=True), ", or the method that all three names share."],
        [Span("Simpler still:", bold=True), " pass the client (or the key source) in, and a test hands it a fake: "
         "nothing to patch."],
    ], size=12.5, max_width=RIGHT - LEFT)
    return drawing
