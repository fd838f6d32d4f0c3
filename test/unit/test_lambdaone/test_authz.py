"""Unit tests for ``lambdaone.authz``: every reason it can reach, every algorithm family, scope matching.

Settings come from ``lambdaone.settings.load`` (as in the Lambda); keys come from a small in-memory
key source holding public halves of ``workbook.tokens.KeyPair`` keys generated at run time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt
import pytest
from jwt.utils import base64url_encode

from lambdaone import authz, settings
from lambdaone.fixed_key import FixedKeySource
from lambdaone.keys import SUPPORTED_ALGORITHMS, VerificationKey, verification_key
from lambdaone.reasons import Denial, Reason
from workbook.tokens import AUDIENCE, ISSUER, KeyPair

REQUIRED = "treasure:read"


def make_settings(**variables: str) -> settings.Settings:
    """Settings as the Lambda would load them; the PEM path is never read by ``authz``."""
    environ = {"REQUIRE": REQUIRED, "ISSUER": ISSUER, "AUDIENCE": AUDIENCE,
               "SIGNATUREKEYPATH": "not-read-by-authz.pem", **variables}
    return settings.load(environ)


class KeyRing:
    """A key source: one key for every kid (like a PEM key), or keys by kid (like a JWKS)."""

    def __init__(self, key: VerificationKey | None = None, by_kid: Mapping[str, VerificationKey] | None = None):
        self._key = key
        self._by_kid = dict(by_kid or {})
        self.asked: list[str | None] = []

    def key_for(self, kid: str | None) -> VerificationKey:
        self.asked.append(kid)
        if self._key is not None:
            return self._key
        if kid in self._by_kid:
            return self._by_kid[kid]
        raise Denial(Reason.UNKNOWN_KEY, why="kid not in the key set")


def ring_for(pair: KeyPair, jwk_alg: str | None = None) -> KeyRing:
    return KeyRing(verification_key(pair.public_key, kid=pair.kid, jwk_alg=jwk_alg))


def decide(token: str, config: settings.Settings, source: Any) -> authz.Decision:
    """``authorize``, checking what must hold for every decision: no token text in the log facts."""
    decision = authz.authorize(token, config, source)
    logged = repr(decision.detail)
    # Short fragments could match by chance; any segment long enough to matter must not appear.
    assert not [part for part in [token, *token.split(".")] if len(part) >= 16 and part in logged]
    if not decision.allowed:
        assert decision.claims is None
        assert decision.required_scopes == config.required_scopes
    return decision


def segment(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64url_encode(raw).decode()


def forge(header: Any, payload: Any = None, signature: bytes = b"not-a-real-signature") -> str:
    """A compact token with any header, unsigned: for checks that must happen before the signature."""
    now = int(time.time())
    body = payload if payload is not None else {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "scope": REQUIRED}
    return ".".join([segment(header), segment(body), base64url_encode(signature).decode()])


@pytest.fixture(scope="module")
def family_keys(issuer_key: KeyPair) -> dict[str, KeyPair]:
    """A key pair for every supported algorithm; RSA algorithms share the issuer's RSA key."""
    pairs = {}
    for algorithm in SUPPORTED_ALGORITHMS:
        if algorithm.startswith(("RS", "PS")):
            pairs[algorithm] = KeyPair(issuer_key.private_key, algorithm, issuer_key.kid)
        else:
            pairs[algorithm] = KeyPair.generate(algorithm, kid=f"{algorithm.lower()}-key")
    return pairs


@pytest.fixture
def config() -> settings.Settings:
    return make_settings()


@pytest.fixture
def ring(issuer_key: KeyPair) -> KeyRing:
    return ring_for(issuer_key)


# --------------------------------------------------------------------------------------------------
# The happy path and the decisions taken before any token is read
# --------------------------------------------------------------------------------------------------


def test_a_good_token_is_allowed(issuer_key: KeyPair, config: settings.Settings, ring: KeyRing) -> None:
    decision = decide(issuer_key.token(scope=REQUIRED), config, ring)
    assert decision.reason is Reason.ALLOWED
    assert decision.allowed
    assert decision.claims is not None and decision.claims["sub"] == "learner@example.test"
    assert decision.detail == {"sub": "learner@example.test"}
    assert ring.asked == [issuer_key.kid]


def test_a_fixed_key_source_works_with_authz(issuer_key: KeyPair, other_key: KeyPair, tmp_path: Path,
                                            config: settings.Settings) -> None:
    pem = tmp_path / "issuer.pem"
    pem.write_bytes(issuer_key.public_pem())
    source = FixedKeySource(pem)
    assert decide(issuer_key.token(scope=REQUIRED), config, source).reason is Reason.ALLOWED
    assert decide(other_key.token(scope=REQUIRED), config, source).reason is Reason.BAD_SIGNATURE


