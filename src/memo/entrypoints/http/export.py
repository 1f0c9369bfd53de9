"""Export and import: the caller's memories out as a stream of JSON lines (or Markdown), and back in by batches."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import HTTPException
from litestar.openapi import ResponseSpec
from litestar.params import QueryParameter
from litestar.response import Stream

from memo.application.dto import ImportCommand
from memo.application.export_memories import ExportMemories
from memo.application.import_memories import ImportMemories
from memo.domain.errors import ValidationFailed
from memo.domain.owners import Principal
from memo.entrypoints.http.errors import error_response
from memo.entrypoints.http.export_schemas import ImportReportOut, jsonl_stream, markdown_stream, read_lines
from memo.entrypoints.http.guards import require_signed_request, signed_request
from memo.entrypoints.http.memories import IdempotencyKey, check_idempotency_key
from memo.entrypoints.http.openapi import JSON_BODY_ROUTE, SIGNED, SIGNED_ROUTE, failures, query_schema
from memo.entrypoints.http.schemas import Envelope, ErrorBody

JSON_LINES = "application/x-ndjson"
IMPORT_MEDIA_TYPES = frozenset({JSON_LINES, "application/jsonl"})
MARKDOWN = "text/markdown"  # Litestar adds the charset
FORMATS = ("jsonl", "markdown")


async def require_json_lines_body(request: Request[Any, Any, Any]) -> None:
    """Refuse a body in any other media type (415): an import reads JSON Lines and nothing else."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in IMPORT_MEDIA_TYPES:
        raise HTTPException(status_code=415, detail="Send the body as application/x-ndjson.")


async def signed_json_lines_request(request: Request[Any, Any, Any]) -> None:
    """The import's `before_request` hook, which takes the controller's place: the guard, then the media type."""
    await require_signed_request(request)
    await require_json_lines_body(request)


class ExportController(Controller):
    path = "/api"
    before_request = signed_request  # type: ignore[assignment] # the guard (guards.py); an async hook
    tags = ["Export"]  # noqa: RUF012
    security = SIGNED

    @get("/export", operation_id="ExportMemories",
         summary="Every memory of the caller, oldest first, as JSON Lines (or one Markdown document)",
         description="One memory a line with the fields of Memory, times to the microsecond, and `whatsapp` for a "
                     "memory with a WhatsApp record. Streamed in keyset pages: the server's memory does not grow "
                     "with the count. `format=markdown`: grouped by UTC day, oldest day first. See docs/export.md.",
         responses={**failures(*SIGNED_ROUTE), 200: ResponseSpec(
             str, media_type=JSON_LINES, generate_examples=False,
             description="JSON Lines (application/x-ndjson), or text/markdown with format=markdown")})
    @inject
    async def export(self, principal: FromDishka[Principal], export: FromDishka[ExportMemories],
                     format: Annotated[str | None, QueryParameter(  # noqa: A002 - the wire name
                         description="jsonl (default) or markdown", required=False,
                         schema_extra=query_schema(enum=list(FORMATS), default="jsonl"))] = None) -> Stream:
        chosen = format or "jsonl"
        if chosen not in FORMATS:
            raise ValidationFailed.single("format", "must be jsonl or markdown")
        pages = export(principal.owner_id)
        if chosen == "markdown":
            return Stream(markdown_stream(pages), media_type=MARKDOWN)
        return Stream(jsonl_stream(pages), media_type=JSON_LINES)

    @post("/import", operation_id="ImportMemories", status_code=200, before_request=signed_json_lines_request,
          summary="Restore memories from JSON Lines, ids and times kept; safe to run twice",
          description="One batch a request (MEMO_MAX_BODY_BYTES at most: split a large export into batches of "
                      "whole lines). Each line is created, unchanged (the very same memory is stored) or skipped "
                      "with its line number and a code: INVALID_JSON, MISSING_FIELD, INVALID_FIELD, DUPLICATE_ID, "
                      "ID_TAKEN (another owner holds the id), CONFLICT (the caller's memory differs; it is never "
                      "overwritten). See docs/export.md.",
          responses=failures(*JSON_BODY_ROUTE, "INVALID_JSON_LINES", "IDEMPOTENCY_CONFLICT"))
    @inject
    async def import_memories(self, request: Request[Any, Any, Any], principal: FromDishka[Principal],
                              import_memories: FromDishka[ImportMemories], idempotency_key: IdempotencyKey = None,
                              ) -> Response[Envelope[ImportReportOut]] | Response[ErrorBody]:
        key = check_idempotency_key(idempotency_key)
        body = await request.body()
        lines = read_lines(body)
        if lines is None:
            return error_response(request, 400, ErrorBody(
                error="The body is not JSON Lines: send one JSON object a line.", code="INVALID_JSON_LINES"))
        report = await import_memories(ImportCommand(owner_id=principal.owner_id, lines=lines, idempotency_key=key,
                                                     fingerprint=hashlib.sha256(body).hexdigest()))
        return Response(Envelope(data=ImportReportOut.of(report)))
