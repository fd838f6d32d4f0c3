"""Checks for notebook 05 (JWKS): a key cache that fetches rarely and survives key rotation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workbook.checking import Case, check

LIFETIME = 600.0
COOLDOWN = 10.0


class FakeIssuer:
    """A JWKS endpoint without a network: serves a document and counts the fetches."""

    def __init__(self, *kids: str) -> None:
        self.fetches = 0
        self.publish(*kids)

    def publish(self, *kids: str) -> None:
        self.document = {"keys": [{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256"} for kid in kids]}

    def fetch(self) -> dict[str, Any]:
        self.fetches += 1
        return self.document


class FakeClock:
    """Time that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _kid(entry: Any) -> Any:
    return entry.get("kid") if isinstance(entry, dict) else entry


def check_key_cache(key_cache_class: Callable[..., Any]) -> None:
    """``key_cache_class(fetch, lifetime=, cooldown=, clock=)`` with ``key_for(kid) -> JWK dict | None``."""

    def fresh() -> tuple[FakeIssuer, FakeClock, Any]:
        issuer, clock = FakeIssuer("key-1"), FakeClock()
        return issuer, clock, key_cache_class(issuer.fetch, lifetime=LIFETIME, cooldown=COOLDOWN, clock=clock)

    def first_lookup() -> tuple[Any, int]:
        issuer, _, cache = fresh()
        return _kid(cache.key_for("key-1")), issuer.fetches

    def warm_lookups() -> int:
        issuer, clock, cache = fresh()
        for _ in range(20):
            cache.key_for("key-1")
            clock.advance(1)
        return issuer.fetches

    def cold_unknown_kid() -> tuple[Any, int]:
        issuer, _, cache = fresh()
        return cache.key_for("no-such-key"), issuer.fetches

    def expiry() -> tuple[int, int]:
        issuer, clock, cache = fresh()
        cache.key_for("key-1")
        clock.advance(LIFETIME - 1)
        cache.key_for("key-1")
        before_expiry = issuer.fetches
        clock.advance(2)
        cache.key_for("key-1")
        return before_expiry, issuer.fetches

    def rotation() -> tuple[Any, int]:
        issuer, clock, cache = fresh()
        cache.key_for("key-1")
        clock.advance(1)
        issuer.publish("key-1", "key-2")
        return _kid(cache.key_for("key-2")), issuer.fetches

    def unknown_kid() -> Any:
        _, clock, cache = fresh()
        cache.key_for("key-1")
        clock.advance(1)
        return cache.key_for("no-such-key")

    def flood() -> tuple[list[Any], int]:
        issuer, clock, cache = fresh()
        cache.key_for("key-1")
        clock.advance(1)
        results = [cache.key_for(f"random-{n}") for n in range(50)]
        return [_kid(entry) for entry in results if entry is not None], issuer.fetches

    def cooldown_refuses() -> tuple[Any, int]:
        issuer, clock, cache = fresh()
        cache.key_for("key-1")
        clock.advance(1)
        cache.key_for("random-1")
        clock.advance(COOLDOWN / 2)
        issuer.publish("key-1", "key-2")
        return cache.key_for("key-2"), issuer.fetches

    def after_cooldown() -> tuple[Any, int]:
        issuer, clock, cache = fresh()
        cache.key_for("key-1")
        clock.advance(1)
        cache.key_for("random-1")
        clock.advance(COOLDOWN + 1)
        issuer.publish("key-1", "key-3")
        return _kid(cache.key_for("key-3")), issuer.fetches

    check("KeyCache", [
        Case("the first lookup fetches once and finds key-1 (kid, fetches)", first_lookup, ("key-1", 1),
             hint="the first key_for fetches the document and returns the entry whose 'kid' matches"),
        Case("20 warm lookups within the lifetime make no further fetch (fetches)", warm_lookups, 1,
             hint="keep the keys and when they were fetched; fetch only when `lifetime` seconds have passed"),
        Case("an unknown kid gives None", unknown_kid, None,
             hint="return None (do not raise) when no key has that kid, even after the refetch"),
        Case("a lookup never fetches twice: cold cache, unknown kid (result, fetches)", cold_unknown_kid, (None, 1),
             hint="when this lookup has just fetched the keys, a refetch would only bring the same document"),
        Case("keys are fetched again once the lifetime has passed (fetches before, after)", expiry, (1, 2),
             hint="compare clock() - fetched_at with lifetime; use the clock you were given, not time.monotonic"),
        Case("a rotated key is found with one refetch (kid, fetches)", rotation, ("key-2", 2),
             hint="when the kid is not in the cached keys, fetch once more and look again; the cooldown starts only "
                  "at such a refetch for an unknown kid, never at a routine fetch"),
        Case("50 random kids cost one refetch in all (found, fetches)", flood, ([], 2),
             hint="after a refetch for an unknown kid, refuse unknown kids without fetching for `cooldown` seconds"),
        Case("during the cooldown even a new key waits (result, fetches)", cooldown_refuses, (None, 2),
             hint="the cooldown starts at the refetch for an unknown kid and lasts `cooldown` seconds"),
        Case("after the cooldown an unknown kid may refetch again (kid, fetches)", after_cooldown, ("key-3", 3),
             hint="once `cooldown` seconds have passed, an unknown kid triggers one refetch again"),
    ])
