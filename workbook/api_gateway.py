"""A small model of how API Gateway uses a Lambda authorizer's answer, for notebook 12 and its checks.

It does what API Gateway's documentation says, and no more: the answer is cached by the token for
``ttl`` seconds, whatever the token's ``exp``, and reused for every route; an IAM policy is matched
against the request's method ARN with IAM's wildcards (``*`` any run of characters, ``?`` one); an
explicit Deny wins; no matching Allow is a 403; the error ``Unauthorized`` is a 401; any other error
a 500, not cached. It never talks to AWS: the local stand-in does not invoke authorizers, this does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Authorizer = Callable[[dict[str, Any], Any], Mapping[str, Any]]


def resource_covers(pattern: str, arn: str) -> bool:
    """Whether an IAM policy's ``Resource`` (with ``*`` and ``?``) matches ``arn``, as IAM matches it."""
    if not isinstance(pattern, str) or not isinstance(arn, str):
        return False
    regex = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.fullmatch(regex, arn, re.DOTALL) is not None


def _statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    document = policy.get("policyDocument")
    statements = document.get("Statement") if isinstance(document, Mapping) else None
    if isinstance(statements, Mapping):
        statements = [statements]
    return [s for s in statements if isinstance(s, Mapping)] if isinstance(statements, list) else []


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_status(policy: Mapping[str, Any], method_arn: str) -> int:
    """The status API Gateway gives a request for ``method_arn`` under ``policy``: 200, or 403."""
    allowed = False
    for statement in _statements(policy):
        actions = _listed(statement.get("Action"))
        if not any(isinstance(a, str) and resource_covers(a, "execute-api:Invoke") for a in actions):
            continue
        if not any(resource_covers(r, method_arn) for r in _listed(statement.get("Resource"))):
            continue
        if statement.get("Effect") == "Deny":
            return 403
        if statement.get("Effect") == "Allow":
            allowed = True
    return 200 if allowed else 403


@dataclass
class TokenAuthorizerGateway:
    """A REST API with a TOKEN authorizer in front: ``request(token, method_arn)`` gives the status."""

    authorizer: Authorizer
    ttl: float = 300.0
    now: float = 0.0  # the gateway's clock, moved by the caller (nothing here sleeps)
    calls: int = 0
    _cache: dict[str, tuple[float, Mapping[str, Any]]] = field(default_factory=dict)

    def request(self, token: str, method_arn: str) -> int:
        cached = self._cache.get(token)
        if cached is not None and self.now < cached[0]:
            return policy_status(cached[1], method_arn)  # the authorizer is not called: exp is not looked at
        self.calls += 1
        event = {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": method_arn}
        try:
            answer = self.authorizer(event, None)
        except Exception as error:  # what API Gateway does with the function's error
            return 401 if str(error) == "Unauthorized" else 500
        if self.ttl > 0:
            self._cache[token] = (self.now + self.ttl, answer)
        return policy_status(answer, method_arn)
