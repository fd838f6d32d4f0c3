"""A real identity provider for notebook 13, or a local stand-in to rehearse with.

Nothing here reads ``.env`` on import. ``load_config(enabled=True)`` reads it with python-dotenv into a
dict, without touching ``os.environ``, so the tests and the other notebooks never see a developer's
settings; the notebook asks only when the learner opts in (``LAMBDAONE_USE_REAL_IDP=1``)::

    config, status = load_config(enabled=True)     # (None, why) when .env is missing or incomplete
    document = fetch_discovery(config.issuer)
    token = request_token(config)                   # never print it
    for line in describe_token(token, config):
        print(line)

``LocalIdp`` is an authorization server on 127.0.0.1 (discovery, JWKS, client credentials) shaped like
Auth0 or Okta, so the same calls run offline. Error messages never contain a secret or a token.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
import os
import secrets
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import requests
from dotenv import dotenv_values

from lambdaone import settings
from lambdaone.authz import granted_scopes
from workbook.tokens import KeyPair, jwks

ROOT = Path(__file__).resolve().parent.parent
#: Set to 1 to let notebook 13 read ``.env`` and call the IdP configured there.
OPT_IN = "LAMBDAONE_USE_REAL_IDP"
#: Another ``.env`` to read instead of the repository's (the tests use it).
ENV_FILE_VARIABLE = "LAMBDAONE_ENV_FILE"
WELL_KNOWN = "/.well-known/openid-configuration"
#: What each network cell prints when no IdP is configured: one stable line.
SKIP = "No IdP configured in .env: skipping — see section 1 to set one up."

CLIENT_VARIABLES = ("IDP_TOKEN_URL", "IDP_CLIENT_ID", "IDP_CLIENT_SECRET")
LAMBDA_VARIABLES = ("REQUIRE", "ISSUER", "AUDIENCE")  # JWKSPATH is optional: without it, discovery
CLIENT_AUTH_METHODS = ("client_secret_post", "client_secret_basic")

# Trimmed examples of what the two IdPs publish (the tenant names are made up).
AUTH0_DISCOVERY_EXAMPLE: dict[str, Any] = {
    "issuer": "https://dev-lambdaone.us.auth0.com/",
    "authorization_endpoint": "https://dev-lambdaone.us.auth0.com/authorize",
    "token_endpoint": "https://dev-lambdaone.us.auth0.com/oauth/token",
    "jwks_uri": "https://dev-lambdaone.us.auth0.com/.well-known/jwks.json",
    "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
    "id_token_signing_alg_values_supported": ["HS256", "RS256", "PS256"],
}
OKTA_DISCOVERY_EXAMPLE: dict[str, Any] = {
    "issuer": "https://dev-123456.okta.com/oauth2/default",
    "authorization_endpoint": "https://dev-123456.okta.com/oauth2/default/v1/authorize",
    "token_endpoint": "https://dev-123456.okta.com/oauth2/default/v1/token",
    "jwks_uri": "https://dev-123456.okta.com/oauth2/default/v1/keys",
    "grant_types_supported": ["authorization_code", "implicit", "refresh_token", "password", "client_credentials"],
    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "client_secret_jwt",
                                              "private_key_jwt", "none"],
    "id_token_signing_alg_values_supported": ["RS256"],
}


class IdpError(RuntimeError):
    """The IdP refused or answered something unusable; the message holds no secret and no token."""


@dataclass(frozen=True)
class IdpConfig:
    """A client of the IdP (to get tokens) and the Lambda's variables (to verify them)."""

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)  # never shown, not even by repr()
    client_auth: str = "client_secret_post"
    lambda_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return self.lambda_env["ISSUER"]

    @property
    def audience(self) -> str:
        return self.lambda_env["AUDIENCE"].split(",")[0].strip()

    @property
    def scopes(self) -> tuple[str, ...]:
        return settings.load(self.lambda_env).required_scopes

    @property
    def jwks_url(self) -> str | None:
        """The configured JWKS URL; None when the Lambda finds it by discovery (no JWKSPATH)."""
        return self.lambda_env.get("JWKSPATH")


