"""Unit tests for ``lambdaone.jwt_key``: the JWKS key source, its cache policy and its key filtering.

The network is replaced in two ways. Cache-policy tests hand the key source a fake ``fetch`` (see
``FakeEndpoint``) that returns JWKS documents or raises, with a fake clock, so every timing rule is
checked exactly and instantly (a background refresh is awaited with ``settle``). ``fetch_document``
tests use the real HTTP fetch against local servers on 127.0.0.1 (ephemeral ports); the hostile
servers are in ``test/integration/test_jwks_faults.py``.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest

from lambdaone import jwt_key
from lambdaone.reasons import Denial, Reason
from workbook.jwks_server import JwksServer
from workbook.tokens import KeyPair, jwks

JWKS_URL = "https://issuer.example.test/.well-known/jwks.json"
POLICY = jwt_key.CachePolicy(lifetime=600.0, cooldown=10.0, stale_for=1800.0, timeout=2.0)


# --------------------------------------------------------------------------------------------------
# Cache policy, with a mocked client and a fake clock
# --------------------------------------------------------------------------------------------------


class FakeClock:
    """A monotonic clock that moves only when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeEndpoint:
    """The key source's ``fetch``: the current document, or the current error; counts its calls."""

    def __init__(self, document: Any) -> None:
        self.document = document
        self.error: BaseException | None = None
        self.calls = 0
        self.seen: list[tuple[str, float]] = []

    def __call__(self, url: str, timeout: float) -> Any:
        self.calls += 1
        self.seen.append((url, timeout))
        if self.error is not None:
            raise self.error
        return self.document

    def go_down(self) -> None:
        self.error = jwt_key.JwksError("connection refused")

    def come_back(self) -> None:
        self.error = None


@pytest.fixture(scope="module")
def rotated_key() -> KeyPair:
    return KeyPair.generate("RS256", kid="rotated-key-2")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def endpoint(issuer_key: KeyPair) -> FakeEndpoint:
    return FakeEndpoint(jwks(issuer_key))


@pytest.fixture
def source(endpoint: FakeEndpoint, clock: FakeClock) -> Any:
    return jwt_key.JwksKeySource(JWKS_URL, POLICY, clock=clock, fetch=endpoint)


def fetch_count(endpoint: FakeEndpoint) -> int:
    return endpoint.calls


def denial_of(call: Callable[[], object]) -> Denial:
    with pytest.raises(Denial) as caught:
        call()
    return caught.value


def same_key(found: Any, pair: KeyPair) -> bool:
    return found.public_key.public_numbers() == pair.public_key.public_numbers()


def test_warm_calls_make_no_fetch(source: Any, endpoint: FakeEndpoint, issuer_key: KeyPair,
                                  clock: FakeClock) -> None:
    assert fetch_count(endpoint) == 0  # nothing is fetched before it is needed
    for _ in range(100):
        assert same_key(source.key_for(issuer_key.kid), issuer_key)
        clock.advance(POLICY.lifetime / 200)
    assert fetch_count(endpoint) == 1
    assert source.fetches == 1


def test_keys_are_refreshed_once_their_lifetime_is_over(
    source: Any, endpoint: FakeEndpoint, issuer_key: KeyPair, clock: FakeClock
) -> None:
    source.key_for(issuer_key.kid)
    clock.advance(POLICY.lifetime - 0.5)  # binary-exact steps: no rounding at the boundary
    source.key_for(issuer_key.kid)
    assert fetch_count(endpoint) == 1
    clock.advance(0.5)
    source.key_for(issuer_key.kid)  # stale: served at once, refreshed in the background
    assert source.settle(5)
    assert fetch_count(endpoint) == 2


def test_prefetch_fetches_at_once_and_reports_success(
    source: Any, endpoint: FakeEndpoint
) -> None:
    assert source.prefetch() is True
    assert fetch_count(endpoint) == 1
    assert source.prefetch() is True  # fresh keys: nothing to fetch
    assert fetch_count(endpoint) == 1
    failing = jwt_key.JwksKeySource("https://other.example.test/jwks", POLICY, clock=FakeClock(), fetch=endpoint)
    endpoint.go_down()
    assert failing.prefetch() is False
    assert failing.prefetch() is False  # in the quiet period: not even tried
    assert fetch_count(endpoint) == 2


def test_an_unknown_kid_refetches_once_then_cools_down(
    source: Any, endpoint: FakeEndpoint, issuer_key: KeyPair, clock: FakeClock
) -> None:
    source.key_for(issuer_key.kid)
    for _ in range(1000):
        denial = denial_of(lambda: source.key_for(f"random-{uuid.uuid4().hex}"))
        assert denial.reason is Reason.UNKNOWN_KEY
    # The first fetch plus exactly one refetch (for the first random kid) for all 1,000 of them.
    assert fetch_count(endpoint) == 2
    clock.advance(POLICY.cooldown)
    denial_of(lambda: source.key_for("random-after-the-cooldown"))
    assert fetch_count(endpoint) == 3
    assert same_key(source.key_for(issuer_key.kid), issuer_key)  # known keys are never slowed down


def test_a_rotated_key_is_accepted_after_one_refetch(
    source: Any, endpoint: FakeEndpoint, issuer_key: KeyPair,
    rotated_key: KeyPair
) -> None:
    source.key_for(issuer_key.kid)
    endpoint.document = jwks(issuer_key, rotated_key)
    assert same_key(source.key_for(rotated_key.kid), rotated_key)
    assert fetch_count(endpoint) == 2
    for _ in range(10):
        source.key_for(rotated_key.kid)
        source.key_for(issuer_key.kid)
    assert fetch_count(endpoint) == 2


def test_a_rotated_key_waits_for_the_cooldown_after_a_refetch_for_a_random_kid(
    source: Any, endpoint: FakeEndpoint, issuer_key: KeyPair, rotated_key: KeyPair, clock: FakeClock
) -> None:
    source.key_for(issuer_key.kid)
    denial_of(lambda: source.key_for("random-kid"))  # spends the refetch of this window
    endpoint.document = jwks(issuer_key, rotated_key)
    assert denial_of(lambda: source.key_for(rotated_key.kid)).reason is Reason.UNKNOWN_KEY
    clock.advance(POLICY.cooldown)
    assert same_key(source.key_for(rotated_key.kid), rotated_key)


