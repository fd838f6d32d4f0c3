"""The AWS Lambda entry point (``lambda_function.handler``); AWS needs this file at the top of the task folder.

It stays thin: the ``lambdaone`` package does the work. Importing it loads the configuration and
fetches JWKS keys during Lambda's init phase, so the first request does not pay for them.
"""

from typing import Any

from lambdaone.handler import handle, warm_up

warm_up()


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Authorize the request and return an API Gateway proxy response."""
    return handle(event, context)
