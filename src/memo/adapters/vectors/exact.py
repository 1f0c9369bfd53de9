"""Exact cosine search over one owner's vectors: a float32 matrix and the columns its filters read.

Rows are kept unit length, so cosine similarity is one matrix-vector product; `np.argpartition` finds the top
`limit` in linear time and only those are sorted. Filters are numpy masks over small per-row codes (type, source),
microsecond times and a tag -> rows index; ids are kept as their 16 bytes and become UUIDs only for the hits. Rows
appended to the end (a load) go in as whole arrays; a replaced row keeps its slot. A deleted row's slot
is reused by the next insert; the matrix grows by doubling and is compacted when most of it is empty. A search
costs what its matrix-vector product costs (384 dimensions: 0.76 ms at 100,000 vectors over 100 owners, 8.2 ms
when one owner holds them all, on an idle 2-core machine); `bench/vectors.py` measures it through the index.

Not safe for concurrent use: the index that owns it serialises writes and searches per owner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from uuid import UUID

import numpy as np
import numpy.typing as npt

from memo.domain.memory import MemoryType, Source
from memo.domain.retrieval import SearchFilters, VectorEntry

TYPE_CODES = {member.value: code for code, member in enumerate(MemoryType)}
SOURCE_CODES = {member.value: code for code, member in enumerate(Source)}
UNKNOWN_CODE = -1  # a type or source this version does not know: it never matches a filter on it
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MIN_CAPACITY = 16
_NO_ID = bytes(16)  # the id of a freed slot
_NO_FILTERS = SearchFilters()
_COMPACT_ABOVE = 1_024  # slots; below this an emptied matrix is not worth compacting

Matrix = npt.NDArray[np.float32]
G = TypeVar("G", bound=np.generic)


def micros(moment: datetime) -> int:
    """Microseconds since the epoch, UTC (a naive time is taken as UTC): exact, so strict filters stay strict."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (aware - _EPOCH) // _MICROSECOND


def unit_rows(vectors: Sequence[Sequence[float]], dimensions: int) -> Matrix:
    """The vectors as unit-length float32 rows; ValueError for a wrong length or a value that is not finite."""
    wrong = sorted({len(vector) for vector in vectors if len(vector) != dimensions})
    if wrong:
        msg = f"vectors must have {dimensions} dimensions (this index's model), got {wrong}"
        raise ValueError(msg)
    matrix = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), dimensions)
    if not np.isfinite(matrix).all():
        msg = "vectors must hold finite numbers only (no NaN or infinity)"
        raise ValueError(msg)
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix, dtype=np.float64))[:, None]
    unit: Matrix = (matrix / np.where(norms == 0, 1.0, norms)).astype(np.float32)
    return unit


def unit_vector(vector: Sequence[float], dimensions: int) -> npt.NDArray[np.float32]:
    unit: npt.NDArray[np.float32] = unit_rows([vector], dimensions)[0]
    return unit


@dataclass(frozen=True, slots=True, kw_only=True)
class Columns:
    """A batch of rows in columnar form: what a load from the table or an upsert hands to `OwnerVectors.put`."""

    ids: Sequence[bytes]  # each memory id's 16 bytes (UUID.bytes)
    matrix: Matrix  # unit rows, (len(ids), dimensions)
    types: npt.NDArray[np.int8]
    sources: npt.NDArray[np.int8]
    created: npt.NDArray[np.int64]  # microseconds since the epoch
    tags: Sequence[tuple[str, ...]]

    @classmethod
    def of(cls, entries: Sequence[VectorEntry], matrix: Matrix) -> Columns:
        count = len(entries)
        return cls(
            ids=[entry.memory_id.bytes for entry in entries], matrix=matrix,
            types=np.fromiter((TYPE_CODES.get(entry.type, UNKNOWN_CODE) for entry in entries), np.int8, count),
            sources=np.fromiter((SOURCE_CODES.get(entry.source, UNKNOWN_CODE) for entry in entries), np.int8, count),
            created=np.fromiter((micros(entry.created_at) for entry in entries), np.int64, count),
            tags=[tuple(entry.tags) for entry in entries])


