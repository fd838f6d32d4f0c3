"""Unit tests for several issuers: ``lambdaone.issuers``, the issuer chosen by the token's ``iss`` in
``authz`` (before any key lookup, each issuer's own keys only), the verified-token cache with several
issuers, the handler's key sources per issuer, and the SnapStart hook registration (``snapstart``)."""

from __future__ import annotations

import json
import sys
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest

from lambdaone import authz, discovery, handler, jwt_key, settings, snapstart
from lambdaone.fixed_key import FixedKeySource
from lambdaone.issuers import IssuerKeys
from lambdaone.keys import VerificationKey, verification_key
from lambdaone.reasons import Denial, Reason
from lambdaone.token_cache import VerifiedTokenCache
from workbook.tokens import AUDIENCE, KeyPair

ISSUER_A = "https://a.example.test/"
ISSUER_B = "https://b.example.test/oauth2/default"
SCOPE = "treasure:read"
KID = "shared-kid"


class Keys:
    """One issuer's key source: its key for every kid; counts its calls, can fail."""

    def __init__(self, key: VerificationKey) -> None:
        self.key = key
        self.calls = 0
        self.failure: Denial | None = None

    def key_for(self, kid: str | None) -> VerificationKey:
        self.calls += 1
        if self.failure is not None:
            raise self.failure
        return self.key


@pytest.fixture(scope="module")
def pair_a() -> KeyPair:
    return KeyPair.generate("RS256", kid=KID)


@pytest.fixture(scope="module")
def pair_b() -> KeyPair:
    return KeyPair.generate("RS256", kid=KID)


@pytest.fixture
def sources(pair_a: KeyPair, pair_b: KeyPair) -> dict[str, Keys]:
    return {ISSUER_A: Keys(verification_key(pair_a.public_key, kid=KID)),
            ISSUER_B: Keys(verification_key(pair_b.public_key, kid=KID))}


@pytest.fixture
def config() -> settings.Settings:
    return settings.load({"REQUIRE": SCOPE, "AUDIENCE": AUDIENCE, "ISSUER": f"{ISSUER_A} {ISSUER_B}"})


def signed(pair: KeyPair, **claims: Any) -> str:
    """A token with these claims exactly (PyJWT's encode refuses an ``iss`` that is not a string)."""
    now = int(time.time())
    payload = {"aud": AUDIENCE, "scope": SCOPE, "iat": now, "exp": now + 300, **claims}
    return jwt.api_jws.encode(json.dumps(payload).encode(), pair.private_key, algorithm="RS256",
                              headers={"kid": pair.kid, "typ": "at+jwt"})


def decide(token: str, config: settings.Settings, keys: Any, cache: VerifiedTokenCache | None = None) -> Reason:
    return authz.authorize(token, config, keys, cache).reason


# --------------------------------------------------------------------------------------------------
# IssuerKeys
# --------------------------------------------------------------------------------------------------


def test_issuer_keys_is_a_read_only_mapping(sources: dict[str, Keys]) -> None:
    keys = IssuerKeys(sources)
    sources.clear()  # a copy: later changes to the dict given do not leak in
    assert list(keys) == [ISSUER_A, ISSUER_B] and len(keys) == 2
    assert keys.get_source(ISSUER_A) is keys[ISSUER_A]
    assert keys.get_source("https://c.example.test/") is None
    assert not hasattr(keys, "key_for")  # no key lookup without an issuer
    assert repr(keys) == f"IssuerKeys({[ISSUER_A, ISSUER_B]!r})"
    with pytest.raises(ValueError):
        IssuerKeys({})


def test_issuer_keys_prefetch_and_settle_ask_every_source_that_can() -> None:
    calls: list[str] = []

    class Fetching:
        def __init__(self, name: str, fresh: bool) -> None:
            self.name, self.fresh = name, fresh

        def key_for(self, kid: str | None) -> VerificationKey:
            raise AssertionError

        def prefetch(self) -> bool:
            calls.append(self.name)
            return self.fresh

        def settle(self, timeout: float | None = None) -> bool:
            return self.fresh

    both = IssuerKeys({"a": Fetching("a", True), "b": Fetching("b", True), "c": Keys(None)})  # type: ignore[arg-type]
    assert both.prefetch() and sorted(calls) == ["a", "b"] and both.settle(1)
    one_stale = IssuerKeys({"a": Fetching("a", True), "b": Fetching("b", False)})
    assert not one_stale.prefetch() and not one_stale.settle(1)
    assert IssuerKeys({"a": Fetching("a", False)}).prefetch() is False


