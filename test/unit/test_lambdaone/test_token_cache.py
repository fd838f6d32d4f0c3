"""Unit tests for the verified-token cache: ``lambdaone.token_cache`` and its use by ``authz`` and ``handler``.

What must hold: a hit skips only the parse and the signature; time, scopes and the key are checked
again on every hit; a token that failed is never stored; rotation drops an entry; a configuration
change starts from an empty cache; the size and the memory stay bounded; threads can share it.
"""

from __future__ import annotations

import threading
import tracemalloc
from typing import Any

import pytest

from lambdaone import authz, handler, jose, settings
from lambdaone.claims import TimeClaims
from lambdaone.keys import VerificationKey, verification_key
from lambdaone.reasons import Denial, Reason
from lambdaone.token_cache import MAX_CACHED_TOKEN_LENGTH, CachedVerification, VerifiedTokenCache
from test.conftest import REQUIRED_SCOPES
from test.unit.test_lambdaone.test_authz import REQUIRED, make_settings
from workbook import events
from workbook.tokens import KeyPair


class Keys:
    """A key source whose answer can change (rotation) or fail, counting its calls."""

    def __init__(self, key: VerificationKey) -> None:
        self.key: VerificationKey | None = key
        self.failure: Denial | None = None
        self.calls = 0

    def key_for(self, kid: str | None) -> VerificationKey:
        self.calls += 1
        if self.failure is not None:
            raise self.failure
        if self.key is None:
            raise Denial(Reason.UNKNOWN_KEY, why="kid not in the key set")
        return self.key


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    import time

    fake = Clock(time.time())
    monkeypatch.setattr(authz, "clock", fake)
    return fake


@pytest.fixture
def keys(issuer_key: KeyPair) -> Keys:
    return Keys(verification_key(issuer_key.public_key, kid=issuer_key.kid))


@pytest.fixture
def config() -> settings.Settings:
    return make_settings()


@pytest.fixture
def cache() -> VerifiedTokenCache:
    return VerifiedTokenCache(10)