def test_authorization_off_allows_without_a_token_or_keys(issuer_key: KeyPair) -> None:
    off = settings.load({})
    assert authz.authorize(None, off, None).reason is Reason.AUTHORIZATION_DISABLED
    assert authz.authorize("garbage", off, None).allowed


def test_no_token_is_missing_token(config: settings.Settings, ring: KeyRing) -> None:
    decision = authz.authorize(None, config, ring)
    assert decision.reason is Reason.MISSING_TOKEN
    assert decision.reason.status == 401
    assert ring.asked == []


def test_no_key_source_is_a_configuration_error(issuer_key: KeyPair, config: settings.Settings) -> None:
    assert decide(issuer_key.token(scope=REQUIRED), config, None).reason is Reason.CONFIGURATION_ERROR


def test_an_unknown_kid_is_unknown_key_with_the_kid_logged(issuer_key: KeyPair, config: settings.Settings) -> None:
    source = KeyRing(by_kid={"someone-else": verification_key(issuer_key.public_key)})
    decision = decide(issuer_key.token(scope=REQUIRED), config, source)
    assert decision.reason is Reason.UNKNOWN_KEY
    assert decision.detail["kid"] == issuer_key.kid


def test_a_denial_from_the_key_source_passes_through(issuer_key: KeyPair, config: settings.Settings) -> None:
    class Unavailable:
        def key_for(self, kid: str | None) -> VerificationKey:
            raise Denial(Reason.SIGNING_KEYS_UNAVAILABLE, retry_after=7)

    decision = decide(issuer_key.token(scope=REQUIRED), config, Unavailable())
    assert decision.reason is Reason.SIGNING_KEYS_UNAVAILABLE
    assert decision.detail == {"retry_after": 7}


# --------------------------------------------------------------------------------------------------
# algorithm_not_allowed and algorithm_key_mismatch
# --------------------------------------------------------------------------------------------------


def test_an_algorithm_outside_the_list_is_refused(family_keys: dict[str, KeyPair], ring: KeyRing) -> None:
    token = family_keys["RS384"].token(scope=REQUIRED)
    decision = decide(token, make_settings(ALGORITHMS="RS256"), ring)
    assert decision.reason is Reason.ALGORITHM_NOT_ALLOWED
    assert decision.detail["alg"] == "RS384"
    assert ring.asked == []  # refused before any key is looked up
    assert decide(token, make_settings(ALGORITHMS="RS256,RS384"), ring).reason is Reason.ALLOWED


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "none", "typ": "JWT"},
        {"alg": "None"},
        {"alg": "HS256"},
        {"alg": "rs256"},  # algorithm names are case-sensitive: no normalising what the token says
        {"typ": "JWT"},
        {"alg": 256},
        {"alg": ["RS256"]},
        {"alg": None},
        {"alg": {"name": "RS256"}},
    ],
    ids=["none", "None", "HS256", "lowercase", "missing", "number", "list", "null", "object"],
)
def test_an_unacceptable_alg_header_is_refused(header: dict[str, Any], config: settings.Settings,
                                               ring: KeyRing) -> None:
    decision = decide(forge(header), config, ring)
    assert decision.reason is Reason.ALGORITHM_NOT_ALLOWED
    assert decision.reason.status == 401
    assert ring.asked == []


def test_an_unsigned_alg_none_token_is_refused(config: settings.Settings, ring: KeyRing) -> None:
    """The RFC 7519 unsecured form has an empty signature: not even the shape of a signed token."""
    unsigned = forge({"alg": "none"}).rsplit(".", 1)[0] + "."
    assert decide(unsigned, config, ring).reason is Reason.MALFORMED_TOKEN


def test_an_es256_token_against_an_rsa_key_is_a_mismatch(family_keys: dict[str, KeyPair], ring: KeyRing) -> None:
    token = family_keys["ES256"].token(scope=REQUIRED)
    decision = decide(token, make_settings(ALGORITHMS="RS256,ES256"), ring)
    assert decision.reason is Reason.ALGORITHM_KEY_MISMATCH
    assert decision.detail == {"alg": "ES256"}


