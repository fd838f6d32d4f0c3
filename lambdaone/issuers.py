"""The issuers a Lambda accepts, each with its own key source.

A token's (unverified) ``iss`` picks its issuer before any key is looked up, so a key of issuer A
never verifies a token that claims issuer B, whatever its ``kid``, and an ``iss`` that is not
configured is refused without a network call. One source per issuer, each with its own lock,
cache and cooldown (``jwt_key``): one issuer's outage or flood does not slow the others.
"""

from __future__ import annotations

import threading
from collections.abc import ItemsView, Iterator, Mapping

from .keys import KeySource


class IssuerKeys:
    """A read-only mapping from each configured issuer (exactly as configured) to its key source.

    It does not answer ``key_for`` itself on purpose: there is no key lookup without an issuer.
    (Not a ``collections.abc.Mapping`` subclass: ``authz`` tells it from a single key source on
    every request, and ``isinstance`` against an ABC costs several times a plain class check.)
    """

    __slots__ = ("_sources",)

    def __init__(self, sources: Mapping[str, KeySource]) -> None:
        if not sources:
            raise ValueError("IssuerKeys needs at least one issuer")
        self._sources = dict(sources)

    def __getitem__(self, issuer: str) -> KeySource:
        return self._sources[issuer]

    def get_source(self, issuer: str) -> KeySource | None:
        """The key source of ``issuer``, or None when it is not configured (one dict lookup)."""
        return self._sources.get(issuer)

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def __contains__(self, issuer: object) -> bool:
        return issuer in self._sources

    def items(self) -> ItemsView[str, KeySource]:
        return self._sources.items()

    def prefetch(self) -> bool:
        """Fetch every issuer's keys that can be fetched (at cold start); True when all are fresh."""
        sources = [source for source in self._sources.values() if hasattr(source, "prefetch")]
        if len(sources) <= 1:
            return all(source.prefetch() for source in sources)
        # In parallel: a cold start waits for the slowest issuer's deadline, not for the sum of them.
        results = [False] * len(sources)

        def run(position: int) -> None:
            try:
                results[position] = bool(sources[position].prefetch())
            except Exception:  # a prefetch never raises by design; a bug still leaves that issuer not fresh
                results[position] = False

        threads = [threading.Thread(target=run, args=(position,), name="jwks-prefetch", daemon=True)
                   for position in range(len(sources))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()  # each prefetch waits for at most one deadline
        return all(results)

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until no issuer's fetch is in flight (tests and benchmarks)."""
        return all(source.settle(timeout) for source in self._sources.values() if hasattr(source, "settle"))

    def __repr__(self) -> str:
        return f"IssuerKeys({list(self._sources)!r})"