def opted_in(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get(OPT_IN, "").strip() == "1"


def env_file(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get(ENV_FILE_VARIABLE) or ROOT / ".env")


def load_config(enabled: bool, path: Path | None = None) -> tuple[IdpConfig | None, str]:
    """The IdP configured in ``.env`` and a one-line status; ``(None, why)`` unless it is complete."""
    if not enabled:
        return None, ("Real IdP: off. To use yours, fill .env (section 1), then set USE_REAL_IDP = True "
                      f"in the setup cell or start JupyterLab with {OPT_IN}=1.")
    path = path or env_file()
    if not path.is_file():
        return None, f"Real IdP: on, but there is no {path}: create it as section 1 shows."
    # interpolate=False: a secret may contain "$"; values are read into a dict, os.environ is untouched.
    values = {name: (value or "").strip() for name, value in dotenv_values(path, interpolate=False).items()}
    missing = [name for name in CLIENT_VARIABLES + LAMBDA_VARIABLES if not values.get(name)]
    if missing:
        return None, f"Real IdP: on, but {path.name} does not set {', '.join(missing)}: see section 1."
    problem = _client_problem(values)
    if problem:
        return None, f"Real IdP: on, but {problem}."
    lambda_env = {name: values[name] for name in settings.VARIABLES if values.get(name)}
    try:
        settings.load(lambda_env)
    except settings.ConfigurationError as error:
        return None, f"Real IdP: on, but the Lambda would refuse this configuration: {error}"
    config = IdpConfig(values["IDP_TOKEN_URL"], values["IDP_CLIENT_ID"], values["IDP_CLIENT_SECRET"],
                       values.get("IDP_CLIENT_AUTH") or "client_secret_post", lambda_env)
    return config, (f"Real IdP: configured. Tokens from {urlsplit(config.token_url).hostname} "
                    f"({config.client_auth}), issuer {config.issuer}, audience {config.audience}.")


def _client_problem(values: Mapping[str, str]) -> str | None:
    if not is_secure_url(values["IDP_TOKEN_URL"]):
        return "IDP_TOKEN_URL is not an https URL (the client secret must never travel in clear)"
    if (values.get("IDP_CLIENT_AUTH") or "client_secret_post") not in CLIENT_AUTH_METHODS:
        return f"IDP_CLIENT_AUTH must be one of {', '.join(CLIENT_AUTH_METHODS)}"
    return None


def is_secure_url(url: str) -> bool:
    """https with a host; plain http only on loopback (a local rehearsal never leaves the machine)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return False
    if parts.scheme == "https":
        return bool(host)
    return parts.scheme == "http" and _is_loopback(host)


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def discovery_url(issuer: str) -> str:
    """Where an issuer publishes its metadata (OpenID Connect Discovery §4: no double slash)."""
    return issuer.rstrip("/") + WELL_KNOWN


def fetch_discovery(issuer: str, timeout: float = 5.0) -> dict[str, Any]:
    """The issuer's ``/.well-known/openid-configuration`` document."""
    url = discovery_url(issuer)
    if not is_secure_url(url):
        raise IdpError(f"{url} is not an https URL")
    response = requests.get(url, timeout=timeout, allow_redirects=False)
    if response.status_code != 200:
        raise IdpError(f"GET {url} answered {response.status_code}")
    document = _json_object(response)
    if document is None:
        raise IdpError(f"GET {url} did not answer a JSON object")
    return document


def compare_discovery(document: Mapping[str, Any], config: IdpConfig) -> list[str]:
    """Lines saying whether what the IdP publishes agrees with ``.env``."""
    return [
        f"issuer equals ISSUER: {_yes(document.get('issuer') == config.issuer)}",
        (f"jwks_uri equals JWKSPATH: {_yes(document.get('jwks_uri') == config.jwks_url)}" if config.jwks_url else
         f"jwks_uri usable by discovery (https): {_yes(isinstance(document.get('jwks_uri'), str) and is_secure_url(document['jwks_uri']))}"),
        f"token_endpoint equals IDP_TOKEN_URL: {_yes(document.get('token_endpoint') == config.token_url)}",
        f"client_credentials grant offered: {_yes('client_credentials' in document.get('grant_types_supported', []))}",
    ]


def request_token(config: IdpConfig, timeout: float = 10.0, scopes: tuple[str, ...] | None = None) -> str:
    """An access token from the client-credentials grant (RFC 6749 §4.4) for the configured audience."""
    form = {"grant_type": "client_credentials", "scope": " ".join(config.scopes if scopes is None else scopes),
            # Auth0 needs the API's identifier; servers ignore parameters they do not know (RFC 6749 §3.2).
            "audience": config.audience}
    auth = None
    if config.client_auth == "client_secret_basic":
        auth = (config.client_id, config.client_secret)
    else:
        form.update(client_id=config.client_id, client_secret=config.client_secret)
    response = requests.post(config.token_url, data=form, auth=auth, timeout=timeout, allow_redirects=False,
                             headers={"Accept": "application/json"})
    body = _json_object(response) or {}
    if response.status_code != 200:
        raise IdpError(f"the token endpoint answered {response.status_code}: {_oauth_error(body)}")
    token, token_type = body.get("access_token"), str(body.get("token_type", ""))
    if not isinstance(token, str) or not token:
        raise IdpError("the token endpoint answered 200 without an access_token")
    if token_type.lower() != "bearer":
        raise IdpError(f"the token type is {token_type[:20]!r}, not Bearer (turn off DPoP for this client)")
    return token


def _oauth_error(body: Mapping[str, Any]) -> str:
    # RFC 6749 §5.2: error and error_description describe the problem; they never echo credentials.
    error = str(body.get("error", "no error code"))[:60]
    description = str(body.get("error_description", ""))[:200]
    return f"{error}: {description}" if description else error


def describe_token(token: str, config: IdpConfig) -> list[str]:
    """What a token holds, for a person to read: never the token, its signature, or claim values beyond scopes."""
    # Decoded WITHOUT verification, only to show its shape: the Lambda is what verifies it.
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    audiences = claims.get("aud") if isinstance(claims.get("aud"), list) else [claims.get("aud")]
    lifetime = claims.get("exp", 0) - claims.get("iat", 0) if "iat" in claims else None
    return [
        f"header: alg={header.get('alg')}, kid present: {_yes('kid' in header)}, typ={header.get('typ', '(none)')}",
        f"claims: {', '.join(sorted(claims))}",
        f"scopes ({'scope' if 'scope' in claims else 'scp'}): {' '.join(sorted(granted_scopes(claims)))}",
        f"iss equals ISSUER: {_yes(claims.get('iss') == config.issuer)}",
        f"aud includes AUDIENCE: {_yes(config.audience in audiences)}",
        f"lifetime: {lifetime} s" if lifetime is not None else "lifetime: no iat claim",
    ]


def _json_object(response: requests.Response) -> dict[str, Any] | None:
    try:
        document = response.json()
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _yes(value: bool) -> str:
    return "yes" if value else "NO"


# --- A local IdP for rehearsals ----------------------------------------------------------------------

@dataclass(frozen=True)
class Flavour:
    """Where an IdP puts things, and how it shapes tokens."""

    name: str
    issuer_path: str
    token_path: str
    jwks_path: str
    client_auth: str
    default_audience: str


FLAVOURS = {
    "auth0": Flavour("auth0", "/", "/oauth/token", "/.well-known/jwks.json", "client_secret_post",
                     "https://api.example.com/treasure"),
    "okta": Flavour("okta", "/oauth2/default", "/oauth2/default/v1/token", "/oauth2/default/v1/keys",
                    "client_secret_basic", "api://default"),
}
TOKEN_LIFETIME = 300


class LocalIdp:
    """An authorization server on 127.0.0.1 (a port the OS picks): discovery, JWKS, client credentials.

    ``flavour="auth0"``: issuer with a trailing slash, ``scope`` string, client secret in the form.
    ``flavour="okta"``: issuer ``.../oauth2/default``, ``scp`` array, client secret by HTTP Basic.
    The client secret is made at run time; use ``config()`` to get a client, never print it.
    """

    def __init__(self, key: KeyPair, flavour: str = "auth0", *, client_id: str = "rehearsal-client",
                 audience: str | None = None, scopes: tuple[str, ...] = ("treasure:read",)) -> None:
        self.key = key
        self.flavour = FLAVOURS[flavour]
        self.client_id = client_id
        self._client_secret = secrets.token_urlsafe(24)
        self.audience = audience or self.flavour.default_audience
        self.scopes = tuple(scopes)  # what the client is allowed to ask for
        self.tokens_issued = 0
        #: The keys the JWKS publishes (``key`` signs): append a new one, then switch ``key``, to rotate.
        self.published: list[KeyPair] = [key]
        #: Every GET's path, in order (a test counts discovery and JWKS fetches with it).
        self.requests: list[str] = []
        #: The ``Cache-Control`` of the discovery and JWKS answers (token answers are always ``no-store``).
        self.cache_control = "no-store"
        #: Members that replace the discovery document's own (e.g. another ``issuer``: a mix-up).
        self.discovery_changes: dict[str, Any] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the local IdP is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def issuer(self) -> str:
        return self.base_url + self.flavour.issuer_path

    @property
    def token_url(self) -> str:
        return self.base_url + self.flavour.token_path

    @property
    def jwks_url(self) -> str:
        return self.base_url + self.flavour.jwks_path

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer, "token_endpoint": self.token_url, "jwks_uri": self.jwks_url,
            "grant_types_supported": ["client_credentials"], "scopes_supported": list(self.scopes),
            "token_endpoint_auth_methods_supported": [self.flavour.client_auth],
            "id_token_signing_alg_values_supported": [self.key.algorithm],
        } | self.discovery_changes

    def config(self, scopes: tuple[str, ...] | None = None) -> IdpConfig:
        """A client of this IdP, and the Lambda's variables to verify its tokens (keys found by discovery)."""
        lambda_env = {"REQUIRE": " ".join(scopes or self.scopes), "ISSUER": self.issuer, "AUDIENCE": self.audience}
        return IdpConfig(self.token_url, self.client_id, self._client_secret, self.flavour.client_auth, lambda_env)

    def start(self) -> LocalIdp:
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
            self._server.daemon_threads = True
            # A short poll interval makes stop() quick (shutdown waits for the loop's next poll).
            self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="local-idp",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> LocalIdp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # What the endpoints answer: (status, JSON body).
    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        if path == urlsplit(discovery_url(self.issuer)).path:
            return 200, self.discovery()
        if path == self.flavour.jwks_path:
            return 200, jwks(*self.published)
        return 404, {"error": "not_found"}

    def token_response(self, form: Mapping[str, str], authorization: str | None) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        if not self._client_authenticated(form, authorization):
            return 401, {"error": "invalid_client", "error_description": "Client authentication failed."}
        requested = tuple(form.get("scope", "").split()) or (self.scopes if self.flavour.name == "auth0" else ())
        if not requested or not set(requested) <= set(self.scopes):
            return 400, {"error": "invalid_scope", "error_description": "The requested scope is not allowed."}
        if self.flavour.name == "auth0" and form.get("audience") != self.audience:
            return 403, {"error": "access_denied", "error_description": "Service not enabled within domain."}
        self.tokens_issued += 1
        return 200, {"access_token": self._mint(requested), "token_type": "Bearer",
                     "expires_in": TOKEN_LIFETIME, "scope": " ".join(requested)}

    def _client_authenticated(self, form: Mapping[str, str], authorization: str | None) -> bool:
        if self.flavour.client_auth == "client_secret_basic":
            client_id, secret = _basic_credentials(authorization)
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        return client_id == self.client_id and hmac.compare_digest(secret.encode(), self._client_secret.encode())

    def _mint(self, scopes: tuple[str, ...]) -> str:
        if self.flavour.name == "okta":
            return self.key.token(lifetime=TOKEN_LIFETIME, header={"typ": None}, iss=self.issuer, aud=self.audience,
                                  sub=self.client_id, cid=self.client_id, scp=list(scopes), ver=1,
                                  jti=f"AT.{uuid.uuid4().hex}")
        return self.key.token(lifetime=TOKEN_LIFETIME, header={"typ": "JWT"}, iss=self.issuer, aud=self.audience,
                              sub=f"{self.client_id}@clients", azp=self.client_id, scope=" ".join(scopes),
                              gty="client-credentials")


def _basic_credentials(authorization: str | None) -> tuple[str, str]:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    client_id, _, secret = decoded.partition(":")
    return client_id, secret


def _handler_for(idp: LocalIdp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = urlsplit(self.path).path
            idp.requests.append(path)
            self._answer(*idp.get(path), cache_control=idp.cache_control)

        def do_POST(self) -> None:  # noqa: N802
            if urlsplit(self.path).path != idp.flavour.token_path:
                self._answer(404, {"error": "not_found"})
                return
            length = min(int(self.headers.get("Content-Length") or 0), 65536)
            fields = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
            form = {name: values[0] for name, values in fields.items()}
            self._answer(*idp.token_response(form, self.headers.get("Authorization")))

        def _answer(self, status: int, document: dict[str, Any], cache_control: str = "no-store") -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", cache_control)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # request lines from the server's thread would land in unrelated notebook cells

    return Handler
