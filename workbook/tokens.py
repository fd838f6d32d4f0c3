"""Key pairs generated at run time and tokens signed with them (no private key is ever written to disk).

    issuer = KeyPair.generate("RS256", kid="key-1")
    token = issuer.token(scope="treasure:read")
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ISSUER = "https://issuer.example.test/"
AUDIENCE = "https://api.example.test/treasure"

_CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}


@dataclass
class KeyPair:
    """A private key (kept in memory only), its algorithm and kid."""

    private_key: Any
    algorithm: str
    kid: str

    @classmethod
    def generate(cls, algorithm: str = "RS256", kid: str | None = None, rsa_bits: int = 2048) -> KeyPair:
        if algorithm.startswith(("RS", "PS")):
            private_key: Any = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
        elif algorithm in _CURVES:
            private_key = ec.generate_private_key(_CURVES[algorithm]())
        elif algorithm == "EdDSA":
            private_key = ed25519.Ed25519PrivateKey.generate()
        else:
            raise ValueError(f"cannot generate a key for {algorithm!r}")
        return cls(private_key, algorithm, kid or f"kid-{uuid.uuid4().hex[:12]}")

    @property
    def public_key(self) -> Any:
        return self.private_key.public_key()

    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def jwk(self, *, with_alg: bool = True, **overrides: Any) -> dict[str, Any]:
        """The public JWK, as an issuer's JWKS would publish it."""
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        entry = json.loads(algorithm.to_jwk(self.public_key))
        entry.update({"kid": self.kid, "use": "sig"})
        if with_alg:
            entry["alg"] = self.algorithm
        entry.update(overrides)
        return {k: v for k, v in entry.items() if v is not None}

    def token(self, *, lifetime: int = 300, header: dict[str, Any] | None = None,
              drop: tuple[str, ...] = (), **claims: Any) -> str:
        """A signed access token with sensible claims; keyword arguments override them, ``drop`` removes."""
        now = int(time.time())
        payload: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": "learner@example.test",
                                   "iat": now, "exp": now + lifetime}
        payload.update(claims)
        for name in drop:
            payload.pop(name, None)
        headers = {"kid": self.kid, "typ": "at+jwt", **(header or {})}
        return jwt.encode(payload, self.private_key, algorithm=self.algorithm, headers=headers)


def jwks(*pairs: KeyPair) -> dict[str, Any]:
    """A JWKS document publishing the public halves of ``pairs``."""
    return {"keys": [pair.jwk() for pair in pairs]}
