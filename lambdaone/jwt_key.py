"""The JWKS key source: an issuer's signing keys, fetched under one deadline and cached.

What it guarantees (the README's cache section says the same, with the limits):

- one cache per JWKS URL at module level, so warm invocations make no network call;
- one deadline per fetch: ``CachePolicy.timeout`` bounds the whole fetch (name resolution,
  connect, TLS, status line, headers, body), whatever the server does (see ``jwks_fetch``);
- any failure of fetch or parse, even an unexpected exception, is a failed fetch: logged once
  (ERROR when no usable key remains, WARNING while the last good keys keep serving), never raised;
- the keys live ``lifetime`` seconds, shortened by the answer's ``Cache-Control: max-age`` (or
  ``no-cache``/``no-store``) but never below ``min_lifetime``; after that, within ``stale_for``
  more, every request keeps using them at once while one background fetch refreshes them
  (stale-while-revalidate);
- key age is measured on the monotonic clock and on the wall clock, the larger wins: a Lambda
  SnapStart snapshot restored days later (the monotonic clock does not count the time frozen)
  never trusts keys older than their lifetime; ``after_restore`` refreshes them at once;
- only a request without a usable key (a cold cache, or an unknown ``kid``) waits, for at most one
  deadline, and concurrent waiters share one fetch and its outcome;
- after a failed fetch, and after a refetch for an unknown ``kid``, no fetch starts before
  ``cooldown`` seconds have passed since it ENDED; ``Retry-After`` says how long is left;
- bounded work: at most ``MAX_JWKS_ENTRIES`` entries of a document are read and at most
  ``MAX_SIGNING_KEYS`` usable keys kept, so unusable entries before the signing key do not hide it;
- key filtering: ``use`` other than ``sig``, HMAC keys, RSA under 2048 bits, private keys and
  keys whose ``alg`` does not fit their type are ignored; a token without ``kid`` is accepted
  only when the set holds exactly one signing key;
- while a key set is cached, a ``kid`` always maps to the same :class:`VerificationKey` object;
  a refetch that brings an unchanged document keeps the objects too.
"""

from __future__ import annotations

import contextvars
import logging
import math
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jwt

from . import jwks_fetch
from .keys import SUPPORTED_ALGORITHMS, UnsuitableKeyError, VerificationKey, verification_key
from .reasons import Denial, Reason

logger = logging.getLogger(__name__)

#: The largest JWKS response read (bytes).
MAX_JWKS_BYTES = jwks_fetch.MAX_BODY_BYTES
#: The most entries of a JWKS document read; later entries are ignored (and logged as such).
MAX_JWKS_ENTRIES = 1000
#: The most usable signing keys kept from one document.
MAX_SIGNING_KEYS = 64
#: How much longer than the fetch's deadline a waiting request waits for it (a safety net).
WAIT_MARGIN_SECONDS = 0.25
USER_AGENT = "lambdaone-jwks/1"

#: ``fetch(url, timeout)``: one JSON document, or a :class:`~lambdaone.jwks_fetch.Fetched` (the document
#: and its ``Cache-Control`` max-age), or an exception; the default is :func:`fetch_with_cache_control`.
Fetch = Callable[[str, float], Any]


@dataclass(frozen=True)
class CachePolicy:
    """How long keys live and how often the JWKS endpoint may be asked (all in seconds).

    ``lifetime`` is the most an answer lives; ``Cache-Control`` may shorten it, to no less than
    ``min_lifetime`` (nor more than ``lifetime``), see :meth:`lifetime_for`.
    """

    lifetime: float = 600.0
    cooldown: float = 10.0
    stale_for: float = 1800.0
    timeout: float = 2.0
    min_lifetime: float = 60.0

    def lifetime_for(self, max_age: float | None) -> float:
        """How long an answer with this ``Cache-Control`` max-age (None: none) lives here."""
        if max_age is None:
            return self.lifetime
        return max(min(max_age, self.lifetime), min(self.min_lifetime, self.lifetime))


