"""Differential test: LambdaOne's own parser and claim checks against ``jwt.decode`` with the same policy.

``authz`` no longer calls ``jwt.decode`` on the hot path: it parses each token once (``jose``),
verifies the signature with PyJWT's own algorithm objects and checks the registered claims itself
(``claims``). This test is the proof that nothing was lost on the way. hypothesis generates tokens
(valid ones; ones re-signed by the issuer with one claim or header member changed; re-encoded
ones; truncated and altered ones), and for each:

- the new path accepts a token only if ``jwt.decode`` (the same key, ``algorithms``, ``audience``,
  ``issuer``, ``leeway`` and ``require=["exp", "iss", "aud"]``) accepts it;
- the reason agrees with the one PyJWT's exception maps to, except for the cases below, where
  LambdaOne is stricter on purpose; there it must refuse with the reason listed;
- the verified-token cache changes nothing: asking twice through a cache gives the same answer.

The intentionally stricter cases (``STRICTER``), each with the standard that asks for it:

- a repeated member name, in the header or the claims, at any depth (RFC 7493 I-JSON);
- ``cty`` present: a nested JWT is not accepted (RFC 7519 §5.2);
- a header or claims that are not UTF-8, or start with a byte order mark (RFC 7519 §7.2, RFC 8259 §8.1);
- ``NaN`` / ``Infinity`` literals (not JSON: RFC 8259 §6);
- ``exp``, ``nbf``, ``iat`` that are not JSON numbers, e.g. numeric strings or booleans (RFC 7519 §2);
- a ``typ`` that is not an access-token type (RFC 9068 §4, RFC 8725 §3.11);
- a ``kid`` that is not a short non-empty string;
- base64url padding, or an empty segment (RFC 7515 §2 and §7.1: no padding; an unsigned JWS is not accepted);
- a payload that is not a JSON object, or whose ``iss`` is missing or not configured: its ``iss`` picks
  the issuer (and so the keys) before the signature is checked, so it is refused for that where
  ``jwt.decode``, which checks the signature first, may say ``bad_signature``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambdaone import authz, claims, jose
from lambdaone import settings as lambda_settings
from lambdaone.keys import VerificationKey, verification_key
from lambdaone.reasons import Denial, Reason
from lambdaone.token_cache import VerifiedTokenCache
from workbook.tokens import AUDIENCE, ISSUER, KeyPair

LEEWAY = 30
ALGORITHMS = "RS256,PS256"
KID = "issuer-key-1"

DIFFERENTIAL_SETTINGS = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# PyJWT's exceptions, most specific first, and the reasons they meant when authz called jwt.decode.
PYJWT_REASONS: tuple[tuple[type[Exception], Reason], ...] = (
    (jwt.ExpiredSignatureError, Reason.TOKEN_EXPIRED),
    (jwt.ImmatureSignatureError, Reason.TOKEN_NOT_YET_VALID),
    (jwt.InvalidAudienceError, Reason.WRONG_AUDIENCE),
    (jwt.InvalidIssuerError, Reason.WRONG_ISSUER),
    (jwt.MissingRequiredClaimError, Reason.MISSING_CLAIM),
    (jwt.InvalidSignatureError, Reason.BAD_SIGNATURE),
    (jwt.InvalidAlgorithmError, Reason.ALGORITHM_NOT_ALLOWED),
    (jwt.DecodeError, Reason.MALFORMED_TOKEN),
    (jwt.PyJWTError, Reason.INVALID_TOKEN),
)

# What each intentionally stricter case must be refused with.
STRICTER: dict[str, set[Reason]] = {
    "duplicate_member": {Reason.MALFORMED_TOKEN},
    "cty": {Reason.UNSUPPORTED_TOKEN_TYPE},
    "not_utf8": {Reason.MALFORMED_TOKEN},
    "json_constant": {Reason.MALFORMED_TOKEN},
    "non_numeric_date": {Reason.MALFORMED_TOKEN, Reason.INVALID_TOKEN},  # exp/nbf: malformed; iat: invalid
    "typ": {Reason.UNSUPPORTED_TOKEN_TYPE},
    "kid": {Reason.MALFORMED_TOKEN},
    "padding_or_empty_segment": {Reason.MALFORMED_TOKEN},
    "issuer_read_first": {Reason.MALFORMED_TOKEN, Reason.MISSING_CLAIM, Reason.WRONG_ISSUER},
}


# --------------------------------------------------------------------------------------------------
# The two paths
# --------------------------------------------------------------------------------------------------


class OneKey:
    """The issuer's key for every kid, like a PEM key source."""

    def __init__(self, key: VerificationKey) -> None:
        self.key = key

    def key_for(self, kid: str | None) -> VerificationKey:
        return self.key


