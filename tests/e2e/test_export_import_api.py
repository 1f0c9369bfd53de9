"""GET /api/export and POST /api/import on the test profile: lossless, repeatable, line by line."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

from tests.e2e.conftest import Signer, World
from tests.e2e.test_search_api import run_jobs

JSONL = {"Content-Type": "application/x-ndjson"}


def jsonl(*lines: Any) -> bytes:
    return b"".join((line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines)


async def exported(signer: Signer, **params: str) -> list[dict[str, Any]]:
    answer = await signer.get("/api/export", params=params or None)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in answer.text.splitlines()]


async def import_lines(signer: Signer, body: bytes, **headers: str) -> Any:
    answer = await signer.request("POST", "/api/import", content=body, headers={**JSONL, **headers})
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def line(**fields: Any) -> dict[str, Any]:
    return {"id": str(uuid4()), "content": "restored note", "type": "note", "tags": ["old"],
            "metadata": {"from": "backup"}, "source": "api", "createdAt": "2025-03-01T10:00:00.123456Z",
            "updatedAt": "2025-03-02T11:00:00.654321Z", "version": 3, **fields}


async def test_export_streams_only_the_callers_memories_oldest_first_with_exact_times(
        world: World, alice: Signer, bob: Signer) -> None:
    first = (await alice.post("/api/memories", {"content": "first", "tags": ["A"], "metadata": {"k": 1}})).json()
    world.clock.advance(microseconds=1_234)
    second = (await alice.post("/api/memories", {"content": "second"})).json()
    await bob.post("/api/memories", {"content": "bob's"})
    lines = await exported(alice)
    assert [item["id"] for item in lines] == [first["data"]["id"], second["data"]["id"]]
    assert set(lines[0]) == {"id", "content", "type", "tags", "metadata", "source", "createdAt", "updatedAt",
                             "version"}
    assert (lines[0]["tags"], lines[0]["metadata"], lines[0]["version"]) == (["a"], {"k": 1}, 1)
    assert lines[1]["createdAt"] != lines[0]["createdAt"]  # a millisecond-rounded time would lose the 234 us
    assert lines[1]["createdAt"].endswith("234Z")


async def test_a_round_trip_into_a_fresh_server_restores_identical_memories_and_a_second_run_changes_nothing(
        world: World, alice: Signer) -> None:
    body = jsonl(line(), line(content="second", type="reminder", tags=["x", "y"]), line(source="whatsapp"))
    report = await import_lines(alice, body)
    assert report == {"created": 3, "unchanged": 0, "skipped": []}
    sent = [json.loads(raw) for raw in body.splitlines()]
    assert await exported(alice) == sorted(sent, key=lambda item: (item["createdAt"], item["id"]))
    assert await import_lines(alice, body) == {"created": 0, "unchanged": 3, "skipped": []}
    got = (await alice.get(f"/api/memories/{sent[0]['id']}")).json()["data"]
    assert (got["version"], got["createdAt"], got["updatedAt"]) == (3, "2025-03-01T10:00:00.123Z",
                                                                   "2025-03-02T11:00:00.654Z")


async def test_every_bad_line_is_skipped_with_its_number_and_reason(world: World, alice: Signer) -> None:
    duplicate = line()
    body = jsonl(line(), b"{not json", b"[1, 2]", {"content": "no id", "type": "note"},
                 line(content="x" * 10_001), line(id="not-a-uuid"), line(type="poem"),
                 line(createdAt="2025-03-01T10:00:00"), line(version=0), b"", duplicate, duplicate,
                 line(tags="health"))
    report = await import_lines(alice, body)
    skipped = {item["line"]: item["code"] for item in report["skipped"]}
    assert (report["created"], report["unchanged"]) == (2, 0)
    assert skipped == {2: "INVALID_JSON", 3: "INVALID_JSON", 4: "MISSING_FIELD", 5: "INVALID_FIELD",
                       6: "INVALID_FIELD", 7: "INVALID_FIELD", 8: "INVALID_FIELD", 9: "INVALID_FIELD",
                       12: "DUPLICATE_ID", 13: "INVALID_FIELD"}
    assert "content" in next(item["message"] for item in report["skipped"] if item["line"] == 5)


async def test_a_body_that_is_not_json_lines_is_a_400_and_another_media_type_a_415(alice: Signer) -> None:
    refused = await alice.request("POST", "/api/import", content=b"a,b,c\n1,2,3\n", headers=JSONL)
    assert (refused.status_code, refused.json()["code"], refused.json()["success"]) == (400, "INVALID_JSON_LINES",
                                                                                         False)
    binary = await alice.request("POST", "/api/import", content=b"\xff\xfe\x00", headers=JSONL)
    assert binary.status_code == 400
    wrong = await alice.request("POST", "/api/import", content=jsonl(line()), headers={"Content-Type": "text/csv"})
    assert (wrong.status_code, wrong.json()["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")


async def test_an_id_another_owner_holds_is_refused_and_a_changed_memory_is_never_overwritten(
        alice: Signer, bob: Signer) -> None:
    kept = line(content="the original")
    await import_lines(alice, jsonl(kept))
    taken = await import_lines(bob, jsonl(kept))
    assert (taken["created"], [item["code"] for item in taken["skipped"]]) == (0, ["ID_TAKEN"])
    assert (await bob.get(f"/api/memories/{kept['id']}")).status_code == 404
    changed = await import_lines(alice, jsonl({**kept, "content": "rewritten"}))
    assert [item["code"] for item in changed["skipped"]] == ["CONFLICT"]
    stored = (await alice.get(f"/api/memories/{kept['id']}")).json()["data"]
    assert (stored["content"], stored["version"]) == ("the original", 3)


async def test_an_imported_memory_is_found_by_meaning_once_its_index_job_ran(world: World, alice: Signer) -> None:
    restored = line(content="The wifi password is on the fridge door")
    await import_lines(alice, jsonl(restored, line(content="Buy oat milk and bread")))
    await run_jobs(world)
    found = (await alice.post("/api/memories/search", {"query": "wifi password", "mode": "semantic"})).json()
    assert found["data"][0]["memory"]["id"] == restored["id"]


async def test_the_same_idempotency_key_with_another_body_is_a_conflict(alice: Signer) -> None:
    body = jsonl(line())
    assert (await import_lines(alice, body, **{"Idempotency-Key": "batch-1"}))["created"] == 1
    assert (await import_lines(alice, body, **{"Idempotency-Key": "batch-1"}))["unchanged"] == 1
    other = await alice.request("POST", "/api/import", content=jsonl(line()),
                                headers={**JSONL, "Idempotency-Key": "batch-1"})
    assert (other.status_code, other.json()["code"]) == (409, "IDEMPOTENCY_CONFLICT")


async def test_the_markdown_export_groups_memories_by_day_oldest_first(alice: Signer) -> None:
    await import_lines(alice, jsonl(line(content="later day", createdAt="2025-03-02T08:00:00Z",
                                         updatedAt="2025-03-02T08:00:00Z"),
                                    line(content="earlier day", tags=["trip"])))
    answer = await alice.get("/api/export", params={"format": "markdown"})
    assert answer.headers["content-type"].startswith("text/markdown")
    text = answer.text
    assert text.index("## 2025-03-01") < text.index("earlier day") < text.index("## 2025-03-02") < text.index(
        "later day")
    assert "### 10:00:00 UTC · note · #trip" in text
    bad = await alice.get("/api/export", params={"format": "csv"})
    assert (bad.status_code, bad.json()["code"]) == (400, "VALIDATION_ERROR")


def hostile_lines() -> list[dict[str, Any]]:
    """Lines the in-memory store would take but a SQL store cannot keep: each must be a skipped line, never a 500."""
    whatsapp = {"direction": "received", "messageId": "wamid.x", "peer": "491701234567", "type": "text",
                "sentAt": "2025-03-01T10:00:00Z", "recordedAt": "2025-03-01T10:00:00Z"}
    return [line(version=2**31), line(version=2**63),
            line(createdAt="9999-12-31T23:30:00-01:00", updatedAt="9999-12-31T23:30:00-01:00"),
            line(createdAt="0001-01-01T00:30:00+01:00"),
            line(type="whatsapp_received", whatsapp={**whatsapp, "peer": "49170\u00001234567"}),
            line(type="whatsapp_received", whatsapp={**whatsapp, "status": {
                "status": "read", "at": "2025-03-01T10:00:00Z", "details": {"k": "a\u0000b"}}}),
            line(type="whatsapp_received", whatsapp={**whatsapp, "sentAt": "0001-01-01T00:00:00+05:00"})]


async def test_a_version_a_time_or_a_whatsapp_text_no_store_can_keep_is_a_skipped_line(alice: Signer) -> None:
    report = await import_lines(alice, jsonl(*hostile_lines(), line()))
    assert (report["created"], report["unchanged"]) == (1, 0)
    assert [(item["line"], item["code"]) for item in report["skipped"]] == [
        (number, "INVALID_FIELD") for number in range(1, 8)]
    messages = [item["message"] for item in report["skipped"]]
    assert "version" in messages[0]
    assert messages[2].startswith("createdAt")
    assert "NUL" in messages[4]
    assert messages[6].startswith("whatsapp.sentAt")


async def test_the_documented_import_body_is_json_lines_and_its_example_imports(world: World, alice: Signer) -> None:
    document = (await world.client.get("/schema/openapi.json")).json()
    body = document["paths"]["/api/import"]["post"]["requestBody"]
    assert body["required"] is True
    assert set(body["content"]) == {"application/x-ndjson", "application/jsonl"}
    described = body["content"]["application/x-ndjson"]
    assert described["schema"]["type"] == "string"
    report = await import_lines(alice, described["example"].encode())
    assert report == {"created": 2, "unchanged": 0, "skipped": []}


async def test_the_documented_export_answer_names_both_formats(world: World) -> None:
    document = (await world.client.get("/schema/openapi.json")).json()
    content = document["paths"]["/api/export"]["get"]["responses"]["200"]["content"]
    assert {"application/x-ndjson", "text/markdown; charset=utf-8"} <= set(content)
