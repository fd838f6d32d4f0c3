"""Unit tests for the key lifetime: ``Cache-Control`` (``jwks_fetch.cache_max_age``), the policy's bounds
(``CachePolicy.lifetime_for``), and key age on two clocks (SnapStart), with fake clocks and a fake fetch."""

from __future__ import annotations

import math
from typing import Any

import pytest

from lambdaone import jwks_fetch, jwt_key
from lambdaone.jwks_fetch import Fetched, cache_max_age
from lambdaone.reasons import Denial, Reason
from workbook.tokens import KeyPair, jwks

URL = "https://issuer.example.test/jwks"
POLICY = jwt_key.CachePolicy(lifetime=600.0, cooldown=10.0, stale_for=1800.0, timeout=2.0, min_lifetime=60.0)


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class Endpoint:
    """Answers with the current document and max-age; counts its calls."""

    def __init__(self, document: Any, max_age: float | None = None) -> None:
        self.document = document
        self.max_age = max_age
        self.calls = 0
        self.error: Exception | None = None

    def __call__(self, url: str, timeout: float) -> Fetched:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return Fetched(self.document, self.max_age)


# --------------------------------------------------------------------------------------------------
# Cache-Control
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("values", "expected"), [
    ([], None),
    ([b"public"], None),
    ([b"max-age=300"], 300.0),
    ([b"public, max-age=120, must-revalidate"], 120.0),
    ([b"Max-Age=45"], 45.0),
    ([b'max-age="90"'], 90.0),
    ([b"max-age = 30"], 30.0),
    ([b"max-age=300", b"max-age=100"], 100.0),  # several: the smallest
    ([b"max-age=300, no-cache"], 0.0),
    ([b"no-store"], 0.0),
    ([b"private, no-cache"], 0.0),
    ([b"max-age=0"], 0.0),
    ([b"max-age=-5"], 0.0),  # malformed: stale (RFC 9111 section 4.2.1)
    ([b"max-age=abc"], 0.0),
    ([b"max-age="], 0.0),
    ([b"max-age=12345678901"], 0.0),  # more than 10 digits: malformed
    ([b"s-maxage=10"], None),  # for shared caches only
    ([b"max-agex=10"], None),
])
def test_cache_max_age(values: list[bytes], expected: float | None) -> None:
    assert cache_max_age(values) == expected


def test_fetch_json_reads_cache_control(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_body(target: Any, deadline: Any, headers: Any, max_bytes: int, ssl_context: Any,
                  response_headers: dict[bytes, list[bytes]]) -> bytes:
        response_headers[b"cache-control"] = [b"max-age=77"]
        return b'{"keys": []}'

    monkeypatch.setattr(jwks_fetch, "fetch_body", fake_body)
    assert jwks_fetch.fetch_json(URL, timeout=1) == Fetched({"keys": []}, 77.0)
    assert jwks_fetch.fetch_document(URL, timeout=1) == {"keys": []}


def test_a_non_200_answer_keeps_its_status_and_gives_no_headers() -> None:
    class Once:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def settimeout(self, _: float) -> None:
            pass

        def recv(self, _: int) -> bytes:
            data, self.data = self.data, b""
            return data

    reader = jwks_fetch._Reader(Once(b"HTTP/1.1 404 Not Found\r\nCache-Control: max-age=9\r\n\r\n"),  # type: ignore[arg-type]
                                jwks_fetch.Deadline(5), jwks_fetch._Stage("status line"))
    headers: dict[bytes, list[bytes]] = {}
    with pytest.raises(jwks_fetch.FetchError) as caught:
        jwks_fetch._read_response(reader, 1000, headers)
    assert caught.value.status == 404 and headers == {}
    assert jwks_fetch.FetchError("x").status is None


# --------------------------------------------------------------------------------------------------
# The policy's bounds
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("max_age", "lifetime"), [
    (None, 600.0), (300.0, 300.0), (600.0, 600.0), (3600.0, 600.0), (61.0, 61.0), (60.0, 60.0), (59.0, 60.0),
    (0.0, 60.0),
])
def test_lifetime_is_max_age_within_min_and_cache_seconds(max_age: float | None, lifetime: float) -> None:
    assert POLICY.lifetime_for(max_age) == lifetime


def test_the_floor_never_exceeds_the_configured_lifetime() -> None:
    short = jwt_key.CachePolicy(lifetime=30.0, min_lifetime=60.0)
    assert (short.lifetime_for(0.0), short.lifetime_for(None), short.lifetime_for(100.0)) == (30.0, 30.0, 30.0)
    assert jwt_key.CachePolicy(lifetime=600.0, min_lifetime=0.0).lifetime_for(0.0) == 0.0


@pytest.fixture
def key() -> KeyPair:
    return KeyPair.generate("RS256", kid="k1")


def test_max_age_shortens_the_keys_lifetime(key: KeyPair) -> None:
    clock, wall = Clock(1000.0), Clock(5000.0)
    endpoint = Endpoint(jwks(key), max_age=120.0)
    source = jwt_key.JwksKeySource(URL, POLICY, clock=clock, fetch=endpoint, wall_clock=wall)
    source.key_for("k1")
    clock.now += 119.0
    wall.now += 119.0
    source.key_for("k1")
    assert endpoint.calls == 1
    clock.now += 1.0
    wall.now += 1.0
    source.key_for("k1")  # stale now: served, one background refresh
    assert source.settle(5) and endpoint.calls == 2


