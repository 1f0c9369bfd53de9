"""The vector index in a dict, for unit tests and the test profile; the contract suite holds it to the SQLite index.

Written apart from `exact.py` (a dict per owner, a mask built row by row), so the suite compares two ways of
getting the same answer rather than one code path with itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import numpy as np
import numpy.typing as npt

from memo.application.errors import VectorIndexUnavailable
from memo.application.ports import VectorIndex
from memo.domain.retrieval import Hit, SearchFilters, VectorEntry


@dataclass(frozen=True, slots=True)
class _Stored:
    entry: VectorEntry
    unit: npt.NDArray[np.float64]


class InMemoryVectorIndex(VectorIndex):
    """Exact cosine search over dicts. `available = False` is an outage until set back; `fail_next = n` fails the
    next n calls; both raise VectorIndexUnavailable. `upserts` records every entry stored and `deletes` every
    (owner, ids) asked to go, in order; failed calls record nothing.

    `dimensions` is the model's; left out, the first upsert fixes it, as creating an index for a model would.
    """

    def __init__(self, *, dimensions: int | None = None) -> None:
        self.dimensions = dimensions
        self.available = True
        self.fail_next = 0
        self.upserts: list[VectorEntry] = []
        self.deletes: list[tuple[UUID, tuple[UUID, ...]]] = []
        self._owners: dict[UUID, dict[UUID, _Stored]] = {}
        self._owner_of: dict[UUID, UUID] = {}  # a memory has one vector, whoever it was filed under
        self._stacked: dict[UUID, tuple[list[_Stored], npt.NDArray[np.float64]]] = {}  # per owner, until a write

    def held(self, owner_id: UUID) -> frozenset[UUID]:
        """The ids of the memories the owner has a vector for."""
        return frozenset(self._owners.get(owner_id, {}))

    async def upsert(self, entries: Sequence[VectorEntry]) -> None:
        if not entries:
            return
        dimensions = self.dimensions or len(entries[0].vector)
        units = [self._unit(entry.vector, dimensions) for entry in entries]
        self._reachable()
        self.dimensions = dimensions
        for entry, unit in zip(entries, units, strict=True):
            previous = self._owner_of.pop(entry.memory_id, None)
            if previous is not None:
                self._owners[previous].pop(entry.memory_id, None)
                self._stacked.pop(previous, None)
            self._owners.setdefault(entry.owner_id, {})[entry.memory_id] = _Stored(entry, unit)
            self._stacked.pop(entry.owner_id, None)
            self._owner_of[entry.memory_id] = entry.owner_id
            self.upserts.append(entry)

    async def delete(self, owner_id: UUID, memory_ids: Sequence[UUID]) -> None:
        self._reachable()
        held = self._owners.get(owner_id, {})
        for memory_id in memory_ids:
            if held.pop(memory_id, None) is not None:
                del self._owner_of[memory_id]
                self._stacked.pop(owner_id, None)
        self.deletes.append((owner_id, tuple(memory_ids)))

    async def query(self, owner_id: UUID, vector: Sequence[float], *, limit: int,
                    filters: SearchFilters) -> Sequence[Hit]:
        query = self._unit(vector, self.dimensions or len(vector))
        self._reachable()
        held, matrix = self._stack(owner_id)
        passing = [row for row, stored in enumerate(held) if _admits(filters, stored.entry)]
        if limit <= 0 or not passing:
            return []
        scores = np.clip((matrix @ query)[passing], -1.0, 1.0).tolist()
        ranked = sorted(zip(scores, passing, strict=True), key=lambda pair: -pair[0])[:limit]
        return [Hit(memory_id=held[row].entry.memory_id, score=score) for score, row in ranked]

    def _stack(self, owner_id: UUID) -> tuple[list[_Stored], npt.NDArray[np.float64]]:
        if owner_id not in self._stacked:
            held = list(self._owners.get(owner_id, {}).values())
            matrix = np.stack([stored.unit for stored in held]) if held else np.empty((0, self.dimensions or 0))
            self._stacked[owner_id] = (held, matrix)
        return self._stacked[owner_id]

    def _reachable(self) -> None:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise VectorIndexUnavailable("The in-memory vector index was told to fail.")
        if not self.available:
            raise VectorIndexUnavailable("The in-memory vector index is down.")

    @staticmethod
    def _unit(vector: Sequence[float], dimensions: int) -> npt.NDArray[np.float64]:
        if len(vector) != dimensions:
            msg = f"vectors must have {dimensions} dimensions (this index's model), got {len(vector)}"
            raise ValueError(msg)
        unit = np.asarray(vector, dtype=np.float64)
        if not np.isfinite(unit).all():
            msg = "vectors must hold finite numbers only (no NaN or infinity)"
            raise ValueError(msg)
        norm = float(np.linalg.norm(unit))
        return unit / norm if norm else unit


def _admits(filters: SearchFilters, entry: VectorEntry) -> bool:
    return ((filters.type is None or entry.type == filters.type)
            and all(tag in entry.tags for tag in filters.tags)
            and (filters.source is None or entry.source == filters.source)
            and (filters.created_after is None or entry.created_at > filters.created_after)
            and (filters.created_before is None or entry.created_at < filters.created_before))
