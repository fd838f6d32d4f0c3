"""The API Gateway Lambda authorizer behind ``lambda_function.authorizer``: event in, authorizer answer out.

The same decision as ``lambda_function.handler`` (settings, key sources, verified-token cache,
reason codes, log lines); only the event adapter and the answer differ:

- REST API ``TOKEN`` authorizer (``authorizationToken``, ``methodArn``), REST API ``REQUEST``
  authorizer and HTTP API payload 1.0 (``headers``, ``methodArn``): an IAM policy;
- HTTP API payload 2.0 (``version: "2.0"``, ``routeArn``, lower-case ``headers``): a simple
  response ``{"isAuthorized": ..., "context": ...}`` (the authorizer is created with simple
  responses enabled).

Answers, by decision:

- allowed: ``Allow`` ``execute-api:Invoke`` on the whole stage (``.../API/STAGE/*``), never the
  one method: API Gateway caches the answer by token and reuses it for every route, and
  ``REQUIRE`` applies to the whole API;
- no token, a malformed header or an invalid token: :class:`Unauthorized`, the error whose message
  ``Unauthorized`` API Gateway turns into 401;
- a valid token without every required scope: an explicit ``Deny`` (simple response:
  ``isAuthorized: false``), which API Gateway turns into 403;
- a configuration error (including an empty ``REQUIRE``), an event that is not an authorizer
  event, a malformed ARN, keys that cannot be fetched, or a bug: :class:`AuthorizerFailure`, which
  API Gateway turns into 500 and, unlike a Deny, never caches. Never an Allow.

Nothing from the token but its verified claims ``sub``, ``iss``, the scopes and the client id
reaches an answer; the token itself never does.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import logs
from .authz import Decision, TokenClaims
from .claims import granted_scopes
from .handler import decide_token, log_decision
from .reasons import Denial, Reason
from .request import bearer_token

__all__ = [
    "AuthorizerFailure", "AuthorizerRequest", "EventKind", "MalformedEventError", "StageArn", "Unauthorized", "answer",
    "authorizer_context", "client_id", "handle_authorizer", "iam_policy", "parse_execute_api_arn", "read_event",
    "simple_response",
]

logger = logging.getLogger(__name__)

ContextValue = str | int | float | bool

#: The IAM policy language version API Gateway expects.
POLICY_VERSION = "2012-10-17"
#: Longer ARNs are refused before any parsing (a method ARN holds the request path, which the client chooses).
MAX_ARN_LENGTH = 2048
#: The claims that may name the client, in the order they are read: RFC 9068, Okta, OIDC/Auth0.
CLIENT_ID_CLAIMS = ("client_id", "cid", "azp")
_MAX_CONTEXT_STRING = 1024  # a claim longer than this is left out of the context rather than cut

# arn:PARTITION:execute-api:REGION:ACCOUNT:API_ID/STAGE/METHOD/PATH; only the part up to the stage is used.
_EXECUTE_API_ARN = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):execute-api:(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}):"
    r"(?P<account>[0-9]{12}):(?P<api>[a-z0-9]{1,64})/(?P<stage>\$default|[A-Za-z0-9_-]{1,128})/(?P<rest>[\x21-\x7e]*)"
)


class EventKind(enum.Enum):
    """Which authorizer sent the event, and so which answer it expects."""

    REST_TOKEN = "rest_token"  # noqa: S105 (an event type, not a secret). REST API, type TOKEN: IAM policy
    REQUEST = "request"  # REST API type REQUEST, or HTTP API payload 1.0: IAM policy
    HTTP_SIMPLE = "http_simple"  # HTTP API payload 2.0, simple responses


class Unauthorized(Exception):  # noqa: N818 (named after the message API Gateway matches exactly)
    """Raised for no token or an invalid one: API Gateway answers 401 for the message ``Unauthorized``."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


class AuthorizerFailure(Exception):  # noqa: N818 (API Gateway sees only the message)
    """Raised when no trustworthy answer exists: API Gateway answers 500 and caches nothing."""

    def __init__(self) -> None:
        super().__init__("Authorizer failure: see the function's log")


class MalformedEventError(ValueError):
    """The event is not an API Gateway authorizer event this function answers; the message says why."""


