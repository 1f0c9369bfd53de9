"""The Python client of Memo: a v2 signer for httpx, and typed sync and async clients of every route.

Needs only httpx and msgspec (and the signed-string code of memo.domain.signing, which the server shares), never
the server's frameworks. `sign_request`, `sign_v1` and `split_target` are the standard-library layer beneath.
"""

from memo.client.async_ import AsyncMemoClient
from memo.client.auth import MemoAuth
from memo.client.errors import (
    AuthError,
    Conflict,
    FieldError,
    MemoError,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
    ValidationError,
)
from memo.client.models import (
    Answer,
    AnswerSource,
    ExportedMemory,
    Health,
    ImportReport,
    Memory,
    Page,
    SearchHit,
    SearchResult,
    SendResult,
    SkippedLine,
    SyncStatus,
)
from memo.client.signing import NONCE_PATTERN, sign_request, sign_v1, split_target
from memo.client.sync import MemoClient

__all__ = [
    "NONCE_PATTERN",
    "Answer",
    "AnswerSource",
    "AsyncMemoClient",
    "AuthError",
    "Conflict",
    "ExportedMemory",
    "FieldError",
    "Health",
    "ImportReport",
    "MemoAuth",
    "MemoClient",
    "MemoError",
    "Memory",
    "NotFound",
    "Page",
    "RateLimited",
    "SearchHit",
    "SearchResult",
    "SendResult",
    "ServerError",
    "SkippedLine",
    "SyncStatus",
    "TransportError",
    "ValidationError",
    "sign_request",
    "sign_v1",
    "split_target",
]
