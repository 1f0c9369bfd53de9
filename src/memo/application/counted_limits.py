"""Counting against a rate limit the way every use case does: an unreachable limiter lets the request through.

Limits fail open (replay protection is what fails closed): an outage of the shared counters must not take the
API down with it. The warning is process-wide, so one outage logs one line per 30 s, not one per request.
"""

from __future__ import annotations

import logging
import math

from memo.application.dto import RateLimitDecision
from memo.application.errors import RateLimiterUnavailable
from memo.application.ports import RateLimiter
from memo.application.throttled_log import ThrottledWarning

LIMITER_DOWN_WARNING = ThrottledWarning(logging.getLogger("memo.limits"),
                                        "rate limiting is failing open: requests pass uncounted", every_s=30)


async def count(limiter: RateLimiter, key: str, *, limit: int, window_s: float,
                peek: bool = False) -> RateLimitDecision:
    """Hit (or peek at) `key`; with the limiter down, allow and report the whole limit as remaining."""
    try:
        if peek:
            return await limiter.peek(key, limit=limit, window_s=window_s)
        return await limiter.hit(key, limit=limit, window_s=window_s)
    except RateLimiterUnavailable as error:
        cause = type(error.__cause__).__name__ if error.__cause__ is not None else "no cause given"
        LIMITER_DOWN_WARNING(f"the rate limiter is unavailable: {cause}")
        return RateLimitDecision(allowed=True, limit=limit, remaining=limit, reset_after_s=math.ceil(window_s))