def test_a_jwk_alg_pins_the_key_to_one_algorithm(family_keys: dict[str, KeyPair], issuer_key: KeyPair) -> None:
    both = make_settings(ALGORITHMS="RS256,PS256")
    pinned = ring_for(issuer_key, jwk_alg="RS256")
    ps256_token = family_keys["PS256"].token(scope=REQUIRED)  # same RSA key, other algorithm
    assert decide(ps256_token, both, pinned).reason is Reason.ALGORITHM_KEY_MISMATCH
    assert decide(family_keys["RS256"].token(scope=REQUIRED), both, pinned).reason is Reason.ALLOWED
    assert decide(ps256_token, both, ring_for(issuer_key)).reason is Reason.ALLOWED  # unpinned RSA key


@pytest.mark.parametrize(("token_alg", "key_alg"), [("ES384", "ES256"), ("EdDSA", "ES256"), ("ES256", "EdDSA"),
                                                    ("RS256", "ES512")])
def test_keys_only_verify_their_own_family(family_keys: dict[str, KeyPair], token_alg: str, key_alg: str) -> None:
    both = make_settings(ALGORITHMS=f"{token_alg},{key_alg}")
    decision = decide(family_keys[token_alg].token(scope=REQUIRED), both, ring_for(family_keys[key_alg]))
    assert decision.reason is Reason.ALGORITHM_KEY_MISMATCH


# --------------------------------------------------------------------------------------------------
# unsupported_token_type
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+jwt", "AT+JWT", "application/at+jwt", "application/jwt", None])
def test_access_token_types_are_accepted(issuer_key: KeyPair, config: settings.Settings, ring: KeyRing,
                                         typ: str | None) -> None:
    token = issuer_key.token(scope=REQUIRED, header={"typ": typ})
    assert (jwt.get_unverified_header(token).get("typ")) == typ
    assert decide(token, config, ring).reason is Reason.ALLOWED


@pytest.mark.parametrize("typ", ["JWE", "id+jwt", "at+jwt ", "application/json", "", 1, ["JWT"], {"t": "JWT"}])
def test_other_token_types_are_refused(issuer_key: KeyPair, config: settings.Settings, ring: KeyRing,
                                       typ: Any) -> None:
    token = forge({"alg": "RS256", "kid": issuer_key.kid, "typ": typ})
    decision = decide(token, config, ring)
    assert decision.reason is Reason.UNSUPPORTED_TOKEN_TYPE
    assert ring.asked == []


def test_a_wrong_typ_is_refused_even_when_validly_signed(issuer_key: KeyPair, config: settings.Settings,
                                                         ring: KeyRing) -> None:
    token = issuer_key.token(scope=REQUIRED, header={"typ": "JWE"})
    assert decide(token, config, ring).reason is Reason.UNSUPPORTED_TOKEN_TYPE


# --------------------------------------------------------------------------------------------------
# malformed_token
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "header.payload",
        "a.b.c.d",
        "a..c",
        ".b.c",
        "a.b.c=",
        "a b.c.d",
        "!!!.b.c",
        "A.b.c",  # base64url alphabet, but one character cannot be decoded
        f"{segment(b'not json')}.b.c",
        f"{segment(bytes([0xFF, 0xFE, 0xFD]))}.b.c",
        f"{segment(['alg', 'RS256'])}.b.c",
        f"{segment('RS256')}.b.c",
        f"{segment(None)}.b.c",
        f"{segment(b'[' * 100_000)[:4000]}.b.c",
    ],
    ids=["empty", "one_segment", "two_segments", "four_segments", "empty_payload", "empty_header", "padding",
         "space", "not_base64url", "undecodable_base64", "not_json", "not_utf8", "json_array", "json_string",
         "json_null", "deep_nesting"],
)
def test_tokens_without_a_jws_shape_or_header_are_malformed(token: str, config: settings.Settings,
                                                            ring: KeyRing) -> None:
    decision = decide(token, config, ring)
    assert decision.reason is Reason.MALFORMED_TOKEN
    assert decision.reason.status == 401
    assert ring.asked == []


def test_an_oversized_header_is_malformed(config: settings.Settings, ring: KeyRing) -> None:
    token = forge({"alg": "RS256", "padding": "x" * authz.MAX_HEADER_SEGMENT})
    assert decide(token, config, ring).reason is Reason.MALFORMED_TOKEN
    assert decide(token, config, ring).detail == {"why": "header too large"}


@pytest.mark.parametrize("kid", [5, ["issuer-key-1"], {"k": 1}, True, "", "k" * (authz.MAX_KID_LENGTH + 1)],
                         ids=["number", "list", "object", "bool", "empty", "too_long"])
