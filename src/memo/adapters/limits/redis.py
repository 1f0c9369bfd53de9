"""Replay and rate-limit state in Redis (REDIS_URL), shared by every API instance.

Each operation is one round trip that Redis runs atomically (a short Lua script), so two instances racing on one
nonce or one counter cannot both win or lose a count; a signed request's admission (address, nonce and key in one
script) is in redis_admission.py, on the same keys. Every call runs under a deadline on top of the
client's socket timeouts, so a dead or silent Redis costs a request at most `timeout_s`, never a hang. Faults are
translated at this edge: the nonce store raises NonceStoreUnavailable (replay protection fails closed), the limiter
raises RateLimiterUnavailable (the use case lets the request through and logs it). Error details never carry the
URL: only exception type names leave this module.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import time

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from memo.application.dto import CheckResult, RateLimitDecision
from memo.application.errors import NonceStoreUnavailable, RateLimiterUnavailable
from memo.application.ports import HealthCheck, NonceStore, RateLimiter

DEFAULT_PREFIX = "memo:"
DEFAULT_TIMEOUT_S = 1.0
FAULTS = (RedisError, OSError, TimeoutError)  # OSError covers refused and unreachable sockets; TimeoutError, deadlines

# Parts kept verbatim for readable keys; anything else becomes "~" + SHA-256. Neither ":" nor "~" is in these
# alphabets, so no two inputs share a key and no hostile value grows one past ~150 bytes.
_NONCE_PART = re.compile(r"[A-Za-z0-9_-]{1,64}")
_LIMIT_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,128}")  # "auth-fail:2001:db8::1", "key:mk_..."

# INCR opens the window on the first hit (no TTL yet, PTTL -1) and PEXPIRE fixes its end; later hits leave the
# TTL alone, so the window is fixed, not sliding. Redis freezes time inside a script: the first hit's PTTL is
# exactly the window. A key somehow left without a TTL is repaired instead of counting forever.
_HIT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""
# A nonce's value is its mode: "s" while every use has been shared (a v1 read), anything else exclusive ("1" is what
# plain `SET NX` wrote before modes existed). A live record refuses unless both it and this use are shared, and a
# use that is not shared turns a shared record exclusive, keeping its TTL: one script, so no instance sees half.
_REMEMBER = """
local current = redis.call('GET', KEYS[1])
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
if current == 's' then
  if ARGV[1] == 's' then
    return 1
  end
  redis.call('SET', KEYS[1], 'x', 'KEEPTTL')
end
return 0
"""
# Count and TTL read together, so a window cannot end between the two reads.
_PEEK = """
local count = redis.call('GET', KEYS[1])
if not count then
  return {0, -2}
