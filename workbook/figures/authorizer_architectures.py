"""Where the check lives: in the function, in a Lambda authorizer, or in API Gateway's JWT authorizer (notebook 12).

The two handler names are read from ``lambda_function`` and the authorizer's answer types from
``lambdaone.authorizer``, so the figure goes stale when they change.
"""

from __future__ import annotations

import ast
from pathlib import Path

from .svg import BLUE, GRAY, GREEN, INK, MUTED, PURPLE, YELLOW, Drawing, FigureError, Span

NAME = "authorizer-architectures.svg"
WIDTH, HEIGHT = 800, 662
LEFT, RIGHT = 24, 776
CLIENT_X, CLIENT_W = LEFT, 92
GATEWAY_X, GATEWAY_W = 140, 306
BACKEND_X = 468
BACKEND_W = RIGHT - BACKEND_X
BOX_H = 94
LAMBDA_FUNCTION = Path(__file__).resolve().parents[2] / "lambda_function.py"


def handler_names() -> tuple[str, str]:
    """The two entry points, as ``lambda_function.py`` defines them (read, not imported: importing it warms up)."""
    tree = ast.parse(LAMBDA_FUNCTION.read_text(encoding="utf-8"))
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    for name in ("handler", "authorizer"):
        if name not in defined:
            raise FigureError(f"{NAME}: lambda_function.py defines no {name}() to draw")
    return "lambda_function.handler", "lambda_function.authorizer"


def answer_names() -> tuple[str, str]:
    """The authorizer's two answer builders (IAM policy, simple response)."""
    from lambdaone import authorizer

    for name in ("iam_policy", "simple_response"):
        if not callable(getattr(authorizer, name, None)):
            raise FigureError(f"{NAME}: lambdaone.authorizer has no {name}() to draw")
    return "IAM policy", "simple response"


def _lane(drawing: Drawing, y: float, title: str, tone_title: str) -> None:
    drawing.text(LEFT, y, title, size=14, bold=True, fill=tone_title)


def _client(drawing: Drawing, y: float) -> None:
    drawing.box(CLIENT_X, y, CLIENT_W, BOX_H, GRAY, heading="client", body=["sends a", "bearer", "token"],
                size=11.5, heading_size=13)
    drawing.arrow(CLIENT_X + CLIENT_W + 2, y + BOX_H / 2, GATEWAY_X - 3, y + BOX_H / 2, stroke=INK)


