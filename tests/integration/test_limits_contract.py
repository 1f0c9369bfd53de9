"""One contract for NonceStore and RateLimiter, run on the in-process adapters, the SQL nonce store and Redis.

Redis runs when MEMO_TEST_REDIS_URL is set (e.g. redis://127.0.0.1:6379/15). Each test writes under its own key
prefix and deletes only those keys afterwards, so a shared server and database are safe. The SQL nonce store runs
on a migrated SQLite file always, and on PostgreSQL when MEMO_TEST_POSTGRES_URL is set (the session's throwaway
database of conftest.py, emptied after each test). Time moves on a fake clock in process and in SQL (the store
asks the clock, never the database), and for real on Redis, where TTLs are kept to about a second. The fault tests
need no server at all: they point the adapters at a closed port and at a server that accepts and never answers.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from memo.adapters.limits.memory import InProcessNonceStore, InProcessRateLimiter
from memo.adapters.limits.redis import RedisHealthCheck, RedisNonceStore, RedisRateLimiter, redis_client
from memo.adapters.sqlite_writer import writer_of
from memo.adapters.storage.engine import create_engine
from memo.adapters.storage.nonces import SqlNonceStore
from memo.adapters.storage.orm import NonceRow
from memo.adapters.system import FixedClock
from memo.application.errors import NonceStoreUnavailable, RateLimiterUnavailable
from memo.application.ports import NonceStore, RateLimiter

REDIS_URL = os.environ.get("MEMO_TEST_REDIS_URL")
FAST_S = 2.0  # a dead Redis must cost a call less than this
CLOSED_PORT_URL = "redis://:hunter2-password@127.0.0.1:1/0"  # nothing listens on port 1


@dataclass
class RedisWorld:
    """One Redis database seen by any number of API "instances", each with its own client and pool."""

    url: str
    prefix: str = field(default_factory=lambda: f"memo-test:{uuid.uuid4().hex}:")
    clients: list[Redis] = field(default_factory=list)

    def client(self) -> Redis:
        client = redis_client(self.url, timeout_s=1.0)
        self.clients.append(client)
        return client

    def instance(self) -> tuple[RedisNonceStore, RedisRateLimiter]:
        client = self.client()
        return RedisNonceStore(client, prefix=self.prefix), RedisRateLimiter(client, prefix=self.prefix)

    async def keys(self) -> list[bytes]:
        return [key async for key in self.clients[0].scan_iter(match=f"{self.prefix}*", count=1000)]

    async def close(self) -> None:
        try:
            if self.clients and (keys := await self.keys()):
                await self.clients[0].delete(*keys)
        finally:
            for client in self.clients:
                await client.aclose()


@dataclass
class Backend:
    name: str
    limiter: RateLimiter
    pass_time: Callable[[float], Awaitable[None]]


@pytest.fixture
async def redis_world() -> AsyncIterator[RedisWorld]:
    if not REDIS_URL:
        pytest.skip("set MEMO_TEST_REDIS_URL to run the Redis contract")
    world = RedisWorld(REDIS_URL)
    try:
        yield world
    finally:
        await world.close()


@pytest.fixture(params=["in-process", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "in-process":
        clock = FixedClock()

        async def advance(seconds: float) -> None:
            clock.advance(seconds=seconds)

        return Backend("in-process", InProcessRateLimiter(clock), advance)
    world: RedisWorld = request.getfixturevalue("redis_world")
    return Backend("redis", world.instance()[1], asyncio.sleep)


@dataclass
class SqlWorld:
    """One database seen by any number of processes, each with its own engine and store, on one fake clock."""

    url: str
    clock: FixedClock = field(default_factory=FixedClock)
    engines: list[AsyncEngine] = field(default_factory=list)
    stores: list[SqlNonceStore] = field(default_factory=list)

    def instance(self, **options: float) -> SqlNonceStore:
        engine = create_engine(self.url)
        store = SqlNonceStore(engine, self.clock, **options)  # type: ignore[arg-type]
        self.engines.append(engine)
        self.stores.append(store)
        return store

    async def rows(self) -> int:
        async with self.engines[0].connect() as connection:
            count: int = (await connection.execute(select(func.count()).select_from(NonceRow))).scalar_one()
            return count

    async def close(self) -> None:
        try:
            for store in self.stores:
                await store.aclose()
            if self.engines:  # PostgreSQL's database outlives the test: leave it empty for the next one
                async with self.engines[0].begin() as connection:
                    await connection.execute(text("DELETE FROM nonces"))
        finally:
            for engine in self.engines:
                await engine.dispose()


def sql_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database: a copy of the session's SQLite template, or the session's PostgreSQL database."""
    if kind == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    path = tmp_path / "memo.db"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def sql_world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlWorld]:
    world = SqlWorld(sql_url(request.param, request, tmp_path))
    try:
        yield world
    finally:
        await world.close()


