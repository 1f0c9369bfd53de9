"""The memories routes through HTTP on the test profile: shapes, rules at their boundaries, owner scoping."""

from __future__ import annotations

import re
from typing import Any

import pytest

from memo.domain.memory import MAX_METADATA_BYTES
from tests.e2e.conftest import Signer, World

RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def create(signer: Signer, **fields: Any) -> dict[str, Any]:
    response = await signer.post("/api/memories", {"content": "hello", **fields})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def problems(response: Any) -> dict[str, str]:
    body = response.json()
    assert response.status_code == 400, response.text
    assert body["success"] is False
    assert body["code"] == "VALIDATION_ERROR"
    return {item["field"]: item["message"] for item in body["details"]}


async def test_create_answers_201_with_the_stored_memory_in_camel_case(alice: Signer) -> None:
    response = await alice.post("/api/memories", {"content": "  buy milk  ", "type": "reminder",
                                                  "tags": ["Shopping", "shopping", "Home"], "metadata": {"a": 1}})
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    memory = body["data"]
    assert set(memory) == {"id", "content", "type", "tags", "metadata", "source", "createdAt", "updatedAt",
                           "version"}
    assert (memory["content"], memory["type"], memory["tags"]) == ("buy milk", "reminder", ["shopping", "home"])
    assert (memory["metadata"], memory["source"], memory["version"]) == ({"a": 1}, "api", 1)
    assert RFC3339_MS.match(memory["createdAt"])
    assert memory["createdAt"] == memory["updatedAt"]
    assert response.headers["etag"] == '"1"'


async def test_type_defaults_to_note(alice: Signer) -> None:
    assert (await create(alice))["type"] == "note"


async def test_created_memory_can_be_read_back(alice: Signer) -> None:
    made = await create(alice, content="read me")
    response = await alice.get(f"/api/memories/{made['id']}")
    assert response.status_code == 200
    assert response.json()["data"] == made


@pytest.mark.parametrize(("body", "field"), [
    ({"content": ""}, "content"),
    ({"content": "   "}, "content"),
    ({"content": "x" * 10_001}, "content"),
    ({"content": 5}, "content"),
    ({}, "body"),
    ({"content": "ok", "type": "diary"}, "type"),
    ({"content": "ok", "tags": [f"t{i}" for i in range(11)]}, "tags"),
    ({"content": "ok", "tags": ["x" * 51]}, "tags[0]"),
    ({"content": "ok", "tags": [""]}, "tags[0]"),
    ({"content": "ok", "tags": "home"}, "tags"),
    ({"content": "ok", "metadata": ["not", "an", "object"]}, "metadata"),
    ({"content": "ok", "metadata": {"k": "x" * MAX_METADATA_BYTES}}, "metadata"),
    ({"content": "ok", "source": "whatsapp"}, "source"),
    ({"content": "ok", "colour": "red"}, "body"),
])
async def test_invalid_create_bodies_answer_400_naming_the_field(alice: Signer, body: dict[str, Any],
                                                                 field: str) -> None:
    assert field in problems(await alice.post("/api/memories", body))


async def test_content_at_the_limit_is_accepted(alice: Signer) -> None:
    assert len((await create(alice, content="x" * 10_000))["content"]) == 10_000


async def test_non_object_json_body_is_a_validation_error(alice: Signer) -> None:
    assert "body" in problems(await alice.post("/api/memories", ["content"]))


async def test_malformed_json_is_a_validation_error_not_a_500(alice: Signer) -> None:
    response = await alice.request("POST", "/api/memories", content=b'{"content": "x",',
                                   headers={"Content-Type": "application/json"})
    assert "body" in problems(response)


