"""What a verified request brings to its admission, and what the admission answers (ports.RequestAdmission).

A signing scheme verifies a request and says what must be claimed so the request is never accepted twice; it does
not claim it. The use case then admits the request in one call: the address's failures, the replay claim and the
key's count, so a store that can do all three in one round trip (Redis, one script) is asked once per request.
"""

from __future__ import annotations

from dataclasses import dataclass

from memo.application.dto import RateLimitDecision
from memo.application.errors import AuthenticationFailed
from memo.domain.owners import Principal

REPLAYED_REQUEST = "REPLAYED_REQUEST"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayClaim:
    """The replay key a verified request must claim, as NonceStore.remember takes it, and what a replay is told.

    `shared`: a use that may repeat an earlier shared one (a v1 read); a use that is not shared refuses every later
    use, shared or not.
    """

    scope: str
    nonce: str
    ttl_s: int
    shared: bool = False
    refusal: str  # the error sentence of a replay, in the scheme's words
    refusal_details: str

    def refused(self) -> AuthenticationFailed:
        return AuthenticationFailed(REPLAYED_REQUEST, self.refusal, self.refusal_details)


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedRequest:
    """A request whose signature verified: who it acts for, and the claim still to be made before it may act."""

    principal: Principal
    replay: ReplayClaim


@dataclass(frozen=True, slots=True, kw_only=True)
class Limit:
    """A counter and its bound: at most `limit` counts per fixed window of `window_s`, opened by the first count."""

    key: str
    limit: int
    window_s: float


@dataclass(frozen=True, slots=True)
class AddressBlocked:
    """The address has used up its failed authentications: nothing was claimed or counted."""

    decision: RateLimitDecision


@dataclass(frozen=True, slots=True)
class Replayed:
    """The replay key was already claimed: the key was not counted."""


@dataclass(frozen=True, slots=True)
class Admitted:
    """The replay key is claimed and the key counted; `rate` says whether this count is within the key's limit."""

    rate: RateLimitDecision


Admission = AddressBlocked | Replayed | Admitted
