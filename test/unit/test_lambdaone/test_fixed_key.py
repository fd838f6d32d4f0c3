"""Unit tests for ``lambdaone.fixed_key``: the PEM key source of ``SIGNATUREKEYPATH``.

Key files are written to pytest's temporary folder, never to the repository.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from lambdaone.fixed_key import MAX_PEM_BYTES, FixedKeySource, KeyFileError, load_public_key
from workbook.tokens import KeyPair

RSA_FAMILY = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}


def public_numbers_of(key: Any) -> Any:
    return key.public_numbers()


def self_signed_certificate(private_key: Any) -> bytes:
    """A PEM X.509 certificate for ``private_key``'s public half, built now (as an issuer might publish)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "issuer.example.test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(private_key, _signature_hash(private_key))
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def _signature_hash(private_key: Any) -> hashes.HashAlgorithm | None:
    # Ed25519 signs without a separate hash algorithm.
    return None if isinstance(private_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def written(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def key_file_error(path: Path) -> str:
    with pytest.raises(KeyFileError) as caught:
        FixedKeySource(path)
    return str(caught.value)


# --------------------------------------------------------------------------------------------------
# Accepted files
# --------------------------------------------------------------------------------------------------


def test_a_pem_public_key_is_loaded(issuer_key: KeyPair, tmp_path: Path) -> None:
    path = written(tmp_path, "public.pem", issuer_key.public_pem())
    loaded = load_public_key(path)
    assert isinstance(loaded, rsa.RSAPublicKey)
    assert public_numbers_of(loaded) == public_numbers_of(issuer_key.public_key)
    source = FixedKeySource(path)
    assert source.algorithms == RSA_FAMILY
    assert source.path == path


def test_an_x509_certificate_gives_its_public_key(issuer_key: KeyPair, tmp_path: Path) -> None:
    path = written(tmp_path, "issuer.crt", self_signed_certificate(issuer_key.private_key))
    assert b"-----BEGIN CERTIFICATE-----" in path.read_bytes()
    loaded = load_public_key(path)
    assert public_numbers_of(loaded) == public_numbers_of(issuer_key.public_key)
    assert FixedKeySource(path).algorithms == RSA_FAMILY


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [("ES256", {"ES256"}), ("ES384", {"ES384"}), ("ES512", {"ES512"}), ("EdDSA", {"EdDSA"})],
)
def test_ec_and_ed25519_keys_fit_their_one_algorithm(algorithm: str, expected: set[str], tmp_path: Path) -> None:
    path = written(tmp_path, "public.pem", KeyPair.generate(algorithm).public_pem())
    assert FixedKeySource(path).algorithms == expected


def test_the_file_is_read_once_when_the_source_is_built(issuer_key: KeyPair, tmp_path: Path) -> None:
    path = written(tmp_path, "public.pem", issuer_key.public_pem())
    source = FixedKeySource(path)
    path.unlink()  # requests never touch the file again
    assert source.key_for("any").algorithms == RSA_FAMILY


@pytest.mark.parametrize("kid", [None, "issuer-key-1", "attacker-key", "../../etc/passwd", "x" * 1000])
def test_key_for_ignores_the_kid(issuer_key: KeyPair, tmp_path: Path, kid: str | None) -> None:
    source = FixedKeySource(written(tmp_path, "public.pem", issuer_key.public_pem()))
    key = source.key_for(kid)
    assert key is source.key_for(None)
    assert key.kid is None  # the fixed key has no kid of its own: a token's kid is not trusted
    assert public_numbers_of(key.public_key) == public_numbers_of(issuer_key.public_key)


def test_repr_names_the_path_only(issuer_key: KeyPair, tmp_path: Path) -> None:
    path = written(tmp_path, "public.pem", issuer_key.public_pem())
    assert repr(FixedKeySource(path)) == f"FixedKeySource({str(path)!r})"


# --------------------------------------------------------------------------------------------------
# Refused files
# --------------------------------------------------------------------------------------------------

PRIVATE_FORMATS = {
    "pkcs8": (serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    "traditional": (serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()),
    "encrypted": (serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"passphrase")),
}


@pytest.mark.parametrize("private_format", list(PRIVATE_FORMATS))
@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_a_private_key_is_refused_and_the_message_says_private(algorithm: str, private_format: str,
                                                               issuer_key: KeyPair, tmp_path: Path) -> None:
    pair = issuer_key if algorithm == "RS256" else KeyPair.generate(algorithm)
    encoding, encryption = PRIVATE_FORMATS[private_format]
    pem = pair.private_key.private_bytes(serialization.Encoding.PEM, encoding, encryption)
    message = key_file_error(written(tmp_path, "private.pem", pem))
    assert "PRIVATE" in message
    assert "public key" in message  # and says what to deploy instead


def test_a_private_key_next_to_a_certificate_is_refused(issuer_key: KeyPair, tmp_path: Path) -> None:
    private_pem = issuer_key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    bundle = self_signed_certificate(issuer_key.private_key) + private_pem
    assert "PRIVATE" in key_file_error(written(tmp_path, "bundle.pem", bundle))


def test_a_private_key_message_never_contains_the_key(issuer_key: KeyPair, tmp_path: Path) -> None:
    pem = issuer_key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    message = key_file_error(written(tmp_path, "private.pem", pem))
    assert pem.decode().splitlines()[1] not in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "not a PEM public key"),
        (b"not a key at all\n", "not a PEM public key"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a PEM public key"),
        (bytes(range(256)) * 4, "not a PEM public key"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a valid PEM certificate"),
    ],
    ids=["empty", "text", "bad-base64-body", "binary", "bad-certificate"],
)
def test_garbage_files_are_refused(content: bytes, expected: str, tmp_path: Path) -> None:
    path = written(tmp_path, "garbage.pem", content)
    message = key_file_error(path)
    assert expected in message and str(path) in message


