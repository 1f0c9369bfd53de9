"""Every failure, the framework's included, leaves as the one error envelope of API.md section 1.

Errors are mapped by exception type, never by code string: a type that is not in `STATUS_BY_TYPE` (a domain
error included) is a fault of the server, answered `500 INTERNAL_ERROR` with a fixed sentence and logged at
error with the request id, so an internal message (a stored secret that does not open, say) never reaches the
caller and always reaches the operator.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import ParameterKwarg
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.utils.scope.state import ScopeState

from memo.application.errors import (
    AnswererUnavailable,
    AuthenticationFailed,
    EmbedderUnavailable,
    Forbidden,
    NonceStoreUnavailable,
    OutsideCustomerCareWindow,
    RateLimited,
    StorageUnavailable,
    UpstreamAuthError,
    UpstreamFailure,
    UpstreamRateLimited,
    VectorIndexUnavailable,
    WebhookSignatureRejected,
    WhatsAppNotConfigured,
)
from memo.domain.errors import (
    ApiKeyNotFound,
    DomainError,
    IdempotencyConflict,
    MemoryNotFound,
    OwnerAlreadyExists,
    OwnerNotFound,
    ValidationFailed,
    VersionConflict,
)
from memo.domain.whatsapp import InvalidJson, InvalidWebhookObject
from memo.entrypoints.http.schemas import ErrorBody, FieldError

log = logging.getLogger("memo.http")

WWW_AUTHENTICATE = {"WWW-Authenticate": "Memo-HMAC-SHA256"}

# The errors that are the caller's to fix, or a dependency's outage they may retry. A subclass maps as its
# nearest listed ancestor; DomainError itself is absent on purpose (SecretUnreadable, for one, is a 500).
STATUS_BY_TYPE: dict[type[DomainError], int] = {
    ValidationFailed: 400,
    InvalidJson: 400,
    InvalidWebhookObject: 400,
    Forbidden: 403,
    MemoryNotFound: 404,
    OwnerNotFound: 404,
    ApiKeyNotFound: 404,
    OwnerAlreadyExists: 409,
    IdempotencyConflict: 409,
    VersionConflict: 412,
    OutsideCustomerCareWindow: 422,
    UpstreamRateLimited: 429,
    UpstreamFailure: 502,
    UpstreamAuthError: 502,
    StorageUnavailable: 503,
    WhatsAppNotConfigured: 503,
    VectorIndexUnavailable: 503,
    EmbedderUnavailable: 503,
    AnswererUnavailable: 503,
    NonceStoreUnavailable: 503,
}

FRAMEWORK_CODES = {
    400: ("BAD_REQUEST", "The request is malformed."),
    404: ("NOT_FOUND", "No such route."),
    405: ("METHOD_NOT_ALLOWED", "This route does not accept that method."),
    413: ("PAYLOAD_TOO_LARGE", "The request body is larger than this server accepts."),
    415: ("UNSUPPORTED_MEDIA_TYPE", "Send the body as application/json."),
}

INVALID = "The request is invalid."
INTERNAL = "An unexpected error occurred; it has been logged."
BODY = "body"

_MSGSPEC_PATH = re.compile(r"^\$\.?")
# msgspec names a missing or unknown field in its message, and the object holding it in the path
_NAMED_FIELD = re.compile(r"^Object (?P<kind>missing required|contains unknown) field `(?P<name>[^`]+)`$")
_NAMED_FIELD_MESSAGES = {"missing required": "is required", "contains unknown": "is not a known field"}
# Litestar's own words for a required query, header, cookie or path parameter that was not sent
_MISSING_PARAMETER = re.compile(r"^Missing required \w+ parameter '(?P<name>[^']+)'")


def request_id_of(request: Request[Any, Any, Any]) -> str | None:
    state = request.scope.get("state") or {}
    value = state.get("request_id")
    return value if isinstance(value, str) else None


def error_response(request: Request[Any, Any, Any], status: int, body: ErrorBody,
                   headers: dict[str, str] | None = None) -> Response[ErrorBody]:
    rid = request_id_of(request)
    if rid is not None:
        body.request_id = rid
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def invalid(field: str, message: str) -> ErrorBody:
    return ErrorBody(error=INVALID, code="VALIDATION_ERROR", details=[FieldError(field=field, message=message)])


def status_of(exc: DomainError) -> int | None:
    return next((STATUS_BY_TYPE[kind] for kind in type(exc).__mro__ if kind in STATUS_BY_TYPE), None)


def _wire_name(request: Request[Any, Any, Any], key: str) -> str:
    """A handler parameter's name as sent (`createdAfter`, `Idempotency-Key`), not as the handler spells it."""
    signature = getattr(request.route_handler, "parsed_fn_signature", None)
    parameter = signature.parameters.get(key) if signature is not None else None
    kwarg = parameter.kwarg_definition if parameter is not None else None
    return kwarg.name if isinstance(kwarg, ParameterKwarg) and kwarg.name else key