def test_a_kid_that_is_not_a_short_string_is_malformed(kid: Any, config: settings.Settings, ring: KeyRing) -> None:
    decision = decide(forge({"alg": "RS256", "kid": kid}), config, ring)
    assert decision.reason is Reason.MALFORMED_TOKEN
    assert ring.asked == []


def test_a_kid_of_the_maximum_length_is_looked_up(issuer_key: KeyPair, config: settings.Settings,
                                                  ring: KeyRing) -> None:
    kid = "k" * authz.MAX_KID_LENGTH
    token = issuer_key.token(scope=REQUIRED, header={"kid": kid})
    assert decide(token, config, ring).reason is Reason.ALLOWED
    assert ring.asked == [kid]


def test_a_kidless_token_asks_for_kid_none(issuer_key: KeyPair, config: settings.Settings, ring: KeyRing) -> None:
    token = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60, "scope": REQUIRED},
                       issuer_key.private_key, algorithm="RS256")
    assert decide(token, config, ring).reason is Reason.ALLOWED
    assert ring.asked == [None]


@pytest.mark.parametrize("payload", [b"not json", b'["a", "list"]'], ids=["not_json", "json_array"])
def test_a_signed_payload_that_is_not_a_claims_object_is_malformed(
    issuer_key: KeyPair, config: settings.Settings, ring: KeyRing, payload: bytes
) -> None:
    token = jwt.api_jws.encode(payload, issuer_key.private_key, algorithm="RS256", headers={"kid": issuer_key.kid})
    assert decide(token, config, ring).reason is Reason.MALFORMED_TOKEN


# --------------------------------------------------------------------------------------------------
# bad_signature
# --------------------------------------------------------------------------------------------------


def test_a_token_signed_by_another_key_is_a_bad_signature(other_key: KeyPair, config: settings.Settings,
                                                          ring: KeyRing) -> None:
    decision = decide(other_key.token(scope=REQUIRED), config, ring)
    assert decision.reason is Reason.BAD_SIGNATURE
    assert decision.detail == {"error": "InvalidSignatureError"}


def test_a_tampered_payload_is_a_bad_signature(issuer_key: KeyPair, config: settings.Settings,
                                               ring: KeyRing) -> None:
    header, _, signature = issuer_key.token(scope="nothing").split(".")
    claims = {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 300, "scope": REQUIRED}
    assert decide(f"{header}.{segment(claims)}.{signature}", config, ring).reason is Reason.BAD_SIGNATURE


def test_a_forged_signature_is_a_bad_signature(issuer_key: KeyPair, config: settings.Settings,
                                               ring: KeyRing) -> None:
    token = forge({"alg": "RS256", "kid": issuer_key.kid}, signature=b"\x00" * 256)
    assert decide(token, config, ring).reason is Reason.BAD_SIGNATURE


# --------------------------------------------------------------------------------------------------
# Time claims and leeway
# --------------------------------------------------------------------------------------------------


def test_an_expired_token_is_refused(issuer_key: KeyPair, config: settings.Settings, ring: KeyRing) -> None:
    assert config.leeway == 30
    decision = decide(issuer_key.token(scope=REQUIRED, lifetime=-60), config, ring)
    assert decision.reason is Reason.TOKEN_EXPIRED
    assert decision.reason.rfc6750_error == "invalid_token"


def test_the_leeway_is_honoured_for_exp(issuer_key: KeyPair, ring: KeyRing) -> None:
    expired_10s_ago = issuer_key.token(scope=REQUIRED, lifetime=-10)
    assert decide(expired_10s_ago, make_settings(LEEWAY="30"), ring).reason is Reason.ALLOWED
    assert decide(expired_10s_ago, make_settings(LEEWAY="0"), ring).reason is Reason.TOKEN_EXPIRED


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_a_token_from_the_future_is_not_yet_valid(issuer_key: KeyPair, config: settings.Settings, ring: KeyRing,
                                                  claim: str) -> None:
    now = int(time.time())
    future = decide(issuer_key.token(scope=REQUIRED, lifetime=600, **{claim: now + 120}), config, ring)
    assert future.reason is Reason.TOKEN_NOT_YET_VALID
    within_leeway = decide(issuer_key.token(scope=REQUIRED, lifetime=600, **{claim: now + 10}), config, ring)
    assert within_leeway.reason is Reason.ALLOWED


def test_a_token_without_iat_or_nbf_is_accepted(issuer_key: KeyPair, config: settings.Settings,
                                                ring: KeyRing) -> None:
    assert decide(issuer_key.token(scope=REQUIRED, drop=("iat",)), config, ring).reason is Reason.ALLOWED


