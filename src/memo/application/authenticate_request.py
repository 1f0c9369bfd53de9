"""Authenticate a signed request and apply the rate limits that surround it (API.md 2.3).

An address that keeps failing authentication is refused before any HMAC work, so guessing is slow;
a caller that authenticates is limited per key instead, and its address is never counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from memo.application.dto import RateLimitDecision, SecurityEvent, SignedRequest
from memo.application.errors import AuthenticationFailed, RateLimited
from memo.application.ports import AuditLog, RateLimiter, RequestAuthenticator
from memo.domain.owners import Principal


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimits:
    window_s: float
    per_key: int
    per_ip: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Authenticated:
    principal: Principal
    rate: RateLimitDecision


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticateRequest:
    authenticator: RequestAuthenticator
    limiter: RateLimiter
    audit: AuditLog
    limits: RateLimits

    async def __call__(self, request: SignedRequest) -> Authenticated:
        ip_key = f"auth-fail:{request.client_ip}"
        blocked = await self.limiter.peek(ip_key, limit=self.limits.per_ip, window_s=self.limits.window_s)
        if not blocked.allowed:
            self._audit("RATE_LIMITED_IP", request)
            raise RateLimited(limit=blocked.limit, retry_after_s=blocked.reset_after_s)
        try:
            principal = await self.authenticator.authenticate(request)
        except AuthenticationFailed as failure:
            self._audit(failure.code, request)
            await self.limiter.hit(ip_key, limit=self.limits.per_ip, window_s=self.limits.window_s)
            raise
        rate = await self.limiter.hit(f"key:{principal.key_id}", limit=self.limits.per_key,
                                      window_s=self.limits.window_s)
        if not rate.allowed:
            raise RateLimited(limit=rate.limit, retry_after_s=rate.reset_after_s)
        return Authenticated(principal=principal, rate=rate)

    def _audit(self, reason: str, request: SignedRequest) -> None:
        key_id = request.headers.get("x-memo-key-id")
        self.audit.security_event(SecurityEvent(reason=reason, key_id=key_id[:64] if key_id else None,
                                                client_ip=request.client_ip, path=request.path[:512]))