async def test_body_in_another_media_type_answers_415(alice: Signer) -> None:
    response = await alice.request("POST", "/api/memories", content=b'{"content": "x"}',
                                   headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_body_over_the_limit_answers_413_before_any_signature_work(alice: Signer) -> None:
    response = await alice.request("POST", "/api/memories", content=b"x" * (1_048_576 + 1),
                                   headers={"X-Memo-Signature": "v2=" + "0" * 64})
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"


async def test_idempotency_key_replay_answers_200_with_the_same_memory(alice: Signer) -> None:
    body = {"content": "once only"}
    first = await alice.post("/api/memories", body, headers={"Idempotency-Key": "k-1"})
    second = await alice.post("/api/memories", body, headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["data"] == second.json()["data"]
    listing = await alice.get("/api/memories")
    assert listing.json()["pagination"]["total"] == 1


async def test_idempotency_key_with_another_body_answers_409(alice: Signer) -> None:
    await alice.post("/api/memories", {"content": "one"}, headers={"Idempotency-Key": "k-2"})
    response = await alice.post("/api/memories", {"content": "two"}, headers={"Idempotency-Key": "k-2"})
    assert response.status_code == 409
    assert response.json()["code"] == "IDEMPOTENCY_CONFLICT"


async def test_idempotency_key_expires_after_24_hours(world: World, alice: Signer) -> None:
    first = await alice.post("/api/memories", {"content": "daily"}, headers={"Idempotency-Key": "k-3"})
    world.clock.advance(hours=24, seconds=1)
    second = await alice.post("/api/memories", {"content": "daily"}, headers={"Idempotency-Key": "k-3"})
    assert second.status_code == 201
    assert second.json()["data"]["id"] != first.json()["data"]["id"]


async def test_idempotency_keys_are_per_owner(alice: Signer, bob: Signer) -> None:
    await alice.post("/api/memories", {"content": "same"}, headers={"Idempotency-Key": "shared"})
    response = await bob.post("/api/memories", {"content": "same"}, headers={"Idempotency-Key": "shared"})
    assert response.status_code == 201


async def test_another_owners_memory_is_not_found_for_every_verb(alice: Signer, bob: Signer) -> None:
    made = await create(alice)
    path = f"/api/memories/{made['id']}"
    for response in (await bob.get(path), await bob.put(path, {"content": "mine"}), await bob.delete(path)):
        assert response.status_code == 404
        assert response.json()["code"] == "MEMORY_NOT_FOUND"
    assert (await alice.get(path)).json()["data"]["content"] == "hello"


async def test_unknown_memory_is_not_found(alice: Signer) -> None:
    response = await alice.get("/api/memories/0190a000-0000-7000-8000-000000000000")
    assert response.status_code == 404
    assert response.json()["code"] == "MEMORY_NOT_FOUND"


async def test_malformed_memory_id_is_a_validation_error(alice: Signer) -> None:
    assert "id" in problems(await alice.get("/api/memories/not-a-uuid"))


async def test_update_changes_only_given_fields_merges_metadata_and_bumps_version(world: World,
                                                                                  alice: Signer) -> None:
    made = await create(alice, tags=["a"], metadata={"x": 1, "y": 2})
    world.clock.advance(seconds=30)
    response = await alice.put(f"/api/memories/{made['id']}", {"metadata": {"y": 3}, "tags": ["B"]})
    assert response.status_code == 200
    updated = response.json()["data"]
    assert (updated["content"], updated["tags"], updated["metadata"]) == ("hello", ["b"], {"x": 1, "y": 3})
    assert updated["version"] == 2
    assert updated["updatedAt"] > updated["createdAt"] == made["createdAt"]
    assert response.headers["etag"] == '"2"'


async def test_update_with_current_if_match_succeeds_and_stale_answers_412(alice: Signer) -> None:
    made = await create(alice)
    path = f"/api/memories/{made['id']}"
    assert (await alice.put(path, {"content": "v2"}, headers={"If-Match": '"1"'})).status_code == 200
    stale = await alice.put(path, {"content": "v3"}, headers={"If-Match": "1"})
    assert stale.status_code == 412
    assert stale.json()["code"] == "VERSION_CONFLICT"
    assert (await alice.get(path)).json()["data"]["content"] == "v2"


async def test_malformed_if_match_is_a_validation_error(alice: Signer) -> None:
    made = await create(alice)
    response = await alice.put(f"/api/memories/{made['id']}", {"content": "x"}, headers={"If-Match": "abc"})
    assert "If-Match" in problems(response)


async def test_empty_update_is_a_validation_error(alice: Signer) -> None:
    made = await create(alice)
    assert "body" in problems(await alice.put(f"/api/memories/{made['id']}", {}))


async def test_update_applies_the_create_rules(alice: Signer) -> None:
    made = await create(alice)
    assert "content" in problems(await alice.put(f"/api/memories/{made['id']}", {"content": " "}))


async def test_delete_answers_the_contract_message_then_404(alice: Signer) -> None:
    made = await create(alice)
    path = f"/api/memories/{made['id']}"
    response = await alice.delete(path)
    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "Memory deleted successfully"}
    assert (await alice.get(path)).status_code == 404
    assert (await alice.delete(path)).status_code == 404


async def test_a_nul_character_is_a_validation_error_not_a_storage_fault(alice: Signer) -> None:
    response = await alice.request("POST", "/api/memories", content=b'{"content": "a\\u0000b"}',
                                   headers={"Content-Type": "application/json"})
    assert "content" in problems(response)


@pytest.mark.parametrize(("depth", "field"), [(40, "metadata"), (1000, "body"), (100_000, "body")])
async def test_deeply_nested_json_is_a_validation_error_not_a_500(alice: Signer, depth: int, field: str) -> None:
    body = ('{"content": "x", "metadata": {"k": ' + "[" * depth + "]" * depth + "}}").encode()
    response = await alice.request("POST", "/api/memories", content=body, headers={"Content-Type": "application/json"})
    assert field in problems(response)