# --------------------------------------------------------------------------------------------------
# The issuer chosen by iss
# --------------------------------------------------------------------------------------------------


def test_each_issuers_tokens_verify_with_its_own_keys(config: settings.Settings, sources: dict[str, Keys],
                                                      pair_a: KeyPair, pair_b: KeyPair) -> None:
    keys = IssuerKeys(sources)
    assert decide(pair_a.token(iss=ISSUER_A, scope=SCOPE), config, keys) is Reason.ALLOWED
    assert decide(pair_b.token(iss=ISSUER_B, scope=SCOPE), config, keys) is Reason.ALLOWED
    assert (sources[ISSUER_A].calls, sources[ISSUER_B].calls) == (1, 1)


def test_a_key_of_b_never_verifies_a_token_claiming_a(config: settings.Settings, sources: dict[str, Keys],
                                                      pair_b: KeyPair) -> None:
    assert decide(pair_b.token(iss=ISSUER_A, scope=SCOPE), config, IssuerKeys(sources)) is Reason.BAD_SIGNATURE
    assert sources[ISSUER_B].calls == 0


@pytest.mark.parametrize("iss", ["https://c.example.test/", ISSUER_A.rstrip("/"), ISSUER_B + "/", ISSUER_A.upper(),
                                 "", 1, ["https://a.example.test/"], {"iss": ISSUER_A}, True])
def test_an_iss_not_configured_is_wrong_issuer_before_any_key_lookup(config: settings.Settings,
                                                                     sources: dict[str, Keys],
                                                                     pair_a: KeyPair, iss: Any) -> None:
    assert decide(signed(pair_a, iss=iss), config, IssuerKeys(sources)) is Reason.WRONG_ISSUER
    assert sum(source.calls for source in sources.values()) == 0
    assert decide(signed(pair_a, iss=ISSUER_A), config, IssuerKeys(sources)) is Reason.ALLOWED  # the same, configured


def test_a_missing_iss_is_a_missing_claim_before_any_key_lookup(config: settings.Settings, sources: dict[str, Keys],
                                                                pair_a: KeyPair) -> None:
    decision = authz.authorize(pair_a.token(drop=("iss",), scope=SCOPE), config, IssuerKeys(sources))
    assert decision.reason is Reason.MISSING_CLAIM and decision.detail["claim"] == "iss"
    assert decide(signed(pair_a, iss=None), config, IssuerKeys(sources)) is Reason.MISSING_CLAIM
    assert sum(source.calls for source in sources.values()) == 0


def test_a_payload_that_is_not_an_object_stops_before_any_key_lookup(config: settings.Settings,
                                                                      sources: dict[str, Keys],
                                                                      pair_a: KeyPair) -> None:
    header, _, signature = pair_a.token(iss=ISSUER_A, scope=SCOPE).split(".")
    for payload in ("WzFd", "bnVsbA", "eyJpc3MiOiJhIiwiaXNzIjoiYiJ9"):  # [1], null, a repeated member
        assert decide(f"{header}.{payload}.{signature}", config, IssuerKeys(sources)) is Reason.MALFORMED_TOKEN
    assert sum(source.calls for source in sources.values()) == 0


def test_one_source_serves_only_a_single_issuer_configuration(config: settings.Settings, sources: dict[str, Keys],
                                                              pair_a: KeyPair) -> None:
    decision = authz.authorize(pair_a.token(iss=ISSUER_A, scope=SCOPE), config, sources[ISSUER_A])
    assert decision.reason is Reason.CONFIGURATION_ERROR and sources[ISSUER_A].calls == 0
    single = settings.load({"REQUIRE": SCOPE, "AUDIENCE": AUDIENCE, "ISSUER": ISSUER_A})
    assert decide(pair_a.token(iss=ISSUER_A, scope=SCOPE), single, sources[ISSUER_A]) is Reason.ALLOWED
    assert decide(pair_a.token(iss=ISSUER_B, scope=SCOPE), single, sources[ISSUER_A]) is Reason.WRONG_ISSUER