@dataclass(frozen=True)
class StageArn:
    """The parts of an ``execute-api`` ARN that name one stage of one API."""

    partition: str
    region: str
    account: str
    api_id: str
    stage: str

    @property
    def every_route(self) -> str:
        """The resource covering every method and path of the stage: ``arn:...:API/STAGE/*``."""
        return f"arn:{self.partition}:execute-api:{self.region}:{self.account}:{self.api_id}/{self.stage}/*"


@dataclass(frozen=True)
class AuthorizerRequest:
    """What the adapter read from an authorizer event: its kind, its stage, and where the credentials are."""

    kind: EventKind
    stage: StageArn
    credentials: Mapping[str, Any]  # an event-shaped mapping holding the Authorization header(s)

    def bearer_token(self) -> str | None:
        """The bearer token (RFC 6750, strictly), None when none is presented; raises :class:`Denial`."""
        return bearer_token(self.credentials)


def parse_execute_api_arn(arn: Any) -> StageArn:
    """The stage named by a ``methodArn`` or ``routeArn``; raises :class:`MalformedEventError` for anything else.

    Strict on purpose: the stage ARN goes into an IAM policy, so a region, account, API id or
    stage holding a wildcard, a colon or a slash must never get there.
    """
    if not isinstance(arn, str):
        raise MalformedEventError("the method or route ARN is not text")
    if len(arn) > MAX_ARN_LENGTH:
        raise MalformedEventError(f"the method or route ARN is longer than {MAX_ARN_LENGTH} characters")
    match = _EXECUTE_API_ARN.fullmatch(arn)
    if match is None:
        raise MalformedEventError("the method or route ARN is not an execute-api ARN of the form "
                             "arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/...")
    return StageArn(match["partition"], match["region"], match["account"], match["api"], match["stage"])


def read_event(event: Any) -> AuthorizerRequest:
    """The event's kind, stage and credentials; raises :class:`MalformedEventError` when it is no authorizer event."""
    if not isinstance(event, dict):
        raise MalformedEventError("the event is not a JSON object")
    event_type = event.get("type")
    if event_type == "TOKEN":
        token_value = event.get("authorizationToken")
        credentials = {} if token_value is None else {"headers": {"authorization": token_value}}
        return AuthorizerRequest(EventKind.REST_TOKEN, parse_execute_api_arn(event.get("methodArn")), credentials)
    if event_type == "REQUEST":
        if event.get("version") == "2.0":
            return AuthorizerRequest(EventKind.HTTP_SIMPLE, parse_execute_api_arn(event.get("routeArn")), event)
        return AuthorizerRequest(EventKind.REQUEST, parse_execute_api_arn(event.get("methodArn")), event)
    raise MalformedEventError("the event's type is neither TOKEN nor REQUEST: not an API Gateway authorizer event")


# --- answers ------------------------------------------------------------------------------------------


