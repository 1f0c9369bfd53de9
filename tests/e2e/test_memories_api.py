"""The memories routes through HTTP on the test profile: shapes, rules at their boundaries, owner scoping."""

from __future__ import annotations

import logging
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


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"content": ""}, "content", "must not be empty or only white space"),
    ({"content": "   "}, "content", "must not be empty or only white space"),
    ({"content": "x" * 10_001}, "content", "must be at most 10000 characters after trimming"),
    ({"content": 5}, "content", "Expected `str`, got `int`"),
    ({}, "content", "is required"),
    ({"type": "note"}, "content", "is required"),
    ({"content": "ok", "type": "diary"}, "type", "Invalid enum value 'diary'"),
    ({"content": "ok", "tags": [f"t{i}" for i in range(11)]}, "tags", "at most 10 distinct tags"),
    ({"content": "ok", "tags": ["x" * 51]}, "tags[0]", "each tag must be 1 to 50 characters"),
    ({"content": "ok", "tags": ["ok", ""]}, "tags[1]", "each tag must be 1 to 50 characters"),
    ({"content": "ok", "tags": ["ok", 3]}, "tags[1]", "Expected `str`, got `int`"),
    ({"content": "ok", "tags": "home"}, "tags", "Expected `array`, got `str`"),
    ({"content": "ok", "metadata": ["not", "an", "object"]}, "metadata", "Expected `object`, got `array`"),
    ({"content": "ok", "metadata": {"k": "x" * MAX_METADATA_BYTES}}, "metadata",
     f"must be at most {MAX_METADATA_BYTES} bytes serialised as JSON"),
    ({"content": "ok", "source": "whatsapp"}, "source", "Invalid enum value 'whatsapp'"),
    ({"content": "ok", "colour": "red"}, "colour", "is not a known field"),
    ({"content": "ok", "createdAt": "2026-01-01T00:00:00Z"}, "createdAt", "is not a known field"),
])
async def test_invalid_create_bodies_answer_400_naming_the_wire_field_and_what_is_wrong(
        alice: Signer, body: dict[str, Any], field: str, message: str) -> None:
    assert problems(await alice.post("/api/memories", body)) == {field: message}


async def test_content_at_the_limit_is_accepted(alice: Signer) -> None:
    assert len((await create(alice, content="x" * 10_000))["content"]) == 10_000


async def test_non_object_json_body_is_a_validation_error(alice: Signer) -> None:
    assert problems(await alice.post("/api/memories", ["content"])) == {"body": "Expected `object`, got `array`"}


async def test_an_empty_body_is_a_validation_error_asking_for_an_object(alice: Signer) -> None:
    response = await alice.request("POST", "/api/memories", content=b"", headers={"Content-Type": "application/json"})
    assert problems(response) == {"body": "a JSON object body is required"}


async def test_malformed_json_is_a_validation_error_not_a_500(alice: Signer) -> None:
    response = await alice.request("POST", "/api/memories", content=b'{"content": "x",',
                                   headers={"Content-Type": "application/json"})
    assert problems(response) == {"body": "Input data was truncated"}


async def test_a_body_that_is_not_utf8_is_a_validation_error_not_a_logged_fault(
        alice: Signer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        response = await alice.request("POST", "/api/memories", content=b'{"content": "\xff"}',
                                       headers={"Content-Type": "application/json"})
    assert problems(response) == {"body": "is not valid UTF-8"}
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []


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
    assert problems(await alice.get("/api/memories/not-a-uuid")) == {"id": "must be a UUID"}


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
    assert problems(response) == {"If-Match": 'must be the memory\'s version number, like 3 or "3"'}


async def test_empty_update_is_a_validation_error(alice: Signer) -> None:
    made = await create(alice)
    assert problems(await alice.put(f"/api/memories/{made['id']}", {})) == {
        "body": "give at least one of content, type, tags or metadata"}


async def test_an_update_naming_a_field_that_cannot_change_names_it(alice: Signer) -> None:
    made = await create(alice)
    response = await alice.put(f"/api/memories/{made['id']}", {"content": "x", "createdAt": "2026-01-01T00:00:00Z"})
    assert problems(response) == {"createdAt": "is not a known field"}


async def test_list_query_errors_name_each_parameter_by_its_camel_case_wire_name(alice: Signer) -> None:
    response = await alice.get("/api/memories", params={"createdAfter": "yesterday", "createdBefore": "2026-01-01",
                                                        "sortBy": "created_at", "sortOrder": "up", "limit": "0"})
    assert problems(response) == {
        "createdAfter": "must be an RFC 3339 time with a zone, like 2026-11-28T09:53:13Z",
        "createdBefore": "must be an RFC 3339 time with a zone, like 2026-11-28T09:53:13Z",
        "limit": "must be a whole number from 1 to 100", "sortBy": "must be createdAt or updatedAt",
        "sortOrder": "must be asc or desc"}


async def test_update_applies_the_create_rules(alice: Signer) -> None:
    made = await create(alice)
    assert problems(await alice.put(f"/api/memories/{made['id']}", {"content": " "})) == {
        "content": "must not be empty or only white space"}


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
    assert problems(response) == {"content": "must not contain NUL characters or unpaired surrogates"}


@pytest.mark.parametrize(("depth", "field"), [(40, "metadata"), (1000, "body"), (100_000, "body")])
async def test_deeply_nested_json_is_a_validation_error_not_a_500(alice: Signer, depth: int, field: str) -> None:
    body = ('{"content": "x", "metadata": {"k": ' + "[" * depth + "]" * depth + "}}").encode()
    response = await alice.request("POST", "/api/memories", content=body, headers={"Content-Type": "application/json"})
    assert field in problems(response)
