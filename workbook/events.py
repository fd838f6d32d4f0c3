"""Lambda events as each AWS front door sends them, for tests and notebooks."""

from __future__ import annotations

from typing import Any


def rest_api_v1(headers: dict[str, str] | None = None) -> dict[str, Any]:
    """API Gateway REST API (payload 1.0): the client's header case, multiValueHeaders, null when none."""
    return {
        "resource": "/hello", "path": "/hello", "httpMethod": "GET",
        "headers": dict(headers) if headers else None,
        "multiValueHeaders": {k: [v] for k, v in headers.items()} if headers else None,
        "queryStringParameters": None, "body": None, "isBase64Encoded": False,
        "requestContext": {"requestId": "rest-request", "stage": "prod"},
    }


def http_api_v2(headers: dict[str, str] | None = None) -> dict[str, Any]:
    """API Gateway HTTP API (payload 2.0): lower-case header names, duplicates joined with commas."""
    return {
        "version": "2.0", "routeKey": "GET /hello", "rawPath": "/hello", "rawQueryString": "",
        "headers": {k.lower(): v for k, v in (headers or {}).items()},
        "requestContext": {"http": {"method": "GET", "path": "/hello"}, "requestId": "http-request"},
        "isBase64Encoded": False,
    }


def function_url(headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A Lambda function URL: the 2.0 payload with the function URL's domain."""
    event = http_api_v2(headers)
    event["routeKey"] = "$default"
    event["requestContext"]["domainName"] = "abc123.lambda-url.us-east-1.on.aws"
    return event


def alb(headers: dict[str, str] | None = None, multi_value: bool = False) -> dict[str, Any]:
    """An Application Load Balancer target event (lower-case names; multi-value when enabled)."""
    event: dict[str, Any] = {
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/1"}},
        "httpMethod": "GET", "path": "/hello", "body": "", "isBase64Encoded": False,
    }
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    if multi_value:
        event["multiValueHeaders"] = {k: [v] for k, v in lowered.items()}
    else:
        event["headers"] = lowered
    return event


def direct_invoke() -> dict[str, Any]:
    """``aws lambda invoke`` with ``{}`` (and the container emulator's default): no headers at all."""
    return {}


ALL_FORMATS = {"rest_api_v1": rest_api_v1, "http_api_v2": http_api_v2, "function_url": function_url,
               "alb": alb, "alb_multi_value": lambda h=None: alb(h, multi_value=True)}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