class JwksError(Exception):
    """The JWKS endpoint could not be reached or did not return a usable key set.

    ``status``: the HTTP status of an answer other than 200, when there was one.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


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
    """Keep the keys of a JWKS document that may verify signatures; raise when none is left.

    At most ``MAX_JWKS_ENTRIES`` entries are read and ``MAX_SIGNING_KEYS`` usable keys kept.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksError("the JWKS document is not a JSON object with a 'keys' array")
    entries = document["keys"]
    usable: list[VerificationKey] = []
    ignored: list[str] = []
    read = 0
    for entry in entries[:MAX_JWKS_ENTRIES]:
        if len(usable) == MAX_SIGNING_KEYS:
            break
        read += 1
        try:
            usable.append(_signing_key(entry))
        except (JwksError, UnsuitableKeyError) as why:
            ignored.append(str(why))
    not_read = len(entries) - read
    if ignored or not_read:
        stopped_at = None if not not_read else "signing_keys" if len(usable) == MAX_SIGNING_KEYS else "entries"
        logger.info("JWKS keys ignored", extra={"fields": {
            "ignored": ignored[:10], "ignored_count": len(ignored), "not_read": not_read, "stopped_at": stopped_at,
            "usable": len(usable)}})
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


def fetch_document(url: str, timeout: float, *, max_bytes: int = MAX_JWKS_BYTES) -> Any:
    """The one network call: GET the JWKS (with ``USER_AGENT``) and parse it, within ``timeout``."""
    try:
        return jwks_fetch.fetch_document(url, timeout=timeout, headers={"User-Agent": USER_AGENT},
                                         max_bytes=max_bytes)
    except jwks_fetch.FetchError as error:
        raise JwksError(str(error), status=error.status) from None


def fetch_with_cache_control(url: str, timeout: float, *, max_bytes: int = MAX_JWKS_BYTES) -> jwks_fetch.Fetched:
    """Like :func:`fetch_document`, with the answer's ``Cache-Control`` max-age: the key sources' default."""
    try:
        return jwks_fetch.fetch_json(url, timeout=timeout, headers={"User-Agent": USER_AGENT}, max_bytes=max_bytes)
    except jwks_fetch.FetchError as error:
        raise JwksError(str(error), status=error.status) from None


def unpack(answer: Any) -> tuple[Any, float | None]:
    """A fetch's answer as ``(document, max_age)``: a plain document has no max-age."""
    if isinstance(answer, jwks_fetch.Fetched):
        return answer.document, answer.max_age
    return answer, None


class _Cached(NamedTuple):
    """Keys with when their fetch ended, on both clocks, and how long they live."""

    keys: KeySet
    fetched_at: float  # on the source's clock (monotonic)
    lifetime: float
    fetched_at_wall: float  # on the wall clock: the one that counts time spent in a snapshot


class _Flight:
    """One fetch in progress; every request that needs its outcome waits on ``done``."""

    __slots__ = ("generation", "for_unknown_kid", "done", "wait_until", "succeeded")

    def __init__(self, generation: int, for_unknown_kid: bool, timeout: float) -> None:
        self.generation = generation
        self.for_unknown_kid = for_unknown_kid
        self.done = threading.Event()
        self.wait_until = time.monotonic() + timeout + WAIT_MARGIN_SECONDS
        self.succeeded = False


