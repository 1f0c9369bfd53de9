"""InProcessNonceStore and InProcessRateLimiter: exact expiry, atomicity under asyncio, memory bounded by the window."""

from __future__ import annotations

import asyncio

import pytest

from memo.adapters.limits.memory import PURGE_BATCH, InProcessNonceStore, InProcessRateLimiter
from memo.adapters.system import FixedClock
from memo.application.errors import NonceStoreUnavailable


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


# --- nonces -----------------------------------------------------------------------------------------------------


async def test_a_nonce_is_new_once_and_then_seen(clock: FixedClock) -> None:
    store = InProcessNonceStore(clock)
    assert await store.remember("mk_key_0001", "nonce-0123456789abcdef", 360)
    assert not await store.remember("mk_key_0001", "nonce-0123456789abcdef", 360)


async def test_nonces_are_kept_apart_per_scope(clock: FixedClock) -> None:
    store = InProcessNonceStore(clock)
    assert await store.remember("mk_key_0001", "same-nonce-000000", 360)
    assert await store.remember("mk_key_0002", "same-nonce-000000", 360)


async def test_scope_and_nonce_cannot_run_into_each_other(clock: FixedClock) -> None:
    store = InProcessNonceStore(clock)
    assert await store.remember("ab", "c", 60)
    assert await store.remember("a", "bc", 60)


async def test_a_nonce_is_remembered_until_its_ttl_has_passed(clock: FixedClock) -> None:
    store = InProcessNonceStore(clock)
    await store.remember("scope", "nonce", 360)
    clock.advance(seconds=359.999)
    assert not await store.remember("scope", "nonce", 360)
    clock.advance(seconds=0.001)
    assert await store.remember("scope", "nonce", 360)


async def test_concurrent_uses_of_one_nonce_let_exactly_one_through(clock: FixedClock) -> None:
    store = InProcessNonceStore(clock)
    results = await asyncio.gather(*(store.remember("scope", "nonce", 60) for _ in range(200)))
    assert results.count(True) == 1


async def test_a_flood_of_fresh_nonces_never_holds_more_than_the_window(clock: FixedClock) -> None:
    store, ttl_s, per_second = InProcessNonceStore(clock), 10, 100
    largest = 0
    for second in range(60):
        for i in range(per_second):
            assert await store.remember("mk_key_0001", f"nonce-{second:04d}-{i:08d}", ttl_s)
        largest = max(largest, len(store))
        clock.advance(seconds=1)
    assert largest <= ttl_s * per_second + PURGE_BATCH


