"""dishka providers: the core every profile shares, and the adapter sets a profile picks from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from dishka import AnyOf, Provider, Scope, collect, from_context, provide
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from memo.adapters.audit import LoggingAuditLog
from memo.adapters.crypto.aesgcm import AesGcmSecretBox
from memo.adapters.limits.memory import InProcessNonceStore, InProcessRateLimiter
from memo.adapters.limits.redis import RedisHealthCheck, RedisNonceStore, RedisRateLimiter, redis_client
from memo.adapters.limits.redis_admission import RedisRequestAdmission
from memo.adapters.limits.stepwise import StepwiseRequestAdmission
from memo.adapters.messaging.whatsapp_webhook import MetaNotificationParser
from memo.adapters.signing.hmac import HmacRequestAuthenticator
from memo.adapters.signing.whatsapp import UNSET_APP_SECRET, MetaWebhookVerifier
from memo.adapters.sqlite_writer import writer_of
from memo.adapters.storage.engine import create_engine
from memo.adapters.storage.jobs import SqlJobQueue
from memo.adapters.storage.key_uses import SqlKeyUses
from memo.adapters.storage.list_totals import ListTotals
from memo.adapters.storage.memory import InMemoryHealthCheck, InMemoryKeyStore, InMemoryStore, InMemoryUnitOfWork
from memo.adapters.storage.memory_jobs import InMemoryJobQueue
from memo.adapters.storage.memory_key_uses import InMemoryKeyUses
from memo.adapters.storage.memory_sync_status import InMemorySyncStatusReader
from memo.adapters.storage.nonces import SqlNonceStore
from memo.adapters.storage.owners import SqlAlchemyKeyStore
from memo.adapters.storage.postgres_writes import HoldingSession, PostgresUnitOfWork
from memo.adapters.storage.sqlalchemy import SqlAlchemyUnitOfWork, SqlDatabaseHealthCheck
from memo.adapters.storage.sqlite_readers import SqliteReads, close_readers, readers_of
from memo.adapters.storage.sqlite_unit_of_work import SqliteUnitOfWork
from memo.adapters.storage.unit_of_work_reads import UnitOfWorkReads
from memo.adapters.storage.whatsapp import SqlSyncStatusReader
from memo.adapters.system import SystemClock, UuidV7Ids
from memo.application.authenticate_request import AuthenticateRequest, RateLimits
from memo.application.blocked_addresses import BlockedAddresses
from memo.application.check_health import CheckHealth
from memo.application.create_memory import CreateMemory
from memo.application.delete_memory import DeleteMemory
from memo.application.export_memories import ExportMemories
from memo.application.import_memories import ImportMemories
from memo.application.key_use import KeyUseTracker
from memo.application.manage_keys import (
    CreateOwner,
    EnsureFirstKey,
    IssueApiKey,
    ListApiKeys,
    ResealSecrets,
    RevokeApiKey,
    RotateApiKey,
)
from memo.application.ports import (
    AuditLog,
    Clock,
    HealthCheck,
    IdGenerator,
    JobQueue,
    KeyStore,
    KeyUses,
    MemoryReads,
    NonceStore,
    NotificationParser,
    RateLimiter,
    RequestAdmission,
    RequestAuthenticator,
    SealedSecrets,
    SecretBox,
    SyncStatusReader,
    UnitOfWork,
    WebhookVerifier,
)
from memo.application.read_memories import GetMemory, ListMemories
from memo.application.receive_whatsapp_notification import ReceiveWhatsAppNotification
from memo.application.update_memory import UpdateMemory
from memo.application.update_owner import UpdateOwner
from memo.application.verify_webhook_subscription import VerifyWebhookSubscription, WebhookSubscriptionLimits
from memo.entrypoints.health import IN_PROCESS_LIMITS, FixedCheck, SigningCheck, WorkerCheck
from memo.entrypoints.settings import Profile, Settings


class CoreProvider(Provider):
    """What every entrypoint shares (HTTP, CLI, worker): no web framework in sight."""

    scope = Scope.REQUEST
    settings = from_context(provides=Settings, scope=Scope.APP)

    create_memory = provide(CreateMemory)
    get_memory = provide(GetMemory)
    list_memories = provide(ListMemories)
    update_memory = provide(UpdateMemory)
    delete_memory = provide(DeleteMemory)
    export_memories = provide(ExportMemories)
    import_memories = provide(ImportMemories)
    # built once: authentication runs on every request and holds no per-request state
    authenticate_request = provide(AuthenticateRequest, scope=Scope.APP)
    blocked_addresses = provide(BlockedAddresses, scope=Scope.APP)

    @provide(scope=Scope.APP)
    def key_use_tracker(self, uses: KeyUses) -> KeyUseTracker:
        return KeyUseTracker(uses=uses)

    create_owner = provide(CreateOwner)
    update_owner = provide(UpdateOwner)
    issue_api_key = provide(IssueApiKey)
    list_api_keys = provide(ListApiKeys)
    revoke_api_key = provide(RevokeApiKey)
    rotate_api_key = provide(RotateApiKey)
    reseal_secrets = provide(ResealSecrets)
    ensure_first_key = provide(EnsureFirstKey)
    audit = provide(LoggingAuditLog, provides=AuditLog, scope=Scope.APP)

    @provide(scope=Scope.APP)
    def rate_limits(self, settings: Settings) -> RateLimits:
        return RateLimits(window_s=settings.rate_limit_window_ms / 1000, per_key=settings.rate_limit_max_requests,
                          per_ip=settings.rate_limit_ip_max_requests)

    @provide(scope=Scope.APP)
    def verify_webhook_subscription(self, limiter: RateLimiter, audit: AuditLog,
                                    settings: Settings) -> VerifyWebhookSubscription:
        token = settings.whatsapp_verify_token.reveal() if settings.whatsapp_verify_token else ""
        limits = WebhookSubscriptionLimits(window_s=settings.rate_limit_window_ms / 1000,
                                           per_ip=settings.rate_limit_ip_max_requests)
        return VerifyWebhookSubscription(limiter=limiter, limits=limits, verify_token=token, audit=audit)


    @provide
    def receive_whatsapp_notification(  # noqa: PLR0917 - the use case's ports, as dishka hands them
            self, verifier: WebhookVerifier, parser: NotificationParser, uow: UnitOfWork, clock: Clock,
            ids: IdGenerator, audit: AuditLog, limiter: RateLimiter, limits: RateLimits,
            settings: Settings) -> ReceiveWhatsAppNotification:
        return ReceiveWhatsAppNotification(verifier=verifier, parser=parser, uow=uow, clock=clock, ids=ids,
                                           audit=audit, limiter=limiter, limits=limits,
                                           ask_prefix=settings.ask_prefix)

    parser = provide(MetaNotificationParser, provides=NotificationParser, scope=Scope.APP)

    @provide(scope=Scope.APP)
    def webhook_verifier(self, settings: Settings) -> WebhookVerifier:
        secrets = settings.whatsapp_app_secrets
        return MetaWebhookVerifier(secrets) if secrets else UNSET_APP_SECRET

    @provide(scope=Scope.APP)
    def secret_box(self, settings: Settings) -> SecretBox:
        if settings.encryption_key is None:
            msg = "ENCRYPTION_KEY is not set"
            raise RuntimeError(msg)
        return AesGcmSecretBox(settings.encryption_key.reveal(),
                               previous_keys=[key.reveal() for key in settings.encryption_keys_previous])

    @provide(scope=Scope.APP)
    def authenticator(self, keys: KeyStore, clock: Clock, settings: Settings) -> RequestAuthenticator:
        v1_secret = settings.api_secret_key.reveal().encode() if (
            settings.accept_v1_signatures and settings.api_secret_key) else None
        return HmacRequestAuthenticator(keys, clock, max_age_s=settings.signature_max_age_s,
                                        max_skew_s=settings.signature_max_skew_s, v1_secret=v1_secret)

    # Every adapter family adds its own HealthCheck; /health reports whatever the container holds.
    health_checks = collect(HealthCheck, scope=Scope.APP)

    @provide
    def check_health(self, checks: list[HealthCheck]) -> CheckHealth:
        return CheckHealth(checks=checks)

    @provide(scope=Scope.APP, provides=HealthCheck)
    def signing_check(self, box: SecretBox, secrets: SealedSecrets, settings: Settings) -> SigningCheck:
        return SigningCheck(box, secrets, accept_v1=settings.accept_v1_signatures)

    @provide(scope=Scope.APP, provides=HealthCheck)
    def worker_check(self, queue: JobQueue, clock: Clock, settings: Settings) -> HealthCheck:
        return WorkerCheck(queue, clock, backend="in-memory" if settings.profile is Profile.TEST else "database outbox")


class SystemProvider(Provider):
    scope = Scope.APP
    clock = provide(SystemClock, provides=Clock)
    ids = provide(UuidV7Ids, provides=IdGenerator)


class InProcessLimitsProvider(Provider):
    """The test profile: nothing outlives the container, so nothing needs sharing.

    One set of counters, given twice: as the RateLimiter port (which metrics decorate) and, undecorated, to the
    admission, whose own decorator counts its refusals; the failures the use case counts are the ones it reads.
    """

    scope = Scope.APP

    @provide
    def nonces(self, clock: Clock) -> NonceStore:
        return InProcessNonceStore(clock)

    @provide
    def counters(self, clock: Clock) -> InProcessRateLimiter:
        return InProcessRateLimiter(clock)

    @provide
    def limiter(self, counters: InProcessRateLimiter) -> RateLimiter:
        return counters

    @provide
    def admission(self, nonces: NonceStore, counters: InProcessRateLimiter) -> RequestAdmission:
        return StepwiseRequestAdmission(nonces, counters)

    @provide(provides=HealthCheck)
    def health(self) -> HealthCheck:
        return IN_PROCESS_LIMITS


DATABASE_NONCES = FixedCheck("redis", "database nonces, in-process limits",
                             "nonces live in the database, which every worker and restart sees; rate limits live "
                             "in each process: set REDIS_URL to share them between instances")


class DatabaseNoncesProvider(Provider):
    """No REDIS_URL on SQL storage: nonces in the database, so a request is refused twice across worker processes
    and restarts; rate limits stay in process (each worker counting alone is looser, never a replay)."""

    scope = Scope.APP

    @provide
    async def nonces(self, engine: AsyncEngine, clock: Clock) -> AsyncIterator[NonceStore]:
        store = SqlNonceStore(engine, clock)
        yield store
        await store.aclose()

    @provide
    def counters(self, clock: Clock) -> InProcessRateLimiter:  # given twice, as in InProcessLimitsProvider
        return InProcessRateLimiter(clock)

    @provide
    def limiter(self, counters: InProcessRateLimiter) -> RateLimiter:
        return counters

    @provide
    def admission(self, nonces: NonceStore, counters: InProcessRateLimiter) -> RequestAdmission:
        return StepwiseRequestAdmission(nonces, counters)

    @provide(provides=HealthCheck)
    def health(self) -> HealthCheck:
        return DATABASE_NONCES


class RedisLimitsProvider(Provider):
    """Nonces and counters every instance shares: replay protection fails closed, limits fail open."""

    scope = Scope.APP

    @provide
    async def client(self, settings: Settings) -> AsyncIterator[Redis]:
        if settings.redis_url is None:
            msg = "REDIS_URL is not set"
            raise RuntimeError(msg)
        client = redis_client(settings.redis_url.reveal(), timeout_s=settings.redis_timeout_ms / 1000)
        yield client
        await client.aclose()

    @provide
    def nonces(self, client: Redis, settings: Settings) -> NonceStore:
        return RedisNonceStore(client, timeout_s=settings.redis_timeout_ms / 1000)

    @provide
    def limiter(self, client: Redis, settings: Settings) -> RateLimiter:
        return RedisRateLimiter(client, timeout_s=settings.redis_timeout_ms / 1000)

    @provide
    def admission(self, client: Redis, settings: Settings) -> RequestAdmission:
        """A signed request's address, nonce and key in one script: one round trip when it authenticates."""
        return RedisRequestAdmission(client, timeout_s=settings.redis_timeout_ms / 1000)

    @provide(provides=HealthCheck)
    def health(self, client: Redis, settings: Settings) -> HealthCheck:
        return RedisHealthCheck(client, timeout_s=settings.redis_timeout_ms / 1000)


