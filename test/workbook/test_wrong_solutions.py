"""A catalogue of wrong solutions: each plausible learner mistake must fail its check with a hint naming it.

Every exercise has at least five entries, security mistakes first (the algorithm taken from the header, ``exp``
not required, a huge leeway, a server on every interface, a token printed or logged, one import style patched, a
cache without cooldown, a zip for the wrong platform, ...). Each entry calls the check in ``workbook.checks``
directly with a wrong implementation, and asserts that the check fails (``CheckFailed``) and that its hint holds
the entry's key words. The right implementation of each exercise passes the same check (``test_the_reference``).
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import json
import math
import re
import socket
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import jwt
import pytest

from lambdaone.hello_world import hello
from workbook.checking import CheckFailed
from workbook.checks import nb00, nb01, nb02, nb03, nb04, nb05, nb06, nb07, nb08, nb09, nb10, nb11, nb13
from workbook.generate import SOLUTIONS
from workbook.selfcheck import exercise_name, is_check_cell
from workbook.tokens import AUDIENCE, ISSUER


@dataclass(frozen=True)
class Wrong:
    """One learner mistake: ``run`` calls the exercise's check with it; the hint must contain ``words``."""

    notebook: str
    exercise: str
    mistake: str
    run: Callable[[], None]
    words: tuple[str, ...]


CATALOGUE: list[Wrong] = []
REFERENCES: dict[tuple[str, str], Callable[[], None]] = {}


