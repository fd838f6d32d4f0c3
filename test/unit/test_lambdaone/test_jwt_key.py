"""Unit tests for ``lambdaone.jwt_key``: the JWKS key source, its cache policy and its key filtering.

The network is replaced in two ways. Cache-policy tests replace ``PyJWKClient`` with a mock (see
the ``mocked_pyjwkclient`` fixture) and feed JWKS documents through ``fetch_data``, with a fake
clock, so every timing rule is checked exactly and instantly. ``fetch_document`` tests use PyJWT's
real client against local servers on 127.0.0.1 (ephemeral ports).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import math
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import jwt
import jwt.jwks_client
import pytest

from lambdaone import handler, jwt_key
from lambdaone.reasons import Denial, Reason
from workbook.jwks_server import JwksServer
from workbook.tokens import KeyPair, jwks

JWKS_URL = "https://issuer.example.test/.well-known/jwks.json"
POLICY = jwt_key.CachePolicy(lifetime=600.0, cooldown=10.0, stale_for=1800.0, timeout=2.0)
REAL_PYJWKCLIENT = jwt.jwks_client.PyJWKClient


# --------------------------------------------------------------------------------------------------
# Replacing PyJWKClient whichever way the module under test imports it
# --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def pyjwkclient_replaced_by(replacement: Any) -> Iterator[None]:
    """Make every import style of ``PyJWKClient`` see ``replacement``; restore everything afterwards.

    See ``mocked_pyjwkclient`` for why both references are patched and the module is reloaded.
    """
    saved_namespace = dict(vars(jwt_key))
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(jwt, "PyJWKClient", replacement)
            patch.setattr(jwt.jwks_client, "PyJWKClient", replacement)
            importlib.reload(jwt_key)  # re-runs `from jwt import PyJWKClient`, which now binds the mock
            yield
    finally:
        # The patches are undone by now: reloading binds the real class again...
        importlib.reload(jwt_key)
        # ...but a reload also makes new JwksKeySource, CachePolicy, JwksError classes and an empty
        # source cache. Code that captured the old ones (``handler.warm_up``'s isinstance check on a
        # cached runtime, ``from lambdaone.jwt_key import ...`` in other tests) would silently stop
        # matching, so the module gets its original objects back.
        _restore_namespace(jwt_key, saved_namespace)
    assert jwt.PyJWKClient is jwt.jwks_client.PyJWKClient is REAL_PYJWKCLIENT
    # With `from jwt import PyJWKClient` the module holds its own reference: it must be the real class.
    # (With the other two styles it has no such name and reads the references checked above.)
    assert getattr(jwt_key, "PyJWKClient", REAL_PYJWKCLIENT) is jwt.jwks_client.PyJWKClient
    assert jwt_key.JwksKeySource is saved_namespace["JwksKeySource"]


def _restore_namespace(module: ModuleType, saved: dict[str, Any]) -> None:
    namespace = vars(module)
    for name in set(namespace) - set(saved):
        del namespace[name]
    namespace.update(saved)


@pytest.fixture
def mocked_pyjwkclient() -> Iterator[mock.MagicMock]:
    """A mock ``PyJWKClient`` class that ``lambdaone.jwt_key`` really uses; yields the mock.

    A module can reach the class three ways, and each reads a different reference:

    - ``jwt.PyJWKClient(...)`` looks up the name on the ``jwt`` package at call time;
    - ``jwt.jwks_client.PyJWKClient(...)`` looks it up on the ``jwt.jwks_client`` module at call time;
    - ``from jwt import PyJWKClient`` copies the reference into the importing module once, at import.

    ``jwt`` re-exports the class, so the first two are separate names for it: patching one leaves
    the other pointing at the real class. Both are patched. The third has already copied the real
    class before any test runs, so patching is not enough: the module is reloaded while the patches
    are active, which runs its imports again. Afterwards the patches are undone, the module is
    reloaded again (binding the real class) and its original objects are put back, so class
    identities seen by other modules do not change. The test then passes whichever of the three
    styles ``jwt_key`` uses. ``create_autospec`` makes the mock refuse arguments the real
    constructor would refuse.
    """
    client_class = mock.create_autospec(REAL_PYJWKCLIENT)
    with pyjwkclient_replaced_by(client_class):
        yield client_class


IMPORT_STYLES = {
    "attribute_of_jwt": "import jwt\n\n\ndef client_class():\n    return jwt.PyJWKClient\n",
    "attribute_of_jwks_client": (
        "import jwt.jwks_client\n\n\ndef client_class():\n    return jwt.jwks_client.PyJWKClient\n"
    ),
    "from_import": "from jwt import PyJWKClient\n\n\ndef client_class():\n    return PyJWKClient\n",
}


def import_throwaway(tmp_path: Path, style: str) -> ModuleType:
    """Write and import a tiny module using ``style``; it is not registered in ``sys.modules``."""
    name = f"pyjwk_{style}_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.py"
    path.write_text(IMPORT_STYLES[style])
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("style", sorted(IMPORT_STYLES))
def test_the_fixture_reaches_every_import_style(
    mocked_pyjwkclient: mock.MagicMock, tmp_path: Path, style: str
) -> None:
    module = import_throwaway(tmp_path, style)
    assert module.client_class() is mocked_pyjwkclient
    client = module.client_class()(JWKS_URL)
    assert client is mocked_pyjwkclient.return_value
    mocked_pyjwkclient.assert_called_once_with(JWKS_URL)


def test_the_fixture_reaches_jwt_key(mocked_pyjwkclient: mock.MagicMock) -> None:
    source = jwt_key.JwksKeySource(JWKS_URL, POLICY)
    mocked_pyjwkclient.assert_called_once_with(
        JWKS_URL, cache_jwk_set=False, timeout=POLICY.timeout, headers={"User-Agent": jwt_key.USER_AGENT}
    )
    assert source.url == JWKS_URL


@pytest.mark.parametrize(
    ("patched", "still_real"),
    [
        (jwt, ["attribute_of_jwks_client"]),
        (jwt.jwks_client, ["attribute_of_jwt", "from_import"]),
    ],
    ids=["only_jwt.PyJWKClient", "only_jwt.jwks_client.PyJWKClient"],
)
def test_patching_one_reference_misses_some_styles(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, patched: ModuleType, still_real: list[str]
) -> None:
    """Why the fixture patches both names: each one alone leaves some import styles on the real class."""
    replacement = mock.create_autospec(REAL_PYJWKCLIENT)
    monkeypatch.setattr(patched, "PyJWKClient", replacement)
    for style in IMPORT_STYLES:
        expected = REAL_PYJWKCLIENT if style in still_real else replacement
        assert import_throwaway(tmp_path, style).client_class() is expected, style


def test_a_from_import_made_before_patching_needs_a_reload(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Why the fixture reloads: a module that already ran ``from jwt import PyJWKClient`` keeps the real class."""
    module = import_throwaway(tmp_path, "from_import")
    replacement = mock.create_autospec(REAL_PYJWKCLIENT)
    monkeypatch.setattr(jwt, "PyJWKClient", replacement)
    monkeypatch.setattr(jwt.jwks_client, "PyJWKClient", replacement)
    assert module.client_class() is REAL_PYJWKCLIENT
    module.__loader__.exec_module(module)  # what importlib.reload does for a module in sys.modules
    assert module.client_class() is replacement


