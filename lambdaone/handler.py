"""The request pipeline behind ``lambda_function.handler``: event in, proxy response out.

Settings, key sources and the logger are built at cold start (or when the environment changes)
and reused by every warm invocation; the warm path does no I/O. Any failure, expected or not,
ends in a well-formed response: the Lambda fails closed and never returns a traceback.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import discovery, jwt_key, logs, resource_metadata, snapstart
from . import settings as settings_module
from .authz import Decision, Keys, KeySource, authorize
from .fixed_key import FixedKeySource, KeyFileError
from .issuers import IssuerKeys
from .reasons import Denial, Reason
from .request import bearer_token
from .responses import respond
from .settings import ConfigurationError, Settings
from .token_cache import VerifiedTokenCache

logger = logging.getLogger(__name__)
logs.configure()


@dataclass(frozen=True)
class Runtime:
    """What one configuration needs at run time: settings, key sources and token cache, or the configuration error.

    ``key_source`` is the issuer's key source with one issuer, an :class:`IssuerKeys` with several.
    The verified-token cache belongs to the runtime: a new configuration starts with an empty one.
    """

    fingerprint: tuple[object, ...]
    settings: Settings | None
    key_source: Keys | None
    error: str | None = None
    token_cache: VerifiedTokenCache | None = None


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def current_runtime(environ: Mapping[str, str] = os.environ) -> Runtime:
    """The runtime for the current environment, built once per distinct configuration."""
    global _runtime
    fingerprint = settings_module.fingerprint(environ)
    runtime = _runtime
    if runtime is not None and runtime.fingerprint == fingerprint:
        return runtime
    with _runtime_lock:
        if _runtime is None or _runtime.fingerprint != fingerprint:
            previous = _runtime
            _runtime = _build_runtime(environ, fingerprint)
            if previous is not None and previous.token_cache is not None:
                previous.token_cache.clear()  # verified under the old configuration: never reused
        return _runtime


def _build_runtime(environ: Mapping[str, str], fingerprint: tuple[object, ...]) -> Runtime:
    try:
        settings = settings_module.load(environ)
        logs.configure(settings.log_level)
        key_source = build_key_source(settings)
    except ConfigurationError as error:
        # Logged once per configuration; every request then gets a generic 500.
        logger.error("configuration error: every request will get a 500 until it is fixed",
                     extra={"fields": {"reason": Reason.CONFIGURATION_ERROR.code, "variable": error.variable,
                                       "problem": str(error)}})
        return Runtime(fingerprint, None, None, str(error))
    for warning in settings.warnings:
        logger.warning(warning)
    cache = VerifiedTokenCache(settings.token_cache_size) if key_source is not None and settings.token_cache_size else None
    return Runtime(fingerprint, settings, key_source, token_cache=cache)


def build_key_source(settings: Settings) -> Keys | None:
    """The key sources the settings name (one per issuer); None when authorization is off.

    One issuer: its source itself. Several: an :class:`IssuerKeys`, each issuer with its own source.
    """
    if not settings.authorization_required:
        return None
    if settings.key_path is not None:
        try:
            source = FixedKeySource(settings.key_path)
        except KeyFileError as error:
            raise ConfigurationError("SIGNATUREKEYPATH", str(error),
                                     "point it at the issuer's PEM public key or certificate") from None
        if not source.algorithms & settings.algorithms:
            raise ConfigurationError(
                "ALGORITHMS", f"none of {sorted(settings.algorithms)} fits the key in SIGNATUREKEYPATH",
                f"allow one of {sorted(source.algorithms)}")
        return source
    policy = jwt_key.CachePolicy(
        lifetime=settings.jwks_cache_seconds,
        cooldown=settings.jwks_cooldown_seconds,
        stale_for=settings.jwks_stale_seconds,
        timeout=settings.jwks_timeout_seconds,
        min_lifetime=settings.jwks_min_cache_seconds,
    )
    sources: dict[str, KeySource] = {}
    for position, issuer in enumerate(settings.issuers):
        if settings.jwks_urls:
            sources[issuer] = jwt_key.source_for(settings.jwks_urls[position], policy)
        else:
            sources[issuer] = discovery.source_for(issuer, policy)
    if len(sources) == 1:
        return sources[settings.issuer]
    return IssuerKeys(sources)


def warm_up() -> None:
    """At cold start: load the configuration and fetch JWKS keys (and discovery metadata) before the first request.

    Under SnapStart the keys fetched here are frozen into the snapshot: an after-restore hook
    (``lambdaone.snapstart``) refreshes them, and key age counts wall-clock time anyway.
    """
    runtime = current_runtime()
    if isinstance(runtime.key_source, (jwt_key.JwksKeySource, IssuerKeys)):
        runtime.key_source.prefetch()
    snapstart.register_after_restore(jwt_key.after_restore)


def handle(event: Any, context: Any) -> dict[str, Any]:
    """Serve one invocation: authorize, respond, log one line per decision."""
    request_id = getattr(context, "aws_request_id", None)
    with logs.request_context(request_id if isinstance(request_id, str) else None):
        settings: Settings | None = None
        try:
            runtime = current_runtime()
            settings = runtime.settings
            metadata = resource_metadata.answer(event, settings)  # RFC 9728: no token needed
            if metadata is not None:
                return metadata
            decision = decide(event, runtime)
        except Exception:  # fail closed: a bug must never let a request through or leak a traceback
            logger.error("unexpected error while authorizing", exc_info=True,
                         extra={"fields": {"reason": Reason.INTERNAL_ERROR.code}})
            decision = Decision(Reason.INTERNAL_ERROR)
        log_decision(decision)
        return respond(decision, resource_metadata.metadata_url(settings))


def decide(event: Any, runtime: Runtime | None = None) -> Decision:
    """The decision for one event under ``runtime`` (by default the current configuration's)."""
    runtime = runtime or current_runtime()
    refusal = _decided_by_configuration(runtime)
    if refusal is not None:
        return refusal  # before the event is read: a broken configuration answers 500 whatever it holds
    try:
        token = bearer_token(event)
    except Denial as denial:
        return Decision(denial.reason, detail=denial.detail)
    return _authorize(token, runtime)


def decide_token(token: str | None) -> Decision:
    """The decision for a bearer token already taken out of its event (None: none presented).

    The entry point of the API Gateway authorizer (``lambdaone.authorizer``): same configuration,
    key sources, verified-token cache and reason codes as :func:`decide`.
    """
    runtime = current_runtime()
    return _decided_by_configuration(runtime) or _authorize(token, runtime)


def _decided_by_configuration(runtime: Runtime) -> Decision | None:
    """The decision the configuration alone takes (an error, or authorization off), or None."""
    if runtime.settings is None:
        return Decision(Reason.CONFIGURATION_ERROR)
    if not runtime.settings.authorization_required:
        return Decision(Reason.AUTHORIZATION_DISABLED)
    return None


def _authorize(token: str | None, runtime: Runtime) -> Decision:
    assert runtime.settings is not None  # checked by _decided_by_configuration
    return authorize(token, runtime.settings, runtime.key_source, runtime.token_cache)


def log_decision(decision: Decision) -> None:
    """One line per decision: allowed at DEBUG, denials at INFO, server-side failures at ERROR."""
    reason = decision.reason
    if reason.allowed:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("request allowed", extra={"fields": {"reason": reason.code, **decision.detail}})
        return
    level = logging.ERROR if reason.status >= 500 else logging.INFO
    logger.log(level, "request denied",
               extra={"fields": {"reason": reason.code, "status": reason.status, **decision.detail}})
