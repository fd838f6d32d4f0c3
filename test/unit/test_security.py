"""Hostile requests, forged by hand, against the whole handler (``lambda_function.handler``).

Each row of ``CASES`` says how the token or the event is forged and what must come back: the HTTP
status and the body's reason code (``lambdaone/reasons.py``). Every row runs twice, with the
issuer's key in a PEM file and in a JWKS served on loopback. For every response it also checks the
RFC 6750 challenge, that neither the response nor the log repeats the credentials, and that no
URL named in a token header (``jku``, ``x5u``) was ever fetched.

Tokens are built segment by segment (JSON, base64url, then an RSA, RSA-PSS, ECDSA or HMAC
signature computed here), because PyJWT refuses to produce most of them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from lambdaone.hello_world import GREETING
from lambdaone.reasons import Reason
from test.conftest import REQUIRED_SCOPES, body_reason
from workbook import events
from workbook.jwks_server import JwksServer
from workbook.tokens import AUDIENCE, ISSUER, KeyPair, jwks

Invoke = Callable[[Any], dict[str, Any]]
Expected = tuple[int, str]
Signer = Callable[[bytes], bytes]

KEY_SOURCES = ("pem", "jwks")
LEEWAY = 30  # the default LEEWAY
DROP = object()  # in header/claim overrides: leave the member out (None writes a JSON null)


# --------------------------------------------------------------------------------------------------
# Forging: JSON segments, base64url, signatures
# --------------------------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    """A token segment: bytes are taken as they are, anything else is serialized as JSON."""
    return b64url(value if isinstance(value, bytes) else json.dumps(value).encode())


def json_with_duplicates(*members: tuple[str, Any]) -> bytes:
    """A JSON object that may repeat a member name (``json.dumps`` cannot write one)."""
    return ("{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in members) + "}").encode()


def rs256(private_key: Any) -> Signer:
    return lambda data: private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def ps256(private_key: Any) -> Signer:
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
    return lambda data: private_key.sign(data, pss, hashes.SHA256())


def es256(private_key: Any) -> Signer:
    def sign(data: bytes) -> bytes:
        # JWS wants the raw r || s (RFC 7518 §3.4), not the DER that cryptography returns.
        r, s = decode_dss_signature(private_key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return sign


def hmac_with(secret: bytes, digest: Any) -> Signer:
    return lambda data: hmac.new(secret, data, digest).digest()


def with_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **overrides}
    return {name: value for name, value in merged.items() if value is not DROP}


@dataclass(frozen=True)
class Forger:
    """What an attacker (and, for control rows, the issuer) can sign with, and the URL of an attacker's JWKS."""

    issuer: KeyPair
    attacker: KeyPair
    ec_key: KeyPair  # an ES256 key that carries the issuer's kid
    attacker_jwks_url: str

    @property
    def now(self) -> int:
        return int(time.time())

    def header(self, **overrides: Any) -> dict[str, Any]:
        return with_overrides({"alg": "RS256", "typ": "at+jwt", "kid": self.issuer.kid}, overrides)

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = self.now
        base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "learner@example.test", "iat": now, "exp": now + 300,
                "scope": REQUIRED_SCOPES}
        return with_overrides(base, overrides)

    def jws(self, header: Any, payload: Any, sign: Signer | None = None, signature: str | None = None) -> str:
        """A compact JWS; ``signature`` (already base64url) wins over ``sign``."""
        signing_input = f"{segment(header)}.{segment(payload)}"
        if signature is None:
            signature = b64url(sign(signing_input.encode())) if sign else ""
        return f"{signing_input}.{signature}"

    def by_issuer(self, header: Any = None, payload: Any = None) -> str:
        """Signed with the issuer's real key: only the content is hostile."""
        return self.jws(self.header() if header is None else header, self.claims() if payload is None else payload,
                        rs256(self.issuer.private_key))

    def by_attacker(self, **header: Any) -> str:
        """Signed with a key the issuer never published; ``header`` overrides the issuer-like header."""
        return self.jws(self.header(**header), self.claims(), rs256(self.attacker.private_key))


def bearer(token: str, scheme: str = "Bearer") -> dict[str, Any]:
    return events.rest_api_v1({"Authorization": f"{scheme} {token}"})


def authorization(value: Any) -> dict[str, Any]:
    return events.http_api_v2({"authorization": value})