def test_an_issuer_without_a_source_fails_closed(config: settings.Settings, sources: dict[str, Keys],
                                                 pair_b: KeyPair) -> None:
    only_a = IssuerKeys({ISSUER_A: sources[ISSUER_A]})
    assert decide(pair_b.token(iss=ISSUER_B, scope=SCOPE), config, only_a) is Reason.CONFIGURATION_ERROR


def test_the_payload_is_parsed_once(config: settings.Settings, sources: dict[str, Keys], pair_a: KeyPair,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    original = authz.jose.parse_object
    monkeypatch.setattr(authz.jose, "parse_object", lambda data, name: parsed.append(name) or original(data, name))
    authz.jose._parsed_headers.clear()
    assert decide(pair_a.token(iss=ISSUER_A, scope=SCOPE), config, IssuerKeys(sources)) is Reason.ALLOWED
    assert parsed.count("payload") == 1


# --------------------------------------------------------------------------------------------------
# The verified-token cache with several issuers
# --------------------------------------------------------------------------------------------------


def test_a_cache_hit_asks_the_tokens_own_issuer(config: settings.Settings, sources: dict[str, Keys],
                                                pair_a: KeyPair, pair_b: KeyPair) -> None:
    keys, cache = IssuerKeys(sources), VerifiedTokenCache(10)
    token_b = pair_b.token(iss=ISSUER_B, scope=SCOPE)
    assert decide(token_b, config, keys, cache) is Reason.ALLOWED
    assert cache.get(token_b).issuer == ISSUER_B  # type: ignore[union-attr]
    assert decide(token_b, config, keys, cache) is Reason.ALLOWED
    assert (sources[ISSUER_A].calls, sources[ISSUER_B].calls) == (0, 2)
    sources[ISSUER_B].failure = Denial(Reason.SIGNING_KEYS_UNAVAILABLE, retry_after=1)
    assert decide(token_b, config, keys, cache) is Reason.SIGNING_KEYS_UNAVAILABLE  # B's trouble only
    assert decide(pair_a.token(iss=ISSUER_A, scope=SCOPE), config, keys, cache) is Reason.ALLOWED


def test_a_rotation_at_one_issuer_drops_only_its_tokens(config: settings.Settings, sources: dict[str, Keys],
                                                        pair_a: KeyPair, pair_b: KeyPair) -> None:
    keys, cache = IssuerKeys(sources), VerifiedTokenCache(10)
    token_a, token_b = pair_a.token(iss=ISSUER_A, scope=SCOPE), pair_b.token(iss=ISSUER_B, scope=SCOPE)
    decide(token_a, config, keys, cache)
    decide(token_b, config, keys, cache)
    sources[ISSUER_B].key = verification_key(KeyPair.generate("RS256").public_key, kid=KID)  # B rotated
    assert decide(token_b, config, keys, cache) is Reason.BAD_SIGNATURE
    assert token_b not in cache and token_a in cache
    assert decide(token_a, config, keys, cache) is Reason.ALLOWED


# --------------------------------------------------------------------------------------------------
# The handler: one source per issuer
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def no_shared_sources() -> Iterator[None]:
    jwt_key.clear_caches()
    yield
    jwt_key.clear_caches()


def test_jwkspath_gives_each_issuer_its_own_source(no_shared_sources: None) -> None:
    built = handler.build_key_source(settings.load({
        "REQUIRE": SCOPE, "AUDIENCE": AUDIENCE, "ISSUER": f"{ISSUER_A} {ISSUER_B}",
        "JWKSPATH": "https://a.example.test/keys https://b.example.test/keys", "JWKS_MIN_CACHE_SECONDS": "5"}))
    assert isinstance(built, IssuerKeys)
    a, b = built[ISSUER_A], built[ISSUER_B]
    assert isinstance(a, jwt_key.JwksKeySource) and isinstance(b, jwt_key.JwksKeySource)
    assert (a.url, b.url) == ("https://a.example.test/keys", "https://b.example.test/keys")
    assert a._lock is not b._lock and a.policy.min_lifetime == 5


def test_discovery_gives_each_issuer_a_discovered_source(no_shared_sources: None) -> None:
    built = handler.build_key_source(settings.load({"REQUIRE": SCOPE, "AUDIENCE": AUDIENCE,
                                                    "ISSUER": f"{ISSUER_A},{ISSUER_B}"}))
    assert isinstance(built, IssuerKeys)
    for issuer in (ISSUER_A, ISSUER_B):
        source = built[issuer]
        assert isinstance(source, discovery.DiscoveredKeySource) and source.issuer == issuer


def test_one_issuer_gets_its_source_itself(no_shared_sources: None, tmp_path: Any, pair_a: KeyPair) -> None:
    single = handler.build_key_source(settings.load({"REQUIRE": SCOPE, "AUDIENCE": AUDIENCE, "ISSUER": ISSUER_A}))
    assert isinstance(single, discovery.DiscoveredKeySource)
    pem = tmp_path / "a.pem"
    pem.write_bytes(pair_a.public_pem())
    fixed = handler.build_key_source(settings.load({"REQUIRE": SCOPE, "AUDIENCE": AUDIENCE, "ISSUER": ISSUER_A,
                                                    "SIGNATUREKEYPATH": str(pem)}))
    assert isinstance(fixed, FixedKeySource)


# --------------------------------------------------------------------------------------------------
# SnapStart hook registration
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def runtime_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Callable[[], None]]]:
    hooks: list[Callable[[], None]] = []
    module = types.ModuleType("snapshot_restore_py")
    module.register_after_restore = hooks.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    snapstart.forget_registrations()
    yield hooks
    snapstart.forget_registrations()


