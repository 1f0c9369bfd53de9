"""A verified request's admission in one Redis round trip: address, nonce and key counter in one Lua script.

The keys are the ones RedisRateLimiter and RedisNonceStore use (`memo:rl:auth-fail:<ip>`, `memo:nonce:<scope>:
<nonce>`, `memo:rl:key:<key id>`), so the failures the use case counts through the limiter are the ones the script
reads, and instances running the older three-call code during a rolling deploy share every nonce and count. Redis
runs a script atomically: no other client sees the nonce claimed without the key counted, or acts between the
address check and the claim.

Any fault (refused, unreachable, silent, a script error) raises NonceStoreUnavailable, whatever was or was not done:
the nonce is not known to be claimed, so replay protection fails closed, and the limits have no separate answer to
fail open with. No retries (see redis_client): a retried script whose first reply was lost would call a fresh
nonce replayed.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from memo.adapters.limits.redis import (
    DEFAULT_PREFIX,
    DEFAULT_TIMEOUT_S,
    FAULTS,
    check_deadline,
    counter_key,
    limit_decision,
    nonce_key,
    window_ms,
)
from memo.application.admission import AddressBlocked, Admission, Admitted, Limit, ReplayClaim, Replayed
from memo.application.errors import NonceStoreUnavailable
from memo.application.ports import RequestAdmission

_BLOCKED, _REPLAYED = 1, 2  # the script's first reply; 0 is admitted
# KEYS: the address's failures, the nonce, the key's counter. ARGV: the address's limit, the nonce's mode ("s" for
# a shared use, "x" otherwise), its TTL in seconds, the key's window in milliseconds. Each step as its own script
# does it: the peek (refused at count >= limit), _REMEMBER's modes, _HIT's fixed window opened by the first INCR.
_ADMIT = """
local failures = tonumber(redis.call('GET', KEYS[1]) or '0')
if failures >= tonumber(ARGV[1]) then
  return {1, failures, redis.call('PTTL', KEYS[1])}
end
local recorded = redis.call('GET', KEYS[2])
if not recorded then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
elseif recorded ~= 's' or ARGV[2] ~= 's' then
  if recorded == 's' then
    redis.call('SET', KEYS[2], 'x', 'KEEPTTL')
  end
  return {2, 0, 0}
end
local count = redis.call('INCR', KEYS[3])
local ttl = redis.call('PTTL', KEYS[3])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
  ttl = tonumber(ARGV[4])
end
return {0, count, ttl}
"""


class RedisRequestAdmission(RequestAdmission):
    """One EVALSHA per admitted request; a restarted Redis that forgot the script costs one SCRIPT LOAD more."""

    def __init__(self, client: Redis, *, prefix: str = DEFAULT_PREFIX, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._prefix = prefix
        self._timeout_s = check_deadline(timeout_s)
        self._admit = client.register_script(_ADMIT)

    async def admit(self, replay: ReplayClaim, *, address: Limit, key: Limit) -> Admission:
        if replay.ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        window_ms(address.limit, address.window_s)  # checks its bounds; the script needs only the limit
        keys = [counter_key(self._prefix, address.key), nonce_key(self._prefix, replay.scope, replay.nonce),
                counter_key(self._prefix, key.key)]
        args = [address.limit, "s" if replay.shared else "x", replay.ttl_s, window_ms(key.limit, key.window_s)]
        try:
            async with asyncio.timeout(self._timeout_s):
                outcome, count, ttl_ms = await self._admit(keys=keys, args=args)
        except FAULTS as error:
            raise NonceStoreUnavailable from error
        if outcome == _BLOCKED:
            return AddressBlocked(limit_decision(limit=address.limit, count=int(count), allowed=False,
                                                 ttl_ms=int(ttl_ms), window_s=address.window_s))
        if outcome == _REPLAYED:
            return Replayed()
        return Admitted(limit_decision(limit=key.limit, count=int(count), allowed=int(count) <= key.limit,
                                       ttl_ms=int(ttl_ms), window_s=key.window_s))
