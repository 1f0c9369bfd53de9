"""What the three OpenAI adapters share: one way to build `AsyncOpenAI`, and one way to say what went wrong.

Every knob the SDK would otherwise take from the environment or its defaults (key, base URL, timeouts,
retries) is passed explicitly, so what runs is what the settings say. The SDK retries timeouts, refused connects,
408, 409, 429 and 5xx itself, `max_retries` times with its own backoff (or the server's `Retry-After`); what
reaches us has already been retried.

The API key never leaves `_ApiKey` except in the SDK's `Authorization` header: failure messages are built from
the status, OpenAI's error code and type, and OpenAI's message with the key cut out (OpenAI quotes a masked key
in its 401 message, and an OpenAI-compatible server may quote all of it).
"""

from __future__ import annotations

import logging
import re

import openai

DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_MAX_RETRIES = 2
_MESSAGE_CHARS = 200
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_*.\-]{4,}")  # OpenAI's keys and the masked forms it quotes of them
_log = logging.getLogger("memo.adapters.openai")


class ApiKey:
    """The API key, kept where no repr, str or vars() dump shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value or not value.strip():
            raise ValueError("an OpenAI API key is required (OPENAI_API_KEY)")
        self._value = value.strip()

    def __repr__(self) -> str:
        return "<OpenAI API key>"

    def reveal(self) -> str:
        return self._value

    def scrub(self, text: str) -> str:
        """`text` on one line of sane length, with the key (and anything shaped like one) cut out."""
        flat = " ".join(_KEY_LIKE.sub("[redacted]", text.replace(self._value, "[redacted]")).split())
        return flat if len(flat) <= _MESSAGE_CHARS else flat[: _MESSAGE_CHARS - 1] + "…"


def make_client(*, api_key: ApiKey, base_url: str | None, timeout_s: float, connect_timeout_s: float,
                max_retries: int) -> openai.AsyncOpenAI:
    """`base_url` None means the SDK's own choice: OPENAI_BASE_URL from the environment, else api.openai.com."""
    if timeout_s <= 0 or connect_timeout_s <= 0:
        raise ValueError("OpenAI timeouts must be positive")
    if max_retries < 0:
        raise ValueError("OpenAI max_retries must be 0 or more")
    return openai.AsyncOpenAI(api_key=api_key.reveal(), base_url=base_url or None,
                              timeout=openai.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s)),
                              max_retries=max_retries)


def failure_message(exc: Exception, *, action: str, key: ApiKey, timeout_s: float,  # noqa: PLR0911 - one per kind
                    attempts: int) -> str:
    """Why `action` failed, for an operator: no key, no request body, OpenAI's own words scrubbed and clipped."""
    if isinstance(exc, openai.APITimeoutError):
        return f"OpenAI did not answer {action} within {timeout_s:g} s ({_tries(attempts)})."
    if isinstance(exc, openai.APIConnectionError):
        return f"OpenAI could not be reached for {action} ({_tries(attempts)})."
    if isinstance(exc, openai.AuthenticationError):
        return f"OpenAI refused the API key for {action} (HTTP 401): check OPENAI_API_KEY."
    if isinstance(exc, openai.APIStatusError):
        said = _said(exc, key)
        if isinstance(exc, openai.PermissionDeniedError):
            return f"OpenAI refused {action} to this API key (HTTP 403{said}): check the key's project and models."
        if isinstance(exc, openai.RateLimitError):
            return f"OpenAI is rate limiting {action} or the quota is used up (HTTP 429{said}, {_tries(attempts)})."
        if exc.status_code >= 500:  # noqa: PLR2004
            return f"OpenAI failed {action} (HTTP {exc.status_code}{said}, {_tries(attempts)})."
        return f"OpenAI refused {action} as invalid (HTTP {exc.status_code}{said})."
    if isinstance(exc, openai.APIResponseValidationError | ValueError):
        return f"OpenAI answered {action} with something unreadable ({type(exc).__name__})."
    return f"OpenAI failed {action} ({type(exc).__name__})."


def log_failure(message: str) -> None:
    _log.warning("%s", message)


def _tries(attempts: int) -> str:
    return "1 attempt" if attempts == 1 else f"{attempts} attempts"


def _said(exc: openai.APIStatusError, key: ApiKey) -> str:
    parts = [f"{label} {key.scrub(value)}" for label, value in (("code", exc.code), ("type", exc.type))
             if isinstance(value, str) and value]
    message = exc.body.get("message") if isinstance(exc.body, dict) else None
    if isinstance(message, str) and message.strip():
        parts.append(key.scrub(message))
    return "".join(f", {part}" for part in parts)
