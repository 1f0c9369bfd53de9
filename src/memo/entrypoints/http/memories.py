"""The memories resource: thin handlers that turn wire shapes into commands and views into envelopes."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, Response, delete, get, post, put
from litestar.datastructures import ResponseHeader
from litestar.enums import RequestEncodingType
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Body, HeaderParameter, PathParameter, QueryParameter

from memo.application.create_memory import CreateMemory
from memo.application.delete_memory import DeleteMemory
from memo.application.read_memories import GetMemory, ListMemories
from memo.application.update_memory import UpdateMemory
from memo.domain.errors import ValidationFailed
from memo.domain.idempotency import MAX_IDEMPOTENCY_KEY_CHARS
from memo.domain.memory import Memory, MemoryType
from memo.domain.owners import Principal
from memo.entrypoints.http.guards import signed_json_request
from memo.entrypoints.http.openapi import JSON_BODY_ROUTE, SIGNED, SIGNED_ROUTE, failures, query_schema
from memo.entrypoints.http.queries import MAX_LIMIT, MAX_OFFSET, MAX_SEARCH_CHARS, parse_memory_query
from memo.entrypoints.http.schemas import (
    CreateMemoryBody,
    Envelope,
    ListEnvelope,
    MemoryOut,
    Message,
    UpdateMemoryBody,
)

IdempotencyKey = Annotated[str | None, HeaderParameter(
    name="Idempotency-Key", required=False, description="Retries with the same key and body answer the same memory "
                                                        "for 24 hours",
    schema_extra=query_schema(min_length=1, max_length=MAX_IDEMPOTENCY_KEY_CHARS, pattern=r"^[\x20-\x7e]+$",
                              examples=["3f1c2a9e-create-note"]))]
IfMatch = Annotated[str | None, HeaderParameter(
    name="If-Match", required=False, description="The version you read, as the ETag gave it; a stale one answers 412",
    schema_extra=query_schema(pattern=r'^(W/)?"?[0-9]{1,18}"?$', examples=['"3"']))]
SEARCH_SYNTAX = ("Full-text search, whole words, case-insensitive, accents count: plain words must all appear, "
                 '"a phrase" in order, `OR` between alternatives, `-word` excludes. At most 500 characters after '
                 "trimming; empty means no search.")
MemoryId = Annotated[str, PathParameter(description="The memory's UUID", schema_extra={"format": "uuid"})]
ETAG = ResponseHeader(name="ETag", value='"1"', documentation_only=True, required=True,
                      description="The memory's version, quoted; send it back in If-Match")
RFC3339_TIME = "date-time"  # the JSON Schema format of RFC 3339 times

MEMORY_EXAMPLE = {"content": "Dentist on Friday at 3 pm", "type": "reminder", "tags": ["health"],
                  "metadata": {"where": "Main Street 4"}}
CreateBody = Annotated[CreateMemoryBody, Body(media_type=RequestEncodingType.JSON, examples=[
    Example(id="reminder", summary="A reminder with a tag and metadata", value=MEMORY_EXAMPLE),
    Example(id="note", summary="Only the content: a note", value={"content": "The wifi password is on the fridge"}),
])]
UpdateBody = Annotated[UpdateMemoryBody, Body(media_type=RequestEncodingType.JSON, examples=[
    Example(id="content", summary="New content; the rest stays", value={"content": "Dentist moved to Monday"}),
    Example(id="metadata", summary="Metadata is merged into what is there",
            value={"tags": ["health", "family"], "metadata": {"confirmed": True}}),
])]


def etag(memory: Memory) -> dict[str, str]:
    return {"ETag": f'"{memory.version}"'}


def parse_memory_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise ValidationFailed.single("id", "must be a UUID") from None


def parse_if_match(raw: str | None) -> int | None:
    if raw is None:
        return None
    value = raw.strip().removeprefix("W/").strip('"')
    if not value.isdigit() or len(value) > 18:  # noqa: PLR2004
        raise ValidationFailed.single("If-Match", "must be the memory's version number, like 3 or \"3\"")
    return int(value)


def check_idempotency_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not 1 <= len(raw) <= MAX_IDEMPOTENCY_KEY_CHARS or not raw.isprintable():
        raise ValidationFailed.single("Idempotency-Key",
                                      f"must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable characters")
    return raw


class MemoryController(Controller):
    path = "/api/memories"
    before_request = signed_json_request  # type: ignore[assignment] # the guard (guards.py); an async hook
    tags = ["Memories"]  # noqa: RUF012
    security = SIGNED

    @post(operation_id="CreateMemory", status_code=201, summary="Save a memory", response_headers=[ETAG],
          description="Content is trimmed; tags are stored lower-cased and de-duplicated. The memory is searchable "
                      "by keyword at once and by meaning once the worker has indexed it.",
          responses={**failures(*JSON_BODY_ROUTE, "IDEMPOTENCY_CONFLICT", "MEMORY_NOT_FOUND"),
                     200: ResponseSpec(Envelope[MemoryOut], generate_examples=False,
                                       description="An Idempotency-Key replay: the memory made earlier (404 "
                                                   "MEMORY_NOT_FOUND once it has been deleted)")})
    @inject
    async def create(self, data: CreateBody, principal: FromDishka[Principal],
                     create_memory: FromDishka[CreateMemory], idempotency_key: IdempotencyKey = None,
                     ) -> Response[Envelope[MemoryOut]]:
        command = data.to_command(owner_id=principal.owner_id, idempotency_key=check_idempotency_key(idempotency_key))
        result = await create_memory(command)
        return Response(Envelope(data=MemoryOut.of(result.memory)), status_code=201 if result.created else 200,
                        headers=etag(result.memory))

    @get(operation_id="ListMemories", summary="List memories, newest first by default",
         description="Every bad query value is reported at once in `details`, under its wire name.",
         responses=failures(*SIGNED_ROUTE))
    @inject
    async def list_memories(  # noqa: PLR0917 - one parameter per documented query field
            self, principal: FromDishka[Principal], list_memories: FromDishka[ListMemories],
            search: Annotated[str | None, QueryParameter(description=SEARCH_SYNTAX, required=False, schema_extra=(
                query_schema(max_length=MAX_SEARCH_CHARS, examples=["dentist"])))] = None,
            type: Annotated[str | None, QueryParameter(  # noqa: A002 - the wire name
                description="Only memories of this type", required=False,
                schema_extra=query_schema(enum=[kind.value for kind in MemoryType]))] = None,
            tags: Annotated[str | None, QueryParameter(
                description="Comma list; a memory must carry every tag (compared lower-cased, blanks ignored)",
                required=False, schema_extra=query_schema(examples=["health,family"]))] = None,
            created_after: Annotated[str | None, QueryParameter(
                name="createdAfter", required=False, description="RFC 3339 with a zone; exclusive",
                schema_extra=query_schema(format=RFC3339_TIME, examples=["2026-11-28T09:53:13Z"]))] = None,
            created_before: Annotated[str | None, QueryParameter(
                name="createdBefore", required=False, description="RFC 3339 with a zone; exclusive",
                schema_extra=query_schema(format=RFC3339_TIME, examples=["2026-12-01T00:00:00+01:00"]))] = None,
            limit: Annotated[str | None, QueryParameter(
                description=f"1 to {MAX_LIMIT}, default 20", required=False,
                schema_extra=query_schema(type="integer", minimum=1, maximum=MAX_LIMIT, default=20))] = None,
            offset: Annotated[str | None, QueryParameter(
                description="0 or more, default 0", required=False,
                schema_extra=query_schema(type="integer", minimum=0, maximum=MAX_OFFSET, default=0))] = None,
            sort_by: Annotated[str | None, QueryParameter(
                name="sortBy", required=False, description="createdAt (default) or updatedAt",
                schema_extra=query_schema(enum=["createdAt", "updatedAt"], default="createdAt"))] = None,
            sort_order: Annotated[str | None, QueryParameter(
                name="sortOrder", required=False, description="desc (default) or asc",
                schema_extra=query_schema(enum=["asc", "desc"], default="desc"))] = None,
    ) -> ListEnvelope[MemoryOut]:
        # taken as text, so every bad value is reported at once, under its wire name, by one parser
        raw = {"search": search, "type": type, "tags": tags, "createdAfter": created_after,
               "createdBefore": created_before, "limit": limit, "offset": offset, "sortBy": sort_by,
               "sortOrder": sort_order}
        query = parse_memory_query({name: value for name, value in raw.items() if value is not None})
        return ListEnvelope.of(await list_memories(principal.owner_id, query))

    @get("/{memory_id:str}", operation_id="GetMemory", summary="Read one memory", response_headers=[ETAG],
         responses=failures(*SIGNED_ROUTE, "MEMORY_NOT_FOUND"))
    @inject
    async def get_memory(self, memory_id: MemoryId, principal: FromDishka[Principal],
                         get_memory: FromDishka[GetMemory]) -> Response[Envelope[MemoryOut]]:
        memory = await get_memory(principal.owner_id, parse_memory_id(memory_id))
        return Response(Envelope(data=MemoryOut.of(memory)), headers=etag(memory))

    @put("/{memory_id:str}", operation_id="UpdateMemory", summary="Change some fields; metadata is merged",
         description="Fields left out keep their value; `metadata` is merged key by key into what is stored. The "
                     "version goes up by one.", response_headers=[ETAG],
         responses=failures(*JSON_BODY_ROUTE, "MEMORY_NOT_FOUND", "VERSION_CONFLICT"))
    @inject
    async def update(self, memory_id: MemoryId, data: UpdateBody, principal: FromDishka[Principal],
                     update_memory: FromDishka[UpdateMemory], if_match: IfMatch = None,
                     ) -> Response[Envelope[MemoryOut]]:
        command = data.to_command(owner_id=principal.owner_id, memory_id=parse_memory_id(memory_id),
                                  expected_version=parse_if_match(if_match))
        memory = await update_memory(command)
        return Response(Envelope(data=MemoryOut.of(memory)), headers=etag(memory))

    @delete("/{memory_id:str}", operation_id="DeleteMemory", status_code=200, summary="Delete a memory",
            responses=failures(*SIGNED_ROUTE, "MEMORY_NOT_FOUND"))
    @inject
    async def remove(self, memory_id: MemoryId, principal: FromDishka[Principal],
                     delete_memory: FromDishka[DeleteMemory]) -> Message:
        await delete_memory(principal.owner_id, parse_memory_id(memory_id))
        return Message(message="Memory deleted successfully")
