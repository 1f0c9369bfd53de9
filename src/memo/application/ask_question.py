"""`POST /api/ask`: retrieve from the caller's memories (hybrid), answer from those alone, cite what was used.

Retrieval is the search use case, so an owner's question can only ever see that owner's memories, and it works
on keywords alone while the vector side is down. The answerer gets the memories and nothing else; a citation of
a memory it was not given is dropped here too, whatever the answerer did.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from uuid import UUID

from memo.application.ports import Answerer
from memo.application.search_memories import SearchCommand, SearchMemories
from memo.domain.retrieval import Answer, SearchMode

DEFAULT_SOURCES = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class AskQuestion:
    search: SearchMemories
    answerer: Answerer

    async def __call__(self, owner_id: UUID, question: str, *, limit: int = DEFAULT_SOURCES,
                       exclude: frozenset[UUID] = frozenset()) -> Answer:
        """`exclude`: memories never to answer from, such as the WhatsApp message that asks the question."""
        found = await self.search(SearchCommand(owner_id=owner_id, query=question, limit=limit + len(exclude),
                                                mode=SearchMode.HYBRID))
        memories = [hit.memory for hit in found.hits if hit.memory.id not in exclude][:limit]
        answer = await self.answerer.answer(question, memories)
        given = {memory.id for memory in memories}
        kept = tuple(source for source in answer.sources if source.memory_id in given)
        return answer if kept == answer.sources else replace(answer, sources=kept)
