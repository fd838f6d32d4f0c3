"""Several issuers, discovered: the whole Lambda against two local issuers on 127.0.0.1.

Each issuer (``workbook.issuer_server.IssuerServer``) serves its discovery metadata and its JWKS;
what the Lambda fetches is seen from the outside, by counting the requests each one receives.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lambdaone import discovery, handler, jwt_key, snapstart
from lambdaone.issuers import IssuerKeys
from workbook.events import bearer, rest_api_v1
from workbook.fault_server import FaultServer
from workbook.issuer_server import IssuerServer
from workbook.tokens import AUDIENCE, KeyPair, jwks

pytestmark = pytest.mark.integration

SCOPE = "treasure:read"
SHARED_KID = "signing-key"  # both issuers use this kid: the issuer, not the kid, picks the keys
Invoke = Callable[[Any], dict[str, Any]]


@pytest.fixture(scope="module")
def key_a() -> KeyPair:
    return KeyPair.generate("RS256", kid=SHARED_KID)


@pytest.fixture(scope="module")
def key_b() -> KeyPair:
    return KeyPair.generate("RS256", kid=SHARED_KID)


@pytest.fixture
def issuers(key_a: KeyPair, key_b: KeyPair) -> Iterator[tuple[IssuerServer, IssuerServer]]:
    with IssuerServer(jwks(key_a)) as a, IssuerServer(jwks(key_b), path="/realms/b") as b:
        yield a, b


def configure(env: pytest.MonkeyPatch, *issuer_ids: str, **extra: str) -> None:
    env.setenv("REQUIRE", SCOPE)
    env.setenv("AUDIENCE", AUDIENCE)
    env.setenv("ISSUER", " ,".join(issuer_ids))
    for name, value in extra.items():
        env.setenv(name, value)


@pytest.fixture
def discovered(clean_env: pytest.MonkeyPatch, issuers: tuple[IssuerServer, IssuerServer]) -> tuple[IssuerServer, IssuerServer]:
    a, b = issuers
    configure(clean_env, a.issuer, b.issuer)
    return a, b


def call(invoke: Invoke, token: str) -> dict[str, Any]:
    return invoke(rest_api_v1(bearer(token)))


def reason(response: dict[str, Any]) -> str:
    return str(json.loads(response["body"])["reason"])


def log_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def sources() -> IssuerKeys:
    keys = handler.current_runtime().key_source
    assert isinstance(keys, IssuerKeys)
    return keys


# --------------------------------------------------------------------------- accepted, refused


def test_tokens_of_each_issuer_are_accepted(discovered: tuple[IssuerServer, IssuerServer], key_a: KeyPair,
                                            key_b: KeyPair, invoke: Invoke) -> None:
    a, b = discovered
    assert call(invoke, key_a.token(iss=a.issuer, scope=SCOPE))["statusCode"] == 200
    assert call(invoke, key_b.token(iss=b.issuer, scope=SCOPE))["statusCode"] == 200
    assert (a.requests["openid"], a.requests["jwks"], b.requests["openid"], b.requests["jwks"]) == (1, 1, 1, 1)
    for issuer in (a, b):
        source = sources()[issuer.issuer]
        assert isinstance(source, discovery.DiscoveredKeySource) and source.jwks_url == issuer.jwks_url


def test_a_token_signed_by_b_claiming_a_is_refused_whatever_its_kid(
        discovered: tuple[IssuerServer, IssuerServer], key_a: KeyPair, key_b: KeyPair, invoke: Invoke) -> None:
    a, b = discovered
    forged = key_b.token(iss=a.issuer, scope=SCOPE)  # B's key, A's kid (they share it), A's iss
    response = call(invoke, forged)
    assert (response["statusCode"], reason(response)) == (401, "bad_signature")
    assert b.requests["jwks"] == 0  # B's keys were never even asked for
    assert call(invoke, key_b.token(iss=b.issuer, scope=SCOPE))["statusCode"] == 200
    assert reason(call(invoke, forged)) == "bad_signature"  # B's keys cached now: still not used for A


def test_an_unconfigured_iss_is_refused_with_no_fetch(clean_env: pytest.MonkeyPatch,
                                                      issuers: tuple[IssuerServer, IssuerServer],
                                                      key_a: KeyPair, invoke: Invoke) -> None:
    a, b = issuers
    configure(clean_env, a.issuer)
    handler.current_runtime()  # built; nothing fetched until a token needs keys (no warm_up here)
    for iss in (b.issuer, a.issuer.rstrip("/"), a.issuer + "/", "https://evil.example.test/"):
        response = call(invoke, key_a.token(iss=iss, scope=SCOPE))
        assert (response["statusCode"], reason(response)) == (401, "wrong_issuer")
    assert sum(a.requests.values()) + sum(b.requests.values()) == 0


def test_rfc8414_metadata_is_used_when_openid_configuration_answers_404(
        clean_env: pytest.MonkeyPatch, key_a: KeyPair, invoke: Invoke) -> None:
    with IssuerServer(jwks(key_a), path="/tenant/", openid_configuration=False) as a:
        configure(clean_env, a.issuer)
        assert call(invoke, key_a.token(iss=a.issuer, scope=SCOPE))["statusCode"] == 200
        assert (a.requests["openid"], a.requests["oauth"], a.requests["jwks"], a.requests["other"]) == (1, 1, 1, 0)


# --------------------------------------------------------------------------- metadata that cannot be trusted


def test_metadata_naming_another_issuer_is_refused_and_logged(
        discovered: tuple[IssuerServer, IssuerServer], key_a: KeyPair, key_b: KeyPair, invoke: Invoke,
        capsys: pytest.CaptureFixture[str]) -> None:
    a, b = discovered
    a.set_metadata(issuer=b.issuer, jwks_uri=b.jwks_url)  # the mix-up: A's metadata points at B
    capsys.readouterr()
    response = call(invoke, key_b.token(iss=a.issuer, scope=SCOPE))
    assert (response["statusCode"], reason(response)) == (503, "signing_keys_unavailable")
    assert b.requests["jwks"] == 0  # the jwks_uri of a document that failed the check is never fetched
    errors = [line for line in log_lines(capsys.readouterr().out) if line["level"] == "ERROR"]
    mix_up = [line for line in errors if "mix-up" in line.get("error", "")]
    assert mix_up and mix_up[0]["issuer"] == a.issuer and repr(b.issuer) in mix_up[0]["error"]
    assert call(invoke, key_b.token(iss=b.issuer, scope=SCOPE))["statusCode"] == 200  # B unaffected


def test_a_jwks_uri_over_http_off_loopback_is_refused(discovered: tuple[IssuerServer, IssuerServer],
                                                      key_a: KeyPair, invoke: Invoke,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = discovered
    a.set_metadata(jwks_uri="http://keys.example.test/jwks.json")
    capsys.readouterr()
    response = call(invoke, key_a.token(iss=a.issuer, scope=SCOPE))
    assert (response["statusCode"], reason(response)) == (503, "signing_keys_unavailable")
    assert a.requests["jwks"] == 0
    errors = " ".join(line.get("error", "") for line in log_lines(capsys.readouterr().out))
    assert "jwks_uri ('http' URL) is not https" in errors


# --------------------------------------------------------------------------- Cache-Control


def test_max_age_is_honoured_on_jwks_and_metadata(clean_env: pytest.MonkeyPatch, key_a: KeyPair,
                                                  invoke: Invoke) -> None:
    with IssuerServer(jwks(key_a), cache_control="public, max-age=1") as a:
        configure(clean_env, a.issuer, JWKS_CACHE_SECONDS="600", JWKS_MIN_CACHE_SECONDS="1")
        token = key_a.token(iss=a.issuer, scope=SCOPE)
        assert call(invoke, token)["statusCode"] == 200
        time.sleep(1.1)  # past max-age=1, far from JWKS_CACHE_SECONDS=600
        assert call(invoke, token)["statusCode"] == 200  # stale keys serve at once; one refresh runs
        sources_of_a = handler.current_runtime().key_source
        assert isinstance(sources_of_a, jwt_key.JwksKeySource) and sources_of_a.settle(5)
        assert (a.requests["openid"], a.requests["jwks"]) == (2, 2)


@pytest.mark.parametrize("cache_control", ["max-age=0", "no-store", "no-cache", "max-age=oops"])
def test_a_short_max_age_is_floored_at_jwks_min_cache_seconds(clean_env: pytest.MonkeyPatch, key_a: KeyPair,
                                                              invoke: Invoke, cache_control: str) -> None:
    with IssuerServer(jwks(key_a), cache_control=cache_control) as a:
        configure(clean_env, a.issuer, JWKS_CACHE_SECONDS="1", JWKS_MIN_CACHE_SECONDS="1")
        handler.warm_up()
        source = handler.current_runtime().key_source
        assert isinstance(source, jwt_key.JwksKeySource)
        for _ in range(20):  # max-age=0 would be a fetch per request without the floor
            assert call(invoke, key_a.token(iss=a.issuer, scope=SCOPE))["statusCode"] == 200
        assert source.settle(5) and (a.requests["openid"], a.requests["jwks"]) == (1, 1)
        time.sleep(1.1)  # past the floor: now one refresh
        assert call(invoke, key_a.token(iss=a.issuer, scope=SCOPE))["statusCode"] == 200
        assert source.settle(5) and a.requests["jwks"] == 2


# --------------------------------------------------------------------------- one issuer's trouble is its own


def test_one_issuer_down_while_the_other_keeps_serving(discovered: tuple[IssuerServer, IssuerServer],
                                                       key_a: KeyPair, key_b: KeyPair, invoke: Invoke) -> None:
    a, b = discovered
    b.go_down()
    handler.warm_up()  # cold start: A's keys fetched, B's fetch fails (and cools down)
    assert reason(call(invoke, key_b.token(iss=b.issuer, scope=SCOPE))) == "signing_keys_unavailable"
    for _ in range(5):
        assert call(invoke, key_a.token(iss=a.issuer, scope=SCOPE))["statusCode"] == 200
    assert a.requests["jwks"] == 1 and b.requests["openid"] == 1  # B's cooldown: one attempt


def test_a_stalled_issuer_does_not_hold_the_other(clean_env: pytest.MonkeyPatch, key_a: KeyPair,
                                                  key_b: KeyPair, invoke: Invoke) -> None:
    with IssuerServer(jwks(key_a)) as a, FaultServer("never_answer") as stalled:
        host, port = stalled.host_port
        stalled_issuer = f"http://{host}:{port}/"
        configure(clean_env, a.issuer, stalled_issuer, JWKS_TIMEOUT_SECONDS="2")
        assert call(invoke, key_a.token(iss=a.issuer, scope=SCOPE))["statusCode"] == 200
        waiting: list[dict[str, Any]] = []
        blocked = threading.Thread(target=lambda: waiting.append(call(invoke, key_b.token(iss=stalled_issuer,
                                                                                          scope=SCOPE))))
        blocked.start()
        try:
            stalled_source = sources()[stalled_issuer]
            assert isinstance(stalled_source, jwt_key.JwksKeySource)
            deadline = time.monotonic() + 5
            while stalled.connections == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            # The stalled issuer's fetch is in flight; A's tokens are served meanwhile, from A's own cache.
            for _ in range(5):
                assert call(invoke, key_a.token(iss=a.issuer, scope=SCOPE))["statusCode"] == 200
            assert not stalled_source.settle(0) and not waiting
        finally:
            blocked.join(10)
        assert waiting and reason(waiting[0]) == "signing_keys_unavailable"


# --------------------------------------------------------------------------- SnapStart


@pytest.fixture
def fake_snapshot_restore(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Callable[[], None]]]:
    """A stand-in for the Lambda runtime's ``snapshot_restore_py``: records the hooks registered."""
    hooks: list[Callable[[], None]] = []
    module = types.ModuleType("snapshot_restore_py")
    module.register_after_restore = hooks.append  # type: ignore[attr-defined]
    module.register_before_snapshot = lambda hook: hook  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    snapstart.forget_registrations()
    yield hooks
    snapstart.forget_registrations()


