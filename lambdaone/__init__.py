"""LambdaOne: a hello Lambda whose whole difficulty is authorizing JWT access tokens.

One concern per module:

- ``settings``     reads and validates the configuration from the environment;
- ``request``      finds the bearer token in any Lambda event shape;
- ``keys``         what a verification key is and which algorithms fit it;
- ``fixed_key``    the key source for a fixed PEM public key (``SIGNATUREKEYPATH``);
- ``jwt_key``      the key source for an issuer's JWKS (``JWKSPATH``), with its cache policy;
- ``discovery``    the key source found by OpenID Connect Discovery from the issuer;
- ``issuers``      one key source per issuer (``ISSUER`` lists several);
- ``snapstart``    refreshes the keys after a SnapStart restore;
- ``authz``        verifies a token and checks its scopes, returning a decision;
- ``jose``         parses a compact JWS once, strictly, and checks its signature;
- ``claims``       checks the registered claims and reads the scopes;
- ``token_cache``  remembers recently verified tokens (``TOKEN_CACHE_SIZE``);
- ``reasons``      the decisions' reason codes and the statuses they map to;
- ``responses``    turns a decision into an API Gateway proxy response;
- ``resource_metadata`` answers RFC 9728 protected resource metadata (``RESOURCE``);
- ``hello_world``  the business response;
- ``logs``         JSON log lines in the Lambda runtime's field names (``requestId``, ``level``);
- ``handler``      ties them together for ``lambda_function.handler``.
- ``authorizer``   the same decision as an API Gateway Lambda authorizer (``lambda_function.authorizer``).

Nothing here imports the workbook, the notebooks, or anything the deployed zip does not carry.
"""
