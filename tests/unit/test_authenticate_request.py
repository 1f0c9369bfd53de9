"""The use case around the authenticator: audit every refusal, slow failing addresses, limit each key, and admit a
verified request (address, nonce, key) in one call of its admission port."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from uuid import UUID, uuid4

import pytest

from memo.adapters.audit import RecordingAuditLog
from memo.adapters.limits.memory import InProcessNonceStore, InProcessRateLimiter
from memo.adapters.limits.stepwise import StepwiseRequestAdmission
from memo.adapters.signing.hmac import HmacRequestAuthenticator
from memo.adapters.storage.memory import InMemoryStore
from memo.adapters.storage.memory_key_uses import InMemoryKeyUses
from memo.adapters.system import TEST_NOW, FixedClock
from memo.application import counted_limits as module
from memo.application.admission import Admission, Limit, ReplayClaim, VerifiedRequest
from memo.application.authenticate_request import AuthenticateRequest, RateLimits
from memo.application.blocked_addresses import BlockedAddresses
from memo.application.dto import ActiveKey, IncomingRequest, RateLimitDecision, SignedRequest
from memo.application.errors import AuthenticationFailed, NonceStoreUnavailable, RateLimited, RateLimiterUnavailable
from memo.application.key_use import KeyUseTracker
from memo.application.ports import KeyStore, NonceStore, RateLimiter, RequestAdmission
from memo.application.throttled_log import ThrottledWarning
from memo.client import sign_request, sign_v1
from memo.domain.owners import Principal

SIGNATURE = "v2=" + "ab" * 32


class ScriptedAuthenticator:
    """Accepts or refuses as told; an accepted request claims its x-memo-nonce header, or a nonce of its own."""

    def __init__(self, *, accept: bool) -> None:
        self.accept = accept
        self.calls = 0

    def claimed_key_id(self, headers: Mapping[str, str]) -> str | None:
        return headers.get("x-memo-key-id")

    async def authenticate(self, request: SignedRequest) -> VerifiedRequest:
        self.calls += 1
        if not self.accept:
            raise AuthenticationFailed("INVALID_SIGNATURE", "The signature does not verify.")
        key_id = request.headers["x-memo-key-id"]
        nonce = request.headers.get("x-memo-nonce") or uuid4().hex
        return VerifiedRequest(principal=Principal(owner_id=UUID(int=1), key_id=key_id),
                               replay=ReplayClaim(scope=key_id, nonce=nonce, ttl_s=361, refusal="Seen.",
                                                  refusal_details="Send a fresh nonce."))


class Body:
    """A body source that says whether it was read."""

    def __init__(self, content: bytes = b"") -> None:
        self.content, self.reads = content, 0

    async def __call__(self) -> bytes:
        self.reads += 1
        return self.content


def request(ip: str = "10.0.0.1", body: Body | None = None,
            headers: dict[str, str] | None = None) -> IncomingRequest:
    return IncomingRequest(method="GET", path="/api/memories", query="", client_ip=ip, read_body=body or Body(),
                           headers=headers or {"x-memo-key-id": "mk_test_key", "x-memo-signature": SIGNATURE})


def use_case(authenticator: ScriptedAuthenticator | HmacRequestAuthenticator, audit: RecordingAuditLog, *,
             per_key: int = 100, per_ip: int = 100, limiter: RateLimiter | None = None,
             nonces: NonceStore | None = None, admission: RequestAdmission | None = None,
             clock: FixedClock | None = None) -> AuthenticateRequest:
    """The in-process wiring of the `test` profile: one limiter counts failures and is read by the admission."""
    limiter = InProcessRateLimiter(FixedClock()) if limiter is None else limiter  # an empty one is falsy (len 0)
    nonces = InProcessNonceStore(FixedClock()) if nonces is None else nonces
    admission = StepwiseRequestAdmission(nonces, limiter) if admission is None else admission
    return AuthenticateRequest(authenticator=authenticator, admission=admission, limiter=limiter, audit=audit,
                               limits=RateLimits(window_s=900, per_key=per_key, per_ip=per_ip),
                               key_uses=KeyUseTracker(uses=InMemoryKeyUses(InMemoryStore())),
                               clock=clock or FixedClock(), blocked=BlockedAddresses())


class DownLimiter(RateLimiter):
    """What the Redis limiter does when Redis is gone."""

    def __init__(self) -> None:
        self.calls = 0

    async def hit(self, key: str, *, limit: int, window_s: float) -> RateLimitDecision:
        self.calls += 1
        raise RateLimiterUnavailable from ConnectionRefusedError()

    async def peek(self, key: str, *, limit: int, window_s: float) -> RateLimitDecision:
        self.calls += 1
        raise RateLimiterUnavailable from ConnectionRefusedError()


class DownNonceStore(NonceStore):
    async def remember(self, scope: str, nonce: str, ttl_s: int, *, shared: bool = False) -> bool:
        raise NonceStoreUnavailable


class CountingAdmission(RequestAdmission):
    """Passes every admission to the in-process one and keeps what it was asked."""

    def __init__(self, inner: RequestAdmission) -> None:
        self.inner = inner
        self.calls: list[tuple[ReplayClaim, Limit, Limit]] = []

    async def admit(self, replay: ReplayClaim, *, address: Limit, key: Limit) -> Admission:
        self.calls.append((replay, address, key))
        return await self.inner.admit(replay, address=address, key=key)


class CountingLimiter(InProcessRateLimiter):
    def __init__(self) -> None:
        super().__init__(FixedClock())
        self.calls: list[str] = []

    async def hit(self, key: str, *, limit: int, window_s: float) -> RateLimitDecision:
        self.calls.append(f"hit {key}")
        return await super().hit(key, limit=limit, window_s=window_s)

    async def peek(self, key: str, *, limit: int, window_s: float) -> RateLimitDecision:
        self.calls.append(f"peek {key}")
        return await super().peek(key, limit=limit, window_s=window_s)


class OneKey(KeyStore):
    key = ActiveKey(key_id="mk_test_key", owner_id=UUID(int=1), secret=b"s" * 32)

    async def find_active(self, key_id: str) -> ActiveKey | None:
        return self.key if key_id == self.key.key_id else None

    async def owner_id_by_name(self, name: str) -> UUID | None:
        return None


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> FakeMonotonic:
    """A fresh process-wide warning per test, on a clock the test moves."""
    clock = FakeMonotonic()
    warning = ThrottledWarning(logging.getLogger("memo.limits"), "rate limiting is failing open", every_s=30,
                               monotonic=clock)
    monkeypatch.setattr(module, "LIMITER_DOWN_WARNING", warning)
    return clock


def limiter_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "memo.limits" and r.levelno == logging.WARNING]


async def test_refusal_is_audited_without_the_signature() -> None:
    audit = RecordingAuditLog()
    with pytest.raises(AuthenticationFailed):
        await use_case(ScriptedAuthenticator(accept=False), audit)(request())
    assert [(e.reason, e.key_id, e.client_ip, e.path) for e in audit.events] == [
        ("INVALID_SIGNATURE", "mk_test_key", "10.0.0.1", "/api/memories")]
    assert SIGNATURE not in repr(audit.events)


async def test_an_address_over_its_failure_limit_is_refused_429_whether_it_signs_or_not() -> None:
    authenticator, audit = ScriptedAuthenticator(accept=False), RecordingAuditLog()
    limiter = CountingLimiter()
    authenticate = use_case(authenticator, audit, per_ip=2, limiter=limiter)
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            await authenticate(request())
    with pytest.raises(RateLimited) as failing:  # the third failure is answered for the address
        await authenticate(request())
    assert failing.value.retry_after_s == 900
    authenticator.accept = True
    signed = request(headers={"x-memo-key-id": "mk_test_key", "x-memo-nonce": "nonce-0123456789abcdef"})
    with pytest.raises(RateLimited):  # a well-signed request from the blocked address too
        await authenticate(signed)
    assert [e.reason for e in audit.events] == ["INVALID_SIGNATURE"] * 2 + ["RATE_LIMITED_IP"] * 2
    assert "hit key:mk_test_key" not in limiter.calls  # its key was not counted
    other = request(ip="10.0.0.2", headers=dict(signed.headers))
    assert (await authenticate(other)).rate.remaining == 99  # nor its nonce claimed: the same request passes


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


async def test_with_the_limiter_down_requests_pass_and_one_warning_is_logged(
        monotonic: FakeMonotonic, caplog: pytest.LogCaptureFixture) -> None:
    limiter = DownLimiter()
    authenticate = use_case(ScriptedAuthenticator(accept=True), RecordingAuditLog(), per_key=2, limiter=limiter)
    for _ in range(5):  # over the per-key limit of 2: nothing can be counted, so nothing is refused
        result = await authenticate(request())
        assert result.principal.key_id == "mk_test_key"
        assert result.rate == RateLimitDecision(allowed=True, limit=2, remaining=2, reset_after_s=900)
    assert limiter.calls == 10  # peek per address, hit per key: the limiter is still asked every time
    [warning] = limiter_warnings(caplog)
    assert "failing open" in warning.getMessage()
    assert "ConnectionRefusedError" in warning.getMessage()


async def test_the_limiter_down_warning_repeats_at_most_every_30_s(
        monotonic: FakeMonotonic, caplog: pytest.LogCaptureFixture) -> None:
    authenticate = use_case(ScriptedAuthenticator(accept=True), RecordingAuditLog(), limiter=DownLimiter())
    await authenticate(request())
    monotonic.now += 29.9
    await authenticate(request())
    assert len(limiter_warnings(caplog)) == 1
    monotonic.now += 0.1
    await authenticate(request())
    first, second = limiter_warnings(caplog)
    assert "0 more" in first.getMessage()
    assert "3 more since the last line" in second.getMessage()  # the 1st request's hit, the 2nd's peek and hit


async def test_with_the_limiter_down_a_refusal_is_still_the_refusal(
        monotonic: FakeMonotonic, caplog: pytest.LogCaptureFixture) -> None:
    audit = RecordingAuditLog()
    authenticate = use_case(ScriptedAuthenticator(accept=False), audit, per_ip=1, limiter=DownLimiter())
    for _ in range(3):  # the address cannot be counted either, so it is never blocked
        with pytest.raises(AuthenticationFailed):
            await authenticate(request())
    assert [e.reason for e in audit.events] == ["INVALID_SIGNATURE"] * 3
    assert len(limiter_warnings(caplog)) == 1


async def test_with_the_nonce_store_down_signed_requests_are_refused_not_let_through() -> None:
    audit = RecordingAuditLog()
    clock = FixedClock()
    authenticator = HmacRequestAuthenticator(OneKey(), clock)
    headers = sign_request(method="GET", url_or_path_and_query="/api/memories", body=b"", key_id="mk_test_key",
                           secret=OneKey.key.secret, timestamp=math.floor(TEST_NOW.timestamp()))
    signed = request(headers={name.lower(): value for name, value in headers.items()})
    limiter = InProcessRateLimiter(clock)
    with pytest.raises(NonceStoreUnavailable):
        await use_case(authenticator, audit, limiter=limiter, nonces=DownNonceStore())(signed)
    assert audit.events == []  # not an authentication failure: nothing audited, the address not counted
    assert (await limiter.peek("auth-fail:10.0.0.1", limit=100, window_s=900)).remaining == 100


class OtherScheme(ScriptedAuthenticator):
    """A scheme that names its key in another header: the use case must not know which."""

    def claimed_key_id(self, headers: Mapping[str, str]) -> str | None:
        return headers.get("authorization", "").removeprefix("Key ") or None


async def test_the_audited_key_id_is_the_one_the_scheme_reads() -> None:
    audit = RecordingAuditLog()
    with pytest.raises(AuthenticationFailed):
        await use_case(OtherScheme(accept=False), audit)(request(headers={"authorization": "Key mk_other_key",
                                                                          "x-memo-key-id": "mk_test_key"}))
    assert [e.key_id for e in audit.events] == ["mk_other_key"]


async def test_a_request_that_authenticates_is_admitted_in_one_call_and_counted_nowhere_else() -> None:
    limiter = CountingLimiter()
    admission = CountingAdmission(StepwiseRequestAdmission(InProcessNonceStore(FixedClock()), limiter))
    authenticate = use_case(ScriptedAuthenticator(accept=True), RecordingAuditLog(), limiter=limiter,
                            admission=admission)
    limiter.calls.clear()
    result = await authenticate(request(headers={"x-memo-key-id": "mk_test_key", "x-memo-nonce": "n" * 16}))
    [(replay, address, key)] = admission.calls
    assert (replay.scope, replay.nonce) == ("mk_test_key", "n" * 16)
    assert (address.key, address.limit, address.window_s) == ("auth-fail:10.0.0.1", 100, 900)
    assert (key.key, key.limit, key.window_s) == ("key:mk_test_key", 100, 900)
    assert limiter.calls == ["peek auth-fail:10.0.0.1", "hit key:mk_test_key"]  # the admission's own two steps
    assert result.rate.remaining == 99


async def test_a_request_that_fails_to_verify_is_never_admitted() -> None:
    admission = CountingAdmission(StepwiseRequestAdmission(InProcessNonceStore(FixedClock()), CountingLimiter()))
    with pytest.raises(AuthenticationFailed):
        await use_case(ScriptedAuthenticator(accept=False), RecordingAuditLog(), admission=admission)(request())
    assert admission.calls == []  # nothing claimed: unsigned traffic cannot burn a nonce or fill the store


async def test_a_replay_is_refused_and_counted_against_the_address_not_the_key() -> None:
    audit, limiter = RecordingAuditLog(), CountingLimiter()
    authenticate = use_case(ScriptedAuthenticator(accept=True), audit, per_ip=1, limiter=limiter)
    same = request(headers={"x-memo-key-id": "mk_test_key", "x-memo-nonce": "nonce-0123456789abcdef"})
    assert (await authenticate(same)).rate.remaining == 99
    with pytest.raises(AuthenticationFailed) as replayed:
        await authenticate(same)
    assert (replayed.value.code, replayed.value.message) == ("REPLAYED_REQUEST", "Seen.")
    assert [e.reason for e in audit.events] == ["REPLAYED_REQUEST"]
    assert limiter.calls.count("hit key:mk_test_key") == 1
    assert (await limiter.peek("key:mk_test_key", limit=100, window_s=900)).remaining == 99
    with pytest.raises(RateLimited):  # the address's one failure is used up
        await authenticate(request(headers={"x-memo-key-id": "mk_test_key", "x-memo-nonce": "n" * 16}))


async def test_a_v1_write_replayed_is_refused_in_v1_words_and_v1_reads_may_repeat() -> None:
    v1_secret = b"v1-shared-secret-of-the-original-frontend"
    authenticator = HmacRequestAuthenticator(DefaultOwner(), FixedClock(), v1_secret=v1_secret)
    authenticate = use_case(authenticator, RecordingAuditLog())
    stamp = math.floor(TEST_NOW.timestamp())
    body = b'{"content": "from the old frontend"}'
    write = v1_request("POST", sign_v1(body=body, secret=v1_secret, timestamp=stamp), body)
    assert (await authenticate(write)).principal.key_id == "v1"
    with pytest.raises(AuthenticationFailed) as replayed:
        await authenticate(write)
    assert replayed.value.code == "REPLAYED_REQUEST"
    assert "v1 signature" in (replayed.value.details or "")
    read = v1_request("GET", sign_v1(body=b"", secret=v1_secret, timestamp=stamp), b"")
    assert [(await authenticate(read)).rate.remaining for _ in range(2)] == [98, 97]


class DefaultOwner(OneKey):
    async def owner_id_by_name(self, name: str) -> UUID | None:
        return UUID(int=1) if name == "default" else None


def v1_request(method: str, headers: Mapping[str, str], body: bytes) -> IncomingRequest:
    return IncomingRequest(method=method, path="/api/memories", query="", client_ip="10.0.0.1", read_body=Body(body),
                           headers={name.lower(): value for name, value in headers.items()})


async def test_once_refused_for_its_address_a_request_is_refused_before_its_body_or_any_hmac_work() -> None:
    authenticator, clock = ScriptedAuthenticator(accept=False), FixedClock()
    authenticate = use_case(authenticator, RecordingAuditLog(), per_ip=1, clock=clock)
    with pytest.raises(AuthenticationFailed):
        await authenticate(request())
    with pytest.raises(RateLimited):  # the failure over the limit: read and verified, then refused
        await authenticate(request())
    calls, body = authenticator.calls, Body(b"{}")

    with pytest.raises(RateLimited) as refused:
        await authenticate(request(body=body))

    assert (authenticator.calls, body.reads) == (calls, 0)
    assert refused.value.retry_after_s == 900
    clock.advance(seconds=600)
    with pytest.raises(RateLimited) as later:
        await authenticate(request())
    assert later.value.retry_after_s == 300  # the same window's end, counted from now


async def test_a_remembered_refusal_ends_with_the_window_the_counters_named() -> None:
    authenticator, clock = ScriptedAuthenticator(accept=False), FixedClock()
    authenticate = use_case(authenticator, RecordingAuditLog(), per_ip=1, clock=clock,
                            limiter=InProcessRateLimiter(clock), nonces=InProcessNonceStore(clock))
    for _ in range(2):
        with pytest.raises((AuthenticationFailed, RateLimited)):
            await authenticate(request())
    calls = authenticator.calls

    clock.advance(seconds=900)
    authenticator.accept = True
    await authenticate(request())

    assert authenticator.calls == calls + 1  # asked again: the address is only refused while the counters say so


async def test_the_failure_that_uses_the_last_count_makes_the_next_request_refused_before_its_body() -> None:
    authenticator = ScriptedAuthenticator(accept=False)
    authenticate = use_case(authenticator, RecordingAuditLog(), per_ip=2)
    for _ in range(2):  # both answered 401; the second leaves the address no count
        with pytest.raises(AuthenticationFailed):
            await authenticate(request())
    calls, body = authenticator.calls, Body(b"{}")

    with pytest.raises(RateLimited):
        await authenticate(request(body=body))

    assert (authenticator.calls, body.reads) == (calls, 0)