@pytest.fixture
def signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the signature verifications, so a test can tell a hit (none) from the full path."""
    calls: list[str] = []
    real = jose.signature_is_valid

    def counting(jws: jose.CompactJws, *args: Any) -> bool:
        calls.append(jws.signature_segment)
        return real(jws, *args)

    monkeypatch.setattr(jose, "signature_is_valid", counting)
    return calls


def entry(token_settings: settings.Settings, key: VerificationKey, exp: int = 2**40) -> CachedVerification:
    return CachedVerification(token_settings, key, "k", TimeClaims(exp=exp), frozenset(), "sub")


# --------------------------------------------------------------------------------------------------
# The LRU itself
# --------------------------------------------------------------------------------------------------


def test_get_put_discard_clear(config: settings.Settings, keys: Keys) -> None:
    assert keys.key is not None
    lru = VerifiedTokenCache(3)
    first = entry(config, keys.key)
    assert lru.get("a") is None
    assert lru.put("a", first)
    assert lru.get("a") is first
    assert "a" in lru and len(lru) == 1
    lru.discard("a")
    lru.discard("never-there")
    assert lru.get("a") is None
    lru.put("b", first)
    lru.clear()
    assert len(lru) == 0
    assert repr(lru) == "VerifiedTokenCache(0/3 entries)"


def test_the_least_recently_used_entry_goes_first(config: settings.Settings, keys: Keys) -> None:
    assert keys.key is not None
    lru = VerifiedTokenCache(3)
    for token in "abc":
        lru.put(token, entry(config, keys.key))
    assert lru.get("a") is not None  # "a" is now the most recent; "b" the least
    lru.put("d", entry(config, keys.key))
    assert "b" not in lru
    assert {token for token in "acd" if token in lru} == {"a", "c", "d"}
    lru.put("c", entry(config, keys.key))  # putting again refreshes too
    lru.put("e", entry(config, keys.key))
    assert "a" not in lru and "c" in lru and len(lru) == 3


def test_the_size_bound_holds(config: settings.Settings, keys: Keys) -> None:
    assert keys.key is not None
    lru = VerifiedTokenCache(50)
    for number in range(500):
        lru.put(f"token-{number}", entry(config, keys.key))
        assert len(lru) <= 50
    assert len(lru) == 50
    assert "token-499" in lru and "token-449" not in lru and "token-450" in lru


def test_tokens_over_4_kib_are_never_cached(config: settings.Settings, keys: Keys) -> None:
    assert keys.key is not None
    lru = VerifiedTokenCache(3)
    assert lru.put("t" * MAX_CACHED_TOKEN_LENGTH, entry(config, keys.key))
    assert not lru.put("t" * (MAX_CACHED_TOKEN_LENGTH + 1), entry(config, keys.key))
    assert len(lru) == 1


@pytest.mark.parametrize("size", [0, -1])
def test_a_cache_holds_at_least_one_entry(size: int) -> None:
    with pytest.raises(ValueError, match=r"^a token cache holds at least one entry \(0 means no cache: build none\)$"):
        VerifiedTokenCache(size)
    assert VerifiedTokenCache(1).max_entries == 1


def test_memory_is_bounded_by_size_times_5_kib(issuer_key: KeyPair, config: settings.Settings,
                                                         keys: Keys, clock: Clock) -> None:
    """Worst case: tokens of nearly the maximum cached length, the longest kid and sub, and a payload that
    would parse into many small objects (it is not kept: a hit decodes claims again only when asked)."""
    size = 200
    lru = VerifiedTokenCache(size)
    tokens = []
    for number in range(size + 20):
        nested = ",".join('{"a":{}}' for _ in range(167))
        token = issuer_key.token(scope=REQUIRED, sub="s" * 500, n=number, junk=f"[{nested}]",
                                 header={"kid": "k" * 256})
        tokens.append(token)
    assert all(len(token) <= MAX_CACHED_TOKEN_LENGTH for token in tokens)
    assert min(len(token) for token in tokens) > MAX_CACHED_TOKEN_LENGTH - 400
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for token in tokens:
            presented = token[:1] + token[1:]  # a new string, as each event brings: the cache keeps it alive
            decision = authz.authorize(presented, config, keys, lru)
            assert decision.allowed
        del decision, presented
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(lru) == size
    per_entry = (after - before) / size
    assert per_entry < 5 * 1024, f"{per_entry:.0f} bytes per entry"


def test_threads_share_one_cache(config: settings.Settings, keys: Keys, issuer_key: KeyPair) -> None:
    lru = VerifiedTokenCache(20)
    tokens = [issuer_key.token(scope=REQUIRED, n=number) for number in range(40)]
    problems: list[str] = []
    start = threading.Barrier(4)

    def work(offset: int) -> None:
        start.wait()
        for round_number in range(5):
            for token in tokens[offset::2]:
                decision = authz.authorize(token, config, keys, lru)
                if not decision.allowed:
                    problems.append(decision.reason.code)
                if len(lru) > 20:
                    problems.append(f"size {len(lru)} in round {round_number}")

    threads = [threading.Thread(target=work, args=(number % 2,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert problems == []
    assert len(lru) == 20


# --------------------------------------------------------------------------------------------------
# authorize with a cache: what a hit skips and what it still checks
# --------------------------------------------------------------------------------------------------


def test_a_repeated_token_skips_the_signature(issuer_key: KeyPair, config: settings.Settings, keys: Keys,
                                               cache: VerifiedTokenCache, signature_checks: list[str]) -> None:
    token = issuer_key.token(scope=REQUIRED, sub="learner", cid="client-1")
    first = authz.authorize(token, config, keys, cache)
    again = authz.authorize(token, config, keys, cache)
    assert first.allowed and again.allowed
    assert len(signature_checks) == 1
    assert again.detail == first.detail == {"sub": "learner"}
    assert again.claims is not None and first.claims is not None
    assert dict(again.claims) == dict(first.claims)
    assert again.claims["cid"] == "client-1" and len(again.claims) == len(first.claims)
    assert again.claims == first.claims
    assert "TokenClaims(" in repr(again.claims)
    assert keys.calls == 2  # the hit still asked the key source
    assert token in cache


def test_without_a_cache_every_call_verifies(issuer_key: KeyPair, config: settings.Settings, keys: Keys,
                                             signature_checks: list[str]) -> None:
    token = issuer_key.token(scope=REQUIRED)
    for _ in range(3):
        assert authz.authorize(token, config, keys).allowed
    assert len(signature_checks) == 3


def test_a_token_that_expires_while_cached_is_refused_and_dropped(issuer_key: KeyPair, config: settings.Settings,
                                                                  keys: Keys, cache: VerifiedTokenCache,
                                                                  clock: Clock, signature_checks: list[str]) -> None:
    token = issuer_key.token(scope=REQUIRED, lifetime=60)
    assert authz.authorize(token, config, keys, cache).allowed
    clock.now += 60 + config.leeway - 1  # within the leeway: still served from the cache
    assert authz.authorize(token, config, keys, cache).allowed
    assert len(signature_checks) == 1
    clock.now += 2
    decision = authz.authorize(token, config, keys, cache)
    assert decision.reason is Reason.TOKEN_EXPIRED
    assert len(signature_checks) == 1  # refused by the hit's own check
    assert token not in cache
    assert authz.authorize(token, config, keys, cache).reason is Reason.TOKEN_EXPIRED  # and by the full path
    assert len(signature_checks) == 2
    assert token not in cache


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_a_hit_checks_nbf_and_iat_against_the_current_time(issuer_key: KeyPair, config: settings.Settings,
                                                           keys: Keys, cache: VerifiedTokenCache, clock: Clock,
                                                           claim: str) -> None:
    token = issuer_key.token(scope=REQUIRED, lifetime=3600, **{claim: int(clock.now)},
                             drop=("iat",) if claim == "nbf" else ())
    assert authz.authorize(token, config, keys, cache).allowed
    clock.now -= config.leeway + 5  # the clock stepped back: the token is not valid yet
    decision = authz.authorize(token, config, keys, cache)
    assert decision.reason is Reason.TOKEN_NOT_YET_VALID
    assert decision.detail == {"error": "ImmatureSignatureError", "claim": claim}
    assert token in cache  # it may become valid again: only expiry drops an entry
    clock.now += config.leeway + 5
    assert authz.authorize(token, config, keys, cache).allowed


def test_a_hit_checks_the_scopes_every_time(issuer_key: KeyPair, config: settings.Settings, keys: Keys,
                                            cache: VerifiedTokenCache, signature_checks: list[str]) -> None:
    token = issuer_key.token(scope="treasure:write")
    for _ in range(3):
        decision = authz.authorize(token, config, keys, cache)
        assert decision.reason is Reason.INSUFFICIENT_SCOPE
        assert decision.detail == {"missing": [REQUIRED]}
        assert decision.required_scopes == (REQUIRED,)
        assert decision.claims is None
    assert len(signature_checks) == 1  # the verification is cached; the decision is made again each time


def test_a_hit_checks_the_scopes_of_the_current_requirement(issuer_key: KeyPair, keys: Keys, config: settings.Settings,
                                                            cache: VerifiedTokenCache) -> None:
    token = issuer_key.token(scope="treasure:read treasure:write")
    assert authz.authorize(token, config, keys, cache).allowed
    stored = cache.get(token)
    assert stored is not None and stored.granted_required == frozenset({REQUIRED})
    stricter = make_settings(REQUIRE="treasure:read,treasure:delete")
    # Even an entry claimed to be verified under the stricter settings grants only what it was checked for.
    cache.put(token, stored._replace(settings=stricter))
    decision = authz.authorize(token, stricter, keys, cache)
    assert decision.reason is Reason.INSUFFICIENT_SCOPE
    assert decision.detail == {"missing": ["treasure:delete"]}


def test_a_hit_under_other_settings_takes_the_full_path(issuer_key: KeyPair, keys: Keys, config: settings.Settings,
                                                        cache: VerifiedTokenCache,
                                                        signature_checks: list[str]) -> None:
    token = issuer_key.token(scope=REQUIRED)
    assert authz.authorize(token, config, keys, cache).allowed
    other_audience = make_settings(AUDIENCE="https://api.example.test/other")
    assert authz.authorize(token, other_audience, keys, cache).reason is Reason.WRONG_AUDIENCE
    assert len(signature_checks) == 2
    stored = cache.get(token)
    assert stored is not None and stored.settings is config  # a denial replaced nothing


@pytest.mark.parametrize("forge", ["expired", "bad_signature", "wrong_audience", "unknown_key", "malformed"])
def test_a_token_that_fails_is_never_cached(issuer_key: KeyPair, other_key: KeyPair, config: settings.Settings,
                                            keys: Keys, cache: VerifiedTokenCache, forge: str) -> None:
    token = {
        "expired": lambda: issuer_key.token(scope=REQUIRED, lifetime=-3600),
        "bad_signature": lambda: other_key.token(scope=REQUIRED),
        "wrong_audience": lambda: issuer_key.token(scope=REQUIRED, aud="https://elsewhere.test"),
        "unknown_key": lambda: issuer_key.token(scope=REQUIRED),
        "malformed": lambda: issuer_key.token(scope=REQUIRED)[:-3],
    }[forge]()
    if forge == "unknown_key":
        keys.key = None
    for _ in range(2):
        assert not authz.authorize(token, config, keys, cache).allowed
    assert len(cache) == 0


def test_rotation_drops_the_entry(issuer_key: KeyPair, config: settings.Settings, keys: Keys,
                                  cache: VerifiedTokenCache, signature_checks: list[str]) -> None:
    token = issuer_key.token(scope=REQUIRED)
    assert authz.authorize(token, config, keys, cache).allowed
    # The key set was fetched again and now holds an equal key, but as a new object: not the same verification.
    keys.key = verification_key(issuer_key.public_key, kid=issuer_key.kid)
    assert authz.authorize(token, config, keys, cache).allowed
    assert len(signature_checks) == 2
    stored = cache.get(token)
    assert stored is not None and stored.key is keys.key


def test_a_key_removed_from_the_set_drops_the_entry_and_refuses(issuer_key: KeyPair, config: settings.Settings,
                                                                keys: Keys, cache: VerifiedTokenCache) -> None:
    token = issuer_key.token(scope=REQUIRED)
    assert authz.authorize(token, config, keys, cache).allowed
    keys.key = None
    asked_before = keys.calls
    decision = authz.authorize(token, config, keys, cache)
    assert decision.reason is Reason.UNKNOWN_KEY
    assert decision.detail["kid"] == issuer_key.kid
    assert token not in cache
    # Asked once: a JWKS source may refetch (or start a cooldown) for an unknown kid; a hit must not ask twice.
    assert keys.calls == asked_before + 1


def test_a_key_source_failure_on_a_hit_is_answered_as_the_full_path_would(issuer_key: KeyPair,
                                                                          config: settings.Settings, keys: Keys,
                                                                          cache: VerifiedTokenCache) -> None:
    token = issuer_key.token(scope=REQUIRED)
    assert authz.authorize(token, config, keys, cache).allowed
    keys.failure = Denial(Reason.SIGNING_KEYS_UNAVAILABLE, retry_after=5)
    asked_before = keys.calls
    decision = authz.authorize(token, config, keys, cache)
    assert keys.calls == asked_before + 1
    assert decision.reason is Reason.SIGNING_KEYS_UNAVAILABLE
    assert decision.detail == {"retry_after": 5}
    assert token not in cache


def test_the_kid_that_verified_is_the_one_asked_on_a_hit(issuer_key: KeyPair, config: settings.Settings,
                                                         cache: VerifiedTokenCache) -> None:
    key = verification_key(issuer_key.public_key, kid=issuer_key.kid)
    asked: list[str | None] = []

    class ByKid:
        def key_for(self, kid: str | None) -> VerificationKey:
            asked.append(kid)
            if kid != issuer_key.kid:
                raise Denial(Reason.UNKNOWN_KEY)
            return key

    token = issuer_key.token(scope=REQUIRED)
    for _ in range(2):
        assert authz.authorize(token, config, ByKid(), cache).allowed
    assert asked == [issuer_key.kid, issuer_key.kid]


def test_a_token_over_4_kib_is_verified_every_time(issuer_key: KeyPair, config: settings.Settings, keys: Keys,
                                                   cache: VerifiedTokenCache, signature_checks: list[str]) -> None:
    token = issuer_key.token(scope=REQUIRED, padding="p" * 4000)
    assert MAX_CACHED_TOKEN_LENGTH < len(token) < 6000
    for _ in range(2):
        assert authz.authorize(token, config, keys, cache).allowed
    assert len(signature_checks) == 2
    assert len(cache) == 0


# --------------------------------------------------------------------------------------------------
# The handler: one cache per configuration, TOKEN_CACHE_SIZE
# --------------------------------------------------------------------------------------------------


def invoke(token: str) -> int:
    class Context:
        aws_request_id = "cache-test"

    return int(handler.handle(events.http_api_v2(events.bearer(token)), Context())["statusCode"])


def test_the_handler_caches_verified_tokens(pem_env: Any, issuer_key: KeyPair,
                                            signature_checks: list[str]) -> None:
    token = issuer_key.token(scope=REQUIRED_SCOPES)
    assert [invoke(token) for _ in range(3)] == [200, 200, 200]
    assert len(signature_checks) == 1
    runtime = handler.current_runtime()
    assert runtime.token_cache is not None and runtime.token_cache.max_entries == 1000
    assert token in runtime.token_cache


def test_a_configuration_change_clears_the_cache(pem_env: Any, issuer_key: KeyPair, clean_env: pytest.MonkeyPatch,
                                                 signature_checks: list[str]) -> None:
    token = issuer_key.token(scope=REQUIRED_SCOPES)
    assert invoke(token) == 200
    old_cache = handler.current_runtime().token_cache
    assert old_cache is not None and len(old_cache) == 1
    clean_env.setenv("LEEWAY", "5")
    assert invoke(token) == 200
    assert len(signature_checks) == 2  # verified again under the new configuration
    new_cache = handler.current_runtime().token_cache
    assert new_cache is not old_cache and new_cache is not None
    assert len(old_cache) == 0 and len(new_cache) == 1
    clean_env.setenv("REQUIRE", "treasure:write")
    assert invoke(token) == 403


def test_token_cache_size_zero_turns_it_off(pem_env: Any, issuer_key: KeyPair, clean_env: pytest.MonkeyPatch,
                                            signature_checks: list[str]) -> None:
    clean_env.setenv("TOKEN_CACHE_SIZE", "0")
    token = issuer_key.token(scope=REQUIRED_SCOPES)
    assert [invoke(token) for _ in range(2)] == [200, 200]
    assert len(signature_checks) == 2
    assert handler.current_runtime().token_cache is None


def test_token_cache_size_sets_the_bound(pem_env: Any, issuer_key: KeyPair, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TOKEN_CACHE_SIZE", "2")
    for number in range(4):
        assert invoke(issuer_key.token(scope=REQUIRED_SCOPES, n=number)) == 200
    cache = handler.current_runtime().token_cache
    assert cache is not None and cache.max_entries == 2 and len(cache) == 2


def test_authorization_off_builds_no_cache(clean_env: pytest.MonkeyPatch) -> None:
    assert handler.current_runtime().token_cache is None


# --------------------------------------------------------------------------------------------------
# TOKEN_CACHE_SIZE in the configuration
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "size"), [("", 1000), ("  ", 1000), ("0", 0), ("1", 1), (" 250 ", 250),
                                            ("100000", 100_000), ("007", 7)])
def test_token_cache_size_values(text: str, size: int) -> None:
    assert make_settings(TOKEN_CACHE_SIZE=text).token_cache_size == size


@pytest.mark.parametrize("text", ["-1", "100001", "1.5", "1e3", "ten", "١٢", "9" * 5000, "+5"])
def test_token_cache_size_must_be_a_whole_number_in_range(text: str) -> None:
    with pytest.raises(settings.ConfigurationError) as caught:
        make_settings(TOKEN_CACHE_SIZE=text)
    assert caught.value.variable == "TOKEN_CACHE_SIZE"
    assert "0 to 100000" in str(caught.value)


def test_token_cache_size_is_part_of_the_configuration() -> None:
    assert "TOKEN_CACHE_SIZE" in settings.VARIABLES
    assert settings.fingerprint({"TOKEN_CACHE_SIZE": "5"}) != settings.fingerprint({})


def test_an_entry_is_dropped_at_the_exact_moment_it_expires(issuer_key: KeyPair, config: settings.Settings,
                                                             keys: Keys, cache: VerifiedTokenCache, clock: Clock) -> None:
    token = issuer_key.token(scope=REQUIRED, lifetime=60)
    assert authz.authorize(token, config, keys, cache).allowed
    stored = cache.get(token)
    assert stored is not None
    clock.now = stored.times.exp + config.leeway  # exp <= now - leeway: expired, exactly
    assert authz.authorize(token, config, keys, cache).reason is Reason.TOKEN_EXPIRED
    assert token not in cache


def test_a_token_without_sub_logs_an_empty_sub(issuer_key: KeyPair, config: settings.Settings, keys: Keys,
                                               cache: VerifiedTokenCache) -> None:
    token = issuer_key.token(scope=REQUIRED, drop=("sub",))
    assert [authz.authorize(token, config, keys, cache).detail for _ in range(2)] == [{"sub": ""}, {"sub": ""}]


def test_a_long_sub_is_logged_cut_to_128_characters(issuer_key: KeyPair, config: settings.Settings, keys: Keys,
                                                    cache: VerifiedTokenCache) -> None:
    token = issuer_key.token(scope=REQUIRED, sub="s" * 200)
    assert [authz.authorize(token, config, keys, cache).detail for _ in range(2)] == [{"sub": "s" * 128}] * 2


def test_rotation_to_a_key_that_does_not_verify_the_token_drops_it(issuer_key: KeyPair, other_key: KeyPair,
                                                                   config: settings.Settings, keys: Keys,
                                                                   cache: VerifiedTokenCache) -> None:
    token = issuer_key.token(scope=REQUIRED)
    assert authz.authorize(token, config, keys, cache).allowed
    keys.key = verification_key(other_key.public_key, kid=issuer_key.kid)  # the kid now names another key
    assert authz.authorize(token, config, keys, cache).reason is Reason.BAD_SIGNATURE
    assert token not in cache