class OwnerVectors:
    """One owner's rows: slots in a float32 matrix with parallel filter columns."""

    def __init__(self, dimensions: int, *, capacity: int = 0) -> None:
        self.dimensions = dimensions
        self._reset(capacity)

    def _reset(self, capacity: int) -> None:
        capacity = max(capacity, _MIN_CAPACITY)
        dimensions = self.dimensions
        self._matrix: Matrix = np.zeros((capacity, dimensions), dtype=np.float32)
        self._alive = np.zeros(capacity, dtype=bool)
        self._types = np.full(capacity, UNKNOWN_CODE, dtype=np.int8)
        self._sources = np.full(capacity, UNKNOWN_CODE, dtype=np.int8)
        self._created = np.zeros(capacity, dtype=np.int64)
        self._ids: list[bytes] = []
        self._tags: list[tuple[str, ...]] = []
        self._tag_rows: dict[str, set[int]] = {}
        self._positions: dict[bytes, int] = {}
        self._free: list[int] = []

    def __len__(self) -> int:
        return len(self._positions)

    @property
    def slots(self) -> int:
        """Slots in use or freed: the rows a search multiplies, dead ones included."""
        return len(self._ids)

    def put(self, columns: Columns) -> None:
        """Insert or replace each row by id; within `columns` every id appears once."""
        count = len(columns.ids)
        known = list(map(self._positions.get, columns.ids))
        if not self._free and known.count(None) == count:
            self._append(columns)
            return
        positions = np.fromiter((self._slot_for(memory_id) for memory_id in columns.ids), np.intp, count)
        self._fill(positions, columns)
        for position, memory_id, tags in zip(positions.tolist(), columns.ids, columns.tags, strict=True):
            self._forget_tags(position)
            self._ids[position], self._tags[position] = memory_id, tags
            for tag in tags:
                self._tag_rows.setdefault(tag, set()).add(position)

    def _append(self, columns: Columns) -> None:
        """All new and no hole to fill (a load): in as whole blocks, the tag index a tag set at a time."""
        start, count = len(self._ids), len(columns.ids)
        if start + count > len(self._alive):
            self._grow(max(2 * len(self._alive), start + count))
        self._ids.extend(columns.ids)
        self._tags.extend(columns.tags)
        self._positions.update(zip(columns.ids, range(start, start + count), strict=True))
        self._fill(np.arange(start, start + count, dtype=np.intp), columns)
        by_tags: dict[tuple[str, ...], list[int]] = {}
        for position, tags in enumerate(columns.tags, start=start):
            if tags:
                by_tags.setdefault(tags, []).append(position)
        for tags, positions in by_tags.items():
            for tag in tags:
                self._tag_rows.setdefault(tag, set()).update(positions)

    def _fill(self, positions: npt.NDArray[np.intp], columns: Columns) -> None:
        self._matrix[positions] = columns.matrix
        self._alive[positions] = True
        self._types[positions] = columns.types
        self._sources[positions] = columns.sources
        self._created[positions] = columns.created

    def remove(self, memory_ids: Sequence[UUID | bytes]) -> None:
        for memory_id in memory_ids:
            position = self._positions.pop(memory_id.bytes if isinstance(memory_id, UUID) else memory_id, None)
            if position is None:
                continue
            self._forget_tags(position)
            self._alive[position] = False
            self._ids[position], self._tags[position] = _NO_ID, ()
            self._free.append(position)
        if self.slots > _COMPACT_ABOVE and len(self) * 4 < self.slots:
            self._compact()

    def search(self, query: npt.NDArray[np.float32], limit: int, filters: SearchFilters) -> list[tuple[UUID, float]]:
        """The best `limit` (memory id, cosine) among rows passing `filters`, best first; `query` is unit length."""
        count = self.slots
        if count == 0 or limit <= 0:
            return []
        if not self._free and filters == _NO_FILTERS:  # every slot alive, none filtered out: no mask to apply
            candidates = np.arange(count)
            scores = self._matrix[:count] @ query
        else:
            mask = self._mask(count, filters)
            candidates = np.flatnonzero(mask) if mask is not None else np.empty(0, dtype=np.intp)
            if candidates.size == 0:
                return []
            if candidates.size * 4 < count:  # a selective filter: multiply only the rows that pass it
                scores = self._matrix[candidates] @ query
            else:
                scores = (self._matrix[:count] @ query)[candidates]
        keep = min(limit, candidates.size)
        best = np.argpartition(scores, candidates.size - keep)[candidates.size - keep:]
        best = best[np.lexsort((candidates[best], -scores[best]))]  # by score, ties by slot: a stable answer
        chosen = np.clip(scores[best], -1.0, 1.0).tolist()
        ids = self._ids
        return [(UUID(bytes=ids[slot]), score) for slot, score in zip(candidates[best].tolist(), chosen, strict=True)]

    def _mask(self, count: int, filters: SearchFilters) -> npt.NDArray[np.bool_] | None:
        mask = self._alive[:count]
        if filters.type is not None:
            mask = mask & (self._types[:count] == TYPE_CODES[filters.type.value])
        if filters.source is not None:
            mask = mask & (self._sources[:count] == SOURCE_CODES[filters.source.value])
        if filters.created_after is not None:
            mask = mask & (self._created[:count] > micros(filters.created_after))
        if filters.created_before is not None:
            mask = mask & (self._created[:count] < micros(filters.created_before))
        if filters.tags:
            row_sets = sorted((self._tag_rows.get(tag, set()) for tag in set(filters.tags)), key=len)
            rows = set(row_sets[0]).intersection(*row_sets[1:])
            if not rows:
                return None
            tagged = np.zeros(count, dtype=bool)
            tagged[np.fromiter(rows, np.intp, len(rows))] = True
            mask = mask & tagged
        return mask

    def _slot_for(self, memory_id: bytes) -> int:
        position = self._positions.get(memory_id)
        if position is not None:
            return position
        if self._free:
            position = self._free.pop()
        else:
            position = len(self._ids)
            self._ids.append(_NO_ID)
            self._tags.append(())
            if position >= len(self._alive):
                self._grow(2 * len(self._alive))
        self._positions[memory_id] = position
        return position

    def _forget_tags(self, position: int) -> None:
        for tag in self._tags[position]:
            rows = self._tag_rows.get(tag)
            if rows is not None:
                rows.discard(position)
                if not rows:
                    del self._tag_rows[tag]

    def _grow(self, capacity: int) -> None:
        self._matrix = _grown(self._matrix, capacity, 0)
        self._alive = _grown(self._alive, capacity, 0)
        self._types = _grown(self._types, capacity, UNKNOWN_CODE)
        self._sources = _grown(self._sources, capacity, UNKNOWN_CODE)
        self._created = _grown(self._created, capacity, 0)

    def _compact(self) -> None:
        live = np.flatnonzero(self._alive[:self.slots])
        columns = Columns(ids=[self._ids[slot] for slot in live.tolist()],
                          matrix=self._matrix[live], types=self._types[live], sources=self._sources[live],
                          created=self._created[live], tags=[self._tags[slot] for slot in live.tolist()])
        self._reset(2 * len(live))
        self.put(columns)


def _grown(array: npt.NDArray[G], capacity: int, fill: int) -> npt.NDArray[G]:
    bigger = np.full((capacity, *array.shape[1:]), fill, dtype=array.dtype)
    bigger[:len(array)] = array
    return bigger
