"""Unit tests for ``lambdaone.keys``: which algorithms fit which key (RFC 8725: one family per key)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x25519

from lambdaone.keys import (
    MIN_RSA_BITS,
    SUPPORTED_ALGORITHMS,
    UnsuitableKeyError,
    VerificationKey,
    algorithms_for,
    verification_key,
)
from workbook.tokens import KeyPair

RSA_FAMILY = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}


@pytest.fixture(scope="module")
def small_rsa_key() -> rsa.RSAPublicKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()  # noqa: S505 (weak on purpose)


@pytest.fixture
def rsa_key(issuer_key: KeyPair) -> Any:
    return issuer_key.public_key


def test_none_and_hmac_are_not_supported() -> None:
    assert "none" not in {name.lower() for name in SUPPORTED_ALGORITHMS}
    assert not any(name.upper().startswith("HS") for name in SUPPORTED_ALGORITHMS)


def test_rsa_2048_fits_the_rs_and_ps_family(rsa_key: Any) -> None:
    assert rsa_key.key_size == MIN_RSA_BITS == 2048
    assert algorithms_for(rsa_key) == RSA_FAMILY


def test_rsa_under_2048_bits_is_refused(small_rsa_key: rsa.RSAPublicKey) -> None:
    with pytest.raises(UnsuitableKeyError, match="1024 bits"):
        algorithms_for(small_rsa_key)


@pytest.mark.parametrize(
    ("curve", "algorithm"),
    [(ec.SECP256R1, "ES256"), (ec.SECP384R1, "ES384"), (ec.SECP521R1, "ES512")],
)
def test_an_ec_key_fits_exactly_the_one_algorithm_of_its_curve(curve: type[ec.EllipticCurve], algorithm: str) -> None:
    public_key = ec.generate_private_key(curve()).public_key()
    assert algorithms_for(public_key) == {algorithm}


@pytest.mark.parametrize("curve", [ec.SECP256K1, ec.SECP224R1, ec.BrainpoolP256R1])
def test_other_ec_curves_are_refused(curve: type[ec.EllipticCurve]) -> None:
    public_key = ec.generate_private_key(curve()).public_key()
    with pytest.raises(UnsuitableKeyError, match=curve.name):
        algorithms_for(public_key)


@pytest.mark.parametrize("key_type", [ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey])
def test_edwards_keys_fit_eddsa(key_type: Any) -> None:
    assert algorithms_for(key_type.generate().public_key()) == {"EdDSA"}


@pytest.mark.parametrize(
    "not_a_verification_key",
    [x25519.X25519PrivateKey.generate().public_key(),  # a key-agreement key, not a signing key
     ed25519.Ed25519PrivateKey.generate(),  # a private key
     b"-----BEGIN PUBLIC KEY-----", "secret", None],
    ids=["x25519", "private-ed25519", "bytes", "str", "none"],
)
def test_anything_else_is_refused(not_a_verification_key: Any) -> None:
    with pytest.raises(UnsuitableKeyError, match="not an RSA, EC or EdDSA public key"):
        algorithms_for(not_a_verification_key)


def test_every_algorithm_a_key_can_fit_is_supported(rsa_key: Any) -> None:
    keys = [rsa_key, ed25519.Ed25519PrivateKey.generate().public_key(),
            *(ec.generate_private_key(curve()).public_key() for curve in (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1))]
    reachable = set().union(*(algorithms_for(key) for key in keys))
    assert reachable == set(SUPPORTED_ALGORITHMS)


# --------------------------------------------------------------------------------------------------
# verification_key
# --------------------------------------------------------------------------------------------------


def test_without_jwk_alg_the_key_keeps_its_whole_family(rsa_key: Any) -> None:
    key = verification_key(rsa_key, kid="key-1")
    assert key == VerificationKey(public_key=rsa_key, algorithms=frozenset(RSA_FAMILY), kid="key-1")
    assert all(key.fits(name) for name in RSA_FAMILY)
    assert not key.fits("ES256") and not key.fits("HS256") and not key.fits("none")


@pytest.mark.parametrize("jwk_alg", sorted(RSA_FAMILY))
def test_a_fitting_jwk_alg_narrows_the_key_to_that_algorithm(rsa_key: Any, jwk_alg: str) -> None:
    key = verification_key(rsa_key, jwk_alg=jwk_alg)
    assert key.algorithms == {jwk_alg}
    assert key.fits(jwk_alg)
    assert not any(key.fits(other) for other in RSA_FAMILY - {jwk_alg})


@pytest.mark.parametrize("jwk_alg", ["ES256", "EdDSA", "HS256", "none", "rs256", ""])
def test_a_jwk_alg_that_does_not_fit_the_key_is_refused(rsa_key: Any, jwk_alg: str) -> None:
    with pytest.raises(UnsuitableKeyError, match="cannot use"):
        verification_key(rsa_key, jwk_alg=jwk_alg)


def test_an_ec_jwk_alg_must_match_the_curve() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    assert verification_key(p384, jwk_alg="ES384").algorithms == {"ES384"}
    with pytest.raises(UnsuitableKeyError):
        verification_key(p384, jwk_alg="ES256")


def test_verification_key_refuses_unsuitable_keys_whatever_the_jwk_alg(small_rsa_key: rsa.RSAPublicKey) -> None:
    with pytest.raises(UnsuitableKeyError):
        verification_key(small_rsa_key, jwk_alg="RS256")


def test_verification_keys_are_immutable(rsa_key: Any) -> None:
    key = verification_key(rsa_key)
    with pytest.raises(AttributeError):
        key.algorithms = frozenset({"none"})  # type: ignore[misc]
