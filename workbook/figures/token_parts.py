"""A JWT's three parts: what each holds, how it is encoded, and when it can be trusted (notebook 02)."""

from __future__ import annotations

import base64
import json

from .svg import BLUE, GRAY, INK, MUTED, PURPLE, RED, Drawing, Span, Tone

NAME = "token-parts.svg"
WIDTH, HEIGHT = 800, 560

# The example token's header and claims, as the workbook's issuer (workbook.tokens) writes them.
HEADER = {"alg": "RS256", "typ": "at+jwt", "kid": "key-1"}
CLAIMS = {"iss": "https://issuer.example.test/", "aud": "https://api.example.test/treasure",
          "sub": "learner@example.test", "iat": 1767225600, "exp": 1767225900, "scope": "treasure:read"}
SHOWN = 11  # characters of each segment shown before the ellipsis

COLUMN_WIDTH = 250
GAP = 13
LEFT = 13


def segment(data: dict) -> str:
    """The base64url segment of a JSON object, as in a real token (compact JSON, no padding)."""
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def column_x(index: int) -> float:
    return LEFT + index * (COLUMN_WIDTH + GAP)


def draw() -> Drawing:
    drawing = Drawing(WIDTH, HEIGHT, slug="token-parts", title="A JWT: three base64url parts joined by dots",
                      description=(
                          "A token such as eyJhbGciOi... is three base64url segments joined by dots: header, payload "
                          "and signature. The header is JSON with alg RS256, typ at+jwt and kid key-1: it is read "
                          "before verification only to find the key by its kid; the algorithm comes from the "
                          "verifier's allow-list, never from the header. The payload is JSON with the claims iss, "
                          "aud, sub, iat, exp and scope: anyone can read it, and it is trusted only after the "
                          "signature and the claims iss, aud and exp are verified. The signature is computed by the "
                          "identity provider with its private key over the ASCII bytes of header, a dot, and payload; "
                          "the verifier checks it with the public key from the JWKS that the kid names. base64url is "
                          "an encoding, not encryption."))
    drawing.text(LEFT, 30, "A JWT: three base64url parts, joined by dots", size=18, bold=True)
    parts = (
        ("header", segment(HEADER), RED),
        ("payload", segment(CLAIMS), PURPLE),
        ("signature", "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", BLUE),
    )
    # The token itself, each segment in its column's colour.
    token: list[Span] = []
    for index, (_, text, tone) in enumerate(parts):
        if index:
            token.append(Span(" . ", code=True, bold=True, fill=INK))
        token.append(Span(text[:SHOWN], code=True, fill=tone.stroke))
        token.append(Span("\u2026", code=True, fill=MUTED))
    drawing.text(WIDTH / 2, 68, token, size=17, anchor="middle", max_width=WIDTH - 2 * LEFT)
    drawing.text(WIDTH / 2, 92, "(one string without spaces: what the client sends after `Authorization: Bearer`)",
                 size=12, anchor="middle", fill=MUTED)

    top = 112
    _column(drawing, 0, top, RED, "header", "base64url(JSON)", [
        '{"alg": "RS256",',
        ' "typ": "at+jwt",',
        ' "kid": "key-1"}',
    ], [
        "How it was signed, and with",
        "which key (`kid`).",
    ], [
        "Read before verifying, only",
        "to look the key up by `kid`.",
        "`alg` never decides: the",
        "verifier's allow-list does.",
    ])
    _column(drawing, 1, top, PURPLE, "payload", "base64url(JSON)", [
        '{"iss": "https://issuer...",',
        ' "aud": "https://api...",',
        ' "exp": 1767225900,',
        ' "scope": "treasure:read"}',
    ], [
        "The claims: who issued it,",
        "for whom, until when, and",
        "what it grants.",
    ], [
        "Anyone can read it. Trusted",
        "only after the signature and",
        "`iss`, `aud`, `exp` are verified.",
    ])
    _column(drawing, 2, top, BLUE, "signature", "base64url(bytes)", [
        "256 bytes for RS256",
        "(RSA-2048, SHA-256)",
    ], [
        "The IdP's private key signed",
        "the bytes of `header.payload`:",
        "change one and it fails.",
    ], [
        "Checked with the public key",
        "from the JWKS (by `kid`);",
        "then the claims are checked.",
    ])
    # The signing input: header and payload, with the dot between them.
    y = top + 344
    left, right = column_x(0) + 8, column_x(1) + COLUMN_WIDTH - 8
    middle = (left + right) / 2
    sign_x = column_x(2) + COLUMN_WIDTH / 2
    drawing.path(f"M{left},{y - 8} V{y} H{right} V{y - 8}", stroke=INK, width=1.5)
    drawing.path(f"M{middle},{y} V{y + 16} H{sign_x} V{y - 6}", stroke=INK, arrow=True)
    drawing.text(middle, y + 34, "signing input: the ASCII bytes of `header.payload`, exactly as sent",
                 size=12.5, anchor="middle", max_width=right - left)
    drawing.lines(LEFT, HEIGHT - 34, [
        "base64url: base64 with `-` and `_` for `+` and `/`, without `=` padding. It is an encoding, not encryption:",
        "never put a secret in a claim, and never log a token (whoever holds it can use it until `exp`).",
    ], size=12.5, fill=MUTED, max_width=WIDTH - 2 * LEFT)
    return drawing


def _column(drawing: Drawing, index: int, top: float, tone: Tone, name: str, encoding: str, content: list[str],
            purpose: list[str], trust: list[str]) -> None:
    x = column_x(index)
    drawing.rect(x, top, COLUMN_WIDTH, 330, fill=tone.fill, stroke=tone.stroke)
    drawing.text(x + 12, top + 24, name.upper(), size=15, bold=True, fill=tone.stroke, max_width=120)
    drawing.text(x + COLUMN_WIDTH - 12, top + 24, encoding, size=12, anchor="end", fill=INK, max_width=120)
    inner = COLUMN_WIDTH - 24
    drawing.rect(x + 8, top + 36, COLUMN_WIDTH - 16, 84, fill="#ffffff", stroke=GRAY.stroke, radius=4, stroke_width=1)
    drawing.lines(x + 14, top + 56, [[Span(line, code=True)] for line in content], size=12, leading=1.4,
                  max_width=inner - 4)
    drawing.text(x + 12, top + 146, "holds", size=12, bold=True, fill=MUTED)
    drawing.lines(x + 12, top + 166, purpose, size=12.5, max_width=inner)
    drawing.text(x + 12, top + 236, "trusted", size=12, bold=True, fill=MUTED)
    drawing.lines(x + 12, top + 256, trust, size=12.5, max_width=inner)
