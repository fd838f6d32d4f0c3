"""Unit tests for ``lambdaone.discovery``: the metadata URLs, the mix-up defence, the jwks_uri check,
and the discovered key source (one deadline for both GETs, RFC 8414 after a 404, stale metadata on
failure), with a fake fetch and fake clocks. The HTTP side is in test/integration/test_issuers.py."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from lambdaone import discovery, jwt_key
from lambdaone.discovery import (
    DiscoveredKeySource,
    DiscoveryError,
    IssuerMixUpError,
    authorization_server_metadata_url,
    jwks_uri_of,
    openid_configuration_url,
)
from lambdaone.jwks_fetch import Fetched
from lambdaone.reasons import Denial, Reason
from workbook.tokens import KeyPair, jwks

ISSUER = "https://idp.example.test/tenant/"
OPENID = "https://idp.example.test/tenant/.well-known/openid-configuration"
OAUTH = "https://idp.example.test/.well-known/oauth-authorization-server/tenant"
JWKS_URI = "https://keys.example.test/tenant/jwks"
POLICY = jwt_key.CachePolicy(lifetime=600.0, cooldown=10.0, stale_for=1800.0, timeout=2.0, min_lifetime=60.0)


@pytest.mark.parametrize(("issuer", "openid", "oauth"), [
    ("https://idp.example.test", "https://idp.example.test/.well-known/openid-configuration",
     "https://idp.example.test/.well-known/oauth-authorization-server"),
    ("https://idp.example.test/", "https://idp.example.test/.well-known/openid-configuration",
     "https://idp.example.test/.well-known/oauth-authorization-server"),
    (ISSUER, OPENID, OAUTH),
    ("https://idp.example.test/realms/a", "https://idp.example.test/realms/a/.well-known/openid-configuration",
     "https://idp.example.test/.well-known/oauth-authorization-server/realms/a"),
    ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/.well-known/openid-configuration",
     "http://127.0.0.1:8080/.well-known/oauth-authorization-server"),
])
def test_metadata_urls(issuer: str, openid: str, oauth: str) -> None:
    assert openid_configuration_url(issuer) == openid
    assert authorization_server_metadata_url(issuer) == oauth


def test_the_metadata_must_name_exactly_the_configured_issuer() -> None:
    assert jwks_uri_of({"issuer": ISSUER, "jwks_uri": JWKS_URI}, ISSUER) == JWKS_URI
    for named in (ISSUER.rstrip("/"), ISSUER + "/", ISSUER.upper(), "https://evil.example.test/", None, 1, [ISSUER]):
        with pytest.raises(IssuerMixUpError, match="mix-up"):
            jwks_uri_of({"issuer": named, "jwks_uri": JWKS_URI}, ISSUER)


def test_the_named_issuer_is_cut_short_in_the_message() -> None:
    with pytest.raises(IssuerMixUpError) as caught:
        jwks_uri_of({"issuer": "x" * 10_000, "jwks_uri": JWKS_URI}, ISSUER)
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize("document", [[], "text", None, {"issuer": ISSUER}, {"issuer": ISSUER, "jwks_uri": ""},
                                      {"issuer": ISSUER, "jwks_uri": 5}])
def test_metadata_without_a_usable_jwks_uri(document: Any) -> None:
    with pytest.raises(DiscoveryError) as caught:
        jwks_uri_of(document, ISSUER)
    assert not isinstance(caught.value, IssuerMixUpError)


@pytest.mark.parametrize("uri", ["http://keys.example.test/jwks", "ftp://keys.example.test/jwks", "//keys.example.test",
                                 "https://user:pw@keys.example.test/jwks", "https:///jwks", "https://[::1/jwks",
                                 "file:///etc/passwd", "http://169.254.169.254/latest"])
def test_a_jwks_uri_must_be_https_or_http_on_loopback(uri: str) -> None:
    with pytest.raises(DiscoveryError, match="is not https") as caught:
        jwks_uri_of({"issuer": ISSUER, "jwks_uri": uri}, ISSUER)
    assert "pw" not in str(caught.value)


@pytest.mark.parametrize("uri", ["https://keys.example.test/jwks", "http://127.0.0.1:9/jwks", "http://localhost/j",
                                 "http://[::1]:80/jwks"])
def test_allowed_jwks_uris(uri: str) -> None:
    assert jwks_uri_of({"issuer": ISSUER, "jwks_uri": uri}, ISSUER) == uri


# --------------------------------------------------------------------------------------------------
# The discovered key source
# --------------------------------------------------------------------------------------------------


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Idp:
    """The fake fetch: answers each URL from ``answers`` (a document, a Fetched, or an exception)."""

    def __init__(self, key: KeyPair) -> None:
        self.answers: dict[str, Any] = {OPENID: {"issuer": ISSUER, "jwks_uri": JWKS_URI}, JWKS_URI: jwks(key)}
        self.seen: list[tuple[str, float]] = []

    def __call__(self, url: str, timeout: float) -> Any:
        self.seen.append((url, timeout))
        answer = self.answers.get(url, jwt_key.JwksError("HTTP 404 from the JWKS endpoint", status=404))
        if isinstance(answer, Exception):
            raise answer
        return answer

    def urls(self) -> list[str]:
        return [url for url, _ in self.seen]


@pytest.fixture(scope="module")
def key() -> KeyPair:
    return KeyPair.generate("RS256", kid="k1")


@pytest.fixture
def clocks() -> tuple[Clock, Clock]:
    return Clock(1000.0), Clock(50_000.0)


@pytest.fixture
def idp(key: KeyPair) -> Idp:
    return Idp(key)


@pytest.fixture
def source(idp: Idp, clocks: tuple[Clock, Clock]) -> DiscoveredKeySource:
    return DiscoveredKeySource(ISSUER, POLICY, clock=clocks[0], fetch=idp, wall_clock=clocks[1])


def advance(clocks: tuple[Clock, Clock], seconds: float) -> None:
    for clock in clocks:
        clock.advance(seconds)


def test_keys_are_found_through_the_metadata(source: DiscoveredKeySource, idp: Idp) -> None:
    assert source.url == OPENID and source.jwks_url is None
    assert source.key_for("k1").kid == "k1"
    assert idp.urls() == [OPENID, JWKS_URI] and source.jwks_url == JWKS_URI and source.metadata_fetches == 1


def test_both_gets_share_one_deadline(source: DiscoveredKeySource, idp: Idp) -> None:
    source.key_for("k1")
    (_, first), (_, second) = idp.seen
    assert first == POLICY.timeout and 0 < second <= POLICY.timeout


def test_a_metadata_fetch_that_used_the_whole_deadline_fails(idp: Idp, clocks: tuple[Clock, Clock],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    times = iter([100.0, 103.0])  # started at 100, the metadata came back at 103: past the 2 s deadline
    monkeypatch.setattr(discovery.time, "monotonic", lambda: next(times, 200.0))
    source = DiscoveredKeySource(ISSUER, POLICY, clock=clocks[0], fetch=idp, wall_clock=clocks[1])
    with pytest.raises(DiscoveryError, match="deadline"):
        source._download(POLICY.timeout)
    assert idp.urls() == [OPENID]


def test_rfc8414_is_asked_after_a_404_only(source: DiscoveredKeySource, idp: Idp) -> None:
    idp.answers[OAUTH] = idp.answers.pop(OPENID)
    assert source.key_for("k1").kid == "k1"
    assert idp.urls() == [OPENID, OAUTH, JWKS_URI] and source.metadata_fetches == 2


@pytest.mark.parametrize("status", [500, 503, None])
def test_other_failures_do_not_fall_back_to_rfc8414(source: DiscoveredKeySource, idp: Idp, status: int | None) -> None:
    idp.answers[OPENID] = jwt_key.JwksError("broken", status=status)
    idp.answers[OAUTH] = {"issuer": ISSUER, "jwks_uri": JWKS_URI}
    with pytest.raises(Denial) as caught:
        source.key_for("k1")
    assert caught.value.reason is Reason.SIGNING_KEYS_UNAVAILABLE and idp.urls() == [OPENID]


def test_a_404_from_both_is_a_failed_fetch(source: DiscoveredKeySource, idp: Idp,
                                           caplog: pytest.LogCaptureFixture) -> None:
    del idp.answers[OPENID]
    with caplog.at_level(logging.ERROR, logger="lambdaone"), pytest.raises(Denial):
        source.key_for("k1")
    assert idp.urls() == [OPENID, OAUTH]
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "RFC 8414 after a 404" in record.fields["error"] and record.fields["issuer"] == ISSUER  # type: ignore[attr-defined]


def test_a_mix_up_is_an_error_line_naming_the_issuer_and_a_503(source: DiscoveredKeySource, idp: Idp,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    idp.answers[OPENID] = {"issuer": "https://evil.example.test/", "jwks_uri": JWKS_URI}
    with caplog.at_level(logging.INFO, logger="lambdaone"), pytest.raises(Denial) as caught:
        source.key_for("k1")
    assert caught.value.reason is Reason.SIGNING_KEYS_UNAVAILABLE
    assert idp.urls() == [OPENID]  # the jwks_uri of an untrusted document is never fetched
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    fields = record.fields  # type: ignore[attr-defined]
    assert "mix-up" in fields["error"] and "'https://evil.example.test/'" in fields["error"]
    assert fields["issuer"] == ISSUER


def test_metadata_is_cached_with_its_own_lifetime(source: DiscoveredKeySource, idp: Idp) -> None:
    idp.answers[OPENID] = Fetched({"issuer": ISSUER, "jwks_uri": JWKS_URI}, 3600.0)  # capped at 600
    idp.answers[JWKS_URI] = Fetched(idp.answers[JWKS_URI], 60.0)
    source.key_for("k1")
    advance((source._clock, source._wall_clock), 61.0)  # type: ignore[arg-type]
    source.key_for("k1")  # keys stale: refresh in the background, metadata still fresh
    assert source.settle(5) and idp.urls() == [OPENID, JWKS_URI, JWKS_URI]
    advance((source._clock, source._wall_clock), 600.0)  # type: ignore[arg-type]
    source.key_for("k1")
    assert source.settle(5) and idp.urls()[-2:] == [OPENID, JWKS_URI]


def test_a_failed_metadata_refresh_uses_the_last_good_metadata(source: DiscoveredKeySource, idp: Idp,
                                                               clocks: tuple[Clock, Clock],
                                                               caplog: pytest.LogCaptureFixture) -> None:
    source.key_for("k1")
    advance(clocks, 700.0)  # metadata and keys both stale
    idp.answers[OPENID] = jwt_key.JwksError("connection refused")
    rotated = KeyPair.generate("RS256", kid="k2")
    idp.answers[JWKS_URI] = jwks(rotated)
    with caplog.at_level(logging.WARNING, logger="lambdaone"):
        assert source.key_for("k2").kid == "k2"  # unknown kid: a refetch, through the last good jwks_uri
    assert idp.urls()[-2:] == [OPENID, JWKS_URI]
    assert any(r.getMessage() == "discovery refresh failed: using the last good metadata" for r in caplog.records)


def test_stale_metadata_is_not_used_past_the_stale_window(source: DiscoveredKeySource, idp: Idp,
                                                          clocks: tuple[Clock, Clock]) -> None:
    source.key_for("k1")
    advance(clocks, 600.0 + 1800.0)
    idp.answers[OPENID] = jwt_key.JwksError("connection refused")
    with pytest.raises(Denial) as caught:
        source.key_for("k1")
    assert caught.value.reason is Reason.SIGNING_KEYS_UNAVAILABLE and idp.urls()[-1] == OPENID


def test_a_mix_up_is_never_hidden_behind_older_metadata(source: DiscoveredKeySource, idp: Idp,
                                                        clocks: tuple[Clock, Clock]) -> None:
    source.key_for("k1")
    advance(clocks, 700.0)
    idp.answers[OPENID] = {"issuer": "https://evil.example.test/", "jwks_uri": "https://evil.example.test/jwks"}
    source.key_for("k1")  # the old keys are still usable as stale keys
    assert source.settle(5)
    assert idp.urls()[-1] == OPENID and source.failures == 1  # the refresh failed, nothing else fetched


def test_forget_drops_the_metadata(source: DiscoveredKeySource, idp: Idp) -> None:
    source.key_for("k1")
    source.forget()
    assert source.jwks_url is None
    source.key_for("k1")
    assert idp.urls() == [OPENID, JWKS_URI, OPENID, JWKS_URI]


def test_expire_ages_the_metadata_too(source: DiscoveredKeySource, idp: Idp) -> None:
    source.key_for("k1")
    source.expire()
    source.key_for("k1")
    assert source.settle(5) and idp.urls() == [OPENID, JWKS_URI, OPENID, JWKS_URI]


def test_a_wall_clock_jump_ages_the_metadata(source: DiscoveredKeySource, idp: Idp,
                                             clocks: tuple[Clock, Clock]) -> None:
    source.key_for("k1")
    clocks[1].advance(3 * 86400.0)  # a long snapshot: only the wall clock moved
    source.key_for("k1")
    assert idp.urls() == [OPENID, JWKS_URI, OPENID, JWKS_URI]  # both waited for: too old to be used


def test_metadata_fetched_before_forget_is_not_kept(idp: Idp, clocks: tuple[Clock, Clock]) -> None:
    source = DiscoveredKeySource(ISSUER, POLICY, clock=clocks[0], fetch=idp, wall_clock=clocks[1])
    generation = source._generation
    source.forget()
    source._discover(POLICY.timeout, generation)
    assert source.jwks_url is None


def test_source_for_shares_one_source_per_issuer_and_policy() -> None:
    jwt_key.clear_caches()
    try:
        first = discovery.source_for(ISSUER, POLICY)
        assert discovery.source_for(ISSUER, POLICY) is first
        assert discovery.source_for("https://other.example.test/", POLICY) is not first
        assert discovery.source_for(ISSUER, jwt_key.CachePolicy(lifetime=30.0)) is not first
        assert jwt_key.source_for(OPENID, POLICY) is not first  # a JWKS URL and an issuer never collide
    finally:
        jwt_key.clear_caches()


# --------------------------------------------------------------------------------------------------
# What mutation testing found untested
# --------------------------------------------------------------------------------------------------


def test_metadata_max_age_sets_its_own_lifetime(source: DiscoveredKeySource, idp: Idp,
                                                clocks: tuple[Clock, Clock]) -> None:
    idp.answers[OPENID] = Fetched({"issuer": ISSUER, "jwks_uri": JWKS_URI}, 120.0)
    source.key_for("k1")
    advance(clocks, 121.0)  # the keys (600 s) are fresh, the metadata (120 s) is not
    assert source._current_jwks_uri(POLICY.timeout, source._generation) == JWKS_URI
    assert idp.urls() == [OPENID, JWKS_URI, OPENID] and source.metadata_fetches == 2


def test_expired_metadata_still_serves_when_its_refresh_fails(source: DiscoveredKeySource, idp: Idp,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    source.key_for("k1")
    source.expire()
    idp.answers[OPENID] = jwt_key.JwksError("connection refused")
    with caplog.at_level(logging.WARNING, logger="lambdaone"):
        assert source._current_jwks_uri(POLICY.timeout, source._generation) == JWKS_URI
    [record] = [r for r in caplog.records if r.getMessage() == "discovery refresh failed: using the last good metadata"]
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["error"] == "discovery: connection refused" and fields["issuer"] == ISSUER
    assert fields["metadata_age_seconds"] == 600.0 and record.levelno == logging.WARNING


def test_a_failed_discovery_keeps_the_http_status(source: DiscoveredKeySource, idp: Idp) -> None:
    idp.answers[OPENID] = jwt_key.JwksError("HTTP 503 from the JWKS endpoint", status=503)
    with pytest.raises(DiscoveryError) as caught:
        source._discover(POLICY.timeout, source._generation)
    assert caught.value.status == 503 and str(caught.value) == "discovery: HTTP 503 from the JWKS endpoint"
    del idp.answers[OPENID]
    idp.answers[OAUTH] = jwt_key.JwksError("HTTP 500 from the JWKS endpoint", status=500)
    with pytest.raises(DiscoveryError) as caught:
        source._discover(POLICY.timeout, source._generation)
    assert caught.value.status == 500
    assert str(caught.value) == "discovery (RFC 8414 after a 404): HTTP 500 from the JWKS endpoint"


def test_the_rfc8414_fetch_gets_what_is_left_of_the_deadline(source: DiscoveredKeySource, idp: Idp,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    del idp.answers[OPENID]
    idp.answers[OAUTH] = {"issuer": ISSUER, "jwks_uri": JWKS_URI}
    times = iter([10.0, 11.5])  # the 404 took 1.5 s of the 2 s
    monkeypatch.setattr(discovery.time, "monotonic", lambda: next(times, 11.5))
    assert source._discover(2.0, source._generation) == JWKS_URI
    assert idp.seen[1] == (OAUTH, 0.5)


def test_no_rfc8414_fetch_when_the_404_used_the_whole_deadline(source: DiscoveredKeySource, idp: Idp,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    del idp.answers[OPENID]
    times = iter([10.0, 12.0])
    monkeypatch.setattr(discovery.time, "monotonic", lambda: next(times, 12.0))
    with pytest.raises(DiscoveryError, match="deadline"):
        source._discover(2.0, source._generation)
    assert idp.urls() == [OPENID]


def test_the_jwks_fetch_gets_what_is_left_of_the_deadline(idp: Idp, clocks: tuple[Clock, Clock],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    times = iter([100.0, 101.5])  # the metadata took 1.5 s of the 2 s: 0.5 s left for the JWKS
    monkeypatch.setattr(discovery.time, "monotonic", lambda: next(times, 101.5))
    source = DiscoveredKeySource(ISSUER, POLICY, clock=clocks[0], fetch=idp, wall_clock=clocks[1])
    document, max_age = source._download(POLICY.timeout)
    assert idp.seen[-1] == (JWKS_URI, 0.5) and max_age is None and document["keys"]


def test_the_messages_of_refused_metadata() -> None:
    with pytest.raises(DiscoveryError) as caught:
        jwks_uri_of([], ISSUER)
    assert str(caught.value) == "discovery: the metadata is not a JSON object"
    with pytest.raises(DiscoveryError) as caught:
        jwks_uri_of({"issuer": ISSUER}, ISSUER)
    assert str(caught.value) == "discovery: the metadata has no jwks_uri"
    with pytest.raises(IssuerMixUpError) as caught:
        jwks_uri_of({"issuer": "https://evil.example.test/"}, ISSUER)
    assert str(caught.value) == ("discovery: the metadata names issuer 'https://evil.example.test/', not the configured "
                                 f"'{ISSUER}': refused (issuer mix-up defence)")
    with pytest.raises(DiscoveryError) as caught:
        jwks_uri_of({"issuer": ISSUER, "jwks_uri": "http://keys.example.test/jwks"}, ISSUER)
    assert str(caught.value) == ("discovery: the metadata's jwks_uri ('http' URL) is not https "
                                 "(plain http only on loopback) or carries credentials: refused")
    with pytest.raises(DiscoveryError) as caught:
        jwks_uri_of({"issuer": ISSUER, "jwks_uri": "verylongscheme-abcdef://keys.example.test/"}, ISSUER)
    assert "('verylongsc' URL)" in str(caught.value)
    with pytest.raises(DiscoveryError) as caught:
        jwks_uri_of({"issuer": ISSUER, "jwks_uri": "https://[::1/jwks"}, ISSUER)
    assert "('?' URL)" in str(caught.value)


def test_a_discovered_source_is_registered_under_its_issuer() -> None:
    jwt_key.clear_caches()
    try:
        source = discovery.source_for(ISSUER, POLICY)
        assert jwt_key._sources[("discovery", ISSUER)] is source
    finally:
        jwt_key.clear_caches()