@pytest.fixture
async def sql_worlds() -> AsyncIterator[list[SqlWorld]]:
    """Closes the worlds a synchronous fixture opened (one that can still ask for the async `redis_world`)."""
    worlds: list[SqlWorld] = []
    try:
        yield worlds
    finally:
        for world in worlds:
            await world.close()


@dataclass
class Nonces:
    name: str
    store: NonceStore
    pass_time: Callable[[float], Awaitable[None]]


@pytest.fixture(params=["in-process", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("redis", marks=pytest.mark.redis)])
def nonces(request: pytest.FixtureRequest, tmp_path: Path, sql_worlds: list[SqlWorld]) -> Nonces:
    if request.param == "in-process":
        clock = FixedClock()

        async def advance(seconds: float) -> None:
            clock.advance(seconds=seconds)

        return Nonces("in-process", InProcessNonceStore(clock), advance)
    if request.param == "redis":
        return Nonces("redis", request.getfixturevalue("redis_world").instance()[0], asyncio.sleep)
    world = SqlWorld(sql_url(request.param, request, tmp_path))
    sql_worlds.append(world)

    async def advance_world(seconds: float) -> None:
        world.clock.advance(seconds=seconds)

    return Nonces(request.param, world.instance(), advance_world)


# --- nonce store contract ---------------------------------------------------------------------------------------


async def test_a_nonce_is_new_once_and_then_seen(nonces: Nonces) -> None:
    assert await nonces.store.remember("mk_key_0001", "nonce-0123456789abcdef", 360) is True
    assert await nonces.store.remember("mk_key_0001", "nonce-0123456789abcdef", 360) is False


async def test_the_same_nonce_under_another_scope_is_new(nonces: Nonces) -> None:
    assert await nonces.store.remember("mk_key_0001", "same-nonce-000000", 360)
    assert await nonces.store.remember("mk_key_0002", "same-nonce-000000", 360)


@pytest.mark.parametrize(("first", "second"), [(("ab", "c"), ("a", "bc")), (("a:b", "c"), ("a", "b:c"))])
async def test_scope_and_nonce_cannot_run_into_each_other(nonces: Nonces, first: tuple[str, str],
                                                          second: tuple[str, str]) -> None:
    assert await nonces.store.remember(*first, 60)
    assert await nonces.store.remember(*second, 60)


async def test_hostile_scopes_and_nonces_are_still_told_apart(nonces: Nonces) -> None:
    huge, odd = "x" * 100_000, "nonce\n\x00:~ä\udcff"
    for scope, nonce in [(huge, "n" * 16), ("mk_key_0001", huge), (odd, odd), ("~" + "a" * 64, "nonce-0123456789ab")]:
        assert await nonces.store.remember(scope, nonce, 60), (scope[:20], nonce[:20])
        assert not await nonces.store.remember(scope, nonce, 60), (scope[:20], nonce[:20])


async def test_a_nonce_is_forgotten_once_its_ttl_has_passed(nonces: Nonces) -> None:
    assert await nonces.store.remember("scope", "nonce-0123456789ab", 1)
    await nonces.pass_time(0.5)
    assert not await nonces.store.remember("scope", "nonce-0123456789ab", 1)
    await nonces.pass_time(0.7)
    assert await nonces.store.remember("scope", "nonce-0123456789ab", 1)