class SqlStorageProvider(Provider):
    """The embedded default (SQLite via aiosqlite) and production (PostgreSQL via asyncpg) share this code."""

    @provide(scope=Scope.APP)
    async def engine(self, settings: Settings) -> AsyncIterator[AsyncEngine]:
        engine = create_engine(settings.sqlalchemy_url, pool_size=settings.database_pool_size,
                               statement_timeout_ms=settings.database_statement_timeout_ms,
                               sqlite_synchronous=settings.sqlite_synchronous)
        yield engine
        writer = writer_of(engine)
        if writer is not None:
            await writer.aclose()  # what is open commits; its connection goes back before the pool closes
        await close_readers(engine)
        await engine.dispose()

    @provide(scope=Scope.APP)
    async def list_totals(self, engine: AsyncEngine) -> AsyncIterator[ListTotals]:
        """PostgreSQL's kept list totals, one per process (storage/list_totals.py); unused on SQLite."""
        totals = ListTotals(engine)
        yield totals
        await totals.aclose()

    @provide(scope=Scope.REQUEST)
    async def uow(self, engine: AsyncEngine, list_totals: ListTotals) -> AsyncIterator[UnitOfWork]:
        """On a SQLite file, blocks are turns of the one writer, committed in groups (sqlite_writer.py); on
        PostgreSQL, each request has a session of its own on the pool, and a create's writes go as one statement
        (postgres_writes.py)."""
        writer = writer_of(engine)
        if writer is not None:
            yield SqliteUnitOfWork(writer)
            return
        async with _sql_unit_of_work(engine, list_totals) as uow:
            yield uow

    @provide(scope=Scope.REQUEST)
    async def reads(self, engine: AsyncEngine, list_totals: ListTotals) -> AsyncIterator[MemoryReads]:
        """On a SQLite file, the reader connections, never behind the writer, off the event loop for reads of
        unbounded cost (sqlite_readers.py); on PostgreSQL, a unit of work of the request's own, as every other block."""
        readers = readers_of(engine)
        if readers is not None:
            yield SqliteReads(readers)
            return
        async with _sql_unit_of_work(engine, list_totals) as uow:
            yield UnitOfWorkReads(uow)

    job_queue = provide(SqlJobQueue, scope=Scope.APP, provides=JobQueue)
    sync_status = provide(SqlSyncStatusReader, scope=Scope.APP, provides=SyncStatusReader)
    key_uses = provide(SqlKeyUses, scope=Scope.APP, provides=KeyUses)

    @provide(scope=Scope.APP, provides=AnyOf[KeyStore, SealedSecrets])
    async def keys(self, engine: AsyncEngine, box: SecretBox) -> AsyncIterator[SqlAlchemyKeyStore]:
        store = SqlAlchemyKeyStore(engine, box)
        yield store
        await store.aclose()

    @provide(scope=Scope.APP, provides=HealthCheck)
    def health(self, engine: AsyncEngine) -> HealthCheck:
        return SqlDatabaseHealthCheck(engine)