@pytest.mark.parametrize(("claim", "value", "reason"), [
    ("exp", "tomorrow", Reason.MALFORMED_TOKEN),
    ("iat", "yesterday", Reason.INVALID_TOKEN),
    ("aud", 42, Reason.WRONG_AUDIENCE),
])
def test_claims_of_the_wrong_type_are_refused(issuer_key: KeyPair, config: settings.Settings, ring: KeyRing,
                                              claim: str, value: Any, reason: Reason) -> None:
    decision = decide(issuer_key.token(scope=REQUIRED, **{claim: value}), config, ring)
    assert decision.reason is reason
    assert decision.reason.status == 401


# --------------------------------------------------------------------------------------------------
# missing_claim, wrong_issuer, wrong_audience
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("claim", ["exp", "iss", "aud"])
def test_a_required_claim_may_not_be_missing(issuer_key: KeyPair, config: settings.Settings, ring: KeyRing,
                                             claim: str) -> None:
    decision = decide(issuer_key.token(scope=REQUIRED, drop=(claim,)), config, ring)
    assert decision.reason is Reason.MISSING_CLAIM
    assert decision.detail == {"error": "MissingRequiredClaimError", "claim": claim}


@pytest.mark.parametrize("issuer", ["https://evil.example.test/", ISSUER.rstrip("/"), ISSUER.upper(), ISSUER + " "])
def test_the_issuer_must_match_exactly(issuer_key: KeyPair, config: settings.Settings, ring: KeyRing,
                                       issuer: str) -> None:
    assert decide(issuer_key.token(scope=REQUIRED, iss=issuer), config, ring).reason is Reason.WRONG_ISSUER


def test_the_audience_must_match(issuer_key: KeyPair, config: settings.Settings, ring: KeyRing) -> None:
    wrong = decide(issuer_key.token(scope=REQUIRED, aud="https://api.example.test/other"), config, ring)
    assert wrong.reason is Reason.WRONG_AUDIENCE
    none_of_them = decide(issuer_key.token(scope=REQUIRED, aud=["https://a.test", "https://b.test"]), config, ring)
    assert none_of_them.reason is Reason.WRONG_AUDIENCE


def test_an_audience_list_with_the_configured_audience_passes(issuer_key: KeyPair, config: settings.Settings,
                                                              ring: KeyRing) -> None:
    token = issuer_key.token(scope=REQUIRED, aud=["https://api.example.test/other", AUDIENCE])
    assert decide(token, config, ring).reason is Reason.ALLOWED


def test_any_of_several_configured_audiences_passes(issuer_key: KeyPair, ring: KeyRing) -> None:
    second = "https://api.example.test/second"
    several = make_settings(AUDIENCE=f"{AUDIENCE}, {second}")
    assert several.audiences == (AUDIENCE, second)
    assert decide(issuer_key.token(scope=REQUIRED, aud=second), several, ring).reason is Reason.ALLOWED
    assert decide(issuer_key.token(scope=REQUIRED, aud=AUDIENCE), several, ring).reason is Reason.ALLOWED
    third = decide(issuer_key.token(scope=REQUIRED, aud="https://api.example.test/third"), several, ring)
    assert third.reason is Reason.WRONG_AUDIENCE


# --------------------------------------------------------------------------------------------------
# Scopes: whole words, from `scope` and `scp`, every required one
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "granted"),
    [
        ({"scope": "treasure:read treasure:write"}, {"treasure:read", "treasure:write"}),
        ({"scope": "  treasure:read  treasure:write "}, {"treasure:read", "treasure:write"}),
        # RFC 6749 §3.3: scope tokens are separated by SP only; any other character belongs to a word.
        ({"scope": "treasure:read\ttreasure:write\n"}, {"treasure:read\ttreasure:write\n"}),
        ({"scope": "treasure:read\u00a0treasure:write"}, {"treasure:read\u00a0treasure:write"}),
        ({"scp": "treasure:read\x1ftreasure:write openid"}, {"treasure:read\x1ftreasure:write", "openid"}),
        ({"scp": ["treasure:read", "profile"]}, {"treasure:read", "profile"}),
        ({"scp": "treasure:read profile"}, {"treasure:read", "profile"}),
        ({"scope": "openid", "scp": ["treasure:read"]}, {"openid", "treasure:read"}),
        ({"scp": ["treasure:read", 5, None, {"s": "x"}, ["treasure:write"]]}, {"treasure:read"}),
        ({"scope": ["treasure:read"]}, set()),  # `scope` is a space-delimited string (RFC 9068)
        ({"scope": 5, "scp": {"treasure:read": True}}, set()),
        ({"scopes": "treasure:read", "permissions": ["treasure:read"]}, set()),  # not scope claims
        ({}, set()),
    ],
    ids=["scope", "scope_spaces", "scope_tab_newline", "scope_nbsp", "scp_control", "scp_array", "scp_string", "both", "non_strings_ignored", "scope_list",
         "wrong_types", "other_claims", "none"],
)
def test_granted_scopes(claims: dict[str, Any], granted: set[str]) -> None:
    assert authz.granted_scopes(claims) == frozenset(granted)