# --------------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One hostile request: ``forge`` builds the event, ``expect`` is (status, reason) or one per key source."""

    id: str
    forge: Callable[[Forger], dict[str, Any]]
    expect: Expected | dict[str, Expected]
    env: dict[str, str] = field(default_factory=dict)

    def expected(self, key_source: str) -> Expected:
        return self.expect[key_source] if isinstance(self.expect, dict) else self.expect


ALLOWED: Expected = (200, "allowed")
MALFORMED: Expected = (401, "malformed_token")
BAD_SIGNATURE: Expected = (401, "bad_signature")
NOT_ALLOWED_ALG: Expected = (401, "algorithm_not_allowed")
NO_SCOPE: Expected = (403, "insufficient_scope")
# A fixed PEM key answers every kid (the signature then fails); a JWKS has no key for a kid it never published.
FOREIGN_KID: dict[str, Expected] = {"pem": BAD_SIGNATURE, "jwks": (401, "unknown_key")}


def _issuer_claims(**claims: Any) -> Callable[[Forger], dict[str, Any]]:
    """A row whose token the issuer really signed, with these claims changed."""
    return lambda f: bearer(f.by_issuer(payload=f.claims(**claims)))


def _issuer_header(**header: Any) -> Callable[[Forger], dict[str, Any]]:
    """A row whose token the issuer really signed, with these header members changed."""
    return lambda f: bearer(f.by_issuer(header=f.header(**header)))


def _attacker(**header: Any) -> Callable[[Forger], dict[str, Any]]:
    return lambda f: bearer(f.by_attacker(**header))


def _raw_segments(*segments: str) -> Callable[[Forger], dict[str, Any]]:
    return lambda f: bearer(".".join(segments))


def _good_segments(f: Forger) -> list[str]:
    return f.by_issuer().split(".")


def _replace_segment(index: int, replacement: str) -> Callable[[Forger], dict[str, Any]]:
    """The issuer's genuine token with one segment replaced."""
    def forge(f: Forger) -> dict[str, Any]:
        parts = _good_segments(f)
        parts[index] = replacement
        return bearer(".".join(parts))

    return forge


