"""The JWKS key source: an issuer's signing keys, fetched with PyJWT's ``PyJWKClient`` and cached.

``PyJWKClient`` does the HTTP request (no redirects, a timeout, only http/https). What it lacks is
written here, and only that:

- one cache per JWKS URL at module level, so warm invocations make no network call;
- a lifetime after which the keys are refreshed;
- an unknown ``kid`` refetches at most once per cooldown window, so a flood of tokens with
  random kids costs at most one fetch per window;
- when a refresh fails, the last good keys stay in use for a bounded time (logged); with no
  usable key the request gets a 503;
- concurrent misses share one fetch (a lock, with a second look once it is held);
- a bounded response size and a short timeout;
- key filtering: ``use`` other than ``sig``, HMAC keys, RSA under 2048 bits, private keys and
  keys whose ``alg`` does not fit their type are ignored; a token without ``kid`` is accepted
  only when the set holds exactly one signing key.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import urllib.request
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.error import HTTPError, URLError

import jwt
from jwt import PyJWKClient

from .keys import SUPPORTED_ALGORITHMS, UnsuitableKeyError, VerificationKey, verification_key
from .reasons import Denial, Reason

logger = logging.getLogger(__name__)

MAX_JWKS_BYTES = 256 * 1024
MAX_JWKS_KEYS = 64
USER_AGENT = "lambdaone-jwks/1"


@dataclass(frozen=True)
class CachePolicy:
    """How long keys live and how often the JWKS endpoint may be asked (all in seconds)."""

    lifetime: float = 600.0
    cooldown: float = 10.0
    stale_for: float = 1800.0
    timeout: float = 2.0


class JwksError(Exception):
    """The JWKS endpoint could not be reached or did not return a usable key set."""


class KeySet:
    """The usable signing keys of one JWKS document, looked up by ``kid``."""

    def __init__(self, keys: Iterable[VerificationKey]) -> None:
        self.keys = tuple(keys)
        self._by_kid: dict[str, VerificationKey] = {}
        for key in self.keys:
            if key.kid is not None:
                self._by_kid.setdefault(key.kid, key)  # a repeated kid is ambiguous: the first one wins

    def find(self, kid: str | None) -> VerificationKey | None:
        if kid is None:
            # Without a kid the token does not say which key signed it: only an unambiguous set answers.
            return self.keys[0] if len(self.keys) == 1 else None
        return self._by_kid.get(kid)

    def __len__(self) -> int:
        return len(self.keys)


def parse_key_set(document: Any) -> KeySet:
    """Keep the keys of a JWKS document that may verify signatures; raise when none is left."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksError("the JWKS document is not a JSON object with a 'keys' array")
    usable: list[VerificationKey] = []
    ignored: list[str] = []
    for entry in document["keys"][:MAX_JWKS_KEYS]:
        try:
            usable.append(_signing_key(entry))
        except (JwksError, UnsuitableKeyError) as why:
            ignored.append(str(why))
    if len(document["keys"]) > MAX_JWKS_KEYS:
        ignored.append(f"{len(document['keys']) - MAX_JWKS_KEYS} keys beyond the first {MAX_JWKS_KEYS}")
    if ignored:
        logger.info("JWKS keys ignored", extra={"fields": {"ignored": ignored[:10], "usable": len(usable)}})
    if not usable:
        raise JwksError("the JWKS document holds no usable signing key")
    return KeySet(usable)


