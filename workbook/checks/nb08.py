"""Checks for notebook 08 (real issuers): ``choose_issuer(token, issuers)`` picks whose keys verify a token."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import jwt

from workbook.checking import Case, check
from workbook.tokens import KeyPair

ChooseIssuer = Callable[[str, tuple[str, ...]], Any]

# Issuers unlike the notebook's, so only code that reads the token can pass.
AUTH0_LIKE = "https://learner-8.eu.auth0.com/"
OKTA_LIKE = "https://acme.okta.com/oauth2/aus8k2c9"
ISSUERS = (AUTH0_LIKE, OKTA_LIKE)

EXACT_HINT = ("compare the iss claim with each configured issuer exactly (==): never normalise it (strip, rstrip('/'), "
              "lower) and never match a part of it (startswith, in on a string)")
NONE_HINT = "return None (never raise, never a default issuer) when the token does not claim a configured issuer"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(key: KeyPair, payload: Any) -> str:
    """A compact JWS signed by ``key`` over any payload: any JSON (PyJWT's encode refuses a non-string iss) or bytes."""
    head = json.dumps({"alg": "RS256", "typ": "at+jwt", "kid": key.kid}).encode()
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = f"{_b64url(head)}.{_b64url(body)}"
    signature = jwt.get_algorithm_by_name("RS256").sign(signing_input.encode(), key.private_key)
    return f"{signing_input}.{_b64url(signature)}"


def check_choose_issuer(choose_issuer: ChooseIssuer) -> None:
    """``choose_issuer(token, issuers)``: the configured issuer the token's unverified ``iss`` names, or None."""
    key = KeyPair.generate("RS256", kid="k1")

    def claiming(iss: Any, **claims: Any) -> str:
        now = int(time.time())
        return _signed(key, {"iss": iss, "aud": "https://api.example.com/treasure", "sub": "someone", "iat": now,
                             "exp": now + 300, **claims})

    def chosen(token: str, issuers: tuple[str, ...] = ISSUERS) -> Any:
        return choose_issuer(token, issuers)

    cases = [
        Case("an Auth0-like issuer (trailing slash)", lambda: chosen(claiming(AUTH0_LIKE)), expected=AUTH0_LIKE,
             hint="read the token's iss claim (jwt.decode with verify_signature off) and return the configured "
                  "issuer it equals"),
        Case("an Okta-like issuer (no trailing slash)", lambda: chosen(claiming(OKTA_LIKE)), expected=OKTA_LIKE,
             hint="look through every configured issuer, not only the first"),
        Case("one issuer configured", lambda: chosen(claiming(OKTA_LIKE), (OKTA_LIKE,)), expected=OKTA_LIKE,
             hint="issuers may hold a single issuer"),
        Case("an issuer that is not configured", lambda: chosen(claiming("https://idp.example.test/")), expected=None,
             hint=NONE_HINT),
        Case("a configured issuer, but not this one", lambda: chosen(claiming(AUTH0_LIKE), (OKTA_LIKE,)),
             expected=None, hint="return the issuer the token claims, only when it is configured; never a default"),
        Case("the trailing slash is part of the issuer", lambda: chosen(claiming(AUTH0_LIKE.rstrip("/"))),
             expected=None, hint=EXACT_HINT),
        Case("a slash the issuer does not have", lambda: chosen(claiming(OKTA_LIKE + "/")), expected=None,
             hint=EXACT_HINT),
        Case("letter case matters", lambda: chosen(claiming(AUTH0_LIKE.upper())), expected=None, hint=EXACT_HINT),
        Case("spaces around the issuer", lambda: chosen(claiming(f" {OKTA_LIKE} ")), expected=None, hint=EXACT_HINT),
        Case("a longer issuer that starts with a configured one",
             lambda: chosen(claiming(OKTA_LIKE + "-attacker")), expected=None, hint=EXACT_HINT),
        Case("a part of a configured issuer", lambda: chosen(claiming("https://acme.okta.com")), expected=None,
             hint=EXACT_HINT),
        Case("no iss claim", lambda: chosen(key.token(aud="x", drop=("iss",))), expected=None, hint=NONE_HINT),
        Case("iss is a list", lambda: chosen(claiming([OKTA_LIKE])), expected=None,
             hint="iss comes from the token: when it is not a string (a list, a number, null) return None"),
        Case("iss is a number", lambda: chosen(claiming(8)), expected=None,
             hint="iss comes from the token: when it is not a string (a list, a number, null) return None"),
        Case("iss is an object", lambda: chosen(claiming({"iss": OKTA_LIKE})), expected=None,
             hint="iss comes from the token: when it is not a string (a list, a number, null) return None"),
        Case("claims that are a JSON array", lambda: chosen(_signed(key, [OKTA_LIKE])), expected=None,
             hint="a token whose claims are not a JSON object claims no issuer: catch jwt.InvalidTokenError and return "
                  "None, never raise"),
        Case("claims that are not JSON", lambda: chosen(_signed(key, b"iss=" + OKTA_LIKE.encode())), expected=None,
             hint="catch jwt.InvalidTokenError (PyJWT's DecodeError) and return None"),
        Case("not a JWT at all", lambda: chosen("not-a-token"), expected=None,
             hint="catch jwt.InvalidTokenError (PyJWT's DecodeError) and return None"),
        Case("an expired token still names its issuer", lambda: chosen(claiming(OKTA_LIKE, exp=1)),
             expected=OKTA_LIKE,
             hint="choosing an issuer verifies nothing: read the claims with every check off (expiry is checked "
                  "later, with the issuer's key)"),
        Case("a token signed by a key nobody knows still names its issuer",
             lambda: chosen(KeyPair.generate("RS256", kid="other").token(iss=AUTH0_LIKE, aud="x")),
             expected=AUTH0_LIKE,
             hint="do not verify the signature here: you have no key yet (choosing the issuer is what finds it)"),
        Case("the issuers are left unchanged",
             lambda: (lambda issuers: (chosen(claiming(OKTA_LIKE), issuers), issuers))(ISSUERS),
             expected=(OKTA_LIKE, ISSUERS), hint="only read issuers"),
    ]
    check("choose_issuer", cases)
