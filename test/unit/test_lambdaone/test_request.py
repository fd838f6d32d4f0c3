"""Unit tests for ``lambdaone.request``: finding the bearer token in every Lambda event shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lambdaone.reasons import Denial, Reason
from lambdaone.request import MAX_TOKEN_LENGTH, bearer_token, header_values
from workbook import events

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


def denial_reason(event: Any) -> Reason:
    with pytest.raises(Denial) as caught:
        bearer_token(event)
    return caught.value.reason


# --------------------------------------------------------------------------------------------------
# header_values across event shapes
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Authorization", "authorization", "AUTHORIZATION", "aUtHoRiZaTiOn"])
def test_rest_api_v1_header_names_match_in_any_case(name: str) -> None:
    event = events.rest_api_v1({name: f"Bearer {TOKEN}"})
    assert header_values(event, "authorization") == [f"Bearer {TOKEN}"]
    assert header_values(event, "AUTHORIZATION") == [f"Bearer {TOKEN}"]
    assert bearer_token(event) == TOKEN


@pytest.mark.parametrize("build", list(events.ALL_FORMATS.values()), ids=list(events.ALL_FORMATS))
def test_every_event_format_yields_the_token(build: Callable[..., dict[str, Any]]) -> None:
    event = build({"Authorization": f"Bearer {TOKEN}", "Accept": "*/*"})
    assert bearer_token(event) == TOKEN


@pytest.mark.parametrize("build", list(events.ALL_FORMATS.values()), ids=list(events.ALL_FORMATS))
def test_every_event_format_without_headers_has_no_token(build: Callable[..., dict[str, Any]]) -> None:
    event = build({"Accept": "*/*"})
    assert header_values(event, "authorization") == []
    assert bearer_token(event) is None


def test_rest_api_v1_sends_null_headers_when_there_are_none() -> None:
    event = events.rest_api_v1(None)
    assert event["headers"] is None and event["multiValueHeaders"] is None
    assert header_values(event, "authorization") == []
    assert bearer_token(event) is None


def test_multi_value_headers_win_over_headers() -> None:
    # REST API v1 and ALB mirror the last value in "headers"; "multiValueHeaders" has them all.
    event = {"headers": {"Authorization": "Bearer last"}, "multiValueHeaders": {"Authorization": ["Bearer first"]}}
    assert header_values(event, "authorization") == ["Bearer first"]


def test_headers_are_read_when_multi_value_headers_lack_the_name() -> None:
    event = {"headers": {"authorization": f"Bearer {TOKEN}"}, "multiValueHeaders": {"accept": ["*/*"]}}
    assert bearer_token(event) == TOKEN


def test_a_multi_value_entry_that_is_not_a_list_counts_as_one_value() -> None:
    event = {"multiValueHeaders": {"Authorization": f"Bearer {TOKEN}"}}
    assert header_values(event, "authorization") == [f"Bearer {TOKEN}"]


@pytest.mark.parametrize(
    "event",
    [{}, None, [], "Authorization: Bearer x", 42, {"headers": "Authorization: Bearer x"},
     {"headers": ["Authorization", "Bearer x"]}, {"multiValueHeaders": None, "headers": None},
     {"headers": {1: "Bearer x", None: "Bearer y"}}],
    ids=["empty", "none", "list", "str", "int", "headers-str", "headers-list", "both-null", "non-str-names"],
)
def test_events_without_readable_headers_have_no_token(event: Any) -> None:
    assert header_values(event, "authorization") == []
    assert bearer_token(event) is None


# --------------------------------------------------------------------------------------------------
# bearer_token: scheme and credentials
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER {TOKEN}", f"bEaReR {TOKEN}", f"Bearer   {TOKEN}",
     f"  Bearer {TOKEN}\t ", f"\tBearer {TOKEN}"],
)
def test_bearer_scheme_in_any_case_then_spaces(value: str) -> None:
    # Whitespace around the whole value is the HTTP field's optional whitespace (SP or HTAB).
    assert bearer_token(events.http_api_v2({"Authorization": value})) == TOKEN


@pytest.mark.parametrize(
    "separator", ["\t", " \t ", "\n", "\r\n", "\r", "\x0b", "\x0c", "\u00a0", "\u2003", "\x1f", " \n"],
    ids=["tab", "space_tab_space", "lf", "crlf", "cr", "vt", "ff", "nbsp", "em_space", "unit_separator",
         "space_lf"],
)
def test_only_spaces_may_separate_scheme_and_token(separator: str) -> None:
    """RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; any other whitespace there is a 400."""
    reason = denial_reason(events.http_api_v2({"Authorization": f"Bearer{separator}{TOKEN}"}))
    assert reason is Reason.MALFORMED_AUTHORIZATION


@pytest.mark.parametrize("value", [f"\nBearer {TOKEN}", f"\u00a0Bearer {TOKEN}", f"Bearer {TOKEN}\n"])
def test_other_whitespace_around_the_value_is_a_400(value: str) -> None:
    assert denial_reason(events.http_api_v2({"Authorization": value})) is Reason.MALFORMED_AUTHORIZATION


def test_b64token_padding_is_part_of_the_token() -> None:
    assert bearer_token(events.http_api_v2({"Authorization": "Bearer abc+/~_-.=="})) == "abc+/~_-.=="


@pytest.mark.parametrize("value", ["", "   ", "\t", "\n", "Basic dXNlcjpwYXNz", "Basic\tdXNlcjpwYXNz", "Digest username=x", "Token abc",
                                   f"Bearerx {TOKEN}", f"{TOKEN}"])
def test_no_bearer_credentials_means_no_token(value: str) -> None:
    assert bearer_token(events.http_api_v2({"Authorization": value})) is None


@pytest.mark.parametrize(
    "value",
    ["Bearer", "bearer ", "Bearer \t ",  # the scheme alone
     f"Bearer {TOKEN} {TOKEN}", f"Bearer {TOKEN}\t{TOKEN}", f"Bearer {TOKEN},{TOKEN}",  # two tokens
     "Bearer a=b", "Bearer tökén", "Bearer a\nb", 'Bearer "quoted"', "Bearer ===="],  # outside b64token
)
def test_malformed_bearer_credentials_are_a_400(value: str) -> None:
    reason = denial_reason(events.http_api_v2({"Authorization": value}))
    assert reason is Reason.MALFORMED_AUTHORIZATION
    assert reason.status == 400


@pytest.mark.parametrize("value", [None, 42, 4.2, ["Bearer x"], {"Bearer": "x"}, b"Bearer x"])
def test_non_text_header_values_are_malformed(value: Any) -> None:
    assert denial_reason({"headers": {"Authorization": value}}) is Reason.MALFORMED_AUTHORIZATION


# --------------------------------------------------------------------------------------------------
# Duplicates and size
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        {"headers": {"Authorization": f"Bearer {TOKEN}", "authorization": f"Bearer {TOKEN}"}},  # same value
        {"headers": {"Authorization": f"Bearer {TOKEN}", "AUTHORIZATION": "Bearer other"}},  # different case
        {"multiValueHeaders": {"Authorization": [f"Bearer {TOKEN}", f"Bearer {TOKEN}"]}},
        {"multiValueHeaders": {"authorization": [f"Bearer {TOKEN}", "Basic dXNlcjpwYXNz"]}},
        {"multiValueHeaders": {"Authorization": [f"Bearer {TOKEN}"], "authorization": ["Bearer other"]}},
    ],
    ids=["same-value", "different-case", "multi-value-same", "multi-value-basic", "multi-value-two-names"],
)
def test_two_authorization_headers_are_a_duplicate(event: dict[str, Any]) -> None:
    assert len(header_values(event, "authorization")) == 2
    reason = denial_reason(event)
    assert reason is Reason.DUPLICATE_AUTHORIZATION
    assert reason.status == 400


def test_rest_api_v1_mirrored_headers_are_not_a_duplicate() -> None:
    # The same header in both "headers" and "multiValueHeaders" is one header.
    assert bearer_token(events.rest_api_v1({"Authorization": f"Bearer {TOKEN}"})) == TOKEN


def test_a_token_of_the_maximum_length_is_accepted() -> None:
    token = "a" * MAX_TOKEN_LENGTH
    assert bearer_token(events.http_api_v2({"Authorization": f"Bearer {token}"})) == token


@pytest.mark.parametrize("length", [MAX_TOKEN_LENGTH + 1, 10 * MAX_TOKEN_LENGTH])
def test_an_oversized_token_is_refused_before_parsing(length: int) -> None:
    # Even characters outside b64token: the size check comes first, and reports the length only.
    event = events.http_api_v2({"Authorization": "Bearer " + "a\"" * (length // 2) + "a" * (length % 2)})
    with pytest.raises(Denial) as caught:
        bearer_token(event)
    assert caught.value.reason is Reason.TOKEN_TOO_LARGE
    assert caught.value.detail == {"length": length}


def test_denials_never_carry_the_header_value() -> None:
    secret = "c2VjcmV0LXRva2Vu"
    for value in [f"Bearer {secret} {secret}", f"Bearer {secret}!"]:
        with pytest.raises(Denial) as caught:
            bearer_token({"headers": {"authorization": value}})
        assert secret not in repr(caught.value.detail) and secret not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (42, "header value is not text"),
        ("\nBearer abc", "a line break or other whitespace before the scheme"),
        ("Bearer", "bearer scheme without a token"),
        ("Bearer   ", "bearer scheme without a token"),
        ("Bearer\tabc", "scheme and token not separated by spaces"),
        ("Bearer abc def", "more than one token or characters outside b64token"),
    ],
)
def test_each_malformed_header_says_why_in_the_log(value: Any, why: str) -> None:
    with pytest.raises(Denial) as caught:
        bearer_token({"headers": {"Authorization": value}})
    assert caught.value.reason is Reason.MALFORMED_AUTHORIZATION
    assert caught.value.detail == {"why": why}


@pytest.mark.parametrize("token", ["XXabc", "Xabc.X.X", "X"])
def test_a_token_is_returned_whole_whatever_it_starts_with(token: str) -> None:
    assert bearer_token({"headers": {"Authorization": f"Bearer  {token}"}}) == token


@pytest.mark.parametrize("place", ["headers", "multiValueHeaders"])
def test_header_names_that_are_not_text_are_skipped(place: str) -> None:
    value: Any = [f"Bearer {TOKEN}"] if place == "multiValueHeaders" else f"Bearer {TOKEN}"
    event = {place: {7: "x", None: "y", ("a",): "z", "authorizatioN": value, "x-authorization": "w"}}
    assert header_values(event, "authorization") == [f"Bearer {TOKEN}"]
    assert bearer_token(event) == TOKEN