CASES: list[Case] = [
    # A control row: the key source really works, so every refusal below is the check under test.
    Case("genuine_token_control", lambda f: bearer(f.by_issuer()), ALLOWED),

    # --- alg "none" (RFC 8725 §2.1) ----------------------------------------------------------------
    Case("alg_none_empty_signature", lambda f: bearer(f.jws(f.header(alg="none"), f.claims())), MALFORMED),
    Case("alg_none_with_signature",
         lambda f: bearer(f.jws(f.header(alg="none"), f.claims(), rs256(f.attacker.private_key))), NOT_ALLOWED_ALG),
    Case("alg_None_capitalised", lambda f: bearer(f.jws(f.header(alg="None"), f.claims(), signature="AAAA")),
         NOT_ALLOWED_ALG),
    Case("alg_NONE_upper_case", lambda f: bearer(f.jws(f.header(alg="NONE"), f.claims(), signature="AAAA")),
         NOT_ALLOWED_ALG),
    Case("alg_NONE_empty_signature", lambda f: bearer(f.jws(f.header(alg="NONE", typ="JWT"), f.claims())),
         MALFORMED),
    Case("alg_missing", lambda f: bearer(f.jws(f.header(alg=DROP), f.claims(), rs256(f.issuer.private_key))),
         NOT_ALLOWED_ALG),

    # --- HMAC and key confusion ---------------------------------------------------------------------
    Case("hs256_keyed_with_the_issuers_public_pem",
         lambda f: bearer(f.jws(f.header(alg="HS256"), f.claims(), hmac_with(f.issuer.public_pem(), hashlib.sha256))),
         NOT_ALLOWED_ALG),
    Case("rs256_header_hmac_signature_with_public_pem",
         lambda f: bearer(f.jws(f.header(), f.claims(), hmac_with(f.issuer.public_pem(), hashlib.sha256))),
         BAD_SIGNATURE),
    Case("hs512_keyed_with_the_issuers_public_pem",
         lambda f: bearer(f.jws(f.header(alg="HS512"), f.claims(), hmac_with(f.issuer.public_pem(), hashlib.sha512))),
         NOT_ALLOWED_ALG),
    Case("hs256_allowed_is_a_configuration_error",
         lambda f: bearer(f.jws(f.header(alg="HS256"), f.claims(), hmac_with(f.issuer.public_pem(), hashlib.sha256))),
         (500, "internal_error"), env={"ALGORITHMS": "RS256,HS256"}),

    # --- signatures by keys the issuer never published ---------------------------------------------
    Case("other_rsa_key_with_the_issuers_kid", _attacker(), BAD_SIGNATURE),
    Case("other_rsa_key_with_its_own_kid", lambda f: bearer(f.by_attacker(kid=f.attacker.kid)), FOREIGN_KID),

    # --- kid injection (RFC 8725 §3.10: a kid is a name, never a path or a query) ------------------
    Case("kid_path_traversal", _attacker(kid="../../../../etc/passwd"), FOREIGN_KID),
    Case("kid_dev_null", _attacker(kid="/dev/null"), FOREIGN_KID),
    Case("kid_sql_injection", _attacker(kid="x' UNION SELECT 'secret' AS key --"), FOREIGN_KID),
    Case("kid_10_kb_long", _attacker(kid="k" * 10 * 1024), MALFORMED),
    Case("kid_empty_string", _attacker(kid=""), MALFORMED),
    Case("kid_number", _attacker(kid=1), MALFORMED),
    Case("kid_object", lambda f: bearer(f.by_attacker(kid={"kid": f.issuer.kid})), MALFORMED),
    Case("kid_list", lambda f: bearer(f.by_attacker(kid=[f.issuer.kid])), MALFORMED),
    # A null kid gets past the key lookup as "no kid" (the one key is tried), then PyJWT refuses a non-string kid.
    Case("kid_null", _attacker(kid=None), (401, "invalid_token")),

    # --- headers that point at the attacker's own key: ignored, so the signature fails ---------------
    Case("jku_points_at_attacker_jwks", lambda f: bearer(f.by_attacker(jku=f.attacker_jwks_url)), BAD_SIGNATURE),
    Case("x5u_points_at_attacker", lambda f: bearer(f.by_attacker(x5u=f.attacker_jwks_url)), BAD_SIGNATURE),
    Case("jwk_embeds_attacker_key", lambda f: bearer(f.by_attacker(jwk=f.attacker.jwk())), BAD_SIGNATURE),
    Case("jku_with_attacker_kid",
         lambda f: bearer(f.by_attacker(kid=f.attacker.kid, jku=f.attacker_jwks_url)), FOREIGN_KID),

    # --- time claims --------------------------------------------------------------------------------
    Case("expired_an_hour_ago", lambda f: bearer(f.by_issuer(payload=f.claims(iat=f.now - 7200, exp=f.now - 3600))),
         (401, "token_expired")),
    Case("expired_within_leeway", lambda f: bearer(f.by_issuer(payload=f.claims(exp=f.now - LEEWAY // 3))), ALLOWED),
    Case("expired_beyond_leeway", lambda f: bearer(f.by_issuer(payload=f.claims(exp=f.now - 2 * LEEWAY))),
         (401, "token_expired")),
    Case("nbf_in_the_future", lambda f: bearer(f.by_issuer(payload=f.claims(nbf=f.now + 3600))),
         (401, "token_not_yet_valid")),
    Case("iat_in_the_future", lambda f: bearer(f.by_issuer(payload=f.claims(iat=f.now + 3600, exp=f.now + 7200))),
         (401, "token_not_yet_valid")),
    Case("no_exp", _issuer_claims(exp=DROP), (401, "missing_claim")),
    Case("exp_null", _issuer_claims(exp=None), (401, "missing_claim")),
    Case("exp_numeric_string", lambda f: bearer(f.by_issuer(payload=f.claims(exp=str(f.now + 300)))), MALFORMED),
    Case("exp_word_string", _issuer_claims(exp="tomorrow"), MALFORMED),
    Case("nbf_numeric_string", lambda f: bearer(f.by_issuer(payload=f.claims(nbf=str(f.now - 60)))), MALFORMED),
    Case("iat_boolean", _issuer_claims(iat=True), (401, "invalid_token")),
    Case("exp_infinity", _issuer_claims(exp=float("inf")), MALFORMED),  # JSON has no Infinity; Python reads it

    # --- audience and issuer ------------------------------------------------------------------------
    Case("wrong_aud", _issuer_claims(aud="https://api.example.test/other"), (401, "wrong_audience")),
    Case("aud_list_without_ours", _issuer_claims(aud=["https://a.example.test", "https://b.example.test"]),
         (401, "wrong_audience")),
    Case("aud_list_with_ours", _issuer_claims(aud=["https://a.example.test", AUDIENCE]), ALLOWED),
    Case("aud_prefix_of_ours", _issuer_claims(aud=AUDIENCE[:-1]), (401, "wrong_audience")),
    Case("no_aud", _issuer_claims(aud=DROP), (401, "missing_claim")),
    Case("wrong_iss", _issuer_claims(iss="https://evil.example.test/"), (401, "wrong_issuer")),
    Case("iss_without_trailing_slash", _issuer_claims(iss=ISSUER.rstrip("/")), (401, "wrong_issuer")),
    Case("iss_with_extra_trailing_slash", _issuer_claims(iss=ISSUER + "/"), (401, "wrong_issuer")),
    Case("no_iss", _issuer_claims(iss=DROP), (401, "missing_claim")),

    # --- scopes: whole words of "scope" (string) or "scp" (array), nothing else ----------------------
    Case("scope_readwrite_is_not_read", _issuer_claims(scope="treasure:readwrite"), NO_SCOPE),
    Case("scope_read2_is_not_read", _issuer_claims(scope="treasure:read2"), NO_SCOPE),
    Case("scope_embedded_in_a_longer_word", _issuer_claims(scope="mytreasure:readings"), NO_SCOPE),
    Case("scope_comma_separated", _issuer_claims(scope="treasure:write,treasure:read"), NO_SCOPE),
    Case("scope_space_separated", _issuer_claims(scope="treasure:write treasure:read"), ALLOWED),
    Case("scope_as_array_is_not_a_scope_string", _issuer_claims(scope=["treasure:read"]), NO_SCOPE),
    Case("scp_array_valid", _issuer_claims(scope=DROP, scp=["treasure:write", "treasure:read"]), ALLOWED),
    Case("scp_array_missing_scope", _issuer_claims(scope=DROP, scp=["treasure:write"]), NO_SCOPE),
    Case("scopes_claim_only", _issuer_claims(scope=DROP, scopes=["treasure:read"]), NO_SCOPE),
    Case("permissions_claim_only", _issuer_claims(scope=DROP, permissions=["treasure:read"]), NO_SCOPE),
    Case("scope_with_trailing_nul", _issuer_claims(scope="treasure:read\u0000"), NO_SCOPE),
    Case("scope_cyrillic_lookalike", _issuer_claims(scope="treasure:re\u0430d"), NO_SCOPE),
    Case("nul_and_unicode_in_claims",
         _issuer_claims(sub="evil\u0000\u202eadmin\U0001f600", name="\u0000" * 8, scope="treasure:read \u00e9t\u00e9"),
         ALLOWED),

    # --- broken encodings and shapes ----------------------------------------------------------------
    Case("header_bad_base64_length", _replace_segment(0, "eyJhbGciOiJSUzI1NiJ9A"), MALFORMED),
    Case("payload_bad_base64_length", _replace_segment(1, "eyJpc3MiOiJ4In0AA"), MALFORMED),
    Case("signature_bad_base64_length", _replace_segment(2, "AAAAA"), MALFORMED),
    Case("signature_standard_base64_alphabet", _replace_segment(2, "ab+c/d"), MALFORMED),
    # RFC 6750's b64token allows "=" only at the very end; JWS segments never carry padding at all.
    Case("every_segment_padded", lambda f: bearer(".".join(p + "==" for p in _good_segments(f))),
         (400, "malformed_authorization")),
    Case("signature_padded", lambda f: bearer(f.by_issuer() + "=="), MALFORMED),
    Case("header_not_json", lambda f: bearer(f.jws(b"alg=RS256", f.claims(), rs256(f.issuer.private_key))),
         MALFORMED),
    Case("header_json_array", lambda f: bearer(f.jws(["RS256"], f.claims(), rs256(f.issuer.private_key))), MALFORMED),
    Case("header_json_string", lambda f: bearer(f.jws("RS256", f.claims(), rs256(f.issuer.private_key))), MALFORMED),
    Case("payload_not_json", lambda f: bearer(f.by_issuer(payload=b"iss=https://issuer.example.test/")), MALFORMED),
    Case("payload_json_string", lambda f: bearer(f.by_issuer(payload="treasure:read")), MALFORMED),
    Case("payload_json_array", lambda f: bearer(f.by_issuer(payload=[f.claims()])), MALFORMED),
    Case("four_segments", lambda f: bearer(f.by_issuer() + ".AAAA"), MALFORMED),
    Case("two_segments", lambda f: bearer(f.by_issuer().rsplit(".", 1)[0]), MALFORMED),
    Case("empty_segments", _raw_segments("", "", ""), MALFORMED),  # ".." is a b64token, but no JWS
    Case("oversized_token", _issuer_claims(padding="x" * 17 * 1024), (401, "token_too_large")),
    Case("oversized_header_segment", _issuer_header(pad="y" * 4 * 1024), MALFORMED),

    # --- the Authorization header itself -------------------------------------------------------------
    Case("empty_bearer", lambda f: authorization("Bearer "), (400, "malformed_authorization")),
    Case("bearer_with_two_tokens", lambda f: authorization("Bearer a b"), (400, "malformed_authorization")),
    Case("bearer_token_then_garbage", lambda f: authorization(f"Bearer {f.by_issuer()} extra"),
         (400, "malformed_authorization")),
    Case("authorization_not_text", lambda f: authorization(12345), (400, "malformed_authorization")),
    Case("two_authorization_keys_rest_v1",
         lambda f: {**events.rest_api_v1(), "headers": {"Authorization": f"Bearer {f.by_issuer()}",
                                                         "authorization": f"Bearer {f.by_attacker()}"}},
         (400, "duplicate_authorization")),
    Case("multi_value_authorization_list_of_two",
         lambda f: {**events.rest_api_v1(), "multiValueHeaders": {"Authorization": [f"Bearer {f.by_issuer()}",
                                                                                    f"Bearer {f.by_attacker()}"]}},
         (400, "duplicate_authorization")),
    Case("basic_scheme", lambda f: authorization("Basic dHJlYXN1cmU6aHVudGVy"), (401, "missing_token")),
    Case("token_without_scheme", lambda f: authorization(f.by_issuer()), (401, "missing_token")),
    Case("lower_case_bearer", lambda f: bearer(f.by_issuer(), scheme="bearer"), ALLOWED),
    Case("upper_case_bearer", lambda f: bearer(f.by_issuer(), scheme="BEARER"), ALLOWED),

    # --- header members a verifier must not skip over ------------------------------------------------
    Case("typ_jwe", _issuer_header(typ="JWE"), (401, "unsupported_token_type")),
    Case("typ_jwt_plus_foo", _issuer_header(typ="jwt+foo"), (401, "unsupported_token_type")),
    Case("typ_number", _issuer_header(typ=7), (401, "unsupported_token_type")),
    Case("crit_unknown_extension", _issuer_header(crit=["urn:example:unknown"], **{"urn:example:unknown": True}),
         (401, "invalid_token")),
    Case("b64_false", _issuer_header(b64=False, crit=["b64"]), MALFORMED),
    # A repeated member is refused (RFC 7493 I-JSON): parsers disagree on which one wins.
    Case("duplicate_alg_last_none",
         lambda f: bearer(f.jws(json_with_duplicates(("alg", "RS256"), ("alg", "none"), ("kid", f.issuer.kid)),
                                f.claims(), rs256(f.issuer.private_key))),
         MALFORMED),
    Case("duplicate_alg_first_none",
         lambda f: bearer(f.jws(json_with_duplicates(("alg", "none"), ("alg", "RS256"), ("kid", f.issuer.kid)),
                                f.claims(), rs256(f.issuer.private_key))),
         MALFORMED),
    Case("duplicate_kid_in_header",
         lambda f: bearer(f.jws(json_with_duplicates(("alg", "RS256"), ("kid", f.issuer.kid), ("kid", f.issuer.kid)),
                                f.claims(), rs256(f.issuer.private_key))),
         MALFORMED),
    # RFC 7519 §5.2: cty announces a nested JWT, which an access token never is.
    Case("cty_jwt_with_ordinary_claims", _issuer_header(cty="JWT"), (401, "unsupported_token_type")),
    Case("cty_json", _issuer_header(cty="json"), (401, "unsupported_token_type")),

    # --- algorithms against the allow-list and the key ------------------------------------------------
    Case("rs256_header_with_ps256_signature",
         lambda f: bearer(f.jws(f.header(), f.claims(), ps256(f.issuer.private_key))), BAD_SIGNATURE),
    Case("ps256_when_only_rs256_is_allowed",
         lambda f: bearer(f.jws(f.header(alg="PS256"), f.claims(), ps256(f.issuer.private_key))), NOT_ALLOWED_ALG),
    # PS256 allowed: the bare PEM key fits every RSA algorithm, the JWK names RS256 and only RS256.
    Case("ps256_allowed_but_the_jwk_says_rs256",
         lambda f: bearer(f.jws(f.header(alg="PS256"), f.claims(), ps256(f.issuer.private_key))),
         {"pem": ALLOWED, "jwks": (401, "algorithm_key_mismatch")}, env={"ALGORITHMS": "PS256"}),
    Case("es256_allowed_but_the_key_is_rsa",
         lambda f: bearer(f.jws(f.header(alg="ES256"), f.claims(), es256(f.ec_key.private_key))),
         (401, "algorithm_key_mismatch"), env={"ALGORITHMS": "RS256,ES256"}),

    # --- JSON with a repeated member is refused wherever it is (RFC 7493 I-JSON; RFC 7519 §4 allows ----
    # --- refusing): whichever one a parser keeps, another parser downstream may keep the other -------
    Case("duplicate_aud_ours_last",
         lambda f: bearer(f.by_issuer(payload=json_with_duplicates(
             *[(k, v) for k, v in f.claims().items() if k != "aud"], ("aud", "https://evil.example.test"),
             ("aud", AUDIENCE)))),
         MALFORMED),
    Case("duplicate_aud_ours_first",
         lambda f: bearer(f.by_issuer(payload=json_with_duplicates(
             *[(k, v) for k, v in f.claims().items() if k != "aud"], ("aud", AUDIENCE),
             ("aud", "https://evil.example.test")))),
         MALFORMED),
    Case("duplicate_member_in_a_nested_claim",
         lambda f: bearer(f.by_issuer(payload=json.dumps(f.claims())[:-1].encode()
                                      + b', "act": {"sub": "a", "sub": "b"}}')),
         MALFORMED),

    # --- encodings: claims are UTF-8 JSON (RFC 7519 §7.2), NumericDates are JSON numbers ---------------
    Case("payload_utf16", lambda f: bearer(f.by_issuer(payload=json.dumps(f.claims()).encode("utf-16"))), MALFORMED),
    Case("payload_utf8_bom",
         lambda f: bearer(f.by_issuer(payload=b"\xef\xbb\xbf" + json.dumps(f.claims()).encode())), MALFORMED),
    Case("header_latin1",
         lambda f: bearer(f.jws(f'{{"alg":"RS256","kid":"{f.issuer.kid}","x":"\u00e9"}}'.encode("latin-1"),
                                f.claims(), rs256(f.issuer.private_key))), MALFORMED),
    Case("exp_nan", lambda f: bearer(f.by_issuer(payload=json.dumps(f.claims(exp=float("nan"))).encode())), MALFORMED),
    Case("exp_boolean", _issuer_claims(exp=True), MALFORMED),

    # --- RFC 6750 §2.1 and RFC 6749 §3.3: SP and nothing else ----------------------------------------
    Case("bearer_tab_token", lambda f: authorization(f"Bearer\t{f.by_issuer()}"), (400, "malformed_authorization")),
    Case("bearer_lf_token", lambda f: authorization(f"Bearer\n{f.by_issuer()}"), (400, "malformed_authorization")),
    Case("bearer_crlf_token", lambda f: authorization(f"Bearer\r\n{f.by_issuer()}"),
         (400, "malformed_authorization")),
    Case("scope_separated_by_nbsp", _issuer_claims(scope="openid\u00a0treasure:read"), NO_SCOPE),
    Case("scope_separated_by_tab", _issuer_claims(scope="openid\ttreasure:read"), NO_SCOPE),
    Case("scope_separated_by_control", _issuer_claims(scope="openid\x1ftreasure:read"), NO_SCOPE),
]


# --------------------------------------------------------------------------------------------------
# Fixtures and checks
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def attacker_jwks(other_key: KeyPair) -> Iterator[JwksServer]:
    """The attacker's own JWKS on loopback: tokens point at it, and it must never be asked."""
    with JwksServer(jwks(other_key)) as server:
        yield server


@pytest.fixture(scope="module")
def forger(issuer_key: KeyPair, other_key: KeyPair, attacker_jwks: JwksServer) -> Forger:
    ec_key = KeyPair.generate("ES256", kid=issuer_key.kid)
    return Forger(issuer_key, other_key, ec_key, attacker_jwks.url)


@pytest.fixture(params=KEY_SOURCES)
def key_source(request: pytest.FixtureRequest) -> str:
    """The Lambda configured with the issuer's key from a PEM file (``pem_env``) or a JWKS (``jwks_env``)."""
    request.getfixturevalue(f"{request.param}_env")
    return request.param


def rfc6750_challenge(status: int, reason: str) -> str | None:
    """The WWW-Authenticate value RFC 6750 §3 calls for (None: no challenge)."""
    if status == 401 and reason == "missing_token":
        return "Bearer"  # no credentials presented: no error code
    return {
        400: 'Bearer error="invalid_request"',
        401: 'Bearer error="invalid_token"',
        403: f'Bearer error="insufficient_scope", scope="{REQUIRED_SCOPES}"',
    }.get(status)


def outcome(response: dict[str, Any]) -> Expected:
    if response["statusCode"] == 200:
        assert response["body"] == GREETING
        return 200, "allowed"
    return response["statusCode"], body_reason(response)


def presented_credentials(event: dict[str, Any]) -> list[str]:
    """The credentials (and their signature segments) the event presents: none may be echoed."""
    values: list[Any] = []
    for place in ("headers", "multiValueHeaders"):
        for name, value in (event.get(place) or {}).items():
            if name.lower() == "authorization":
                values.extend(value if isinstance(value, list) else [value])
    secrets = []
    for value in values:
        if isinstance(value, str):
            credentials = value.split(None, 1)[-1] if value.strip() else ""
            secrets += [credentials, credentials.rsplit(".", 1)[-1]]
    # Short strings ("a b", "AAAA") could appear by chance; anything that identifies a token is longer.
    return [secret for secret in secrets if len(secret) > 8]


def test_the_table_is_large_and_its_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) >= 35
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_every_expectation_names_a_documented_reason_with_its_status(case: Case) -> None:
    codes = {reason.code: reason for reason in Reason}
    for key_source in KEY_SOURCES:
        status, code = case.expected(key_source)
        assert code in codes
        # A 500 tells the caller nothing more: configuration errors answer with the generic internal_error body.
        assert codes[code].status == status


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_request(case: Case, key_source: str, forger: Forger, attacker_jwks: JwksServer,
                         monkeypatch: pytest.MonkeyPatch, invoke: Invoke, capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    event = case.forge(forger)
    attacker_requests_before = attacker_jwks.requests

    response = invoke(event)

    assert outcome(response) == case.expected(key_source)
    status, reason = case.expected(key_source)
    assert response["headers"].get("WWW-Authenticate") == rfc6750_challenge(status, reason)
    assert attacker_jwks.requests == attacker_requests_before, "a URL from a token header was fetched"
    captured = capsys.readouterr()
    shown = json.dumps(response) + captured.out + captured.err
    assert [secret for secret in presented_credentials(event) if secret in shown] == []


def test_the_echo_check_sees_every_presented_credential() -> None:
    # The check in test_hostile_request is only as good as this: it must find the token wherever it is sent.
    token = "h" * 12 + "." + "p" * 12 + "." + "s" * 12
    single = presented_credentials(bearer(token))
    multi = presented_credentials({"multiValueHeaders": {"AUTHORIZATION": [f"Bearer {token}", "Basic " + "b" * 12]}})
    assert set(single) == {token, "s" * 12}  # found in both "headers" and "multiValueHeaders"
    assert set(multi) == {token, "s" * 12, "b" * 12}


def test_the_attacker_jwks_counts_what_it_serves(attacker_jwks: JwksServer) -> None:
    # "Never asked" is measured by this counter: it has to move when the server is asked.
    before = attacker_jwks.requests
    with urllib.request.urlopen(attacker_jwks.url, timeout=5) as answer:
        assert json.loads(answer.read())["keys"][0]["kid"] == "attacker-key"
    assert attacker_jwks.requests == before + 1