def test_the_replacement_is_undone_and_identities_are_kept() -> None:
    source_before = jwt_key.JwksKeySource(JWKS_URL, POLICY)
    classes_before = (jwt_key.JwksKeySource, jwt_key.CachePolicy, jwt_key.JwksError, jwt_key.KeySet)
    replacement = mock.create_autospec(REAL_PYJWKCLIENT)
    with pyjwkclient_replaced_by(replacement):
        jwt_key.JwksKeySource(JWKS_URL, POLICY)
        replacement.assert_called_once()
        assert jwt_key.JwksKeySource is not classes_before[0]  # the reload really happened
    assert getattr(jwt_key, "PyJWKClient", REAL_PYJWKCLIENT) is REAL_PYJWKCLIENT
    assert jwt.PyJWKClient is jwt.jwks_client.PyJWKClient is REAL_PYJWKCLIENT
    assert (jwt_key.JwksKeySource, jwt_key.CachePolicy, jwt_key.JwksError, jwt_key.KeySet) == classes_before
    assert handler.jwt_key is jwt_key
    # handler.warm_up tells key sources apart with this isinstance check: it still recognises old ones.
    assert isinstance(source_before, handler.jwt_key.JwksKeySource)


def test_the_replacement_is_undone_when_the_body_fails() -> None:
    with pytest.raises(RuntimeError, match="boom"), pyjwkclient_replaced_by(mock.create_autospec(REAL_PYJWKCLIENT)):
        raise RuntimeError("boom")
    assert getattr(jwt_key, "PyJWKClient", REAL_PYJWKCLIENT) is REAL_PYJWKCLIENT
    assert jwt.PyJWKClient is REAL_PYJWKCLIENT
    assert jwt.jwks_client.PyJWKClient is REAL_PYJWKCLIENT


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
    """What ``fetch_data`` returns: the current document, or the current error."""

    def __init__(self, document: Any) -> None:
        self.document = document
        self.error: Exception | None = None

    def __call__(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.document

    def go_down(self) -> None:
        self.error = jwt.PyJWKClientConnectionError("connection refused")

    def come_back(self) -> None:
        self.error = None


@pytest.fixture(scope="module")
def rotated_key() -> KeyPair:
    return KeyPair.generate("RS256", kid="rotated-key-2")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def endpoint(mocked_pyjwkclient: mock.MagicMock, issuer_key: KeyPair) -> FakeEndpoint:
    fake = FakeEndpoint(jwks(issuer_key))
    mocked_pyjwkclient.return_value.fetch_data.side_effect = fake
    return fake


@pytest.fixture
def source(endpoint: FakeEndpoint, clock: FakeClock) -> Any:
    return jwt_key.JwksKeySource(JWKS_URL, POLICY, clock=clock)


def fetch_count(mocked: mock.MagicMock) -> int:
    return mocked.return_value.fetch_data.call_count


def denial_of(call: Callable[[], object]) -> Denial:
    with pytest.raises(Denial) as caught:
        call()
    return caught.value


def same_key(found: Any, pair: KeyPair) -> bool:
    return found.public_key.public_numbers() == pair.public_key.public_numbers()


def test_warm_calls_make_no_fetch(source: Any, mocked_pyjwkclient: mock.MagicMock, issuer_key: KeyPair,
                                  clock: FakeClock) -> None:
    assert fetch_count(mocked_pyjwkclient) == 0  # nothing is fetched before it is needed
    for _ in range(100):
        assert same_key(source.key_for(issuer_key.kid), issuer_key)
        clock.advance(POLICY.lifetime / 200)
    assert fetch_count(mocked_pyjwkclient) == 1
    assert source.fetches == 1


def test_keys_are_refreshed_once_their_lifetime_is_over(
    source: Any, mocked_pyjwkclient: mock.MagicMock, issuer_key: KeyPair, clock: FakeClock
) -> None:
    source.key_for(issuer_key.kid)
    clock.advance(POLICY.lifetime - 0.5)  # binary-exact steps: no rounding at the boundary
    source.key_for(issuer_key.kid)
    assert fetch_count(mocked_pyjwkclient) == 1
    clock.advance(0.5)
    source.key_for(issuer_key.kid)
    assert fetch_count(mocked_pyjwkclient) == 2


def test_prefetch_fetches_at_once_and_reports_success(
    source: Any, mocked_pyjwkclient: mock.MagicMock, endpoint: FakeEndpoint
) -> None:
    assert source.prefetch() is True
    assert fetch_count(mocked_pyjwkclient) == 1
    failing = jwt_key.JwksKeySource("https://other.example.test/jwks", POLICY, clock=FakeClock())
    endpoint.go_down()
    assert failing.prefetch() is False


def test_an_unknown_kid_refetches_once_then_cools_down(
    source: Any, mocked_pyjwkclient: mock.MagicMock, issuer_key: KeyPair, clock: FakeClock
) -> None:
    source.key_for(issuer_key.kid)
    for _ in range(1000):
        denial = denial_of(lambda: source.key_for(f"random-{uuid.uuid4().hex}"))
        assert denial.reason is Reason.UNKNOWN_KEY
    # The first fetch plus exactly one refetch (for the first random kid) for all 1,000 of them.
    assert fetch_count(mocked_pyjwkclient) == 2
    clock.advance(POLICY.cooldown)
    denial_of(lambda: source.key_for("random-after-the-cooldown"))
    assert fetch_count(mocked_pyjwkclient) == 3
    assert same_key(source.key_for(issuer_key.kid), issuer_key)  # known keys are never slowed down


def test_a_rotated_key_is_accepted_after_one_refetch(
    source: Any, mocked_pyjwkclient: mock.MagicMock, endpoint: FakeEndpoint, issuer_key: KeyPair,
    rotated_key: KeyPair
) -> None:
    source.key_for(issuer_key.kid)
    endpoint.document = jwks(issuer_key, rotated_key)
    assert same_key(source.key_for(rotated_key.kid), rotated_key)
    assert fetch_count(mocked_pyjwkclient) == 2
    for _ in range(10):
        source.key_for(rotated_key.kid)
        source.key_for(issuer_key.kid)
    assert fetch_count(mocked_pyjwkclient) == 2


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
    source: Any, mocked_pyjwkclient: mock.MagicMock, endpoint: FakeEndpoint, issuer_key: KeyPair,
    clock: FakeClock
) -> None:
    start = clock.now
    source.key_for(issuer_key.kid)
    endpoint.go_down()
    clock.advance(POLICY.lifetime)
    assert same_key(source.key_for(issuer_key.kid), issuer_key)  # refresh failed: last good keys
    assert fetch_count(mocked_pyjwkclient) == 2
    clock.now = start + POLICY.lifetime + POLICY.stale_for - 0.5
    assert same_key(source.key_for(issuer_key.kid), issuer_key)
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
    source: Any, mocked_pyjwkclient: mock.MagicMock, endpoint: FakeEndpoint, issuer_key: KeyPair,
    clock: FakeClock
) -> None:
    endpoint.go_down()
    for _ in range(1000):  # a burst at one instant: one attempt
        assert denial_of(lambda: source.key_for(issuer_key.kid)).reason is Reason.SIGNING_KEYS_UNAVAILABLE
    assert fetch_count(mocked_pyjwkclient) == 1
    seconds = 100
    for _ in range(seconds):  # then one request a second: one attempt per cooldown
        clock.advance(1)
        denial = denial_of(lambda: source.key_for(issuer_key.kid))
        assert 1 <= denial.detail["retry_after"] <= POLICY.cooldown
    assert fetch_count(mocked_pyjwkclient) == 1 + seconds // int(POLICY.cooldown)
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
    source: Any, endpoint: FakeEndpoint, mocked_pyjwkclient: mock.MagicMock, document: Any
) -> None:
    endpoint.document = document
    denial = denial_of(lambda: source.key_for("any-kid"))
    assert denial.reason is Reason.SIGNING_KEYS_UNAVAILABLE
    assert denial.reason.status == 503
    assert denial.detail["retry_after"] >= 1
    assert fetch_count(mocked_pyjwkclient) == 1