def _field_error(request: Request[Any, Any, Any], item: dict[str, Any]) -> FieldError:
    """The wire field at fault: the path to the value, or to the object and then the field msgspec names."""
    key, message = str(item.get("key", "")), str(item.get("message", "invalid"))
    if key == "data" and message == "'data'":
        return FieldError(field=BODY, message="a JSON object body is required")
    path = "" if key in {"data", ""} else _MSGSPEC_PATH.sub("", key)
    if path and item.get("source") != BODY:
        path = _wire_name(request, path)
    named = _NAMED_FIELD.match(message)
    if named is None:
        return FieldError(field=path or BODY, message=message)
    field = f"{path}.{named['name']}" if path else named["name"]
    return FieldError(field=field, message=_NAMED_FIELD_MESSAGES[named["kind"]])


def _validation_details(request: Request[Any, Any, Any], exc: ValidationException) -> list[FieldError]:
    items = exc.extra if isinstance(exc.extra, list) else []
    details = [_field_error(request, item) for item in items if isinstance(item, dict)]
    if not details and (missing := _MISSING_PARAMETER.match(exc.detail)) is not None:
        details = [FieldError(field=missing["name"], message="is required")]
    return details or [FieldError(field=BODY, message=str(exc.detail))]


def _is_the_body(request: Request[Any, Any, Any], exc: UnicodeDecodeError) -> bool:
    """Whether the bytes that failed to decode come from the request body (the caller's), not from us.

    msgspec reports the undecodable string alone, so it is looked for inside the body the request read.
    """
    body = ScopeState.from_scope(request.scope).body
    return isinstance(body, bytes) and bytes(exc.object) in body


def _framework_response(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody] | None:
    """The framework's and the decoders' refusals of what the caller sent; None for anything else."""
    if isinstance(exc, RecursionError):  # only a body that nests deeper than any decoder will follow gets here
        return error_response(request, 400, invalid(BODY, "the JSON nests too deeply"))
    if isinstance(exc, UnicodeDecodeError) and _is_the_body(request, exc):
        return error_response(request, 400, invalid(BODY, "is not valid UTF-8"))
    if isinstance(exc, ValidationException):
        return error_response(request, 400, ErrorBody(error=INVALID, code="VALIDATION_ERROR",
                                                      details=_validation_details(request, exc)))
    if isinstance(exc, HTTPException) and exc.status_code < HTTP_500_INTERNAL_SERVER_ERROR:
        code, sentence = FRAMEWORK_CODES.get(exc.status_code, ("CLIENT_ERROR", "The request cannot be served."))
        body = ErrorBody(error=sentence, code=code)
        if exc.status_code == 400:  # noqa: PLR2004 - the framework's 400s are all about an unreadable body
            body = invalid(BODY, exc.detail or "the body cannot be read")
        return error_response(request, exc.status_code, body, dict(exc.headers or {}))
    return None


def _upstream_response(request: Request[Any, Any, Any], exc: UpstreamFailure) -> Response[ErrorBody]:
    """Meta's refusal, with its code and title in `details` so a caller can look it up."""
    body = ErrorBody(error=exc.message, code=exc.code)
    if exc.meta_code is not None or exc.meta_title:
        found = f"Meta error {exc.meta_code}" if exc.meta_code is not None else "Meta error"
        body.details = f"{found}: {exc.meta_title}" if exc.meta_title else found
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, UpstreamRateLimited) else None
    return error_response(request, status_of(exc) or 502, body, headers)


def _domain_response(request: Request[Any, Any, Any],
                     exc: DomainError) -> Response[ErrorBody] | None:
    if isinstance(exc, AuthenticationFailed):
        body = ErrorBody(error=exc.message, code=exc.code)
        if exc.details:
            body.details = exc.details
        return error_response(request, 401, body,
                              None if isinstance(exc, WebhookSignatureRejected) else WWW_AUTHENTICATE)
    if isinstance(exc, RateLimited):
        return error_response(request, 429, ErrorBody(error=exc.message, code=exc.code), {
            "Retry-After": str(exc.retry_after_s), "RateLimit-Limit": str(exc.limit),
            "RateLimit-Remaining": "0", "RateLimit-Reset": str(exc.retry_after_s)})
    if isinstance(exc, UpstreamFailure):
        return _upstream_response(request, exc)
    if isinstance(exc, ValidationFailed):
        details = [FieldError(field=p.field, message=p.message) for p in exc.problems]
        return error_response(request, 400, ErrorBody(error=exc.message, code=exc.code, details=details))
    if (status := status_of(exc)) is not None:
        return error_response(request, status, ErrorBody(error=exc.message, code=exc.code))
    return None


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    if isinstance(exc, DomainError) and (answered := _domain_response(request, exc)) is not None:
        return answered
    if (refused := _framework_response(request, exc)) is not None:
        return refused
    log.error("unexpected fault", exc_info=exc, extra={"request_id": request_id_of(request), "path": request.url.path})
    return error_response(request, 500, ErrorBody(error=INTERNAL, code="INTERNAL_ERROR"))


EXCEPTION_HANDLERS = {Exception: handle_exception}
