"""One exception class per error family of API.md, each carrying the envelope's `code`, `details` and request id.

Callers branch on the class (what to do: fix the request, re-read, wait, retry later) and log `code` and
`request_id` (what happened, and where to look in the server's logs).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One bad field of a `VALIDATION_ERROR`, under its wire name (`createdAfter`, `Idempotency-Key`, `tags[3]`)."""

    field: str
    message: str


class MemoError(Exception):
    """Any refusal by a Memo server; the subclasses name the family, `code` the exact reason."""

    def __init__(self, message: str, *, code: str, status: int | None = None,
                 details: str | list[FieldError] | None = None, request_id: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.details = details
        self.request_id = request_id
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = f" (request {self.request_id})" if self.request_id else ""
        status = f"{self.status} " if self.status is not None else ""
        return f"{status}{self.code}: {self.message}{where}"

    @property
    def field_errors(self) -> list[FieldError]:
        """The fields at fault of a validation error; empty when `details` is a sentence or absent."""
        return list(self.details) if isinstance(self.details, list) else []


class AuthError(MemoError):
    """401 (and 403): the signature, key, timestamp or nonce was refused. Check the key id and secret."""


class ValidationError(MemoError):
    """400, 405, 413, 415, 422: the request itself is wrong; `field_errors` says where. Retrying will not help."""


class NotFound(MemoError):
    """404: no such memory for this key's owner (another owner's memory answers the same), or no such route."""


class Conflict(MemoError):
    """409 IDEMPOTENCY_CONFLICT or 412 VERSION_CONFLICT: re-read, then decide."""


class RateLimited(MemoError):
    """429: over a limit, Memo's or Meta's; `retry_after` is the wait in seconds the server asked for."""


class ServerError(MemoError):
    """5xx: the server or one of its dependencies failed; usually worth a retry later (`retry_after` if given)."""


class TransportError(MemoError):
    """The request never got an answer: connection refused, timeout, TLS. `__cause__` is httpx's exception."""


FAMILY_BY_STATUS: dict[int, type[MemoError]] = {
    400: ValidationError, 401: AuthError, 403: AuthError, 404: NotFound, 405: ValidationError,
    409: Conflict, 412: Conflict, 413: ValidationError, 415: ValidationError, 422: ValidationError,
    429: RateLimited,
}


def family_of(status: int) -> type[MemoError]:
    if status >= 500:  # noqa: PLR2004
        return ServerError
    return FAMILY_BY_STATUS.get(status, MemoError)
