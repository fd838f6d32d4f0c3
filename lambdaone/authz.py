"""Authorization: verify a bearer token and check its scopes, returning a :class:`Decision`.

The order of the checks is the order of trust: shape and header (``jose``: one strict parse),
the header's members (algorithm from the allow-list, ``typ``, ``cty``, ``kid``), the payload
(parsed once, still untrusted) whose ``iss`` picks the issuer and so the key source (an ``iss``
that is not configured ends here, before any key lookup or network call), key, the other
segments, ``crit``, signature (PyJWT's algorithm objects), then the registered claims
(``claims``) of the payload parsed before, then scopes. The first failure ends it with a
:class:`~lambdaone.reasons.Denial`, which becomes a decision here and nowhere else.

With a :class:`~lambdaone.token_cache.VerifiedTokenCache`, a token that verified before skips
the parse and the signature, but never the checks that depend on time, configuration or key
rotation (see :func:`authorize`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from . import jose
from .claims import TimeClaims, check_registered_claims, check_scopes, check_times, granted_scopes, missing_scopes
from .issuers import IssuerKeys
from .keys import KeySource, VerificationKey
from .reasons import Denial, Reason
from .settings import Settings
from .token_cache import CachedVerification, VerifiedTokenCache

__all__ = [
    "MAX_HEADER_SEGMENT", "MAX_KID_LENGTH", "Decision", "KeySource", "Verified", "authorize", "check_scopes",
    "granted_scopes", "unverified_header", "verify", "verify_token",
]

_ACCEPTED_TYPES = frozenset({"jwt", "at+jwt", "application/jwt", "application/at+jwt"})
MAX_KID_LENGTH = 256
MAX_HEADER_SEGMENT = jose.MAX_HEADER_SEGMENT
#: The critical header extensions understood (RFC 7515 §4.1.11), as in PyJWT; ``b64: false`` is refused anyway.
_SUPPORTED_CRITICAL = frozenset({"b64"})
_SUBJECT_LOG_LENGTH = 128

#: The wall clock the time claims are checked against (tests replace it).
clock: Callable[[], float] = time.time


#: What ``authz`` is given: one key source (a single-issuer configuration) or one per issuer.
Keys = KeySource | IssuerKeys


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


class Verified(NamedTuple):
    """A token whose signature, header and registered claims checked out, and the key that verified it."""

    claims: dict[str, Any]
    key: VerificationKey
    kid: str | None
    times: TimeClaims
    issuer: str = ""


class TokenClaims(Mapping[str, Any]):
    """The claims of a token that verified earlier, decoded from the token only if someone reads them.

    A cache hit rarely needs them (the handler logs only ``sub``, kept in the entry), and keeping
    parsed claims in the cache would let a token's JSON grow many times its size in memory.
    """

    __slots__ = ("_claims", "_token")

    def __init__(self, token: str) -> None:
        self._token = token
        self._claims: dict[str, Any] | None = None

    def _loaded(self) -> dict[str, Any]:
        if self._claims is None:
            payload = self._token.split(".")[1]
            self._claims = jose.parse_object(jose.decode_segment(payload, "payload"), "payload")
        return self._claims

    def __getitem__(self, name: str) -> Any:
        return self._loaded()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())

    def __repr__(self) -> str:
        return f"TokenClaims({self._loaded()!r})"


def authorize(token: str | None, settings: Settings, key_source: Keys | None,
              cache: VerifiedTokenCache | None = None) -> Decision:
    """Decide whether a request presenting ``token`` (None: no bearer token) may be served.

    ``key_source`` is an :class:`~lambdaone.issuers.IssuerKeys` (one source per issuer), or a
    single key source when ``settings`` has exactly one issuer.

    With ``cache``, a token found there is allowed only if the key source still answers its ``kid``
    with the very key that verified it, its time claims hold now (with ``LEEWAY``), and it grants
    every scope ``settings`` requires; otherwise it is dropped or denied as the full path would.
    Only tokens that verified are stored, never one that failed a check.
    """
    if not settings.authorization_required:
        return Decision(Reason.AUTHORIZATION_DISABLED)
    if token is None:
        return Decision(Reason.MISSING_TOKEN)
    try:
        if key_source is None:
            raise Denial(Reason.CONFIGURATION_ERROR)
        now = clock()
        if cache is not None:
            entry = cache.get(token)
            if entry is not None and _still_verified(token, entry, settings, key_source, cache, now):
                return _allowed_again(token, entry, settings, now)
        verified = _verify(token, settings, key_source, now)
        granted = granted_scopes(verified.claims)
        subject = str(verified.claims.get("sub", ""))[:_SUBJECT_LOG_LENGTH]
        if cache is not None:
            cache.put(token, CachedVerification(
                settings=settings, key=verified.key, kid=verified.kid, times=verified.times,
                granted_required=granted.intersection(settings.required_scopes),
                subject=subject, issuer=verified.issuer))
        missing_scopes(granted, settings.required_scopes)
    except Denial as denial:
        return Decision(denial.reason, required_scopes=settings.required_scopes, detail=denial.detail)
    return Decision(Reason.ALLOWED, claims=verified.claims, detail={"sub": subject})


def _still_verified(token: str, entry: CachedVerification, settings: Settings, key_source: Keys,
                    cache: VerifiedTokenCache, now: float) -> bool:
    """Whether a cached verification still stands: same settings, same key (no rotation), not expired.

    The key lookup is the first check the full path could fail for this token (its header passed
    under these settings), so a denial from it is the answer: it is raised as is, not asked twice.
    """
    if entry.settings is not settings:
        return False  # verified under another configuration: take the full path
    try:
        current = _key_for(source_for_issuer(key_source, settings, entry.issuer), entry.kid)
    except Denial:
        cache.discard(token)
        raise
    if current is not entry.key:
        cache.discard(token)  # the key set changed: verify again with the key it holds now
        return False
    if entry.times.exp <= now - settings.leeway:
        cache.discard(token)  # it can never be valid again
    return True


def _allowed_again(token: str, entry: CachedVerification, settings: Settings, now: float) -> Decision:
    """A cache hit: the signature stands, but time and scopes are checked again, now."""
    check_times(entry.times, leeway=settings.leeway, now=now)
    missing_scopes(entry.granted_required, settings.required_scopes)
    return Decision(Reason.ALLOWED, claims=TokenClaims(token), detail={"sub": entry.subject})


def verify(token: str, settings: Settings, key_source: Keys) -> dict[str, Any]:
    """The token's claims once its signature, algorithm, type and registered claims all check out."""
    return _verify(token, settings, key_source, clock()).claims


