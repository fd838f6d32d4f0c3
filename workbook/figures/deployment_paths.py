"""The two deployment paths, zip and container image, ending at the same handler (deploy.md, notebooks 10 and 11).

The handler, the base image and the Python version are read from the ``Dockerfile`` and ``lambda_build``, so the
figure goes stale when they change.
"""

from __future__ import annotations

import re
from pathlib import Path

from lambda_build import build_zip

from .svg import BLUE, GRAY, GREEN, INK, MUTED, PURPLE, Drawing, FigureError, Span

NAME = "deployment-paths.svg"
WIDTH, HEIGHT = 800, 514
LEFT, RIGHT = 24, 776
DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"
HANDLER = "lambda_function.handler"


def image_facts() -> tuple[str, str]:
    """The Dockerfile's base image and the handler its CMD names; both must be what the zip path uses."""
    text = DOCKERFILE.read_text()
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.MULTILINE)
    command = re.search(r'^CMD \["([^"]+)"\]$', text, re.MULTILINE)
    if base is None or command is None:
        raise FigureError(f"{NAME}: the Dockerfile has no ARG BASE_IMAGE=... or CMD [\"...\"] line to draw")
    if command.group(1) != HANDLER:
        raise FigureError(f"{NAME}: the Dockerfile's CMD names {command.group(1)}, the zip path {HANDLER}")
    return base.group(1), command.group(1)


def draw() -> Drawing:
    base_image, handler = image_facts()
    version = build_zip.DEFAULT_PYTHON
    drawing = Drawing(WIDTH, HEIGHT, slug="deployment-paths", title="Two ways to deploy, one handler",
                      description=(
                          f"Path A, a zip: make zip builds build/lambdaone.zip; aws lambda create-function with "
                          f"--runtime python{version}, --handler {handler} and --zip-file "
                          "fileb://build/lambdaone.zip uploads it and creates the function. Path B, a container "
                          f"image: docker buildx build on the Lambda base image {base_image}; docker tag and docker "
                          "push to a private ECR repository; aws lambda create-function with --package-type Image "
                          "and --code ImageUri=..., with no runtime and no handler. Both create the function "
                          f"lambdaone, which runs {handler}: the zip path names it with --handler, the image with "
                          "the Dockerfile's CMD. Both use the same execution role and configuration; a function's "
                          "package type is fixed when it is created."))
    drawing.text(LEFT, 30, "Two ways to deploy, one handler", size=18, bold=True)
    drawing.text(LEFT, 54, [Span("Both: the role "), Span("lambdaone-execution", code=True),
                            Span(" and the configuration "), Span("build/environment.json", code=True),
                            Span(" (deploy.md, steps 0-2).")], size=12.5, fill=MUTED, max_width=RIGHT - LEFT)
    lane_end, bus = 704, 742
    lane_a, lane_b, lane_h = 82, 238, 130
    box_h = lane_h - 16

    drawing.text(LEFT, lane_a + 4, "A · zip (notebook 10)", size=14, bold=True, fill=GREEN.stroke)
    drawing.box(LEFT, lane_a + 16, 190, box_h, GREEN, heading="build", body=[
        "`make zip` writes", "`build/lambdaone.zip`", "packages for", f"python{version}, x86_64"], size=12.5)
    drawing.box(236, lane_a + 16, lane_end - 236, box_h, GREEN, heading="upload and create", body=[
        f"`aws lambda create-function --runtime python{version}`",
        f"`--handler {handler}`",
        "`--zip-file fileb://build/lambdaone.zip`",
        "(`fileb://`: the zip's bytes as they are)",
    ], size=12.5)
    middle_a = lane_a + 16 + box_h / 2
    drawing.arrow(LEFT + 190 + 2, middle_a, 236 - 3, middle_a, stroke=INK)

    drawing.text(LEFT, lane_b + 4, "B · container image (notebook 11)", size=14, bold=True, fill=BLUE.stroke)
    drawing.box(LEFT, lane_b + 16, 190, box_h, BLUE, heading="build", body=[
        "`docker buildx build`", "`--platform linux/amd64`", "FROM the Lambda base", f"image, Python {version}"],
        size=12)
    drawing.box(236, lane_b + 16, 164, box_h, PURPLE, heading="push to ECR", body=[
        "`docker tag`", "`docker push`", "private repository", "`lambdaone:latest`"], size=12)
    drawing.box(422, lane_b + 16, lane_end - 422, box_h, BLUE, heading="create", body=[
        "`aws lambda create-function`", "`--package-type Image`", "`--code ImageUri=...`", "no runtime, no handler"],
        size=12)
    middle_b = lane_b + 16 + box_h / 2
    drawing.arrow(LEFT + 190 + 2, middle_b, 236 - 3, middle_b, stroke=INK)
    drawing.arrow(400 + 2, middle_b, 422 - 3, middle_b, stroke=INK)

    final_y = lane_b + lane_h + 26
    drawing.line(lane_end, middle_a, bus, middle_a, stroke=INK)
    drawing.line(lane_end, middle_b, bus, middle_b, stroke=INK)
    drawing.arrow(bus, middle_a, bus, final_y - 3, stroke=INK)
    drawing.box(LEFT, final_y, RIGHT - LEFT, 60, GRAY, heading=[
        Span("the same function, "), Span("lambdaone", code=True), Span(", runs the same handler: "),
        Span(handler, code=True)], body=[
        [Span("A: "), Span("--handler", code=True), Span(" names it.  B: the image's "),
         Span(f'CMD ["{handler}"]', code=True), Span(" does.  Invoking it is the same.")]], size=12.5)

    drawing.lines(LEFT, HEIGHT - 30, [
        "A function's package type is fixed when it is created: to change paths, delete the function and create it",
        "again (the role and the configuration stay).",
    ], size=12.5, fill=MUTED, max_width=RIGHT - LEFT)
    return drawing
