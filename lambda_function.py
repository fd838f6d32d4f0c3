"""The AWS Lambda entry points; AWS needs this file at the top of the task folder.

``lambda_function.handler`` answers the request itself (an API Gateway proxy response);
``lambda_function.authorizer`` answers as an API Gateway Lambda authorizer (an IAM policy or a
simple response), with the same configuration and the same decision.

It stays thin: the ``lambdaone`` package does the work. Importing it loads the configuration and
fetches JWKS keys during Lambda's init phase, so the first request does not pay for them.
"""

from typing import Any

from lambdaone.authorizer import handle_authorizer
from lambdaone.handler import handle, warm_up

warm_up()


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Authorize the request and return an API Gateway proxy response."""
    return handle(event, context)


def authorizer(event: Any, context: Any) -> dict[str, Any]:
    """Answer an API Gateway Lambda authorizer event (REST TOKEN or REQUEST, HTTP API 1.0 or 2.0).

    Raises ``Unauthorized`` (API Gateway answers 401) for no token or an invalid one, and another
    error (500) when no trustworthy answer exists; never allows on a failure.
    """
    return handle_authorizer(event, context)