end
return {tonumber(count), redis.call('PTTL', KEYS[1])}
"""


class _FairPool(ConnectionPool):
    """A bounded pool whose callers wait their turn (FIFO), at most `timeout` seconds.

    redis-py's BlockingConnectionPool lets a caller that arrives as a connection is freed overtake the ones already
    waiting; with 200 concurrent callers on 16 (or 64) connections about 3% of them starved past a 0.5 s wait, and
    every such nonce call would have been a 503. A FIFO semaphore in front of the plain pool had none in the same
    run, and the worst wait was ~20 ms.
    """

    def __init__(self, *, timeout: float, max_connections: int, **connection_kwargs: object) -> None:
        super().__init__(max_connections=max_connections, **connection_kwargs)  # type: ignore[arg-type]
        self._wait_s = timeout
        self._slots = asyncio.Semaphore(max_connections)
        self._slotted: set[AbstractConnection] = set()  # connections handed out under a slot, so each frees it once

    async def get_connection(self, *args: object, **kwargs: object) -> AbstractConnection:
        del args, kwargs  # deprecated by redis-py and unused by the plain pool
        if self._slots.locked():  # only a caller that must queue pays for a timer
            try:
                async with asyncio.timeout(self._wait_s):
                    await self._slots.acquire()
            except TimeoutError as error:
                raise RedisConnectionError("No connection available.") from error
        else:
            await self._slots.acquire()  # a free slot: returns at once, FIFO order is kept by locked()
        try:
            connection: AbstractConnection = await super().get_connection()  # type: ignore[no-untyped-call]
        except BaseException:
            self._slots.release()
            raise
        self._slotted.add(connection)
        return connection

    async def release(self, connection: AbstractConnection) -> None:
        try:
            await super().release(connection)
        finally:
            if connection in self._slotted:
                self._slotted.discard(connection)
                self._slots.release()


def redis_client(url: str, *, timeout_s: float, max_connections: int = 16,
                 health_check_interval_s: int = 30) -> Redis:
    """A client that fails fast: short connect/read timeouts, no retries, a small pool that waits at most timeout_s.

    No retries on purpose: a retried nonce claim whose first reply was lost would report a fresh nonce as replayed,
    and a retried INCR counts twice. Stale pooled connections (a restarted Redis) are still replaced on checkout.
    """
    check_deadline(timeout_s)
    if max_connections < 1:
        raise ValueError("max_connections must be positive")
    pool = _FairPool.from_url(
        url, max_connections=max_connections, timeout=timeout_s, socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s, socket_keepalive=True, health_check_interval=health_check_interval_s,
        retry=Retry(NoBackoff(), 0), retry_on_timeout=False, client_name="memo")
    return Redis.from_pool(pool)


def _part(value: str, pattern: re.Pattern[str]) -> str:
    if pattern.fullmatch(value):
        return value
    return "~" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def check_deadline(timeout_s: float) -> float:
    if not (timeout_s > 0 and math.isfinite(timeout_s)):
        raise ValueError("timeout_s must be a finite number of seconds > 0")
    return timeout_s


def nonce_key(prefix: str, scope: str, nonce: str) -> str:
    return f"{prefix}nonce:{_part(scope, _NONCE_PART)}:{_part(nonce, _NONCE_PART)}"


def counter_key(prefix: str, key: str) -> str:
    return f"{prefix}rl:{_part(key, _LIMIT_KEY)}"


class RedisNonceStore(NonceStore):
    """`memo:nonce:{scope}:{nonce}` set with a TTL by one script: the first instance to record a nonce wins, every
    other sees it (shared records excepted, see `_REMEMBER`). One EVALSHA round trip, like the `SET NX` it replaces.
    """

    def __init__(self, client: Redis, *, prefix: str = DEFAULT_PREFIX, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._prefix = prefix
        self._timeout_s = check_deadline(timeout_s)
        self._remember = client.register_script(_REMEMBER)

    def key(self, scope: str, nonce: str) -> str:
        return nonce_key(self._prefix, scope, nonce)

    async def remember(self, scope: str, nonce: str, ttl_s: int, *, shared: bool = False) -> bool:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        try:
            async with asyncio.timeout(self._timeout_s):
                stored = await self._remember(keys=[self.key(scope, nonce)], args=["s" if shared else "x", ttl_s])
        except FAULTS as error:
            raise NonceStoreUnavailable from error
        return bool(stored)


class RedisRateLimiter(RateLimiter):
    """A fixed window per key, opened by the key's first hit, counted in Redis so every instance shares it.

    Matches InProcessRateLimiter: `hit().allowed` is count <= limit, `peek().allowed` is count < limit, and
    reset_after_s is the window's remaining time rounded up to whole seconds. Windows are kept to the millisecond
    (rounded up), which is Redis's TTL precision.
    """

    def __init__(self, client: Redis, *, prefix: str = DEFAULT_PREFIX, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._prefix = prefix
        self._timeout_s = check_deadline(timeout_s)
        self._hit = client.register_script(_HIT)
        self._peek = client.register_script(_PEEK)

    def key(self, key: str) -> str:
        return counter_key(self._prefix, key)

    async def hit(self, key: str, *, limit: int, window_s: float) -> RateLimitDecision:
        """Count one request; `allowed` says whether this one is within the limit."""
        count, ttl_ms = await self._run(self._hit, key, window_ms(limit, window_s))
        return limit_decision(limit=limit, count=count, allowed=count <= limit, ttl_ms=ttl_ms, window_s=window_s)

    async def peek(self, key: str, *, limit: int, window_s: float) -> RateLimitDecision:
        """Count nothing; `allowed` says whether the next hit would be within the limit."""
        window_ms(limit, window_s)
        count, ttl_ms = await self._run(self._peek, key)
        return limit_decision(limit=limit, count=count, allowed=count < limit, ttl_ms=ttl_ms, window_s=window_s)

    async def _run(self, script: AsyncScript, key: str, *args: int) -> tuple[int, int]:
        try:
            async with asyncio.timeout(self._timeout_s):
                count, ttl_ms = await script(keys=[self.key(key)], args=args)
        except FAULTS as error:
            raise RateLimiterUnavailable from error
        return int(count), int(ttl_ms)


def window_ms(limit: int, window_s: float) -> int:
    if limit < 0 or not (window_s > 0 and math.isfinite(window_s)):
        raise ValueError("a rate limit needs limit >= 0 and a finite window_s > 0")
    return max(1, math.ceil(window_s * 1000))


def limit_decision(*, limit: int, count: int, allowed: bool, ttl_ms: int, window_s: float) -> RateLimitDecision:
    reset_after_s = math.ceil(ttl_ms / 1000) if ttl_ms > 0 else math.ceil(window_s)  # no key yet: a whole window
    return RateLimitDecision(allowed=allowed, limit=limit, remaining=max(0, limit - count),
                             reset_after_s=reset_after_s)


class RedisHealthCheck(HealthCheck):
    """A real PING under a short timeout; the detail names only the kind of failure, never the URL or password."""

    name = "redis"

    def __init__(self, client: Redis, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._client = client
        self._timeout_s = check_deadline(timeout_s)

    async def check(self) -> CheckResult:
        started = time.perf_counter()
        detail: str | None = None
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._client.ping()
        except (TimeoutError, RedisTimeoutError):
            detail = f"no answer within {self._timeout_s:g} s"
        except (RedisConnectionError, OSError) as error:
            detail = f"unreachable ({type(error).__name__})"
        except RedisError as error:
            detail = f"PING refused ({type(error).__name__})"
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        return CheckResult(healthy=detail is None, backend="redis", detail=detail, latency_ms=latency_ms)
