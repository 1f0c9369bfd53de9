"""RotateApiKey on the in-memory store: a new secret for the same key id, the previous one kept for its grace."""

from __future__ import annotations

from datetime import timedelta

import pytest

from memo.adapters.crypto.aesgcm import AesGcmSecretBox
from memo.adapters.storage.memory import InMemoryKeyStore, InMemoryStore, InMemoryUnitOfWork
from memo.adapters.system import TEST_NOW, FixedClock, SequentialIds
from memo.application.dto import IssuedKey, SecurityEvent
from memo.application.manage_keys import CreateOwner, IssueApiKey, RevokeApiKey, RotateApiKey
from memo.domain.errors import ApiKeyNotFound, ValidationFailed
from memo.domain.owners import DEFAULT_ROTATION_GRACE_S

BOX = AesGcmSecretBox("k3y-for-tests-0123456789abcdefghijklmnopqrstu")


class RecordingAuditLog:
    def __init__(self) -> None:
        self.events: list[SecurityEvent] = []

    def security_event(self, event: SecurityEvent) -> None:
        self.events.append(event)


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def audit() -> RecordingAuditLog:
    return RecordingAuditLog()


@pytest.fixture
def rotate(store: InMemoryStore, clock: FixedClock, audit: RecordingAuditLog) -> RotateApiKey:
    return RotateApiKey(uow=InMemoryUnitOfWork(store), clock=clock, box=BOX, audit=audit)


async def issue(store: InMemoryStore, clock: FixedClock) -> IssuedKey:
    await CreateOwner(uow=InMemoryUnitOfWork(store), clock=clock, ids=SequentialIds())("alice")
    return await IssueApiKey(uow=InMemoryUnitOfWork(store), clock=clock, box=BOX, audit=RecordingAuditLog())(
        "alice", label="phone")


async def test_rotation_gives_a_new_secret_for_the_same_key_and_keeps_the_previous_for_the_grace(
        store: InMemoryStore, clock: FixedClock, rotate: RotateApiKey) -> None:
    issued = await issue(store, clock)
    clock.advance(hours=1)
    rotated = await rotate(issued.key_id, grace_s=600)
    assert rotated.key_id == issued.key_id
    assert rotated.secret != issued.secret
    assert (rotated.owner_name, rotated.label, rotated.created_at) == ("alice", "phone", TEST_NOW)
    assert rotated.previous_valid_until == TEST_NOW + timedelta(hours=1, seconds=600)
    active = await InMemoryKeyStore(store, BOX).find_active(issued.key_id)
    assert active is not None
    assert (active.secret, active.previous_secret) == (rotated.secret.encode(), issued.secret.encode())
    assert active.previous_valid_until == rotated.previous_valid_until


async def test_the_default_grace_is_a_day(store: InMemoryStore, clock: FixedClock, rotate: RotateApiKey) -> None:
    issued = await issue(store, clock)
    assert (await rotate(issued.key_id)).previous_valid_until == TEST_NOW + timedelta(days=1)
    assert DEFAULT_ROTATION_GRACE_S == 86_400


async def test_a_rotation_without_grace_keeps_no_previous_secret(
        store: InMemoryStore, clock: FixedClock, rotate: RotateApiKey) -> None:
    issued = await issue(store, clock)
    rotated = await rotate(issued.key_id, grace_s=0)
    assert rotated.previous_valid_until == TEST_NOW
    assert store.api_keys[issued.key_id].previous_sealed_secret is None


async def test_a_second_rotation_ends_the_first_previous_secret(
        store: InMemoryStore, clock: FixedClock, rotate: RotateApiKey) -> None:
    issued = await issue(store, clock)
    first = await rotate(issued.key_id, grace_s=600)
    second = await rotate(issued.key_id, grace_s=600)
    active = await InMemoryKeyStore(store, BOX).find_active(issued.key_id)
    assert active is not None
    assert (active.secret, active.previous_secret) == (second.secret.encode(), first.secret.encode())


async def test_rotation_is_audited_with_the_key_and_its_owner_never_the_secret(
        store: InMemoryStore, clock: FixedClock, rotate: RotateApiKey, audit: RecordingAuditLog) -> None:
    issued = await issue(store, clock)
    rotated = await rotate(issued.key_id)
    [event] = audit.events
    assert (event.reason, event.key_id, event.owner_id) == (
        "API_KEY_ROTATED", issued.key_id, store.api_keys[issued.key_id].owner_id)
    assert rotated.secret not in repr(event)
    assert issued.secret not in repr(event)


async def test_an_unknown_key_is_refused_and_nothing_is_audited(
        rotate: RotateApiKey, audit: RecordingAuditLog) -> None:
    with pytest.raises(ApiKeyNotFound):
        await rotate("mk_no-such-key")
    assert audit.events == []


async def test_a_revoked_key_is_refused_and_stays_as_it_was(
        store: InMemoryStore, clock: FixedClock, rotate: RotateApiKey, audit: RecordingAuditLog) -> None:
    issued = await issue(store, clock)
    await RevokeApiKey(uow=InMemoryUnitOfWork(store), clock=clock, audit=RecordingAuditLog())(issued.key_id)
    before = store.api_keys[issued.key_id]
    with pytest.raises(ApiKeyNotFound):
        await rotate(issued.key_id)
    assert store.api_keys[issued.key_id] == before
    assert audit.events == []


@pytest.mark.parametrize("grace_s", [-1, 30 * 86_400 + 1])
async def test_a_grace_out_of_range_is_a_validation_error(
        store: InMemoryStore, clock: FixedClock, rotate: RotateApiKey, grace_s: int) -> None:
    issued = await issue(store, clock)
    with pytest.raises(ValidationFailed):
        await rotate(issued.key_id, grace_s=grace_s)
