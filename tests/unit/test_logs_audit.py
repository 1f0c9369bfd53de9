"""The audit stream of key management: issuing and revoking a key each reach `memo.audit`, never its secret."""

from __future__ import annotations

import logging

import pytest

from memo.adapters.audit import LoggingAuditLog, RecordingAuditLog
from memo.adapters.crypto.aesgcm import AesGcmSecretBox, generate_encryption_key
from memo.adapters.storage.memory import InMemoryStore, InMemoryUnitOfWork
from memo.adapters.system import FixedClock, SequentialIds
from memo.application.dto import SecurityEvent
from memo.application.manage_keys import CreateOwner, EnsureFirstKey, IssueApiKey, RevokeApiKey
from memo.application.ports import AuditLog
from memo.domain.errors import ApiKeyNotFound, OwnerNotFound
from memo.domain.owners import Owner


class Keys:
    """The key use cases over one in-memory store, auditing to `audit`."""

    def __init__(self, audit: AuditLog) -> None:
        self.store, self.clock, self.audit = InMemoryStore(), FixedClock(), audit
        self.box = AesGcmSecretBox(generate_encryption_key())

    def create_owner(self) -> CreateOwner:
        return CreateOwner(uow=InMemoryUnitOfWork(self.store), clock=self.clock, ids=SequentialIds())

    def issue(self) -> IssueApiKey:
        return IssueApiKey(uow=InMemoryUnitOfWork(self.store), clock=self.clock, box=self.box, audit=self.audit)

    def revoke(self) -> RevokeApiKey:
        return RevokeApiKey(uow=InMemoryUnitOfWork(self.store), clock=self.clock, audit=self.audit)


@pytest.fixture
def recorded() -> RecordingAuditLog:
    return RecordingAuditLog()


@pytest.fixture
async def keys(recorded: RecordingAuditLog) -> Keys:
    return Keys(recorded)


async def owner(keys: Keys, name: str = "alice") -> Owner:
    return await keys.create_owner()(name)


async def test_issuing_a_key_is_audited_with_its_id_and_owner_once_it_is_stored(
        keys: Keys, recorded: RecordingAuditLog) -> None:
    alice = await owner(keys)

    issued = await keys.issue()(alice.name, label="laptop")

    assert recorded.events == [SecurityEvent(reason="API_KEY_ISSUED", owner_id=alice.id, key_id=issued.key_id,
                                             client_ip="local", path="local")]
    assert issued.key_id in {key.key_id for key in keys.store.api_keys.values()}


async def test_revoking_a_key_is_audited_with_its_id_and_owner(keys: Keys, recorded: RecordingAuditLog) -> None:
    alice = await owner(keys)
    issued = await keys.issue()(alice.name)

    await keys.revoke()(issued.key_id)

    assert recorded.events[-1] == SecurityEvent(reason="API_KEY_REVOKED", owner_id=alice.id, key_id=issued.key_id,
                                                client_ip="local", path="local")


async def test_nothing_is_audited_when_there_is_no_key_to_issue_or_revoke(
        keys: Keys, recorded: RecordingAuditLog) -> None:
    with pytest.raises(OwnerNotFound):
        await keys.issue()("nobody")
    with pytest.raises(ApiKeyNotFound):
        await keys.revoke()("mk_missing_key")

    assert recorded.events == []


async def test_the_first_key_of_a_first_start_is_audited_too(keys: Keys, recorded: RecordingAuditLog) -> None:
    ensure = EnsureFirstKey(uow=InMemoryUnitOfWork(keys.store), create_owner=keys.create_owner(),
                            issue_key=keys.issue())

    issued = await ensure()

    assert issued is not None
    assert [event.key_id for event in recorded.events] == [issued.key_id]


async def test_the_audit_record_on_memo_audit_holds_the_key_id_and_never_the_secret(
        caplog: pytest.LogCaptureFixture) -> None:
    keys = Keys(LoggingAuditLog())
    alice = await owner(keys)

    with caplog.at_level(logging.INFO, logger="memo.audit"):
        issued = await keys.issue()(alice.name)
        await keys.revoke()(issued.key_id)

    audited = [record for record in caplog.records if record.name == "memo.audit"]
    assert [(record.__dict__["reason"].split()[0], record.__dict__["key_id"]) for record in audited] == [
        ("API_KEY_ISSUED", issued.key_id), ("API_KEY_REVOKED", issued.key_id)]
    assert issued.secret not in caplog.text
    assert all(issued.secret not in str(record.__dict__) for record in audited)
