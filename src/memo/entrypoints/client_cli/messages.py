"""What the command line says when Memo refuses: one line per error code, and one exit code per error family.

Scripts branch on the exit code (what to do); people read the line (what happened, and the next step). The code
stays in the line, so it can be looked up in API.md or the server's logs.
"""

from __future__ import annotations

from memo.client import AuthError, Conflict, MemoError, NotFound, RateLimited, ServerError, TransportError
from memo.client import ValidationError as Invalid

EXIT_OK = 0
EXIT_OTHER = 1
EXIT_USAGE = 2  # click's own: a missing argument, an option that does not parse
EXIT_AUTH = 3
EXIT_VALIDATION = 4
EXIT_NOT_FOUND = 5
EXIT_CONFLICT = 6
EXIT_RATE_LIMITED = 7
EXIT_SERVER = 8

EXIT_BY_FAMILY: tuple[tuple[type[MemoError], int], ...] = (
    (AuthError, EXIT_AUTH), (Invalid, EXIT_VALIDATION), (NotFound, EXIT_NOT_FOUND), (Conflict, EXIT_CONFLICT),
    (RateLimited, EXIT_RATE_LIMITED), (ServerError, EXIT_SERVER), (TransportError, EXIT_SERVER),
)

CHECK_KEY = "check MEMO_KEY_ID and MEMO_KEY_SECRET, or run memo login"
SIGNER = "the command line signs every request itself: upgrade Memo's command line, or report it"
RETRY = "retry shortly"
WEBHOOK = "this code belongs to the WhatsApp webhook, which the command line never calls"

# code -> (what happened, what to do; "" when there is nothing to do)
MESSAGES: dict[str, tuple[str, str]] = {
    "VALIDATION_ERROR": ("the request was refused as invalid", "fix the values named"),
    "BAD_REQUEST": ("the server could not read the request", SIGNER),
    "CLIENT_DISCONNECTED": ("the request body did not reach the server in full", "retry"),
    "INVALID_JSON": ("the server could not read the request body as JSON", SIGNER),
    "INVALID_JSON_LINES": ("the file is not JSON Lines", "give one JSON object a line, as memo export writes"),
    "INVALID_WEBHOOK_OBJECT": ("the notification is not from a WhatsApp Business Account", WEBHOOK),
    "MISSING_SIGNATURE": ("the request reached the server unsigned", SIGNER),
    "MISSING_TIMESTAMP": ("the request reached the server without its timestamp", SIGNER),
    "INVALID_TIMESTAMP": ("the request's timestamp was malformed", SIGNER),
    "MISSING_KEY_ID": ("the request reached the server without a key id", CHECK_KEY),
    "MISSING_NONCE": ("the request reached the server without a nonce", SIGNER),
    "INVALID_NONCE": ("the request's nonce was malformed", SIGNER),
    "UNKNOWN_KEY": ("the key was refused", "check MEMO_KEY_ID or run memo login"),
    "EXPIRED_TIMESTAMP": ("the request's time is too far from the server's", "set this computer's clock right"),
    "REPLAYED_REQUEST": ("the server had already seen this request's nonce", "run the command again"),
    "INVALID_SIGNATURE": ("the signature was refused", "check MEMO_KEY_SECRET or run memo login"),
    "MISSING_WHATSAPP_SIGNATURE": ("the webhook call was unsigned", WEBHOOK),
    "INVALID_WHATSAPP_SIGNATURE": ("the webhook signature did not verify", WEBHOOK),
    "FORBIDDEN": ("the webhook subscription could not be verified", WEBHOOK),
    "MEMORY_NOT_FOUND": ("no memory of yours has this id", "memo list shows your memories and their ids"),
    "NOT_FOUND": ("the server has no such route", "check that MEMO_URL points at Memo"),
    "METHOD_NOT_ALLOWED": ("the server does not take that method on this route", "check that MEMO_URL points at Memo"),
    "REQUEST_TIMEOUT": ("the request body did not arrive in time", "retry, or check the network"),
    "IDEMPOTENCY_CONFLICT": ("this idempotency key was already used with another request",
                             "use a fresh key for a different request"),
    "VERSION_CONFLICT": ("the memory changed since it was read", "read it again with memo get, then edit"),
    "PAYLOAD_TOO_LARGE": ("the request is larger than the server accepts", "send less, or smaller import batches"),
    "UNSUPPORTED_MEDIA_TYPE": ("the server refused the body's media type", SIGNER),
    "OUTSIDE_CUSTOMER_CARE_WINDOW": ("the recipient last wrote more than 24 hours ago",
                                     "WhatsApp allows only a template message now"),
    "RATE_LIMIT_EXCEEDED": ("too many requests", "wait, then retry"),
    "UPSTREAM_RATE_LIMITED": ("WhatsApp is limiting the rate of messages", "wait, then retry"),
    "INTERNAL_ERROR": ("the server failed", "the server's log has the detail, under the request id"),
    "UPSTREAM_AUTH_ERROR": ("WhatsApp refused the server's access token",
                            "replace WHATSAPP_ACCESS_TOKEN on the server"),
    "UPSTREAM_ERROR": ("WhatsApp refused or did not answer", "retry later"),
    "SERVER_BUSY": ("the server is busy", RETRY),
    "DATABASE_UNAVAILABLE": ("the server cannot reach its database", RETRY),
    "NONCE_STORE_UNAVAILABLE": ("the server cannot reach its replay protection (Redis)", RETRY),
    "VECTOR_INDEX_UNAVAILABLE": ("search by meaning is unavailable", "retry shortly, or use --mode keyword"),
    "ANSWERER_UNAVAILABLE": ("answering is unavailable", RETRY),
    "WHATSAPP_NOT_CONFIGURED": ("WhatsApp sending is not configured on the server",
                                "set WHATSAPP_ACCESS_TOKEN and WHATSAPP_PHONE_NUMBER_ID there"),
    "CLIENT_ERROR": ("the server refused the request", SIGNER),
    "TRANSPORT_ERROR": ("the server could not be reached", "is memo serve running? check MEMO_URL"),
}


def exit_code(error: MemoError) -> int:
    for family, code in EXIT_BY_FAMILY:
        if isinstance(error, family):
            return code
    return EXIT_OTHER


def one_line(error: MemoError, *, url: str | None = None) -> str:
    """`memo: <what happened> (<CODE>): <what to do>`, with the fields at fault, the wait or the address."""
    sentence, advice = MESSAGES.get(error.code, ("", ""))
    if not sentence:
        sentence = _fallback(error)
    if error.code == "TRANSPORT_ERROR" and url:
        sentence = f"the server at {url} could not be reached"
    facts = [f"{problem.field}: {problem.message}" for problem in error.field_errors]
    if isinstance(error.details, str) and error.details:
        facts.append(error.details)
    if error.code == "VERSION_CONFLICT" and error.message:
        facts.append(error.message.rstrip("."))
    if error.retry_after is not None:
        facts.append(f"retry in {error.retry_after:g} s")
    if isinstance(error, ServerError) and error.request_id:
        facts.append(f"request {error.request_id}")
    line = f"memo: {sentence} ({error.code})"
    if facts:
        line += f": {'; '.join(facts)}"
    if advice:
        line += f"; {advice}" if facts else f": {advice}"
    return " ".join(line.split())  # one line, whatever the server's details held


def _fallback(error: MemoError) -> str:
    if error.code.startswith("HTTP_"):
        return f"the server answered HTTP {error.status} without Memo's error envelope (is MEMO_URL Memo?)"
    return error.message.rstrip(".") or "the server refused the request"
