"""Owners and their API keys: who a signed request acts for."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from memo.domain.errors import ValidationFailed

KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,64}")
OWNER_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
PHONE_NUMBER_PATTERN = re.compile(r"\d{6,20}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Owner:
    id: UUID
    name: str
    whatsapp_phone_number_id: str | None = None
    whatsapp_number: str | None = None
    created_at: datetime

    @classmethod
    def create(cls, *, id: UUID, name: str, whatsapp_phone_number_id: str | None = None,  # noqa: A002
               whatsapp_number: str | None = None, now: datetime) -> Owner:
        if not OWNER_NAME_PATTERN.fullmatch(name):
            raise ValidationFailed.single(
                "name", "1 to 64 of letters, digits, '_', '.', '@' or '-', starting alphanumeric")
        _check_numbers(whatsapp_phone_number_id, whatsapp_number)
        return cls(id=id, name=name, whatsapp_phone_number_id=whatsapp_phone_number_id,
                   whatsapp_number=whatsapp_number, created_at=now)

    def with_numbers(self, *, whatsapp_phone_number_id: str | None, whatsapp_number: str | None) -> Owner:
        """The same owner with these WhatsApp numbers (None: no number), checked as `create` checks them."""
        _check_numbers(whatsapp_phone_number_id, whatsapp_number)
        return replace(self, whatsapp_phone_number_id=whatsapp_phone_number_id, whatsapp_number=whatsapp_number)


def _check_numbers(whatsapp_phone_number_id: str | None, whatsapp_number: str | None) -> None:
    for field_name, value in (("whatsappPhoneNumberId", whatsapp_phone_number_id),
                              ("whatsappNumber", whatsapp_number)):
        if value is not None and not PHONE_NUMBER_PATTERN.fullmatch(value):
            raise ValidationFailed.single(field_name, "must be 6 to 20 digits")


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    """A key as stored: the secret only ever sealed; revoked keys stay for the audit trail."""

    key_id: str
    owner_id: UUID
    label: str | None
    sealed_secret: bytes
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None  # to the minute: uses are written at most once a minute per key

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who an authenticated request acts for."""

    owner_id: UUID
    key_id: str
