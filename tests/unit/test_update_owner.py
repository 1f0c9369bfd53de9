"""UpdateOwner called directly on the in-memory store: only the numbers given change, None clears one."""

from __future__ import annotations

import pytest

from memo.adapters.storage.memory import InMemoryStore, InMemoryUnitOfWork
from memo.adapters.system import FixedClock, SequentialIds
from memo.application.manage_keys import CreateOwner
from memo.application.update_owner import UpdateOwner
from memo.domain.errors import OwnerNotFound, ValidationFailed
from memo.domain.owners import Owner

PHONE_ID, NUMBER = "1234567890", "4915112345678"


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def uow(store: InMemoryStore) -> InMemoryUnitOfWork:
    return InMemoryUnitOfWork(store)


@pytest.fixture
def update(uow: InMemoryUnitOfWork) -> UpdateOwner:
    return UpdateOwner(uow=uow)


async def create(store: InMemoryStore, name: str, **numbers: str) -> Owner:
    ids = SequentialIds(start=len(store.owners) + 1)
    return await CreateOwner(uow=InMemoryUnitOfWork(store), clock=FixedClock(), ids=ids)(name, **numbers)


def numbers(store: InMemoryStore, name: str) -> tuple[str | None, str | None]:
    [owner] = [owner for owner in store.owners.values() if owner.name == name]
    return owner.whatsapp_phone_number_id, owner.whatsapp_number


async def test_update_sets_both_numbers_and_commits_the_owner_it_returns(
        store: InMemoryStore, uow: InMemoryUnitOfWork, update: UpdateOwner) -> None:
    alice = await create(store, "alice")
    updated = await update("alice", whatsapp_phone_number_id=PHONE_ID, whatsapp_number=NUMBER)
    assert (updated.id, updated.name, updated.created_at) == (alice.id, alice.name, alice.created_at)
    assert (updated.whatsapp_phone_number_id, updated.whatsapp_number) == (PHONE_ID, NUMBER)
    assert store.owners[alice.id] == updated
    assert uow.committed


async def test_only_the_numbers_given_change(store: InMemoryStore, update: UpdateOwner) -> None:
    await create(store, "alice", whatsapp_phone_number_id=PHONE_ID, whatsapp_number=NUMBER)
    await update("alice", whatsapp_number="4915100000000")
    assert numbers(store, "alice") == (PHONE_ID, "4915100000000")
    await update("alice", whatsapp_phone_number_id="999999")
    assert numbers(store, "alice") == ("999999", "4915100000000")


async def test_none_clears_a_number_and_leaves_the_other(store: InMemoryStore, update: UpdateOwner) -> None:
    await create(store, "alice", whatsapp_phone_number_id=PHONE_ID, whatsapp_number=NUMBER)
    await update("alice", whatsapp_phone_number_id=None)
    assert numbers(store, "alice") == (None, NUMBER)
    await update("alice", whatsapp_number=None)
    assert numbers(store, "alice") == (None, None)


async def test_a_cleared_phone_number_id_can_be_claimed_by_another_owner(store: InMemoryStore,
                                                                        update: UpdateOwner) -> None:
    await create(store, "alice", whatsapp_phone_number_id=PHONE_ID)
    await create(store, "bob")
    await update("alice", whatsapp_phone_number_id=None)
    await update("bob", whatsapp_phone_number_id=PHONE_ID)
    assert numbers(store, "bob") == (PHONE_ID, None)


async def test_keeping_ones_own_phone_number_id_is_no_conflict(store: InMemoryStore, update: UpdateOwner) -> None:
    await create(store, "alice", whatsapp_phone_number_id=PHONE_ID)
    await update("alice", whatsapp_phone_number_id=PHONE_ID, whatsapp_number=NUMBER)
    assert numbers(store, "alice") == (PHONE_ID, NUMBER)


async def test_a_phone_number_id_claimed_by_another_owner_is_refused_naming_them_and_nothing_changes(
        store: InMemoryStore, uow: InMemoryUnitOfWork, update: UpdateOwner) -> None:
    await create(store, "bob", whatsapp_phone_number_id=PHONE_ID)
    await create(store, "alice", whatsapp_number=NUMBER)
    with pytest.raises(ValidationFailed) as refused:
        await update("alice", whatsapp_phone_number_id=PHONE_ID, whatsapp_number="4915100000000")
    [problem] = refused.value.problems
    assert (problem.field, problem.message) == ("whatsappPhoneNumberId",
                                                f"{PHONE_ID} is already claimed by owner 'bob'")
    assert numbers(store, "alice") == (None, NUMBER)
    assert numbers(store, "bob") == (PHONE_ID, None)
    assert not uow.committed


async def test_an_unknown_owner_is_not_found(update: UpdateOwner) -> None:
    with pytest.raises(OwnerNotFound, match="nobody"):
        await update("nobody", whatsapp_number=NUMBER)


@pytest.mark.parametrize(("change", "field"), [
    ({"whatsapp_phone_number_id": "12345"}, "whatsappPhoneNumberId"),
    ({"whatsapp_phone_number_id": "+491511234567"}, "whatsappPhoneNumberId"),
    ({"whatsapp_number": "1" * 21}, "whatsappNumber"),
    ({"whatsapp_number": ""}, "whatsappNumber"),
])
async def test_a_number_that_is_not_6_to_20_digits_is_refused_and_nothing_changes(
        store: InMemoryStore, update: UpdateOwner, change: dict[str, str], field: str) -> None:
    await create(store, "alice", whatsapp_phone_number_id=PHONE_ID, whatsapp_number=NUMBER)
    with pytest.raises(ValidationFailed) as refused:
        await update("alice", **change)
    assert [(p.field, p.message) for p in refused.value.problems] == [(field, "must be 6 to 20 digits")]
    assert numbers(store, "alice") == (PHONE_ID, NUMBER)


def test_with_numbers_checks_the_numbers_as_create_does() -> None:
    owner = Owner.create(id=SequentialIds().new_id(), name="alice", now=FixedClock().now())
    assert owner.with_numbers(whatsapp_phone_number_id="123456", whatsapp_number="1" * 20).whatsapp_number == "1" * 20
    with pytest.raises(ValidationFailed):
        owner.with_numbers(whatsapp_phone_number_id="12345", whatsapp_number=None)
