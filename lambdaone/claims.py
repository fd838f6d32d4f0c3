"""The registered claims (RFC 7519 §4.1) and the scopes of a verified token, checked in one place.

A denial's ``error`` (in the log line) names the PyJWT exception ``jwt.decode`` raises for the same
failure, so log lines and the dashboards built on them read as they did when it ran the checks.

:func:`check_registered_claims` runs the checks ``jwt.decode`` runs with the policy LambdaOne had
given it (``require=["exp", "iss", "aud"]``, ``nbf`` and ``iat`` when present), in the same order,
with the same reasons, and is stricter in one respect: ``exp``, ``nbf`` and ``iat`` must be JSON
numbers (RFC 7519 §2 NumericDate), where PyJWT also takes numeric strings and booleans.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from .reasons import Denial, Reason

_REQUIRED = ("exp", "iss", "aud")


class TimeClaims(NamedTuple):
    """A verified token's time claims as whole seconds (``None``: absent), re-checked on every cache hit."""

    exp: int
    nbf: int | None = None
    iat: int | None = None


def numeric_date(value: Any) -> int | None:
    """A NumericDate as whole seconds (truncated, as PyJWT does), or None when it is not a finite JSON number.

    JSON numbers parse to exactly ``int`` or ``float`` (``bool`` is a subclass of ``int``, so types are
    compared exactly: ``true`` is not a date).
    """
    kind = type(value)
    if kind is int:
        return int(value)
    if kind is float and math.isfinite(value):
        return int(value)
    return None


def check_registered_claims(claims: Mapping[str, Any], *, issuer: str, audiences: tuple[str, ...],
                            leeway: float, now: float) -> TimeClaims:
    """Raise a :class:`Denial` for the first registered claim that fails; return the time claims."""
    for name in _REQUIRED:
        if claims.get(name) is None:
            raise Denial(Reason.MISSING_CLAIM, error="MissingRequiredClaimError", claim=name)
    iat = nbf = None
    if "iat" in claims:
        iat = numeric_date(claims["iat"])
        if iat is None:
            raise Denial(Reason.INVALID_TOKEN, error="InvalidIssuedAtError", why="iat is not a JSON number")
    if "nbf" in claims:
        nbf = numeric_date(claims["nbf"])
        if nbf is None:
            raise Denial(Reason.MALFORMED_TOKEN, error="DecodeError", why="nbf is not a JSON number")
    exp = numeric_date(claims["exp"])
    if exp is None:
        raise Denial(Reason.MALFORMED_TOKEN, error="DecodeError", why="exp is not a JSON number")
    times = TimeClaims(exp, nbf, iat)
    check_times(times, leeway=leeway, now=now)
    if claims["iss"] != issuer:  # a non-string never equals the configured string
        raise Denial(Reason.WRONG_ISSUER, error="InvalidIssuerError")
    check_audience(claims["aud"], audiences)
    if not isinstance(claims.get("sub", ""), str):
        raise Denial(Reason.INVALID_TOKEN, error="InvalidSubjectError", why="sub is not a string")
    if not isinstance(claims.get("jti", ""), str):
        raise Denial(Reason.INVALID_TOKEN, error="InvalidJTIError", why="jti is not a string")
    return times


def check_times(times: TimeClaims, *, leeway: float, now: float) -> None:
    """``iat`` and ``nbf`` not after ``now + leeway``; ``exp`` after ``now - leeway``."""
    if times.iat is not None and times.iat > now + leeway:
        raise Denial(Reason.TOKEN_NOT_YET_VALID, error="ImmatureSignatureError", claim="iat")
    if times.nbf is not None and times.nbf > now + leeway:
        raise Denial(Reason.TOKEN_NOT_YET_VALID, error="ImmatureSignatureError", claim="nbf")
    if times.exp <= now - leeway:
        raise Denial(Reason.TOKEN_EXPIRED, error="ExpiredSignatureError")


def check_audience(aud: Any, audiences: tuple[str, ...]) -> None:
    """``aud`` is a string, or an array of strings, that contains one of the configured audiences."""
    if not aud:  # "" and [] say nothing, as a missing claim says nothing
        raise Denial(Reason.MISSING_CLAIM, error="MissingRequiredClaimError", claim="aud")
    presented = [aud] if isinstance(aud, str) else aud
    if not isinstance(presented, list) or not all(isinstance(item, str) for item in presented):
        raise Denial(Reason.WRONG_AUDIENCE, error="InvalidAudienceError", why="aud is not a string or an array of strings")
    if not any(audience in presented for audience in audiences):
        raise Denial(Reason.WRONG_AUDIENCE, error="InvalidAudienceError")


def _scope_words(text: str) -> list[str]:
    # RFC 6749 §3.3: scope tokens are separated by SP (U+0020) only; tabs or no-break spaces are part of a word.
    return [word for word in text.split(" ") if word]


def granted_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """Scopes as whole words from ``scope`` (space-delimited: RFC 9068, Auth0) and ``scp`` (Okta)."""
    granted: set[str] = set()
    scope = claims.get("scope")
    if isinstance(scope, str):
        granted.update(_scope_words(scope))
    scp = claims.get("scp")
    if isinstance(scp, str):
        granted.update(_scope_words(scp))
    elif isinstance(scp, list):
        granted.update(item for item in scp if isinstance(item, str))
    return frozenset(granted)


def check_scopes(claims: Mapping[str, Any], required: tuple[str, ...]) -> None:
    """Raise a 403 denial unless every required scope is granted."""
    missing_scopes(granted_scopes(claims), required)


def missing_scopes(granted: frozenset[str], required: tuple[str, ...]) -> None:
    """Raise a 403 denial naming the required scopes that are not in ``granted``."""
    missing = [scope for scope in required if scope not in granted]
    if missing:
        raise Denial(Reason.INSUFFICIENT_SCOPE, missing=missing[:20])