def test_a_simulated_snapstart_restore_refreshes_the_keys(
        discovered: tuple[IssuerServer, IssuerServer], key_a: KeyPair, invoke: Invoke,
        fake_snapshot_restore: list[Callable[[], None]]) -> None:
    a, b = discovered
    handler.warm_up()  # init: keys fetched, to be frozen into the snapshot
    assert len(fake_snapshot_restore) == 1 and (a.requests["jwks"], b.requests["jwks"]) == (1, 1)
    rotated = KeyPair.generate("RS256", kid="rotated-while-frozen")
    a.publish(jwks(rotated))  # while the snapshot sleeps, A rotates its keys
    fake_snapshot_restore[0]()  # the runtime restores the snapshot and runs the hook
    assert (a.requests["jwks"], b.requests["jwks"]) == (2, 2)  # every issuer refreshed, before any request
    assert call(invoke, rotated.token(iss=a.issuer, scope=SCOPE))["statusCode"] == 200
    assert a.requests["jwks"] == 2  # no unknown-kid refetch was needed
    assert reason(call(invoke, key_a.token(iss=a.issuer, scope=SCOPE))) == "unknown_key"  # the old key is gone


def test_without_the_hook_a_restored_snapshot_never_trusts_old_keys(
        discovered: tuple[IssuerServer, IssuerServer], key_a: KeyPair, invoke: Invoke,
        monkeypatch: pytest.MonkeyPatch) -> None:
    a, _ = discovered
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)
    handler.warm_up()
    assert call(invoke, key_a.token(iss=a.issuer, scope=SCOPE))["statusCode"] == 200
    source = sources()[a.issuer]
    assert isinstance(source, jwt_key.JwksKeySource)
    three_days = 3 * 86400.0
    # The monotonic clock did not move (a snapshot does not count); only the wall clock jumped.
    monkeypatch.setattr(source, "_wall_clock", lambda: time.time() + three_days)
    a.publish(jwks(KeyPair.generate("RS256", kid="after-three-days")))
    response = call(invoke, key_a.token(iss=a.issuer, scope=SCOPE))
    # Past lifetime + stale window: the old keys are not used; the request waited for fresh ones.
    assert (response["statusCode"], reason(response)) == (401, "unknown_key")
    assert a.requests["jwks"] == 2
