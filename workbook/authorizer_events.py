"""API Gateway Lambda authorizer events, as each authorizer type sends them, for tests and notebooks.

The shapes follow API Gateway's documentation: a REST API TOKEN authorizer sends the identity
source's value and the method ARN; a REST API REQUEST authorizer the request's headers (client's
case, ``multiValueHeaders``); an HTTP API authorizer payload 1.0 a REST-like event with
``version: "1.0"``, payload 2.0 lower-case headers, ``identitySource`` and the route ARN.
"""

from __future__ import annotations

from typing import Any

from workbook.events import http_api_v2

REGION, ACCOUNT, API_ID = "us-east-1", "123456789012", "abcdef1234"
METHOD_ARN = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/prod/GET/treasure"
ROUTE_ARN = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/$default/GET/treasure"
#: What an Allow for the two ARNs above covers: every method and path of their stage.
REST_STAGE_RESOURCE = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/prod/*"
HTTP_STAGE_RESOURCE = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/$default/*"


def rest_token(authorization: str | None, method_arn: str = METHOD_ARN) -> dict[str, Any]:
    """REST API TOKEN authorizer: ``authorizationToken`` holds the Authorization header's whole value."""
    event: dict[str, Any] = {"type": "TOKEN", "methodArn": method_arn}
    if authorization is not None:
        event["authorizationToken"] = authorization
    return event


def rest_request(headers: dict[str, str] | None = None, method_arn: str = METHOD_ARN) -> dict[str, Any]:
    """REST API REQUEST authorizer: the client's header case, ``multiValueHeaders``, the method ARN."""
    return {
        "type": "REQUEST", "methodArn": method_arn, "resource": "/treasure", "path": "/treasure",
        "httpMethod": "GET",
        "headers": dict(headers) if headers else {},
        "multiValueHeaders": {name: [value] for name, value in (headers or {}).items()},
        "queryStringParameters": {}, "pathParameters": {}, "stageVariables": {},
        "requestContext": {"path": "/prod/treasure", "accountId": ACCOUNT, "resourceId": "r1", "stage": "prod",
                           "requestId": "rest-authorizer-request", "apiId": API_ID, "httpMethod": "GET"},
    }


def http_v1(headers: dict[str, str] | None = None, method_arn: str = METHOD_ARN) -> dict[str, Any]:
    """HTTP API authorizer, payload format 1.0: a REST-like REQUEST event with ``version: "1.0"``."""
    event = rest_request(headers, method_arn)
    event["version"] = "1.0"
    event["identitySource"] = (headers or {}).get("Authorization", "")
    return event


def http_v2(headers: dict[str, str] | None = None, route_arn: str = ROUTE_ARN) -> dict[str, Any]:
    """HTTP API authorizer, payload format 2.0: lower-case headers, ``identitySource``, the route ARN."""
    lowered = {name.lower(): value for name, value in (headers or {}).items()}
    return {
        "version": "2.0", "type": "REQUEST", "routeArn": route_arn,
        "identitySource": [lowered["authorization"]] if "authorization" in lowered else [],
        "routeKey": "GET /treasure", "rawPath": "/treasure", "rawQueryString": "",
        "headers": lowered,
        "requestContext": {"accountId": ACCOUNT, "apiId": API_ID, "domainName": f"{API_ID}.execute-api.{REGION}"
                           ".amazonaws.com", "http": {"method": "GET", "path": "/treasure"},
                           "requestId": "http-authorizer-request", "routeKey": "GET /treasure", "stage": "$default"},
    }


def for_kind(kind: str, authorization: str | None) -> dict[str, Any]:
    """The event of authorizer ``kind`` (one of :data:`KINDS`) carrying ``authorization`` (None: no header)."""
    if kind == "rest_token":
        return rest_token(authorization)
    headers = {"Authorization": authorization} if authorization is not None else None
    return {"rest_request": rest_request, "http_v1": http_v1, "http_v2": http_v2}[kind](headers)


#: Every authorizer event this workbook knows, by name.
KINDS = ("rest_token", "rest_request", "http_v1", "http_v2")


def behind_jwt_authorizer(claims: dict[str, Any], scopes: list[str] | None) -> dict[str, Any]:
    """The HTTP API payload 2.0 event a backend gets behind API Gateway's managed JWT authorizer.

    API Gateway passes the verified claims in ``requestContext.authorizer.jwt.claims`` with every
    value as a string (numbers written out, arrays flattened to ``"[a b]"``), and the route's scopes
    the token granted in ``jwt.scopes`` (null when the route lists none). The token stays in the
    ``authorization`` header.
    """
    def as_text(value: Any) -> str:
        if isinstance(value, list):
            return "[" + " ".join(str(item) for item in value) + "]"
        return str(value).lower() if isinstance(value, bool) else str(value)

    event = http_api_v2({"Authorization": "Bearer <the token, still in its header>"})
    event["requestContext"]["authorizer"] = {
        "jwt": {"claims": {name: as_text(value) for name, value in claims.items()}, "scopes": scopes},
    }
    return event