def iam_policy(principal_id: str, effect: str, resource: str,
               context: Mapping[str, ContextValue] | None = None) -> dict[str, Any]:
    """An authorizer's IAM policy answer: ``effect`` (Allow or Deny) on ``execute-api:Invoke`` for ``resource``."""
    if effect not in ("Allow", "Deny"):
        raise ValueError(f"effect must be Allow or Deny, not {effect!r}")
    answer: dict[str, Any] = {
        "principalId": principal_id,
        "policyDocument": {
            "Version": POLICY_VERSION,
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }
    if context:
        answer["context"] = dict(context)
    return answer


def simple_response(authorized: bool, context: Mapping[str, ContextValue] | None = None) -> dict[str, Any]:
    """An HTTP API simple response: ``{"isAuthorized": ..., "context": ...}``."""
    return {"isAuthorized": authorized, "context": dict(context or {})}


def client_id(claims: Mapping[str, Any]) -> str | None:
    """The client the token was issued to: ``client_id`` (RFC 9068), else ``cid`` (Okta), else ``azp`` (Auth0)."""
    for name in CLIENT_ID_CLAIMS:
        value = claims.get(name)
        if isinstance(value, str) and value and len(value) <= _MAX_CONTEXT_STRING:
            return value
    return None


def authorizer_context(claims: Mapping[str, Any]) -> dict[str, ContextValue]:
    """The flat context an Allow carries to the backend: ``sub``, ``iss``, ``scope`` and ``client_id``.

    Only strings, as API Gateway requires (no objects, no arrays); ``scope`` holds the granted
    scopes (from ``scope`` and ``scp``) sorted and space-delimited. Never the token.
    """
    context: dict[str, ContextValue] = {}
    for name in ("sub", "iss"):
        value = claims.get(name)
        if isinstance(value, str) and len(value) <= _MAX_CONTEXT_STRING:
            context[name] = value
    context["scope"] = " ".join(sorted(granted_scopes(claims)))
    client = client_id(claims)
    if client is not None:
        context["client_id"] = client
    return context


def answer(request: AuthorizerRequest, decision: Decision, principal_id: str = "") -> dict[str, Any]:
    """The answer for ``decision``: Allow or Deny, or raise :class:`Unauthorized` / :class:`AuthorizerFailure`."""
    reason = decision.reason
    if reason is Reason.ALLOWED and decision.claims is not None and principal_id:
        context = authorizer_context(decision.claims)
        if request.kind is EventKind.HTTP_SIMPLE:
            return simple_response(True, context)
        return iam_policy(principal_id, "Allow", request.stage.every_route, context)
    if reason is Reason.INSUFFICIENT_SCOPE and principal_id:
        context = {"reason": reason.code}
        if request.kind is EventKind.HTTP_SIMPLE:
            return simple_response(False, context)
        return iam_policy(principal_id, "Deny", request.stage.every_route, context)
    if reason.status in (400, 401):  # no token, a malformed header, an invalid token
        raise Unauthorized()
    raise AuthorizerFailure()  # a server-side failure, or a decision this function has no answer for


# --- the pipeline ---------------------------------------------------------------------------------------


def handle_authorizer(event: Any, context: Any) -> dict[str, Any]:
    """Serve one authorizer invocation: decide, log one line, answer (or raise the error API Gateway expects)."""
    request_id = getattr(context, "aws_request_id", None)
    with logs.request_context(request_id if isinstance(request_id, str) else None):
        request: AuthorizerRequest | None = None
        principal_id = ""
        try:
            request = read_event(event)
            decision, principal_id = _decide(request)
        except MalformedEventError as error:
            decision = Decision(Reason.CONFIGURATION_ERROR, detail={"why": str(error)})
        except Exception:  # fail closed: a bug must never let a request through or leak a traceback
            logger.error("unexpected error while authorizing", exc_info=True,
                         extra={"fields": {"reason": Reason.INTERNAL_ERROR.code}})
            decision = Decision(Reason.INTERNAL_ERROR)
        kind = request.kind.value if request is not None else "unknown"
        log_decision(dataclasses.replace(decision, detail={**decision.detail, "authorizer": kind}))
        if request is None:
            raise AuthorizerFailure() from None
        return answer(request, decision, principal_id)


def _decide(request: AuthorizerRequest) -> tuple[Decision, str]:
    """The decision for the request's token, and the principal (``sub``) when the token verified."""
    try:
        token = request.bearer_token()
    except Denial as denial:
        return Decision(denial.reason, detail=denial.detail), ""
    decision = decide_token(token)
    if decision.reason is Reason.AUTHORIZATION_DISABLED:
        # An authorizer that allowed every request would be a silent hole in front of the whole API.
        return Decision(Reason.CONFIGURATION_ERROR,
                        detail={"why": "REQUIRE is empty: an authorizer never allows every request"}), ""
    if decision.reason is Reason.ALLOWED:
        claims = decision.claims
    elif decision.reason is Reason.INSUFFICIENT_SCOPE and token is not None:
        claims = TokenClaims(token)  # its signature and claims verified: only a scope was missing
    else:
        return decision, ""
    subject = claims.get("sub") if claims is not None else None
    if not isinstance(subject, str) or not subject or len(subject) > _MAX_CONTEXT_STRING:
        return Decision(Reason.MISSING_CLAIM, detail={"claim": "sub",
                                                      "why": "an authorizer answer needs a principal"}), ""
    return decision, subject
