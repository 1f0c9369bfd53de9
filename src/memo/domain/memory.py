"""The memory entity and the rules every stored memory obeys, whatever the edge it came through."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from memo.domain.errors import FieldProblem, ValidationFailed

MAX_CONTENT_CHARS = 10_000
MAX_TAGS = 10
MAX_TAG_CHARS = 50
MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_DEPTH = 32


class MemoryType(StrEnum):
    NOTE = "note"
    REMINDER = "reminder"
    WHATSAPP_RECEIVED = "whatsapp_received"
    WHATSAPP_SENT = "whatsapp_sent"
    VOICE_MEMO = "voice_memo"


class Source(StrEnum):
    API = "api"
    WHATSAPP = "whatsapp"
    IMPORT = "import"


def storable(text: str) -> bool:
    """Text every store can keep: no NUL (PostgreSQL refuses it) and no lone surrogate (not valid UTF-8)."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _unstorable_string(value: object) -> bool:
    if isinstance(value, str):
        return not storable(value)
    if isinstance(value, Mapping):
        return any(_unstorable_string(key) or _unstorable_string(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_unstorable_string(item) for item in value)
    return False


def normalise_content(content: str, problems: list[FieldProblem]) -> str:
    text = content.strip()
    if not storable(text):
        problems.append(FieldProblem("content", "must not contain NUL characters or unpaired surrogates"))
    elif not text:
        problems.append(FieldProblem("content", "must not be empty or only white space"))
    elif len(text) > MAX_CONTENT_CHARS:
        problems.append(FieldProblem("content", f"must be at most {MAX_CONTENT_CHARS} characters after trimming"))
    return text


def tag_key(raw: str) -> str:
    """The one form a tag is stored, filtered and compared in: trimmed and lower-cased."""
    return raw.strip().lower()


def distinct_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Tags in their stored form, blanks dropped, each once in first-seen order: what a tags filter asks for."""
    return tuple(dict.fromkeys(tag for raw in tags if (tag := tag_key(raw))))


def normalise_tags(tags: Iterable[str], problems: list[FieldProblem]) -> tuple[str, ...]:
    """The tags a memory keeps: `tag_key` of each, de-duplicated in first-seen order; the limit counts distinct tags."""
    seen: dict[str, None] = {}
    for index, raw in enumerate(tags):
        tag = tag_key(raw)
        if not storable(tag):
            problems.append(FieldProblem(f"tags[{index}]", "must not contain NUL characters or unpaired surrogates"))
            continue
        if not tag or len(tag) > MAX_TAG_CHARS:
            problems.append(FieldProblem(f"tags[{index}]", f"each tag must be 1 to {MAX_TAG_CHARS} characters"))
            continue
        seen.setdefault(tag, None)
    if len(seen) > MAX_TAGS:
        problems.append(FieldProblem("tags", f"at most {MAX_TAGS} distinct tags"))
    return tuple(seen)


def metadata_size(metadata: Mapping[str, Any]) -> int:
    return len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode())


def nesting_depth(value: object) -> int:
    """How deep objects and arrays nest, counted without recursion so no input can exhaust the stack."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, Mapping):
            children: Iterable[object] = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children)
    return deepest


def check_metadata(metadata: Mapping[str, Any], problems: list[FieldProblem]) -> dict[str, Any]:
    if not metadata:  # most memories carry none: nothing to walk or serialise
        return {}
    if nesting_depth(metadata) > MAX_METADATA_DEPTH:
        problems.append(FieldProblem("metadata",
                                     f"must not nest objects and arrays more than {MAX_METADATA_DEPTH} deep"))
    elif _unstorable_string(metadata):
        problems.append(FieldProblem("metadata", "must not contain NUL characters or unpaired surrogates"))
    elif metadata_size(metadata) > MAX_METADATA_BYTES:
        problems.append(FieldProblem("metadata", f"must be at most {MAX_METADATA_BYTES} bytes serialised as JSON"))
    return dict(metadata)


def _raise_if(problems: list[FieldProblem]) -> None:
    if problems:
        raise ValidationFailed(problems)


@dataclass(frozen=True, slots=True, kw_only=True)
class Memory:
    id: UUID
    owner_id: UUID
    content: str
    type: MemoryType
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    source: Source = Source.API
    created_at: datetime
    updated_at: datetime
    version: int = 1

    @classmethod
    def create(
        cls,
        *,
        id: UUID,  # noqa: A002 - the wire and the store call it id
        owner_id: UUID,
        content: str,
        type: MemoryType,  # noqa: A002
        tags: Iterable[str] = (),
        metadata: Mapping[str, Any] | None = None,
        source: Source = Source.API,
        now: datetime,
    ) -> Memory:
        problems: list[FieldProblem] = []
        text = normalise_content(content, problems)
        clean_tags = normalise_tags(tags, problems)
        meta = check_metadata(metadata or {}, problems)
        _raise_if(problems)
        return cls(id=id, owner_id=owner_id, content=text, type=type, tags=clean_tags, metadata=meta,
                   source=source, created_at=now, updated_at=now, version=1)

    @classmethod
    def restored(
        cls,
        *,
        id: UUID,  # noqa: A002
        owner_id: UUID,
        content: str,
        type: MemoryType,  # noqa: A002
        tags: Iterable[str],
        metadata: Mapping[str, Any],
        source: Source,
        created_at: datetime,
        updated_at: datetime,
        version: int,
    ) -> Memory:
        """A memory brought back from an export: its id, times, version and source kept, the rules of `create`
        applied, so a restored memory is one the API could have stored."""
        problems: list[FieldProblem] = []
        text = normalise_content(content, problems)
        clean_tags = normalise_tags(tags, problems)
        meta = check_metadata(metadata, problems)
        if created_at.tzinfo is None or updated_at.tzinfo is None:
            problems.append(FieldProblem("createdAt", "times must carry a zone"))
        elif updated_at < created_at:
            problems.append(FieldProblem("updatedAt", "must not be before createdAt"))
        if version < 1:
            problems.append(FieldProblem("version", "must be 1 or more"))
        _raise_if(problems)
        return cls(id=id, owner_id=owner_id, content=text, type=type, tags=clean_tags, metadata=meta,
                   source=source, created_at=created_at, updated_at=updated_at, version=version)

    def revise(
        self,
        *,
        content: str | None = None,
        type: MemoryType | None = None,  # noqa: A002
        tags: Iterable[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        now: datetime,
    ) -> Memory:
        """Apply a partial update; metadata is merged key by key over what is stored, as the original design did."""
        problems: list[FieldProblem] = []
        text = self.content if content is None else normalise_content(content, problems)
        clean_tags = self.tags if tags is None else normalise_tags(tags, problems)
        meta = self.metadata if metadata is None else check_metadata({**self.metadata, **metadata}, problems)
        _raise_if(problems)
        return replace(self, content=text, type=self.type if type is None else type, tags=clean_tags,
                       metadata=meta, updated_at=max(now, self.updated_at), version=self.version + 1)
