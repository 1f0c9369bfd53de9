"""Counting decorators of the audit log and the rate limiter: every security event by code, every refusal by limit."""

from __future__ import annotations

from memo.adapters.metrics.registry import PrometheusMetrics
from memo.application.dto import RateLimitDecision, SecurityEvent
from memo.application.ports import AuditLog, RateLimiter

# The address counter of failed authentications is hit after a failure already answered 401; it refuses by its
# peek, before the next request is read. A hit over it refuses nothing, so it is no refusal.
COUNTS_FAILURES_ONLY = "auth-fail:"


class MeteredAuditLog(AuditLog):
    def __init__(self, inner: AuditLog, metrics: PrometheusMetrics) -> None:
        self._inner, self._metrics = inner, metrics

    def security_event(self, event: SecurityEvent) -> None:
        self._inner.security_event(event)
        self._metrics.security_event(event.reason)


class MeteredRateLimiter(RateLimiter):
    """Counts the decisions that refuse a request, by the limit the key belongs to (never the key itself)."""

    def __init__(self, inner: RateLimiter, metrics: PrometheusMetrics) -> None:
        self._inner, self._metrics = inner, metrics

    async def hit(self, key: str, *, limit: int, window_s: float) -> RateLimitDecision:
        decision = await self._inner.hit(key, limit=limit, window_s=window_s)
        if not decision.allowed and not key.startswith(COUNTS_FAILURES_ONLY):
            self._metrics.rate_limit_refused(key)
        return decision

    async def peek(self, key: str, *, limit: int, window_s: float) -> RateLimitDecision:
        decision = await self._inner.peek(key, limit=limit, window_s=window_s)
        if not decision.allowed:
            self._metrics.rate_limit_refused(key)
        return decision
