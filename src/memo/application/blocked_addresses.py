"""The addresses this process was told are over their limit of failed authentications, until their window ends.

Since the address check joined the admission (one Redis round trip for a request that authenticates), the shared
counters only answer for an address after its body was read, its key looked up and its HMAC checked. Remembering
each refusal they gave, for as long as they gave it, puts the next request from that address back where it was
refused before: ahead of its body and of any key or HMAC work. Nothing is refused that the counters did not refuse,
and never past the end of the window they named; an address is only ever remembered after such a refusal, so a
flood of fresh addresses costs one entry each, within a fixed bound (the oldest entries go first).
"""

from __future__ import annotations

import math

from memo.application.dto import RateLimitDecision

CAPACITY = 10_000  # addresses remembered at most: a few hundred KiB


class BlockedAddresses:
    def __init__(self) -> None:
        self._until: dict[str, tuple[float, int]] = {}  # address -> (end of its window in s, the limit refused at)

    def remember(self, address: str, refusal: RateLimitDecision, *, now_s: float) -> None:
        if address in self._until:
            del self._until[address]  # re-inserted below: the dict's order stays oldest refusal first
        elif len(self._until) >= CAPACITY:
            del self._until[next(iter(self._until))]
        self._until[address] = (now_s + refusal.reset_after_s, refusal.limit)

    def refusal(self, address: str, *, now_s: float) -> RateLimitDecision | None:
        """The refusal still standing for `address`, its wait counted from now; None once its window ended."""
        held = self._until.get(address)
        if held is None:
            return None
        until, limit = held
        if now_s >= until:
            del self._until[address]
            return None
        wait_s = max(1, math.ceil(until - now_s))
        return RateLimitDecision(allowed=False, limit=limit, remaining=0, reset_after_s=wait_s)

    def __len__(self) -> int:
        return len(self._until)