@pytest.mark.parametrize(
    "claims",
    [
        {"scope": "treasure:readwrite"},
        {"scope": "treasure:rea"},
        {"scope": "TREASURE:READ"},
        {"scope": "treasure:read,treasure:write"},
        {"scope": "xtreasure:read"},
        {"scp": ["treasure:read treasure:write"]},
        {"scp": [5, None]},
        {},
    ],
    ids=["longer_word", "prefix", "case", "comma_joined", "suffix", "array_item_with_space", "non_strings", "none"],
)
def test_only_a_whole_scope_word_satisfies(claims: dict[str, Any]) -> None:
    with pytest.raises(Denial) as caught:
        authz.check_scopes(claims, ("treasure:read",))
    assert caught.value.reason is Reason.INSUFFICIENT_SCOPE
    assert caught.value.detail == {"missing": ["treasure:read"]}


def test_every_required_scope_is_needed() -> None:
    required = ("treasure:read", "treasure:write")
    with pytest.raises(Denial) as caught:
        authz.check_scopes({"scope": "treasure:read"}, required)
    assert caught.value.detail == {"missing": ["treasure:write"]}
    authz.check_scopes({"scope": "treasure:read", "scp": ["treasure:write"]}, required)  # both claims combined
    authz.check_scopes({"scope": "treasure:write profile treasure:read"}, required)


def test_insufficient_scope_is_a_403(issuer_key: KeyPair, config: settings.Settings, ring: KeyRing) -> None:
    decision = decide(issuer_key.token(scope="treasure:readwrite"), config, ring)
    assert decision.reason is Reason.INSUFFICIENT_SCOPE
    assert decision.reason.status == 403
    assert decision.reason.rfc6750_error == "insufficient_scope"
    assert decision.detail == {"missing": ["treasure:read"]}
    assert decision.required_scopes == ("treasure:read",)


@pytest.mark.parametrize("scope_claims", [{"scope": "treasure:read"}, {"scp": ["treasure:read"]},
                                          {"scp": "openid treasure:read"}],
                         ids=["scope", "scp_array", "scp_string"])
def test_scopes_from_either_claim_allow(issuer_key: KeyPair, config: settings.Settings, ring: KeyRing,
                                        scope_claims: dict[str, Any]) -> None:
    assert decide(issuer_key.token(**scope_claims), config, ring).reason is Reason.ALLOWED


def test_several_required_scopes_through_authorize(issuer_key: KeyPair, ring: KeyRing) -> None:
    strict = make_settings(REQUIRE="treasure:read, treasure:write")
    partial = decide(issuer_key.token(scp=["treasure:read"]), strict, ring)
    assert partial.reason is Reason.INSUFFICIENT_SCOPE
    assert partial.detail == {"missing": ["treasure:write"]}
    full = decide(issuer_key.token(scope="treasure:write", scp=["treasure:read"]), strict, ring)
    assert full.reason is Reason.ALLOWED


def test_scopes_are_checked_only_after_the_signature(other_key: KeyPair, config: settings.Settings,
                                                     ring: KeyRing) -> None:
    """A forged token learns nothing about scopes: it is refused for its signature."""
    assert decide(other_key.token(scope="nothing-useful"), config, ring).reason is Reason.BAD_SIGNATURE


# --------------------------------------------------------------------------------------------------
# Every algorithm family, end to end
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", SUPPORTED_ALGORITHMS)
def test_every_algorithm_verifies_when_allowed(family_keys: dict[str, KeyPair], algorithm: str) -> None:
    pair = family_keys[algorithm]
    token = pair.token(scope=REQUIRED)
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    source = ring_for(pair)
    allowed = decide(token, make_settings(ALGORITHMS=algorithm), source)
    assert allowed.reason is Reason.ALLOWED
    assert allowed.claims is not None and allowed.claims["scope"] == REQUIRED
    pinned = decide(token, make_settings(ALGORITHMS=algorithm), ring_for(pair, jwk_alg=algorithm))
    assert pinned.reason is Reason.ALLOWED