async def test_expired_nonces_drain_after_a_quiet_spell_a_batch_per_call(clock: FixedClock) -> None:
    store = InProcessNonceStore(clock)
    for i in range(5_000):
        await store.remember("scope", f"old-{i}", 10)
    clock.advance(seconds=3600)
    await store.remember("scope", "first-after-the-pause", 10)
    assert len(store) == 5_000 - PURGE_BATCH + 1  # no single call pays for the whole backlog
    for i in range(5_000 // PURGE_BATCH + 1):
        await store.remember("scope", f"new-{i}", 10)
    assert len(store) == 5_000 // PURGE_BATCH + 2


async def test_a_full_store_refuses_rather_than_forget_a_live_nonce(clock: FixedClock) -> None:
    store = InProcessNonceStore(clock, max_entries=3)
    for nonce in ("a", "b", "c"):
        await store.remember("scope", nonce, 60)
    with pytest.raises(NonceStoreUnavailable):
        await store.remember("scope", "d", 60)
    assert not await store.remember("scope", "a", 60)  # still known: a replay is still caught


async def test_a_full_store_makes_room_from_expired_nonces(clock: FixedClock) -> None:
    store = InProcessNonceStore(clock, max_entries=3)
    for nonce in ("a", "b", "c"):
        await store.remember("scope", nonce, 60)
    clock.advance(seconds=60)
    assert await store.remember("scope", "d", 60)


async def test_a_nonce_ttl_must_be_positive(clock: FixedClock) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        await InProcessNonceStore(clock).remember("scope", "nonce", 0)


# --- rate limits ----------------------------------------------------------------------------------------------------


async def test_hits_count_down_to_the_limit_and_then_refuse(clock: FixedClock) -> None:
    limiter = InProcessRateLimiter(clock)
    decisions = [await limiter.hit("key:a", limit=3, window_s=60) for _ in range(4)]
    assert [(d.allowed, d.remaining) for d in decisions] == [(True, 2), (True, 1), (True, 0), (False, 0)]
    assert {d.limit for d in decisions} == {3}
    assert {d.reset_after_s for d in decisions} == {60}


async def test_peek_counts_nothing(clock: FixedClock) -> None:
    limiter = InProcessRateLimiter(clock)
    await limiter.hit("ip:192.0.2.1", limit=3, window_s=60)
    for _ in range(5):
        decision = await limiter.peek("ip:192.0.2.1", limit=3, window_s=60)
        assert (decision.allowed, decision.remaining) == (True, 2)
    assert (await limiter.hit("ip:192.0.2.1", limit=3, window_s=60)).remaining == 1


async def test_peek_refuses_once_the_limit_is_used_up(clock: FixedClock) -> None:
    limiter = InProcessRateLimiter(clock)
    for _ in range(2):
        await limiter.hit("ip:192.0.2.1", limit=2, window_s=60)
    decision = await limiter.peek("ip:192.0.2.1", limit=2, window_s=60)
    assert (decision.allowed, decision.remaining) == (False, 0)


async def test_peek_on_an_unseen_key_offers_the_whole_limit(clock: FixedClock) -> None:
    decision = await InProcessRateLimiter(clock).peek("ip:unseen", limit=300, window_s=900)
    assert (decision.allowed, decision.remaining, decision.reset_after_s) == (True, 300, 900)


async def test_reset_after_counts_down_in_whole_seconds_rounded_up(clock: FixedClock) -> None:
    limiter = InProcessRateLimiter(clock)
    await limiter.hit("key:a", limit=5, window_s=60)
    clock.advance(seconds=10.5)
    assert (await limiter.hit("key:a", limit=5, window_s=60)).reset_after_s == 50
    assert (await limiter.peek("key:a", limit=5, window_s=60)).reset_after_s == 50


async def test_a_new_window_starts_once_the_old_one_has_ended(clock: FixedClock) -> None:
    limiter = InProcessRateLimiter(clock)
    for _ in range(3):
        await limiter.hit("key:a", limit=2, window_s=60)
    clock.advance(seconds=60)
    decision = await limiter.hit("key:a", limit=2, window_s=60)
    assert (decision.allowed, decision.remaining, decision.reset_after_s) == (True, 1, 60)


async def test_keys_are_limited_independently(clock: FixedClock) -> None:
    limiter = InProcessRateLimiter(clock)
    await limiter.hit("key:a", limit=1, window_s=60)
    assert not (await limiter.hit("key:a", limit=1, window_s=60)).allowed
    assert (await limiter.hit("key:b", limit=1, window_s=60)).allowed


async def test_a_limit_of_zero_refuses_everything(clock: FixedClock) -> None:
    decision = await InProcessRateLimiter(clock).hit("key:a", limit=0, window_s=60)
    assert (decision.allowed, decision.remaining) == (False, 0)


async def test_concurrent_hits_are_all_counted(clock: FixedClock) -> None:
    limiter = InProcessRateLimiter(clock)
    decisions = await asyncio.gather(*(limiter.hit("key:a", limit=50, window_s=60) for _ in range(80)))
    assert sum(d.allowed for d in decisions) == 50
    assert max(d.remaining for d in decisions) == 49


async def test_an_address_flood_keeps_the_limiter_within_max_keys(clock: FixedClock) -> None:
    limiter = InProcessRateLimiter(clock, max_keys=100)
    for i in range(1_000):
        await limiter.hit(f"ip:198.51.100.{i}", limit=5, window_s=60)
    assert len(limiter) == 100


async def test_when_full_the_window_closest_to_its_end_is_forgotten_first(clock: FixedClock) -> None:
    limiter = InProcessRateLimiter(clock, max_keys=2)
    await limiter.hit("ip:oldest", limit=1, window_s=60)
    clock.advance(seconds=1)
    await limiter.hit("ip:newer", limit=1, window_s=60)
    await limiter.hit("ip:newest", limit=1, window_s=60)
    assert (await limiter.peek("ip:oldest", limit=1, window_s=60)).allowed
    assert not (await limiter.peek("ip:newer", limit=1, window_s=60)).allowed


async def test_ended_windows_are_purged_as_calls_come_in(clock: FixedClock) -> None:
    limiter = InProcessRateLimiter(clock)
    for i in range(500):
        await limiter.hit(f"ip:{i}", limit=5, window_s=60)
    clock.advance(seconds=61)
    for _ in range(500 // PURGE_BATCH + 1):
        await limiter.hit("key:a", limit=5, window_s=60)
    assert len(limiter) == 1


@pytest.mark.parametrize(("limit", "window_s"), [(-1, 60), (5, 0), (5, -1), (5, float("nan")), (5, float("inf"))])
async def test_a_limit_needs_sane_bounds(clock: FixedClock, limit: int, window_s: float) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        await InProcessRateLimiter(clock).hit("key:a", limit=limit, window_s=window_s)
