"""ASGI app factories for the benchmark servers: `granian --interface asgi --factory apps:test_app` (bench/ on
PYTHONPATH), `uvicorn --factory apps:test_app`.

Factories rather than `memo serve`, because the bench needs variants `memo serve` does not offer while the HTTP
stack (create_app, its middleware, guard and handlers) stays the one in production:

- `embedded_app`: the normal app from the environment (the embedded default: SQLite in MEMO_DATA_DIR).
- `test_app`: the `test` profile (in-memory adapters), seeded with an owner and the key from BENCH_KEY_ID /
  BENCH_KEY_SECRET, so it authenticates real signatures and the two profiles differ only in their adapters.
- `unguarded_app` / `embedded_unguarded_app`: the same apps with the RequestAuthenticator port swapped for one
  that trusts every request. The guard still reads the body, rate-limits and stores the principal; only the
  HMAC, the key lookup and the nonce are gone, so create(guarded) vs create(unguarded) is what they cost.

Seeding goes through the app's own dishka container (`app.state.dishka_container`), in a startup hook, so it
uses the same adapters the requests will.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from uuid import UUID

from dishka import AsyncContainer, Provider, Scope, provide
from litestar import Litestar

from memo.adapters.limits.stepwise import StepwiseRequestAdmission
from memo.adapters.storage.migrate import upgrade
from memo.application.admission import ReplayClaim, VerifiedRequest
from memo.application.dto import SignedRequest
from memo.application.ports import (
    Clock,
    IdGenerator,
    NonceStore,
    RateLimiter,
    RequestAdmission,
    RequestAuthenticator,
    SecretBox,
    UnitOfWork,
)
from memo.domain.owners import ApiKey, Owner, Principal
from memo.entrypoints.http.app import create_app
from memo.entrypoints.logs import configure_logging
from memo.entrypoints.settings import Profile, Settings

BENCH_OWNER = "bench"
TRUSTED_KEY_ID = "bench-unguarded"  # rate limiting still counts per key id; this one names no stored key


class TrustingAuthenticator(RequestAuthenticator):
    """Accepts any request as the bench owner: no HMAC or key lookup. Filled in at startup."""

    def __init__(self) -> None:
        self.principal: Principal | None = None

    def claimed_key_id(self, headers: Mapping[str, str]) -> str | None:  # noqa: ARG002 - trusts it by design
        return None

    async def authenticate(self, request: SignedRequest) -> VerifiedRequest:  # noqa: ARG002 - trusts it by design
        if self.principal is None:
            raise RuntimeError("the trusting authenticator was not seeded (startup hook did not run)")
        return VerifiedRequest(principal=self.principal, replay=ReplayClaim(
            scope=TRUSTED_KEY_ID, nonce="unclaimed-by-the-bench", ttl_s=1, refusal="", refusal_details=""))


class NothingSeen(NonceStore):
    """Every replay key is new and nothing is stored: the trusting apps claim no nonce."""

    async def remember(self, scope: str, nonce: str, ttl_s: int, *, shared: bool = False) -> bool:  # noqa: ARG002
        return True


class TrustingProvider(Provider):
    """Overrides the HMAC authenticator and the admission in the same APP scope: the HMAC, key lookup and nonce claim
    are gone, the limits stay."""

    scope = Scope.APP  # as the real authenticator: built once

    def __init__(self, authenticator: TrustingAuthenticator) -> None:
        super().__init__()
        self._authenticator = authenticator

    @provide(override=True)
    def authenticator(self) -> RequestAuthenticator:
        return self._authenticator

    @provide(override=True)
    def admission(self, limiter: RateLimiter) -> RequestAdmission:
        """The address and the key still counted, as every app counts them; no nonce claimed."""
        return StepwiseRequestAdmission(NothingSeen(), limiter)


async def ensure_owner(container: AsyncContainer, name: str) -> UUID:
    """The owner's id, creating the owner when missing (the embedded default may already have it from the CLI)."""
    async with container() as scope:
        uow = await scope.get(UnitOfWork)
        clock, ids = await scope.get(Clock), await scope.get(IdGenerator)
        async with uow:
            owner = await uow.owners.by_name(name)
            if owner is None:
                owner = Owner.create(id=ids.new_id(), name=name, now=clock.now())
                await uow.owners.add(owner)
                await uow.commit()
        return owner.id


async def ensure_key(container: AsyncContainer, owner_id: UUID, key_id: str, secret: str) -> None:
    """Store a key with a secret the load generator knows, sealed by the container's own SecretBox."""
    box = await container.get(SecretBox)
    async with container() as scope:
        uow = await scope.get(UnitOfWork)
        clock = await scope.get(Clock)
        async with uow:
            if await uow.api_keys.get(key_id) is None:
                await uow.api_keys.add(ApiKey(key_id=key_id, owner_id=owner_id, label="bench",
                                              sealed_secret=box.seal(secret.encode(), key_id=key_id),
                                              created_at=clock.now()))
                await uow.commit()


def _bench_key() -> tuple[str, str] | None:
    key_id, secret = os.environ.get("BENCH_KEY_ID", ""), os.environ.get("BENCH_KEY_SECRET", "")
    return (key_id, secret) if key_id and secret else None


def _build(settings: Settings, *, trusting: bool, seed_key: bool) -> Litestar:
    configure_logging(settings)  # as memo.entrypoints.http.asgi.app_factory does
    authenticator = TrustingAuthenticator()
    app = create_app(settings, *([TrustingProvider(authenticator)] if trusting else []))
    key = _bench_key()
    if seed_key and key is None:
        raise RuntimeError("set BENCH_KEY_ID and BENCH_KEY_SECRET: the test profile has no other way to get a key")
    if not trusting and not seed_key:
        return app

    async def seed(app: Litestar) -> None:
        if settings.profile is not Profile.TEST:
            await upgrade(settings.sqlalchemy_url)  # idempotent; `memo serve` does the same before it starts
        container: AsyncContainer = app.state.dishka_container
        owner_id = await ensure_owner(container, BENCH_OWNER)
        if key is not None and (seed_key or settings.profile is Profile.TEST):
            await ensure_key(container, owner_id, *key)
        authenticator.principal = Principal(owner_id=owner_id, key_id=TRUSTED_KEY_ID)

    app.on_startup.append(seed)
    return app


def test_settings(**changes: object) -> Settings:
    return Settings.for_tests(rate_limit_max_requests=10**9, rate_limit_ip_max_requests=10**9, **changes)


def embedded_app() -> Litestar:
    """The normal app, settings from the environment; its key comes from `memo keys create`."""
    return _build(Settings.from_env(), trusting=False, seed_key=False)


def test_app(settings: Settings | None = None) -> Litestar:  # noqa: PT028 - a factory, not a test
    """The in-memory `test` profile with the bench key seeded, so real signatures verify."""
    return _build(settings or test_settings(), trusting=False, seed_key=True)


def unguarded_app(settings: Settings | None = None) -> Litestar:
    """test_app with a trusting authenticator: the guard's cost on the test profile."""
    return _build(settings or test_settings(), trusting=True, seed_key=False)


def embedded_unguarded_app() -> Litestar:
    """embedded_app with a trusting authenticator: the guard's cost on the embedded default."""
    return _build(Settings.from_env(), trusting=True, seed_key=False)