def test_a_failed_refresh_keeps_the_last_good_keys_for_a_bounded_time(
    source: Any, endpoint: FakeEndpoint, issuer_key: KeyPair,
    clock: FakeClock
) -> None:
    start = clock.now
    source.key_for(issuer_key.kid)
    endpoint.go_down()
    clock.advance(POLICY.lifetime)
    assert same_key(source.key_for(issuer_key.kid), issuer_key)  # stale: served while a refresh runs
    assert source.settle(5)
    assert fetch_count(endpoint) == 2  # the refresh failed: the last good keys stay
    assert same_key(source.key_for(issuer_key.kid), issuer_key)
    clock.now = start + POLICY.lifetime + POLICY.stale_for - 0.5
    assert same_key(source.key_for(issuer_key.kid), issuer_key)
    assert source.settle(5)
    clock.now = start + POLICY.lifetime + POLICY.stale_for
    denial = denial_of(lambda: source.key_for(issuer_key.kid))
    assert denial.reason is Reason.SIGNING_KEYS_UNAVAILABLE
    assert denial.reason.status == 503
    assert denial.detail["retry_after"] == math.ceil(POLICY.cooldown)
    # Back up: the next fetch after the quiet period restores service.
    endpoint.come_back()
    clock.advance(POLICY.cooldown)
    assert same_key(source.key_for(issuer_key.kid), issuer_key)


def test_no_fetch_storm_while_the_endpoint_is_down(
    source: Any, endpoint: FakeEndpoint, issuer_key: KeyPair,
    clock: FakeClock
) -> None:
    endpoint.go_down()
    for _ in range(1000):  # a burst at one instant: one attempt
        assert denial_of(lambda: source.key_for(issuer_key.kid)).reason is Reason.SIGNING_KEYS_UNAVAILABLE
    assert fetch_count(endpoint) == 1
    seconds = 100
    for _ in range(seconds):  # then one request a second: one attempt per cooldown
        clock.advance(1)
        denial = denial_of(lambda: source.key_for(issuer_key.kid))
        assert 1 <= denial.detail["retry_after"] <= POLICY.cooldown
    assert fetch_count(endpoint) == 1 + seconds // int(POLICY.cooldown)
    endpoint.come_back()
    clock.advance(POLICY.cooldown)
    assert same_key(source.key_for(issuer_key.kid), issuer_key)


def test_retry_after_counts_down_to_the_next_attempt(
    source: Any, endpoint: FakeEndpoint, issuer_key: KeyPair, clock: FakeClock
) -> None:
    endpoint.go_down()
    assert denial_of(lambda: source.key_for(None)).detail["retry_after"] == 10
    clock.advance(6.5)
    assert denial_of(lambda: source.key_for(None)).detail["retry_after"] == 4
    clock.advance(3.4)
    assert denial_of(lambda: source.key_for(None)).detail["retry_after"] == 1


@pytest.mark.parametrize("document", [{"keys": []}, {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, {}, ["keys"]],
                         ids=["empty", "only_hmac", "no_keys_member", "not_an_object"])
def test_no_usable_keys_at_all_is_a_503(
    source: Any, endpoint: FakeEndpoint, document: Any
) -> None:
    endpoint.document = document
    denial = denial_of(lambda: source.key_for("any-kid"))
    assert denial.reason is Reason.SIGNING_KEYS_UNAVAILABLE
    assert denial.reason.status == 503
    assert denial.detail["retry_after"] >= 1
    assert fetch_count(endpoint) == 1


def test_a_kidless_token_finds_the_single_key_and_is_refused_with_several(
    source: Any, endpoint: FakeEndpoint, issuer_key: KeyPair,
    rotated_key: KeyPair, clock: FakeClock
) -> None:
    assert same_key(source.key_for(None), issuer_key)
    endpoint.document = jwks(issuer_key, rotated_key)
    clock.advance(POLICY.lifetime)
    assert same_key(source.key_for(None), issuer_key)  # stale, with one key: served while refreshed
    assert source.settle(5)
    assert denial_of(lambda: source.key_for(None)).reason is Reason.UNKNOWN_KEY
    assert fetch_count(endpoint) == 2  # no kid: nothing a refetch could find


def _run_concurrently(count: int, work: Callable[[], Any]) -> tuple[list[Any], list[threading.Thread]]:
    results: list[Any] = []
    results_lock = threading.Lock()
    barrier = threading.Barrier(count)

    def run() -> None:
        barrier.wait(timeout=5)
        try:
            outcome: Any = work()
        except Exception as error:  # recorded: the test asserts there is none
            outcome = error
        with results_lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return results, threads


class SlowEndpoint:
    """A fetch that blocks until released, so concurrent callers pile up behind it."""

    def __init__(self, document: Any) -> None:
        self.document = document
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, url: str, timeout: float) -> Any:
        self.started.set()
        if not self.release.wait(timeout=5):
            raise AssertionError("the slow fetch was never released")
        return self.document


def _release_when_all_waiting(slow: SlowEndpoint, threads: list[threading.Thread]) -> None:
    assert slow.started.wait(timeout=5)
    time.sleep(0.2)  # let every other thread reach the lock
    # None can have finished: each one needs the keys the blocked fetch is bringing.
    assert all(thread.is_alive() for thread in threads)
    slow.release.set()
    for thread in threads:
        thread.join(timeout=5)
        assert not thread.is_alive()


def test_concurrent_misses_on_a_cold_cache_share_one_fetch(issuer_key: KeyPair) -> None:
    slow = SlowEndpoint(jwks(issuer_key))
    shared = jwt_key.JwksKeySource(JWKS_URL, POLICY, fetch=slow)
    results, threads = _run_concurrently(16, lambda: shared.key_for(issuer_key.kid))
    _release_when_all_waiting(slow, threads)
    assert shared.fetches == 1
    assert len(results) == 16
    assert all(not isinstance(found, Exception) and same_key(found, issuer_key) for found in results), results


