"""The use case around the authenticator: audit every refusal, slow failing addresses, limit each key."""

from __future__ import annotations

from uuid import uuid4

import pytest

from memo.adapters.audit import RecordingAuditLog
from memo.adapters.limits.memory import InProcessRateLimiter
from memo.adapters.system import FixedClock
from memo.application.authenticate_request import AuthenticateRequest, RateLimits
from memo.application.dto import SignedRequest
from memo.application.errors import AuthenticationFailed, RateLimited
from memo.domain.owners import Principal

SIGNATURE = "v2=" + "ab" * 32


class ScriptedAuthenticator:
    def __init__(self, *, accept: bool) -> None:
        self.accept = accept
        self.calls = 0

    async def authenticate(self, request: SignedRequest) -> Principal:
        self.calls += 1
        if not self.accept:
            raise AuthenticationFailed("INVALID_SIGNATURE", "The signature does not verify.")
        return Principal(owner_id=uuid4(), key_id=request.headers["x-memo-key-id"])


def request(ip: str = "10.0.0.1") -> SignedRequest:
    return SignedRequest(method="GET", path="/api/memories", query="", body=b"", client_ip=ip,
                         headers={"x-memo-key-id": "mk_test_key", "x-memo-signature": SIGNATURE})


def use_case(authenticator: ScriptedAuthenticator, audit: RecordingAuditLog, *, per_key: int = 100,
             per_ip: int = 100) -> AuthenticateRequest:
    return AuthenticateRequest(authenticator=authenticator, limiter=InProcessRateLimiter(FixedClock()), audit=audit,
                               limits=RateLimits(window_s=900, per_key=per_key, per_ip=per_ip))


async def test_refusal_is_audited_without_the_signature() -> None:
    audit = RecordingAuditLog()
    with pytest.raises(AuthenticationFailed):
        await use_case(ScriptedAuthenticator(accept=False), audit)(request())
    assert [(e.reason, e.key_id, e.client_ip, e.path) for e in audit.events] == [
        ("INVALID_SIGNATURE", "mk_test_key", "10.0.0.1", "/api/memories")]
    assert SIGNATURE not in repr(audit.events)


async def test_failing_address_is_refused_without_calling_the_authenticator() -> None:
    authenticator, audit = ScriptedAuthenticator(accept=False), RecordingAuditLog()
    authenticate = use_case(authenticator, audit, per_ip=2)
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            await authenticate(request())
    with pytest.raises(RateLimited):
        await authenticate(request())
    assert authenticator.calls == 2
    authenticator.accept = True
    assert (await authenticate(request(ip="10.0.0.2"))).principal.key_id == "mk_test_key"


async def test_successful_requests_never_count_against_the_address() -> None:
    authenticate = use_case(ScriptedAuthenticator(accept=True), RecordingAuditLog(), per_ip=1)
    for _ in range(5):
        await authenticate(request())


async def test_key_over_its_limit_is_rate_limited() -> None:
    authenticate = use_case(ScriptedAuthenticator(accept=True), RecordingAuditLog(), per_key=2)
    first = await authenticate(request())
    assert (first.rate.limit, first.rate.remaining) == (2, 1)
    await authenticate(request())
    with pytest.raises(RateLimited) as limited:
        await authenticate(request())
    assert limited.value.retry_after_s > 0
