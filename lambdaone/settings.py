"""The configuration, read from the environment only (a ``.env`` file is for local runs, never required).

``load(environ)`` parses and validates every variable and returns :class:`Settings`, or raises
:class:`ConfigurationError` naming the variable and the fix. It is pure: no key file is read
and no network is touched here (``handler`` builds the key sources from the settings).

Key sources, exactly one way for all issuers: ``SIGNATUREKEYPATH`` (a single issuer only),
``JWKSPATH`` (one URL per issuer, in ``ISSUER``'s order), or neither: OpenID Connect Discovery
from each issuer (``Settings.discovery``; ``lambdaone.discovery`` fetches the documents).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .keys import SUPPORTED_ALGORITHMS

#: The folder of ``lambda_function.py`` (``LAMBDA_TASK_ROOT`` in AWS): relative key paths resolve here.
TASK_ROOT = Path(__file__).resolve().parent.parent

#: Every variable the Lambda reads; a change to any of them makes the configuration load again.
VARIABLES = (
    "REQUIRE", "AUDIENCE", "ISSUER", "JWKSPATH", "SIGNATUREKEYPATH", "ALGORITHMS", "LEEWAY",
    "JWKS_CACHE_SECONDS", "JWKS_MIN_CACHE_SECONDS", "JWKS_COOLDOWN_SECONDS", "JWKS_STALE_SECONDS", "JWKS_TIMEOUT_SECONDS",
    "AWS_LAMBDA_LOG_LEVEL", "LOG_LEVEL", "TOKEN_CACHE_SIZE", "RESOURCE",
)

_SEPARATORS = re.compile(r"[,\s]+")
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_LOG_LEVELS = {"TRACE": logging.DEBUG, "DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING,
               "WARNING": logging.WARNING, "ERROR": logging.ERROR, "FATAL": logging.CRITICAL,
               "CRITICAL": logging.CRITICAL}
_ALGORITHM_NAMES = {name.upper(): name for name in SUPPORTED_ALGORITHMS}


class ConfigurationError(ValueError):
    """A variable is missing or wrong; the message names it and says how to fix it."""

    def __init__(self, variable: str, problem: str, fix: str) -> None:
        super().__init__(f"{variable}: {problem}. Fix: {fix}")
        self.variable = variable


@dataclass(frozen=True)
class Settings:
    """Validated configuration. ``required_scopes`` empty means authorization is off.

    ``issuers`` lists every accepted ``iss`` (exactly, trailing slash included); ``issuer`` is the
    first (the only one in a single-issuer configuration). ``jwks_urls`` holds one JWKS URL per
    issuer, in the same order, or nothing; ``jwks_url`` is the first. Built with only ``issuer``
    (and ``jwks_url``), the lists follow from them.
    """

    required_scopes: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    issuer: str = ""
    jwks_url: str | None = None
    key_path: Path | None = None
    algorithms: frozenset[str] = frozenset({"RS256"})
    leeway: float = 30.0
    jwks_cache_seconds: float = 600.0
    jwks_min_cache_seconds: float = 60.0
    jwks_cooldown_seconds: float = 10.0
    jwks_stale_seconds: float = 1800.0
    jwks_timeout_seconds: float = 2.0
    log_level: int = logging.INFO
    token_cache_size: int = 1000
    #: ``RESOURCE``: the API's resource identifier (RFC 9728), or None: no protected resource metadata.
    resource: str | None = None
    warnings: tuple[str, ...] = field(default=(), compare=False)
    issuers: tuple[str, ...] = ()
    jwks_urls: tuple[str, ...] = ()
    #: ``issuers`` as a set: the warm path picks a token's issuer with one hash lookup.
    issuer_set: frozenset[str] = field(init=False, repr=False, compare=False, default=frozenset())

    def __post_init__(self) -> None:
        if not self.issuers and self.issuer:
            object.__setattr__(self, "issuers", (self.issuer,))
        elif self.issuers and self.issuer not in ("", self.issuers[0]):
            raise ValueError("Settings: issuer must be the first of issuers")
        if self.issuers:
            object.__setattr__(self, "issuer", self.issuers[0])
        if not self.jwks_urls and self.jwks_url:
            object.__setattr__(self, "jwks_urls", (self.jwks_url,))
        elif self.jwks_urls and self.jwks_url not in (None, self.jwks_urls[0]):
            raise ValueError("Settings: jwks_url must be the first of jwks_urls")
        if self.jwks_urls:
            object.__setattr__(self, "jwks_url", self.jwks_urls[0])
        if self.jwks_urls and len(self.jwks_urls) != len(self.issuers):
            raise ValueError("Settings: one JWKS URL per issuer")
        object.__setattr__(self, "issuer_set", frozenset(self.issuers))

    @property
    def authorization_required(self) -> bool:
        return bool(self.required_scopes)

    @property
    def discovery(self) -> bool:
        """Whether keys come from OpenID Connect Discovery (neither JWKSPATH nor SIGNATUREKEYPATH set)."""
        return self.authorization_required and self.key_path is None and not self.jwks_urls


_VARIABLE_KEYS = tuple(os.fsencode(name) for name in VARIABLES)


def fingerprint(environ: Mapping[str, str]) -> tuple[object, ...]:
    """What the configuration depends on: compare it to know whether to load again.

    It runs on every request, so for ``os.environ`` it reads the raw mapping behind it: about 25
    times cheaper than 13 ``os.environ.get`` calls, each of which encodes and decodes.
    """
    raw = getattr(environ, "_data", None) if environ is os.environ else None
    if isinstance(raw, dict):
        return tuple(map(raw.get, _VARIABLE_KEYS))
    return tuple(environ.get(name) for name in VARIABLES)


def load(environ: Mapping[str, str]) -> Settings:
    """Parse and validate the configuration; raise :class:`ConfigurationError` on the first problem."""
    warnings: list[str] = []
    log_level = _log_level(environ, warnings)
    scopes = _scopes(environ.get("REQUIRE", ""))
    if not scopes:
        warnings.append(
            "REQUIRE is empty: authorization is OFF and every request is served without a token. "
            "Set REQUIRE to the scopes a token must grant."
        )
        if environ.get("RESOURCE", "").strip():
            warnings.append("RESOURCE is set but REQUIRE is empty: no protected resource metadata is published")
        return Settings(log_level=log_level, warnings=tuple(warnings))

    issuers = _issuers(environ.get("ISSUER", ""))
    audiences = tuple(dict.fromkeys(a.strip() for a in environ.get("AUDIENCE", "").split(",") if a.strip()))
    if not audiences:
        raise ConfigurationError("AUDIENCE", "missing while REQUIRE is set",
                                 "set it to the API identifier the tokens are issued for (comma separated for several)")

    jwks_urls = tuple(url for url in _SEPARATORS.split(environ.get("JWKSPATH", "")) if url)
    key_file = environ.get("SIGNATUREKEYPATH", "").strip() or None
    if jwks_urls and key_file:
        raise ConfigurationError("JWKSPATH/SIGNATUREKEYPATH", "both are set",
                                 "keep exactly one: JWKSPATH for the issuers' key sets, SIGNATUREKEYPATH for a PEM "
                                 "file, or neither for OpenID Connect Discovery")
    if key_file and len(issuers) > 1:
        raise ConfigurationError("SIGNATUREKEYPATH", f"one PEM key cannot serve the {len(issuers)} issuers in ISSUER",
                                 "set JWKSPATH to one JWKS URL per issuer, or unset both for OpenID Connect Discovery")
    if jwks_urls and len(jwks_urls) != len(issuers):
        raise ConfigurationError("ISSUER/JWKSPATH",
                                 f"ISSUER lists {len(issuers)} issuer(s) but JWKSPATH {len(jwks_urls)} URL(s)",
                                 "give JWKSPATH exactly one JWKS URL per issuer, in ISSUER's order")
    for url in jwks_urls:
        _check_url(url, "JWKSPATH", "the issuer's https JWKS URL")
    if not jwks_urls and not key_file:
        for issuer in issuers:  # discovery: each issuer is where its metadata is fetched from
            _check_url(issuer, "ISSUER", "https issuer identifiers for OpenID Connect Discovery, or set JWKSPATH "
                                         "(one JWKS URL per issuer)")
            if urlsplit(issuer).query or "#" in issuer:
                raise ConfigurationError("ISSUER", f"{redact_url(issuer)[:60]!r} has a query or fragment, which an "
                                         "issuer identifier never has", "use the issuer's exact 'iss' value")
    key_path = _key_path(key_file) if key_file else None

    return Settings(
        required_scopes=scopes,
        audiences=audiences,
        issuers=issuers,
        jwks_urls=jwks_urls,
        key_path=key_path,
        algorithms=_algorithms(environ.get("ALGORITHMS", "")),
        leeway=_seconds(environ, "LEEWAY", 30.0, low=0, high=600),
        jwks_cache_seconds=_seconds(environ, "JWKS_CACHE_SECONDS", 600.0, low=1, high=86400),
        jwks_min_cache_seconds=_seconds(environ, "JWKS_MIN_CACHE_SECONDS", 60.0, low=0, high=86400),
        jwks_cooldown_seconds=_seconds(environ, "JWKS_COOLDOWN_SECONDS", 10.0, low=0, high=3600),
        jwks_stale_seconds=_seconds(environ, "JWKS_STALE_SECONDS", 1800.0, low=0, high=86400),
        jwks_timeout_seconds=_seconds(environ, "JWKS_TIMEOUT_SECONDS", 2.0, low=0.1, high=30),
        log_level=log_level,
        token_cache_size=_count(environ, "TOKEN_CACHE_SIZE", 1000, high=100_000),
        resource=_resource(environ.get("RESOURCE", "")),
        warnings=tuple(warnings),
    )


def _issuers(text: str) -> tuple[str, ...]:
    issuers = [issuer for issuer in _SEPARATORS.split(text) if issuer]
    if not issuers:
        raise ConfigurationError("ISSUER", "missing while REQUIRE is set",
                                 "set it to the issuer's exact 'iss' value, e.g. https://example.okta.com/oauth2/default "
                                 "(several issuers separated by commas or spaces)")
    for position, issuer in enumerate(issuers):
        if issuer in issuers[:position]:
            raise ConfigurationError("ISSUER", f"{redact_url(issuer)[:60]!r} is listed twice",
                                     "list each issuer once (JWKSPATH, if set, gives one URL per issuer)")
    return tuple(issuers)


def _scopes(text: str) -> tuple[str, ...]:
    scopes = tuple(dict.fromkeys(s for s in _SEPARATORS.split(text) if s))
    for scope in scopes:
        if not _SCOPE_TOKEN.fullmatch(scope):
            raise ConfigurationError("REQUIRE", f"{scope[:40]!r} is not a valid scope name",
                                     "use scope names such as treasure:read, separated by commas or spaces")
    return scopes


def _algorithms(text: str) -> frozenset[str]:
    names = [n for n in _SEPARATORS.split(text) if n] or ["RS256"]
    chosen = set()
    for name in names:
        canonical = _ALGORITHM_NAMES.get(name.upper())
        if canonical is None:
            if name.upper() == "NONE" or name.upper().startswith("HS"):
                problem = f"{name!r} is never allowed: a public-key verifier must not accept 'none' or HMAC"
            else:
                problem = f"{name!r} is not a supported algorithm"
            raise ConfigurationError("ALGORITHMS", problem, f"choose from {', '.join(SUPPORTED_ALGORITHMS)}")
        chosen.add(canonical)
    return frozenset(chosen)


def _seconds(environ: Mapping[str, str], name: str, default: float, *, low: float, high: float) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (low <= value <= high):  # also false for NaN
        raise ConfigurationError(name, f"{text[:20]!r} is not a number of seconds from {low:g} to {high:g}",
                                 f"set a number such as {default:g}, or unset it for the default {default:g}")
    return value


def _count(environ: Mapping[str, str], name: str, default: int, *, high: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(high)) and int(text) <= high):
        raise ConfigurationError(name, f"{text[:20]!r} is not a whole number from 0 to {high}",
                                 f"set a number such as {default}, 0 to turn it off, or unset it for the default")
    return int(text)


def _check_url(url: str, variable: str, wanted: str) -> None:
    """``url`` is https with a host (plain http only on loopback) and carries no credentials."""
    shown = redact_url(url)  # messages never repeat credentials, whatever the URL's form
    if has_credentials(url):
        raise ConfigurationError(variable, f"{shown!r} carries credentials (user:password@)",
                                 f"{'a JWKS' if variable == 'JWKSPATH' else 'discovery metadata'} is public: "
                                 f"remove the credentials and use {wanted}")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:  # e.g. an unclosed IPv6 bracket: a configuration error, not a crash on every request
        raise ConfigurationError(variable, f"{shown!r} is not a valid URL",
                                 f"use {wanted} (plain http is allowed only on loopback)") from None
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and is_loopback_host(host):
        return
    shown = f"{parts.scheme}://{host}" if host else shown[:40]  # never repeat a long URL
    raise ConfigurationError(variable, f"{shown!r} is not an https URL",
                             f"use {wanted} (plain http is allowed only on loopback, for local tests)")


def has_credentials(url: str) -> bool:
    """Whether ``url`` carries a ``user:password@`` part (in any form, see ``_userinfo_end``)."""
    return _userinfo_end(url) > 0


_SCHEME_PREFIX = re.compile(r"\s*(?:[A-Za-z][A-Za-z0-9+.-]*:(?=[/\\])|[Hh][Tt][Tt][Pp][Ss]?:)[/\\]*|\s*[/\\]*")


def _userinfo_end(url: str) -> int:
    """Where the ``user:password@`` part of ``url`` ends (just past its last "@"), or 0 without one.

    Read on the raw text, not with urlsplit: a URL it cannot parse, or reads as a path (no scheme,
    no "//"), is covered too. The last "@" before any ? or # counts, even after a "/": a password
    holding a raw "/" would otherwise pass for a path (so a JWKS path with "@" is refused too).
    """
    scheme = _SCHEME_PREFIX.match(url)  # the pattern matches "" too, so this is never None
    start = scheme.end() if scheme is not None else 0
    authority = re.split(r"[?#]", url[start:], maxsplit=1)[0]
    at = authority.rfind("@")
    return start + at + 1 if at >= 0 else 0


def redact_url(url: str) -> str:
    """``url`` with its ``user:password@`` part (if any) replaced by ``***@``, cut to 100 characters."""
    end = _userinfo_end(url)
    if end:
        start = _SCHEME_PREFIX.match(url).end()  # type: ignore[union-attr]
        url = f"{url[:start]}***@{url[end:]}"
    return url[:100]


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1): where plain http is allowed."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _key_path(value: str) -> Path:
    path = Path(value)
    # In AWS the working directory is not the task root: relative names resolve beside lambda_function.py.
    return path if path.is_absolute() else TASK_ROOT / path


def _log_level(environ: Mapping[str, str], warnings: list[str]) -> int:
    for name in ("AWS_LAMBDA_LOG_LEVEL", "LOG_LEVEL"):
        text = environ.get(name, "").strip()
        if text:
            level = _LOG_LEVELS.get(text.upper())
            if level is None:
                warnings.append(f"{name}={text[:20]!r} is not a log level (DEBUG, INFO, WARN, ERROR): using INFO")
                return logging.INFO
            return level
    return logging.INFO


# RFC 3986's characters (unreserved, reserved, "%"): nothing that could break out of the quoted
# resource_metadata="..." parameter of WWW-Authenticate (no space, quote, backslash or control).
_URI_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_RESOURCE_FIX = "set it to the API's https URL, e.g. https://api.example.com/v1 (plain http only on loopback)"


def _resource(text: str) -> str | None:
    """``RESOURCE``, the resource identifier RFC 9728 §1.2 describes, or None when unset.

    An https URL with a host (plain http only on loopback, for local tests), no credentials, no
    fragment (RFC 9728 §1.2), no query (RFC 8707 §2 discourages it, and a Lambda event carries the
    query apart from the path the metadata route matches) and no "." or ".." path segment.
    """
    resource = text.strip()
    if not resource:
        return None
    shown = redact_url(resource)[:60]
    if has_credentials(resource):
        raise ConfigurationError("RESOURCE", f"{shown!r} carries credentials (user:password@)", _RESOURCE_FIX)
    if not _URI_CHARACTERS.fullmatch(resource):
        raise ConfigurationError("RESOURCE", f"{shown!r} holds characters a URL cannot (space, quote, ...)",
                                 _RESOURCE_FIX)
    try:
        parts = urlsplit(resource)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        raise ConfigurationError("RESOURCE", f"{shown!r} is not a valid URL", _RESOURCE_FIX) from None
    if not host or not (parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(host))):
        raise ConfigurationError("RESOURCE", f"{shown!r} is not an https URL", _RESOURCE_FIX)
    if "#" in resource:
        raise ConfigurationError("RESOURCE", f"{shown!r} has a fragment, which a resource identifier never has",
                                 _RESOURCE_FIX)
    if "?" in resource:
        raise ConfigurationError("RESOURCE", f"{shown!r} has a query", "use the API's URL without '?...'")
    if any(segment in (".", "..") for segment in parts.path.split("/")):
        raise ConfigurationError("RESOURCE", f"{shown!r} has a '.' or '..' path segment", _RESOURCE_FIX)
    return resource
