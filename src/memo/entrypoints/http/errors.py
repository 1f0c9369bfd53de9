"""Every failure, the framework's included, leaves as the one error envelope of API.md section 1."""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from memo.application.errors import AuthenticationFailed, RateLimited
from memo.domain.errors import DomainError, ValidationFailed
from memo.entrypoints.http.schemas import ErrorBody, FieldError

log = logging.getLogger("memo.http")

WWW_AUTHENTICATE = {"WWW-Authenticate": "Memo-HMAC-SHA256"}

DOMAIN_STATUS = {
    "VALIDATION_ERROR": 400,
    "MEMORY_NOT_FOUND": 404,
    "OWNER_NOT_FOUND": 404,
    "KEY_NOT_FOUND": 404,
    "OWNER_EXISTS": 409,
    "IDEMPOTENCY_CONFLICT": 409,
    "VERSION_CONFLICT": 412,
    "RATE_LIMIT_EXCEEDED": 429,
    "DATABASE_UNAVAILABLE": 503,
    "NONCE_STORE_UNAVAILABLE": 503,
}

FRAMEWORK_CODES = {
    400: ("BAD_REQUEST", "The request is malformed."),
    404: ("NOT_FOUND", "No such route."),
    405: ("METHOD_NOT_ALLOWED", "This route does not accept that method."),
    413: ("PAYLOAD_TOO_LARGE", "The request body is larger than this server accepts."),
    415: ("UNSUPPORTED_MEDIA_TYPE", "Send the body as application/json."),
}

_MSGSPEC_PATH = re.compile(r"^\$\.?")


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


def _field_name(key: str) -> str:
    return "body" if key in {"data", ""} else _MSGSPEC_PATH.sub("", key)


def _validation_details(exc: ValidationException) -> list[FieldError]:
    details: list[FieldError] = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(item, dict):
            continue
        key, message = str(item.get("key", "")), str(item.get("message", "invalid"))
        if key == "data" and message == "'data'":
            message = "a JSON object body is required"
        details.append(FieldError(field=_field_name(key), message=message))
    return details or [FieldError(field="body", message=str(exc.detail))]


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:  # noqa: PLR0911
    if isinstance(exc, AuthenticationFailed):
        body = ErrorBody(error=exc.message, code=exc.code)
        if exc.details:
            body.details = exc.details
        return error_response(request, 401, body, WWW_AUTHENTICATE)
    if isinstance(exc, RateLimited):
        return error_response(request, 429, ErrorBody(error=exc.message, code=exc.code), {
            "Retry-After": str(exc.retry_after_s), "RateLimit-Limit": str(exc.limit),
            "RateLimit-Remaining": "0", "RateLimit-Reset": str(exc.retry_after_s)})
    if isinstance(exc, ValidationFailed):
        details = [FieldError(field=p.field, message=p.message) for p in exc.problems]
        return error_response(request, 400, ErrorBody(error=exc.message, code=exc.code, details=details))
    if isinstance(exc, DomainError):
        return error_response(request, DOMAIN_STATUS.get(exc.code, 400), ErrorBody(error=exc.message, code=exc.code))
    if isinstance(exc, RecursionError):  # only a body that nests deeper than any decoder will follow gets here
        return error_response(request, 400, ErrorBody(error="The request is invalid.", code="VALIDATION_ERROR",
                                                      details=[FieldError(field="body",
                                                                          message="the JSON nests too deeply")]))
    if isinstance(exc, ValidationException):
        return error_response(request, 400, ErrorBody(error="The request is invalid.", code="VALIDATION_ERROR",
                                                      details=_validation_details(exc)))
    if isinstance(exc, HTTPException) and exc.status_code < HTTP_500_INTERNAL_SERVER_ERROR:
        code, sentence = FRAMEWORK_CODES.get(exc.status_code, ("CLIENT_ERROR", "The request cannot be served."))
        body = ErrorBody(error=sentence, code=code)
        if exc.status_code == 400:  # noqa: PLR2004 - the framework's 400s are all about an unreadable body
            body = ErrorBody(error="The request is invalid.", code="VALIDATION_ERROR",
                             details=[FieldError(field="body", message=exc.detail or "the body cannot be read")])
        return error_response(request, exc.status_code, body, dict(exc.headers or {}))
    log.error("unexpected fault", exc_info=exc, extra={"request_id": request_id_of(request), "path": request.url.path})
    return error_response(request, 500, ErrorBody(error="An unexpected error occurred; it has been logged.",
                                                  code="INTERNAL_ERROR"))


EXCEPTION_HANDLERS = {Exception: handle_exception}