class JwksKeySource:
    """The signing keys of one JWKS URL under a :class:`CachePolicy`; safe to share across threads.

    ``clock`` drives the cache policy (lifetime, stale window, cooldown); ``wall_clock`` measures
    key age too (see the module's docstring); ``fetch`` replaces the HTTP request (tests,
    notebooks). Fetches run in a daemon thread so that a waiting request can give up at the
    deadline and a background refresh never holds a request.
    """

    def __init__(self, url: str, policy: CachePolicy, clock: Callable[[], float] = time.monotonic,
                 fetch: Fetch | None = None, wall_clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self.policy = policy
        self._clock = clock
        self._wall_clock = wall_clock
        self._fetch = fetch if fetch is not None else fetch_with_cache_control
        self._lock = threading.Lock()  # guards the fields below; never held during I/O
        self._cached: _Cached | None = None
        self._document: Any = None  # the document the cached keys came from
        self._quiet_until = -math.inf  # no fetch before this (after a failure or an unknown-kid refetch)
        self._last_fetch_failed = False
        self._flight: _Flight | None = None
        self._generation = 0  # forget() bumps it: a fetch started before must not fill the cache
        self.fetches = 0  # attempts, for benchmarks and tests
        self.failures = 0

    # ------------------------------------------------------------------ what authz asks

    def key_for(self, kid: str | None) -> VerificationKey:
        """The key that signed a token with this ``kid``; raises :class:`Denial` when there is none."""
        cached = self._cached
        if cached is not None:
            keys, fetched_at, lifetime, fetched_at_wall = cached
            age = self._clock() - fetched_at
            wall_age = self._wall_clock() - fetched_at_wall
            if wall_age > age:
                age = wall_age  # time spent in a snapshot: only the wall clock saw it
            if age < lifetime:
                key = keys.find(kid)  # the warm path: no lock, no I/O
                return key if key is not None else self._unknown(kid)
            if age < lifetime + self.policy.stale_for:
                self._refresh_in_background()
                key = keys.find(kid)
                return key if key is not None else self._unknown(kid)
        keys = self._wait_for_keys()
        key = keys.find(kid)
        if key is None:  # just fetched: a refetch now would bring the same document
            raise Denial(Reason.UNKNOWN_KEY, why=_no_kid_why(kid, "kid not in the key set after a refetch"))
        return key

    def prefetch(self) -> bool:
        """Fetch the keys now unless fresh ones are cached (at cold start, in Lambda's init phase).

        Waits for at most one deadline; False when no fresh keys could be had (logged).
        """
        if self._age_of(self._cached) < self._lifetime_of(self._cached):
            return True
        flight = self._join_or_start(for_unknown_kid=False)
        if flight is None or not self._wait(flight):
            return False
        return self._age_of(self._cached) < self._lifetime_of(self._cached)

    def after_restore(self) -> bool:
        """After a SnapStart restore: the keys frozen in the snapshot are stale, fetch fresh ones now.

        The quiet period and any fetch frozen mid-flight are dropped (its connection did not survive
        the snapshot); the keys stay usable as stale keys only while their wall-clock age allows it.
        Waits for at most one deadline, like :meth:`prefetch`.
        """
        with self._lock:
            self._quiet_until = -math.inf
            self._last_fetch_failed = False
            self._flight = None  # a fetch frozen in the snapshot finishes (if ever) for its waiters only
        self.expire()
        return self.prefetch()
    def forget(self) -> None:
        """Drop the cached keys and any quiet period: the next lookup fetches, as after a cold start."""
        with self._lock:
            self._generation += 1
            self._cached = None
            self._document = None
            self._quiet_until = -math.inf
            self._last_fetch_failed = False
            self._flight = None  # a fetch still running finishes for its waiters only

    def expire(self) -> None:
        """Age the cached keys to the end of their lifetime: stale from now on, as if time had passed.

        For tests, benchmarks and notebooks: an expired-but-stale cache without waiting for it.
        """
        with self._lock:
            cached = self._cached
            if cached is not None:  # never younger than they are: min() keeps an older age
                self._cached = cached._replace(
                    fetched_at=min(cached.fetched_at, self._clock() - cached.lifetime),
                    fetched_at_wall=min(cached.fetched_at_wall, self._wall_clock() - cached.lifetime))

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until no fetch is in flight (tests and benchmarks observe a background refresh so)."""
        flight = self._flight
        return flight is None or flight.done.wait(timeout)

    # ------------------------------------------------------------------ the cache policy

    def _unknown(self, kid: str | None) -> VerificationKey:
        """A usable key set without this kid: refetch at most once per cooldown, and wait for it."""
        if kid is None:
            raise Denial(Reason.UNKNOWN_KEY, why="no kid and more than one signing key")
        flight = self._join_or_start(for_unknown_kid=True)
        if flight is None:
            if self._last_fetch_failed:  # the issuer could not be asked: the kid may well be valid
                raise self._unavailable()
            raise Denial(Reason.UNKNOWN_KEY, why="kid not in the key set (refetch cooling down)")
        succeeded = self._wait(flight)
        cached = self._usable()
        key = cached.find(kid) if cached is not None else None
        if key is not None:
            return key
        if not succeeded:
            raise self._unavailable()
        raise Denial(Reason.UNKNOWN_KEY, why="kid not in the key set after a refetch")

    def _wait_for_keys(self) -> KeySet:
        """No usable key: wait for one fetch (shared with every other waiter), or 503 in a quiet period."""
        flight = self._join_or_start(for_unknown_kid=False)
        if flight is None:
            raise self._unavailable()
        self._wait(flight)
        keys = self._usable()
        if keys is None:
            raise self._unavailable()
        return keys

    def _age_of(self, cached: _Cached | None) -> float:
        """How old ``cached`` keys are: the larger of their monotonic and wall-clock ages (inf: none)."""
        if cached is None:
            return math.inf
        return max(self._clock() - cached.fetched_at, self._wall_clock() - cached.fetched_at_wall)

    @staticmethod
    def _lifetime_of(cached: _Cached | None) -> float:
        return cached.lifetime if cached is not None else 0.0

    def _usable(self) -> KeySet | None:
        cached = self._cached
        if cached is None or self._age_of(cached) >= cached.lifetime + self.policy.stale_for:
            return None
        return cached.keys

    def _unavailable(self) -> Denial:
        left = self._quiet_until - self._clock()  # -inf while a fetch that outlived its waiters runs
        retry_after = max(1, math.ceil(left)) if left > 0 else 1
        return Denial(Reason.SIGNING_KEYS_UNAVAILABLE, retry_after=retry_after)

    def _refresh_in_background(self) -> None:
        if self._flight is not None or self._clock() < self._quiet_until:
            return  # the common case under load, decided without the lock
        self._join_or_start(for_unknown_kid=False)

    def _join_or_start(self, *, for_unknown_kid: bool) -> _Flight | None:
        """The fetch in flight, a new one, or None in a quiet period."""
        with self._lock:
            if self._flight is not None:
                return self._flight
            if self._clock() < self._quiet_until:
                return None
            flight = self._flight = _Flight(self._generation, for_unknown_kid, self.policy.timeout)
            self.fetches += 1
        context = contextvars.copy_context()  # its log lines carry the request id that started it
        try:
            threading.Thread(target=context.run, args=(self._run, flight), name="jwks-fetch", daemon=True).start()
        except RuntimeError:  # no thread could be started: a failed fetch like any other
            self._finish(flight, None, None, JwksError("cannot start a fetch thread"))
        return flight

    def _wait(self, flight: _Flight) -> bool:
        """Wait for ``flight``, at most until its deadline (plus a margin); True when it brought keys."""
        return flight.done.wait(max(0.0, flight.wait_until - time.monotonic())) and flight.succeeded

    # ------------------------------------------------------------------ one fetch

    def _download(self, timeout: float) -> tuple[Any, float | None]:
        """The JWKS document and its ``Cache-Control`` max-age, fetched within ``timeout``."""
        return unpack(self._fetch(self.url, timeout))

    def _run(self, flight: _Flight) -> None:
        keys: KeySet | None = None
        document: Any = None
        max_age: float | None = None
        failure: JwksError | None = None
        try:
            document, max_age = self._download(self.policy.timeout)
            keys = self._key_set(document)
        except JwksError as error:
            failure = error
        except Exception as error:  # a bug or a surprise from the network stack: still a failed fetch
            failure = JwksError(f"unexpected {type(error).__name__} while fetching the keys")
        finally:
            if keys is None and failure is None:  # a BaseException is on its way: waiters still wake up
                failure = JwksError("the fetch was interrupted")
            self._finish(flight, keys, document, failure, max_age)

    def _key_set(self, document: Any) -> KeySet:
        cached = self._cached
        if cached is not None and document == self._document:
            return cached.keys  # unchanged: the same key objects (a verified-token cache relies on identity)
        return parse_key_set(document)

    def _finish(self, flight: _Flight, keys: KeySet | None, document: Any, failure: JwksError | None,
                max_age: float | None = None) -> None:
        with self._lock:
            current = flight.generation == self._generation
            if self._flight is flight:
                self._flight = None
            now = self._clock()
            if current:
                if keys is not None:
                    self._cached = _Cached(keys, now, self.policy.lifetime_for(max_age), self._wall_clock())
                    self._document = document
                    self._last_fetch_failed = False
                    if flight.for_unknown_kid:
                        self._quiet_until = now + self.policy.cooldown
                else:
                    self._quiet_until = now + self.policy.cooldown
                    self._last_fetch_failed = True
                    self.failures += 1
            cached = self._cached
        flight.succeeded = keys is not None
        if current and failure is not None:
            self._log_failure(failure, cached, now)
        elif current and keys is not None:
            logger.debug("JWKS fetched", extra={"fields": {"keys": len(keys)}})
        flight.done.set()

    def _log_fields(self) -> dict[str, Any]:
        """Facts every failure line of this source carries (a discovered source names its issuer)."""
        return {}

    def _log_failure(self, failure: JwksError, cached: _Cached | None, now: float) -> None:
        del now  # the age is measured on both clocks
        age = self._age_of(cached)
        stale_limit = (cached.lifetime if cached is not None else self.policy.lifetime) + self.policy.stale_for
        if age < stale_limit:
            logger.warning(
                "JWKS refresh failed: using the last good keys",
                extra={"fields": {"error": str(failure), "keys_age_seconds": round(age, 1),
                                  "stale_limit_seconds": stale_limit,
                                  "retry_in_seconds": self.policy.cooldown, **self._log_fields()}},
            )
        else:  # an alarm on ERROR fires: requests get 503 until a fetch succeeds
            logger.error("JWKS fetch failed: no signing keys",
                         extra={"fields": {"error": str(failure), **self._log_fields()}})


def _no_kid_why(kid: str | None, why: str) -> str:
    return "no kid and more than one signing key" if kid is None else why


_sources: dict[tuple[str, str], JwksKeySource] = {}
# Every source handed out and still alive (the handler's runtime may hold one that _sources no longer does).
_handed_out: weakref.WeakSet[JwksKeySource] = weakref.WeakSet()
_sources_lock = threading.Lock()


def source_for(url: str, policy: CachePolicy) -> JwksKeySource:
    """The module-level key source for ``url``: created once, reused by every warm invocation."""
    return shared_source(("jwks", url), policy, lambda: JwksKeySource(url, policy))


def shared_source(name: tuple[str, str], policy: CachePolicy,
                  create: Callable[[], JwksKeySource]) -> JwksKeySource:
    """The module-level source registered under ``name``, created (by ``create``) once per policy."""
    with _sources_lock:
        source = _sources.get(name)
        if source is None or source.policy != policy:
            source = _sources[name] = create()
            _handed_out.add(source)
        return source


def after_restore() -> None:
    """Refresh every live source after a SnapStart restore (``lambdaone.snapstart`` calls it).

    The sources refresh in parallel: one slow issuer holds the restore for one deadline, not one each.
    """
    with _sources_lock:
        sources = list(_handed_out)
    threads = [threading.Thread(target=source.after_restore, name="jwks-restore", daemon=True) for source in sources]
    for thread in threads:
        thread.start()
    for source, thread in zip(sources, threads, strict=True):
        thread.join(source.policy.timeout + WAIT_MARGIN_SECONDS + 0.5)


def clear_caches() -> None:
    """Forget every cached key set (tests and notebooks start from a cold cache with this).

    Sources already handed out (the handler's runtime holds one) forget their keys too.
    """
    with _sources_lock:
        for source in list(_handed_out):
            source.forget()
        _sources.clear()
