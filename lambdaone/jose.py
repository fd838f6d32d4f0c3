"""One strict pass over a compact JWS (RFC 7515 §7.1): segments, base64url, I-JSON, the signature.

``authz`` parses each token here exactly once, instead of handing it to ``jwt.decode`` (which, in
PyJWT 2.15, checks the base64url alphabet one character at a time in Python and parses again what
``authz`` has already parsed). The signature is still verified by PyJWT's own algorithm objects.

The rules, stricter than ``jwt.decode`` where the standards ask for it:

- three non-empty segments of the base64url alphabet, no padding, each in its one canonical form
  (the unused low bits of the last character are zero, so a token has exactly one spelling);
- the header and the payload are UTF-8 (RFC 7519 §7.2; ``json.loads`` on bytes would also take
  UTF-16 and UTF-32, and a byte order mark) and I-JSON (RFC 7493): no repeated member name at any
  depth (parsers disagree on which one wins), no ``NaN`` or ``Infinity`` (not JSON at all);
- both are JSON objects.

Everything parsed here is untrusted until :func:`signature_is_valid` says otherwise.
"""

from __future__ import annotations

import binascii
import json
import re
from typing import Any, NamedTuple

from jwt import get_algorithm_by_name
from jwt.algorithms import Algorithm

from .keys import SUPPORTED_ALGORITHMS
from .reasons import Denial, Reason

_JWS_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
MAX_HEADER_SEGMENT = 4096

# base64url -> standard alphabet (bytes.translate: about 4 times faster than str.translate here),
# and the padding binascii wants for each length remainder.
_TO_STANDARD_ALPHABET = bytes.maketrans(b"-_", b"+/")
_PADDING = (b"", b"", b"==", b"=")
# The last character of a canonical segment leaves no bits unused: 2 characters of a final group
# carry 1 byte (the last character's low 4 bits are zero), 3 characters carry 2 bytes (low 2 bits).
_CANONICAL_LAST = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}

# PyJWT's own algorithm objects: the code jwt.decode itself runs (ECDSA raw-to-DER, RSA-PSS, EdDSA).
_ALGORITHMS = {name: get_algorithm_by_name(name) for name in SUPPORTED_ALGORITHMS}

# prepare_key's type and curve checks cost about 1 µs a call; their result depends only on the key object
# and the algorithm. An entry keeps its key object alive, so its id() cannot be reused by another key.
_MAX_PREPARED_KEYS = 64
_prepared_keys: dict[tuple[int, str], tuple[object, Any]] = {}


# An issuer's tokens share a handful of headers (one per key): the parse of an identical segment is reused.
# Only headers that parsed are kept; callers never change the dict they get (``CompactJws.header``).
_MAX_PARSED_HEADERS = 32
_parsed_headers: dict[str, dict[str, Any]] = {}


class DuplicateMemberError(ValueError):
    """A JSON object repeats a member name (RFC 7493 §2.3: I-JSON forbids it)."""


class NotJsonError(ValueError):
    """A JSON text uses ``NaN``, ``Infinity`` or ``-Infinity``, which Python reads but JSON does not have."""


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise DuplicateMemberError("a member name is repeated")
    return members


def _reject_constant(name: str) -> Any:
    raise NotJsonError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_members, parse_constant=_reject_constant)


class CompactJws(NamedTuple):
    """A token split into its segments, with its header parsed (not trusted: the signature is unchecked)."""

    header: dict[str, Any]
    header_segment: str
    payload_segment: str
    signature_segment: str

    @property
    def signing_input(self) -> bytes:
        """What the signature covers: ``header.payload``, exactly as the token spells them (ASCII)."""
        return f"{self.header_segment}.{self.payload_segment}".encode("ascii")


def split(token: str) -> CompactJws:
    """The token's segments and parsed header; :class:`Denial` ``malformed_token`` for anything else."""
    if not _JWS_COMPACT.fullmatch(token):
        raise Denial(Reason.MALFORMED_TOKEN, why="not three base64url segments")
    header_segment, payload_segment, signature_segment = token.split(".")
    if len(header_segment) > MAX_HEADER_SEGMENT:
        raise Denial(Reason.MALFORMED_TOKEN, why="header too large")
    header = _parsed_headers.get(header_segment)
    if header is None:
        header = parse_object(decode_segment(header_segment, "header"), "header")
        if len(_parsed_headers) >= _MAX_PARSED_HEADERS:
            _parsed_headers.clear()
        _parsed_headers[header_segment] = header
    return CompactJws(header, header_segment, payload_segment, signature_segment)


def decode_segment(segment: str, name: str) -> bytes:
    """The bytes of one base64url segment, refused unless it is in canonical unpadded form.

    ``segment`` must already hold only base64url characters (:func:`split` checks the whole token).
    """
    remainder = len(segment) % 4
    if remainder == 1:
        raise Denial(Reason.MALFORMED_TOKEN, why=f"{name} has an impossible base64url length")
    if remainder and segment[-1] not in _CANONICAL_LAST[remainder]:
        raise Denial(Reason.MALFORMED_TOKEN, why=f"{name} is not canonical base64url")
    return binascii.a2b_base64(segment.encode("ascii").translate(_TO_STANDARD_ALPHABET) + _PADDING[remainder])


def parse_object(data: bytes, name: str) -> dict[str, Any]:
    """A JSON object from UTF-8 bytes, as I-JSON: no repeated member names, no NaN or Infinity."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Denial(Reason.MALFORMED_TOKEN, why=f"{name} is not UTF-8") from None
    try:
        value = _DECODER.decode(text)
    except DuplicateMemberError:
        raise Denial(Reason.MALFORMED_TOKEN, why=f"{name} repeats a member name") from None
    except (ValueError, RecursionError):
        raise Denial(Reason.MALFORMED_TOKEN, why=f"{name} is not JSON") from None
    if not isinstance(value, dict):
        raise Denial(Reason.MALFORMED_TOKEN, why=f"{name} is not a JSON object")
    return value


def signature_is_valid(jws: CompactJws, signature: bytes, algorithm: str, public_key: object) -> bool:
    """Whether ``signature`` is ``algorithm``'s signature of the token's signing input under ``public_key``.

    ``algorithm`` must be one of :data:`~lambdaone.keys.SUPPORTED_ALGORITHMS` and already matched to the
    key (``VerificationKey.fits``): PyJWT's ``prepare_key`` then only checks the key's type and curve.
    """
    verifier = _ALGORITHMS[algorithm]
    return bool(verifier.verify(jws.signing_input, _prepared(verifier, algorithm, public_key), signature))


def _prepared(verifier: Algorithm, algorithm: str, public_key: object) -> Any:
    slot = (id(public_key), algorithm)
    cached = _prepared_keys.get(slot)
    if cached is not None and cached[0] is public_key:
        return cached[1]
    prepared = verifier.prepare_key(public_key)
    if len(_prepared_keys) >= _MAX_PREPARED_KEYS:
        _prepared_keys.clear()  # keys rotate rarely: starting over is simpler than an LRU here
    _prepared_keys[slot] = (public_key, prepared)
    return prepared