def test_a_kidless_token_finds_the_single_key_and_is_refused_with_several(
    source: Any, endpoint: FakeEndpoint, mocked_pyjwkclient: mock.MagicMock, issuer_key: KeyPair,
    rotated_key: KeyPair, clock: FakeClock
) -> None:
    assert same_key(source.key_for(None), issuer_key)
    endpoint.document = jwks(issuer_key, rotated_key)
    clock.advance(POLICY.lifetime)
    assert denial_of(lambda: source.key_for(None)).reason is Reason.UNKNOWN_KEY
    assert fetch_count(mocked_pyjwkclient) == 2  # no kid: nothing a refetch could find


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

    def __call__(self) -> Any:
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


def test_concurrent_misses_on_a_cold_cache_share_one_fetch(
    mocked_pyjwkclient: mock.MagicMock, issuer_key: KeyPair
) -> None:
    slow = SlowEndpoint(jwks(issuer_key))
    mocked_pyjwkclient.return_value.fetch_data.side_effect = slow
    shared = jwt_key.JwksKeySource(JWKS_URL, POLICY)
    results, threads = _run_concurrently(16, lambda: shared.key_for(issuer_key.kid))
    _release_when_all_waiting(slow, threads)
    assert fetch_count(mocked_pyjwkclient) == 1
    assert len(results) == 16
    assert all(not isinstance(found, Exception) and same_key(found, issuer_key) for found in results), results