def verify_token(token: str, settings: Settings, key_source: Keys) -> Verified:
    """Like :func:`verify`, with the key that verified the token and its time claims."""
    return _verify(token, settings, key_source, clock())


def _verify(token: str, settings: Settings, key_source: Keys, now: float) -> Verified:
    jws = jose.split(token)
    header = jws.header
    algorithm, kid = check_header(header, settings)
    if header.get("b64", True) is False:
        raise Denial(Reason.MALFORMED_TOKEN, why="b64=false (unencoded payload) is not supported")
    # Parsed once, here, untrusted until the signature checks out: its iss says whose keys to ask.
    claims = jose.parse_object(jose.decode_segment(jws.payload_segment, "payload"), "payload")
    issuer: str = claims.get("iss")  # type: ignore[assignment]  # checked on the next line
    if type(issuer) is not str or issuer not in settings.issuer_set:  # the common case: one type check, one hash
        claimed_issuer(claims, settings)  # raises the denial that fits
    key = _key_for(source_for_issuer(key_source, settings, issuer), kid)
    if not key.fits(algorithm):
        raise Denial(Reason.ALGORITHM_KEY_MISMATCH, alg=algorithm)
    signature = jose.decode_segment(jws.signature_segment, "signature")
    if "kid" in header and kid is None:
        raise Denial(Reason.INVALID_TOKEN, error="InvalidTokenError", why="kid is null")
    if "crit" in header:
        check_critical(header)
    if not jose.signature_is_valid(jws, signature, algorithm, key.public_key):
        raise Denial(Reason.BAD_SIGNATURE, error="InvalidSignatureError")
    times = check_registered_claims(claims, issuer=issuer, audiences=settings.audiences,
                                    leeway=settings.leeway, now=now)
    return Verified(claims=claims, key=key, kid=kid, times=times, issuer=issuer)