def pyjwt_reason(token: str, public_key: object, policy: lambda_settings.Settings) -> Reason:
    """What ``jwt.decode`` says, with the policy authz used to give it."""
    try:
        jwt.decode(token, public_key, algorithms=sorted(policy.algorithms), audience=list(policy.audiences),
                   issuer=policy.issuer, leeway=policy.leeway, options={"require": ["exp", "iss", "aud"]})
    except jwt.PyJWTError as error:
        return next(reason for error_type, reason in PYJWT_REASONS if isinstance(error, error_type))
    return Reason.ALLOWED


def lambdaone_reason(token: str, source: OneKey, policy: lambda_settings.Settings) -> Reason:
    try:
        authz.verify(token, policy, source)
    except Denial as denial:
        return denial.reason
    return Reason.ALLOWED


# --------------------------------------------------------------------------------------------------
# Which stricter cases a token falls in (read leniently, as PyJWT would)
# --------------------------------------------------------------------------------------------------


def lenient_bytes(segment: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(segment.rstrip("=") + "=" * (-len(segment.rstrip("=")) % 4))
    except ValueError:
        return None


def _has_duplicates(data: bytes) -> bool:
    found = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({name for name, _ in pairs}) != len(pairs):
            found.append(True)
        return dict(pairs)

    try:
        json.loads(data, object_pairs_hook=hook)
    except (ValueError, RecursionError):
        return False
    return bool(found)


def _uses_constants(data: bytes) -> bool:
    found = []

    def constant(name: str) -> float:
        found.append(name)
        return float(name.replace("Infinity", "inf"))

    try:
        json.loads(data, parse_constant=constant)
    except (ValueError, RecursionError):
        return False
    return bool(found)


def _is_utf8_json(data: bytes) -> bool:
    """False when the bytes are JSON only to a reader that guesses UTF-16/32 or skips a byte order mark."""
    try:
        json.loads(data)
    except (ValueError, RecursionError):
        return True  # not JSON in any encoding: both paths refuse it alike
    try:
        json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return False
    return True


def _lenient_object(data: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def stricter_cases(token: str) -> set[str]:
    """The intentionally stricter cases this token falls in (empty: the reasons must agree)."""
    cases: set[str] = set()
    segments = token.split(".")
    if "=" in token or (len(segments) == 3 and "" in segments):
        cases.add("padding_or_empty_segment")
    if len(segments) != 3:
        return cases
    for index in (0, 1):
        data = lenient_bytes(segments[index])
        if data is None:
            continue
        if not _is_utf8_json(data):
            cases.add("not_utf8")
        if _has_duplicates(data):
            cases.add("duplicate_member")
        if _uses_constants(data):
            cases.add("json_constant")
        value = _lenient_object(data)
        if index == 1 and (value is None or value.get("iss") != ISSUER):
            cases.add("issuer_read_first")
        if value is None:
            continue
        if index == 0:
            if "cty" in value:
                cases.add("cty")
            typ = value.get("typ")
            if typ is not None and not (isinstance(typ, str) and typ.lower() in authz._ACCEPTED_TYPES):
                cases.add("typ")
            kid = value.get("kid")
            if kid is not None and not (isinstance(kid, str) and 0 < len(kid) <= authz.MAX_KID_LENGTH):
                cases.add("kid")
        else:
            for name in ("exp", "nbf", "iat"):
                if value.get(name) is not None and claims.numeric_date(value[name]) is None:
                    cases.add("non_numeric_date")
    return cases


# --------------------------------------------------------------------------------------------------
# Generating tokens
# --------------------------------------------------------------------------------------------------


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


class Issuer:
    """Signs whatever header and claims bytes it is given (RS256, or PS256 when the header says so)."""

    def __init__(self, pair: KeyPair) -> None:
        self.private_key = pair.private_key

    def sign(self, header: bytes, payload: bytes, pss: bool = False) -> str:
        signing_input = f"{b64url(header)}.{b64url(payload)}".encode()
        if pss:
            scheme: Any = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
        else:
            scheme = padding.PKCS1v15()
        return f"{signing_input.decode()}.{b64url(self.private_key.sign(signing_input, scheme, hashes.SHA256()))}"


def base_header() -> dict[str, Any]:
    return {"alg": "RS256", "typ": "at+jwt", "kid": KID}


def base_claims(now: int) -> dict[str, Any]:
    return {"iss": ISSUER, "aud": AUDIENCE, "sub": "learner@example.test", "iat": now - 5, "exp": now + 600,
            "scope": "treasure:read", "jti": "id-1"}


# Time offsets kept well away from the leeway boundaries (two clocks read a moment apart must agree).
offsets = st.sampled_from([-10**6, -3600, -2 * LEEWAY, -LEEWAY - 10, -LEEWAY + 10, -5, 0, 5, LEEWAY - 10,
                           LEEWAY + 10, 2 * LEEWAY, 3600, 10**9])
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)

DROP = object()


def claim_changes(now: int) -> st.SearchStrategy[tuple[str, Any]]:
    time_values = st.one_of(offsets.map(lambda offset: now + offset), offsets.map(lambda offset: float(now + offset)),
                            offsets.map(lambda offset: str(now + offset)), json_values, st.just(DROP))
    return st.one_of(
        st.tuples(st.sampled_from(["exp", "nbf", "iat"]), time_values),
        st.tuples(st.just("iss"), st.one_of(st.sampled_from([ISSUER, ISSUER.rstrip("/"), ISSUER + "/", "", DROP]),
                                            json_values)),
        st.tuples(st.just("aud"), st.one_of(
            st.sampled_from([AUDIENCE, [AUDIENCE], ["x", AUDIENCE], ["x"], "x", [], "", [AUDIENCE, 5], DROP]),
            json_values)),
        st.tuples(st.sampled_from(["sub", "jti", "scope", "extra"]), st.one_of(json_values, st.just(DROP))),
    )


header_changes = st.one_of(
    st.tuples(st.just("alg"), st.sampled_from(["RS256", "PS256", "ES256", "HS256", "none", "rs256", "", None, 5,
                                               ["RS256"], DROP])),
    st.tuples(st.just("typ"), st.sampled_from(["JWT", "jwt", "at+jwt", "application/at+jwt", "JWE", "", None, 1,
                                               ["JWT"], DROP])),
    st.tuples(st.just("kid"), st.sampled_from([KID, "other", "", "k" * 256, "k" * 257, None, 5, [KID], DROP])),
    st.tuples(st.just("cty"), st.sampled_from(["JWT", "json", "", None])),
    st.tuples(st.just("crit"), st.sampled_from([["b64"], [], "b64", ["exp"], [5], ["b64", "x"], None])),
    st.tuples(st.just("b64"), st.sampled_from([True, False, "false", None])),
    st.tuples(st.sampled_from(["jku", "x5u", "zip", "extra"]), json_values),
)


def changed(base: dict[str, Any], change: tuple[str, Any]) -> dict[str, Any]:
    name, value = change
    result = dict(base)
    if value is DROP:
        result.pop(name, None)
    else:
        result[name] = value
    return result


def with_duplicate(members: dict[str, Any], name: str, value: Any, first: bool) -> bytes:
    """A JSON object with ``name`` written twice; the real value first or last."""
    parts = [f"{json.dumps(k)}:{json.dumps(v)}" for k, v in members.items() if k != name]
    pair = [f"{json.dumps(name)}:{json.dumps(value)}", f"{json.dumps(name)}:{json.dumps(members.get(name))}"]
    return ("{" + ",".join(parts + (pair if not first else pair[::-1])) + "}").encode()


ENCODINGS: dict[str, Callable[[str], bytes]] = {
    "utf-8": lambda text: text.encode("utf-8"),
    "utf-8 with BOM": lambda text: b"\xef\xbb\xbf" + text.encode("utf-8"),
    "utf-16": lambda text: text.encode("utf-16"),
    "utf-16-le": lambda text: text.encode("utf-16-le"),
    "utf-32": lambda text: text.encode("utf-32"),
}


@st.composite
def tokens(draw: st.DrawFn, issuer: Issuer) -> str:
    now = int(time.time())
    header, payload = base_header(), base_claims(now)
    # Re-signed changes are the ones that reach the claim checks: drawn more often than re-encodings.
    kind = draw(st.sampled_from(["valid", "claim", "claim", "claim", "claim", "header", "header", "duplicate",
                                 "encoding", "spacing", "truncated", "altered", "padded", "alphabet"]))
    if kind == "claim":
        payload = changed(payload, draw(claim_changes(now)))
    elif kind == "header":
        header = changed(header, draw(header_changes))
    header_bytes, payload_bytes = dumps(header), dumps(payload)
    if kind == "duplicate":
        in_header = draw(st.booleans())
        members = header if in_header else payload
        name = draw(st.sampled_from(sorted(members)))
        duplicated = with_duplicate(members, name, draw(json_values), draw(st.booleans()))
        header_bytes, payload_bytes = (duplicated, payload_bytes) if in_header else (header_bytes, duplicated)
    elif kind == "encoding":
        encode = ENCODINGS[draw(st.sampled_from(sorted(ENCODINGS)))]
        text = json.dumps({**payload, "name": "Zoë"}, ensure_ascii=False)
        if draw(st.booleans()):
            header_bytes = encode(json.dumps(header))
        else:
            payload_bytes = encode(text)
    elif kind == "spacing":
        payload_bytes = json.dumps(payload, indent=draw(st.sampled_from([None, 0, 2]))).encode()
        payload_bytes = b" \n" + payload_bytes + b"\t "
    token = issuer.sign(header_bytes, payload_bytes, pss=header.get("alg") == "PS256")
    if kind == "truncated":
        token = token[:draw(st.integers(min_value=1, max_value=len(token) - 1))]
    elif kind == "altered":
        position = draw(st.integers(min_value=0, max_value=len(token) - 1))
        token = token[:position] + draw(st.sampled_from("AQgwBz09-_")) + token[position + 1:]
    elif kind == "padded":
        index = draw(st.integers(min_value=0, max_value=2))
        parts = token.split(".")
        parts[index] += draw(st.sampled_from(["=", "==", "==="]))
        token = ".".join(parts)
    elif kind == "alphabet":
        token = token.replace("-", "+").replace("_", "/")
    return token


# --------------------------------------------------------------------------------------------------
# The property
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def issuer(issuer_key: KeyPair) -> Issuer:
    return Issuer(issuer_key)


@pytest.fixture(scope="module")
def policy() -> lambda_settings.Settings:
    return lambda_settings.load({"REQUIRE": "treasure:read", "ISSUER": ISSUER, "AUDIENCE": AUDIENCE,
                                 "SIGNATUREKEYPATH": "not-read.pem", "ALGORITHMS": ALGORITHMS,
                                 "LEEWAY": str(LEEWAY)})


def test_the_new_path_accepts_only_what_jwt_decode_accepts(issuer: Issuer, issuer_key: KeyPair,
                                                           policy: lambda_settings.Settings) -> None:
    public_key = issuer_key.public_key
    source = OneKey(verification_key(public_key, kid=KID))
    seen: dict[str, int] = {}
    cases_seen: set[str] = set()

    @DIFFERENTIAL_SETTINGS
    @given(token=tokens(issuer))
    def check(token: str) -> None:
        jose._parsed_headers.clear()
        theirs = pyjwt_reason(token, public_key, policy)
        ours = lambdaone_reason(token, source, policy)
        cases = stricter_cases(token)
        cases_seen.update(cases)
        if ours is Reason.ALLOWED:
            assert theirs is Reason.ALLOWED, f"accepted what jwt.decode refuses ({theirs.code})"
        if cases:
            allowed_reasons = set().union(*(STRICTER[case] for case in cases)) | {theirs}
            assert ours is not Reason.ALLOWED, f"a stricter case was accepted: {sorted(cases)}"
            assert ours in allowed_reasons, f"{ours.code} for {sorted(cases)} (jwt.decode: {theirs.code})"
        else:
            assert ours is theirs, f"{ours.code} where jwt.decode says {theirs.code}"
        seen[ours.code] = seen.get(ours.code, 0) + 1
        # Through the verified-token cache, twice: the same answer (scopes are not part of this policy).
        cache = VerifiedTokenCache(4)
        for _ in range(2):
            decision = authz.authorize(token, policy, source, cache)
            verified = decision.reason if decision.reason is not Reason.INSUFFICIENT_SCOPE else Reason.ALLOWED
            assert verified is ours

    check()
    # The generator reached the outcomes that matter; otherwise the property proved little.
    assert seen.get("allowed", 0) >= 10
    for code in ("malformed_token", "bad_signature", "token_expired", "token_not_yet_valid", "missing_claim",
                 "wrong_issuer", "wrong_audience", "algorithm_not_allowed", "unsupported_token_type",
                 "invalid_token"):
        assert seen.get(code, 0) >= 1, f"no example was refused with {code}: {seen}"
    assert cases_seen >= {"duplicate_member", "not_utf8", "non_numeric_date", "typ", "kid",
                          "padding_or_empty_segment"}, cases_seen


@pytest.mark.parametrize(
    ("case", "header", "payload"),
    [
        ("duplicate_member", b'{"alg":"RS256","alg":"RS256"}', None),
        ("duplicate_member", None, b'{"iss":"x","iss":"%s","aud":"%s","exp":9999999999}' % (ISSUER.encode(),
                                                                                           AUDIENCE.encode())),
        ("cty", b'{"alg":"RS256","cty":"JWT"}', None),
        ("not_utf8", None, json.dumps({"iss": ISSUER, "aud": AUDIENCE, "exp": 9999999999}).encode("utf-16")),
        ("not_utf8", None, b"\xef\xbb\xbf" + json.dumps({"iss": ISSUER, "aud": AUDIENCE, "exp": 9999999999}).encode()),
        ("non_numeric_date", None, json.dumps({"iss": ISSUER, "aud": AUDIENCE, "exp": "9999999999"}).encode()),
        ("non_numeric_date", None, json.dumps({"iss": ISSUER, "aud": AUDIENCE, "exp": 9999999999, "nbf": True}
                                              ).encode()),
        ("typ", b'{"alg":"RS256","typ":"JWE"}', None),
        ("kid", b'{"alg":"RS256","kid":""}', None),
    ],
)
def test_each_stricter_case_is_one_jwt_decode_accepts(case: str, header: bytes | None, payload: bytes | None,
                                                      issuer: Issuer, issuer_key: KeyPair,
                                                      policy: lambda_settings.Settings) -> None:
    """Each listed case really is stricter: PyJWT accepts the token, LambdaOne refuses it as listed."""
    header = header or b'{"alg":"RS256"}'
    payload = payload or json.dumps({"iss": ISSUER, "aud": AUDIENCE, "exp": 9999999999}).encode()
    token = issuer.sign(header, payload)
    assert case in stricter_cases(token)
    assert pyjwt_reason(token, issuer_key.public_key, policy) is Reason.ALLOWED
    ours = lambdaone_reason(token, OneKey(verification_key(issuer_key.public_key)), policy)
    assert ours in STRICTER[case]


def test_padding_is_a_stricter_case(issuer: Issuer, issuer_key: KeyPair, policy: lambda_settings.Settings) -> None:
    # PyJWT 2.15 accepts '=' padding on a segment whose padded length is a multiple of 4.
    token = issuer.sign(b'{"alg":"RS256"}', json.dumps({"iss": ISSUER, "aud": AUDIENCE, "exp": 9999999999}).encode())
    header, payload, signature = token.split(".")
    padded = ".".join([header, payload, signature + "=" * (-len(signature) % 4)])
    assert padded != token
    assert pyjwt_reason(padded, issuer_key.public_key, policy) is Reason.ALLOWED
    assert lambdaone_reason(padded, OneKey(verification_key(issuer_key.public_key)), policy) is Reason.MALFORMED_TOKEN