def test_concurrent_misses_for_a_new_kid_share_one_refetch(
    mocked_pyjwkclient: mock.MagicMock, issuer_key: KeyPair, rotated_key: KeyPair
) -> None:
    mocked_pyjwkclient.return_value.fetch_data.return_value = jwks(issuer_key)
    shared = jwt_key.JwksKeySource(JWKS_URL, POLICY)
    shared.key_for(issuer_key.kid)
    slow = SlowEndpoint(jwks(issuer_key, rotated_key))
    mocked_pyjwkclient.return_value.fetch_data.side_effect = slow
    results, threads = _run_concurrently(16, lambda: shared.key_for(rotated_key.kid))
    _release_when_all_waiting(slow, threads)
    assert fetch_count(mocked_pyjwkclient) == 2
    assert all(not isinstance(found, Exception) and same_key(found, rotated_key) for found in results), results


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


def test_only_the_first_max_keys_entries_are_read(keys: Keys) -> None:
    entries = [keys.rsa.jwk(kid=f"k{index}") for index in range(jwt_key.MAX_JWKS_KEYS + 1)]
    key_set = jwt_key.parse_key_set({"keys": entries})
    assert len(key_set) == jwt_key.MAX_JWKS_KEYS
    assert key_set.find(f"k{jwt_key.MAX_JWKS_KEYS - 1}") is not None
    assert key_set.find(f"k{jwt_key.MAX_JWKS_KEYS}") is None
    # A usable key hidden behind MAX_JWKS_KEYS unusable ones is never reached.
    padding = [keys.rsa_1024.jwk(kid=f"weak{index}") for index in range(jwt_key.MAX_JWKS_KEYS)]
    with pytest.raises(jwt_key.JwksError):
        jwt_key.parse_key_set({"keys": [*padding, keys.rsa.jwk()]})


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
# fetch_document with PyJWT's real client, against servers on 127.0.0.1
# --------------------------------------------------------------------------------------------------