@pytest.mark.parametrize("algorithm", SUPPORTED_ALGORITHMS)
def test_every_algorithm_is_refused_when_not_allowed(family_keys: dict[str, KeyPair], algorithm: str) -> None:
    others = ",".join(name for name in SUPPORTED_ALGORITHMS if name != algorithm)
    decision = decide(family_keys[algorithm].token(scope=REQUIRED), make_settings(ALGORITHMS=others),
                      ring_for(family_keys[algorithm]))
    assert decision.reason is Reason.ALGORITHM_NOT_ALLOWED


@pytest.mark.parametrize("algorithm", SUPPORTED_ALGORITHMS)
def test_every_algorithm_rejects_a_signature_from_another_key(algorithm: str, family_keys: dict[str, KeyPair]
                                                              ) -> None:
    impostor = KeyPair.generate(algorithm, kid=family_keys[algorithm].kid)
    decision = decide(impostor.token(scope=REQUIRED), make_settings(ALGORITHMS=algorithm),
                      ring_for(family_keys[algorithm]))
    assert decision.reason is Reason.BAD_SIGNATURE


# --------------------------------------------------------------------------------------------------
# verify and unverified_header called directly
# --------------------------------------------------------------------------------------------------


def test_verify_returns_the_claims(issuer_key: KeyPair, config: settings.Settings, ring: KeyRing) -> None:
    claims = authz.verify(issuer_key.token(scope=REQUIRED, cid="client-1"), config, ring)
    assert claims["cid"] == "client-1"
    assert claims["iss"] == ISSUER


def test_verify_raises_denials(other_key: KeyPair, config: settings.Settings, ring: KeyRing) -> None:
    with pytest.raises(Denial) as caught:
        authz.verify(other_key.token(scope=REQUIRED), config, ring)
    assert caught.value.reason is Reason.BAD_SIGNATURE


def test_unverified_header_parses_without_trusting(issuer_key: KeyPair) -> None:
    header = authz.unverified_header(issuer_key.token(header={"x-extra": [1, 2]}))
    assert header == {"alg": "RS256", "kid": issuer_key.kid, "typ": "at+jwt", "x-extra": [1, 2]}
    with pytest.raises(Denial) as caught:
        authz.unverified_header(f"{segment([1, 2])}.b.c")
    assert caught.value.reason is Reason.MALFORMED_TOKEN
    assert caught.value.detail == {"why": "header is not a JSON object"}


def test_a_one_character_kid_is_looked_up(issuer_key: KeyPair, config: settings.Settings, ring: KeyRing) -> None:
    token = issuer_key.token(scope=REQUIRED, header={"kid": "k"})
    assert decide(token, config, ring).reason is Reason.ALLOWED
    assert ring.asked == ["k"]


def test_unverified_header_is_a_copy_callers_may_change(issuer_key: KeyPair, config: settings.Settings,
                                                        ring: KeyRing) -> None:
    token = issuer_key.token(scope=REQUIRED)
    header = authz.unverified_header(token)
    header["alg"] = "none"  # must not poison the parse that verification reuses
    assert authz.unverified_header(token)["alg"] == "RS256"
    assert decide(token, config, ring).reason is Reason.ALLOWED


@pytest.mark.parametrize(
    ("header", "reason", "why"),
    [
        ({"crit": ["b64"]}, Reason.INVALID_TOKEN, "crit names a member that is absent"),
        ({"crit": ["exp"], "exp": 1}, Reason.INVALID_TOKEN, "crit names an unsupported extension"),
        ({"crit": [5]}, Reason.INVALID_TOKEN, "crit names an unsupported extension"),
        ({"crit": []}, Reason.INVALID_TOKEN, "crit is not a non-empty array"),
        ({"crit": "b64", "b64": True}, Reason.INVALID_TOKEN, "crit is not a non-empty array"),
        ({"b64": False, "crit": ["b64"]}, Reason.MALFORMED_TOKEN, "b64=false (unencoded payload) is not supported"),
        ({"b64": False}, Reason.MALFORMED_TOKEN, "b64=false (unencoded payload) is not supported"),
        ({"kid": None}, Reason.INVALID_TOKEN, "kid is null"),
        ({"cty": "JWT"}, Reason.UNSUPPORTED_TOKEN_TYPE, "cty is present (nested JWTs are not accepted)"),
        ({"cty": None}, Reason.UNSUPPORTED_TOKEN_TYPE, "cty is present (nested JWTs are not accepted)"),
    ],
)
def test_header_members_checked_with_the_key(issuer_key: KeyPair, config: settings.Settings, ring: KeyRing,
                                             header: dict[str, Any], reason: Reason, why: str) -> None:
    decision = decide(signed(issuer_key, {"alg": "RS256", "kid": issuer_key.kid, **header}), config, ring)
    assert decision.reason is reason
    assert decision.detail["why"] == why
    assert decision.detail.get("error") == ("InvalidTokenError" if reason is Reason.INVALID_TOKEN else None)


