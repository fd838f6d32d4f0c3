"""Checks for ``13_real_idp``: the Lambda's variables (discovery mode) from an issuer's discovery document, hostile
input refused."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from lambdaone import settings
from workbook.checking import Case, check

WELL_KNOWN = "/.well-known/openid-configuration"
AUDIENCE = "https://api.example.com/treasure"

# Tenants unlike the notebook's examples, so only code that reads the document can pass.
AUTH0_ISSUER = "https://learner-7.eu.auth0.com/"
OKTA_ISSUER = "https://acme.okta.com/oauth2/aus1b2c3d4e5f6g7h8i9"


def _document(issuer: str, jwks_uri: Any, **extra: Any) -> dict[str, Any]:
    return {"issuer": issuer, "jwks_uri": jwks_uri, "token_endpoint": issuer.rstrip("/") + "/token",
            "id_token_signing_alg_values_supported": ["RS256"], **extra}


def _url(issuer: str) -> str:
    return issuer.rstrip("/") + WELL_KNOWN


AUTH0 = _document(AUTH0_ISSUER, AUTH0_ISSUER + ".well-known/jwks.json")
OKTA = _document(OKTA_ISSUER, OKTA_ISSUER + "/v1/keys")


def check_lambda_env_from_discovery(lambda_env_from_discovery: Callable[..., dict[str, str]]) -> None:
    """``lambda_env_from_discovery(discovery_url, document, audience, scopes)`` -> the Lambda's four variables."""

    def env(url: str, document: Any, audience: str = AUDIENCE, scopes: Any = ("treasure:read",)) -> Any:
        # A copy: a learner's function that changes the document must not spoil the next case.
        return lambda_env_from_discovery(url, copy.deepcopy(document), audience, list(scopes))

    def loaded(url: str, document: Any, scopes: tuple[str, ...]) -> tuple[Any, ...]:
        parsed = settings.load(env(url, document, scopes=scopes))
        return parsed.issuers, parsed.audiences, parsed.jwks_urls, parsed.required_scopes

    def refused(name: str, call: Callable[[], Any], hint: str) -> Case:
        return Case(name, call, raises=ValueError, describe_expected="it raises ValueError", hint=hint)

    cases = [
        Case("an Auth0 document", lambda: env(_url(AUTH0_ISSUER), AUTH0),
             expected={"REQUIRE": "treasure:read", "ISSUER": AUTH0_ISSUER, "AUDIENCE": AUDIENCE},
             hint="return a dict with exactly REQUIRE, ISSUER and AUDIENCE (no JWKSPATH: the Lambda finds the keys "
                  "by discovery); ISSUER is document['issuer'] as published, trailing slash included"),
        Case("an Okta document (custom authorization server)",
             lambda: env(_url(OKTA_ISSUER), OKTA, audience="api://lambdaone"),
             expected={"REQUIRE": "treasure:read", "ISSUER": OKTA_ISSUER, "AUDIENCE": "api://lambdaone"},
             hint="Okta's issuer has no trailing slash: copy it exactly, add nothing"),
        Case("two scopes, as the Lambda reads them",
             lambda: loaded(_url(AUTH0_ISSUER), AUTH0, ("treasure:read", "treasure:write")),
             expected=((AUTH0_ISSUER,), (AUDIENCE,), (), ("treasure:read", "treasure:write")),
             hint="REQUIRE lists every scope, separated by spaces: the Lambda requires all of them"),
        refused("jwks_uri over plain http",
                lambda: env(_url(AUTH0_ISSUER), {**AUTH0, "jwks_uri": "http://learner-7.eu.auth0.com/jwks.json"}),
                "keys fetched over http can be swapped on the way: jwks_uri must start with https://"),
        refused("jwks_uri missing", lambda: env(_url(OKTA_ISSUER), {"issuer": OKTA_ISSUER}),
                "document.get('jwks_uri') is None here: the Lambda's discovery would find no keys, so refuse now"),
        refused("jwks_uri that is not a string",
                lambda: env(_url(OKTA_ISSUER), {**OKTA, "jwks_uri": ["https://acme.okta.com/keys"]}),
                "check isinstance(value, str) before looking inside it"),
        refused("jwks_uri that is a local file",
                lambda: env(_url(AUTH0_ISSUER), {**AUTH0, "jwks_uri": "file:///etc/jwks.json"}),
                "only the https scheme is acceptable (urllib.parse.urlsplit(url).scheme)"),
        refused("jwks_uri without a host", lambda: env(_url(AUTH0_ISSUER), {**AUTH0, "jwks_uri": "https:///keys"}),
                "an https URL needs a host too (urlsplit(url).hostname)"),
        refused("issuer of another tenant",
                lambda: env(_url(AUTH0_ISSUER), {**AUTH0, "issuer": "https://attacker.eu.auth0.com/"}),
                "issuer without its trailing slash, plus /.well-known/openid-configuration, must equal discovery_url"),
        refused("issuer that only starts like the right one",
                lambda: env(_url(AUTH0_ISSUER), {**AUTH0, "issuer": "https://learner-7.eu.auth0.com.evil.example/"}),
                "compare whole strings with ==, never startswith or in"),
        refused("issuer missing", lambda: env(_url(OKTA_ISSUER), {"jwks_uri": OKTA["jwks_uri"]}),
                "without an issuer there is nothing to compare iss with: refuse"),
        refused("everything over plain http",
                lambda: env(_url("http://learner-7.eu.auth0.com/"),
                            _document("http://learner-7.eu.auth0.com/", "https://learner-7.eu.auth0.com/jwks.json")),
                "the issuer (and the discovery URL) must be https too, even when they agree with each other"),
        refused("a document that is not a JSON object", lambda: env(_url(AUTH0_ISSUER), ["issuer", AUTH0_ISSUER]),
                "check isinstance(document, dict) first"),
        refused("no scope at all", lambda: env(_url(AUTH0_ISSUER), AUTH0, scopes=()),
                "an empty REQUIRE turns authorization OFF: refuse to build such a configuration"),
        refused("a scope name with a space in it",
                lambda: env(_url(AUTH0_ISSUER), AUTH0, scopes=("treasure:read treasure:write",)),
                "each scope is one name: refuse empty names and names holding spaces or commas"),
        refused("an empty audience", lambda: env(_url(AUTH0_ISSUER), AUTH0, audience="  "),
                "the Lambda needs an audience to compare aud with: refuse a blank one"),
    ]
    check("lambda_env_from_discovery", cases)