def real_client(url: str, timeout: float = 2.0) -> jwt.PyJWKClient:
    return REAL_PYJWKCLIENT(url, cache_jwk_set=False, timeout=timeout, headers={"User-Agent": jwt_key.USER_AGENT})


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


def test_the_real_client_path_returns_the_document(jwks_server: JwksServer, issuer_key: KeyPair) -> None:
    assert jwt_key.fetch_document(real_client(jwks_server.url)) == jwks(issuer_key)
    assert jwks_server.requests == 1


def test_a_body_over_the_size_cap_is_refused(jwks_server: JwksServer) -> None:
    minimal = b'{"keys": []}'
    jwks_server.publish(minimal + b" " * (jwt_key.MAX_JWKS_BYTES - len(minimal)))
    assert jwt_key.fetch_document(real_client(jwks_server.url)) == {"keys": []}  # exactly the cap: read
    jwks_server.publish(minimal + b" " * (jwt_key.MAX_JWKS_BYTES + 1 - len(minimal)))
    with pytest.raises(jwt_key.JwksError, match="larger than"):
        jwt_key.fetch_document(real_client(jwks_server.url))


def test_a_smaller_cap_can_be_passed(jwks_server: JwksServer) -> None:
    with pytest.raises(jwt_key.JwksError, match="larger than 100 bytes"):
        jwt_key.fetch_document(real_client(jwks_server.url), max_bytes=100)


@pytest.mark.parametrize("body", [b"<html>not json</html>", b"", b"\xff\xfe\x00"], ids=["html", "empty", "binary"])
def test_a_body_that_is_not_json_is_refused(jwks_server: JwksServer, body: bytes) -> None:
    jwks_server.publish(body)
    with pytest.raises(jwt_key.JwksError, match="not JSON"):
        jwt_key.fetch_document(real_client(jwks_server.url))


def test_an_http_error_is_refused(jwks_server: JwksServer) -> None:
    jwks_server.go_down()
    with pytest.raises(jwt_key.JwksError, match="HTTP 503"):
        jwt_key.fetch_document(real_client(jwks_server.url))
    jwks_server.come_back()
    with pytest.raises(jwt_key.JwksError, match="HTTP 404"):
        jwt_key.fetch_document(real_client(jwks_server.url + "-elsewhere"))


def test_a_redirect_is_not_followed(jwks_server: JwksServer) -> None:
    with RedirectServer(jwks_server.url) as redirect:
        with pytest.raises(jwt_key.JwksError, match="HTTP 302"):
            jwt_key.fetch_document(real_client(redirect.url))
        assert redirect.user_agents == [jwt_key.USER_AGENT]
    assert jwks_server.requests == 0  # the redirect's target was never asked


def test_a_refused_connection_is_a_jwks_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens there any more: the connection is refused.
    with pytest.raises(jwt_key.JwksError, match="cannot reach"):
        jwt_key.fetch_document(real_client(f"http://127.0.0.1:{port}/jwks.json"))


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the kernel completes the handshake; nobody ever reads or answers
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(jwt_key.JwksError, match="cannot reach"):
            jwt_key.fetch_document(real_client(f"http://127.0.0.1:{port}/jwks.json", timeout=0.3))
        assert time.monotonic() - started < 3


def test_a_replaced_fetch_data_errors_become_jwks_errors() -> None:
    class Failing:
        def fetch_data(self) -> Any:
            raise jwt.PyJWKClientConnectionError("down")

    with pytest.raises(jwt_key.JwksError, match="down"):
        jwt_key.fetch_document(Failing())


def test_a_key_source_on_the_real_client_caches_and_follows_rotation(
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