def _signing_key(entry: Any) -> VerificationKey:
    if not isinstance(entry, dict):
        raise JwksError("an entry is not a JSON object")
    kid = entry.get("kid")
    label = f"kid {str(kid)[:64]!r}"
    if kid is not None and not isinstance(kid, str):
        raise JwksError(f"{label}: kid is not a string")
    if entry.get("use", "sig") != "sig":
        raise JwksError(f"{label}: use is not 'sig'")
    key_ops = entry.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise JwksError(f"{label}: key_ops does not include 'verify'")
    if entry.get("kty") == "oct":
        raise JwksError(f"{label}: symmetric (oct) keys never verify here")
    if "d" in entry:
        raise JwksError(f"{label}: holds private key material")
    jwk_alg = entry.get("alg")
    if jwk_alg is not None and jwk_alg not in SUPPORTED_ALGORITHMS:
        raise JwksError(f"{label}: alg {str(jwk_alg)[:16]!r} is not supported")
    try:
        public_key = jwt.PyJWK(entry).key
    except (jwt.PyJWTError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise JwksError(f"{label}: {type(error).__name__}") from None
    try:
        return verification_key(public_key, kid=kid, jwk_alg=jwk_alg)
    except UnsuitableKeyError as error:
        raise UnsuitableKeyError(f"{label}: {error}") from None


def fetch_document(client: Any, max_bytes: int = MAX_JWKS_BYTES) -> Any:
    """The one network call: GET the JWKS with the client's URL, headers and timeout.

    ``PyJWKClient.fetch_data`` reads the whole body, however large; for PyJWT's own client the
    same request is made here with a size cap. A replaced ``fetch_data`` (a test double, a
    subclass) is called as it is.
    """
    own_fetch = getattr(type(client), "fetch_data", None)
    if getattr(own_fetch, "__module__", None) != "jwt.jwks_client":
        try:
            return client.fetch_data()
        except jwt.PyJWTError as error:
            raise JwksError(str(error)) from None
    # Settings admit only https (http on loopback) and PyJWKClient refuses other schemes.
    request = urllib.request.Request(client.uri, headers=dict(client.headers))  # noqa: S310
    handlers: list[Any] = [_NoRedirects()]
    if client.ssl_context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=client.ssl_context))
    try:
        with urllib.request.build_opener(*handlers).open(request, timeout=client.timeout) as response:  # noqa: S310
            body = response.read(max_bytes + 1)
    except HTTPError as error:
        error.close()
        raise JwksError(f"HTTP {error.code} from the JWKS endpoint") from None
    except (URLError, OSError, ValueError) as error:
        raise JwksError(f"cannot reach the JWKS endpoint: {getattr(error, 'reason', error)}") from None
    if len(body) > max_bytes:
        raise JwksError(f"the JWKS response is larger than {max_bytes} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise JwksError("the JWKS response is not JSON") from None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # a JWKS URL is exact: never follow
        return None


class JwksKeySource:
    """The signing keys of one JWKS URL under a :class:`CachePolicy`; safe to share across threads."""

    def __init__(self, url: str, policy: CachePolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.policy = policy
        self._clock = clock
        self._client = PyJWKClient(
            url, cache_jwk_set=False, timeout=policy.timeout, headers={"User-Agent": USER_AGENT}
        )
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._fetched_at = -math.inf  # last successful fetch
        self._quiet_until = -math.inf  # no fetch before this: after a failure or a refetch for an unknown kid
        self.fetches = 0  # attempts, for benchmarks and tests

    def key_for(self, kid: str | None) -> VerificationKey:
        """The key that signed a token with this ``kid``; raises :class:`Denial` when there is none."""
        keys = self._usable_keys()
        key = keys.find(kid)
        if key is None:
            if kid is None:
                raise Denial(Reason.UNKNOWN_KEY, why="no kid and more than one signing key")
            key = self._refetch_for(kid)
        return key

    def forget(self) -> None:
        """Drop the cached keys and any quiet period: the next lookup fetches, as after a cold start."""
        with self._lock:
            self._keys = None
            self._fetched_at = -math.inf
            self._quiet_until = -math.inf

    def prefetch(self) -> bool:
        """Fetch the keys now (at cold start, where Lambda's init phase absorbs the latency)."""
        try:
            self._usable_keys()
        except Denial:
            return False
        return True

    def _usable_keys(self) -> KeySet:
        keys = self._keys
        if keys is not None and self._clock() - self._fetched_at < self.policy.lifetime:
            return keys  # the warm path: no lock, no I/O
        with self._lock:
            now = self._clock()
            if self._keys is None or now - self._fetched_at >= self.policy.lifetime:
                if now >= self._quiet_until:
                    self._fetch(now)
            keys = self._keys
            age = self._clock() - self._fetched_at
            if keys is not None and age < self.policy.lifetime + self.policy.stale_for:
                return keys
            retry_after = max(1, math.ceil(self._quiet_until - self._clock()))
            raise Denial(Reason.SIGNING_KEYS_UNAVAILABLE, retry_after=retry_after)

    def _refetch_for(self, kid: str) -> VerificationKey:
        with self._lock:
            known = self._keys.find(kid) if self._keys is not None else None
            if known is not None:
                return known  # another thread's refetch already brought it
            now = self._clock()
            if now < self._quiet_until:
                raise Denial(Reason.UNKNOWN_KEY, why="kid not in the key set (refetch cooling down)")
            self._quiet_until = now + self.policy.cooldown
            self._fetch(now)
            known = self._keys.find(kid) if self._keys is not None else None
        if known is None:
            raise Denial(Reason.UNKNOWN_KEY, why="kid not in the key set after a refetch")
        return known

    def _fetch(self, now: float) -> None:
        """Fetch and replace the keys; on failure keep the old ones and stay quiet for a cooldown."""
        self.fetches += 1
        try:
            keys = parse_key_set(fetch_document(self._client))
        except JwksError as error:
            self._quiet_until = now + self.policy.cooldown
            if self._keys is not None:
                logger.warning(
                    "JWKS refresh failed: using the last good keys",
                    extra={"fields": {"error": str(error), "keys_age_seconds": round(now - self._fetched_at, 1),
                                      "stale_limit_seconds": self.policy.lifetime + self.policy.stale_for}},
                )
            else:
                logger.error("JWKS fetch failed: no signing keys", extra={"fields": {"error": str(error)}})
            return
        self._keys = keys
        self._fetched_at = self._clock()
        logger.debug("JWKS fetched", extra={"fields": {"keys": len(keys)}})


_sources: dict[str, JwksKeySource] = {}
# Every source handed out and still alive (the handler's runtime may hold one that _sources no longer does).
_handed_out: weakref.WeakSet[JwksKeySource] = weakref.WeakSet()
_sources_lock = threading.Lock()


def source_for(url: str, policy: CachePolicy) -> JwksKeySource:
    """The module-level key source for ``url``: created once, reused by every warm invocation."""
    with _sources_lock:
        source = _sources.get(url)
        if source is None or source.policy != policy:
            source = _sources[url] = JwksKeySource(url, policy)
            _handed_out.add(source)
        return source


def clear_caches() -> None:
    """Forget every cached key set (tests and notebooks start from a cold cache with this).

    Sources already handed out (the handler's runtime holds one) forget their keys too.
    """
    with _sources_lock:
        for source in list(_handed_out):
            source.forget()
        _sources.clear()
