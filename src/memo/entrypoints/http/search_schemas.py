"""Wire shapes of search and ask: camelCase bodies in, `{memory, score}` lists and answers with sources out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from memo.domain.errors import FieldProblem, ValidationFailed
from memo.domain.memory import MemoryType, Source, distinct_tags
from memo.domain.retrieval import Answer, ScoredMemory, SearchFilters, SearchMode, SearchResult
from memo.entrypoints.http.queries import parse_instant
from memo.entrypoints.http.schemas import MemoryOut, rfc3339

MAX_QUERY_CHARS = 2000
RFC3339 = "must be an RFC 3339 time with a zone, like 2026-11-28T09:53:13Z"

Query = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_QUERY_CHARS, description="1 to 2000 characters")]
# documented on the optional field itself, where the generated schema is a oneOf of string and null
Instant = msgspec.Meta(extra_json_schema={"description": "RFC 3339 with a zone; exclusive", "extra": {
    "one_of": [{"type": "string", "format": "date-time"}, {"type": "null"}]}})


class SearchBody(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    query: Query
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    type: MemoryType | None = None
    tags: Annotated[list[Annotated[str, msgspec.Meta(max_length=50)]], msgspec.Meta(max_length=10)] | None = None
    source: Source | None = None
    created_after: Annotated[str | None, Instant] = None
    created_before: Annotated[str | None, Instant] = None
    mode: SearchMode = SearchMode.HYBRID

    def filters(self) -> SearchFilters:
        problems: list[FieldProblem] = []
        if not self.query.strip():
            problems.append(FieldProblem("query", "must not be empty or only white space"))
        after = _instant("createdAfter", self.created_after, problems)
        before = _instant("createdBefore", self.created_before, problems)
        if problems:
            raise ValidationFailed(problems)
        return SearchFilters(type=self.type, tags=distinct_tags(self.tags or ()), source=self.source,
                             created_after=after, created_before=before)


def _instant(field: str, raw: str | None, problems: list[FieldProblem]) -> datetime | None:
    if raw is None:
        return None
    try:
        return parse_instant(raw)
    except ValueError:
        problems.append(FieldProblem(field, RFC3339))
        return None


class AskBody(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    question: Query
    limit: Annotated[int, msgspec.Meta(ge=1, le=20)] = 5

    def checked_question(self) -> str:
        if not self.question.strip():
            raise ValidationFailed.single("question", "must not be empty or only white space")
        return self.question.strip()


class SearchHitOut(msgspec.Struct, rename="camel", kw_only=True):
    memory: MemoryOut
    score: float
    matched_by: list[str]

    @classmethod
    def of(cls, hit: ScoredMemory) -> SearchHitOut:
        return cls(memory=MemoryOut.of(hit.memory), score=round(hit.score, 6), matched_by=sorted(hit.matched_by))


class SearchEnvelope(msgspec.Struct, rename="camel", kw_only=True):
    """The contract's list of `{memory, score}`; `degraded` and its reason appear only when hybrid fell back."""

    success: bool = True
    data: list[SearchHitOut]
    degraded: bool | msgspec.UnsetType = msgspec.UNSET
    degraded_reason: str | msgspec.UnsetType = msgspec.UNSET

    @classmethod
    def of(cls, result: SearchResult) -> SearchEnvelope:
        envelope = cls(data=[SearchHitOut.of(hit) for hit in result.hits])
        if result.degraded_reason is not None:
            envelope.degraded, envelope.degraded_reason = True, result.degraded_reason
        return envelope


class SourceOut(msgspec.Struct, rename="camel", kw_only=True):
    memory_id: str
    quote: str
    created_at: str


class AnswerOut(msgspec.Struct, rename="camel", kw_only=True):
    answer: str
    citations: list[str]
    sources: list[SourceOut]

    @classmethod
    def of(cls, answer: Answer) -> AnswerOut:
        return cls(answer=answer.text, citations=[str(memory_id) for memory_id in answer.citations],
                   sources=[SourceOut(memory_id=str(source.memory_id), quote=source.quote,
                                      created_at=rfc3339(source.created_at)) for source in answer.sources])