async def test_concurrent_uses_of_one_nonce_let_exactly_one_through(nonces: Nonces) -> None:
    results = await asyncio.gather(*(nonces.store.remember("scope", "nonce-0123456789ab", 60) for _ in range(200)))
    assert results.count(True) == 1


async def test_a_nonce_ttl_must_be_positive(nonces: Nonces) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        await nonces.store.remember("scope", "nonce-0123456789ab", 0)


# shared records: a v1 read's signature may be seen again, but only by reads, and never after a write used it


async def test_shared_uses_of_a_shared_record_all_pass(nonces: Nonces) -> None:
    for _ in range(3):
        assert await nonces.store.remember("v1", "a" * 64, 360, shared=True)


async def test_a_use_that_is_not_shared_is_refused_on_a_shared_record(nonces: Nonces) -> None:
    assert await nonces.store.remember("v1", "a" * 64, 360, shared=True)
    assert not await nonces.store.remember("v1", "a" * 64, 360)


async def test_once_used_unshared_a_record_refuses_shared_uses_too(nonces: Nonces) -> None:
    assert await nonces.store.remember("v1", "a" * 64, 360, shared=True)
    assert not await nonces.store.remember("v1", "a" * 64, 360)  # refused, yet it counts as a use
    assert not await nonces.store.remember("v1", "a" * 64, 360, shared=True)


async def test_a_shared_use_is_refused_on_a_record_made_unshared(nonces: Nonces) -> None:
    assert await nonces.store.remember("v1", "a" * 64, 360)
    assert not await nonces.store.remember("v1", "a" * 64, 360, shared=True)


async def test_a_refused_use_keeps_the_records_expiry(nonces: Nonces) -> None:
    assert await nonces.store.remember("v1", "a" * 64, 1, shared=True)
    await nonces.pass_time(0.5)
    assert not await nonces.store.remember("v1", "a" * 64, 1)
    await nonces.pass_time(0.7)  # 1.2 s after the first use: the record it made has expired, refused use or not
    assert await nonces.store.remember("v1", "a" * 64, 1)


async def test_an_expired_record_is_new_again_in_either_mode(nonces: Nonces) -> None:
    assert await nonces.store.remember("v1", "a" * 64, 1)
    await nonces.pass_time(1.2)
    assert await nonces.store.remember("v1", "a" * 64, 1, shared=True)
    assert await nonces.store.remember("v1", "a" * 64, 1, shared=True)
    await nonces.pass_time(1.2)
    assert await nonces.store.remember("v1", "a" * 64, 1)
    assert not await nonces.store.remember("v1", "a" * 64, 1, shared=True)


async def test_concurrent_shared_uses_all_pass_and_a_later_unshared_one_is_refused(nonces: Nonces) -> None:
    results = await asyncio.gather(*(nonces.store.remember("v1", "a" * 64, 60, shared=True) for _ in range(50)))
    assert all(results)
    assert not await nonces.store.remember("v1", "a" * 64, 60)


# --- rate limiter contract --------------------------------------------------------------------------------------


async def test_hits_count_down_to_the_limit_and_then_refuse(backend: Backend) -> None:
    decisions = [await backend.limiter.hit("key:a", limit=3, window_s=60) for _ in range(4)]
    assert [(d.allowed, d.remaining) for d in decisions] == [(True, 2), (True, 1), (True, 0), (False, 0)]
    assert {d.limit for d in decisions} == {3}
    assert {d.reset_after_s for d in decisions} == {60}


async def test_peek_counts_nothing(backend: Backend) -> None:
    await backend.limiter.hit("ip:192.0.2.1", limit=3, window_s=60)
    for _ in range(5):
        decision = await backend.limiter.peek("ip:192.0.2.1", limit=3, window_s=60)
        assert (decision.allowed, decision.remaining, decision.reset_after_s) == (True, 2, 60)
    assert (await backend.limiter.hit("ip:192.0.2.1", limit=3, window_s=60)).remaining == 1


