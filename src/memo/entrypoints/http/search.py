"""Search by meaning and words, and questions answered from the caller's memories."""

from __future__ import annotations

from typing import Annotated

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, post
from litestar.enums import RequestEncodingType
from litestar.openapi.spec import Example
from litestar.params import Body

from memo.application.ask_question import AskQuestion
from memo.application.search_memories import SearchCommand, SearchMemories
from memo.domain.owners import Principal
from memo.entrypoints.http.guards import signed_json_request
from memo.entrypoints.http.openapi import JSON_BODY_ROUTE, SIGNED, failures
from memo.entrypoints.http.schemas import Envelope
from memo.entrypoints.http.search_schemas import AnswerOut, AskBody, SearchBody, SearchEnvelope

SearchRequest = Annotated[SearchBody, Body(media_type=RequestEncodingType.JSON, examples=[
    Example(id="hybrid", summary="Both rankings fused (the default)", value={"query": "when is the dentist"}),
    Example(id="keyword", summary="Words only, filtered by tag and time", value={
        "query": "dentist", "mode": "keyword", "tags": ["health"], "createdAfter": "2026-11-01T00:00:00Z",
        "limit": 5}),
    Example(id="semantic", summary="Meaning only, voice memos", value={
        "query": "appointments next week", "mode": "semantic", "type": "voice_memo"}),
])]
AskRequest = Annotated[AskBody, Body(media_type=RequestEncodingType.JSON, examples=[
    Example(id="question", summary="A question, answered from at most 5 memories",
            value={"question": "When is my dentist appointment?", "limit": 5}),
])]


class SearchController(Controller):
    path = "/api"
    before_request = signed_json_request  # type: ignore[assignment] # the guard (guards.py); an async hook
    tags = ["Search"]  # noqa: RUF012
    security = SIGNED

    @post("/memories/search", operation_id="SearchMemories", status_code=200,
          summary="Find memories by meaning (semantic), by words (keyword, BM25 over any word) or both (hybrid)",
          description="Hybrid fuses both rankings by reciprocal rank. While the vector side is down, hybrid answers "
                      "keyword hits with `degraded: true` and `degradedReason`; semantic answers 503.",
          responses=failures(*JSON_BODY_ROUTE, "VECTOR_INDEX_UNAVAILABLE"))
    @inject
    async def search(self, data: SearchRequest, principal: FromDishka[Principal],
                     search: FromDishka[SearchMemories]) -> SearchEnvelope:
        result = await search(SearchCommand(owner_id=principal.owner_id, query=data.query.strip(),
                                            limit=data.limit, mode=data.mode, filters=data.filters()))
        return SearchEnvelope.of(result)

    @post("/ask", operation_id="Ask", status_code=200,
          summary="A question answered from the caller's memories only, citing each memory used",
          description="When the memories hold no answer, the answer says so and `citations` is empty. Retrieval is "
                      "hybrid search, so it still works on keywords while the vector side is down.",
          responses=failures(*JSON_BODY_ROUTE, "ANSWERER_UNAVAILABLE"))
    @inject
    async def ask(self, data: AskRequest, principal: FromDishka[Principal],
                  ask: FromDishka[AskQuestion]) -> Envelope[AnswerOut]:
        answer = await ask(principal.owner_id, data.checked_question(), limit=data.limit)
        return Envelope(data=AnswerOut.of(answer))