def mistake(notebook: str, exercise: str, *words: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Register a function that runs ``exercise``'s check with one wrong solution (its docstring names it)."""
    def register(run: Callable[[], None]) -> Callable[[], None]:
        CATALOGUE.append(Wrong(notebook, exercise, (run.__doc__ or run.__name__).strip(), run, words))
        return run
    return register


def reference(notebook: str, exercise: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    def register(run: Callable[[], None]) -> Callable[[], None]:
        REFERENCES[(notebook, exercise)] = run
        return run
    return register


# --- 00 · split_scopes ------------------------------------------------------------------------------------------

def split_right(text: str) -> list[str]:
    return list(dict.fromkeys(piece for piece in re.split(r"[,\s]+", text) if piece))


@reference("00", "split_scopes")
def _split_right() -> None:
    nb00.check_split_scopes(split_right)


@mistake("00", "split_scopes", "commas", "whitespace")
def _split_on_spaces() -> None:
    """text.split(" "): commas do not separate"""
    nb00.check_split_scopes(lambda text: [piece for piece in text.split(" ") if piece])


@mistake("00", "split_scopes", "commas", "whitespace")
def _split_on_commas() -> None:
    """text.split(","): spaces do not separate"""
    nb00.check_split_scopes(lambda text: [piece.strip() for piece in text.split(",") if piece.strip()])


@mistake("00", "split_scopes", "empty")
def _split_keeps_empties() -> None:
    """re.split without dropping the empty pieces"""
    nb00.check_split_scopes(lambda text: list(dict.fromkeys(re.split(r"[,\s]+", text))))


@mistake("00", "split_scopes", "once", "first place")
def _split_keeps_repeats() -> None:
    """repeated scopes kept"""
    nb00.check_split_scopes(lambda text: [piece for piece in re.split(r"[,\s]+", text) if piece])


@mistake("00", "split_scopes", "once", "first place")
def _split_sorted_set() -> None:
    """sorted(set(...)): repeats gone, but the order lost"""
    nb00.check_split_scopes(lambda text: sorted({piece for piece in re.split(r"[,\s]+", text) if piece}))


@mistake("00", "split_scopes", "case-sensitive")
def _split_lower_cased() -> None:
    """scope names lower-cased"""
    nb00.check_split_scopes(lambda text: split_right(text.lower()))


@mistake("00", "split_scopes", "list", "tuple")
def _split_returns_tuple() -> None:
    """returns a tuple"""
    nb00.check_split_scopes(lambda text: tuple(split_right(text)))


# --- 01 · hello_handler -----------------------------------------------------------------------------------------

def hello_response() -> dict[str, Any]:
    return {"statusCode": 200, "headers": {"Content-Type": "text/plain; charset=utf-8"}, "body": hello(),
            "isBase64Encoded": False}


@reference("01", "hello_handler")
def _hello_right() -> None:
    nb01.check_hello_handler(lambda event, context: hello_response())


@mistake("01", "hello_handler", "event['headers']")
def _hello_reads_headers() -> None:
    """event["headers"]["Accept"] read: missing with aws lambda invoke, null in REST API v1"""
    def handler(event: Any, context: Any) -> dict[str, Any]:
        event["headers"]["Accept"]
        return hello_response()
    nb01.check_hello_handler(handler)


@mistake("01", "hello_handler", "context.aws_request_id", "None")
def _hello_reads_request_id() -> None:
    """context.aws_request_id read: context is None in local runs"""
    def handler(event: Any, context: Any) -> dict[str, Any]:
        return {**hello_response(), "headers": {"Content-Type": "text/plain", "X-Request-Id": context.aws_request_id}}
    nb01.check_hello_handler(handler)


@mistake("01", "hello_handler", "never print", "token")
def _hello_prints_event() -> None:
    """print(event): the Authorization header (the token) goes to the logs"""
    def handler(event: Any, context: Any) -> dict[str, Any]:
        print("event:", event)
        return hello_response()
    nb01.check_hello_handler(handler)


@mistake("01", "hello_handler", "never print", "token")
def _hello_logs_event() -> None:
    """logging.info(event): the token in the logs, whatever the level configured"""
    import logging

    def handler(event: Any, context: Any) -> dict[str, Any]:
        logging.getLogger("learner").info("event %s", event)
        return hello_response()
    nb01.check_hello_handler(handler)


@mistake("01", "hello_handler", "return a dict")
def _hello_returns_string() -> None:
    """returns the bare string"""
    nb01.check_hello_handler(lambda event, context: hello())


@mistake("01", "hello_handler", "int")
def _hello_status_string() -> None:
    """statusCode "200", a string"""
    nb01.check_hello_handler(lambda event, context: {**hello_response(), "statusCode": "200"})


@mistake("01", "hello_handler", "content-type")
def _hello_no_content_type() -> None:
    """no Content-Type header"""
    nb01.check_hello_handler(lambda event, context: {**hello_response(), "headers": {}})


@mistake("01", "hello_handler", "hello()")
def _hello_json_body() -> None:
    """the body JSON-encoded"""
    import json
    nb01.check_hello_handler(lambda event, context: {**hello_response(), "body": json.dumps(hello())})


@mistake("01", "hello_handler", "base64")
def _hello_base64_flag() -> None:
    """isBase64Encoded True"""
    nb01.check_hello_handler(lambda event, context: {**hello_response(), "isBase64Encoded": True})


# --- 02 · mint_token --------------------------------------------------------------------------------------------

def minted(private_key: Any, kid: str, scopes: list[str], lifetime: int, *, claims: dict[str, Any] | None = None,
           drop: tuple[str, ...] = (), algorithm: str = "RS256", headers: dict[str, Any] | None = None) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "learner@example.test", "iat": now, "exp": now + lifetime,
               "scope": " ".join(scopes), **(claims or {})}
    payload = {name: value for name, value in payload.items() if name not in drop}
    return jwt.encode(payload, private_key, algorithm=algorithm,
                      headers={"kid": kid, "typ": "at+jwt"} if headers is None else headers)


@reference("02", "mint_token")
def _mint_right() -> None:
    nb02.check_mint_token(minted)


@mistake("02", "mint_token", "exp", "never expires")
def _mint_without_exp() -> None:
    """no exp claim: the token is valid forever"""
    nb02.check_mint_token(lambda key, kid, scopes, lifetime: minted(key, kid, scopes, lifetime, drop=("exp",)))


@mistake("02", "mint_token", "aud")
def _mint_without_aud() -> None:
    """no aud claim: any API would accept it"""
    nb02.check_mint_token(lambda key, kid, scopes, lifetime: minted(key, kid, scopes, lifetime, drop=("aud",)))


@mistake("02", "mint_token", "exp = iat + lifetime")
def _mint_exp_is_lifetime() -> None:
    """exp = lifetime, not iat + lifetime"""
    nb02.check_mint_token(lambda key, kid, scopes, lifetime: minted(key, kid, scopes, lifetime,
                                                                    claims={"exp": lifetime}))


@mistake("02", "mint_token", "milliseconds")
def _mint_iat_in_milliseconds() -> None:
    """iat in milliseconds"""
    def mint(key: Any, kid: str, scopes: list[str], lifetime: int) -> str:
        now = int(time.time() * 1000)
        return minted(key, kid, scopes, lifetime, claims={"iat": now, "exp": now + lifetime})
    nb02.check_mint_token(mint)


@mistake("02", "mint_token", "RS256")
def _mint_wrong_algorithm() -> None:
    """RS512 instead of RS256"""
    nb02.check_mint_token(lambda key, kid, scopes, lifetime: minted(key, kid, scopes, lifetime, algorithm="RS512"))


@mistake("02", "mint_token", "at+jwt")
def _mint_without_typ() -> None:
    """no typ header"""
    nb02.check_mint_token(lambda key, kid, scopes, lifetime: minted(key, kid, scopes, lifetime, headers={"kid": kid}))


@mistake("02", "mint_token", "kid")
def _mint_without_kid() -> None:
    """no kid header"""
    nb02.check_mint_token(lambda key, kid, scopes, lifetime: minted(key, kid, scopes, lifetime,
                                                                    headers={"typ": "at+jwt"}))


@mistake("02", "mint_token", "ONE string")
def _mint_scope_list() -> None:
    """scope as a list"""
    nb02.check_mint_token(lambda key, kid, scopes, lifetime: minted(key, kid, scopes, lifetime,
                                                                    claims={"scope": scopes}))


@mistake("02", "mint_token", "private key you were given")
def _mint_own_key() -> None:
    """signed with a key of its own"""
    from workbook.tokens import KeyPair
    own = KeyPair.generate("RS256", kid="own")
    nb02.check_mint_token(lambda key, kid, scopes, lifetime: minted(own.private_key, kid, scopes, lifetime))


@mistake("02", "mint_token", "lifetime")
def _mint_fixed_lifetime() -> None:
    """a fixed lifetime of 300 s, whatever was asked"""
    nb02.check_mint_token(lambda key, kid, scopes, lifetime: minted(key, kid, scopes, 300))


# --- 03 · accepts_valid_token and refuses_forgeries -------------------------------------------------------------

def verify_with(**options: Any) -> Callable[[str, bytes], Any]:
    """jwt.decode with the right arguments, any of them overridden by ``options``."""
    def verify(token: str, public_pem: bytes) -> Any:
        arguments: dict[str, Any] = {"algorithms": ["RS256"], "audience": AUDIENCE, "issuer": ISSUER,
                                     "options": {"require": ["exp", "iss", "aud"]}}
        arguments.update(options)
        return jwt.decode(token, public_pem, **arguments)
    return verify


def header_algorithm(token: str, public_pem: bytes) -> Any:
    algorithm = jwt.get_unverified_header(token).get("alg")
    return verify_with(algorithms=[algorithm])(token, public_pem)


@reference("03", "accepts_valid_token")
def _accepts_right() -> None:
    nb03.check_accepts_valid_token(verify_with())


@reference("03", "refuses_forgeries")
def _refuses_right() -> None:
    nb03.check_refuses_forgeries(verify_with())


@mistake("03", "accepts_valid_token", "audience=AUDIENCE")
def _accepts_no_audience() -> None:
    """no audience passed: PyJWT refuses every token that has aud"""
    nb03.check_accepts_valid_token(verify_with(audience=None))


@mistake("03", "accepts_valid_token", "issuer=ISSUER")
def _accepts_wrong_issuer() -> None:
    """the issuer without its trailing slash"""
    nb03.check_accepts_valid_token(verify_with(issuer=ISSUER.rstrip("/")))


@mistake("03", "accepts_valid_token", "scope", "may be absent")
def _accepts_requires_scope() -> None:
    """scope required at verification (scopes are checked later)"""
    nb03.check_accepts_valid_token(verify_with(options={"require": ["exp", "iss", "aud", "scope"]}))


@mistake("03", "accepts_valid_token", "RS256")
def _accepts_wrong_algorithm() -> None:
    """algorithms=["HS256"]"""
    nb03.check_accepts_valid_token(verify_with(algorithms=["HS256"]))


@mistake("03", "accepts_valid_token", "jwt.decode returns")
def _accepts_returns_true() -> None:
    """returns True instead of the claims"""
    nb03.check_accepts_valid_token(lambda token, pem: verify_with()(token, pem) is not None)


@mistake("03", "accepts_valid_token", "exp and nbf", "leeway")
def _accepts_negative_leeway() -> None:
    """a negative leeway: fresh tokens look expired"""
    nb03.check_accepts_valid_token(verify_with(leeway=-3600))


@mistake("03", "refuses_forgeries", "header's alg")
def _refuses_algorithm_from_header() -> None:
    """algorithms taken from the token's own header"""
    nb03.check_refuses_forgeries(header_algorithm)


@mistake("03", "refuses_forgeries", "RS256 only", "HMAC")
def _refuses_hmac_allowed() -> None:
    """HS256 allowed beside RS256"""
    nb03.check_refuses_forgeries(verify_with(algorithms=["RS256", "HS256"]))


@mistake("03", "refuses_forgeries", "allow-list", "header")
def _refuses_every_rsa_algorithm() -> None:
    """every RSA algorithm allowed (RS256, RS512, PS256)"""
    nb03.check_refuses_forgeries(verify_with(algorithms=["RS256", "RS512", "PS256"]))


@mistake("03", "refuses_forgeries", "require", "exp")
def _refuses_exp_not_required() -> None:
    """exp not required: a token without exp is valid forever"""
    nb03.check_refuses_forgeries(verify_with(options={"require": ["iss", "aud"]}))


@mistake("03", "refuses_forgeries", "leeway", "never minutes")
def _refuses_huge_leeway() -> None:
    """a leeway of an hour: expired tokens accepted"""
    nb03.check_refuses_forgeries(verify_with(leeway=3600))


@mistake("03", "refuses_forgeries", "exp", "verification on")
def _refuses_exp_off() -> None:
    """verify_exp turned off"""
    nb03.check_refuses_forgeries(verify_with(options={"require": ["exp", "iss", "aud"], "verify_exp": False}))


@mistake("03", "refuses_forgeries", "signature verification")
def _refuses_signature_off() -> None:
    """verify_signature turned off"""
    nb03.check_refuses_forgeries(verify_with(options={"verify_signature": False, "verify_exp": True,
                                                      "verify_aud": True, "verify_iss": True,
                                                      "require": ["exp", "iss", "aud"]}))


@mistake("03", "refuses_forgeries", "do not catch", "None")
def _refuses_returns_none() -> None:
    """the error caught, None returned"""
    def verify(token: str, public_pem: bytes) -> Any:
        try:
            return verify_with()(token, public_pem)
        except jwt.InvalidTokenError:
            return None
    nb03.check_refuses_forgeries(verify)


@mistake("03", "refuses_forgeries", "do not catch", "False")
def _refuses_returns_false() -> None:
    """every error caught, False returned"""
    def verify(token: str, public_pem: bytes) -> Any:
        try:
            return verify_with()(token, public_pem)
        except Exception:
            return False
    nb03.check_refuses_forgeries(verify)


@mistake("03", "refuses_forgeries", "audience=AUDIENCE")
def _refuses_audience_off() -> None:
    """verify_aud turned off"""
    nb03.check_refuses_forgeries(verify_with(options={"require": ["exp", "iss"], "verify_aud": False}))


@mistake("03", "refuses_forgeries", "issuer=ISSUER")
def _refuses_no_issuer() -> None:
    """no issuer passed"""
    nb03.check_refuses_forgeries(verify_with(issuer=None, options={"require": ["exp", "aud"]}))


# --- 04 · granted_scopes and www_authenticate -------------------------------------------------------------------

def granted_right(claims: Any) -> set[str]:
    granted: set[str] = set()
    scope = claims.get("scope")
    if isinstance(scope, str):
        granted.update(word for word in scope.split(" ") if word)
    scp = claims.get("scp")
    if isinstance(scp, str):
        granted.update(word for word in scp.split(" ") if word)
    elif isinstance(scp, list):
        granted.update(item for item in scp if isinstance(item, str))
    return granted


@reference("04", "granted_scopes")
def _granted_right() -> None:
    nb04.check_granted_scopes(granted_right)


@mistake("04", "granted_scopes", "a tab is part of a word", "str.split()")
def _granted_split_on_any_whitespace() -> None:
    """scope.split() with no argument: a tab, which RFC 6749 keeps inside a word, separates"""
    nb04.check_granted_scopes(lambda claims: {*granted_right({"scp": claims.get("scp")}),
                                              *(claims["scope"].split() if isinstance(claims.get("scope"), str)
                                                else ())})


@mistake("04", "granted_scopes", "drop the empty words")
def _granted_split_on_one_space() -> None:
    """scope.split(" "): extra whitespace gives empty scope names"""
    nb04.check_granted_scopes(lambda claims: {*granted_right({"scp": claims.get("scp")}),
                                              *(claims["scope"].split(" ") if isinstance(claims.get("scope"), str)
                                                else ())})


@mistake("04", "granted_scopes", "scp")
def _granted_ignores_scp() -> None:
    """scp ignored (Okta's tokens)"""
    nb04.check_granted_scopes(lambda claims: granted_right({"scope": claims.get("scope")}))


@mistake("04", "granted_scopes", "scp as a string", "split")
def _granted_scp_string_as_list() -> None:
    """scp as a string taken as a list of characters"""
    def granted(claims: Any) -> set[str]:
        result = granted_right({"scope": claims.get("scope")})
        scp = claims.get("scp")
        if isinstance(scp, (list, str)):
            result.update(item for item in scp if isinstance(item, str))
        return result
    nb04.check_granted_scopes(granted)


@mistake("04", "granted_scopes", "str items")
def _granted_trusts_scp_items() -> None:
    """every scp item trusted (attacker-controlled claims)"""
    def granted(claims: Any) -> set[str]:
        scp = claims.get("scp")
        return granted_right({**claims, "scp": None}) | (set(scp) if isinstance(scp, list) else
                                                         granted_right({"scp": scp}))
    nb04.check_granted_scopes(granted)


@mistake("04", "granted_scopes", "scope must be a string")
def _granted_trusts_scope_type() -> None:
    """scope of any type split (a list in scope)"""
    def granted(claims: Any) -> set[str]:
        scope = claims.get("scope")
        return granted_right({"scp": claims.get("scp")}) | (set(scope) if isinstance(scope, list) else
                                                             set(scope.split(" ")) - {""} if isinstance(scope, str) else set())
    nb04.check_granted_scopes(granted)


@mistake("04", "granted_scopes", "return a set")
def _granted_returns_list() -> None:
    """returns a list"""
    nb04.check_granted_scopes(lambda claims: sorted(granted_right(claims)))


def challenge_right(status: int, required: list[str], token_presented: bool = True) -> str | None:
    if status == 401:
        return 'Bearer error="invalid_token"' if token_presented else "Bearer"
    if status == 400:
        return 'Bearer error="invalid_request"'
    if status == 403:
        return f'Bearer error="insufficient_scope", scope="{" ".join(required)}"'
    return None


@reference("04", "www_authenticate")
def _challenge_right() -> None:
    nb04.check_www_authenticate(challenge_right)


@mistake("04", "www_authenticate", "no credentials", "no error code")
def _challenge_invalid_token_without_token() -> None:
    """error="invalid_token" when no token was presented"""
    nb04.check_www_authenticate(lambda status, required, token_presented=True:
                                challenge_right(status, required, True))


@mistake("04", "www_authenticate", "insufficient_scope", "scope=")
def _challenge_403_without_scope() -> None:
    """403 without the scope parameter"""
    nb04.check_www_authenticate(lambda status, required, token_presented=True:
                                'Bearer error="insufficient_scope"' if status == 403
                                else challenge_right(status, required, token_presented))


@mistake("04", "www_authenticate", "order", "never sort")
def _challenge_sorted_scopes() -> None:
    """the required scopes sorted"""
    nb04.check_www_authenticate(lambda status, required, token_presented=True:
                                challenge_right(status, sorted(required), token_presented))


@mistake("04", "www_authenticate", "never commas")
def _challenge_comma_scopes() -> None:
    """the required scopes joined with commas"""
    nb04.check_www_authenticate(lambda status, required, token_presented=True:
                                f'Bearer error="insufficient_scope", scope="{",".join(required)}"' if status == 403
                                else challenge_right(status, required, token_presented))


@mistake("04", "www_authenticate", "invalid_request")
def _challenge_400_invalid_token() -> None:
    """400 answered as invalid_token"""
    nb04.check_www_authenticate(lambda status, required, token_presented=True:
                                challenge_right(401 if status == 400 else status, required, token_presented))


@mistake("04", "www_authenticate", "only 400, 401 and 403")
def _challenge_on_every_status() -> None:
    """a challenge on 500 and 503 too"""
    nb04.check_www_authenticate(lambda status, required, token_presented=True:
                                challenge_right(status, required, token_presented) or 'Bearer error="invalid_token"')


# --- 05 to 13: the solution notebooks' own code, with one mistake put in ---------------------------------------
# The right implementation is the solution cell itself (``### BEGIN SOLUTION`` kept), run in a namespace holding
# what the notebooks import; a wrong one replaces a piece of it, which must be there (the test says so if not).

NAMESPACE: dict[str, Any] = {
    "json": json, "re": re, "copy": copy, "math": math, "time": time, "zipfile": zipfile, "importlib": importlib,
    "contextlib": contextlib, "mock": mock, "threading": threading, "BaseHTTPRequestHandler": BaseHTTPRequestHandler,
    "HTTPServer": HTTPServer, "ThreadingHTTPServer": ThreadingHTTPServer, "urlsplit": urlsplit, "jwt": jwt,
}


def solution_cell(notebook: str, defines: str) -> str:
    """The source of the solution cell of notebook ``notebook`` that defines ``defines``."""
    import nbformat
    (path,) = SOLUTIONS.glob(f"{notebook}_*.ipynb")
    cells = [cell.source for cell in nbformat.read(path, as_version=4).cells
             if cell.cell_type == "code" and "### BEGIN SOLUTION" in cell.source and defines in cell.source]
    assert len(cells) == 1, f"{path.name}: {len(cells)} solution cells define {defines}"
    return cells[0]


def built(notebook: str, name: str, *replacements: tuple[str, str], also: str = "") -> Any:
    """``name`` from the solution cell defining ``def name`` (or ``class name``), each (old, new) replaced."""
    source = solution_cell(notebook, f" {name}")
    for old, new in replacements:
        assert old in source, f"notebook {notebook}: the solution no longer contains {old!r}"
        source = source.replace(old, new)
    namespace = dict(NAMESPACE)
    exec(compile(source, f"<solution {notebook} with a mistake>", "exec"), namespace)  # noqa: S102 (our own code)
    return namespace[name] if not also else (namespace[name], namespace[also])


# 05 · KeyCache

@reference("05", "key_cache")
def _cache_right() -> None:
    nb05.check_key_cache(built("05", "KeyCache"))


@mistake("05", "key_cache", "cooldown")
def _cache_without_cooldown() -> None:
    """no cooldown: every unknown kid refetches (a flood of random kids hammers the issuer)"""
    nb05.check_key_cache(built("05", "KeyCache", ("if key is None and now >= self._quiet_until:", "if key is None:")))


@mistake("05", "key_cache", "routine fetch")
def _cache_cooldown_at_every_fetch() -> None:
    """the cooldown started at every fetch (PyJWT's default): a freshly rotated key is refused"""
    nb05.check_key_cache(built("05", "KeyCache", ("        self._fetched_at = now\n",
                                                  "        self._fetched_at = now\n"
                                                  "        self._quiet_until = now + self.cooldown\n")))


@mistake("05", "key_cache", "lifetime")
def _cache_never_expires() -> None:
    """keys kept forever: a removed key stays trusted"""
    nb05.check_key_cache(built("05", "KeyCache", ("if now - self._fetched_at >= self.lifetime:",
                                                  "if self._fetched_at == -math.inf:")))


@mistake("05", "key_cache", "time.monotonic")
def _cache_ignores_the_clock() -> None:
    """time.monotonic() instead of the clock given"""
    nb05.check_key_cache(built("05", "KeyCache", ("now = self._clock()", "now = time.monotonic()")))


@mistake("05", "key_cache", "fetch once more")
def _cache_no_refetch() -> None:
    """no refetch for an unknown kid: a rotated key is refused until the lifetime ends"""
    nb05.check_key_cache(built("05", "KeyCache", ("if key is None and now >= self._quiet_until:", "if False:")))


@mistake("05", "key_cache", "do not raise")
def _cache_raises_for_unknown_kid() -> None:
    """KeyError for an unknown kid"""
    nb05.check_key_cache(built("05", "KeyCache", ("        return key\n",
                                                  "        if key is None:\n            raise KeyError(kid)\n"
                                                  "        return key\n")))


@mistake("05", "key_cache", "just fetched")
def _cache_fetches_twice() -> None:
    """a cold lookup of an unknown kid fetches twice"""
    nb05.check_key_cache(built("05", "KeyCache", (
        "            return self._keys.get(kid)  # just fetched: a refetch would bring the same document\n", "")))


@mistake("05", "key_cache", "lifetime")
def _cache_fetches_every_time() -> None:
    """no cache at all: a fetch per lookup"""
    nb05.check_key_cache(built("05", "KeyCache", ("if now - self._fetched_at >= self.lifetime:", "if True:")))


# 06 · patched_pyjwkclient

PATCH_BOTH = 'mock.patch("jwt.PyJWKClient", fake), mock.patch("jwt.jwks_client.PyJWKClient", fake)'
RELOAD_INSIDE = "            importlib.reload(module)  # names copied at import time now copy the fake\n"
RELOAD_AFTER = "        importlib.reload(module)  # the patches are undone: copy the real class back\n"


@reference("06", "patched_pyjwkclient")
def _patch_right() -> None:
    nb06.check_patched_pyjwkclient(built("06", "patched_pyjwkclient"))


@mistake("06", "patched_pyjwkclient", "both", "jwt.jwks_client.PyJWKClient")
def _patch_one_import_style() -> None:
    """only jwt.PyJWKClient patched: code that imports jwt.jwks_client.PyJWKClient still fetches"""
    nb06.check_patched_pyjwkclient(built("06", "patched_pyjwkclient", (PATCH_BOTH, 'mock.patch("jwt.PyJWKClient", fake)')))


@mistake("06", "patched_pyjwkclient", "both", "jwt.PyJWKClient")
def _patch_submodule_only() -> None:
    """only jwt.jwks_client.PyJWKClient patched"""
    nb06.check_patched_pyjwkclient(built("06", "patched_pyjwkclient",
                                         (PATCH_BOTH, 'mock.patch("jwt.jwks_client.PyJWKClient", fake)')))


@mistake("06", "patched_pyjwkclient", "reload")
def _patch_without_reload() -> None:
    """no reload while patched: `from jwt import PyJWKClient` keeps the real class"""
    nb06.check_patched_pyjwkclient(built("06", "patched_pyjwkclient", (RELOAD_INSIDE, "")))


@mistake("06", "patched_pyjwkclient", "reload the module again")
def _patch_without_reload_after() -> None:
    """no reload after the block: the module keeps the fake"""
    nb06.check_patched_pyjwkclient(built("06", "patched_pyjwkclient", (RELOAD_AFTER, "        pass\n")))


@mistake("06", "patched_pyjwkclient", "finally")
def _patch_without_finally() -> None:
    """no try/finally: an exception in the block leaves the fake in place"""
    nb06.check_patched_pyjwkclient(built("06", "patched_pyjwkclient", (
        "    try:\n        with", "    if True:\n        with"), ("    finally:\n", "    if True:\n")))


@mistake("06", "patched_pyjwkclient", "do not catch")
def _patch_swallows_errors() -> None:
    """the exception raised in the block swallowed"""
    nb06.check_patched_pyjwkclient(built("06", "patched_pyjwkclient", (
        "            yield module\n", "            try:\n                yield module\n"
                                      "            except Exception:\n                pass\n")))


@mistake("06", "patched_pyjwkclient", "after")
def _patch_reload_while_patched() -> None:
    """the second reload while the patches are still active"""
    nb06.check_patched_pyjwkclient(built("06", "patched_pyjwkclient", (
        "            yield module\n", "            try:\n                yield module\n"
                                      "            finally:\n                importlib.reload(module)\n"),
        (RELOAD_AFTER, "        pass\n")))


# 07 · start_jwks_server and stop

def check_07(*replacements: tuple[str, str]) -> None:
    start, stop = built("07", "start_jwks_server", *replacements, also="stop")
    nb07.check_jwks_server(start, stop)


LOOPBACK = 'ThreadingHTTPServer(("127.0.0.1", 0), Handler)'
URL = 'return server, f"http://{host}:{port}/.well-known/jwks.json"'
LOOPBACK_URL = 'return server, f"http://127.0.0.1:{port}/.well-known/jwks.json"'


@reference("07", "jwks_server")
def _server_right() -> None:
    check_07()


@mistake("07", "jwks_server", "every interface")
def _server_on_every_interface() -> None:
    """bound to ("", 0), every interface, returning a 127.0.0.1 URL"""
    check_07((LOOPBACK, 'ThreadingHTTPServer(("", 0), Handler)'), (URL, LOOPBACK_URL))


@mistake("07", "jwks_server", "every interface")
def _server_on_all_addresses() -> None:
    """bound to 0.0.0.0, returning a 127.0.0.1 URL"""
    check_07((LOOPBACK, 'ThreadingHTTPServer(("0.0.0.0", 0), Handler)'), (URL, LOOPBACK_URL))  # noqa: S104


@mistake("07", "jwks_server", "127.0.0.1")
def _server_localhost_url() -> None:
    """a localhost URL (may resolve to ::1 first)"""
    check_07((URL, 'return server, f"http://localhost:{port}/.well-known/jwks.json"'))


@mistake("07", "jwks_server", "port 0")
def _server_fixed_port() -> None:
    """a fixed port: the second server cannot start ("Address already in use")"""
    check_07((LOOPBACK, f'ThreadingHTTPServer(("127.0.0.1", {free_port()}), Handler)'))


@mistake("07", "jwks_server", "log_message")
def _server_logs_requests() -> None:
    """http.server's request lines left on: they land in other cells"""
    check_07(("        def log_message(self, format, *args):\n            pass\n", ""))


@mistake("07", "jwks_server", "daemon=True")
def _server_non_daemon_thread() -> None:
    """a non-daemon thread: the kernel cannot exit while it runs"""
    check_07(("threading.Thread(target=server.serve_forever, daemon=True)",
              "threading.Thread(target=server.serve_forever, daemon=False)"))


@mistake("07", "jwks_server", "server_close")
def _server_not_closed() -> None:
    """stop without server_close(): the port stays bound"""
    check_07(("    server.server_close()\n", ""))


@mistake("07", "jwks_server", "Content-Type")
def _server_text_plain() -> None:
    """Content-Type text/plain"""
    check_07(('self.send_header("Content-Type", "application/json")', 'self.send_header("Content-Type", "text/plain")'))


@mistake("07", "jwks_server", "each server")
def _server_one_document_for_all() -> None:
    """one module-level document for every server"""
    check_07(("    body = json.dumps(document).encode()\n",
              "    global BODY\n    BODY = json.dumps(document).encode()\n"),
             ("str(len(body))", "str(len(BODY))"), ("self.wfile.write(body)", "self.wfile.write(BODY)"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# 08 · choose_issuer

def check_choose(*replacements: tuple[str, str]) -> None:
    nb08.check_choose_issuer(built("08", "choose_issuer", *replacements))


@reference("08", "choose_issuer")
def _choose_right() -> None:
    check_choose()


@mistake("08", "choose_issuer", "rstrip('/')", "exactly")
def _choose_without_trailing_slash() -> None:
    """both sides compared without their trailing slash"""
    check_choose(("if issuer == claimed", 'if issuer.rstrip("/") == claimed.rstrip("/")'))


@mistake("08", "choose_issuer", "lower", "exactly")
def _choose_case_insensitive() -> None:
    """issuers compared case-insensitively"""
    check_choose(("if issuer == claimed", "if issuer.lower() == claimed.lower()"))


@mistake("08", "choose_issuer", "startswith")
def _choose_by_prefix() -> None:
    """the claim accepted when it starts with a configured issuer"""
    check_choose(("if issuer == claimed", "if claimed.startswith(issuer)"))


@mistake("08", "choose_issuer", "in on a string")
def _choose_by_substring() -> None:
    """the claim accepted when a configured issuer contains it"""
    check_choose(("if issuer == claimed", "if claimed in issuer"))


@mistake("08", "choose_issuer", "strip")
def _choose_stripped() -> None:
    """spaces around the claim stripped"""
    check_choose(("if issuer == claimed", "if issuer == claimed.strip()"))


@mistake("08", "choose_issuer", "not a string")
def _choose_any_type() -> None:
    """iss used whatever its type (a set lookup: a list is unhashable)"""
    check_choose(("    if not isinstance(claimed, str):\n        return None\n", ""),
                 ("return next((issuer for issuer in issuers if issuer == claimed), None)",
                  "return claimed if claimed in set(issuers) else None"))


@mistake("08", "choose_issuer", "never raise", "InvalidTokenError")
def _choose_raises_on_garbage() -> None:
    """no try: a token that is not a JWT raises"""
    check_choose(("except jwt.InvalidTokenError:", "except KeyError:"))


@mistake("08", "choose_issuer", "never a default")
def _choose_first_by_default() -> None:
    """the first configured issuer when the claimed one is not configured"""
    check_choose(("return next((issuer for issuer in issuers if issuer == claimed), None)",
                  "return next((issuer for issuer in issuers if issuer == claimed), issuers[0])"))


@mistake("08", "choose_issuer", "every configured issuer")
def _choose_only_first() -> None:
    """only the first configured issuer looked at"""
    check_choose(("for issuer in issuers if", "for issuer in issuers[:1] if"))


@mistake("08", "choose_issuer", "verifies nothing", "expiry")
def _choose_checks_expiry() -> None:
    """the expiry checked while choosing (with the signature off)"""
    check_choose(('options={"verify_signature": False}', 'options={"verify_signature": False, "verify_exp": True}'))


# 09 · redact

@reference("09", "redact")
def _redact_right() -> None:
    redact, sensitive = built("09", "redact", also="SENSITIVE_HEADERS")
    nb09.check_redact(redact, sensitive)


def check_08(*replacements: tuple[str, str]) -> None:
    redact, sensitive = built("09", "redact", *replacements, also="SENSITIVE_HEADERS")
    nb09.check_redact(redact, sensitive)


REDACT_START = '    safe = {name: value for name, value in event.items() if name not in ("body", "cookies")}\n'


@mistake("09", "redact", "never print")
def _redact_prints_the_event() -> None:
    """redact() prints the raw event, token included"""
    check_08((REDACT_START, '    print("redacting", event)\n' + REDACT_START))


@mistake("09", "redact", "never print", "log")
def _redact_logs_the_event() -> None:
    """redact() logs the raw event at DEBUG"""
    check_08((REDACT_START, '    import logging\n    logging.getLogger("learner").debug("redacting %s", event)\n'
              + REDACT_START))


@mistake("09", "redact", "multiValueHeaders")
def _redact_headers_only() -> None:
    """multiValueHeaders left as they are"""
    check_08(('for field in ("headers", "multiValueHeaders"):', 'for field in ("headers",):'))


@mistake("09", "redact", "name.lower()")
def _redact_case_sensitive() -> None:
    """header names compared as written: Authorization survives"""
    check_08(("name.lower() in SENSITIVE_HEADERS", "name in SENSITIVE_HEADERS"))


@mistake("09", "redact", "SENSITIVE_HEADERS")
def _redact_authorization_only() -> None:
    """only Authorization removed: cookies and API keys survive"""
    check_08(("name.lower() in SENSITIVE_HEADERS", 'name.lower() == "authorization"'))


@mistake("09", "redact", "body")
def _redact_keeps_body() -> None:
    """the body kept"""
    check_08(('if name not in ("body", "cookies")}', 'if name not in ("cookies",)}'))


@mistake("09", "redact", "cookies")
def _redact_keeps_cookies() -> None:
    """event["cookies"] kept (HTTP API 2.0)"""
    check_08(('if name not in ("body", "cookies")}', 'if name not in ("body",)}'))


@mistake("09", "redact", "new dictionaries")
def _redact_changes_the_event() -> None:
    """the caller's event changed in place"""
    check_08(("    return copy.deepcopy(safe)\n",
              '    for name in ("body", "cookies"):\n        event.pop(name, None)\n'
              "    event.update(safe)\n    return event\n"))


@mistake("09", "redact", "null")
def _redact_assumes_headers() -> None:
    """headers assumed to be a dict (null in REST API v1)"""
    check_08(("        if isinstance(headers, dict):\n", "        if True:\n"))


# 10 · zip_problems and create_function_args

def check_zip(*replacements: tuple[str, str]) -> None:
    nb10.check_zip_problems(built("10", "zip_problems", *replacements))


@reference("10", "zip_problems")
def _zip_right() -> None:
    check_zip()


FOREIGN_TAG = 'foreign_tag = "cpython-" in f and "cpython-312-x86_64-linux-gnu" not in f'


@mistake("10", "zip_problems", "abi3")
def _zip_abi3_flagged() -> None:
    """cryptography's abi3 .so flagged as a wrong binary"""
    check_zip((FOREIGN_TAG, FOREIGN_TAG + ' or "abi3" in f'))


@mistake("10", "zip_problems", "aarch64", "x86_64")
def _zip_wrong_platform() -> None:
    """a zip for the wrong platform (arm64's .so) not noticed"""
    check_zip((FOREIGN_TAG, 'foreign_tag = "cpython-" in f and "cpython-312" not in f'))


@mistake("10", "zip_problems", "site-packages/", "anywhere")
def _zip_site_packages_at_the_top_only() -> None:
    """site-packages/ looked for at the start of names only"""
    check_zip(('if any("site-packages/" in name for name in names):',
               'if any(name.startswith("site-packages/") for name in names):'))


@mistake("10", "zip_problems", "at the root")
def _zip_handler_anywhere() -> None:
    """lambda_function.py accepted in any folder"""
    check_zip(('if "lambda_function.py" not in names:',
               'if not any(name.endswith("lambda_function.py") for name in names):'))


@mistake("10", "zip_problems", ".ipynb anywhere")
def _zip_top_level_notebooks_only() -> None:
    """notebooks looked for at the top level only"""
    check_zip(('any(f.endswith(".ipynb") for f in files)', 'any(n.endswith(".ipynb") and "/" not in n for n in names)'))


@mistake("10", "zip_problems", ".env", "secrets")
def _zip_env_file_missed() -> None:
    """.env not counted as a dev file"""
    check_zip(('{"test", "tests", "notebooks", ".venv", ".git", ".env"}', '{"test", "tests", "notebooks", ".venv", ".git"}'))


@mistake("10", "zip_problems", ".cpython-312.")
def _zip_untagged_bytecode_missed() -> None:
    """only bytecode tagged for another version flagged (an untagged .pyc passes)"""
    check_zip(('".cpython-312." not in f', '".cpython-3" in f and ".cpython-312." not in f'))


@mistake("10", "zip_problems", "cpython-312.pyc")
def _zip_all_bytecode_flagged() -> None:
    """every .pyc flagged, the right ones too"""
    check_zip(('if any(f.endswith(".pyc") and ".cpython-312." not in f for f in files):',
               'if any(f.endswith(".pyc") for f in files):'))


@mistake("10", "zip_problems", "never a list")
def _zip_returns_list() -> None:
    """a list of codes"""
    check_zip(("    return problems\n", "    return sorted(problems)\n"))


def check_create(*replacements: tuple[str, str]) -> None:
    nb10.check_create_function_args(built("10", "create_function_args", *replacements))


@reference("10", "create_function_args")
def _create_right() -> None:
    check_create()


@mistake("10", "create_function_args", "fileb://", "file://")
def _create_file_url() -> None:
    """--zip-file file://: the zip read as text"""
    check_create(('f"fileb://{zip_file}"', 'f"file://{zip_file}"'))


@mistake("10", "create_function_args", "fileb://")
def _create_bare_path() -> None:
    """--zip-file with a bare path"""
    check_create(('f"fileb://{zip_file}"', "zip_file"))


@mistake("10", "create_function_args", "shorthand", "json.dumps")
def _create_shorthand_environment() -> None:
    """--environment Variables={A=b,...}: values with commas split"""
    check_create(('json.dumps({"Variables": environment})',
                  '"Variables={" + ",".join(f"{k}={v}" for k, v in environment.items()) + "}"'))


@mistake("10", "create_function_args", "python3.12")
def _create_wrong_runtime() -> None:
    """--runtime python3.11 (the zip is built for 3.12)"""
    check_create(('"--runtime", "python3.12"', '"--runtime", "python3.11"'))


@mistake("10", "create_function_args", "function handler")
def _create_wrong_handler() -> None:
    """--handler lambda_function.lambda_handler"""
    check_create(('"lambda_function.handler"', '"lambda_function.lambda_handler"'))


@mistake("10", "create_function_args", "arguments you are given")
def _create_fixed_role() -> None:
    """the role's ARN written out instead of the one given"""
    check_create(('"--role", role_arn', '"--role", "arn:aws:iam::123456789012:role/lambdaone-execution"'))


@mistake("10", "create_function_args", "list of strings")
def _create_one_string() -> None:
    """one command line string instead of a list of words"""
    check_create(("    return [\n", "    return ' '.join([\n"), ('"--memory-size", "256",\n    ]', '"--memory-size", "256",\n    ])'))


# 11 · dockerfile_problems

def check_docker(*replacements: tuple[str, str]) -> None:
    nb11.check_dockerfile_problems(built("11", "dockerfile_problems", *replacements))


@reference("11", "dockerfile_problems")
def _docker_right() -> None:
    check_docker()


@mistake("11", "dockerfile_problems", "lambdaone")
def _docker_copy_trap_with_slash() -> None:
    """COPY lambda_function.py lambdaone/ /var/task/ accepted (the folder flattened)"""
    check_docker(('            if "lambdaone" in {s.rstrip("/") for s in sources} and not '
                  'destination.rstrip("/").endswith("/lambdaone"):\n                problems.add("copy_trap")\n', ""))


@mistake("11", "dockerfile_problems", "any case")
def _docker_case_sensitive() -> None:
    """instructions compared in upper case only"""
    check_docker(("keyword, rest = keyword.upper(), rest.strip()", "keyword, rest = keyword, rest.strip()"))


@mistake("11", "dockerfile_problems", "continued line")
def _docker_no_continuation() -> None:
    """a RUN continued with \\ read line by line"""
    check_docker(('        if stripped.endswith("\\\\"):\n', '        if False:\n'))


@mistake("11", "dockerfile_problems", "-t and --target")
def _docker_short_target_refused() -> None:
    """pip's -t not taken for --target"""
    check_docker(("(--target|-t)", "(--target)"))


@mistake("11", "dockerfile_problems", "exec form")
def _docker_shell_cmd_accepted() -> None:
    """CMD in shell form accepted"""
    check_docker(('handler_named = json.loads(last_cmd or "") == ["lambda_function.handler"]',
                  'handler_named = "lambda_function.handler" in (last_cmd or "")'))


@mistake("11", "dockerfile_problems", "after the last '/'")
def _docker_registry_port_as_tag() -> None:
    """a registry's port read as the image's tag"""
    check_docker(('last_part = image.rsplit("/", 1)[-1]', "last_part = image"))


@mistake("11", "dockerfile_problems", "ARG defaults")
def _docker_args_not_substituted() -> None:
    """ARG defaults not substituted into FROM"""
    check_docker(('image = re.sub(r"\\$\\{?(\\w+)\\}?", lambda match: defaults.get(match.group(1), ""), rest.split()[0])',
                  "image = rest.split()[0]"))


@mistake("11", "dockerfile_problems", ":latest")
def _docker_only_latest_unpinned() -> None:
    """only :latest counted as unpinned (no tag passes)"""
    check_docker(('tag in ("", "latest")', 'tag == "latest"'))


@mistake("11", "dockerfile_problems", "whole build context")
def _docker_copy_everything_missed() -> None:
    """COPY . into the task root not noticed"""
    check_docker(('            if {".", "./", "*"} & set(sources):\n                problems.add("copies_everything")\n', ""))


# 13 · lambda_env_from_discovery

def check_discovery(*replacements: tuple[str, str]) -> None:
    nb13.check_lambda_env_from_discovery(built("13", "lambda_env_from_discovery", *replacements))


@reference("13", "lambda_env_from_discovery")
def _discovery_right() -> None:
    check_discovery()


@mistake("13", "lambda_env_from_discovery", "https://")
def _discovery_http_allowed() -> None:
    """keys accepted over plain http"""
    check_discovery(('if parts.scheme != "https" or not parts.hostname:',
                     'if parts.scheme not in ("https", "http") or not parts.hostname:'))


@mistake("13", "lambda_env_from_discovery", "https scheme")
def _discovery_file_allowed() -> None:
    """only http refused: file:// accepted"""
    check_discovery(('if parts.scheme != "https" or not parts.hostname:', 'if parts.scheme == "http":'))


@mistake("13", "lambda_env_from_discovery", "==", "startswith")
def _discovery_issuer_prefix() -> None:
    """the issuer compared with startswith"""
    check_discovery(('if issuer.rstrip("/") + WELL_KNOWN != discovery_url:',
                     'if not issuer.startswith(discovery_url.removesuffix(WELL_KNOWN)):'))


@mistake("13", "lambda_env_from_discovery", "discovery_url")
def _discovery_issuer_unchecked() -> None:
    """the document's issuer trusted as it is"""
    check_discovery(('if issuer.rstrip("/") + WELL_KNOWN != discovery_url:', "if False:"))


@mistake("13", "lambda_env_from_discovery", "trailing slash")
def _discovery_issuer_normalised() -> None:
    """the issuer's trailing slash removed"""
    check_discovery(('"ISSUER": issuer,', '"ISSUER": issuer.rstrip("/"),'))


@mistake("13", "lambda_env_from_discovery", "authorization OFF")
def _discovery_no_scopes_allowed() -> None:
    """an empty scope list accepted (REQUIRE empty turns authorization off)"""
    check_discovery(("if not names or any(", "if any("))


@mistake("13", "lambda_env_from_discovery", "host")
def _discovery_no_host_check() -> None:
    """an https URL without a host accepted"""
    check_discovery(('if parts.scheme != "https" or not parts.hostname:', 'if parts.scheme != "https":'))


@mistake("13", "lambda_env_from_discovery", "audience")
def _discovery_blank_audience() -> None:
    """a blank audience accepted"""
    check_discovery(('    if not isinstance(audience, str) or not audience.strip():\n        raise ValueError("audience is blank")\n',
                     ""))


# --- the tests --------------------------------------------------------------------------------------------------

def exercises_in_solutions() -> set[tuple[str, str]]:
    """(notebook number, exercise) for every check cell of the solution notebooks."""
    import nbformat
    found = set()
    for path in sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if is_check_cell(cell):
                found.add((path.name[:2], exercise_name(cell)))
    return found


def hint_of(failure: CheckFailed) -> str:
    hints = [line.strip().removeprefix("hint:").strip() for line in failure.lines if line.strip().startswith("hint:")]
    assert hints, f"the failure gives no hint: {failure.lines}"
    return hints[0]


@pytest.mark.parametrize("wrong", CATALOGUE, ids=[f"{w.notebook}-{w.exercise}-{w.mistake}" for w in CATALOGUE])
def test_a_wrong_solution_fails_its_check_with_a_hint_that_names_the_mistake(wrong: Wrong) -> None:
    with pytest.raises(CheckFailed) as failed:
        wrong.run()
    hint = hint_of(failed.value)
    missing = [word for word in wrong.words if word.lower() not in hint.lower()]
    assert not missing, f"{wrong.mistake}: the hint lacks {missing}:\n" + "\n".join(failed.value.lines)


@pytest.mark.parametrize("key", sorted(REFERENCES), ids=[f"{n}-{e}" for n, e in sorted(REFERENCES)])
def test_the_reference_solution_passes_the_same_check(key: tuple[str, str]) -> None:
    REFERENCES[key]()


def test_every_exercise_has_five_wrong_solutions_or_more() -> None:
    counts = Counter((wrong.notebook, wrong.exercise) for wrong in CATALOGUE)
    covered = {key for key in REFERENCES}
    exercises = {key for key in exercises_in_solutions() if key in covered}
    assert exercises, "no exercise of the solutions is in the catalogue"
    short = {key: counts[key] for key in exercises if counts[key] < 5}
    assert not short, f"fewer than five wrong solutions: {short}"


# --- checks release what they start --------------------------------------------------------------------------

def test_a_failing_07_check_leaves_no_port_bound_and_no_thread_running() -> None:
    """A fixed-port mistake fails at the second server; the first one's port is free again afterwards."""
    port = free_port()
    threads_before = set(threading.enumerate())
    start, stop = built("07", "start_jwks_server", (LOOPBACK, f'ThreadingHTTPServer(("127.0.0.1", {port}), Handler)'),
                        also="stop")
    with pytest.raises(CheckFailed, match="two servers"):
        nb07.check_jwks_server(start, stop)
    assert nb07._port_is_free(port), f"port {port} is still bound after the check failed"
    assert nb07._wait_for(lambda: not [t for t in threading.enumerate() if t not in threads_before and t.is_alive()])


def test_a_server_the_learner_never_returns_is_stopped_too() -> None:
    """start_jwks_server binds and serves, then returns something else: the check still stops that server."""
    port = free_port()
    threads_before = set(threading.enumerate())
    start, stop = built("07", "start_jwks_server", (LOOPBACK, f'ThreadingHTTPServer(("127.0.0.1", {port}), Handler)'),
                        (URL, 'return f"http://127.0.0.1:{port}/.well-known/jwks.json"'), also="stop")
    with pytest.raises(CheckFailed, match="returns"):
        nb07.check_jwks_server(start, stop)
    assert nb07._port_is_free(port), f"port {port} is still bound after the check failed"
    assert nb07._wait_for(lambda: not [t for t in threading.enumerate() if t not in threads_before and t.is_alive()])


@pytest.mark.parametrize("key", sorted(REFERENCES), ids=[f"{n}-{e}" for n, e in sorted(REFERENCES)])
def test_the_stub_reads_as_an_incomplete_exercise_not_as_a_mistake(key: tuple[str, str]) -> None:
    """Every first failing case of a blank exercise says so, rather than hinting at a mistake nobody made yet."""
    from workbook.checking import INCOMPLETE
    notebook, exercise = key
    module = importlib.import_module(f"workbook.checks.nb{notebook}")
    check = getattr(module, f"check_{exercise}")

    def stub(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("complete this exercise")

    class Stub:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise NotImplementedError("complete this exercise")

    arguments: list[Any] = [Stub if exercise == "key_cache" else stub]
    if exercise == "jwks_server":
        arguments.append(stub)
    if exercise == "redact":
        arguments.append(frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"}))
    with pytest.raises(CheckFailed) as failed:
        check(*arguments)
    assert f"got: {INCOMPLETE}" in "\n".join(failed.value.lines), failed.value.lines


def test_every_zip_and_dockerfile_case_gives_a_hint(tmp_path: Any) -> None:
    """A failing case without a hint leaves the learner with expected/got only."""
    cases = [*nb10._zip_cases(lambda path: set(), tmp_path, None), *nb11._cases(lambda text: set())]
    silent = [case.name for case in cases if not case.hint and case.explain is None]
    assert not silent, f"cases without a hint: {silent}"