def test_concurrent_misses_for_a_new_kid_share_one_refetch(issuer_key: KeyPair, rotated_key: KeyPair) -> None:
    slow = SlowEndpoint(jwks(issuer_key, rotated_key))
    calls = iter([lambda url, timeout: jwks(issuer_key), slow])
    shared = jwt_key.JwksKeySource(JWKS_URL, POLICY, fetch=lambda url, timeout: next(calls)(url, timeout))
    shared.key_for(issuer_key.kid)
    results, threads = _run_concurrently(16, lambda: shared.key_for(rotated_key.kid))
    _release_when_all_waiting(slow, threads)
    assert shared.fetches == 2
    assert all(not isinstance(found, Exception) and same_key(found, rotated_key) for found in results), results


# --------------------------------------------------------------------------------------------------
# Any failure is a failed fetch; stale-while-revalidate; the cooldown counted from a failure's end
# --------------------------------------------------------------------------------------------------


class ClockMovingEndpoint(FakeEndpoint):
    """A fetch that takes ``seconds`` of the fake clock before answering (or failing)."""

    def __init__(self, document: Any, clock: FakeClock, seconds: float) -> None:
        super().__init__(document)
        self.clock = clock
        self.seconds = seconds

    def __call__(self, url: str, timeout: float) -> Any:
        self.clock.advance(self.seconds)
        return super().__call__(url, timeout)


@pytest.mark.parametrize("error", [RecursionError("deep"), ValueError("x"), KeyError("k"), TypeError("t"),
                                   OSError("o"), MemoryError(), jwt.PyJWTError("j")],
                         ids=lambda error: type(error).__name__)
def test_an_unexpected_exception_is_a_failed_fetch(error: Exception, source: Any, endpoint: FakeEndpoint,
                                                   issuer_key: KeyPair, clock: FakeClock,
                                                   jwt_key_log: list[logging.LogRecord]) -> None:
    endpoint.error = error
    denial = denial_of(lambda: source.key_for(issuer_key.kid))  # cold: a 503, not the exception
    assert denial.reason is Reason.SIGNING_KEYS_UNAVAILABLE
    assert denial.detail["retry_after"] == 10
    [record] = [r for r in jwt_key_log if r.levelno >= logging.WARNING]
    assert record.levelno == logging.ERROR
    assert record.fields == {"error": f"unexpected {type(error).__name__} while fetching the keys"}
    # With cached keys past their lifetime, the same exception leaves the stale keys serving.
    endpoint.come_back()
    clock.advance(POLICY.cooldown)
    assert same_key(source.key_for(issuer_key.kid), issuer_key)
    endpoint.error = error
    clock.advance(POLICY.lifetime)
    assert same_key(source.key_for(issuer_key.kid), issuer_key)
    assert source.settle(5)
    assert source.failures == 2
    assert same_key(source.key_for(issuer_key.kid), issuer_key)


def test_a_stale_lookup_never_waits_for_the_refresh(issuer_key: KeyPair, clock: FakeClock) -> None:
    slow = SlowEndpoint(jwks(issuer_key))
    slow.release.set()
    shared = jwt_key.JwksKeySource(JWKS_URL, POLICY, clock=clock, fetch=slow)
    first = shared.key_for(issuer_key.kid)
    slow.release.clear()
    slow.started.clear()
    clock.advance(POLICY.lifetime)
    started = time.monotonic()
    for _ in range(100):
        assert shared.key_for(issuer_key.kid) is first  # at once, while the refresh is blocked
    assert time.monotonic() - started < 1
    assert slow.started.wait(5)
    assert shared.fetches == 2  # one refresh for all 100 lookups
    slow.release.set()
    assert shared.settle(5)
    assert shared.key_for(issuer_key.kid) is first  # an unchanged document keeps the key objects
    assert shared.fetches == 2


def test_the_same_key_object_until_the_key_set_changes(source: Any, endpoint: FakeEndpoint, issuer_key: KeyPair,
                                                      rotated_key: KeyPair, clock: FakeClock) -> None:
    first = source.key_for(issuer_key.kid)
    assert all(source.key_for(issuer_key.kid) is first for _ in range(10))
    clock.advance(POLICY.lifetime)
    source.key_for(issuer_key.kid)
    assert source.settle(5)
    assert endpoint.calls == 2
    assert source.key_for(issuer_key.kid) is first  # refetched, same document: same object
    endpoint.document = jwks(issuer_key, rotated_key)
    clock.advance(POLICY.lifetime)
    source.key_for(issuer_key.kid)
    assert source.settle(5)
    changed = source.key_for(issuer_key.kid)
    assert changed is not first and same_key(changed, issuer_key)  # a new key set: new objects
    assert source.key_for(issuer_key.kid) is changed


def test_the_cooldown_starts_when_a_failed_fetch_ends(issuer_key: KeyPair, clock: FakeClock) -> None:
    slow = ClockMovingEndpoint(jwks(issuer_key), clock, seconds=POLICY.cooldown)  # as long as the cooldown
    slow.go_down()
    shared = jwt_key.JwksKeySource(JWKS_URL, POLICY, clock=clock, fetch=slow)
    assert denial_of(lambda: shared.key_for(issuer_key.kid)).detail["retry_after"] == 10
    clock.advance(POLICY.cooldown - 0.5)
    assert denial_of(lambda: shared.key_for(issuer_key.kid)).detail["retry_after"] == 1
    assert slow.calls == 1  # counted from the start, the quiet period would be long over
    clock.advance(0.5)
    slow.come_back()
    assert same_key(shared.key_for(issuer_key.kid), issuer_key)
    assert slow.calls == 2


def test_a_refetch_for_an_unknown_kid_cools_down_from_its_end(source: Any, endpoint: FakeEndpoint,
                                                             issuer_key: KeyPair, clock: FakeClock) -> None:
    source.key_for(issuer_key.kid)
    slow = ClockMovingEndpoint(jwks(issuer_key), clock, seconds=4)
    source._fetch = slow
    denial_of(lambda: source.key_for("random-1"))
    clock.advance(POLICY.cooldown - 0.5)
    assert denial_of(lambda: source.key_for("random-2")).detail["why"].endswith("(refetch cooling down)")
    clock.advance(0.5)
    denial_of(lambda: source.key_for("random-3"))
    assert slow.calls == 2