async def test_peek_refuses_once_the_limit_is_used_up(backend: Backend) -> None:
    for _ in range(2):
        await backend.limiter.hit("ip:192.0.2.1", limit=2, window_s=60)
    decision = await backend.limiter.peek("ip:192.0.2.1", limit=2, window_s=60)
    assert (decision.allowed, decision.remaining) == (False, 0)


async def test_peek_on_an_unseen_key_offers_the_whole_limit(backend: Backend) -> None:
    decision = await backend.limiter.peek("ip:unseen", limit=300, window_s=900)
    assert (decision.allowed, decision.remaining, decision.reset_after_s) == (True, 300, 900)


async def test_a_limit_of_zero_refuses_everything(backend: Backend) -> None:
    decision = await backend.limiter.hit("key:a", limit=0, window_s=60)
    assert (decision.allowed, decision.remaining) == (False, 0)
    assert not (await backend.limiter.peek("key:b", limit=0, window_s=60)).allowed


async def test_reset_after_counts_down_in_whole_seconds_rounded_up(backend: Backend) -> None:
    await backend.limiter.hit("key:a", limit=5, window_s=3)
    await backend.pass_time(1.2)
    assert (await backend.limiter.hit("key:a", limit=5, window_s=3)).reset_after_s == 2
    assert (await backend.limiter.peek("key:a", limit=5, window_s=3)).reset_after_s == 2


async def test_a_new_window_starts_once_the_old_one_has_ended(backend: Backend) -> None:
    for _ in range(3):
        await backend.limiter.hit("key:a", limit=2, window_s=1)
    assert not (await backend.limiter.peek("key:a", limit=2, window_s=1)).allowed
    await backend.pass_time(1.2)
    assert (await backend.limiter.peek("key:a", limit=2, window_s=1)).remaining == 2
    decision = await backend.limiter.hit("key:a", limit=2, window_s=1)
    assert (decision.allowed, decision.remaining, decision.reset_after_s) == (True, 1, 1)


async def test_later_hits_do_not_stretch_the_window(backend: Backend) -> None:
    await backend.limiter.hit("key:a", limit=5, window_s=1)  # opens the window
    await backend.pass_time(0.6)
    assert (await backend.limiter.hit("key:a", limit=5, window_s=1)).remaining == 3
    await backend.pass_time(0.6)  # 1.2 s after the first hit, 0.6 s after the last: a fixed window has ended
    assert (await backend.limiter.hit("key:a", limit=5, window_s=1)).remaining == 4


async def test_keys_are_limited_independently(backend: Backend) -> None:
    await backend.limiter.hit("key:a", limit=1, window_s=60)
    assert not (await backend.limiter.hit("key:a", limit=1, window_s=60)).allowed
    assert (await backend.limiter.hit("key:b", limit=1, window_s=60)).allowed
    assert (await backend.limiter.peek("key:c", limit=1, window_s=60)).allowed


async def test_hostile_limiter_keys_are_still_told_apart(backend: Backend) -> None:
    for key in ("auth-fail:" + "9" * 100_000, "auth-fail:fe80::1%eth0", "auth-fail:\n\x00~"):
        assert (await backend.limiter.hit(key, limit=1, window_s=60)).allowed
        assert not (await backend.limiter.hit(key, limit=1, window_s=60)).allowed


async def test_concurrent_hits_are_all_counted(backend: Backend) -> None:
    decisions = await asyncio.gather(*(backend.limiter.hit("key:a", limit=50, window_s=60) for _ in range(80)))
    assert sum(d.allowed for d in decisions) == 50
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(50))


@pytest.mark.parametrize(("limit", "window_s"), [(-1, 60), (5, 0), (5, -1), (5, float("nan")), (5, float("inf"))])
async def test_a_limit_needs_sane_bounds(backend: Backend, limit: int, window_s: float) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        await backend.limiter.hit("key:a", limit=limit, window_s=window_s)
    with pytest.raises(ValueError, match="rate limit"):
        await backend.limiter.peek("key:a", limit=limit, window_s=window_s)


# --- SQL: shared by every process and every restart ---------------------------------------------------------------


