"""Checks for ``02_tokens``: minting an access token with given scopes and lifetime."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import jwt

from workbook.checking import Case, check
from workbook.tokens import AUDIENCE, ISSUER, KeyPair

MintToken = Callable[[Any, str, list[str], int], str]
CLOCK_SLACK_SECONDS = 5  # how far iat may be from the check's clock (the call itself takes milliseconds)


@functools.cache
def _signing_key() -> KeyPair:
    """The check's own key pair, made once per kernel: the learner's code never sees the public half."""
    return KeyPair.generate("RS256", kid="check-key")


class _Minted:
    """One call to the learner's ``mint_token``, made once and read by several cases."""

    def __init__(self, mint_token: MintToken, kid: str, scopes: list[str], lifetime: int) -> None:
        self.args = (kid, scopes, lifetime)
        self._call = functools.cache(lambda: (mint_token(_signing_key().private_key, kid, list(scopes), lifetime),
                                              int(time.time())))

    def token(self) -> Any:
        return self._call()[0]

    def called_at(self) -> int:
        return self._call()[1]

    def header(self) -> dict[str, Any]:
        return jwt.get_unverified_header(self.token())

    def unverified(self) -> dict[str, Any]:
        """The payload as written, before any verification: to name a wrong claim before the signature check."""
        return jwt.decode(self.token(), options={"verify_signature": False})

    def claims(self) -> dict[str, Any]:
        """The claims, verified exactly as a resource server would (RS256 only, iss, aud, exp required)."""
        return jwt.decode(self.token(), _signing_key().public_key, algorithms=["RS256"], audience=AUDIENCE,
                          issuer=ISSUER, options={"require": ["exp", "iat", "iss", "aud", "sub"]})


_CLAIM_HINTS = {
    "exp": "set exp: a token without exp never expires (exp = iat + lifetime)",
    "iss": "set iss to ISSUER: verifiers refuse a token whose issuer they cannot check",
    "aud": "set aud to AUDIENCE: without it any API would accept the token",
    "sub": 'set sub, who the token is about, e.g. "learner@example.test"',
    "iat": "set iat = int(time.time()), when the token was issued",
}


def _cases_for(minted: _Minted) -> list[Case]:
    kid, scopes, lifetime = minted.args
    label = f"scopes={scopes}, lifetime={lifetime}"
    return [
        Case(f"{label}: a compact JWS string", minted.token,
             satisfies=lambda token: isinstance(token, str) and token.count(".") == 2,
             describe_expected="a str of three parts: header.payload.signature",
             hint="return what jwt.encode returns (a str)"),
        Case(f"{label}: header alg", lambda: minted.header().get("alg"), expected="RS256",
             hint='sign with the private key and algorithm="RS256"'),
        Case(f"{label}: header typ", lambda: minted.header().get("typ"), expected="at+jwt",
             hint='access tokens say typ "at+jwt" (RFC 9068): headers={"typ": "at+jwt", "kid": kid}'),
        Case(f"{label}: header kid", lambda: minted.header().get("kid"), expected=kid,
             hint="put the kid argument in the header, so verifiers can find the key"),
    ] + [
        Case(f"{label}: claim {claim} present", (lambda claim=claim: claim in minted.unverified()), expected=True,
             hint=hint)
        for claim, hint in _CLAIM_HINTS.items()
    ] + [
        Case(f"{label}: iss", lambda: minted.unverified()["iss"], expected=ISSUER, hint="iss is ISSUER"),
        Case(f"{label}: aud", lambda: minted.unverified()["aud"], expected=AUDIENCE, hint="aud is AUDIENCE"),
        Case(f"{label}: sub", lambda: minted.unverified()["sub"], satisfies=lambda sub: isinstance(sub, str) and sub,
             describe_expected="a non-empty string", hint='sub names the caller, e.g. "learner@example.test"'),
        Case(f"{label}: iat is now", lambda: minted.unverified()["iat"] - minted.called_at(),
             satisfies=lambda delta: abs(delta) <= CLOCK_SLACK_SECONDS,
             describe_expected=f"within {CLOCK_SLACK_SECONDS} s of now (difference shown)",
             hint="iat = int(time.time()): seconds since the epoch, an int (not milliseconds)"),
        Case(f"{label}: exp - iat", lambda: minted.unverified()["exp"] - minted.unverified()["iat"],
             expected=lifetime, hint="exp = iat + lifetime: an absolute time, not the lifetime itself"),
        Case(f"{label}: verifies with the issuer's public key", lambda: isinstance(minted.claims(), dict),
             expected=True, hint="sign with the private key you were given, not a key of your own"),
        Case(f"{label}: scope", lambda: minted.claims().get("scope"), expected=" ".join(scopes),
             hint='scope is ONE string, the scopes joined by single spaces: " ".join(scopes)'),
    ]


def check_mint_token(mint_token: MintToken) -> None:
    """``mint_token(private_key, kid, scopes, lifetime)`` returns an RS256 access token with the right claims."""
    calls = [
        _Minted(mint_token, "workbook-key-1", ["treasure:read"], 300),
        _Minted(mint_token, "workbook-key-2", ["treasure:read", "treasure:write"], 60),
        _Minted(mint_token, "rotated-key", [], 3600),
    ]
    cases = [case for minted in calls for case in _cases_for(minted)]
    check("mint_token", cases)