def signed(pair: KeyPair, header: dict[str, Any]) -> str:
    """A token the issuer signed with exactly this header (PyJWT's encode rewrites kid: null and b64)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    payload = {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60, "scope": REQUIRED}
    signing_input = f"{segment(header)}.{segment(payload)}"
    signature = pair.private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{base64url_encode(signature).decode()}"


def test_crit_naming_b64_true_is_accepted(issuer_key: KeyPair, config: settings.Settings, ring: KeyRing) -> None:
    # b64: true is the default and may be listed in crit (PyJWT accepts it too).
    token = signed(issuer_key, {"alg": "RS256", "kid": issuer_key.kid, "b64": True, "crit": ["b64"]})
    assert decide(token, config, ring).reason is Reason.ALLOWED


def test_the_verify_token_result(issuer_key: KeyPair, config: settings.Settings, ring: KeyRing) -> None:
    verified = authz.verify_token(issuer_key.token(scope=REQUIRED, lifetime=100, nbf=5), config, ring)
    assert verified.kid == issuer_key.kid
    assert verified.key is ring.key_for(issuer_key.kid)
    assert verified.times.exp == verified.claims["exp"] and verified.times.nbf == 5
    assert verified.times.iat == verified.claims["iat"]


def test_a_long_unknown_kid_is_logged_cut_to_64_characters(issuer_key: KeyPair, config: settings.Settings) -> None:
    kid = "k" * 64 + "tail"
    token = issuer_key.token(scope=REQUIRED, header={"kid": kid})
    decision = decide(token, config, KeyRing(by_kid={}))
    assert decision.reason is Reason.UNKNOWN_KEY
    assert decision.detail["kid"] == "k" * 64


@pytest.mark.parametrize(
    ("part", "replacement", "why"),
    [
        (1, "AAAAA", "payload has an impossible base64url length"),
        (1, "AB", "payload is not canonical base64url"),
        (2, "AAAAA", "signature has an impossible base64url length"),
        (2, "AB", "signature is not canonical base64url"),
    ],
)
def test_broken_segments_say_which_one(issuer_key: KeyPair, config: settings.Settings, ring: KeyRing, part: int,
                                       replacement: str, why: str) -> None:
    parts = issuer_key.token(scope=REQUIRED).split(".")
    parts[part] = replacement
    decision = decide(".".join(parts), config, ring)
    assert decision.reason is Reason.MALFORMED_TOKEN
    assert decision.detail == {"why": why}


@pytest.mark.parametrize(("payload", "why"), [(b"not json", "payload is not JSON"),
                                              (b'{"a": 1, "a": 2}', "payload repeats a member name"),
                                              (b"[1]", "payload is not a JSON object"),
                                              ("{}".encode("utf-16"), "payload is not UTF-8")])
def test_a_signed_payload_that_fails_to_parse_says_why(issuer_key: KeyPair, config: settings.Settings, ring: KeyRing,
                                                       payload: bytes, why: str) -> None:
    token = jwt.api_jws.encode(payload, issuer_key.private_key, algorithm="RS256", headers={"kid": issuer_key.kid})
    decision = decide(token, config, ring)
    assert decision.reason is Reason.MALFORMED_TOKEN
    assert decision.detail == {"why": why}


def test_the_logged_alg_and_typ_are_cut_short(config: settings.Settings, ring: KeyRing) -> None:
    long_alg = decide(forge({"alg": "A" * 30}), config, ring)
    assert long_alg.reason is Reason.ALGORITHM_NOT_ALLOWED
    assert long_alg.detail == {"alg": "A" * 20}
    long_typ = decide(forge({"alg": "RS256", "typ": "T" * 50}), config, ring)
    assert long_typ.reason is Reason.UNSUPPORTED_TOKEN_TYPE
    assert long_typ.detail == {"typ": "T" * 40}
    assert decide(forge({"alg": "RS256", "typ": 7}), config, ring).detail == {"typ": "7"}


def test_a_kid_that_is_not_a_short_string_says_why(config: settings.Settings, ring: KeyRing) -> None:
    assert decide(forge({"alg": "RS256", "kid": ""}), config, ring).detail == {"why": "kid is not a short string"}
