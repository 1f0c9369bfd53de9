"""GET /api/memories: filters, sorting and pagination through the query string."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Signer, World


async def seed(world: World, signer: Signer) -> list[dict[str, Any]]:
    made = []
    for content, kind, tags in [("buy milk and bread", "reminder", ["shopping", "home"]),
                                ("dentist on friday", "reminder", ["health"]),
                                ("Milk prices are up", "note", ["shopping"]),
                                ("voice note about the garden", "voice_memo", ["home", "garden"])]:
        response = await signer.post("/api/memories", {"content": content, "type": kind, "tags": tags})
        made.append(response.json()["data"])
        world.clock.advance(seconds=10)
    return made


def contents(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["content"] for item in response.json()["data"]]


async def test_list_is_newest_first_with_pagination(world: World, alice: Signer) -> None:
    await seed(world, alice)
    response = await alice.get("/api/memories")
    assert contents(response)[0] == "voice note about the garden"
    assert response.json()["pagination"] == {"total": 4, "limit": 20, "offset": 0, "hasMore": False}


async def test_limit_and_offset_page_through_with_has_more(world: World, alice: Signer) -> None:
    await seed(world, alice)
    first = await alice.get("/api/memories", params={"limit": "3", "sortOrder": "asc"})
    second = await alice.get("/api/memories", params={"limit": "3", "offset": "3", "sortOrder": "asc"})
    assert first.json()["pagination"]["hasMore"] is True
    assert second.json()["pagination"]["hasMore"] is False
    assert contents(first) + contents(second) == ["buy milk and bread", "dentist on friday", "Milk prices are up",
                                                  "voice note about the garden"]


async def test_search_matches_keywords_case_insensitively(world: World, alice: Signer) -> None:
    await seed(world, alice)
    assert sorted(contents(await alice.get("/api/memories", params={"search": "MILK"}))) == [
        "Milk prices are up", "buy milk and bread"]


async def test_type_filter(world: World, alice: Signer) -> None:
    await seed(world, alice)
    assert contents(await alice.get("/api/memories", params={"type": "voice_memo"})) == [
        "voice note about the garden"]


async def test_tags_filter_requires_every_tag(world: World, alice: Signer) -> None:
    await seed(world, alice)
    assert contents(await alice.get("/api/memories", params={"tags": "Home,shopping"})) == ["buy milk and bread"]
    assert len(contents(await alice.get("/api/memories", params={"tags": "home"}))) == 2


async def test_created_after_and_before_are_exclusive_bounds(world: World, alice: Signer) -> None:
    made = await seed(world, alice)
    params = {"createdAfter": made[0]["createdAt"], "createdBefore": made[3]["createdAt"], "sortOrder": "asc"}
    assert contents(await alice.get("/api/memories", params=params)) == ["dentist on friday", "Milk prices are up"]


async def test_sort_by_updated_at(world: World, alice: Signer) -> None:
    made = await seed(world, alice)
    await alice.put(f"/api/memories/{made[0]['id']}", {"content": "buy oat milk"})
    response = await alice.get("/api/memories", params={"sortBy": "updatedAt", "sortOrder": "desc", "limit": "1"})
    assert contents(response) == ["buy oat milk"]


async def test_filters_combine(world: World, alice: Signer) -> None:
    await seed(world, alice)
    params = {"search": "milk", "type": "reminder", "tags": "home"}
    assert contents(await alice.get("/api/memories", params=params)) == ["buy milk and bread"]


async def test_list_shows_only_the_callers_memories(world: World, alice: Signer, bob: Signer) -> None:
    await seed(world, alice)
    response = await bob.get("/api/memories")
    assert contents(response) == []
    assert response.json()["pagination"]["total"] == 0


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"offset": "-1"}, "offset"), ({"sortBy": "content"}, "sortBy"), ({"sortOrder": "up"}, "sortOrder"),
    ({"type": "diary"}, "type"), ({"createdAfter": "yesterday"}, "createdAfter"),
    ({"createdBefore": "2026-11-28T10:00:00"}, "createdBefore"),
    ({"createdAfter": "0001-01-01T00:00:00+01:00"}, "createdAfter"),
    ({"createdBefore": "9999-12-31T23:59:59-05:00"}, "createdBefore"),
    ({"offset": "1" + "0" * 30}, "offset"),
])
async def test_invalid_query_parameters_answer_400_naming_them(alice: Signer, params: dict[str, str],
                                                               field: str) -> None:
    response = await alice.get("/api/memories", params=params)
    assert response.status_code == 400
    assert field in {item["field"] for item in response.json()["details"]}


async def test_limit_boundaries_one_and_a_hundred_are_accepted(alice: Signer) -> None:
    for limit in ("1", "100"):
        assert (await alice.get("/api/memories", params={"limit": limit})).status_code == 200