async def test_a_nonce_recorded_by_one_process_is_refused_by_another_and_after_a_restart(sql_world: SqlWorld) -> None:
    first, second = sql_world.instance(), sql_world.instance()
    assert await first.remember("mk_key_0001", "nonce-0123456789abcdef", 60)
    assert not await second.remember("mk_key_0001", "nonce-0123456789abcdef", 60)
    await first.aclose()
    restarted = sql_world.instance()
    assert not await restarted.remember("mk_key_0001", "nonce-0123456789abcdef", 60)
    assert await restarted.remember("mk_key_0002", "nonce-0123456789abcdef", 60)


async def test_processes_racing_on_one_nonce_let_exactly_one_through(sql_world: SqlWorld) -> None:
    """Each store has its own engine, as a worker process would; on PostgreSQL their claims truly overlap."""
    stores = [sql_world.instance() for _ in range(4)]
    exclusive = await asyncio.gather(*(store.remember("scope", "nonce-0123456789ab", 60)
                                       for store in stores for _ in range(20)))
    assert exclusive.count(True) == 1
    uses = [(store, shared) for store in stores for shared in (False, True) for _ in range(10)]
    mixed = await asyncio.gather(*(store.remember("scope", "nonce-mixed-000000", 60, shared=shared)
                                   for store, shared in uses))
    won_unshared = sum(won for won, (_, shared) in zip(mixed, uses, strict=True) if not shared)
    won_shared = sum(won for won, (_, shared) in zip(mixed, uses, strict=True) if shared)
    assert (won_unshared, min(won_shared, 1)) in {(1, 0), (0, 1)}  # one unshared use alone, or shared ones only


async def test_rows_follow_the_live_window_as_expired_ones_are_purged(sql_world: SqlWorld) -> None:
    store, ttl_s, per_second = sql_world.instance(purge_every=16, purge_batch=64), 5, 20
    largest = 0
    for second in range(30):
        for i in range(per_second):
            assert await store.remember("mk_key_0001", f"nonce-{second:04d}-{i:08d}", ttl_s)
        largest = max(largest, await sql_world.rows())
        sql_world.clock.advance(seconds=1)
    assert largest <= ttl_s * per_second + 16


async def test_a_purge_is_bounded_and_a_quiet_spell_drains_by_time(sql_world: SqlWorld) -> None:
    store = sql_world.instance(purge_every=100, purge_batch=101, purge_after_s=60)
    for i in range(150):
        await store.remember("scope", f"old-{i:08d}", 10)
    sql_world.clock.advance(seconds=61)  # no claim count reached: the time does it, one bounded batch
    await store.remember("scope", "first-after-the-pause", 10)
    assert await sql_world.rows() == 150 - 101 + 1


async def test_the_first_claim_of_a_new_process_purges_what_an_old_one_left(sql_world: SqlWorld) -> None:
    old = sql_world.instance(purge_every=10_000, purge_batch=10_001)
    for i in range(50):
        await old.remember("scope", f"old-{i:08d}", 10)
    sql_world.clock.advance(seconds=11)
    await sql_world.instance().remember("scope", "fresh-nonce-000000", 10)
    assert await sql_world.rows() == 1


async def test_the_purge_needs_a_batch_larger_than_its_period(sql_world: SqlWorld) -> None:
    with pytest.raises(ValueError, match="purge"):
        sql_world.instance(purge_every=64, purge_batch=64)


async def test_a_database_without_the_nonce_table_fails_closed(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'unmigrated.db'}")
    store = SqlNonceStore(engine, FixedClock())
    try:
        with pytest.raises(NonceStoreUnavailable):
            await store.remember("mk_key_0001", "nonce-0123456789ab", 60)
        with pytest.raises(NonceStoreUnavailable):  # the held connection was replaced, and fails the same way
            await store.remember("mk_key_0001", "nonce-0123456789ab", 60)
    finally:
        await store.aclose()
        await engine.dispose()


