"""Meta's subscription check of the WhatsApp webhook (API.md section 4): echo the challenge for the right token.

The GET is unsigned, so guessing the verify token is slowed by the per-IP limit of API.md 2.3
(`RATE_LIMIT_IP_MAX_REQUESTS` per window, every attempt counted). The token is compared in constant time, and an
unset token never matches, and every wrong token is a security audit event (`INVALID_VERIFY_TOKEN`). When the
limiter cannot be reached the limit fails open, as on signed routes.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from memo.application.counted_limits import count
from memo.application.dto import RateLimitDecision, SecurityEvent
from memo.application.errors import Forbidden, RateLimited
from memo.application.ports import AuditLog, RateLimiter

SUBSCRIBE = "subscribe"
MAX_CHALLENGE_CHARS = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookSubscriptionLimits:
    window_s: float
    per_ip: int


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyWebhookSubscription:
    limiter: RateLimiter
    limits: WebhookSubscriptionLimits
    verify_token: str  # empty when WHATSAPP_VERIFY_TOKEN is unset: then every attempt is refused
    audit: AuditLog

    async def __call__(self, *, mode: str | None, token: str | None, challenge: str | None, client_ip: str,
                       path: str) -> str:
        """The challenge to echo, or Forbidden; RateLimited before any comparison when the address is over."""
        decision = await self._hit(f"whatsapp-verify:{client_ip}")
        if not decision.allowed:
            raise RateLimited(limit=decision.limit, retry_after_s=decision.reset_after_s)
        if not challenge or len(challenge) > MAX_CHALLENGE_CHARS or mode != SUBSCRIBE:
            raise Forbidden("The webhook subscription cannot be verified.")
        if not self._token_matches(token or ""):  # a guess at the token: the audit stream must show it
            self.audit.security_event(SecurityEvent(reason="INVALID_VERIFY_TOKEN", key_id=None, client_ip=client_ip,
                                                    path=path))
            raise Forbidden("The webhook subscription cannot be verified.")
        return challenge

    def _token_matches(self, given: str) -> bool:
        if not self.verify_token:
            return False
        return hmac.compare_digest(given.encode("utf-8", "surrogatepass"),
                                   self.verify_token.encode("utf-8", "surrogatepass"))

    async def _hit(self, key: str) -> RateLimitDecision:
        return await count(self.limiter, key, limit=self.limits.per_ip, window_s=self.limits.window_s)
