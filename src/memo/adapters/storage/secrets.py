"""Opening a stored key secret on the authentication path, the same way in every key store."""

from __future__ import annotations

from memo.application.dto import SecurityEvent
from memo.application.ports import AuditLog, SecretBox
from memo.domain.errors import SecretUnreadable

UNREADABLE = "SECRET_UNREADABLE"


def open_stored_secret(box: SecretBox, audit: AuditLog | None, key_id: str, sealed: bytes) -> bytes:
    """The opened secret; one that does not open is a security event, then a server fault, never the caller's.

    A wrong ENCRYPTION_KEY, a sealed value copied from another key's row and altered bytes all end here. The
    SecretUnreadable raised on is mapped to nothing, so the HTTP layer answers 500 INTERNAL_ERROR and logs it with
    the request id and path. The event names the key id only, never the sealed bytes; the store does not see the
    request, so its address and path stay empty here and are found in that error line.
    """
    try:
        return box.open(sealed, key_id=key_id)
    except SecretUnreadable:
        if audit is not None:
            audit.security_event(SecurityEvent(reason=UNREADABLE, key_id=key_id, client_ip="", path=""))
        raise
