"""Owners and their API keys: who a signed request acts for."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

from memo.domain.errors import ValidationFailed

KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,64}")
OWNER_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
PHONE_NUMBER_PATTERN = re.compile(r"\d{6,20}")
DEFAULT_ROTATION_GRACE_S = 86_400  # a day: time enough to put the new secret on every device that held the old one
MAX_ROTATION_GRACE_S = 30 * 86_400


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
    # After a rotation, the secret it replaced (sealed, bound to the same key id) and the moment it stops being
    # accepted; a rotation with no grace keeps no previous secret, only the moment.
    previous_sealed_secret: bytes | None = None
    previous_valid_until: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def rotated(self, sealed_secret: bytes, *, grace_s: int, now: datetime) -> ApiKey:
        """This key with a new secret; the current one stays accepted until now + grace_s (0: refused at once).

        A rotation within the grace of an earlier one ends that earlier secret at once: a key holds two at most.
        """
        if not 0 <= grace_s <= MAX_ROTATION_GRACE_S:
            raise ValidationFailed.single("grace", f"must be 0 to {MAX_ROTATION_GRACE_S} seconds")
        return replace(self, sealed_secret=sealed_secret,
                       previous_sealed_secret=self.sealed_secret if grace_s > 0 else None,
                       previous_valid_until=now + timedelta(seconds=grace_s))

    def previous_accepted(self, now: datetime) -> bool:
        return previous_accepted(self.previous_sealed_secret, self.previous_valid_until, now)


def previous_accepted(previous: object | None, valid_until: datetime | None, now: datetime) -> bool:
    """A previous secret (sealed or opened) is accepted strictly before its end: at `valid_until` it is refused."""
    return previous is not None and valid_until is not None and now < valid_until


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who an authenticated request acts for."""

    owner_id: UUID
    key_id: str
