"""OpenID Connect Discovery: an issuer's keys found from its metadata, not from a hand-copied URL.

With neither ``JWKSPATH`` nor ``SIGNATUREKEYPATH`` set, each issuer's key source is a
:class:`DiscoveredKeySource`. Its fetch is two GETs under one deadline (the source's timeout):

1. the metadata, at ``<issuer without its trailing slash>/.well-known/openid-configuration``
   (OpenID Connect Discovery 1.0 §4), or, when that answers 404, at RFC 8414's
   ``/.well-known/oauth-authorization-server`` inserted before the issuer's path (§3.1);
2. the JWKS at the metadata's ``jwks_uri``.

The metadata must name exactly the configured issuer (OpenID Connect Discovery §4.3, RFC 8414 §3.3:
the mix-up defence; otherwise the issuer's tokens get 503 and the ERROR line says why), and its
``jwks_uri`` must be https (plain http only on loopback). Both documents are fetched with the JWKS
rules (``jwks_fetch``: deadline, size cap, no redirects); the metadata is cached with the keys for
its own lifetime (``Cache-Control`` within the policy's bounds) and, when a refresh of it fails, the
last good metadata keeps serving for ``stale_for`` more seconds. Everything else (stale keys,
cooldown, one fetch shared by waiters, one lock per issuer) is :class:`~lambdaone.jwt_key.JwksKeySource`'s.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from . import jwt_key
from .jwt_key import CachePolicy, Fetch, JwksError, JwksKeySource
from .settings import has_credentials, is_loopback_host

logger = logging.getLogger(__name__)

OPENID_CONFIGURATION = "/.well-known/openid-configuration"
AUTHORIZATION_SERVER_METADATA = "/.well-known/oauth-authorization-server"
_SHOWN_LENGTH = 100


class DiscoveryError(JwksError):
    """The issuer's metadata could not be fetched, or cannot be trusted (another issuer, a bad jwks_uri)."""


class IssuerMixUpError(DiscoveryError):
    """The metadata names another issuer than the configured one: refused, never used."""


def openid_configuration_url(issuer: str) -> str:
    """OpenID Connect Discovery §4: the issuer without its trailing slash, then the well-known path."""
    return (issuer[:-1] if issuer.endswith("/") else issuer) + OPENID_CONFIGURATION


def authorization_server_metadata_url(issuer: str) -> str:
    """RFC 8414 §3.1: the well-known path inserted between the host and the issuer's path."""
    parts = urlsplit(issuer)
    path = parts.path[:-1] if parts.path.endswith("/") else parts.path
    return f"{parts.scheme}://{parts.netloc}{AUTHORIZATION_SERVER_METADATA}{path}"


def is_allowed_url(url: str) -> bool:
    """https with a host, or plain http on loopback; never with credentials."""
    if has_credentials(url):
        return False
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return False
    return bool(host) and (parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(host)))


def _shown(value: Any) -> str:
    """A value from the network, cut short for a log line (it is hostile: never repeated at length)."""
    return repr(str(value)[:_SHOWN_LENGTH])


def jwks_uri_of(metadata: Any, issuer: str) -> str:
    """The ``jwks_uri`` of an issuer's metadata, once the metadata proves to be that issuer's own."""
    if not isinstance(metadata, dict):
        raise DiscoveryError("discovery: the metadata is not a JSON object")
    named = metadata.get("issuer")
    if named != issuer:
        raise IssuerMixUpError(f"discovery: the metadata names issuer {_shown(named)}, not the configured "
                               f"{_shown(issuer)}: refused (issuer mix-up defence)")
    jwks_uri = metadata.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not jwks_uri:
        raise DiscoveryError("discovery: the metadata has no jwks_uri")
    if not is_allowed_url(jwks_uri):
        try:
            scheme = urlsplit(jwks_uri).scheme
        except ValueError:
            scheme = "?"
        raise DiscoveryError(f"discovery: the metadata's jwks_uri ({scheme[:10]!r} URL) is not https "
                             "(plain http only on loopback) or carries credentials: refused")
    return jwks_uri


class _Metadata(NamedTuple):
    jwks_uri: str
    fetched_at: float  # monotonic
    lifetime: float
    fetched_at_wall: float


