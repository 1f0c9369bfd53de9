"""The memories the PostgreSQL list and search figures are measured on, and the searches sent over them.

One owner's memories, loaded straight into the tables (a signed create each would take an hour for 100,000):
12-40 words drawn from a 45-word vocabulary, with `plumber` in exactly 1 % of them and `garden` in exactly 10 %,
so a rare and a common word can be searched. bench/postgres.py and bench/run.py (`--postgres`) both load it.

Two searches for the common word: `COMMON_SEARCH` asks the same query every time; `NEW_QUERY_SEARCH` asks
`garden -<word>` with a word no memory holds and never asked before (`absent_words`), so every request is a
query of its own with the same matches and the same total. A cache keyed by the query (of totals or of pages)
answers the first from memory after one request and never the second: the gap between them is what such a
cache is worth, and the second is what a user who never searches the same thing twice sees.
"""

from __future__ import annotations

import json
import random
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy.engine import make_url

WORDS = (
    "note", "kitchen", "call", "mother", "buy", "bread", "milk", "meeting", "friday", "invoice", "train", "ticket",
    "birthday", "gift", "book", "doctor", "appointment", "walk", "dog", "paint", "fence", "holiday", "flight",
    "hotel", "report", "budget", "review", "recipe", "pasta", "coffee", "tea", "lamp", "window", "car", "service",
    "tyre", "insurance", "school", "parent", "evening", "piano", "lesson", "swim", "football", "match",
)
COMMON_WORD = "garden"
COMMON_SEARCH = f"/api/memories?search={COMMON_WORD}&limit=20"
# {word} takes a new absent word in every request (fill_in)
NEW_QUERY_SEARCH = f"/api/memories?search={COMMON_WORD}%20-{{word}}&limit=20"


def content(rng: random.Random, index: int) -> tuple[str, list[str]]:
    words = rng.choices(WORDS, k=rng.randint(12, 40))
    if index % 100 == 0:
        words.insert(rng.randrange(len(words)), "plumber")
    if index % 10 == 3:
        words.insert(rng.randrange(len(words)), COMMON_WORD)
    tags = rng.sample(["home", "work", "family", "health", "money", "travel"], k=rng.randint(0, 3))
    return " ".join(words), tags


async def _connect(url: str) -> asyncpg.Connection:
    parsed = make_url(url)
    return await asyncpg.connect(host=parsed.host, port=parsed.port or 5432, user=parsed.username,
                                 password=parsed.password, database=parsed.database)


async def load(url: str, owner_name: str, count: int) -> list[str]:
    """Insert `count` memories for the owner in batches; returns 2,000 of their ids for the get scenario."""
    connection = await _connect(url)
    rng, ids, start = random.Random(7), [], datetime.now(UTC) - timedelta(days=365)
    try:
        owner_id = await connection.fetchval("SELECT id FROM owners WHERE name = $1", owner_name)
        for first in range(0, count, 5000):
            memories, tags = [], []
            for index in range(first, min(first + 5000, count)):
                text, labels = content(rng, index)
                memory_id = uuid.uuid4()
                created = start + timedelta(seconds=index * 300)
                memories.append((memory_id, owner_id, text, "note", json.dumps(labels), "{}", "api", created,
                                 created, 1))
                tags.extend((memory_id, tag, owner_id) for tag in labels)
                if len(ids) < 2000 and index % 50 == 0:
                    ids.append(str(memory_id))
            async with connection.transaction():
                await connection.executemany(
                    "INSERT INTO memories (id, owner_id, content, type, tags, metadata, source, created_at, "
                    "updated_at, version) VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9, $10)", memories)
                await connection.executemany(
                    "INSERT INTO memory_tags (memory_id, tag, owner_id) VALUES ($1, $2, $3)", tags)
        await connection.execute("VACUUM (ANALYZE)")  # what autovacuum would do: statistics and visibility map
    finally:
        await connection.close()
    return ids


async def holding(url: str, word: str) -> int:
    """How many memories hold `word`, counted by a regular expression rather than by the full-text index the
    server searches, so a preflight can check the server's total against it."""
    connection = await _connect(url)
    try:
        return int(await connection.fetchval(r"SELECT count(*) FROM memories WHERE content ~ ('\m' || $1 || '\M')",
                                             word))
    finally:
        await connection.close()


def absent_words(count: int) -> list[str]:
    """`count` words no memory holds (none of the vocabulary starts with `x` and a digit), each new: a random
    prefix per call, so two files, two rounds or two runs never share one."""
    prefix = f"x{secrets.randbelow(10)}{secrets.token_hex(4)}"
    return [f"{prefix}{index}" for index in range(count)]


def fill_in(target: str, count: int, ids: list[str] | None) -> tuple[str, list[str] | None]:
    """The target and the values signed_requests.write_requests cycles through its `{id}`: memory ids as given, or,
    for a `{word}` target, `count` new absent words (one per request, none repeated)."""
    if "{word}" in target:
        return target.replace("{word}", "{id}"), absent_words(count)
    return target, ids or None
