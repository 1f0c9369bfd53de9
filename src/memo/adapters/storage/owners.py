"""SQLAlchemy repositories of owners and their API keys; they share the unit of work's session, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from advanced_alchemy.filters import OrderBy
from sqlalchemy import Insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from memo.adapters.storage.errors import translating
from memo.adapters.storage.orm import (
    ApiKeyRow,
    OwnerRow,
    api_key_from_domain,
    api_key_to_domain,
    owner_to_domain,
    owner_values,
)
from memo.adapters.storage.rows import ROW_OPTIONS, ApiKeyRows, OwnerRows, affected, insert_for
from memo.application.ports import ApiKeyRepository, OwnerRepository
from memo.domain.errors import OwnerAlreadyExists, ValidationFailed
from memo.domain.owners import ApiKey, Owner


class SqlAlchemyOwnerRepository(OwnerRepository):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._rows = OwnerRows(session=session, **ROW_OPTIONS)

    @translating
    async def add(self, owner: Owner) -> None:
        # ON CONFLICT DO NOTHING rather than catching IntegrityError: on PostgreSQL a failed INSERT would poison
        # the whole transaction, and the caller may well go on using this unit of work.
        statement: Insert = insert_for(self._session, OwnerRow).values(
            **owner_values(owner)).on_conflict_do_nothing()
        if affected(await self._session.execute(statement)) == 1:
            return
        if await self.by_name(owner.name) is not None:
            raise OwnerAlreadyExists(owner.name)
        if owner.whatsapp_phone_number_id is not None:
            raise ValidationFailed.single("whatsappPhoneNumberId", "is already claimed by another owner")
        raise ValueError(f"owner id {owner.id} is already stored")

    @translating
    async def by_name(self, name: str) -> Owner | None:
        row = await self._rows.get_one_or_none(OwnerRow.name == name)
        return None if row is None else owner_to_domain(row)

    @translating
    async def by_id(self, owner_id: UUID) -> Owner | None:
        row = await self._rows.get_one_or_none(OwnerRow.id == owner_id)
        return None if row is None else owner_to_domain(row)

    @translating
    async def by_whatsapp_phone_number_id(self, phone_number_id: str) -> Owner | None:
        row = await self._rows.get_one_or_none(OwnerRow.whatsapp_phone_number_id == phone_number_id)
        return None if row is None else owner_to_domain(row)

    @translating
    async def all(self) -> Sequence[Owner]:
        rows = await self._rows.get_many(OrderBy(field_name="created_at"), OrderBy(field_name="id"))
        return [owner_to_domain(row) for row in rows]

    @translating
    async def update(self, owner: Owner) -> bool:
        # The unique index decides who holds a number; checked first, as a failed UPDATE would poison the
        # transaction on PostgreSQL. A race past the check still ends in the index's IntegrityError, never two owners.
        if owner.whatsapp_phone_number_id is not None:
            holder = await self.by_whatsapp_phone_number_id(owner.whatsapp_phone_number_id)
            if holder is not None and holder.id != owner.id:
                raise ValidationFailed.single("whatsappPhoneNumberId", "is already claimed by another owner")
        result = await self._session.execute(
            update(OwnerRow).where(OwnerRow.id == owner.id).values(
                whatsapp_phone_number_id=owner.whatsapp_phone_number_id, whatsapp_number=owner.whatsapp_number)
            .execution_options(synchronize_session=False))
        return affected(result) == 1


class SqlAlchemyApiKeyRepository(ApiKeyRepository):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._rows = ApiKeyRows(session=session, **ROW_OPTIONS)

    @translating
    async def add(self, key: ApiKey) -> None:
        await self._rows.add(api_key_from_domain(key))

    @translating
    async def get(self, key_id: str) -> ApiKey | None:
        row = await self._rows.get_one_or_none(ApiKeyRow.key_id == key_id)
        return None if row is None else api_key_to_domain(row)

    @translating
    async def all(self) -> Sequence[ApiKey]:
        rows = await self._rows.get_many(OrderBy(field_name="created_at"), OrderBy(field_name="key_id"))
        return [api_key_to_domain(row) for row in rows]

    @translating
    async def revoke(self, key_id: str, at: datetime) -> bool:
        """True when the key exists; revoking twice keeps the first revocation time."""
        result = await self._session.execute(
            update(ApiKeyRow).where(ApiKeyRow.key_id == key_id, ApiKeyRow.revoked_at.is_(None))
            .values(revoked_at=at).execution_options(synchronize_session=False))
        if affected(result) == 1:
            return True
        return await self.get(key_id) is not None
