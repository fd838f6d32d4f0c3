"""Authorization: verify a bearer token and check its scopes, returning a :class:`Decision`.

The order of the checks is the order of trust: shape, header (algorithm from the allow-list,
``typ``, ``kid``), key, signature and registered claims (PyJWT), then scopes. The first failure
ends it with a :class:`~lambdaone.reasons.Denial`, which becomes a decision here and nowhere else.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt
from jwt.utils import base64url_decode

from .keys import VerificationKey
from .reasons import Denial, Reason
from .settings import Settings

_JWS_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_ACCEPTED_TYPES = frozenset({"jwt", "at+jwt", "application/jwt", "application/at+jwt"})
MAX_KID_LENGTH = 256
MAX_HEADER_SEGMENT = 4096

# exp, iss and aud are required; nbf and iat are checked when present (PyJWT's defaults, made explicit).
_DECODE_OPTIONS = {
    "require": ["exp", "iss", "aud"],
    "verify_signature": True,
    "verify_exp": True,
    "verify_nbf": True,
    "verify_iat": True,
    "verify_aud": True,
    "verify_iss": True,
}

# A time claim that is not a JSON number gets the reason PyJWT gives a non-numeric value of that claim.
_NUMERIC_DATE_REASONS = {"exp": Reason.MALFORMED_TOKEN, "nbf": Reason.MALFORMED_TOKEN, "iat": Reason.INVALID_TOKEN}

# PyJWT's exceptions, most specific first, mapped to reason codes.
_PYJWT_REASONS: tuple[tuple[type[Exception], Reason], ...] = (
    (jwt.ExpiredSignatureError, Reason.TOKEN_EXPIRED),
    (jwt.ImmatureSignatureError, Reason.TOKEN_NOT_YET_VALID),
    (jwt.InvalidAudienceError, Reason.WRONG_AUDIENCE),
    (jwt.InvalidIssuerError, Reason.WRONG_ISSUER),
    (jwt.MissingRequiredClaimError, Reason.MISSING_CLAIM),
    (jwt.InvalidSignatureError, Reason.BAD_SIGNATURE),
    (jwt.InvalidAlgorithmError, Reason.ALGORITHM_NOT_ALLOWED),
    (jwt.DecodeError, Reason.MALFORMED_TOKEN),
)


class KeySource(Protocol):
    """What ``authz`` asks of ``fixed_key`` and ``jwt_key``: the key for a token's ``kid``."""

    def key_for(self, kid: str | None) -> VerificationKey: ...


@dataclass(frozen=True)
class Decision:
    """The outcome of one request: a reason, the verified claims when allowed, facts for the log."""

    reason: Reason
    claims: Mapping[str, Any] | None = None
    required_scopes: tuple[str, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return self.reason.allowed


def authorize(token: str | None, settings: Settings, key_source: KeySource | None) -> Decision:
    """Decide whether a request presenting ``token`` (None: no bearer token) may be served."""
    if not settings.authorization_required:
        return Decision(Reason.AUTHORIZATION_DISABLED)
    if token is None:
        return Decision(Reason.MISSING_TOKEN)
    try:
        if key_source is None:
            raise Denial(Reason.CONFIGURATION_ERROR)
        claims = verify(token, settings, key_source)
        check_scopes(claims, settings.required_scopes)
    except Denial as denial:
        return Decision(denial.reason, required_scopes=settings.required_scopes, detail=denial.detail)
    return Decision(Reason.ALLOWED, claims=claims, detail={"sub": str(claims.get("sub", ""))[:128]})


def verify(token: str, settings: Settings, key_source: KeySource) -> dict[str, Any]:
    """The token's claims once its signature, algorithm, type and registered claims all check out."""
    header = unverified_header(token)
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm not in settings.algorithms:
        raise Denial(Reason.ALGORITHM_NOT_ALLOWED, alg=str(algorithm)[:20])
    token_type = header.get("typ")
    if token_type is not None and (not isinstance(token_type, str) or token_type.lower() not in _ACCEPTED_TYPES):
        raise Denial(Reason.UNSUPPORTED_TOKEN_TYPE, typ=str(token_type)[:40])
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH):
        raise Denial(Reason.MALFORMED_TOKEN, why="kid is not a short string")
    try:
        key = key_source.key_for(kid)
    except Denial as denial:
        if denial.reason is Reason.UNKNOWN_KEY and kid is not None:
            denial.detail.setdefault("kid", kid[:64])
        raise
    if not key.fits(algorithm):
        raise Denial(Reason.ALGORITHM_KEY_MISMATCH, alg=algorithm)
    try:
        claims = jwt.decode(
            token,
            key.public_key,
            algorithms=[algorithm],
            audience=settings.audiences,
            issuer=settings.issuer,
            leeway=settings.leeway,
            options=_DECODE_OPTIONS,
        )
    except jwt.PyJWTError as error:
        raise Denial(_reason_for(error), error=type(error).__name__) from None
    require_numeric_dates(claims)
    return claims


def require_numeric_dates(claims: Mapping[str, Any]) -> None:
    """RFC 7519 §2: exp, nbf and iat are JSON numbers; PyJWT also takes numeric strings and booleans."""
    for name, reason in _NUMERIC_DATE_REASONS.items():
        value = claims.get(name)
        if name in claims and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise Denial(reason, why=f"{name} is not a JSON number")


def unverified_header(token: str) -> dict[str, Any]:
    """The token's JOSE header, parsed but not trusted: the shape of a signed compact JWS is required."""
    if not _JWS_COMPACT.fullmatch(token):
        raise Denial(Reason.MALFORMED_TOKEN, why="not three base64url segments")
    segment = token[: token.index(".")]
    if len(segment) > MAX_HEADER_SEGMENT:
        raise Denial(Reason.MALFORMED_TOKEN, why="header too large")
    try:
        header = json.loads(base64url_decode(segment))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise Denial(Reason.MALFORMED_TOKEN, why="header is not base64url JSON") from None
    if not isinstance(header, dict):
        raise Denial(Reason.MALFORMED_TOKEN, why="header is not a JSON object")
    return header


def granted_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """Scopes as whole words from ``scope`` (space-delimited: RFC 9068, Auth0) and ``scp`` (Okta)."""
    granted: set[str] = set()
    scope = claims.get("scope")
    if isinstance(scope, str):
        granted.update(scope.split())
    scp = claims.get("scp")
    if isinstance(scp, str):
        granted.update(scp.split())
    elif isinstance(scp, list):
        granted.update(item for item in scp if isinstance(item, str))
    return frozenset(granted)


def check_scopes(claims: Mapping[str, Any], required: tuple[str, ...]) -> None:
    """Raise a 403 denial unless every required scope is granted."""
    missing = [scope for scope in required if scope not in granted_scopes(claims)]
    if missing:
        raise Denial(Reason.INSUFFICIENT_SCOPE, missing=missing[:20])


def _reason_for(error: Exception) -> Reason:
    for error_type, reason in _PYJWT_REASONS:
        if isinstance(error, error_type):
            return reason
    return Reason.INVALID_TOKEN
