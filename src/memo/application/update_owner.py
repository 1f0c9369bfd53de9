"""Change an owner's WhatsApp numbers, as the CLI does it: only the numbers given change, None clears one."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from memo.application.ports import UnitOfWork
from memo.domain.errors import OwnerNotFound, ValidationFailed
from memo.domain.owners import Owner


class Keep(enum.Enum):
    KEEP = "keep"


KEEP: Final = Keep.KEEP
"""Leave this number as it is (None would clear it)."""

NumberChange: TypeAlias = str | Literal[Keep.KEEP] | None


def _changed(current: str | None, change: NumberChange) -> str | None:
    return current if change is KEEP else change


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateOwner:
    uow: UnitOfWork

    async def __call__(self, name: str, *, whatsapp_phone_number_id: NumberChange = KEEP,
                       whatsapp_number: NumberChange = KEEP) -> Owner:
        async with self.uow:
            owner = await self.uow.owners.by_name(name)
            if owner is None:
                raise OwnerNotFound(name)
            updated = owner.with_numbers(
                whatsapp_phone_number_id=_changed(owner.whatsapp_phone_number_id, whatsapp_phone_number_id),
                whatsapp_number=_changed(owner.whatsapp_number, whatsapp_number))
            try:
                found = await self.uow.owners.update(updated)
            except ValidationFailed as refused:
                raise await self._naming_the_holder(refused, updated) from None
            if not found:  # removed since it was read
                raise OwnerNotFound(name)
            await self.uow.commit()
        return updated

    async def _naming_the_holder(self, refused: ValidationFailed, owner: Owner) -> ValidationFailed:
        """The repository's refusal of a claimed phone number id, saying which owner holds it, for the operator."""
        number = owner.whatsapp_phone_number_id
        if number is None or [problem.field for problem in refused.problems] != ["whatsappPhoneNumberId"]:
            return refused
        holder = await self.uow.owners.by_whatsapp_phone_number_id(number)
        if holder is None or holder.id == owner.id:
            return refused
        return ValidationFailed.single("whatsappPhoneNumberId", f"{number} is already claimed by owner {holder.name!r}")