def test_max_age_zero_is_floored(key: KeyPair) -> None:
    clock, wall = Clock(1000.0), Clock(5000.0)
    endpoint = Endpoint(jwks(key), max_age=0.0)
    source = jwt_key.JwksKeySource(URL, POLICY, clock=clock, fetch=endpoint, wall_clock=wall)
    for _ in range(50):
        source.key_for("k1")
    clock.now += 59.9
    wall.now += 59.9
    source.key_for("k1")
    assert source.settle(5) and endpoint.calls == 1
    assert source.prefetch() and endpoint.calls == 1  # fresh: prefetch does not fetch


def test_a_plain_document_lives_the_configured_lifetime(key: KeyPair) -> None:
    clock = Clock(1000.0)
    calls: list[str] = []
    source = jwt_key.JwksKeySource(URL, POLICY, clock=clock, fetch=lambda url, timeout: calls.append(url) or jwks(key),
                                   wall_clock=Clock(0.0))
    source.key_for("k1")
    clock.now += 599.0
    source.key_for("k1")
    assert source.settle(5) and len(calls) == 1


# --------------------------------------------------------------------------------------------------
# Key age on two clocks: SnapStart
# --------------------------------------------------------------------------------------------------


def test_a_wall_clock_jump_alone_ages_the_keys(key: KeyPair) -> None:
    clock, wall = Clock(1000.0), Clock(5000.0)
    endpoint = Endpoint(jwks(key))
    source = jwt_key.JwksKeySource(URL, POLICY, clock=clock, fetch=endpoint, wall_clock=wall)
    source.key_for("k1")
    wall.now += 600.0  # a snapshot restored 10 minutes later: the monotonic clock did not move
    source.key_for("k1")  # stale: served at once, refreshed in the background
    assert source.settle(5) and endpoint.calls == 2


def test_after_a_long_snapshot_old_keys_are_never_used(key: KeyPair) -> None:
    clock, wall = Clock(1000.0), Clock(5000.0)
    endpoint = Endpoint(jwks(key))
    source = jwt_key.JwksKeySource(URL, POLICY, clock=clock, fetch=endpoint, wall_clock=wall)
    source.key_for("k1")
    wall.now += 3 * 86400.0
    endpoint.error = jwt_key.JwksError("down")
    with pytest.raises(Denial) as caught:
        source.key_for("k1")
    assert caught.value.reason is Reason.SIGNING_KEYS_UNAVAILABLE and endpoint.calls == 2


def test_a_wall_clock_that_goes_back_does_not_make_keys_younger(key: KeyPair) -> None:
    clock, wall = Clock(1000.0), Clock(5000.0)
    endpoint = Endpoint(jwks(key))
    source = jwt_key.JwksKeySource(URL, POLICY, clock=clock, fetch=endpoint, wall_clock=wall)
    source.key_for("k1")
    wall.now -= 10_000.0
    clock.now += 600.0  # the monotonic age still counts
    source.key_for("k1")
    assert source.settle(5) and endpoint.calls == 2


def test_after_restore_refetches_and_clears_the_cooldown(key: KeyPair) -> None:
    clock, wall = Clock(1000.0), Clock(5000.0)
    endpoint = Endpoint(jwks(key))
    source = jwt_key.JwksKeySource(URL, POLICY, clock=clock, fetch=endpoint, wall_clock=wall)
    source.key_for("k1")
    endpoint.error = jwt_key.JwksError("down")
    with pytest.raises(Denial):
        source.key_for("unknown")  # a failed refetch: cooling down for 10 s
    assert endpoint.calls == 2
    rotated = KeyPair.generate("RS256", kid="k2")
    endpoint.error, endpoint.document = None, jwks(rotated)
    assert source.after_restore() is True and endpoint.calls == 3
    assert source.key_for("k2").kid == "k2"


def test_after_restore_keeps_stale_keys_when_the_refresh_fails(key: KeyPair) -> None:
    clock, wall = Clock(1000.0), Clock(5000.0)
    endpoint = Endpoint(jwks(key))
    source = jwt_key.JwksKeySource(URL, POLICY, clock=clock, fetch=endpoint, wall_clock=wall)
    source.key_for("k1")
    endpoint.error = jwt_key.JwksError("down")
    assert source.after_restore() is False
    assert source.key_for("k1").kid == "k1"  # stale, within the stale window


def test_expire_never_makes_keys_younger(key: KeyPair) -> None:
    clock, wall = Clock(1000.0), Clock(5000.0)
    endpoint = Endpoint(jwks(key))
    source = jwt_key.JwksKeySource(URL, POLICY, clock=clock, fetch=endpoint, wall_clock=wall)
    source.key_for("k1")
    wall.now += 3 * 86400.0  # far past lifetime + stale window
    source.expire()
    endpoint.error = jwt_key.JwksError("down")
    with pytest.raises(Denial) as caught:
        source.key_for("k1")
    assert caught.value.reason is Reason.SIGNING_KEYS_UNAVAILABLE


def test_module_after_restore_refreshes_every_live_source(key: KeyPair, monkeypatch: pytest.MonkeyPatch) -> None:
    jwt_key.clear_caches()
    refreshed: list[str] = []
    policy = jwt_key.CachePolicy(timeout=0.5)
    first = jwt_key.source_for("https://one.example.test/jwks", policy)
    second = jwt_key.source_for("https://two.example.test/jwks", policy)
    for source in (first, second):
        monkeypatch.setattr(source, "after_restore", lambda source=source: refreshed.append(source.url) or True)
    jwt_key.after_restore()
    assert sorted(refreshed) == ["https://one.example.test/jwks", "https://two.example.test/jwks"]
    jwt_key.clear_caches()


def test_age_of_nothing_is_infinite() -> None:
    source = jwt_key.JwksKeySource(URL, POLICY, fetch=lambda url, timeout: {})
    assert source._age_of(None) == math.inf and source._lifetime_of(None) == 0.0
