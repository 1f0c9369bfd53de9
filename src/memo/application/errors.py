"""Failures a use case reports that are not rule violations: refused callers, missing infrastructure."""

from __future__ import annotations

from memo.domain.errors import DomainError


class AuthenticationFailed(DomainError):
    """A refused signed request; `code` is one of API.md 2.3, `details` never holds a secret or signature."""

    def __init__(self, code: str, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.details = details


class WebhookSignatureRejected(AuthenticationFailed):
    """A webhook not signed by its platform (Meta): a 401, but not a challenge to sign with Memo's own scheme."""


class RateLimited(DomainError):
    code = "RATE_LIMIT_EXCEEDED"

    def __init__(self, *, limit: int, retry_after_s: int) -> None:
        super().__init__("Too many requests; slow down and retry later.")
        self.limit = limit
        self.retry_after_s = retry_after_s


class Forbidden(DomainError):
    """A refusal that no credential in the request would change, such as a wrong webhook verify token."""

    code = "FORBIDDEN"


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


class NestedUnitOfWork(RuntimeError):
    """`async with uow:` inside another on the same unit of work: a bug, refused before it can lose a rollback.

    Nesting would make the inner block's exit roll back (or its commit commit) the outer block's writes too.
    """

    def __init__(self) -> None:
        super().__init__("this unit of work is already open: finish the outer `async with uow:` block first, "
                         "or use another unit of work")


class WhatsAppNotConfigured(DomainError):
    code = "WHATSAPP_NOT_CONFIGURED"

    def __init__(self) -> None:
        super().__init__("WhatsApp sending is not configured: set WHATSAPP_ACCESS_TOKEN and WHATSAPP_PHONE_NUMBER_ID.")


class UpstreamFailure(DomainError):
    """The WhatsApp Cloud API refused or did not answer; `meta_code` and `meta_title` are Meta's, when it gave them."""

    code = "UPSTREAM_ERROR"

    def __init__(self, message: str, *, meta_code: int | None = None, meta_title: str | None = None) -> None:
        super().__init__(message)
        self.meta_code = meta_code
        self.meta_title = meta_title


class OutsideCustomerCareWindow(UpstreamFailure):
    """Meta 131047: more than 24 hours since the person last wrote, so only a template may be sent."""

    code = "OUTSIDE_CUSTOMER_CARE_WINDOW"


class UpstreamRateLimited(UpstreamFailure):
    code = "UPSTREAM_RATE_LIMITED"

    def __init__(self, message: str, *, retry_after_s: int, meta_code: int | None = None,
                 meta_title: str | None = None) -> None:
        super().__init__(message, meta_code=meta_code, meta_title=meta_title)
        self.retry_after_s = retry_after_s


class UpstreamAuthError(UpstreamFailure):
    """Meta 190: the access token expired or is invalid; an operator must replace WHATSAPP_ACCESS_TOKEN."""

    code = "UPSTREAM_AUTH_ERROR"


class MediaUnavailable(DomainError):
    """Media that a retry will not bring: Meta no longer has it, or it is larger than Memo keeps."""

    code = "MEDIA_UNAVAILABLE"


class EmbedderUnavailable(DomainError):
    code = "EMBEDDER_UNAVAILABLE"

    def __init__(self, message: str = "The embedding model is unavailable; retry shortly.") -> None:
        super().__init__(message)


class VectorIndexUnavailable(DomainError):
    """The vector side of search cannot answer (the index or the embedder is down): semantic search is `503`."""

    code = "VECTOR_INDEX_UNAVAILABLE"

    def __init__(self, message: str = "Semantic search is unavailable right now; keyword search still works.") -> None:
        super().__init__(message)


class AnswererUnavailable(DomainError):
    code = "ANSWERER_UNAVAILABLE"

    def __init__(self, message: str = "Answering is unavailable right now; retry shortly.") -> None:
        super().__init__(message)


class TranscriberUnavailable(DomainError):
    code = "TRANSCRIBER_UNAVAILABLE"

    def __init__(self, message: str = "Transcription is unavailable right now.") -> None:
        super().__init__(message)
