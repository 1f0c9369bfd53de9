"""One contract for RequestAdmission, run on every store a profile admits with: in process (the `test` profile), the
SQL nonce store with in-process counters (no REDIS_URL, SQLite always and PostgreSQL when MEMO_TEST_POSTGRES_URL is
set) and Redis (one script, when MEMO_TEST_REDIS_URL is set). Then what only Redis promises: one round trip per
admission, on the keys the limiter and the nonce store use, failing closed.

Each backend comes with the limiter the use case counts failures on, so "the address has used up its failures" is
set up the way it happens in production. Redis tests write under their own key prefix (test_limits_contract's
RedisWorld) and delete only those keys.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from memo.adapters.limits.memory import InProcessNonceStore, InProcessRateLimiter
from memo.adapters.limits.redis import RedisNonceStore, RedisRateLimiter, redis_client
from memo.adapters.limits.redis_admission import RedisRequestAdmission
from memo.adapters.limits.stepwise import StepwiseRequestAdmission
from memo.adapters.system import FixedClock
from memo.application.admission import AddressBlocked, Admission, Admitted, Limit, ReplayClaim, Replayed
from memo.application.errors import NonceStoreUnavailable
from memo.application.ports import NonceStore, RateLimiter, RequestAdmission
from tests.integration.test_limits_contract import CLOSED_PORT_URL, FAST_S, RedisWorld, SqlWorld, elapsed, sql_url
from tests.support.round_trips import RoundTrips, count_round_trips

REDIS_URL = os.environ.get("MEMO_TEST_REDIS_URL")
CLAIM = ReplayClaim(scope="mk_key_0001", nonce="nonce-0123456789abcdef", ttl_s=60, refusal="Seen.",
                    refusal_details="Send a fresh nonce.")
ADDRESS = Limit(key="auth-fail:192.0.2.1", limit=3, window_s=60)
KEY = Limit(key="key:mk_key_0001", limit=5, window_s=60)


@dataclass
class Backend:
    name: str
    admission: RequestAdmission
    failures: RateLimiter  # the limiter AuthenticateRequest counts failed authentications on
    pass_time: Callable[[float], Awaitable[None]]


@pytest.fixture
async def redis_world() -> AsyncIterator[RedisWorld]:
    if not REDIS_URL:
        pytest.skip("set MEMO_TEST_REDIS_URL to run the Redis admission")
    world = RedisWorld(REDIS_URL)
    try:
        yield world
    finally:
        await world.close()


@pytest.fixture
async def sql_worlds() -> AsyncIterator[list[SqlWorld]]:
    worlds: list[SqlWorld] = []
    try:
        yield worlds
    finally:
        for world in worlds:
            await world.close()


@pytest.fixture(params=["in-process", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest, tmp_path: Path, sql_worlds: list[SqlWorld]) -> Backend:
    if request.param == "redis":
        world: RedisWorld = request.getfixturevalue("redis_world")
        client = world.client()
        return Backend("redis", RedisRequestAdmission(client, prefix=world.prefix),
                       RedisRateLimiter(client, prefix=world.prefix), asyncio.sleep)
    store: NonceStore
    if request.param == "in-process":
        clock = FixedClock()
        store = InProcessNonceStore(clock)
    else:
        sql = SqlWorld(sql_url(request.param, request, tmp_path))
        sql_worlds.append(sql)
        clock, store = sql.clock, sql.instance()
    counters = InProcessRateLimiter(clock)

    async def advance(seconds: float) -> None:
        clock.advance(seconds=seconds)

    return Backend(request.param, StepwiseRequestAdmission(store, counters), counters, advance)


def claim(nonce: str = CLAIM.nonce, *, shared: bool = False, scope: str = CLAIM.scope) -> ReplayClaim:
    return replace(CLAIM, nonce=nonce, shared=shared, scope=scope)


async def admit(backend: Backend, replay: ReplayClaim = CLAIM, *, address: Limit = ADDRESS,
                key: Limit = KEY) -> Admission:
    return await backend.admission.admit(replay, address=address, key=key)


async def admitted(backend: Backend, replay: ReplayClaim = CLAIM, *, address: Limit = ADDRESS,
                   key: Limit = KEY) -> Admitted:
    admission = await admit(backend, replay, address=address, key=key)
    assert isinstance(admission, Admitted), admission
    return admission


async def fail(backend: Backend, times: int, address: Limit = ADDRESS) -> None:
    for _ in range(times):
        await backend.failures.hit(address.key, limit=address.limit, window_s=address.window_s)


# --- the contract ---------------------------------------------------------------------------------------------------


async def test_a_fresh_claim_is_admitted_and_counts_the_key(backend: Backend) -> None:
    rate = (await admitted(backend)).rate
    assert (rate.allowed, rate.limit, rate.remaining, rate.reset_after_s) == (True, 5, 4, 60)


async def test_a_claim_made_before_is_replayed_and_its_key_not_counted(backend: Backend) -> None:
    await admitted(backend)
    assert isinstance(await admit(backend), Replayed)
    assert (await admitted(backend, claim("nonce-0123456789abcdeg"))).rate.remaining == 3  # the replay cost nothing


async def test_the_same_nonce_under_another_scope_is_admitted(backend: Backend) -> None:
    await admitted(backend)
    await admitted(backend, claim(scope="mk_key_0002"))


async def test_an_address_with_its_failures_used_up_is_blocked_and_nothing_is_claimed_or_counted(
        backend: Backend) -> None:
    await fail(backend, 3)
    blocked = await admit(backend)
    assert isinstance(blocked, AddressBlocked)
    decision = blocked.decision
    assert (decision.allowed, decision.limit, decision.remaining) == (False, 3, 0)
    assert 0 < decision.reset_after_s <= 60
    elsewhere = replace(ADDRESS, key="auth-fail:192.0.2.2")
    assert (await admitted(backend, address=elsewhere)).rate.remaining == 4  # same claim: it was not made


async def test_an_address_short_of_its_limit_is_admitted(backend: Backend) -> None:
    await fail(backend, 2)
    await admitted(backend)


async def test_an_address_limit_of_zero_blocks_every_request(backend: Backend) -> None:
    assert isinstance(await admit(backend, address=replace(ADDRESS, limit=0)), AddressBlocked)


async def test_a_request_over_its_keys_limit_has_still_used_its_nonce(backend: Backend) -> None:
    key = replace(KEY, limit=1)
    await admitted(backend, key=key)
    over = await admitted(backend, claim("nonce-0123456789abcdeg"), key=key)
    assert (over.rate.allowed, over.rate.remaining) == (False, 0)
    assert isinstance(await admit(backend, claim("nonce-0123456789abcdeg"), key=key), Replayed)


async def test_shared_claims_repeat_until_one_that_is_not_shared(backend: Backend) -> None:
    read = claim("a" * 64, scope="v1", shared=True)
    await admitted(backend, read)
    await admitted(backend, read)
    assert isinstance(await admit(backend, claim("a" * 64, scope="v1")), Replayed)
    assert isinstance(await admit(backend, read), Replayed)  # once a write used it, no read may


async def test_a_claim_that_is_not_shared_refuses_a_later_shared_one(backend: Backend) -> None:
    await admitted(backend, claim("b" * 64, scope="v1"))
    assert isinstance(await admit(backend, claim("b" * 64, scope="v1", shared=True)), Replayed)


async def test_the_key_limit_is_exact_under_concurrent_admissions(backend: Backend) -> None:
    key = replace(KEY, limit=20)
    answers = await asyncio.gather(*(admit(backend, claim(f"nonce-{i:016d}"), key=key) for i in range(30)))
    assert all(isinstance(answer, Admitted) for answer in answers)
    assert sum(answer.rate.allowed for answer in answers if isinstance(answer, Admitted)) == 20


async def test_concurrent_admissions_of_one_claim_admit_exactly_one(backend: Backend) -> None:
    answers = await asyncio.gather(*(admit(backend) for _ in range(20)))
    assert sum(isinstance(answer, Admitted) for answer in answers) == 1
    assert sum(isinstance(answer, Replayed) for answer in answers) == 19


async def test_the_keys_window_is_opened_by_its_first_count_and_not_stretched(backend: Backend) -> None:
    key = replace(KEY, limit=2, window_s=1)
    await admitted(backend, claim("nonce-0000000000000001"), key=key)
    await backend.pass_time(0.6)
    assert (await admitted(backend, claim("nonce-0000000000000002"), key=key)).rate.remaining == 0
    await backend.pass_time(0.6)  # 1.2 s after the first count: a new window, whatever came in between
    assert (await admitted(backend, claim("nonce-0000000000000003"), key=key)).rate.remaining == 1


async def test_a_claim_is_kept_for_its_ttl_and_then_forgotten(backend: Backend) -> None:
    short = replace(CLAIM, ttl_s=1)
    await admitted(backend, short)
    assert isinstance(await admit(backend, short), Replayed)
    await backend.pass_time(1.2)
    await admitted(backend, short)


async def test_a_claim_needs_a_positive_ttl(backend: Backend) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        await admit(backend, replace(CLAIM, ttl_s=0))


@pytest.mark.parametrize("bad", [Limit(key="key:a", limit=-1, window_s=60),
                                 Limit(key="key:a", limit=5, window_s=float("nan"))])
async def test_a_limit_needs_sane_bounds(backend: Backend, bad: Limit) -> None:
    with pytest.raises(ValueError, match="limit"):
        await admit(backend, key=bad)


# --- Redis: one round trip, shared keys, failing closed -------------------------------------------------------------


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> RoundTrips:
    return count_round_trips(monkeypatch)


@pytest.mark.redis
async def test_an_admission_is_one_redis_round_trip_whatever_it_answers(redis_world: RedisWorld,
                                                                        round_trips: RoundTrips) -> None:
    client = redis_world.client()
    admission, failures = RedisRequestAdmission(client, prefix=redis_world.prefix), RedisRateLimiter(
        client, prefix=redis_world.prefix)
    backend = Backend("redis", admission, failures, asyncio.sleep)
    await admitted(backend, claim("nonce-warming-up-00001"))  # the pool's first connection says hello first
    answers = []
    for step in ("admitted", "replayed", "blocked"):
        if step == "blocked":
            await fail(backend, 3)
        round_trips.commands.clear()
        answers.append(type(await admit(backend)).__name__)
        assert round_trips.names() == ["EVALSHA"], step
    assert answers == ["Admitted", "Replayed", "AddressBlocked"]


@pytest.mark.redis
async def test_the_admission_uses_the_nonce_stores_and_the_limiters_keys(redis_world: RedisWorld) -> None:
    """So the failures the use case counts are the ones the script reads, and instances still running the three-call
    code during a rolling deploy share every nonce and count."""
    client = redis_world.client()
    admission = RedisRequestAdmission(client, prefix=redis_world.prefix)
    nonces, limiter = RedisNonceStore(client, prefix=redis_world.prefix), RedisRateLimiter(client,
                                                                                          prefix=redis_world.prefix)
    await admission.admit(CLAIM, address=ADDRESS, key=KEY)
    assert not await nonces.remember(CLAIM.scope, CLAIM.nonce, 60)
    assert (await limiter.peek(KEY.key, limit=5, window_s=60)).remaining == 4
    assert await nonces.remember(CLAIM.scope, "nonce-claimed-elsewhere", 60)
    assert isinstance(await admission.admit(claim("nonce-claimed-elsewhere"), address=ADDRESS, key=KEY), Replayed)
    assert 59_000 < await client.pttl(nonces.key(CLAIM.scope, CLAIM.nonce)) <= 60_000
    assert 59_000 < await client.pttl(limiter.key(KEY.key)) <= 60_000


@pytest.mark.redis
async def test_a_nonce_recorded_before_modes_existed_stays_exclusive_for_the_admission(
        redis_world: RedisWorld) -> None:
    client = redis_world.client()
    await client.set(RedisNonceStore(client, prefix=redis_world.prefix).key("v1", "c" * 64), b"1", ex=60)
    admission = RedisRequestAdmission(client, prefix=redis_world.prefix)
    assert isinstance(await admission.admit(claim("c" * 64, scope="v1", shared=True), address=ADDRESS, key=KEY),
                      Replayed)


@pytest.mark.redis
async def test_the_admission_survives_an_emptied_script_cache(redis_world: RedisWorld) -> None:
    client = redis_world.client()
    admission = RedisRequestAdmission(client, prefix=redis_world.prefix)
    await admission.admit(CLAIM, address=ADDRESS, key=KEY)
    await client.script_flush()
    assert isinstance(await admission.admit(CLAIM, address=ADDRESS, key=KEY), Replayed)
    admitted_again = await admission.admit(claim("nonce-after-the-flush"), address=ADDRESS, key=KEY)
    assert isinstance(admitted_again, Admitted)
    assert admitted_again.rate.remaining == 3


async def test_a_closed_port_fails_the_admission_closed_and_fast() -> None:
    client = redis_client(CLOSED_PORT_URL, timeout_s=0.5)
    try:
        admission = RedisRequestAdmission(client)
        assert await elapsed(admission.admit(CLAIM, address=ADDRESS, key=KEY), NonceStoreUnavailable) < FAST_S
    finally:
        await client.aclose()


async def test_a_silent_server_fails_the_admission_closed_within_its_deadline() -> None:
    held: list[asyncio.StreamWriter] = []

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    client = redis_client(f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}/0", timeout_s=30)
    try:
        admission = RedisRequestAdmission(client, timeout_s=0.3)
        assert await elapsed(admission.admit(CLAIM, address=ADDRESS, key=KEY), NonceStoreUnavailable) < 1
    finally:
        await client.aclose()
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()
