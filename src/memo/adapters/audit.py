"""Security audit events: one JSON log line each, or a list in memory for tests."""

from __future__ import annotations

import logging

from memo.application.dto import SecurityEvent
from memo.application.ports import AuditLog

audit_log = logging.getLogger("memo.audit")


class LoggingAuditLog(AuditLog):
    def security_event(self, event: SecurityEvent) -> None:
        audit_log.warning("security event", extra={"event": "security", "reason": event.reason,
                                                   "key_id": event.key_id, "ip": event.client_ip,
                                                   "path": event.path, "owner_id": event.owner_id})


class RecordingAuditLog(AuditLog):
    def __init__(self) -> None:
        self.events: list[SecurityEvent] = []

    def security_event(self, event: SecurityEvent) -> None:
        self.events.append(event)
