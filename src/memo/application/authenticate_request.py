"""Authenticate a signed request and apply the rate limits that surround it (API.md 2.3).

The request is verified first; its admission then checks the address, claims the replay key and counts the key in
one call (RequestAdmission), which on Redis is one round trip for a request that authenticates. Only failed
authentications count against an address: once it has used up its limit, every request from it is refused `429`,
a well-signed one at its admission (before its nonce is claimed or its key counted) and a failing one when its
failure is counted. Each such refusal is remembered in process until its window ends (BlockedAddresses), so from
then on a request from that address is refused before its body is read or any key or HMAC work is done; only the
request that found it blocked was read and verified (docs/decisions.md, "Rate limits"). A caller that authenticates is
limited per key instead, and its address is never counted.

When the limiter cannot be reached the limits fail open: a request is let through uncounted and a throttled warning
on "memo.limits" says so. Replay protection does not: the admission's NonceStoreUnavailable propagates.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NoReturn

from memo.application.admission import AddressBlocked, Limit, Replayed
from memo.application.blocked_addresses import BlockedAddresses
from memo.application.counted_limits import count
from memo.application.dto import IncomingRequest, RateLimitDecision, SecurityEvent, SignedRequest
from memo.application.errors import AuthenticationFailed, RateLimited
from memo.application.key_use import KeyUseTracker
from memo.application.ports import AuditLog, Clock, RateLimiter, RequestAdmission, RequestAuthenticator
from memo.domain.errors import SecretUnreadable
from memo.domain.owners import Principal

RATE_LIMITED_IP = "RATE_LIMITED_IP"  # the audited reason of a request refused for its address's failures


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
    admission: RequestAdmission
    limiter: RateLimiter  # counts failed authentications per address
    audit: AuditLog
    limits: RateLimits
    key_uses: KeyUseTracker  # notes the key in memory; written in the background, never here
    clock: Clock
    blocked: BlockedAddresses  # refusals the counters gave, so the next is refused before any work

    async def __call__(self, incoming: IncomingRequest) -> Authenticated:
        held = self.blocked.refusal(incoming.client_ip, now_s=self.clock.now().timestamp())
        if held is not None:  # refused by the counters already: no body read, no key lookup, no HMAC
            self._audit(RATE_LIMITED_IP, incoming)
            raise RateLimited(limit=held.limit, retry_after_s=held.reset_after_s)
        request = SignedRequest(method=incoming.method, path=incoming.path, query=incoming.query,
                                headers=incoming.headers, body=await incoming.read_body(),
                                client_ip=incoming.client_ip)
        try:
            verified = await self.authenticator.authenticate(request)
        except SecretUnreadable:  # the operator's fault, not the caller's: audited here, a logged 500 above
            self._audit(SecretUnreadable.code, request)
            raise
        except AuthenticationFailed as failure:
            await self._refuse(failure, request)
        principal, limits = verified.principal, self.limits
        admission = await self.admission.admit(
            verified.replay, address=Limit(key=_address_key(request), limit=limits.per_ip, window_s=limits.window_s),
            key=Limit(key=f"key:{principal.key_id}", limit=limits.per_key, window_s=limits.window_s))
        if isinstance(admission, AddressBlocked):
            self._audit(RATE_LIMITED_IP, request)
            blocked = admission.decision
            self.blocked.remember(request.client_ip, blocked, now_s=self.clock.now().timestamp())
            raise RateLimited(limit=blocked.limit, retry_after_s=blocked.reset_after_s)
        if isinstance(admission, Replayed):
            await self._refuse(verified.replay.refused(), request)
        rate = admission.rate
        self.key_uses.seen(principal.key_id, self.clock.now())
        if not rate.allowed:
            raise RateLimited(limit=rate.limit, retry_after_s=rate.reset_after_s)
        return Authenticated(principal=principal, rate=rate)

    async def _refuse(self, failure: AuthenticationFailed, request: SignedRequest) -> NoReturn:
        """Count the failure against the address and audit it: past the address's limit the answer is a 429, and
        the reason audited is the address's, as for a well-signed request from it (one event per request)."""
        counted = await count(self.limiter, _address_key(request), limit=self.limits.per_ip,
                              window_s=self.limits.window_s)
        if not counted.allowed:
            self._audit(RATE_LIMITED_IP, request)
            self.blocked.remember(request.client_ip, counted, now_s=self.clock.now().timestamp())
            raise RateLimited(limit=counted.limit, retry_after_s=counted.reset_after_s) from failure
        if counted.remaining == 0:  # this failure used the last count: the counters refuse the next request
            self.blocked.remember(request.client_ip, replace(counted, allowed=False),
                                  now_s=self.clock.now().timestamp())
        self._audit(failure.code, request)
        raise failure

    def _audit(self, reason: str, request: IncomingRequest | SignedRequest) -> None:
        key_id = self.authenticator.claimed_key_id(request.headers)
        self.audit.security_event(SecurityEvent(reason=reason, key_id=key_id[:64] if key_id else None,
                                                client_ip=request.client_ip, path=request.path[:512]))


def _address_key(request: SignedRequest) -> str:
    return f"auth-fail:{request.client_ip}"
