"""Reciprocal rank fusion, the index fingerprint and filters: the rules every search side shares."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from uuid import UUID

import pytest

from memo.adapters.system import TEST_NOW
from memo.domain.jobs import Job
from memo.domain.memory import Memory, MemoryType, Source
from memo.domain.retrieval import Answer, AnswerSource, Hit, SearchFilters, content_hash, fuse, job_memory_ids

A, B, C, D = (UUID(int=n) for n in range(1, 5))


def memory(**changes: object) -> Memory:
    made = Memory.create(id=A, owner_id=D, content="Dentist at 3pm", type=MemoryType.NOTE, tags=["health"],
                         now=TEST_NOW)
    return replace(made, **changes)  # type: ignore[arg-type]


def test_a_memory_found_by_both_sides_ranks_above_one_found_by_either_alone() -> None:
    fused = fuse({"keyword": [Hit(memory_id=A, score=9.0), Hit(memory_id=B, score=5.0)],
                  "semantic": [Hit(memory_id=C, score=0.9), Hit(memory_id=B, score=0.8)]})

    assert [hit.memory_id for hit in fused] == [B, A, C]
    assert fused[0].matched_by == frozenset({"keyword", "semantic"})
    assert fused[1].matched_by == frozenset({"keyword"})
    assert fused[0].score == 1 / 62 + 1 / 62


def test_fusion_reads_ranks_not_scores() -> None:
    fused = fuse({"keyword": [Hit(memory_id=A, score=1000.0)], "semantic": [Hit(memory_id=B, score=0.01)]})

    assert [hit.score for hit in fused] == [1 / 61, 1 / 61]
    assert [hit.memory_id for hit in fused] == [A, B]  # a tie keeps the order found


def test_fusion_of_nothing_is_nothing() -> None:
    assert fuse({"keyword": [], "semantic": []}) == []


def test_the_fingerprint_changes_with_what_the_index_holds_and_not_with_metadata() -> None:
    base = memory()

    assert content_hash(replace(base, metadata={"mood": "fine"}, version=9)) == content_hash(base)
    for changed in (replace(base, content="Dentist at 4pm"), replace(base, tags=("health", "urgent")),
                    replace(base, type=MemoryType.REMINDER), replace(base, source=Source.IMPORT)):
        assert content_hash(changed) != content_hash(base)


def test_filters_admit_only_what_they_name() -> None:
    kept = memory()

    assert SearchFilters().admits(kept)
    assert SearchFilters(type=MemoryType.NOTE, tags=("health",), source=Source.API).admits(kept)
    assert not SearchFilters(tags=("health", "work")).admits(kept)
    assert not SearchFilters(type=MemoryType.REMINDER).admits(kept)
    assert not SearchFilters(created_after=TEST_NOW).admits(kept)  # strictly after
    assert SearchFilters(created_before=TEST_NOW + timedelta(seconds=1)).admits(kept)


def test_citations_are_the_sources_memories_once_each_in_order() -> None:
    sources = tuple(AnswerSource(memory_id=memory_id, quote="q", created_at=TEST_NOW) for memory_id in (B, A, B))

    assert Answer(text="t", sources=sources).citations == (B, A)
    assert not Answer(text="I don't know").knows


@pytest.mark.parametrize(("payload", "owner"), [({"memoryIds": [str(A)]}, None), ({"memoryIds": "x"}, D), ({}, D)])
def test_a_job_without_owner_or_ids_is_refused(payload: dict[str, object], owner: UUID | None) -> None:
    job = Job.new(id=C, kind="memory.index", owner_id=owner, now=TEST_NOW, payload=payload)

    with pytest.raises(ValueError, match="memory ids"):
        job_memory_ids(job)
