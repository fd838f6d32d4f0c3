"""A catalogue of wrong solutions: each plausible learner mistake must fail its check with a hint naming it.

Every exercise has at least five entries, security mistakes first (the algorithm taken from the header, ``exp``
not required, a huge leeway, a server on every interface, a token printed or logged, one import style patched, a
cache without cooldown, a zip for the wrong platform, ...). Each entry calls the check in ``workbook.checks``
directly with a wrong implementation, and asserts that the check fails (``CheckFailed``) and that its hint holds
the entry's key words. The right implementation of each exercise passes the same check (``test_the_reference``).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest

from lambdaone.hello_world import hello
from workbook.checking import CheckFailed
from workbook.checks import nb00, nb01, nb02, nb03, nb04
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
        granted.update(scope.split())
    scp = claims.get("scp")
    if isinstance(scp, str):
        granted.update(scp.split())
    elif isinstance(scp, list):
        granted.update(item for item in scp if isinstance(item, str))
    return granted


@reference("04", "granted_scopes")
def _granted_right() -> None:
    nb04.check_granted_scopes(granted_right)


@mistake("04", "granted_scopes", "str.split()")
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
                                                             set(scope.split()) if isinstance(scope, str) else set())
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
