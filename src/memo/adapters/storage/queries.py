"""How a MemoryQuery reads, shared by the SQL and in-memory stores so the two cannot drift apart.

Semantics both stores implement (and the contract suite pins):
- `search`: full-text, as `memo.domain.search` defines it (words, phrases, OR, exclusions, no prefixes); the SQL
  stores render it in `fulltext.py`, the in-memory one evaluates it in Python. An empty string filters nothing;
  a text without any word matches nothing.
- `type`: equality. `tags`: the memory carries every one of them (compared in `memo.domain.memory.tag_key` form).
- `created_after` is strict (`>`), `created_before` is strict (`<`): paging by "after the last one I saw" never
  repeats that memory.
- Sort by `createdAt` or `updatedAt`, then by id in the same direction, so equal times still have one order
  and pages neither repeat nor skip a memory. `total` counts every match, whatever the offset.
"""

from __future__ import annotations

from memo.application.dto import MemoryQuery, SortField
from memo.domain.memory import distinct_tags

SORT_ATTRIBUTES: dict[SortField, str] = {SortField.CREATED_AT: "created_at", SortField.UPDATED_AT: "updated_at"}


def wanted_tags(query: MemoryQuery) -> tuple[str, ...]:
    """The distinct tags a match must carry, in the form tags are stored in."""
    return distinct_tags(query.tags)
