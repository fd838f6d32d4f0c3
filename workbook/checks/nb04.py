"""Checks for ``04_scopes_and_responses``: whole-word scopes from ``scope``/``scp``, and RFC 6750 challenges."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lambdaone.authz import Decision
from lambdaone.reasons import Reason
from lambdaone.responses import www_authenticate as reference_challenge
from workbook.checking import Case, check

GrantedScopes = Callable[[Mapping[str, Any]], Any]
WwwAuthenticate = Callable[..., Any]

WORDS_HINT = ("split the string on spaces (RFC 6749 §3.3: scope tokens are separated by SP only), drop the empty words, "
              "and compare whole words")
TAB_HINT = ("RFC 6749 §3.3 separates scope tokens by spaces only: a tab is part of a word, and str.split() with no "
            "argument splits on tabs and newlines too; use text.split(\" \") and drop the empty words")
# (name, claims, scopes granted, hint)
_SCOPE_CASES: tuple[tuple[str, dict[str, Any], set[str], str], ...] = (
    ("scope string (Auth0, RFC 9068)", {"scope": "treasure:read treasure:write"}, {"treasure:read", "treasure:write"},
     WORDS_HINT),
    ("scp array (Okta)", {"scp": ["treasure:read", "treasure:write"]}, {"treasure:read", "treasure:write"},
     "scp is usually a list of strings: add each one"),
    ("scp as a space-delimited string", {"scp": "treasure:read treasure:write"}, {"treasure:read", "treasure:write"},
     "some issuers send scp as a string: split it like scope"),
    ("both scope and scp", {"scope": "openid", "scp": ["treasure:read"]}, {"openid", "treasure:read"},
     "read both claims and combine them"),
    ("no scope claims", {"sub": "someone"}, set(), "a token without scope or scp grants nothing"),
    ("the substring trap: treasure:readwrite", {"scope": "treasure:readwrite"}, {"treasure:readwrite"},
     "treasure:read is NOT granted by treasure:readwrite: never use `in` on the string"),
    ("the prefix trap: treasure:read:all", {"scope": "treasure:read:all"}, {"treasure:read:all"}, WORDS_HINT),
    ("extra spaces", {"scope": "  treasure:read   treasure:write  "}, {"treasure:read", "treasure:write"},
     WORDS_HINT),
    ("a tab is not a separator", {"scope": "treasure:read\ttreasure:write treasure:list"},
     {"treasure:read\ttreasure:write", "treasure:list"}, TAB_HINT),
    ("empty scope string", {"scope": ""}, set(), "an empty string grants nothing (no empty scope name)"),
    ("a repeated scope", {"scope": "treasure:read treasure:read"}, {"treasure:read"}, "return a set"),
    ("hostile scp items", {"scp": ["treasure:read", 7, None, ["treasure:write"]]}, {"treasure:read"},
     "claims are attacker-controlled: keep only the str items of scp"),
    ("scope that is not a string", {"scope": ["treasure:read"]}, set(),
     "scope must be a string: anything else grants nothing"),
    ("scp that is a number", {"scp": 42}, set(), "scp must be a list or a string: anything else grants nothing"),
    ("scope null", {"scope": None}, set(), "None grants nothing"),
)


def check_granted_scopes(granted_scopes: GrantedScopes) -> None:
    """``granted_scopes(claims)``: the set of whole scope words in ``scope`` and ``scp``."""
    cases = [Case("returns a set", lambda: type(granted_scopes({"scope": "a b"})).__name__,
                  satisfies=lambda name: name in {"set", "frozenset"}, describe_expected="'set' (or 'frozenset')",
                  hint="return a set: membership tests are then whole-word by construction")]
    cases += [
        Case(name, (lambda claims=claims: granted_scopes(claims)), expected=granted, hint=hint)
        for name, claims, granted, hint in _SCOPE_CASES
    ]
    check("granted_scopes", cases)


# (name, status, required, token presented, the reason lambdaone uses for it)
_CHALLENGE_CASES: tuple[tuple[str, int, tuple[str, ...], bool, Reason], ...] = (
    ("401, no token presented", 401, ("treasure:read",), False, Reason.MISSING_TOKEN),
    ("401, a bad token", 401, ("treasure:read",), True, Reason.BAD_SIGNATURE),
    ("403, one scope missing", 403, ("treasure:read",), True, Reason.INSUFFICIENT_SCOPE),
    ("403, two scopes required", 403, ("treasure:read", "treasure:write"), True, Reason.INSUFFICIENT_SCOPE),
    ("403, the scopes in REQUIRE order", 403, ("treasure:write", "treasure:read"), True, Reason.INSUFFICIENT_SCOPE),
    ("400, a malformed Authorization header", 400, ("treasure:read",), True, Reason.MALFORMED_AUTHORIZATION),
    ("200, allowed", 200, ("treasure:read",), True, Reason.ALLOWED),
    ("500, configuration error", 500, ("treasure:read",), True, Reason.CONFIGURATION_ERROR),
    ("503, signing keys unavailable", 503, ("treasure:read",), True, Reason.SIGNING_KEYS_UNAVAILABLE),
)


def expected_challenge(reason: Reason, required: tuple[str, ...]) -> str | None:
    """What the reference Lambda sends: no challenge unless the status is 400, 401 or 403."""
    if reason.status not in {400, 401, 403}:
        return None
    return reference_challenge(Decision(reason, required_scopes=required))


def _challenge_hint(status: int, token_presented: bool) -> str:
    if status == 401 and not token_presented:
        return 'no credentials: just "Bearer", with no error code (RFC 6750 §3.1)'
    if status == 403:
        return 'Bearer error="insufficient_scope", scope="<the required scopes joined by spaces>"'
    if status in {400, 401}:
        return '400 is error="invalid_request", 401 with a token is error="invalid_token"'
    return "only 400, 401 and 403 carry a WWW-Authenticate challenge: return None otherwise"


ORDER_HINT = "keep the scopes in the order given (REQUIRE's order), joined by single spaces: never sort them"


def _explain_challenge(outcome: Any) -> str | None:
    if isinstance(outcome, str) and 'scope="' in outcome and "," in outcome.split('scope="', 1)[1]:
        return 'scope="..." lists the scopes separated by single spaces, never commas (RFC 6750 §3)'
    return None


def check_www_authenticate(www_authenticate: WwwAuthenticate) -> None:
    """``www_authenticate(status, required, token_presented)`` gives the RFC 6750 challenge (or None)."""
    cases = [
        Case(f"{name}: www_authenticate({status}, {list(required)}, token_presented={presented})",
             (lambda status=status, required=required, presented=presented:
              www_authenticate(status, list(required), token_presented=presented)),
             expected=expected_challenge(reason, required),
             hint=ORDER_HINT if "REQUIRE order" in name else _challenge_hint(status, presented),
             explain=_explain_challenge)
        for name, status, required, presented, reason in _CHALLENGE_CASES
    ]
    check("www_authenticate", cases)
