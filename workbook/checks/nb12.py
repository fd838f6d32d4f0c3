"""Checks for ``12_authorizers``: an authorizer's IAM policy, and a cached answer that is safe for every route."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lambdaone.authorizer import iam_policy as reference_policy
from lambdaone.claims import granted_scopes
from workbook.api_gateway import resource_covers
from workbook.checking import Case, check

BuildPolicy = Callable[[str, str, str, Mapping[str, Any]], Any]
StageResource = Callable[[str], Any]

STAGE = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/*"
GET_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/treasure"
POST_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/POST/treasure/42"
ISSUER = "https://issuer.example.test/"
AUTH0_CLAIMS = {"sub": "learner", "iss": ISSUER, "aud": "https://api.example.test/treasure",
                "scope": "treasure:read openid", "exp": 2000000000}
OKTA_CLAIMS = {"sub": "00u1learner", "iss": ISSUER, "aud": ["api://treasure", "api://other"],
               "scp": ["treasure:read", "openid"], "groups": ["pirates"], "cnf": {"x5t#S256": "abc"}, "cid": "0oa1"}

VERSION_HINT = 'the policy language version is "2012-10-17" (policyDocument.Version), not another date'
STATEMENT_HINT = "policyDocument.Statement is a list of statements: [{...}], even for one"
ACTION_HINT = ('the action is exactly "execute-api:Invoke": "execute-api:*" or "*" would also grant managing the API '
               "(ManageConnections, InvalidateCache)")
EFFECT_HINT = 'IAM effects are "Allow" and "Deny", capitalised exactly: anything else is refused by API Gateway'
RESOURCE_HINT = ('use the resource you were given: "*" allows every API of every account, and a resource you changed '
                 "is not the one the request asked about")
CONTEXT_HINT = ('context holds sub, iss and scope only, each a string (scope: the granted scopes joined by spaces, '
                "from scope or scp): API Gateway refuses an array or an object in context, and a copy of every claim "
                "could carry anything")
PRINCIPAL_HINT = "principalId is the principal you were given (the token's sub), a string"
VALIDATE_HINT = ('refuse (raise ValueError) an effect that is not exactly "Allow" or "Deny": a typo must never turn '
                 "into a policy")


def _explain_policy(outcome: Any) -> str | None:
    """Name the first mistake in a returned answer."""
    if not isinstance(outcome, Mapping):
        return None
    document = outcome.get("policyDocument")
    if not isinstance(document, Mapping):
        return "return {\"principalId\": ..., \"policyDocument\": {...}, \"context\": {...}}"
    if document.get("Version") != "2012-10-17":
        return VERSION_HINT
    statements = document.get("Statement")
    if not isinstance(statements, list):
        return STATEMENT_HINT
    if len(statements) != 1 or not isinstance(statements[0], Mapping):
        return "one statement: {\"Action\": ..., \"Effect\": ..., \"Resource\": ...}"
    statement = statements[0]
    if statement.get("Action") != "execute-api:Invoke":
        return ACTION_HINT
    if statement.get("Effect") not in ("Allow", "Deny"):
        return EFFECT_HINT
    if statement.get("Resource") != STAGE:
        return RESOURCE_HINT
    context = outcome.get("context")
    if not isinstance(context, Mapping) or set(context) != {"sub", "iss", "scope"} or not all(
            isinstance(value, str) for value in context.values()):
        return CONTEXT_HINT
    if outcome.get("principalId") not in (AUTH0_CLAIMS["sub"], OKTA_CLAIMS["sub"]):
        return PRINCIPAL_HINT
    return None


def expected_policy(effect: str, principal: str, resource: str, claims: Mapping[str, Any]) -> dict[str, Any]:
    """The reference answer: lambdaone's IAM policy with the context of the exercise."""
    context = {"sub": claims["sub"], "iss": claims["iss"], "scope": " ".join(sorted(granted_scopes(claims)))}
    return reference_policy(principal, effect, resource, context)


def _same_policy(expected: dict[str, Any]) -> Callable[[Any], bool]:
    """Equal to ``expected``, the scopes compared as a set of words (their order is free)."""
    def matches(value: Any) -> bool:
        if not isinstance(value, Mapping) or not isinstance(value.get("context"), Mapping):
            return False
        scope = value["context"].get("scope")
        if not isinstance(scope, str) or sorted(scope.split(" ")) != sorted(expected["context"]["scope"].split(" ")):
            return False
        return {**value, "context": {**value["context"], "scope": expected["context"]["scope"]}} == expected
    return matches


