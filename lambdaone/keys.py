"""Verification keys and the algorithms that fit them (RFC 8725: one algorithm family per key).

Both key sources (``fixed_key`` and ``jwt_key``) hand ``authz`` a :class:`VerificationKey`,
so ``authz`` never cares where a key came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

#: Every algorithm the Lambda can be configured to accept. ``none`` and HMAC are absent on purpose:
#: a verifier holding only public keys must never accept them.
SUPPORTED_ALGORITHMS = (
    "RS256", "RS384", "RS512",
    "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512",
    "EdDSA",
)

MIN_RSA_BITS = 2048

# An EC key fits exactly one ES algorithm: its curve fixes the hash (RFC 7518 §3.4).
_EC_ALGORITHM_BY_CURVE = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


class UnsuitableKeyError(ValueError):
    """The public key cannot be used for verification here (type, curve or size)."""


@dataclass(frozen=True)
class VerificationKey:
    """A public key ready for ``jwt.decode``, with the algorithms it may verify.

    ``algorithms`` is what the key's type allows, narrowed to the JWK's own ``alg`` when it names one.
    """

    public_key: object
    algorithms: frozenset[str]
    kid: str | None = None

    def fits(self, algorithm: str) -> bool:
        return algorithm in self.algorithms


class KeySource(Protocol):
    """What ``authz`` asks of ``fixed_key``, ``jwt_key`` and ``discovery``: the key for a token's ``kid``."""

    def key_for(self, kid: str | None) -> VerificationKey: ...


def algorithms_for(public_key: object) -> frozenset[str]:
    """The algorithms that may verify with ``public_key``; refuses keys that must not be used."""
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            raise UnsuitableKeyError(
                f"RSA key of {public_key.key_size} bits: at least {MIN_RSA_BITS} bits are required"
            )
        return frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        algorithm = _EC_ALGORITHM_BY_CURVE.get(public_key.curve.name)
        if algorithm is None:
            raise UnsuitableKeyError(f"EC curve {public_key.curve.name} is not P-256, P-384 or P-521")
        return frozenset({algorithm})
    if isinstance(public_key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return frozenset({"EdDSA"})
    raise UnsuitableKeyError(f"{type(public_key).__name__} is not an RSA, EC or EdDSA public key")


def verification_key(public_key: object, *, kid: str | None = None, jwk_alg: str | None = None) -> VerificationKey:
    """Build a :class:`VerificationKey`; a JWK's ``alg`` must be one its key type allows."""
    algorithms = algorithms_for(public_key)
    if jwk_alg is not None:
        if jwk_alg not in algorithms:
            raise UnsuitableKeyError(f"the JWK names alg {jwk_alg!r}, which its key type cannot use")
        algorithms = frozenset({jwk_alg})
    return VerificationKey(public_key=public_key, algorithms=algorithms, kid=kid)