async def test_an_unreachable_postgresql_fails_nonces_closed_and_fast() -> None:
    engine = create_engine("postgresql+asyncpg://memo:hunter2-password@127.0.0.1:1/memo", connect_timeout_s=0.5)
    store = SqlNonceStore(engine, FixedClock())
    try:
        assert await elapsed(store.remember("mk_key_0001", "nonce-0123456789ab", 60), NonceStoreUnavailable) < FAST_S
    finally:
        await engine.dispose()


async def test_a_sqlite_claim_is_committed_by_the_time_it_returns(tmp_path: Path, sqlite_template: Path) -> None:
    """The claim joins the writer's group transaction; it returns only after that group's COMMIT, so another
    process (here, another engine) already sees it."""
    path = tmp_path / "memo.db"
    shutil.copyfile(sqlite_template, path)
    engine, other = create_engine(f"sqlite+aiosqlite:///{path}"), create_engine(f"sqlite+aiosqlite:///{path}")
    store = SqlNonceStore(engine, FixedClock())
    try:
        claims = await asyncio.gather(*(store.remember("mk_key_0001", f"nonce-{i:014d}", 60) for i in range(8)))
        assert all(claims)
        async with other.connect() as connection:
            assert (await connection.execute(select(func.count()).select_from(NonceRow))).scalar_one() == 8
        writer = writer_of(engine)
        assert writer is not None
        assert writer.commits < 8  # concurrent claims shared commits
    finally:
        await store.aclose()
        await engine.dispose()
        await other.dispose()


# --- Redis: shared by every instance ------------------------------------------------------------------------------


@pytest.mark.redis
async def test_a_nonce_used_on_one_instance_is_refused_on_another(redis_world: RedisWorld) -> None:
    (nonces_a, _), (nonces_b, _) = redis_world.instance(), redis_world.instance()
    assert await nonces_a.remember("mk_key_0001", "nonce-0123456789abcdef", 60)
    assert not await nonces_b.remember("mk_key_0001", "nonce-0123456789abcdef", 60)
    assert await nonces_b.remember("mk_key_0002", "nonce-0123456789abcdef", 60)
    assert not await nonces_a.remember("mk_key_0002", "nonce-0123456789abcdef", 60)


@pytest.mark.redis
async def test_instances_share_one_count_per_key(redis_world: RedisWorld) -> None:
    (_, limiter_a), (_, limiter_b) = redis_world.instance(), redis_world.instance()
    assert (await limiter_a.hit("key:a", limit=3, window_s=60)).remaining == 2
    assert (await limiter_b.hit("key:a", limit=3, window_s=60)).remaining == 1
    assert (await limiter_a.peek("key:a", limit=3, window_s=60)).remaining == 1
    assert (await limiter_b.hit("key:a", limit=3, window_s=60)).allowed
    assert not (await limiter_a.hit("key:a", limit=3, window_s=60)).allowed
    assert not (await limiter_b.peek("key:a", limit=3, window_s=60)).allowed


@pytest.mark.redis
async def test_instances_racing_on_one_nonce_and_one_key_stay_exact(redis_world: RedisWorld) -> None:
    instances = [redis_world.instance() for _ in range(4)]
    remembered = await asyncio.gather(*(nonces.remember("scope", "nonce-0123456789ab", 60)
                                        for nonces, _ in instances for _ in range(50)))
    assert remembered.count(True) == 1
    decisions = await asyncio.gather(*(limiter.hit("key:a", limit=100, window_s=60)
                                       for _, limiter in instances for _ in range(50)))
    assert sum(d.allowed for d in decisions) == 100


@pytest.mark.redis
async def test_keys_are_namespaced_and_bounded_whatever_the_input(redis_world: RedisWorld) -> None:
    nonces, limiter = redis_world.instance()
    await nonces.remember("mk_key_0001", "nonce-0123456789abcdef", 60)
    await nonces.remember("x" * 100_000, "y\n" * 50_000, 60)
    await limiter.hit("key:mk_key_0001", limit=5, window_s=60)
    await limiter.hit("auth-fail:" + "z" * 100_000, limit=5, window_s=60)
    keys = sorted(key.decode() for key in await redis_world.keys())
    p = redis_world.prefix
    assert f"{p}nonce:mk_key_0001:nonce-0123456789abcdef" in keys
    assert f"{p}rl:key:mk_key_0001" in keys
    assert len(keys) == 4
    assert max(len(key) - len(p) for key in keys) <= 140