def draw() -> Drawing:
    handler, authorizer = handler_names()
    policy, simple = answer_names()
    drawing = Drawing(WIDTH, HEIGHT, slug="authorizer-architectures", title="Where the check lives: three architectures",
                      description=(
                          f"One: in the function. API Gateway passes every request to the Lambda, whose {handler} "
                          "verifies the token and checks the scopes, then answers 200, 400, 401, 403 or 503 with "
                          "RFC 6750 headers; the logs are the function's. Two: a Lambda authorizer. API Gateway "
                          f"asks a second function, {authorizer}, which answers an {policy} (REST API, HTTP API "
                          f"payload 1.0) or a {simple} (HTTP API payload 2.0); API Gateway caches the answer for a "
                          "TTL, by token, for every route, and ignores the token's exp; then it calls the backend, "
                          "which reads the authorizer's context. Three: API Gateway's managed JWT authorizer (HTTP "
                          "API): API Gateway itself checks iss, aud, exp, nbf and the route's scopes with the "
                          "issuer's RSA keys, and the backend reads requestContext.authorizer.jwt.claims; no "
                          "function runs for a refused request, and the logs are API Gateway's access logs."))
    drawing.text(LEFT, 30, "Where the check lives: three architectures", size=18, bold=True)
    drawing.text(LEFT, 54, [Span("The same question each time: does this token grant the scopes the API requires? "
                                 "Who answers it differs.")], size=12.5, fill=MUTED, max_width=RIGHT - LEFT)

    # 1 · in the function
    y1 = 84
    _lane(drawing, y1, "1 · in the function (notebooks 01-11)", GREEN.stroke)
    top = y1 + 12
    _client(drawing, top)
    drawing.box(GATEWAY_X, top, GATEWAY_W, BOX_H, GRAY, heading="API Gateway, function URL or ALB", body=[
        "no authorizer: passes every request on", "(the function pays for each one)"], size=12)
    drawing.arrow(GATEWAY_X + GATEWAY_W + 2, top + BOX_H / 2, BACKEND_X - 3, top + BOX_H / 2, stroke=INK)
    drawing.box(BACKEND_X, top, BACKEND_W, BOX_H, GREEN, heading=[Span(handler, code=True)], body=[
        "verifies the token and scopes, answers", "200, 400, 401, 403, 503 (RFC 6750);",
        "logs: the function's log group"], size=12)

    # 2 · a Lambda authorizer
    y2 = y1 + BOX_H + 48
    _lane(drawing, y2, "2 · a Lambda authorizer (this notebook)", BLUE.stroke)
    top = y2 + 12
    _client(drawing, top)
    drawing.box(GATEWAY_X, top, GATEWAY_W, BOX_H, BLUE, heading="API Gateway (REST or HTTP API)", body=[
        "asks the authorizer, caches its answer", "for a TTL, by token, for every route,",
        [Span("ignoring "), Span("exp", code=True), Span("; writes the 401 and 403")]], size=12)
    drawing.arrow(GATEWAY_X + GATEWAY_W + 2, top + BOX_H / 2, BACKEND_X - 3, top + BOX_H / 2, stroke=INK)
    drawing.box(BACKEND_X, top, BACKEND_W, BOX_H, GRAY, heading="the backend (any integration)", body=[
        "runs only when allowed; reads the context:", [Span("requestContext.authorizer", code=True)],
        "(HTTP API 2.0: its .lambda)"], size=12)
    below = top + BOX_H + 22
    drawing.box(GATEWAY_X, below, GATEWAY_W + 40, BOX_H, PURPLE, heading=[Span(authorizer, code=True)], body=[
        f"answers an {policy} (Allow/Deny on the stage)", f"or a {simple} (isAuthorized);",
        "logs: the authorizer's log group"], size=12)
    middle = GATEWAY_X + GATEWAY_W / 2
    drawing.arrow(middle - 30, top + BOX_H + 2, middle - 30, below - 3, stroke=INK)
    drawing.arrow(middle + 30, below - 2, middle + 30, top + BOX_H + 3, stroke=INK)
    drawing.text(middle - 36, top + BOX_H + 15, "event", size=11, anchor="end", fill=MUTED)
    drawing.text(middle + 36, top + BOX_H + 15, "answer (cached)", size=11, fill=MUTED)

    # 3 · API Gateway's JWT authorizer
    y3 = below + BOX_H + 40
    _lane(drawing, y3, "3 · API Gateway's managed JWT authorizer (HTTP API)", YELLOW.stroke)
    top = y3 + 12
    _client(drawing, top)
    drawing.box(GATEWAY_X, top, GATEWAY_W, BOX_H, YELLOW, heading="API Gateway checks the JWT itself", body=[
        [Span("iss", code=True), Span(", "), Span("aud", code=True), Span(", "), Span("exp", code=True),
         Span(", the route's scopes; RSA keys")], "from the issuer's JWKS; no function runs",
        "for a refused request; logs: access logs"], size=12)
    drawing.arrow(GATEWAY_X + GATEWAY_W + 2, top + BOX_H / 2, BACKEND_X - 3, top + BOX_H / 2, stroke=INK)
    drawing.box(BACKEND_X, top, BACKEND_W, BOX_H, GRAY, heading="the backend", body=[
        "runs only for a valid token; reads", [Span("requestContext.authorizer.jwt.claims", code=True)],
        "(strings, as API Gateway gives them)"], size=12)

    drawing.lines(LEFT, HEIGHT - 22, [
        "Each row can sit behind the one above: a backend behind an authorizer may still verify (defence in depth).",
    ], size=12.5, fill=MUTED, max_width=RIGHT - LEFT)
    return drawing
