"""The fixed key source: one PEM public key (or X.509 certificate) read from ``SIGNATUREKEYPATH``.

The file is read once, when the configuration is loaded; every request reuses the parsed key.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .keys import UnsuitableKeyError, VerificationKey, verification_key

MAX_PEM_BYTES = 64 * 1024


class KeyFileError(ValueError):
    """The PEM file cannot be used; the message says why and how to fix it."""


def load_public_key(path: Path) -> object:
    """Read a PEM public key or certificate; refuse private keys, which must never be deployed."""
    try:
        with path.open("rb") as pem_file:
            data = pem_file.read(MAX_PEM_BYTES + 1)
    except OSError as error:
        raise KeyFileError(f"cannot read {path}: {error.strerror or error}") from None
    if len(data) > MAX_PEM_BYTES:
        raise KeyFileError(f"{path} is larger than {MAX_PEM_BYTES} bytes: it is not a PEM public key")
    if b"PRIVATE KEY-----" in data:
        raise KeyFileError(
            f"{path} holds a PRIVATE key: deploy only the issuer's public key (or its certificate)"
        )
    if b"-----BEGIN CERTIFICATE-----" in data:
        try:
            return x509.load_pem_x509_certificate(data).public_key()
        except ValueError:
            raise KeyFileError(f"{path} is not a valid PEM certificate") from None
    try:
        return serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise KeyFileError(
            f"{path} is not a PEM public key (expected '-----BEGIN PUBLIC KEY-----')"
        ) from None


class FixedKeySource:
    """Answers every token with the one configured key; ``kid`` is not needed and not trusted."""

    def __init__(self, path: Path) -> None:
        public_key = load_public_key(path)
        try:
            self._key: VerificationKey = verification_key(public_key)
        except UnsuitableKeyError as error:
            raise KeyFileError(f"{path}: {error}") from None
        self.path = path

    @property
    def algorithms(self) -> frozenset[str]:
        return self._key.algorithms

    def key_for(self, kid: str | None) -> VerificationKey:
        del kid  # a fixed key answers for every kid; the algorithm check still applies
        return self._key

    def __repr__(self) -> str:
        return f"FixedKeySource({str(self.path)!r})"