def test_an_unknown_kid_whose_refetch_fails_gets_503(source: Any, endpoint: FakeEndpoint, issuer_key: KeyPair,
                                                     rotated_key: KeyPair, clock: FakeClock,
                                                     jwt_key_log: list[logging.LogRecord]) -> None:
    source.key_for(issuer_key.kid)
    endpoint.go_down()
    denial = denial_of(lambda: source.key_for(rotated_key.kid))
    assert denial.reason is Reason.SIGNING_KEYS_UNAVAILABLE  # the issuer could not be asked: retry later
    assert denial.detail["retry_after"] == 10
    [record] = [r for r in jwt_key_log if r.levelno >= logging.WARNING]
    assert record.levelno == logging.WARNING  # fresh keys keep serving: no alarm
    assert record.fields["retry_in_seconds"] == POLICY.cooldown
    clock.advance(3)
    again = denial_of(lambda: source.key_for(rotated_key.kid))  # in that failure's quiet period: still 503
    assert (again.reason, again.detail["retry_after"]) == (Reason.SIGNING_KEYS_UNAVAILABLE, 7)
    assert same_key(source.key_for(issuer_key.kid), issuer_key)
    assert endpoint.calls == 2
    endpoint.come_back()
    endpoint.document = jwks(issuer_key, rotated_key)
    clock.advance(7)
    assert same_key(source.key_for(rotated_key.kid), rotated_key)


def test_failure_logs_are_error_without_usable_keys_and_warning_with_them(
    source: Any, endpoint: FakeEndpoint, issuer_key: KeyPair, clock: FakeClock,
    jwt_key_log: list[logging.LogRecord]
) -> None:
    source.key_for(issuer_key.kid)
    endpoint.go_down()
    clock.advance(POLICY.lifetime + POLICY.stale_for - 1)  # stale, one second before the end
    source.key_for(issuer_key.kid)
    assert source.settle(5)
    clock.advance(POLICY.cooldown)  # now past the stale window: no usable key
    denial_of(lambda: source.key_for(issuer_key.kid))
    levels = [(r.levelno, r.getMessage()) for r in jwt_key_log if r.levelno >= logging.WARNING]
    assert levels == [(logging.WARNING, "JWKS refresh failed: using the last good keys"),
                      (logging.ERROR, "JWKS fetch failed: no signing keys")]
    warning = [r for r in jwt_key_log if r.levelno == logging.WARNING][0]
    assert warning.fields["keys_age_seconds"] == POLICY.lifetime + POLICY.stale_for - 1
    assert warning.fields["stale_limit_seconds"] == POLICY.lifetime + POLICY.stale_for


def test_a_waiting_request_gives_up_at_the_deadline_even_if_the_fetch_does_not(issuer_key: KeyPair) -> None:
    stuck = SlowEndpoint(jwks(issuer_key))  # ignores every deadline until released
    policy = jwt_key.CachePolicy(timeout=0.2)
    shared = jwt_key.JwksKeySource(JWKS_URL, policy, fetch=stuck)
    try:
        started = time.monotonic()
        denial = denial_of(lambda: shared.key_for(issuer_key.kid))
        waited = time.monotonic() - started
        assert denial.reason is Reason.SIGNING_KEYS_UNAVAILABLE
        assert policy.timeout + jwt_key.WAIT_MARGIN_SECONDS - 0.05 <= waited < policy.timeout + 1.5
        assert shared.prefetch() is False  # joins the same stuck fetch, gives up too
        assert shared.fetches == 1
    finally:
        stuck.release.set()
        assert shared.settle(5)
    assert same_key(shared.key_for(issuer_key.kid), issuer_key)  # the late answer still fills the cache


def test_forget_during_a_fetch_keeps_its_outcome_out_of_the_cache(issuer_key: KeyPair) -> None:
    stuck = SlowEndpoint(jwks(issuer_key))
    shared = jwt_key.JwksKeySource(JWKS_URL, jwt_key.CachePolicy(timeout=0.1), fetch=stuck)
    shared.forget()  # a second forget() below must still tell this fetch apart
    denial_of(lambda: shared.key_for(issuer_key.kid))
    flight = shared._flight
    shared.forget()
    stuck.release.set()
    assert flight.done.wait(5)
    assert shared._cached is None and shared.failures == 0
    assert same_key(shared.key_for(issuer_key.kid), issuer_key)  # a new fetch after forget()
    assert shared.fetches == 2


def test_a_thread_that_cannot_start_is_a_failed_fetch(source: Any, issuer_key: KeyPair,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    denial = denial_of(lambda: source.key_for(issuer_key.kid))
    assert denial.reason is Reason.SIGNING_KEYS_UNAVAILABLE
    assert source.failures == 1 and source.fetches == 1
    assert source.settle(0)


class Interrupt(BaseException):
    pass


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_base_exception_in_the_fetch_still_wakes_the_waiters(source: Any, endpoint: FakeEndpoint,
                                                              issuer_key: KeyPair) -> None:
    endpoint.error = Interrupt()
    started = time.monotonic()
    assert denial_of(lambda: source.key_for(issuer_key.kid)).reason is Reason.SIGNING_KEYS_UNAVAILABLE
    assert time.monotonic() - started < POLICY.timeout  # woken by the fetch's end, not by the wait's limit
    assert source.failures == 1
    for thread in threading.enumerate():  # the interrupt goes on up its thread: let it end inside this test
        if thread.name == "jwks-fetch":
            thread.join(timeout=5)


def test_expire_makes_the_keys_stale_at_once(source: Any, endpoint: FakeEndpoint, issuer_key: KeyPair) -> None:
    source.expire()  # nothing cached: nothing to do
    first = source.key_for(issuer_key.kid)
    source.expire()
    assert source.key_for(issuer_key.kid) is first
    assert source.settle(5)
    assert endpoint.calls == 2


def test_the_fetch_is_given_the_url_and_the_timeout(source: Any, endpoint: FakeEndpoint,
                                                    issuer_key: KeyPair) -> None:
    source.key_for(issuer_key.kid)
    assert endpoint.seen == [(JWKS_URL, POLICY.timeout)]


def test_the_default_fetch_is_http_with_the_user_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[Any, ...]] = []

    def fake(url: str, *, timeout: float, headers: dict[str, str], max_bytes: int) -> Any:
        seen.append((url, timeout, headers, max_bytes))
        return {"keys": []}

    monkeypatch.setattr(jwt_key.jwks_fetch, "fetch_document", fake)
    assert jwt_key.fetch_document(JWKS_URL, 1.5) == {"keys": []}
    assert seen == [(JWKS_URL, 1.5, {"User-Agent": "lambdaone-jwks/1"}, 256 * 1024)]


