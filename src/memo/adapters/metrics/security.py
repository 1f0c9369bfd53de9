"""Counting decorators of the audit log, the rate limiter and the admission: every security event by code, every
refusal by limit."""

from __future__ import annotations

from memo.adapters.metrics.registry import PrometheusMetrics
from memo.application.admission import AddressBlocked, Admission, Admitted, Limit, ReplayClaim
from memo.application.dto import RateLimitDecision, SecurityEvent
from memo.application.ports import AuditLog, RateLimiter, RequestAdmission


class MeteredAuditLog(AuditLog):
    def __init__(self, inner: AuditLog, metrics: PrometheusMetrics) -> None:
        self._inner, self._metrics = inner, metrics

    def security_event(self, event: SecurityEvent) -> None:
        self._inner.security_event(event)
        self._metrics.security_event(event.reason)


class MeteredRateLimiter(RateLimiter):
    """Counts the decisions that refuse a request, by the limit the key belongs to (never the key itself).

    A hit over the address's failure limit is a refusal too: that failure is answered 429 instead of 401.
    """

    def __init__(self, inner: RateLimiter, metrics: PrometheusMetrics) -> None:
        self._inner, self._metrics = inner, metrics

    async def hit(self, key: str, *, limit: int, window_s: float) -> RateLimitDecision:
        decision = await self._inner.hit(key, limit=limit, window_s=window_s)
        if not decision.allowed:
            self._metrics.rate_limit_refused(key)
        return decision

    async def peek(self, key: str, *, limit: int, window_s: float) -> RateLimitDecision:
        decision = await self._inner.peek(key, limit=limit, window_s=window_s)
        if not decision.allowed:
            self._metrics.rate_limit_refused(key)
        return decision


class MeteredRequestAdmission(RequestAdmission):
    """Counts the admissions that refuse a request for a limit: the address's (blocked) or the key's (over it).

    The adapters behind it count on limiters of their own, never on the metered RateLimiter, so no refusal is
    counted twice.
    """

    def __init__(self, inner: RequestAdmission, metrics: PrometheusMetrics) -> None:
        self._inner, self._metrics = inner, metrics

    async def admit(self, replay: ReplayClaim, *, address: Limit, key: Limit) -> Admission:
        admission = await self._inner.admit(replay, address=address, key=key)
        if isinstance(admission, AddressBlocked):
            self._metrics.rate_limit_refused(address.key)
        elif isinstance(admission, Admitted) and not admission.rate.allowed:
            self._metrics.rate_limit_refused(key.key)
        return admission
