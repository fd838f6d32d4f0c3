"""Verifies a token with a key from a JWKS, naming the client ``PyJWKClient`` after ``from jwt import`` (notebook 06).

``from jwt import PyJWKClient`` copied the class into this module's namespace when the module was
imported: patching ``jwt.PyJWKClient`` or ``jwt.jwks_client.PyJWKClient`` afterwards changes neither
this module's name nor what ``verify`` uses, until the module is reloaded (or its own name is patched).
"""

from __future__ import annotations

from typing import Any

import jwt
from jwt import PyJWKClient

from workbook.tokens import AUDIENCE, ISSUER


def verify(token: str, jwks_url: str) -> dict[str, Any]:
    """The token's claims, verified with the key its ``kid`` names in the JWKS at ``jwks_url``."""
    # A client per call keeps the example short; notebook 05 shows why real code builds one per process.
    client = PyJWKClient(jwks_url)
    signing_key = client.get_signing_key_from_jwt(token)
    return jwt.decode(token, signing_key.key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)
