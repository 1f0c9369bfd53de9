"""What a create remembers about an Idempotency-Key, so a retried request answers the memory it made."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

IDEMPOTENCY_TTL = timedelta(hours=24)
MAX_IDEMPOTENCY_KEY_CHARS = 255


@dataclass(frozen=True, slots=True, kw_only=True)
class IdempotencyRecord:
    owner_id: UUID
    key: str
    request_hash: str
    memory_id: UUID
    created_at: datetime

    def expired(self, now: datetime) -> bool:
        return now - self.created_at >= IDEMPOTENCY_TTL
