"""Admission as three calls on two ports, for stores where that costs no round trip worth saving.

The `test` profile keeps nonces and counters in process (no I/O at all); without REDIS_URL the other profiles keep
nonces in the database and counters in process, so the database claim is the one I/O either way. Redis, where each
call would be a round trip, has its own adapter (redis_admission.py) that does all three in one script.
"""

from __future__ import annotations

from memo.application.admission import AddressBlocked, Admission, Admitted, Limit, ReplayClaim, Replayed
from memo.application.counted_limits import count
from memo.application.ports import NonceStore, RateLimiter, RequestAdmission


class StepwiseRequestAdmission(RequestAdmission):
    """Peek at the address, claim the replay key, hit the key: the order and the fail-open rule of the port."""

    def __init__(self, nonces: NonceStore, limiter: RateLimiter) -> None:
        self._nonces, self._limiter = nonces, limiter

    async def admit(self, replay: ReplayClaim, *, address: Limit, key: Limit) -> Admission:
        standing = await count(self._limiter, address.key, limit=address.limit, window_s=address.window_s, peek=True)
        if not standing.allowed:
            return AddressBlocked(standing)
        if not await self._nonces.remember(replay.scope, replay.nonce, replay.ttl_s, shared=replay.shared):
            return Replayed()
        return Admitted(await count(self._limiter, key.key, limit=key.limit, window_s=key.window_s))