def check_iam_policy(build_policy: BuildPolicy) -> None:
    """``build_policy(effect, principal_id, resource, claims)``: an authorizer's IAM policy answer."""
    cases = []
    for name, effect, claims in (
            ("Allow, an Auth0-style token (scope string)", "Allow", AUTH0_CLAIMS),
            ("Deny, an Auth0-style token", "Deny", AUTH0_CLAIMS),
            ("Allow, an Okta-style token (scp array, aud array, nested claims)", "Allow", OKTA_CLAIMS),
            ("Deny, an Okta-style token", "Deny", OKTA_CLAIMS)):
        expected = expected_policy(effect, str(claims["sub"]), STAGE, claims)
        cases.append(Case(
            name, (lambda effect=effect, claims=claims: build_policy(effect, str(claims["sub"]), STAGE, dict(claims))),
            satisfies=_same_policy(expected), describe_expected=repr(expected), hint=CONTEXT_HINT,
            explain=_explain_policy))
    cases += [
        Case('a lower-case effect ("allow") is refused', lambda: build_policy("allow", "learner", STAGE, AUTH0_CLAIMS),
             raises=ValueError, hint=VALIDATE_HINT),
        Case('an effect "*" is refused', lambda: build_policy("*", "learner", STAGE, AUTH0_CLAIMS),
             raises=ValueError, hint=VALIDATE_HINT),
    ]
    check("build_policy", cases)


# --- exercise 2: the stage, for every route ----------------------------------------------------------------

CACHE_HINT = ("API Gateway caches the answer by token and reuses it for every route: allow the whole stage, "
              "arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/*, not the method ARN you were asked about")
STAGE_HINT = "stay on the request's stage: a policy for API/* would also open every other stage (dev, test)"
WILDCARD_HINT = ("never copy a wildcard from the ARN into the policy: check every part (aws partition, execute-api, "
                 "a region, a 12-digit account, an API id of lower-case letters and digits, a stage of letters, "
                 "digits, - and _ or $default) and raise ValueError for anything else")
COLON_HINT = "the path after the stage may hold ':': split on ':' at most 5 times (arn.split(':', 5))"
DEFAULT_HINT = "HTTP APIs have a stage named $default: accept it"
EVERYTHING_HINT = '"*" allows every API of every account: allow the request\'s stage, API/STAGE/*, and nothing more'


def _covers(resource: str) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and resource_covers(value, resource)


def _explain_resource(outcome: Any) -> str | None:
    if isinstance(outcome, str):
        if outcome in ("*", "arn:aws:execute-api:*"):
            return EVERYTHING_HINT
        if outcome.endswith(":abcdef1234/*"):
            return STAGE_HINT
        if "/GET/" in outcome or outcome.endswith("/GET/*") or outcome.endswith("/treasure"):
            return CACHE_HINT
    return None


HOSTILE_ARNS = (
    ("a wildcard API id", "arn:aws:execute-api:us-east-1:123456789012:*/prod/GET/treasure"),
    ("a wildcard stage", "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/*/GET/treasure"),
    ("a wildcard region", "arn:aws:execute-api:*:123456789012:abcdef1234/prod/GET/treasure"),
    ("an account of 11 digits", "arn:aws:execute-api:us-east-1:12345678901:abcdef1234/prod/GET/treasure"),
    ("another service", "arn:aws:lambda:us-east-1:123456789012:abcdef1234/prod/GET/treasure"),
    ("no stage", "arn:aws:execute-api:us-east-1:123456789012:abcdef1234"),
    ("a stage holding '?'", "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/pr?d/GET/treasure"),
    ("not an ARN", "Bearer eyJhbGciOiJSUzI1NiJ9"),
)


def check_stage_resource(stage_resource: StageResource) -> None:
    """``stage_resource(method_arn)``: the policy resource covering every route of the request's stage."""
    cases = [
        Case("a REST method ARN gives its stage", lambda: stage_resource(GET_ARN), expected=STAGE, hint=CACHE_HINT,
             explain=_explain_resource),
        Case("the cached answer covers another route of the stage (POST /treasure/42)",
             lambda: stage_resource(GET_ARN), satisfies=_covers(POST_ARN),
             describe_expected=f"a resource that matches {POST_ARN}", hint=CACHE_HINT, explain=_explain_resource),
        Case("a deep path", lambda: stage_resource(POST_ARN), expected=STAGE, hint=CACHE_HINT,
             explain=_explain_resource),
        Case("the cached answer does not cover another stage (dev)", lambda: stage_resource(GET_ARN),
             satisfies=lambda value: isinstance(value, str) and not resource_covers(
                 value, GET_ARN.replace("/prod/", "/dev/")),
             describe_expected="a resource that does not match .../abcdef1234/dev/GET/treasure", hint=STAGE_HINT),
        Case("nor another API", lambda: stage_resource(GET_ARN),
             satisfies=lambda value: isinstance(value, str) and not resource_covers(
                 value, GET_ARN.replace("abcdef1234", "otherapi99")),
             describe_expected="a resource that does not match .../otherapi99/prod/GET/treasure", hint=WILDCARD_HINT),
        Case("an HTTP API route ARN (stage $default)",
             lambda: stage_resource("arn:aws:execute-api:eu-west-1:123456789012:a1b2c3/$default/GET/treasure"),
             expected="arn:aws:execute-api:eu-west-1:123456789012:a1b2c3/$default/*", hint=DEFAULT_HINT),
        Case("a path holding ':'",
             lambda: stage_resource("arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/map/12:30"),
             expected=STAGE, hint=COLON_HINT),
    ]
    cases += [Case(f"refused: {name}", (lambda arn=arn: stage_resource(arn)), raises=ValueError, hint=WILDCARD_HINT)
              for name, arn in HOSTILE_ARNS]
    check("stage_resource", cases)
