"""A key rotated while the app runs: the new secret at once, the previous one until its grace ends, then 401."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from memo.application.manage_keys import RotateApiKey, RotatedKey
from tests.e2e.conftest import Signer, World

GRACE_S = 120


async def rotate(world: World, key_id: str, *, grace_s: int = GRACE_S) -> RotatedKey:
    async with world.app.state.dishka_container() as scope:
        use_case: RotateApiKey = await scope.get(RotateApiKey)
        return await use_case(key_id, grace_s=grace_s)


async def test_the_previous_secret_signs_until_the_grace_ends_and_is_then_refused_as_a_wrong_secret(
        world: World, alice: Signer) -> None:
    rotated = await rotate(world, alice.key_id)
    renewed = replace(alice, secret=rotated.secret)
    assert (await renewed.get("/api/memories")).status_code == 200
    assert (await alice.get("/api/memories")).status_code == 200

    world.clock.advance(seconds=GRACE_S - 1)
    assert (await alice.get("/api/memories")).status_code == 200
    world.clock.advance(seconds=1)
    refused = await alice.get("/api/memories")
    assert (refused.status_code, refused.json()["code"]) == (401, "INVALID_SIGNATURE")
    assert alice.secret not in refused.text
    assert (await renewed.get("/api/memories")).status_code == 200


async def test_both_secrets_act_for_the_same_owner(world: World, alice: Signer) -> None:
    created = await alice.post("/api/memories", {"content": "written before the rotation"})
    assert created.status_code == 201
    renewed = replace(alice, secret=(await rotate(world, alice.key_id)).secret)
    listed = await renewed.get("/api/memories")
    assert [item["content"] for item in listed.json()["data"]] == ["written before the rotation"]


async def test_revoking_a_rotated_key_refuses_both_secrets_at_once(world: World, alice: Signer) -> None:
    renewed = replace(alice, secret=(await rotate(world, alice.key_id)).secret)
    await world.revoke(alice.key_id)
    for signer in (alice, renewed):
        refused = await signer.get("/api/memories")
        assert (refused.status_code, refused.json()["code"]) == (401, "UNKNOWN_KEY")


async def test_a_rotation_is_an_audit_event_without_either_secret(
        world: World, alice: Signer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="memo.audit"):
        rotated = await rotate(world, alice.key_id)
    events = [record for record in caplog.records if record.name == "memo.audit"]
    assert [(getattr(record, "reason", None), getattr(record, "key_id", None)) for record in events] == [
        ("API_KEY_ROTATED", alice.key_id)]
    for record in events:
        assert rotated.secret not in str(vars(record))
        assert alice.secret not in str(vars(record))
