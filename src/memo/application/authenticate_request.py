"""Authenticate a signed request and apply the rate limits that surround it (API.md 2.3).

An address that keeps failing authentication is refused before its body is read or any HMAC work is done, so
guessing is slow and a blocked address cannot make the server hold its bodies;
a caller that authenticates is limited per key instead, and its address is never counted.

When the limiter cannot be reached the limits fail open: a request is let through uncounted and a throttled warning
on "memo.limits" says so. Replay protection does not: the authenticator's NonceStoreUnavailable propagates.
"""

from __future__ import annotations

from dataclasses import dataclass

from memo.application.counted_limits import count
from memo.application.dto import IncomingRequest, RateLimitDecision, SecurityEvent, SignedRequest
from memo.application.errors import AuthenticationFailed, RateLimited
from memo.application.key_use import KeyUseTracker
from memo.application.ports import AuditLog, Clock, RateLimiter, RequestAuthenticator
from memo.domain.errors import SecretUnreadable
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
    key_uses: KeyUseTracker  # notes the key in memory; written in the background, never here
    clock: Clock

    async def __call__(self, incoming: IncomingRequest) -> Authenticated:
        ip_key = f"auth-fail:{incoming.client_ip}"
        blocked = await self._count(ip_key, self.limits.per_ip, peek=True)
        if not blocked.allowed:
            self._audit("RATE_LIMITED_IP", incoming)
            raise RateLimited(limit=blocked.limit, retry_after_s=blocked.reset_after_s)
        request = SignedRequest(method=incoming.method, path=incoming.path, query=incoming.query,
                                headers=incoming.headers, body=await incoming.read_body(),
                                client_ip=incoming.client_ip)
        try:
            principal = await self.authenticator.authenticate(request)
        except SecretUnreadable:  # the operator's fault, not the caller's: audited here, a logged 500 above
            self._audit(SecretUnreadable.code, request)
            raise
        except AuthenticationFailed as failure:
            self._audit(failure.code, request)
            await self._count(ip_key, self.limits.per_ip)
            raise
        self.key_uses.seen(principal.key_id, self.clock.now())
        rate = await self._count(f"key:{principal.key_id}", self.limits.per_key)
        if not rate.allowed:
            raise RateLimited(limit=rate.limit, retry_after_s=rate.reset_after_s)
        return Authenticated(principal=principal, rate=rate)

    async def _count(self, key: str, limit: int, *, peek: bool = False) -> RateLimitDecision:
        return await count(self.limiter, key, limit=limit, window_s=self.limits.window_s, peek=peek)

    def _audit(self, reason: str, request: IncomingRequest | SignedRequest) -> None:
        key_id = self.authenticator.claimed_key_id(request.headers)
        self.audit.security_event(SecurityEvent(reason=reason, key_id=key_id[:64] if key_id else None,
                                                client_ip=request.client_ip, path=request.path[:512]))
