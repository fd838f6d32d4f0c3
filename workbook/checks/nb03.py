"""Checks for ``03_pem_verification``: ``verify_token(token, public_pem)`` accepts the issuer's tokens
and refuses every forgery with ``jwt.InvalidTokenError``."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt

from workbook.checking import Case, check
from workbook.tokens import AUDIENCE, ISSUER, KeyPair

VerifyToken = Callable[[str, bytes], Any]
TEN_MINUTES = 600


@functools.cache
def issuer_key() -> KeyPair:
    """The issuer's RS256 key pair for these checks (made once per kernel, never written anywhere)."""
    return KeyPair.generate("RS256", kid="issuer-key")


@functools.cache
def attacker_key() -> KeyPair:
    return KeyPair.generate("RS256", kid="issuer-key")  # same kid: only the signature can tell them apart


def claims(**overrides: Any) -> dict[str, Any]:
    """The claims of a valid access token; keyword arguments override, ``None`` removes a claim."""
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "learner@example.test", "iat": now, "exp": now + 300,
               "scope": "treasure:read"}
    payload.update(overrides)
    return {name: value for name, value in payload.items() if value is not None}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_segments(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"


def alg_none_token() -> str:
    """No signature at all, and a header that says that is fine."""
    return unsigned_segments({"alg": "none", "typ": "JWT"}, claims(scope="treasure:read treasure:write")) + "."


def hs256_with_public_key_token() -> str:
    """Key confusion: an HMAC 'signature' whose secret is the issuer's PUBLIC key (anyone has it)."""
    signing_input = unsigned_segments({"alg": "HS256", "typ": "JWT", "kid": "issuer-key"}, claims())
    secret = issuer_key().public_pem()
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def signed(payload: dict[str, Any], key: KeyPair | None = None, algorithm: str = "RS256") -> str:
    pair = key or issuer_key()
    return jwt.encode(payload, pair.private_key, algorithm=algorithm, headers={"kid": pair.kid, "typ": "at+jwt"})


def tampered_token() -> str:
    """A real token whose payload was edited after signing (more scopes, same signature)."""
    header, _, signature = signed(claims()).split(".")
    payload = b64url(json.dumps(claims(scope="treasure:read treasure:admin")).encode())
    return f"{header}.{payload}.{signature}"


def stripped_signature_token() -> str:
    return signed(claims()).rsplit(".", 1)[0] + "."


LEEWAY_HINT = ("keep exp and nbf verification on (PyJWT checks them by default) and the leeway small: "
               "a few seconds for clock skew, never minutes or hours")
SIGNATURE_HINT = "never turn off signature verification: verify with the public key you were given"

#: name → (how to make the token, hint when it is accepted or refused the wrong way). Signature forgeries come
#: first: a verifier with signature checks off then hears about that, not about the algorithm.
FORGERIES: dict[str, tuple[Callable[[], str], str]] = {
    "signed by another key with the same kid": (lambda: signed(claims(), attacker_key()), SIGNATURE_HINT),
    "payload edited after signing": (tampered_token, SIGNATURE_HINT),
    "signature stripped": (stripped_signature_token, SIGNATURE_HINT),
    "alg none (no signature)": (alg_none_token,
                                'pass algorithms=["RS256"]: an allow-list of your own, never the header\'s alg'),
    "HS256 signed with the public key as secret": (
        hs256_with_public_key_token,
        "allow RS256 only: HMAC must never be accepted by a verifier that holds a public key"),
    "PS256 signed with the issuer's key (an algorithm it never uses)": (
        lambda: signed(claims(), algorithm="PS256"),
        'algorithms=["RS256"] exactly: the algorithm comes from YOUR allow-list, never from the token\'s header'),
    "expired ten minutes ago": (lambda: signed(claims(exp=int(time.time()) - TEN_MINUTES)), LEEWAY_HINT),
    "no exp claim (would be valid forever)": (lambda: signed(claims(exp=None)),
                                              'require it: options={"require": ["exp", "iss", "aud"]}'),
    "wrong audience": (lambda: signed(claims(aud="https://another-api.example.test/")),
                       "pass audience=AUDIENCE"),
    "no aud claim": (lambda: signed(claims(aud=None)), 'pass audience=AUDIENCE and require "aud"'),
    "wrong issuer": (lambda: signed(claims(iss="https://evil.example.test/")), "pass issuer=ISSUER"),
    "no iss claim": (lambda: signed(claims(iss=None)), 'pass issuer=ISSUER and require "iss"'),
    "not valid before ten minutes from now (nbf)": (lambda: signed(claims(nbf=int(time.time()) + TEN_MINUTES)),
                                                    LEEWAY_HINT),
    "not a JWT at all": (lambda: "hello", "let jwt.decode raise: do not catch its errors"),
}

SWALLOWED_HINT = ("do not catch the error to return None or False: a caller that forgets to test the result lets "
                  "the forgery in. Let jwt.InvalidTokenError propagate (fail closed)")


def _explain_refusal(outcome: object) -> str | None:
    """The hint for a forgery that was not refused with InvalidTokenError, when the outcome itself says why."""
    if outcome is None or outcome is False:
        return SWALLOWED_HINT
    return None


def _explain_acceptance(outcome: object) -> str | None:
    """The hint for a valid token that was not returned as its claims."""
    if isinstance(outcome, jwt.InvalidAudienceError):
        return "pass audience=AUDIENCE: a token that has aud is refused when no audience is given"
    if isinstance(outcome, jwt.InvalidIssuerError):
        return "pass issuer=ISSUER, exactly"
    if isinstance(outcome, jwt.MissingRequiredClaimError):
        return f'require exp, iss and aud only: "{outcome.claim}" may be absent from a valid token'
    if isinstance(outcome, (jwt.InvalidAlgorithmError, jwt.InvalidKeyError)):
        return 'the issuer signs with RS256: algorithms=["RS256"], and the public key you were given'
    if isinstance(outcome, (jwt.ImmatureSignatureError, jwt.ExpiredSignatureError)):
        return "keep PyJWT's own exp and nbf checks (and a small leeway): these tokens are valid now"
    return None


def check_accepts_valid_token(verify_token: VerifyToken) -> None:
    """Valid tokens from the issuer come back as their claims."""
    pem = issuer_key().public_pem()
    valid = {
        "a fresh token": claims(),
        "a token valid for an hour": claims(exp=int(time.time()) + 3600),
        "a token with nbf in the past": claims(nbf=int(time.time()) - 60),
        "a token whose aud lists several APIs": claims(aud=["https://other.example.test/", AUDIENCE]),
        "a token without scope (scopes are checked later)": claims(scope=None),
    }
    cases = [
        Case(name, (lambda payload=payload: verify_token(signed(payload), pem)), expected=payload,
             hint="return what jwt.decode returns: the verified claims", explain=_explain_acceptance)
        for name, payload in valid.items()
    ]
    check("verify_token accepts valid tokens", cases)


def check_refuses_forgeries(verify_token: VerifyToken) -> None:
    """Every forged, expired or misdirected token raises ``jwt.InvalidTokenError``."""
    pem = issuer_key().public_pem()
    valid = claims()
    cases = [Case("a valid token is still accepted", lambda: verify_token(signed(valid), pem), expected=valid,
                  hint="refusing everything is not verification: return jwt.decode's claims for a good token",
                  explain=_explain_acceptance)]
    cases += [
        Case(name, (lambda make=make: verify_token(make(), pem)), raises=jwt.InvalidTokenError,
             describe_expected="it raises jwt.InvalidTokenError (or a subclass)", hint=hint,
             explain=_explain_refusal)
        for name, (make, hint) in FORGERIES.items()
    ]
    check("verify_token refuses forgeries", cases)
