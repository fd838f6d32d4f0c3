"""Verifies a token with a key from a JWKS, naming the client ``jwt.jwks_client.PyJWKClient`` (notebook 06).

The name is looked up in the ``jwt.jwks_client`` module at every call: patching ``jwt.PyJWKClient``
misses it, patching ``jwt.jwks_client.PyJWKClient`` reaches it.
"""

from __future__ import annotations

from typing import Any

import jwt
import jwt.jwks_client

from workbook.tokens import AUDIENCE, ISSUER


def verify(token: str, jwks_url: str) -> dict[str, Any]:
    """The token's claims, verified with the key its ``kid`` names in the JWKS at ``jwks_url``."""
    # A client per call keeps the example short; notebook 05 shows why real code builds one per process.
    client = jwt.jwks_client.PyJWKClient(jwks_url)
    signing_key = client.get_signing_key_from_jwt(token)
    return jwt.decode(token, signing_key.key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)
