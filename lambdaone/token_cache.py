"""A bounded LRU of tokens that verified, so a client reusing its access token skips the signature.

Like Envoy's ``jwt_authn`` ``jwt_cache_config``: keyed by the exact token string, tokens over
4 KiB never cached. Unlike API Gateway's authorizer cache it caches a *verification*, never a
decision: ``authz`` re-checks ``exp``, ``nbf`` and ``iat`` against the current time and the scopes
against the required ones on every hit, and asks the key source whether the key that verified the
token is still the one it would use (rotation drops the entry); with several issuers, that is the key source of the issuer the
token verified for, never another's. A token that failed any check is
never stored. One cache belongs to one configuration (``handler`` builds a new one, empty, when
the configuration changes), and each entry also remembers the settings it was verified under.

Memory: an entry holds the token (at most :data:`MAX_CACHED_TOKEN_LENGTH` ASCII characters) and
a few small values (``sub`` cut to 128 characters, the ``kid`` of at most 256, three integers, the
required scopes it grants); the parsed claims are not kept (a token's JSON can take many times its
size as Python objects) but decoded again from the token when someone reads them. So the cache
holds less than ``max_entries × 5 KiB``: 4 KiB of token and under 0.8 KiB of bookkeeping
(``test_token_cache.py`` measures it), 5 MB at the default 1,000 entries.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import NamedTuple

from .claims import TimeClaims
from .keys import VerificationKey
from .settings import Settings

#: Longer tokens are verified every time (Envoy's limit): they are rare, and they would dominate memory.
MAX_CACHED_TOKEN_LENGTH = 4096
DEFAULT_SIZE = 1000


class CachedVerification(NamedTuple):
    """What a hit needs: under which settings and key the token verified, and what to re-check.

    (A named tuple: built on every first-seen token, it costs a third of a frozen dataclass.)
    """

    settings: Settings
    key: VerificationKey
    kid: str | None
    times: TimeClaims
    granted_required: frozenset[str]  # the required scopes (of ``settings``) the token grants
    subject: str
    issuer: str = ""  # whose key source a hit asks again (the token's iss, one of ``settings.issuers``)


class VerifiedTokenCache:
    """A thread-safe LRU of at most ``max_entries`` :class:`CachedVerification` entries, keyed by token."""

    def __init__(self, max_entries: int = DEFAULT_SIZE) -> None:
        if max_entries < 1:
            raise ValueError("a token cache holds at least one entry (0 means no cache: build none)")
        self.max_entries = max_entries
        self._entries: OrderedDict[str, CachedVerification] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> CachedVerification | None:
        """The entry for ``token`` (now the most recently used), or None."""
        with self._lock:
            entry = self._entries.get(token)
            if entry is not None:
                self._entries.move_to_end(token)
            return entry

    def put(self, token: str, entry: CachedVerification) -> bool:
        """Remember a token that verified, evicting the least recently used; False when it is too long."""
        if len(token) > MAX_CACHED_TOKEN_LENGTH:
            return False
        with self._lock:
            if token in self._entries:
                self._entries.move_to_end(token)
            self._entries[token] = entry
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return True

    def discard(self, token: str) -> None:
        """Forget ``token`` (its key rotated out, or it expired)."""
        with self._lock:
            self._entries.pop(token, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, token: object) -> bool:
        return token in self._entries

    def __repr__(self) -> str:
        return f"VerifiedTokenCache({len(self)}/{self.max_entries} entries)"