@asynccontextmanager
async def _sql_unit_of_work(engine: AsyncEngine, list_totals: ListTotals) -> AsyncIterator[UnitOfWork]:
    """A unit of work on a session of its own: PostgreSQL's, or the plain SQL one on in-memory SQLite (tests)."""
    if engine.dialect.name != "postgresql":
        async with AsyncSession(engine, expire_on_commit=False) as session:
            yield SqlAlchemyUnitOfWork(session, list_totals=list_totals)
        return
    async with AsyncSession(engine, expire_on_commit=False, sync_session_class=HoldingSession) as session:
        yield PostgresUnitOfWork(session, list_totals=list_totals)


class InMemoryProvider(Provider):
    """The test profile: one in-memory world per container, no I/O at all."""

    store = provide(InMemoryStore, scope=Scope.APP)
    uow = provide(InMemoryUnitOfWork, scope=Scope.REQUEST, provides=UnitOfWork)
    reads = provide(UnitOfWorkReads, scope=Scope.REQUEST, provides=MemoryReads)
    job_queue = provide(InMemoryJobQueue, scope=Scope.APP, provides=JobQueue)
    sync_status = provide(InMemorySyncStatusReader, scope=Scope.APP, provides=SyncStatusReader)
    key_uses = provide(InMemoryKeyUses, scope=Scope.APP, provides=KeyUses)

    @provide(scope=Scope.APP, provides=AnyOf[KeyStore, SealedSecrets])
    def keys(self, store: InMemoryStore, box: SecretBox) -> InMemoryKeyStore:
        return InMemoryKeyStore(store, box)

    @provide(scope=Scope.APP, provides=HealthCheck)
    def health(self) -> HealthCheck:
        return InMemoryHealthCheck()
