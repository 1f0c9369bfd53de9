"""Failures a use case reports that are not rule violations: refused callers, missing infrastructure."""

from __future__ import annotations

from memo.domain.errors import DomainError


class AuthenticationFailed(DomainError):
    """A refused signed request; `code` is one of API.md 2.3, `details` never holds a secret or signature."""

    def __init__(self, code: str, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.details = details


class RateLimited(DomainError):
    code = "RATE_LIMIT_EXCEEDED"

    def __init__(self, *, limit: int, retry_after_s: int) -> None:
        super().__init__("Too many requests; slow down and retry later.")
        self.limit = limit
        self.retry_after_s = retry_after_s


class StorageUnavailable(DomainError):
    code = "DATABASE_UNAVAILABLE"

    def __init__(self) -> None:
        super().__init__("The database is unavailable; retry shortly.")


class NonceStoreUnavailable(DomainError):
    code = "NONCE_STORE_UNAVAILABLE"

    def __init__(self) -> None:
        super().__init__("Replay protection is unavailable, so signed requests are refused; retry shortly.")


class RateLimiterUnavailable(DomainError):
    """The shared rate-limit counters cannot be reached; callers let the request through (limits fail open)."""

    code = "RATE_LIMITER_UNAVAILABLE"

    def __init__(self) -> None:
        super().__init__("The rate limiter is unavailable; requests are not being counted.")