def claimed_issuer(claims: Mapping[str, Any], settings: Settings) -> str:
    """The token's ``iss`` when it is one of the configured issuers (exactly); a denial otherwise.

    Read before the signature is checked, only to choose whose keys to ask: the signature, made
    by that issuer's key, is what later proves the claim.
    """
    issuer = claims.get("iss")
    if issuer is None:
        raise Denial(Reason.MISSING_CLAIM, error="MissingRequiredClaimError", claim="iss")
    if type(issuer) is not str or issuer not in settings.issuer_set:
        raise Denial(Reason.WRONG_ISSUER, error="InvalidIssuerError")
    return issuer


def source_for_issuer(keys: Keys, settings: Settings, issuer: str) -> KeySource:
    """The key source of a configured ``issuer``: its own, never another issuer's."""
    if type(keys) is IssuerKeys:
        source = keys.get_source(issuer)
        if source is None:  # configured in settings but given no source: a wiring bug, fail closed
            raise Denial(Reason.CONFIGURATION_ERROR, why="no key source for a configured issuer")
        return source
    if len(settings.issuers) != 1 or issuer != settings.issuer:
        # One source cannot tell issuers apart: it may serve a single-issuer configuration only.
        raise Denial(Reason.CONFIGURATION_ERROR, why="one key source for several issuers")
    return keys  # type: ignore[return-value]  # not an IssuerKeys: a single key source


def _key_for(key_source: KeySource, kid: str | None) -> VerificationKey:
    try:
        return key_source.key_for(kid)
    except Denial as denial:
        if denial.reason is Reason.UNKNOWN_KEY and kid is not None:
            denial.detail.setdefault("kid", kid[:64])
        raise


def check_header(header: Mapping[str, Any], settings: Settings) -> tuple[str, str | None]:
    """The header's algorithm (on the allow-list) and ``kid`` (a short string, or None when absent or null)."""
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm not in settings.algorithms:
        raise Denial(Reason.ALGORITHM_NOT_ALLOWED, alg=str(algorithm)[:20])
    token_type = header.get("typ")
    if token_type is not None and (not isinstance(token_type, str) or token_type.lower() not in _ACCEPTED_TYPES):
        raise Denial(Reason.UNSUPPORTED_TOKEN_TYPE, typ=str(token_type)[:40])
    if "cty" in header:
        # RFC 7519 §5.2: cty "JWT" announces a nested JWT; an access token is never one.
        raise Denial(Reason.UNSUPPORTED_TOKEN_TYPE, why="cty is present (nested JWTs are not accepted)")
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH):
        raise Denial(Reason.MALFORMED_TOKEN, why="kid is not a short string")
    return algorithm, kid


def check_critical(header: Mapping[str, Any]) -> None:
    """``crit`` (RFC 7515 §4.1.11) lists only extensions understood here, each present in the header."""
    crit = header["crit"]
    if not isinstance(crit, list) or not crit:
        raise Denial(Reason.INVALID_TOKEN, error="InvalidTokenError", why="crit is not a non-empty array")
    for extension in crit:
        if not isinstance(extension, str) or extension not in _SUPPORTED_CRITICAL:
            raise Denial(Reason.INVALID_TOKEN, error="InvalidTokenError", why="crit names an unsupported extension")
        if extension not in header:
            raise Denial(Reason.INVALID_TOKEN, error="InvalidTokenError", why="crit names a member that is absent")


def unverified_header(token: str) -> dict[str, Any]:
    """The token's JOSE header, parsed but not trusted: the shape of a signed compact JWS is required."""
    return dict(jose.split(token).header)  # a copy: the parsed header is shared by tokens that repeat it
