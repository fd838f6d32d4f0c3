"""Unit tests for ``lambdaone.claims``: every reason the registered claims can give, at its boundaries."""

from __future__ import annotations

from typing import Any

import pytest

from lambdaone import claims
from lambdaone.claims import TimeClaims
from lambdaone.reasons import Denial, Reason

ISSUER = "https://issuer.example.test/"
AUDIENCES = ("https://api.example.test/a", "https://api.example.test/b")
NOW = 1_800_000_000.0
LEEWAY = 30.0


def good(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCES[0], "exp": int(NOW) + 300}
    base.update(changes)
    return {name: value for name, value in base.items() if value is not DROP}


DROP = object()


def check(payload: dict[str, Any], leeway: float = LEEWAY, now: float = NOW) -> TimeClaims:
    return claims.check_registered_claims(payload, issuer=ISSUER, audiences=AUDIENCES, leeway=leeway, now=now)


def reason_of(payload: dict[str, Any], **kwargs: Any) -> Denial:
    with pytest.raises(Denial) as caught:
        check(payload, **kwargs)
    return caught.value


def test_good_claims_give_their_times() -> None:
    assert check(good()) == TimeClaims(exp=int(NOW) + 300)
    assert check(good(nbf=int(NOW) - 5, iat=int(NOW) - 10)) == TimeClaims(int(NOW) + 300, int(NOW) - 5, int(NOW) - 10)
    assert check(good(exp=NOW + 300.9)).exp == int(NOW) + 300  # truncated, as PyJWT does


@pytest.mark.parametrize("name", ["exp", "iss", "aud"])
@pytest.mark.parametrize("value", [DROP, None])
def test_required_claims(name: str, value: Any) -> None:
    denial = reason_of(good(**{name: value}))
    assert denial.reason is Reason.MISSING_CLAIM
    assert denial.detail == {"error": "MissingRequiredClaimError", "claim": name}


def test_required_claims_are_reported_in_order() -> None:
    assert reason_of({"aud": None}).detail["claim"] == "exp"
    assert reason_of({"exp": 1, "aud": None}).detail["claim"] == "iss"


@pytest.mark.parametrize("aud", ["", [], 0, False, {}])
def test_an_empty_audience_is_missing(aud: Any) -> None:
    denial = reason_of(good(aud=aud))
    assert denial.reason is Reason.MISSING_CLAIM
    assert denial.detail == {"error": "MissingRequiredClaimError", "claim": "aud"}


@pytest.mark.parametrize("aud", [AUDIENCES[1], [AUDIENCES[0]], ["https://other.test", AUDIENCES[1]]])
def test_any_configured_audience_matches(aud: Any) -> None:
    check(good(aud=aud))


@pytest.mark.parametrize("aud", ["https://other.test", ["https://other.test"], AUDIENCES[0] + "/", 42,
                                 {"a": AUDIENCES[0]}, [AUDIENCES[0], 5], [[AUDIENCES[0]]], (AUDIENCES[0],)])
def test_other_audiences_are_wrong(aud: Any) -> None:
    denial = reason_of(good(aud=aud))
    assert denial.reason is Reason.WRONG_AUDIENCE
    if isinstance(aud, str) or (isinstance(aud, list) and all(isinstance(item, str) for item in aud)):
        assert denial.detail == {"error": "InvalidAudienceError"}
    else:
        assert denial.detail == {"error": "InvalidAudienceError", "why": "aud is not a string or an array of strings"}


@pytest.mark.parametrize("iss", [ISSUER.rstrip("/"), ISSUER + "/", ISSUER.upper(), 5, [ISSUER], {"iss": ISSUER}])
def test_the_issuer_must_be_exactly_the_configured_string(iss: Any) -> None:
    denial = reason_of(good(iss=iss))
    assert denial.reason is Reason.WRONG_ISSUER
    assert denial.detail == {"error": "InvalidIssuerError"}


def test_exp_boundary_with_leeway() -> None:
    assert reason_of(good(exp=int(NOW - LEEWAY))).reason is Reason.TOKEN_EXPIRED
    check(good(exp=int(NOW - LEEWAY) + 1))
    assert reason_of(good(exp=int(NOW)), leeway=0).reason is Reason.TOKEN_EXPIRED
    check(good(exp=int(NOW) + 1), leeway=0)


