"""Reason codes: every decision the Lambda takes has exactly one, stable and machine-readable.

A reason fixes the HTTP status, the RFC 6750 error code (``WWW-Authenticate``), and the code
that appears in the response body and in the log line. The codes are part of the documented
interface: clients and alarms may match on them, so they never change meaning.
"""

from __future__ import annotations

import enum


class Reason(enum.Enum):
    """Why a request was allowed or denied: ``(code, status, rfc6750_error)``."""

    ALLOWED = ("allowed", 200, None)
    AUTHORIZATION_DISABLED = ("authorization_disabled", 200, None)

    MISSING_TOKEN = ("missing_token", 401, None)
    MALFORMED_AUTHORIZATION = ("malformed_authorization", 400, "invalid_request")
    DUPLICATE_AUTHORIZATION = ("duplicate_authorization", 400, "invalid_request")

    TOKEN_TOO_LARGE = ("token_too_large", 401, "invalid_token")
    MALFORMED_TOKEN = ("malformed_token", 401, "invalid_token")
    UNSUPPORTED_TOKEN_TYPE = ("unsupported_token_type", 401, "invalid_token")
    ALGORITHM_NOT_ALLOWED = ("algorithm_not_allowed", 401, "invalid_token")
    ALGORITHM_KEY_MISMATCH = ("algorithm_key_mismatch", 401, "invalid_token")
    UNKNOWN_KEY = ("unknown_key", 401, "invalid_token")
    BAD_SIGNATURE = ("bad_signature", 401, "invalid_token")
    TOKEN_EXPIRED = ("token_expired", 401, "invalid_token")
    TOKEN_NOT_YET_VALID = ("token_not_yet_valid", 401, "invalid_token")
    MISSING_CLAIM = ("missing_claim", 401, "invalid_token")
    WRONG_ISSUER = ("wrong_issuer", 401, "invalid_token")
    WRONG_AUDIENCE = ("wrong_audience", 401, "invalid_token")
    INVALID_TOKEN = ("invalid_token", 401, "invalid_token")

    INSUFFICIENT_SCOPE = ("insufficient_scope", 403, "insufficient_scope")

    CONFIGURATION_ERROR = ("configuration_error", 500, None)
    INTERNAL_ERROR = ("internal_error", 500, None)
    SIGNING_KEYS_UNAVAILABLE = ("signing_keys_unavailable", 503, None)

    def __init__(self, code: str, status: int, rfc6750_error: str | None) -> None:
        self.code = code
        self.status = status
        self.rfc6750_error = rfc6750_error

    @property
    def allowed(self) -> bool:
        return self.status == 200


class Denial(Exception):  # noqa: N818 (a denial is an outcome, not an error)
    """Raised inside the package to stop at the first failed check; ``authz`` turns it into a decision.

    ``detail`` holds extra, already-sanitized facts for the log line (never a token).
    """

    def __init__(self, reason: Reason, **detail: object) -> None:
        super().__init__(reason.code)
        self.reason = reason
        self.detail = detail