def test_a_der_public_key_is_refused(issuer_key: KeyPair, tmp_path: Path) -> None:
    der = issuer_key.public_key.public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    assert "BEGIN PUBLIC KEY" in key_file_error(written(tmp_path, "public.der", der))


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "public.pem"
    message = key_file_error(path)
    assert "cannot read" in message and str(path) in message


def test_a_folder_is_refused(tmp_path: Path) -> None:
    assert "cannot read" in key_file_error(tmp_path)


def test_an_oversized_file_is_refused_before_parsing(issuer_key: KeyPair, tmp_path: Path) -> None:
    # A valid key followed by padding: the size limit alone decides.
    padded = issuer_key.public_pem() + b"\n" * MAX_PEM_BYTES
    assert f"larger than {MAX_PEM_BYTES} bytes" in key_file_error(written(tmp_path, "huge.pem", padded))


def test_a_file_of_exactly_the_maximum_size_is_read(issuer_key: KeyPair, tmp_path: Path) -> None:
    pem = issuer_key.public_pem()
    exact = pem + b"\n" * (MAX_PEM_BYTES - len(pem))
    assert FixedKeySource(written(tmp_path, "exact.pem", exact)).algorithms == RSA_FAMILY


@pytest.fixture(scope="module")
def small_rsa_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (weak on purpose)


def test_a_small_rsa_key_is_refused(small_rsa_private_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    pem = small_rsa_private_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    path = written(tmp_path, "small.pem", pem)
    assert isinstance(load_public_key(path), rsa.RSAPublicKey)  # readable, but not usable
    message = key_file_error(path)
    assert "1024 bits" in message and "2048" in message and str(path) in message


def test_an_unsupported_curve_is_refused(tmp_path: Path) -> None:
    k256 = ec.generate_private_key(ec.SECP256K1()).public_key()
    pem = k256.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert "secp256k1" in key_file_error(written(tmp_path, "k256.pem", pem))


def test_a_certificate_with_a_small_key_is_refused(small_rsa_private_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    path = written(tmp_path, "small.crt", self_signed_certificate(small_rsa_private_key))
    assert "1024 bits" in key_file_error(path)


def test_an_ed25519_certificate_is_accepted(tmp_path: Path) -> None:
    path = written(tmp_path, "ed.crt", self_signed_certificate(ed25519.Ed25519PrivateKey.generate()))
    assert FixedKeySource(path).algorithms == {"EdDSA"}