@pytest.mark.parametrize("name", ["nbf", "iat"])
def test_nbf_and_iat_boundary_with_leeway(name: str) -> None:
    check(good(**{name: int(NOW + LEEWAY)}))
    denial = reason_of(good(**{name: int(NOW + LEEWAY) + 1}))
    assert denial.reason is Reason.TOKEN_NOT_YET_VALID
    assert denial.detail == {"error": "ImmatureSignatureError", "claim": name}
    check(good(**{name: int(NOW)}), leeway=0)
    assert reason_of(good(**{name: int(NOW) + 1}), leeway=0).reason is Reason.TOKEN_NOT_YET_VALID


@pytest.mark.parametrize(("name", "reason"), [("exp", Reason.MALFORMED_TOKEN), ("nbf", Reason.MALFORMED_TOKEN),
                                              ("iat", Reason.INVALID_TOKEN)])
@pytest.mark.parametrize("value", ["1800000000", True, False, None, [1], {"t": 1}, float("inf"), float("nan"),
                                   float("-inf")])
def test_time_claims_must_be_finite_json_numbers(name: str, reason: Reason, value: Any) -> None:
    if name == "exp" and value is None:
        reason = Reason.MISSING_CLAIM  # a null exp is a missing one
    denial = reason_of(good(**{name: value}))
    assert denial.reason is reason
    if reason is not Reason.MISSING_CLAIM:
        assert denial.detail == {"error": "InvalidIssuedAtError" if name == "iat" else "DecodeError",
                                 "why": f"{name} is not a JSON number"}


def test_the_time_claims_are_checked_iat_then_nbf_then_exp() -> None:
    late = int(NOW) + 3600
    assert reason_of(good(iat="x", nbf="x", exp="x")).reason is Reason.INVALID_TOKEN
    assert reason_of(good(nbf="x", exp="x")).reason is Reason.MALFORMED_TOKEN
    assert reason_of(good(iat=late, nbf=late)).detail["claim"] == "iat"
    assert reason_of(good(nbf=late, exp=1)).reason is Reason.TOKEN_NOT_YET_VALID
    assert reason_of(good(exp=1, iss="x")).reason is Reason.TOKEN_EXPIRED
    assert reason_of(good(iss="x", aud="x")).reason is Reason.WRONG_ISSUER


@pytest.mark.parametrize("name", ["sub", "jti"])
def test_sub_and_jti_are_strings_when_present(name: str) -> None:
    check(good(**{name: "x"}))
    for value in (5, None, ["x"], {"x": 1}):
        denial = reason_of(good(**{name: value}))
        assert denial.reason is Reason.INVALID_TOKEN
        assert denial.detail == {"error": {"sub": "InvalidSubjectError", "jti": "InvalidJTIError"}[name],
                                 "why": f"{name} is not a string"}


@pytest.mark.parametrize(("value", "expected"), [(5, 5), (5.9, 5), (-1.5, -1), (0, 0), (10**30, 10**30),
                                                 (True, None), ("5", None), (None, None), (float("inf"), None)])
def test_numeric_date(value: Any, expected: int | None) -> None:
    assert claims.numeric_date(value) == expected


def test_check_times_alone() -> None:
    claims.check_times(TimeClaims(exp=int(NOW) + 1), leeway=0, now=NOW)
    with pytest.raises(Denial) as caught:
        claims.check_times(TimeClaims(exp=int(NOW)), leeway=0, now=NOW)
    assert caught.value.reason is Reason.TOKEN_EXPIRED
    assert caught.value.detail == {"error": "ExpiredSignatureError"}


@pytest.mark.parametrize(
    ("text", "words"),
    [("a b", {"a", "b"}), ("  a   b  ", {"a", "b"}), ("", set()), (" ", set()), ("a\tb", {"a\tb"}),
     ("a\u00a0b c", {"a\u00a0b", "c"}), ("a\nb", {"a\nb"}), ("a\x00 b", {"a\x00", "b"})],
)
def test_scopes_are_split_on_sp_only(text: str, words: set[str]) -> None:
    assert claims.granted_scopes({"scope": text}) == frozenset(words)
    assert claims.granted_scopes({"scp": text}) == frozenset(words)


def test_missing_scopes_names_them_in_order_and_caps_the_list() -> None:
    claims.missing_scopes(frozenset({"a", "b"}), ("a", "b"))
    with pytest.raises(Denial) as caught:
        claims.missing_scopes(frozenset({"b"}), ("c", "b", "a"))
    assert caught.value.detail == {"missing": ["c", "a"]}
    many = tuple(f"s{n}" for n in range(25))
    with pytest.raises(Denial) as caught:
        claims.missing_scopes(frozenset(), many)
    assert caught.value.detail == {"missing": list(many[:20])}
    assert caught.value.reason is Reason.INSUFFICIENT_SCOPE