@pytest.mark.redis
async def test_nonces_and_windows_carry_their_ttl_in_redis(redis_world: RedisWorld) -> None:
    nonces, limiter = redis_world.instance()
    await nonces.remember("mk_key_0001", "nonce-0123456789abcdef", 360)
    await limiter.hit("key:a", limit=5, window_s=900)
    client = redis_world.clients[0]
    assert 359_000 < await client.pttl(nonces.key("mk_key_0001", "nonce-0123456789abcdef")) <= 360_000
    assert 899_000 < await client.pttl(limiter.key("key:a")) <= 900_000


@pytest.mark.redis
async def test_the_limiter_survives_an_emptied_script_cache(redis_world: RedisWorld) -> None:
    """A restarted Redis has forgotten the scripts: the first call reloads them instead of failing."""
    _, limiter = redis_world.instance()
    await limiter.hit("key:a", limit=5, window_s=60)
    await redis_world.clients[0].script_flush()
    assert (await limiter.hit("key:a", limit=5, window_s=60)).remaining == 3
    assert (await limiter.peek("key:a", limit=5, window_s=60)).remaining == 3


@pytest.mark.redis
async def test_a_small_pool_serves_sustained_load_in_turn(redis_world: RedisWorld) -> None:
    """Callers queue for a connection in order, so load far above the pool size waits instead of failing.

    redis-py's BlockingConnectionPool fails this (~1-3% "No connection available" here): callers that come back
    for a connection overtake the ones already waiting until those time out.
    """
    client = redis_client(redis_world.url, timeout_s=0.5, max_connections=4)
    redis_world.clients.append(client)
    nonces = RedisNonceStore(client, prefix=redis_world.prefix)

    async def caller(number: int) -> list[bool]:
        return [await nonces.remember("scope", f"nonce-{number:08d}-{i:08d}", 60) for i in range(100)]

    results = await asyncio.gather(*(caller(number) for number in range(200)))
    assert all(all(made) for made in results)


@pytest.mark.redis
async def test_cancelled_calls_give_their_connection_back(redis_world: RedisWorld) -> None:
    client = redis_client(redis_world.url, timeout_s=0.5, max_connections=2)
    redis_world.clients.append(client)
    limiter = RedisRateLimiter(client, prefix=redis_world.prefix)
    calls = [asyncio.ensure_future(limiter.hit("key:a", limit=1_000, window_s=60)) for _ in range(50)]
    await asyncio.sleep(0)
    for call in calls[::2]:
        call.cancel()  # some while waiting for a slot, some in flight
    await asyncio.gather(*calls, return_exceptions=True)
    for _ in range(10):  # a leaked slot would leave these waiting for a connection that never comes back
        assert (await limiter.peek("key:a", limit=1_000, window_s=60)).allowed


@pytest.mark.redis
async def test_the_nonce_store_survives_an_emptied_script_cache(redis_world: RedisWorld) -> None:
    nonces, _ = redis_world.instance()
    assert await nonces.remember("mk_key_0001", "nonce-0123456789abcdef", 60)
    await redis_world.clients[0].script_flush()
    assert not await nonces.remember("mk_key_0001", "nonce-0123456789abcdef", 60)
    assert await nonces.remember("mk_key_0001", "nonce-0123456789abcdeg", 60)


@pytest.mark.redis
async def test_a_nonce_recorded_before_modes_existed_stays_exclusive(redis_world: RedisWorld) -> None:
    nonces, _ = redis_world.instance()
    await redis_world.clients[0].set(nonces.key("v1", "a" * 64), b"1", ex=60)  # what `SET NX` used to write
    assert not await nonces.remember("v1", "a" * 64, 60, shared=True)


@pytest.mark.redis
async def test_the_health_check_pings_redis(redis_world: RedisWorld) -> None:
    result = await RedisHealthCheck(redis_world.client()).check()
    assert (result.healthy, result.backend, result.detail, result.enabled) == (True, "redis", None, True)
    assert result.latency_ms is not None