class DiscoveredKeySource(JwksKeySource):
    """The keys of one issuer, found through its metadata (``url`` is the OpenID configuration URL)."""

    def __init__(self, issuer: str, policy: CachePolicy, clock: Callable[[], float] = time.monotonic,
                 fetch: Fetch | None = None, wall_clock: Callable[[], float] = time.time) -> None:
        super().__init__(openid_configuration_url(issuer), policy, clock=clock, fetch=fetch, wall_clock=wall_clock)
        self.issuer = issuer
        self._metadata: _Metadata | None = None  # written by the one fetch in flight, dropped by forget()
        self.metadata_fetches = 0

    @property
    def jwks_url(self) -> str | None:
        """The ``jwks_uri`` the last good metadata named (None before it was fetched)."""
        metadata = self._metadata
        return metadata.jwks_uri if metadata is not None else None

    def forget(self) -> None:
        super().forget()
        self._metadata = None

    def expire(self) -> None:
        super().expire()
        with self._lock:
            metadata = self._metadata
            if metadata is not None:
                self._metadata = metadata._replace(
                    fetched_at=min(metadata.fetched_at, self._clock() - metadata.lifetime),
                    fetched_at_wall=min(metadata.fetched_at_wall, self._wall_clock() - metadata.lifetime))

    def _log_fields(self) -> dict[str, Any]:
        return {"issuer": self.issuer[:_SHOWN_LENGTH]}

    # ------------------------------------------------------------------ one fetch: metadata, then keys

    def _download(self, timeout: float) -> tuple[Any, float | None]:
        started = time.monotonic()
        generation = self._generation
        jwks_uri = self._current_jwks_uri(timeout, generation)
        left = timeout - (time.monotonic() - started)
        if left <= 0:
            raise DiscoveryError(f"no complete answer within the {timeout:g} s deadline (the metadata used all of it)")
        return jwt_key.unpack(self._fetch(jwks_uri, left))

    def _metadata_age(self, metadata: _Metadata) -> float:
        return max(self._clock() - metadata.fetched_at, self._wall_clock() - metadata.fetched_at_wall)

    def _current_jwks_uri(self, timeout: float, generation: int) -> str:
        metadata = self._metadata
        age = self._metadata_age(metadata) if metadata is not None else math.inf
        if metadata is not None and age < metadata.lifetime:
            return metadata.jwks_uri
        try:
            return self._discover(timeout, generation)
        except IssuerMixUpError:
            raise  # never hidden behind older metadata: the ERROR/WARNING line must say it
        except JwksError as error:
            if metadata is None or age >= metadata.lifetime + self.policy.stale_for:
                raise
            logger.warning("discovery refresh failed: using the last good metadata",
                           extra={"fields": {"error": str(error), "metadata_age_seconds": round(age, 1),
                                             **self._log_fields()}})
            return metadata.jwks_uri

    def _discover(self, timeout: float, generation: int) -> str:
        started = time.monotonic()
        self.metadata_fetches += 1
        try:
            answer = self._fetch(self.url, timeout)
        except JwksError as error:
            if error.status != 404:
                raise DiscoveryError(f"discovery: {error}", status=error.status) from None
            left = timeout - (time.monotonic() - started)
            if left <= 0:
                raise DiscoveryError(f"discovery: no complete answer within the {timeout:g} s deadline") from None
            self.metadata_fetches += 1
            try:
                answer = self._fetch(authorization_server_metadata_url(self.issuer), left)
            except JwksError as fallback_error:
                raise DiscoveryError(f"discovery (RFC 8414 after a 404): {fallback_error}",
                                     status=fallback_error.status) from None
        document, max_age = jwt_key.unpack(answer)
        jwks_uri = jwks_uri_of(document, self.issuer)
        with self._lock:
            if generation == self._generation:  # forget() since this fetch started: keep nothing
                self._metadata = _Metadata(jwks_uri, self._clock(), self.policy.lifetime_for(max_age),
                                           self._wall_clock())
        return jwks_uri


def source_for(issuer: str, policy: CachePolicy) -> DiscoveredKeySource:
    """The module-level discovered source for ``issuer``: created once, reused by every warm invocation."""
    source = jwt_key.shared_source(("discovery", issuer), policy, lambda: DiscoveredKeySource(issuer, policy))
    assert isinstance(source, DiscoveredKeySource)
    return source
