"""Owners and API keys, as the CLI manages them; a key's secret is shown once and stored only sealed.

Issuing, rotating and revoking a key are security events: each is audited once it is committed, with the key id and its
owner's id, never the secret. The command runs on the host, straight against the database: no address, no path.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from memo.application.dto import IssuedKey, SecurityEvent
from memo.application.ports import AuditLog, Clock, IdGenerator, SealedSecrets, SecretBox, UnitOfWork
from memo.domain.errors import ApiKeyNotFound, OwnerAlreadyExists, OwnerNotFound, SecretUnreadable
from memo.domain.owners import DEFAULT_ROTATION_GRACE_S, ApiKey, Owner

DEFAULT_OWNER = "default"
KEY_ID_PREFIX = "mk_"
KEY_ISSUED = "API_KEY_ISSUED"
KEY_REVOKED = "API_KEY_REVOKED"
KEY_ROTATED = "API_KEY_ROTATED"
LOCAL = "local"  # the client address and path of an event of the `memo` command, which has neither


def new_key_id() -> str:
    return KEY_ID_PREFIX + secrets.token_urlsafe(12)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateOwner:
    uow: UnitOfWork
    clock: Clock
    ids: IdGenerator

    async def __call__(self, name: str, *, whatsapp_phone_number_id: str | None = None,
                       whatsapp_number: str | None = None) -> Owner:
        owner = Owner.create(id=self.ids.new_id(), name=name, whatsapp_phone_number_id=whatsapp_phone_number_id,
                             whatsapp_number=whatsapp_number, now=self.clock.now())
        async with self.uow:
            if await self.uow.owners.by_name(name) is not None:
                raise OwnerAlreadyExists(name)
            await self.uow.owners.add(owner)
            await self.uow.commit()
        return owner


@dataclass(frozen=True, slots=True, kw_only=True)
class IssueApiKey:
    uow: UnitOfWork
    clock: Clock
    box: SecretBox
    audit: AuditLog

    async def __call__(self, owner_name: str, *, label: str | None = None) -> IssuedKey:
        secret = new_secret()
        async with self.uow:
            owner = await self.uow.owners.by_name(owner_name)
            if owner is None:
                raise OwnerNotFound(owner_name)
            key_id = new_key_id()
            key = ApiKey(key_id=key_id, owner_id=owner.id, label=label,
                         sealed_secret=self.box.seal(secret.encode(), key_id=key_id), created_at=self.clock.now())
            await self.uow.api_keys.add(key)
            await self.uow.commit()
        _audit(self.audit, KEY_ISSUED, key)
        return IssuedKey(key_id=key.key_id, secret=secret, owner_name=owner.name, label=label,
                         created_at=key.created_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyListing:
    key: ApiKey
    owner_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ListApiKeys:
    uow: UnitOfWork

    async def __call__(self) -> Sequence[KeyListing]:
        async with self.uow:
            names = {owner.id: owner.name for owner in await self.uow.owners.all()}
            keys = await self.uow.api_keys.all()
        return [KeyListing(key=key, owner_name=names.get(key.owner_id, "?")) for key in keys]


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeApiKey:
    uow: UnitOfWork
    clock: Clock
    audit: AuditLog

    async def __call__(self, key_id: str) -> None:
        async with self.uow:
            key = await self.uow.api_keys.get(key_id)
            if key is None or not await self.uow.api_keys.revoke(key_id, self.clock.now()):
                raise ApiKeyNotFound(key_id)
            await self.uow.commit()
        _audit(self.audit, KEY_REVOKED, key)


@dataclass(frozen=True, slots=True, kw_only=True)
class RotatedKey:
    key_id: str
    secret: str  # the new one, shown once
    owner_name: str
    label: str | None
    created_at: datetime
    previous_valid_until: datetime  # the previous secret is refused from this moment on


@dataclass(frozen=True, slots=True, kw_only=True)
class RotateApiKey:
    """A new secret for the same key id, so a device keeps its id, its nonces' scope and its audit trail.

    The previous secret is still accepted for `grace_s` seconds, time to put the new one on the device; running
    servers see the change at their next lookup: every request reads the key, or on SQLite a key kept since
    the last commit anywhere, which this one is. Revoked keys stay revoked.
    """

    uow: UnitOfWork
    clock: Clock
    box: SecretBox
    audit: AuditLog

    async def __call__(self, key_id: str, *, grace_s: int = DEFAULT_ROTATION_GRACE_S) -> RotatedKey:
        secret = new_secret()
        async with self.uow:
            key = await self.uow.api_keys.get(key_id)
            if key is None or not key.active:
                raise ApiKeyNotFound(key_id)
            now = self.clock.now()
            rotated = key.rotated(self.box.seal(secret.encode(), key_id=key_id), grace_s=grace_s, now=now)
            if not await self.uow.api_keys.rotate(rotated, replacing=key.sealed_secret):
                raise ApiKeyNotFound(key_id)  # revoked, or rotated by another run, since it was read
            owner = await self.uow.owners.by_id(key.owner_id)
            await self.uow.commit()
        _audit(self.audit, KEY_ROTATED, rotated)
        return RotatedKey(key_id=key_id, secret=secret, owner_name=owner.name if owner else "?", label=key.label,
                          created_at=key.created_at, previous_valid_until=rotated.previous_valid_until or now)


def _audit(audit: AuditLog, what: str, key: ApiKey) -> None:
    audit.security_event(SecurityEvent(reason=what, key_id=key.key_id, client_ip=LOCAL, path=LOCAL,
                                       owner_id=key.owner_id))


@dataclass(frozen=True, slots=True, kw_only=True)
class ResealReport:
    resealed: int
    unreadable: tuple[str, ...]  # key ids whose secret opens under no configured key: left as they are


@dataclass(frozen=True, slots=True, kw_only=True)
class ResealSecrets:
    """Re-seal every stored secret under the current ENCRYPTION_KEY, so the previous keys can then be dropped.

    Each key is rewritten on its own, compare-and-set on the sealed bytes it read, so a run can be repeated or
    interrupted at any point and two runs never undo each other. Revoked keys are resealed too: a previous key
    that is dropped must leave nothing behind that only it opens. A secret that opens under none of the keys is
    reported by key id, never skipped in silence.
    """

    secrets: SealedSecrets
    box: SecretBox

    async def __call__(self) -> ResealReport:
        resealed, unreadable = 0, []
        for key_id, sealed in await self.secrets.all():
            try:
                plaintext = self.box.open(sealed, key_id=key_id)
            except SecretUnreadable:
                unreadable.append(key_id)
                continue
            if await self.secrets.replace(key_id, sealed, self.box.seal(plaintext, key_id=key_id)):
                resealed += 1
        return ResealReport(resealed=resealed, unreadable=tuple(unreadable))


@dataclass(frozen=True, slots=True, kw_only=True)
class EnsureFirstKey:
    """On a first start with no key at all, make the default owner and one key, so Memo is usable at once."""

    uow: UnitOfWork
    create_owner: CreateOwner
    issue_key: IssueApiKey

    async def __call__(self) -> IssuedKey | None:
        async with self.uow:
            if await self.uow.api_keys.all():
                return None
            owner = await self.uow.owners.by_name(DEFAULT_OWNER)
        if owner is None:
            await self.create_owner(DEFAULT_OWNER)
        return await self.issue_key(DEFAULT_OWNER, label="created on first start")
