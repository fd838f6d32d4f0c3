"""The AWS Lambda entry points; AWS needs this file at the top of the task folder.

``lambda_function.handler`` answers the request itself (an API Gateway proxy response);
``lambda_function.authorizer`` answers as an API Gateway Lambda authorizer (an IAM policy or a
simple response), with the same configuration and the same decision.

It stays thin: the ``lambdaone`` package does the work. Importing it loads the configuration and
fetches JWKS keys during Lambda's init phase, so the first request does not pay for them.
"""

import importlib
import os
from typing import Any

from lambdaone.handler import handle, warm_up

# The authorizer's adapter is imported where it is used: a function deployed with the handler
# ``lambda_function.handler`` never pays for it at cold start. Deployed as the authorizer (Lambda
# names the handler in ``_HANDLER``), it is imported now, during the init phase.
_AUTHORIZER_MODULE = "lambdaone.authorizer"
if os.environ.get("_HANDLER", "").endswith(".authorizer"):
    importlib.import_module(_AUTHORIZER_MODULE)

warm_up()


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Authorize the request and return an API Gateway proxy response."""
    return handle(event, context)


def authorizer(event: Any, context: Any) -> dict[str, Any]:
    """Answer an API Gateway Lambda authorizer event (REST TOKEN or REQUEST, HTTP API 1.0 or 2.0).

    Raises ``Unauthorized`` (API Gateway answers 401) for no token or an invalid one, and another
    error (500) when no trustworthy answer exists; never allows on a failure.
    """
    from lambdaone.authorizer import handle_authorizer  # cached in sys.modules after the first call

    result: dict[str, Any] = handle_authorizer(event, context)
    return result