# --- Redis faults: fail fast, nonces closed, limits open ------------------------------------------------------------


@pytest.fixture
async def closed_port_client() -> AsyncIterator[Redis]:
    client = redis_client(CLOSED_PORT_URL, timeout_s=0.5)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def silent_server_url() -> AsyncIterator[str]:
    """A TCP server that accepts connections, reads nothing and never answers: only a read timeout gets out."""
    held: list[asyncio.StreamWriter] = []

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://:hunter2-password@127.0.0.1:{port}/0"
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()


async def elapsed(work: Awaitable[object], error: type[Exception]) -> float:
    started = time.perf_counter()
    with pytest.raises(error):
        await work
    return time.perf_counter() - started


async def test_a_closed_port_fails_nonces_closed_and_fast(closed_port_client: Redis) -> None:
    nonces = RedisNonceStore(closed_port_client)
    assert await elapsed(nonces.remember("mk_key_0001", "nonce-0123456789ab", 60), NonceStoreUnavailable) < FAST_S


async def test_a_closed_port_makes_the_limiter_unavailable_fast(closed_port_client: Redis) -> None:
    limiter = RedisRateLimiter(closed_port_client)
    assert await elapsed(limiter.hit("key:a", limit=5, window_s=60), RateLimiterUnavailable) < FAST_S
    assert await elapsed(limiter.peek("key:a", limit=5, window_s=60), RateLimiterUnavailable) < FAST_S


async def test_a_closed_port_is_unhealthy_without_naming_the_url(closed_port_client: Redis) -> None:
    started = time.perf_counter()
    result = await RedisHealthCheck(closed_port_client).check()
    assert time.perf_counter() - started < FAST_S
    assert (result.healthy, result.backend) == (False, "redis")
    assert result.detail is not None
    assert "hunter2" not in result.detail
    assert "127.0.0.1" not in result.detail
    assert ":1" not in result.detail


async def test_a_silent_server_times_out_instead_of_hanging(silent_server_url: str) -> None:
    client = redis_client(silent_server_url, timeout_s=0.3)
    try:
        nonces, limiter = RedisNonceStore(client), RedisRateLimiter(client)
        assert await elapsed(nonces.remember("mk_key_0001", "nonce-0123456789ab", 60), NonceStoreUnavailable) < FAST_S
        assert await elapsed(limiter.hit("key:a", limit=5, window_s=60), RateLimiterUnavailable) < FAST_S
        assert await elapsed(limiter.peek("key:a", limit=5, window_s=60), RateLimiterUnavailable) < FAST_S
        started = time.perf_counter()
        result = await RedisHealthCheck(client, timeout_s=0.5).check()
        assert time.perf_counter() - started < FAST_S
        assert not result.healthy
        assert result.detail is not None
        assert "hunter2" not in result.detail
    finally:
        await client.aclose()


async def test_the_adapter_deadline_holds_even_with_lax_socket_timeouts(silent_server_url: str) -> None:
    """The adapters' own deadline bounds a call even when the client was built with long socket timeouts."""
    client = redis_client(silent_server_url, timeout_s=30)
    try:
        nonces = RedisNonceStore(client, timeout_s=0.3)
        assert await elapsed(nonces.remember("mk_key_0001", "nonce-0123456789ab", 60), NonceStoreUnavailable) < 1
        limiter = RedisRateLimiter(client, timeout_s=0.3)
        assert await elapsed(limiter.hit("key:a", limit=5, window_s=60), RateLimiterUnavailable) < 1
        result = await RedisHealthCheck(client, timeout_s=0.3).check()
        assert (result.healthy, result.detail) == (False, "no answer within 0.3 s")
    finally:
        await client.aclose()


@pytest.mark.parametrize("timeout_s", [0, -1, float("nan"), float("inf")])
def test_timeouts_must_be_finite_and_positive(timeout_s: float) -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        redis_client("redis://127.0.0.1:6379/15", timeout_s=timeout_s)
