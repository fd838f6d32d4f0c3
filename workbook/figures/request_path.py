"""The request's path: client, identity provider, API Gateway, the Lambda, the JWKS endpoint (notebook 01, 05)."""

from __future__ import annotations

from .svg import BLUE, GRAY, GREEN, MUTED, PURPLE, YELLOW, Drawing, Line, Span, Tone

NAME = "request-path.svg"
WIDTH, HEIGHT = 800, 648

# Participants, left to right: (heading, what it does, tone); one column of 160 px each.
PARTICIPANTS = (
    ("Client", "the caller's app", GRAY),
    ("IdP", "issues the tokens", PURPLE),
    ("API Gateway", "the HTTP front door", BLUE),
    ("Lambda", "verifies the token", GREEN),
    ("JWKS endpoint", "the IdP's public keys", YELLOW),
)
COLUMN = 160
TOP = 56
BOX_HEIGHT = 54
STEP = 44


def centre(index: int) -> float:
    return COLUMN * index + COLUMN / 2


def message(drawing: Drawing, source: int, target: int, y: float, step: int, label: str, note: Line | None = None,
            *, reply: bool = False) -> None:
    """An arrow from one lifeline to another, its numbered label above and an optional note below."""
    x1, x2 = centre(source), centre(target)
    drawing.arrow(x1 + (4 if x2 > x1 else -4), y, x2 + (-6 if x2 > x1 else 6), y, stroke=MUTED,
                  dash="6 4" if reply else None)
    room = abs(x2 - x1) - 12
    middle = (x1 + x2) / 2
    drawing.text(middle, y - 7, [Span(f"{step} ", bold=True), label], size=12.5, anchor="middle", max_width=room, halo=True)
    if note is not None:
        drawing.text(middle, y + 16, note, size=11.5, anchor="middle", fill=MUTED, max_width=room,
                     halo=True)


def draw() -> Drawing:
    drawing = Drawing(WIDTH, HEIGHT, slug="request-path", title="The path of one request",
                      description=(
                          "A sequence diagram with five participants: client, identity provider (IdP), API Gateway, "
                          "the Lambda and the IdP's JWKS endpoint. 1: the client asks the IdP for a token. "
                          "2: the IdP returns an access token, a JWT signed with its private key. 3: the client "
                          "sends its request to API Gateway with the header Authorization: Bearer and the token. "
                          "4: API Gateway invokes the Lambda with an event holding the request's headers. "
                          "5: only at a cold start, when the cached keys have expired, or for an unknown kid, the "
                          "Lambda fetches jwks.json from the JWKS endpoint. 6: the endpoint returns the public keys, "
                          "which the Lambda caches. 7: the Lambda verifies the signature with the key the token's kid "
                          "names, the algorithm from its allow-list, and the iss, aud, exp and scope claims. "
                          "8: it answers 200, 401, 403 or 503. 9: API Gateway returns that response to the client."))
    drawing.text(16, 30, "The path of one request", size=18, bold=True)
    bottom = HEIGHT - 64
    for index, (heading, role, tone) in enumerate(PARTICIPANTS):
        x = centre(index)
        drawing.line(x, TOP + BOX_HEIGHT, x, bottom, stroke=tone.stroke, width=1.2, dash="4 4")
        drawing.box(x - 70, TOP, 140, BOX_HEIGHT, tone, heading=heading, body=[role], size=11.5, center=True,
                    padding=7)
    client, idp, gateway, lambda_, jwks = range(5)
    y = TOP + BOX_HEIGHT + 40
    message(drawing, client, idp, y, 1, "asks for a token", "client id, secret")
    y += STEP
    message(drawing, idp, client, y, 2, "access token", "a JWT, signed", reply=True)
    y += STEP
    message(drawing, client, gateway, y, 3, "request + `Authorization: Bearer <JWT>`", "GET /treasure")
    y += STEP
    message(drawing, gateway, lambda_, y, 4, "event", "headers, path, ...")
    y += STEP
    message(drawing, lambda_, jwks, y, 5, "GET jwks.json", "cold start, unknown kid")
    y += STEP
    message(drawing, jwks, lambda_, y, 6, "public keys", "kept in the cache", reply=True)
    y += 26
    _verify_note(drawing, centre(lambda_), y, GREEN)
    y += 136
    message(drawing, lambda_, gateway, y, 8, "the answer", "200, 401, 403 or 503", reply=True)
    y += STEP
    message(drawing, gateway, client, y, 9, "the same answer", "`WWW-Authenticate` with 401 and 403",
            reply=True)
    drawing.lines(16, HEIGHT - 32, [
        "Steps 1-2 happen once per token, before any request. Steps 5-6 happen at a cold start, after the keys'",
        "lifetime or for an unknown `kid`: a warm request with a known key makes no network call at all.",
    ], size=12.5, fill=MUTED, max_width=WIDTH - 32)
    return drawing


def _verify_note(drawing: Drawing, x: float, y: float, tone: Tone) -> None:
    drawing.box(x - 148, y, 296, 106, tone, heading="7 verify, all or nothing", size=12, heading_size=12.5, body=[
        "signature: the key that `kid` names",
        "`alg`: from the allow-list, never the token",
        "`iss`, `aud`, `exp` required; `nbf`, `iat`",
        "`scope` grants what the route requires",
    ], padding=9)