SNAP = {"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}


def test_a_hook_is_registered_once_under_snapstart(runtime_module: list[Callable[[], None]]) -> None:
    ran: list[int] = []

    def hook() -> None:
        ran.append(1)

    assert snapstart.register_after_restore(hook, SNAP) is True
    assert snapstart.register_after_restore(hook, SNAP) is True  # init code run again: no second hook
    assert len(runtime_module) == 1
    runtime_module[0]()
    assert ran == [1]


@pytest.mark.parametrize("environ", [{}, {"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"},
                                     {"AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency"},
                                     {"AWS_LAMBDA_INITIALIZATION_TYPE": "SNAP-START"}])
def test_no_hook_outside_snapstart(runtime_module: list[Callable[[], None]], environ: dict[str, str]) -> None:
    assert snapstart.register_after_restore(lambda: None, environ) is False and runtime_module == []


def test_without_the_module_nothing_is_registered_and_nothing_fails(monkeypatch: pytest.MonkeyPatch,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import raises ImportError
    snapstart.forget_registrations()
    with caplog.at_level("WARNING", logger="lambdaone"):
        assert snapstart.register_after_restore(lambda: None, SNAP) is False
    assert any("refreshed by age only" in record.getMessage() for record in caplog.records)


def test_a_module_that_refuses_the_hook_is_logged_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("snapshot_restore_py")

    def refuse(hook: Callable[[], None]) -> None:
        raise RuntimeError("no")

    module.register_after_restore = refuse  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    snapstart.forget_registrations()
    assert snapstart.register_after_restore(lambda: None, SNAP) is False


def test_a_failing_hook_never_fails_the_restore(runtime_module: list[Callable[[], None]],
                                                caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise ValueError("boom")

    snapstart.register_after_restore(broken, SNAP)
    with caplog.at_level("ERROR", logger="lambdaone"):
        runtime_module[0]()  # does not raise
    assert any("after-restore refresh failed" in record.getMessage() for record in caplog.records)


def test_warm_up_registers_the_key_refresh(runtime_module: list[Callable[[], None]],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    monkeypatch.setattr(handler, "_runtime", None)
    for name in settings.VARIABLES:
        monkeypatch.delenv(name, raising=False)
    refreshed: list[int] = []
    monkeypatch.setattr(jwt_key, "after_restore", lambda: refreshed.append(1))
    handler.warm_up()
    assert len(runtime_module) == 1
    runtime_module[0]()
    assert refreshed == [1]


# --------------------------------------------------------------------------------------------------
# What mutation testing found untested
# --------------------------------------------------------------------------------------------------


class Barrier:
    """Two sources whose prefetch returns only once both have started: true only in parallel."""

    def __init__(self) -> None:
        import threading

        self.barrier = threading.Barrier(2, timeout=2)

    def key_for(self, kid: str | None) -> VerificationKey:
        raise AssertionError

    def prefetch(self) -> bool:
        try:
            self.barrier.wait()
        except Exception:
            return False
        return True


def test_issuers_prefetch_in_parallel() -> None:
    barrier = Barrier()
    other = Barrier()
    other.barrier = barrier.barrier
    assert IssuerKeys({"a": barrier, "b": other}).prefetch() is True  # type: ignore[dict-item]


def test_a_prefetch_that_raises_counts_as_not_fresh() -> None:
    class Broken:
        def key_for(self, kid: str | None) -> VerificationKey:
            raise AssertionError

        def prefetch(self) -> bool:
            raise RuntimeError("bug")

    class Fresh(Broken):
        def prefetch(self) -> bool:
            return True

    assert IssuerKeys({"a": Broken(), "b": Fresh()}).prefetch() is False  # type: ignore[dict-item]


def test_issuer_keys_membership_and_items(sources: dict[str, Keys]) -> None:
    keys = IssuerKeys(sources)
    assert ISSUER_A in keys and "https://c.example.test/" not in keys
    assert dict(keys.items()) == sources
    with pytest.raises(ValueError, match="^IssuerKeys needs at least one issuer$"):
        IssuerKeys({})


def test_is_snap_start_reads_only_its_variable() -> None:
    assert snapstart.is_snap_start({"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"})
    assert not snapstart.is_snap_start({})
    assert not snapstart.is_snap_start({"AWS_LAMBDA_INITIALIZATION_TYPE": ""})


def test_snapstart_log_lines(monkeypatch: pytest.MonkeyPatch, runtime_module: list[Callable[[], None]],
                             caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise ValueError("boom")

    with caplog.at_level("INFO", logger="lambdaone"):
        snapstart.register_after_restore(broken, SNAP)
        snapstart.register_after_restore(lambda: None, SNAP)
        for hook in runtime_module:
            hook()
    lines = [(r.levelname, r.getMessage(), getattr(r, "fields", None)) for r in caplog.records]
    assert ("ERROR", "SnapStart after-restore refresh failed: keys are refreshed by age only",
            {"errorType": "ValueError"}) in lines
    assert ("INFO", "SnapStart restore: signing keys refreshed", None) in lines


def test_snapstart_warnings_name_what_is_missing(monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)
    snapstart.forget_registrations()
    with caplog.at_level("WARNING", logger="lambdaone"):
        snapstart.register_after_restore(lambda: None, SNAP)
    module = types.ModuleType("snapshot_restore_py")

    def refuse(hook: Callable[[], None]) -> None:
        raise RuntimeError("no")

    module.register_after_restore = refuse  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    with caplog.at_level("WARNING", logger="lambdaone"):
        snapstart.register_after_restore(lambda: None, SNAP)
    lines = [(r.levelname, r.getMessage(), getattr(r, "fields", None)) for r in caplog.records]
    assert lines == [
        ("WARNING", "SnapStart without snapshot_restore_py: keys are refreshed by age only",
         {"module": "snapshot_restore_py"}),
        ("WARNING", "cannot register the SnapStart after-restore hook: keys are refreshed by age only",
         {"errorType": "RuntimeError"}),
    ]
    snapstart.forget_registrations()


def test_the_log_details_of_issuer_denials(config: settings.Settings, sources: dict[str, Keys],
                                           pair_a: KeyPair, pair_b: KeyPair) -> None:
    wrong = authz.authorize(signed(pair_a, iss="https://c.example.test/"), config, IssuerKeys(sources))
    assert dict(wrong.detail) == {"error": "InvalidIssuerError"}
    unwired = authz.authorize(pair_b.token(iss=ISSUER_B, scope=SCOPE), config, IssuerKeys({ISSUER_A: sources[ISSUER_A]}))
    assert dict(unwired.detail) == {"why": "no key source for a configured issuer"}
    single = authz.authorize(pair_a.token(iss=ISSUER_A, scope=SCOPE), config, sources[ISSUER_A])
    assert dict(single.detail) == {"why": "one key source for several issuers"}