def test_the_default_fetch_reads_cache_control_with_the_user_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[Any, ...]] = []

    def fake(url: str, *, timeout: float, headers: dict[str, str], max_bytes: int) -> Any:
        seen.append((url, timeout, headers, max_bytes))
        return jwt_key.jwks_fetch.Fetched({"keys": []}, 120.0)

    monkeypatch.setattr(jwt_key.jwks_fetch, "fetch_json", fake)
    assert jwt_key.JwksKeySource(JWKS_URL, POLICY)._fetch is jwt_key.fetch_with_cache_control
    assert jwt_key.fetch_with_cache_control(JWKS_URL, 1.5) == ({"keys": []}, 120.0)
    assert seen == [(JWKS_URL, 1.5, {"User-Agent": "lambdaone-jwks/1"}, 256 * 1024)]


def test_a_failed_default_fetch_keeps_the_http_status(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(url: str, **_: Any) -> Any:
        raise jwt_key.jwks_fetch.FetchError("HTTP 404 from the JWKS endpoint", status=404)

    monkeypatch.setattr(jwt_key.jwks_fetch, "fetch_json", fake)
    with pytest.raises(jwt_key.JwksError) as caught:
        jwt_key.fetch_with_cache_control(JWKS_URL, 1.5)
    assert caught.value.status == 404 and str(caught.value) == "HTTP 404 from the JWKS endpoint"


# --------------------------------------------------------------------------------------------------
# parse_key_set: which JWKS entries may verify signatures
# --------------------------------------------------------------------------------------------------


class Keys:
    """Key pairs of every type the filtering tests need (generated once per module)."""

    def __init__(self) -> None:
        self.rsa = KeyPair.generate("RS256", kid="good-rsa")
        self.ec = KeyPair.generate("ES256", kid="good-ec")
        self.ed = KeyPair.generate("EdDSA", kid="good-ed")
        self.rsa_1024 = KeyPair.generate("RS256", kid="weak-rsa", rsa_bits=1024)


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


def _private_jwk(pair: KeyPair) -> dict[str, Any]:
    entry = jwt.get_algorithm_by_name(pair.algorithm).to_jwk(pair.private_key, as_dict=True)
    entry.pop("key_ops", None)  # so that the private part ("d") is what gets the entry ignored
    return {**entry, "kid": "bad", "use": "sig", "alg": pair.algorithm}


# name: (builder of an entry that must be ignored, with kid "bad" where it has one; why, as logged)
IGNORED_ENTRIES: dict[str, tuple[Callable[[Keys], Any], str]] = {
    "use_enc": (lambda k: k.ec.jwk(kid="bad", use="enc"), "use is not 'sig'"),
    "key_ops_without_verify": (lambda k: k.rsa.jwk(kid="bad", key_ops=["encrypt", "wrapKey"]), "key_ops"),
    "key_ops_not_a_list": (lambda k: k.rsa.jwk(kid="bad", key_ops="verify"), "key_ops"),
    "oct_hmac": (lambda k: {"kty": "oct", "k": "c2VjcmV0LWtleQ", "kid": "bad", "alg": "HS256", "use": "sig"},
                 "symmetric (oct)"),
    "oct_without_alg": (lambda k: {"kty": "oct", "k": "c2VjcmV0LWtleQ", "kid": "bad"}, "symmetric (oct)"),
    "private_rsa": (lambda k: _private_jwk(k.rsa), "private key material"),
    "private_ec": (lambda k: _private_jwk(k.ec), "private key material"),
    "rsa_1024": (lambda k: k.rsa_1024.jwk(kid="bad"), "1024 bits"),
    "rsa_key_with_es256_alg": (lambda k: k.rsa.jwk(kid="bad", alg="ES256"), "InvalidKeyError"),
    "p256_key_with_es384_alg": (lambda k: k.ec.jwk(kid="bad", alg="ES384"), "cannot use"),
    "ed25519_key_with_rs256_alg": (lambda k: k.ed.jwk(kid="bad", alg="RS256"), "InvalidKeyError"),
    "alg_hs256_on_rsa": (lambda k: k.rsa.jwk(kid="bad", alg="HS256"), "not supported"),
    "alg_none": (lambda k: k.rsa.jwk(kid="bad", alg="none"), "not supported"),
    "alg_lowercase": (lambda k: k.rsa.jwk(kid="bad", alg="rs256"), "not supported"),
    "alg_not_a_string": (lambda k: k.rsa.jwk(kid="bad", alg=["RS256"]), "not supported"),
    "kid_not_a_string": (lambda k: k.rsa.jwk(kid=7), "kid is not a string"),
    "broken_modulus": (lambda k: {**k.rsa.jwk(kid="bad"), "n": "!!!"}, "InvalidKeyError"),
    "unknown_kty": (lambda k: {"kty": "XYZ", "kid": "bad", "use": "sig"}, "InvalidKeyError"),
    "not_an_object": (lambda k: "a string", "not a JSON object"),
    "a_number": (lambda k: 42, "not a JSON object"),
    "null": (lambda k: None, "not a JSON object"),
    "a_list": (lambda k: [k.rsa.jwk(kid="bad")], "not a JSON object"),
}


class RecordList(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def jwt_key_log() -> Iterator[list[logging.LogRecord]]:
    """The records ``lambdaone.jwt_key`` logs (its package logger does not propagate to pytest's capture)."""
    logger = logging.getLogger(jwt_key.__name__)
    recorder, level = RecordList(), logger.level
    logger.addHandler(recorder)
    logger.setLevel(logging.DEBUG)
    yield recorder.records
    logger.removeHandler(recorder)
    logger.setLevel(level)


@pytest.mark.parametrize("name", sorted(IGNORED_ENTRIES))
def test_unusable_entries_are_ignored(keys: Keys, name: str, jwt_key_log: list[logging.LogRecord]) -> None:
    build, why = IGNORED_ENTRIES[name]
    bad = build(keys)
    key_set = jwt_key.parse_key_set({"keys": [bad, keys.ec.jwk()]})
    assert len(key_set) == 1
    [record] = [r for r in jwt_key_log if r.getMessage() == "JWKS keys ignored"]
    assert record.fields["usable"] == 1
    assert len(record.fields["ignored"]) == 1 and why in record.fields["ignored"][0]
    assert key_set.find("bad") is None
    assert same_key(key_set.find(keys.ec.kid), keys.ec)
    with pytest.raises(jwt_key.JwksError, match="no usable signing key"):
        jwt_key.parse_key_set({"keys": [bad]})


@pytest.mark.parametrize(
    ("build", "algorithms"),
    [
        (lambda k: k.rsa.jwk(), {"RS256"}),
        (lambda k: k.rsa.jwk(with_alg=False), {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
        (lambda k: k.rsa.jwk(alg="PS384"), {"PS384"}),
        (lambda k: k.rsa.jwk(use=None), {"RS256"}),
        (lambda k: k.rsa.jwk(key_ops=["verify"]), {"RS256"}),
        (lambda k: k.ec.jwk(with_alg=False), {"ES256"}),
        (lambda k: k.ed.jwk(), {"EdDSA"}),
    ],
    ids=["rsa_alg", "rsa_no_alg", "rsa_ps384", "no_use", "key_ops_verify", "ec_no_alg", "eddsa"],
)
def test_usable_entries_keep_the_algorithms_they_fit(
    keys: Keys, build: Callable[[Keys], dict[str, Any]], algorithms: set[str]
) -> None:
    entry = build(keys)
    key_set = jwt_key.parse_key_set({"keys": [entry]})
    found = key_set.find(entry["kid"])
    assert found is not None
    assert found.algorithms == frozenset(algorithms)
    assert found.kid == entry["kid"]


@pytest.mark.parametrize("document", [{}, {"keys": None}, {"keys": {"kid": "x"}}, {"keys": "[]"}, [], "keys", None],
                         ids=["no_keys", "null_keys", "keys_object", "keys_string", "list", "string", "null"])
def test_a_document_without_a_keys_array_is_refused(document: Any) -> None:
    with pytest.raises(jwt_key.JwksError, match="'keys' array"):
        jwt_key.parse_key_set(document)


def test_at_most_max_signing_keys_are_kept(keys: Keys, jwt_key_log: list[logging.LogRecord]) -> None:
    entries = [keys.rsa.jwk(kid=f"k{index}") for index in range(jwt_key.MAX_SIGNING_KEYS + 1)]
    key_set = jwt_key.parse_key_set({"keys": entries})
    assert len(key_set) == jwt_key.MAX_SIGNING_KEYS == 64
    assert key_set.find(f"k{jwt_key.MAX_SIGNING_KEYS - 1}") is not None
    assert key_set.find(f"k{jwt_key.MAX_SIGNING_KEYS}") is None
    [record] = [r for r in jwt_key_log if r.getMessage() == "JWKS keys ignored"]
    assert record.fields["ignored"] == []
    assert (record.fields["not_read"], record.fields["stopped_at"], record.fields["usable"]) == (1, "signing_keys", 64)


def test_a_signing_key_after_many_unusable_entries_is_found(keys: Keys) -> None:
    """Unusable entries (junk, enc keys, weak keys) before the signing key do not hide it."""
    padding = [keys.rsa_1024.jwk(kid=f"weak{index}") for index in range(70)]
    junk = ["junk", 7, None, {"kty": "oct", "k": "c2VjcmV0"}] * 100 + [keys.ec.jwk(kid=f"e{n}", use="enc")
                                                                        for n in range(100)]
    assert len(padding) + len(junk) == 570 > jwt_key.MAX_SIGNING_KEYS
    key_set = jwt_key.parse_key_set({"keys": [*padding, *junk, keys.rsa.jwk()]})
    assert len(key_set) == 1
    assert same_key(key_set.find(keys.rsa.kid), keys.rsa)


def test_at_most_max_jwks_entries_are_read(keys: Keys, jwt_key_log: list[logging.LogRecord]) -> None:
    assert jwt_key.MAX_JWKS_ENTRIES == 1000
    junk = ["junk"] * (jwt_key.MAX_JWKS_ENTRIES - 1)
    last_read = jwt_key.parse_key_set({"keys": [*junk, keys.rsa.jwk(), keys.ec.jwk()]})
    assert last_read.find(keys.rsa.kid) is not None  # entry 1,000 is read ...
    assert last_read.find(keys.ec.kid) is None  # ... entry 1,001 is not
    [record] = [r for r in jwt_key_log if r.getMessage() == "JWKS keys ignored"]
    assert (record.fields["ignored_count"], record.fields["not_read"], record.fields["stopped_at"]) == (999, 1, "entries")
    assert len(record.fields["ignored"]) == 10
    with pytest.raises(jwt_key.JwksError, match="no usable signing key"):
        jwt_key.parse_key_set({"keys": [*junk, "junk", keys.rsa.jwk()]})


def test_a_kidless_key_is_found_by_kid_none_when_it_is_the_only_one(keys: Keys) -> None:
    key_set = jwt_key.parse_key_set({"keys": [keys.rsa.jwk(kid=None)]})
    found = key_set.find(None)
    assert found is not None and found.kid is None
    assert same_key(found, keys.rsa)
    assert key_set.find("any-kid") is None


def test_kid_none_with_two_keys_finds_nothing(keys: Keys) -> None:
    key_set = jwt_key.parse_key_set({"keys": [keys.rsa.jwk(kid=None), keys.ec.jwk()]})
    assert len(key_set) == 2
    assert key_set.find(None) is None
    assert key_set.find(keys.ec.kid) is not None


def test_a_repeated_kid_keeps_the_first_key(keys: Keys) -> None:
    first, second = keys.rsa.jwk(kid="same"), keys.ec.jwk(kid="same")
    assert same_key(jwt_key.parse_key_set({"keys": [first, second]}).find("same"), keys.rsa)
    assert same_key(jwt_key.parse_key_set({"keys": [second, first]}).find("same"), keys.ec)


# --------------------------------------------------------------------------------------------------
# fetch_document: the real HTTP fetch, against servers on 127.0.0.1
# --------------------------------------------------------------------------------------------------


class RedirectServer:
    """Answers every GET with 302 to ``location`` and records the User-Agent it was sent."""

    def __init__(self, location: str) -> None:
        self.user_agents: list[str | None] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                recorder.user_agents.append(self.headers.get("User-Agent"))
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/jwks.json"

    def __enter__(self) -> RedirectServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def test_the_real_fetch_returns_the_document(jwks_server: JwksServer, issuer_key: KeyPair) -> None:
    assert jwt_key.fetch_document(jwks_server.url, 2.0) == jwks(issuer_key)
    assert jwks_server.requests == 1


def test_a_body_over_the_size_cap_is_refused(jwks_server: JwksServer) -> None:
    minimal = b'{"keys": []}'
    jwks_server.publish(minimal + b" " * (jwt_key.MAX_JWKS_BYTES - len(minimal)))
    assert jwt_key.fetch_document(jwks_server.url, 2.0) == {"keys": []}  # exactly the cap: read
    jwks_server.publish(minimal + b" " * (jwt_key.MAX_JWKS_BYTES + 1 - len(minimal)))
    with pytest.raises(jwt_key.JwksError, match="larger than"):
        jwt_key.fetch_document(jwks_server.url, 2.0)


def test_a_smaller_cap_can_be_passed(jwks_server: JwksServer) -> None:
    with pytest.raises(jwt_key.JwksError, match="larger than 100 bytes"):
        jwt_key.fetch_document(jwks_server.url, 2.0, max_bytes=100)


@pytest.mark.parametrize("body", [b"<html>not json</html>", b"", b"\xff\xfe\x00"], ids=["html", "empty", "binary"])
def test_a_body_that_is_not_json_is_refused(jwks_server: JwksServer, body: bytes) -> None:
    jwks_server.publish(body)
    with pytest.raises(jwt_key.JwksError, match="not JSON"):
        jwt_key.fetch_document(jwks_server.url, 2.0)


def test_an_http_error_is_refused(jwks_server: JwksServer) -> None:
    jwks_server.go_down()
    with pytest.raises(jwt_key.JwksError, match="HTTP 503"):
        jwt_key.fetch_document(jwks_server.url, 2.0)
    jwks_server.come_back()
    with pytest.raises(jwt_key.JwksError, match="HTTP 404"):
        jwt_key.fetch_document(jwks_server.url + "-elsewhere", 2.0)


def test_a_redirect_is_not_followed(jwks_server: JwksServer) -> None:
    with RedirectServer(jwks_server.url) as redirect:
        with pytest.raises(jwt_key.JwksError, match="HTTP 302"):
            jwt_key.fetch_document(redirect.url, 2.0)
        assert redirect.user_agents == [jwt_key.USER_AGENT]
    assert jwks_server.requests == 0  # the redirect's target was never asked


def test_a_refused_connection_is_a_jwks_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens there any more: the connection is refused.
    with pytest.raises(jwt_key.JwksError, match="cannot connect to 127.0.0.1: Connection refused"):
        jwt_key.fetch_document(f"http://127.0.0.1:{port}/jwks.json", 2.0)


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the kernel completes the handshake; nobody ever reads or answers
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(jwt_key.JwksError, match="0.3 s deadline"):
            jwt_key.fetch_document(f"http://127.0.0.1:{port}/jwks.json", 0.3)
        assert time.monotonic() - started < 3


def test_a_key_source_on_the_real_fetch_caches_and_follows_rotation(
    jwks_server: JwksServer, issuer_key: KeyPair, rotated_key: KeyPair
) -> None:
    source = jwt_key.JwksKeySource(jwks_server.url, POLICY)
    for _ in range(20):
        assert same_key(source.key_for(issuer_key.kid), issuer_key)
    assert jwks_server.requests == 1
    jwks_server.publish(jwks(issuer_key, rotated_key))
    assert same_key(source.key_for(rotated_key.kid), rotated_key)
    assert jwks_server.requests == 2


def test_a_key_source_sends_its_user_agent_and_refuses_a_redirect(jwks_server: JwksServer) -> None:
    with RedirectServer(jwks_server.url) as redirect:
        source = jwt_key.JwksKeySource(redirect.url, POLICY)
        assert source.prefetch() is False
        assert denial_of(lambda: source.key_for("any")).reason is Reason.SIGNING_KEYS_UNAVAILABLE
    assert redirect.user_agents == [jwt_key.USER_AGENT]  # one attempt: the second call was in the quiet period
    assert jwks_server.requests == 0


# --------------------------------------------------------------------------------------------------
# The module-level cache of key sources
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def empty_source_cache() -> Iterator[None]:
    jwt_key.clear_caches()
    yield
    jwt_key.clear_caches()


@pytest.mark.usefixtures("empty_source_cache")
def test_source_for_reuses_one_source_per_url_and_policy() -> None:
    first = jwt_key.source_for(JWKS_URL, POLICY)
    assert jwt_key.source_for(JWKS_URL, jwt_key.CachePolicy(**vars(POLICY))) is first  # equal policy: same
    other_url = jwt_key.source_for("https://other.example.test/jwks", POLICY)
    assert other_url is not first
    assert jwt_key.source_for(JWKS_URL, POLICY) is first


@pytest.mark.usefixtures("empty_source_cache")
def test_source_for_builds_a_new_source_when_the_policy_changes() -> None:
    first = jwt_key.source_for(JWKS_URL, POLICY)
    changed_policy = jwt_key.CachePolicy(lifetime=60.0)
    second = jwt_key.source_for(JWKS_URL, changed_policy)
    assert second is not first
    assert second.policy == changed_policy
    assert jwt_key.source_for(JWKS_URL, changed_policy) is second


@pytest.mark.usefixtures("empty_source_cache")
def test_clear_caches_forgets_every_source() -> None:
    first = jwt_key.source_for(JWKS_URL, POLICY)
    jwt_key.clear_caches()
    assert jwt_key.source_for(JWKS_URL, POLICY) is not first


@pytest.mark.usefixtures("empty_source_cache")
def test_clear_caches_makes_a_source_already_handed_out_fetch_again(
    jwks_server: JwksServer, issuer_key: KeyPair
) -> None:
    held = jwt_key.source_for(jwks_server.url, POLICY)  # as the handler's runtime holds it
    held.key_for(issuer_key.kid)
    held.key_for(issuer_key.kid)
    assert jwks_server.requests == 1
    jwt_key.clear_caches()
    assert same_key(held.key_for(issuer_key.kid), issuer_key)
    assert jwks_server.requests == 2


# --------------------------------------------------------------------------------------------------
# Boundaries and outcomes that mutation testing showed untested
# --------------------------------------------------------------------------------------------------


def test_a_cold_fetch_without_the_kid_is_not_followed_by_a_refetch(source: Any, endpoint: FakeEndpoint,
                                                                   issuer_key: KeyPair,
                                                                   rotated_key: KeyPair) -> None:
    denial = denial_of(lambda: source.key_for("absent-kid"))
    assert (denial.reason, denial.detail["why"]) == (Reason.UNKNOWN_KEY, "kid not in the key set after a refetch")
    assert endpoint.calls == 1
    source.forget()
    endpoint.document = jwks(issuer_key, rotated_key)
    denial = denial_of(lambda: source.key_for(None))
    assert (denial.reason, denial.detail["why"]) == (Reason.UNKNOWN_KEY, "no kid and more than one signing key")
    denial = denial_of(lambda: source.key_for(None))  # the same answer from a warm cache
    assert denial.detail["why"] == "no kid and more than one signing key"


def test_the_denials_say_why(source: Any, endpoint: FakeEndpoint, issuer_key: KeyPair) -> None:
    source.key_for(issuer_key.kid)
    assert denial_of(lambda: source.key_for("random-1")).detail == {"why": "kid not in the key set after a refetch"}
    assert denial_of(lambda: source.key_for("random-2")).detail == {
        "why": "kid not in the key set (refetch cooling down)"}


def test_prefetch_is_a_cold_fetch_not_an_unknown_kid_refetch(source: Any, endpoint: FakeEndpoint,
                                                              issuer_key: KeyPair, rotated_key: KeyPair,
                                                              clock: FakeClock) -> None:
    assert source.prefetch()
    endpoint.document = jwks(issuer_key, rotated_key)
    assert same_key(source.key_for(rotated_key.kid), rotated_key)  # no quiet period after a prefetch
    assert endpoint.calls == 2
    clock.advance(POLICY.lifetime - 0.5)
    assert source.prefetch() and endpoint.calls == 2  # still fresh
    clock.advance(0.5)
    assert source.prefetch() and endpoint.calls == 3  # exactly at the end of the lifetime: refetched


def test_a_background_refresh_leaves_unknown_kids_free_to_refetch(source: Any, endpoint: FakeEndpoint,
                                                                  issuer_key: KeyPair, rotated_key: KeyPair,
                                                                  clock: FakeClock) -> None:
    source.key_for(issuer_key.kid)
    clock.advance(POLICY.lifetime)
    source.key_for(issuer_key.kid)
    assert source.settle(5) and endpoint.calls == 2
    endpoint.document = jwks(issuer_key, rotated_key)
    assert same_key(source.key_for(rotated_key.kid), rotated_key)  # rotated right after a routine refresh
    assert endpoint.calls == 3


def test_settle_gives_up_after_its_timeout(issuer_key: KeyPair) -> None:
    stuck = SlowEndpoint(jwks(issuer_key))
    shared = jwt_key.JwksKeySource(JWKS_URL, jwt_key.CachePolicy(timeout=0.1), fetch=stuck)
    try:
        denial = denial_of(lambda: shared.key_for(issuer_key.kid))
        assert denial.detail["retry_after"] == 1  # the fetch outlived its waiters: no cooldown has started
        started = time.monotonic()
        assert shared.settle(0.05) is False
        assert time.monotonic() - started < 1
    finally:
        stuck.release.set()
    assert shared.settle(5) is True


def test_a_refresh_failing_exactly_at_the_stale_limit_logs_an_error(
    issuer_key: KeyPair, clock: FakeClock, jwt_key_log: list[logging.LogRecord]
) -> None:
    slow = ClockMovingEndpoint(jwks(issuer_key), clock, seconds=0)
    shared = jwt_key.JwksKeySource(JWKS_URL, POLICY, clock=clock, fetch=slow)
    shared.key_for(issuer_key.kid)
    limit = POLICY.lifetime + POLICY.stale_for
    clock.advance(limit - 2)
    slow.seconds = 2  # the refresh fails when the keys reach the stale limit: none usable any more
    slow.go_down()
    assert same_key(shared.key_for(issuer_key.kid), issuer_key)
    assert shared.settle(5)
    [record] = [r for r in jwt_key_log if r.levelno >= logging.WARNING]
    assert record.levelno == logging.ERROR
    assert record.fields == {"error": "connection refused"}


def test_the_warning_names_the_error_and_the_keys_age(issuer_key: KeyPair, clock: FakeClock,
                                                      jwt_key_log: list[logging.LogRecord]) -> None:
    endpoint = FakeEndpoint(jwks(issuer_key))
    shared = jwt_key.JwksKeySource(JWKS_URL, POLICY, clock=clock, fetch=endpoint)
    shared.key_for(issuer_key.kid)
    endpoint.go_down()
    clock.advance(POLICY.lifetime + 12.34)
    shared.key_for(issuer_key.kid)
    assert shared.settle(5)
    [record] = [r for r in jwt_key_log if r.levelno >= logging.WARNING]
    assert record.fields == {"error": "connection refused", "keys_age_seconds": 612.3,
                             "stale_limit_seconds": 2400.0, "retry_in_seconds": 10.0}


def test_an_unknown_kid_whose_failed_refetch_outlasts_the_stale_keys_gets_503(issuer_key: KeyPair,
                                                                               clock: FakeClock) -> None:
    slow = ClockMovingEndpoint(jwks(issuer_key), clock, seconds=0)
    shared = jwt_key.JwksKeySource(JWKS_URL, POLICY, clock=clock, fetch=slow)
    shared.key_for(issuer_key.kid)
    clock.advance(POLICY.lifetime + POLICY.stale_for - 1)  # stale, usable for one more second
    slow.seconds = 2  # the refetch fails after the stale keys have run out
    slow.go_down()
    denial = denial_of(lambda: shared.key_for("rotated-kid"))
    assert denial.reason is Reason.SIGNING_KEYS_UNAVAILABLE
    assert denial.detail["retry_after"] == 10
