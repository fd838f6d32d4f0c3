"""Unit tests for ``lambdaone.jose``: the strict compact JWS parser and the signature check.

Each rule has a token that breaks only that rule, next to one that keeps it, so a test fails if the
rule is lost and also if it grows to refuse what it must accept.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from lambdaone import jose
from lambdaone.keys import SUPPORTED_ALGORITHMS
from lambdaone.reasons import Denial, Reason
from workbook.tokens import KeyPair


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def denial(call: Any, *args: Any) -> Denial:
    with pytest.raises(Denial) as caught:
        call(*args)
    assert caught.value.reason is Reason.MALFORMED_TOKEN
    return caught.value


@pytest.fixture(autouse=True)
def _fresh_header_cache() -> None:
    jose._parsed_headers.clear()


# --------------------------------------------------------------------------------------------------
# base64url: canonical, unpadded
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"\x00", b"\xff", b"ab", b"abc", b"\xfb\xff\xbf", bytes(range(256))])
def test_decode_segment_round_trips(raw: bytes) -> None:
    if raw:
        assert jose.decode_segment(b64url(raw), "x") == raw


def test_decode_segment_reads_both_url_safe_characters() -> None:
    assert jose.decode_segment("-_-_", "x") == base64.urlsafe_b64decode("-_-_")
    assert jose.decode_segment("-_-_", "x") == b"\xfb\xff\xbf"


@pytest.mark.parametrize("segment", ["A", "AAAAA", "abcde"])
def test_an_impossible_length_is_refused(segment: str) -> None:
    assert denial(jose.decode_segment, segment, "payload").detail == {
        "why": "payload has an impossible base64url length"}


@pytest.mark.parametrize("segment", ["QR", "Qf", "QUF", "QUH", "AB", "AAB", "eyJhbGciOiJSUzI1NiJ9fQB"])
def test_a_non_canonical_spelling_is_refused(segment: str) -> None:
    # Bytes spelled with non-zero unused bits (a lenient decoder reads them): refused, so a token has one spelling.
    lenient = base64.urlsafe_b64decode(segment + "==")
    assert b64url(lenient) != segment
    assert denial(jose.decode_segment, segment, "header").detail == {"why": "header is not canonical base64url"}


def test_every_canonical_last_character_is_accepted() -> None:
    for last in "AQgw":
        assert len(jose.decode_segment("Q" + last, "x")) == 1
    for last in "AEIMQUYcgkosw048":
        assert len(jose.decode_segment("QU" + last, "x")) == 2
    for last in "BCDRhx":
        denial(jose.decode_segment, "Q" + last, "x")
    for last in "BFJNRVZdhlptx159":
        denial(jose.decode_segment, "QU" + last, "x")


# --------------------------------------------------------------------------------------------------
# JSON: UTF-8, I-JSON, an object
# --------------------------------------------------------------------------------------------------


def test_parse_object_returns_the_object() -> None:
    assert jose.parse_object(b'{"a": [1, {"b": "\\u00e9"}], "c": null}', "x") == {"a": [1, {"b": "é"}], "c": None}
    assert jose.parse_object(' {"é": "ü"} '.encode(), "x") == {"é": "ü"}


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b'{"alg": "none", "alg": "RS256"}', "header repeats a member name"),
        (b'{"a": {"b": 1, "b": 1}}', "header repeats a member name"),
        (b'{"a": [{"b": 1, "b": 2}]}', "header repeats a member name"),
        ('{"a": "é"}'.encode("utf-16"), "header is not UTF-8"),
        ('{"a": "é"}'.encode("utf-16-le"), "header is not UTF-8"),
        ('{"a": "é"}'.encode("latin-1"), "header is not UTF-8"),
        ('{"a": "é"}'.encode("utf-32"), "header is not UTF-8"),
        (b"\xef\xbb\xbf{}", "header is not JSON"),  # a byte order mark
        (b'{"exp": NaN}', "header is not JSON"),
        (b'{"exp": Infinity}', "header is not JSON"),
        (b'{"exp": -Infinity}', "header is not JSON"),
        (b'{"a": 1} x', "header is not JSON"),
        (b"", "header is not JSON"),
        (b"[" * 100_000, "header is not JSON"),
        (b"[1]", "header is not a JSON object"),
        (b'"s"', "header is not a JSON object"),
        (b"null", "header is not a JSON object"),
    ],
    ids=["duplicate", "nested_duplicate", "duplicate_in_array", "utf16_bom", "utf16_le", "latin1", "utf32", "bom",
         "nan", "infinity", "minus_infinity", "trailing_data", "empty", "deep", "array", "string", "null"],
)
def test_parse_object_refuses(data: bytes, why: str) -> None:
    assert denial(jose.parse_object, data, "header").detail == {"why": why}


def test_repeated_names_in_different_objects_are_fine() -> None:
    assert jose.parse_object(b'{"a": {"x": 1}, "b": {"x": 2}, "x": 3}', "x") == {"a": {"x": 1}, "b": {"x": 2}, "x": 3}


# --------------------------------------------------------------------------------------------------
# split
# --------------------------------------------------------------------------------------------------


def segment(value: Any) -> str:
    return b64url(value if isinstance(value, bytes) else json.dumps(value).encode())


def test_split_gives_the_segments_and_the_header() -> None:
    token = f"{segment({'alg': 'RS256'})}.{segment({'sub': 'x'})}.{b64url(b'sig')}"
    jws = jose.split(token)
    assert jws.header == {"alg": "RS256"}
    assert (jws.header_segment, jws.payload_segment, jws.signature_segment) == tuple(token.split("."))
    assert jws.signing_input == token.rsplit(".", 1)[0].encode()


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", "a..c", ".b.c", "a.b.", "a.b.c=", "a+b.c.d", "a/b.c.d",
                                   "a.b.c ", " a.b.c", "a.b.c\n", "é.b.c"])
def test_split_refuses_what_is_not_three_base64url_segments(token: str) -> None:
    assert denial(jose.split, token).detail == {"why": "not three base64url segments"}


def test_the_header_size_limit_is_inclusive() -> None:
    raw = b'{"alg":"RS256","p":"' + b"x" * (jose.MAX_HEADER_SEGMENT * 3 // 4 - 22) + b'"}'
    at_limit = b64url(raw)
    assert len(at_limit) == jose.MAX_HEADER_SEGMENT
    assert jose.split(f"{at_limit}.b.c").header["alg"] == "RS256"
    # One character more is refused before it is decoded (a length no base64url decoder would accept either).
    assert denial(jose.split, f"{at_limit}A.b.c").detail == {"why": "header too large"}
    assert denial(jose.split, f"{at_limit}AAAA.b.c").detail == {"why": "header too large"}


def test_a_reused_header_parse_gives_the_same_answer() -> None:
    header = segment({"alg": "RS256", "kid": "k"})
    first = jose.split(f"{header}.AA.AA").header
    assert jose.split(f"{header}.BB.BB").header == first == {"alg": "RS256", "kid": "k"}
    assert header in jose._parsed_headers


def test_a_refused_header_is_refused_every_time() -> None:
    header = b64url(b'{"alg": "RS256", "alg": "none"}')
    for _ in range(3):
        denial(jose.split, f"{header}.AA.AA")
    assert header not in jose._parsed_headers


def test_the_header_parse_cache_is_bounded() -> None:
    for number in range(jose._MAX_PARSED_HEADERS * 3):
        jose.split(f"{segment({'alg': 'RS256', 'n': number})}.AA.AA")
        assert len(jose._parsed_headers) <= jose._MAX_PARSED_HEADERS
    assert len(jose._parsed_headers) >= 1


# --------------------------------------------------------------------------------------------------
# signatures, with PyJWT's algorithm objects
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", SUPPORTED_ALGORITHMS)
def test_signatures_of_every_algorithm(algorithm: str) -> None:
    pair = KeyPair.generate(algorithm, kid="k")
    token = pair.token(scope="x")
    jws = jose.split(token)
    signature = jose.decode_segment(jws.signature_segment, "signature")
    assert jose.signature_is_valid(jws, signature, algorithm, pair.public_key)
    assert not jose.signature_is_valid(jws, signature[:-1] + bytes([signature[-1] ^ 1]), algorithm, pair.public_key)
    assert not jose.signature_is_valid(jws, signature[:-1], algorithm, pair.public_key)
    tampered = jws._replace(payload_segment=segment({"scope": "x y"}))
    assert not jose.signature_is_valid(tampered, signature, algorithm, pair.public_key)
    other = KeyPair.generate(algorithm, kid="k")
    assert not jose.signature_is_valid(jws, signature, algorithm, other.public_key)


def test_prepared_keys_are_reused_per_key_and_bounded() -> None:
    jose._prepared_keys.clear()
    pairs = [KeyPair.generate("ES256", kid=str(n)) for n in range(3)]
    public_keys = [pair.public_key for pair in pairs]  # KeyPair.public_key makes a new object each time
    for pair, public_key in [*zip(pairs, public_keys, strict=True)] * 2:
        jws = jose.split(pair.token())
        assert jose.signature_is_valid(jws, jose.decode_segment(jws.signature_segment, "s"), "ES256", public_key)
    assert len(jose._prepared_keys) == 3
    assert [entry[0] for entry in jose._prepared_keys.values()] == public_keys
    for number in range(jose._MAX_PREPARED_KEYS + 5):
        jose._prepared(jose._ALGORITHMS["ES256"], "ES256", KeyPair.generate("ES256", kid=str(number)).public_key)
        assert len(jose._prepared_keys) <= jose._MAX_PREPARED_KEYS


def test_a_prepared_key_is_never_used_for_another_key() -> None:
    # An id() can be reused once an object is freed; the entry keeps its key alive and is checked by identity.
    jose._prepared_keys.clear()
    first, second = KeyPair.generate("ES256", kid="1"), KeyPair.generate("ES256", kid="2")
    first_key, second_key = first.public_key, second.public_key
    jose._prepared_keys[(id(second_key), "ES256")] = (first_key, first_key)  # a stale entry under second's id
    jws = jose.split(first.token())
    signature = jose.decode_segment(jws.signature_segment, "s")
    assert not jose.signature_is_valid(jws, signature, "ES256", second_key)
    assert jose._prepared_keys[(id(second_key), "ES256")][0] is second_key


def test_a_key_of_the_wrong_curve_is_refused_by_prepare_key() -> None:
    import jwt

    p384 = KeyPair.generate("ES384", kid="k")
    jws = jose.split(KeyPair.generate("ES256", kid="k").token())
    with pytest.raises(jwt.InvalidKeyError):
        jose.signature_is_valid(jws, b"\x00" * 64, "ES256", p384.public_key)


@pytest.mark.parametrize(("header", "why"), [("AAAAA", "header has an impossible base64url length"),
                                             ("AB", "header is not canonical base64url")])
def test_a_broken_header_segment_is_named(header: str, why: str) -> None:
    assert denial(jose.split, f"{header}.AA.AA").detail == {"why": why}


def test_prepare_key_runs_once_per_key_and_algorithm(monkeypatch: pytest.MonkeyPatch) -> None:
    pair = KeyPair.generate("RS256", kid="k")
    public_key = pair.public_key
    jws = jose.split(pair.token())  # signing uses the same algorithm object: before the spy
    signature = jose.decode_segment(jws.signature_segment, "s")
    jose._prepared_keys.clear()
    verifier = jose._ALGORITHMS["RS256"]
    calls: list[object] = []
    real = verifier.prepare_key
    monkeypatch.setattr(verifier, "prepare_key", lambda key: calls.append(key) or real(key))
    for _ in range(3):
        assert jose.signature_is_valid(jws, signature, "RS256", public_key)
    assert calls == [public_key]
    other = pair.public_key  # an equal key, another object: prepared on its own
    assert jose.signature_is_valid(jws, signature, "RS256", other)
    assert calls == [public_key, other]
