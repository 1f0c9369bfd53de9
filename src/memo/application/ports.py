"""Every port of Memo, one Protocol each; adapters implement them, use cases depend on nothing else."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol, Self
from uuid import UUID

from memo.application.admission import Admission, Limit, ReplayClaim, VerifiedRequest
from memo.application.dto import (
    ActiveKey,
    CheckResult,
    DownloadedMedia,
    MemoryQuery,
    Page,
    RateLimitDecision,
    SecurityEvent,
    SentMessage,
    SignedRequest,
    SyncStatus,
)
from memo.domain.conversation import ConversationMessage
from memo.domain.idempotency import IdempotencyRecord
from memo.domain.jobs import Job, JobCounts, JobState
from memo.domain.memory import Memory
from memo.domain.owners import ApiKey, Owner
from memo.domain.retrieval import Answer, Hit, IndexState, SearchFilters, Transcript, VectorEntry
from memo.domain.whatsapp import ParsedNotification, StatusUpdate


class Clock(Protocol):
    def now(self) -> datetime: ...


class IdGenerator(Protocol):
    def new_id(self) -> UUID: ...


class MemoryRepository(Protocol):
    async def add(self, memory: Memory) -> None: ...
    async def get(self, owner_id: UUID, memory_id: UUID) -> Memory | None: ...
    async def find(self, owner_id: UUID, query: MemoryQuery) -> Page[Memory]: ...
    async def replace(self, memory: Memory, *, expected_version: int) -> bool:
        """Store `memory` if the stored row still has `expected_version` (compare-and-set); False otherwise."""
        ...
    async def remove(self, owner_id: UUID, memory_id: UUID) -> bool: ...
    async def get_many(self, owner_id: UUID, memory_ids: Sequence[UUID]) -> Sequence[Memory]:
        """The owner's memories among `memory_ids`, in no particular order; ids of others or of none are left out."""
        ...
    async def rank(self, owner_id: UUID, text: str, *, filters: SearchFilters, limit: int) -> Sequence[Hit]:
        """The owner's memories passing `filters` that hold any word of `text`, best BM25 first (Hit.score > 0)."""
        ...
    async def page_after(self, owner_id: UUID, after: tuple[datetime, UUID] | None, *,
                         limit: int) -> Sequence[Memory]:
        """Up to `limit` of the owner's memories after `after` in (created_at, id) order: a keyset page, as cheap
        at the millionth memory as at the first."""
        ...
    async def owners_of(self, memory_ids: Sequence[UUID]) -> Mapping[UUID, UUID]:
        """The owner of each of `memory_ids` that anyone holds; ids nobody holds are left out."""
        ...
    async def add_many(self, memories: Sequence[Memory]) -> None:
        """`add` for many memories in as few statements as the store allows."""
        ...


class MemoryReads(Protocol):
    """Committed memories for a request that only reads: never inside a unit of work, so never behind a writer.

    A read sees what was committed when it ran: every write answered before it, and none still in flight.
    """

    async def get(self, owner_id: UUID, memory_id: UUID) -> Memory | None: ...
    async def find(self, owner_id: UUID, query: MemoryQuery) -> Page[Memory]: ...
    async def get_many(self, owner_id: UUID, memory_ids: Sequence[UUID]) -> Sequence[Memory]:
        """As `MemoryRepository.get_many`."""
        ...
    async def rank(self, owner_id: UUID, text: str, *, filters: SearchFilters, limit: int) -> Sequence[Hit]:
        """As `MemoryRepository.rank`."""
        ...


class IndexStateRepository(Protocol):
    """What the vector index holds for each memory (model and content hash), so nothing is embedded twice."""

    async def get_many(self, memory_ids: Sequence[UUID]) -> Mapping[UUID, IndexState]: ...
    async def save(self, states: Sequence[IndexState]) -> None:
        """Insert or replace the state of each memory."""
        ...
    async def remove(self, memory_ids: Sequence[UUID]) -> None: ...
    async def stale(self, model: str, *, owner_id: UUID | None = None, after: UUID | None = None,
                    limit: int = 500, other_models: bool = True) -> Sequence[UUID]:
        """Ids of memories (of `owner_id`, or everyone's) with no state for `model` or a state of another model,
        in id order after `after`: what a reindex still has to do, resumable from the last id it finished.
        With `other_models` False, only memories the index holds under no model at all."""
        ...


class IdempotencyRepository(Protocol):
    async def get(self, owner_id: UUID, key: str) -> IdempotencyRecord | None: ...
    async def claim(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        """Take (owner, key) for `record`, replacing an expired claim; None when taken, else the live claim.

        Atomic against concurrent callers: of two requests racing on one key, one claims and the other
        waits for it and gets its record back.
        """
        ...


class OwnerRepository(Protocol):
    async def add(self, owner: Owner) -> None: ...
    async def by_name(self, name: str) -> Owner | None: ...
    async def by_id(self, owner_id: UUID) -> Owner | None: ...
    async def by_whatsapp_phone_number_id(self, phone_number_id: str) -> Owner | None:
        """The owner of a receiving business number, read from storage on every call (no cache to go stale)."""
        ...
    async def all(self) -> Sequence[Owner]: ...
    async def update(self, owner: Owner) -> bool:
        """Store the owner's WhatsApp numbers; False when no such owner; ValidationFailed when another owner
        already claims the phone number id."""
        ...


class ApiKeyRepository(Protocol):
    async def add(self, key: ApiKey) -> None: ...
    async def get(self, key_id: str) -> ApiKey | None: ...
    async def all(self) -> Sequence[ApiKey]: ...
    async def revoke(self, key_id: str, at: datetime) -> bool: ...
    async def rotate(self, key: ApiKey, *, replacing: bytes) -> bool:
        """Store `key`'s secret, previous secret and its end if the stored key is active and its sealed secret is
        still `replacing` (compare-and-set); False otherwise, so two rotations never both win."""
        ...


class WhatsAppMessageRepository(Protocol):
    """The WhatsApp messages received and sent, and the delivery state of the sent ones, per owner."""

    async def claim(self, message: ConversationMessage) -> bool:
        """Record `message` unless (owner, WhatsApp message id) is already recorded; True when it is new.

        Atomic against concurrent callers: of many claims of one id, one records it and the others (once it has
        committed) get False; if it rolls back, a later claim records it.
        """
        ...
    async def get(self, owner_id: UUID, whatsapp_message_id: str) -> ConversationMessage | None: ...
    async def save_media(self, message: ConversationMessage) -> None:
        """Store the media state and reference of a recorded message."""
        ...
    async def record_status(self, owner_id: UUID, status: StatusUpdate, *, received_at: datetime) -> bool:
        """Keep `status` for the message it names, sent by Memo or not yet known, if it advances the kept one
        (memo.domain.whatsapp.advances), atomically; True when it did. A status is never moved backwards."""
        ...
    async def status_of(self, owner_id: UUID, whatsapp_message_id: str) -> StatusUpdate | None: ...
    async def of_memories(self, owner_id: UUID,
                          memory_ids: Sequence[UUID]) -> Mapping[UUID, tuple[ConversationMessage, StatusUpdate | None]]:
        """The recorded message of each of the owner's `memory_ids` that has one, with its kept status."""
        ...


class Outbox(Protocol):
    """Jobs written inside a unit of work: they commit, or vanish, with the data that causes them."""

    async def enqueue(self, job: Job) -> None: ...


class JobQueue(Protocol):
    """The worker's side of the outbox, each call its own transaction.

    Every write after the claim is a compare-and-set on the lease: a worker whose lease ran out and whose job was
    claimed again gets False and must drop the job, so a job's outcome is recorded by one worker only.
    """

    async def claim(self, worker_id: str, *, limit: int, lease_s: float, now: datetime) -> Sequence[Job]:
        """Up to `limit` due jobs (pending and due, or running on an expired lease), oldest due first, now
        running for `worker_id` until `now + lease_s`; no other claimer gets them while the lease holds."""
        ...
    async def settle(self, job: Job, *, worker_id: str) -> bool:
        """Store `job` as the claimed job's new state (done, failed attempt, released, lease extended) if
        `worker_id` still holds its lease; False when the lease was lost to another worker."""
        ...
    async def get(self, job_id: UUID) -> Job | None: ...
    async def by_state(self, state: JobState | None = None, *, limit: int = 100) -> Sequence[Job]:
        """Jobs in `state` (every state when None), oldest first."""
        ...
    async def retry(self, job_id: UUID, now: datetime) -> bool:
        """Put a failed job back to pending with every attempt again; False when it is not failed."""
        ...
    async def retry_all_failed(self, now: datetime) -> int: ...
    async def counts(self, now: datetime) -> JobCounts: ...
    async def heartbeat(self, worker_id: str, now: datetime) -> None: ...
    async def prune_done(self, finished_before: datetime, *, limit: int) -> int:
        """Delete up to `limit` done jobs last updated before `finished_before`; how many went. Failed jobs stay."""
        ...


class UnitOfWork(Protocol):
    """One transaction over every repository; leaving the block without `commit()` rolls back."""

    memories: MemoryRepository
    idempotency: IdempotencyRepository
    owners: OwnerRepository
    api_keys: ApiKeyRepository
    whatsapp: WhatsAppMessageRepository
    index_states: IndexStateRepository
    outbox: Outbox

    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def commit(self) -> None: ...


class KeyStore(Protocol):
    """Read side of keys for authentication: the opened secret of an active key, looked up on every request.

    After a rotation the previous secret comes opened too, with its end: whether it still counts is the caller's
    choice at its own clock (`ActiveKey.previous_at`), so the store never reads the time.
    """

    async def find_active(self, key_id: str) -> ActiveKey | None: ...
    async def owner_id_by_name(self, name: str) -> UUID | None: ...


class KeyUses(Protocol):
    """Where the last use of each key is kept: written in the background, never inside a signed request."""

    async def record(self, uses: Mapping[str, datetime]) -> None:
        """Set each key's last use to its time, unless the stored one is later already (it never moves back)."""
        ...


class SealedSecrets(Protocol):
    """The key secrets as stored, still sealed: for the health check that opens one and for re-sealing them all."""

    async def sample(self) -> tuple[str, bytes] | None:
        """(key id, sealed secret) of one active key; None when no key is active."""
        ...
    async def all(self) -> Sequence[tuple[str, bytes]]:
        """(key id, sealed secret) of every stored secret, revoked keys included; a rotated key gives two pairs,
        its current secret and its previous one."""
        ...
    async def replace(self, key_id: str, old: bytes, new: bytes) -> bool:
        """Store `new` in place of the key's sealed secret, current or previous, that is still `old`
        (compare-and-set; sealed bytes never repeat, so `old` names one); False otherwise."""
        ...


class SecretBox(Protocol):
    """Seals key secrets at rest, each bound to its key id: a sealed value opens only for the key it was made for."""

    def seal(self, plaintext: bytes, *, key_id: str) -> bytes: ...
    def open(self, sealed: bytes, *, key_id: str) -> bytes:
        """The plaintext, or SecretUnreadable (another ENCRYPTION_KEY, another key id, altered bytes)."""
        ...


class NonceStore(Protocol):
    """Replay keys, recorded once; RequestAdmission claims through it where nonces live apart from counters."""

    async def remember(self, scope: str, nonce: str, ttl_s: int, *, shared: bool = False) -> bool:
        """Record (scope, nonce) for ttl_s seconds, atomically; False when it was already recorded, unless this
        use and every earlier one are `shared`. A use that is not shared makes the record exclusive for good."""
        ...


class RateLimiter(Protocol):
    async def hit(self, key: str, *, limit: int, window_s: float) -> RateLimitDecision: ...
    async def peek(self, key: str, *, limit: int, window_s: float) -> RateLimitDecision: ...


class RequestAdmission(Protocol):
    """Lets a verified request in: its address's failures, its replay claim and its key's count, in one call, so a
    store that holds all three answers in one round trip."""

    async def admit(self, replay: ReplayClaim, *, address: Limit, key: Limit) -> Admission:
        """In this order, each step only if the one before let the request on: AddressBlocked when `address`
        (failed authentications, counted elsewhere by RateLimiter.hit) has no count left; Replayed when `replay` was
        claimed before (as NonceStore.remember refuses); else the claim is made and one count is added to `key`.

        NonceStoreUnavailable when the claim cannot be made or is not known to be made: replay protection fails
        closed. The limits fail open: a limiter that cannot answer lets the request through uncounted.
        """
        ...


class RequestAuthenticator(Protocol):
    async def authenticate(self, request: SignedRequest) -> VerifiedRequest:
        """Who signed the request and the replay claim it still has to make (the authenticator claims nothing), or
        AuthenticationFailed with an API.md 2.3 code."""
        ...

    def claimed_key_id(self, headers: Mapping[str, str]) -> str | None:
        """The key a request says it is signed with, unverified, for the audit trail; None when it names none."""
        ...


class WebhookVerifier(Protocol):
    """Checks who signed a webhook body (Meta's scheme for WhatsApp), before any of it is parsed."""

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Return if `body`, the raw bytes as received, is signed; else raise AuthenticationFailed.

        `headers` have lower-case names, as in SignedRequest.
        """
        ...


class NotificationParser(Protocol):
    """Reads a verified webhook body into domain values; one unreadable item is skipped, never its siblings."""

    def parse(self, body: bytes) -> ParsedNotification:
        """The notification, or InvalidJson / InvalidWebhookObject for a body that is not one at all."""
        ...


class MessageSender(Protocol):
    """Sends WhatsApp messages (the Cloud API in production)."""

    async def send_text(self, to: str, text: str, *, reply_to: str | None = None) -> SentMessage:
        """Send `text` to `to` (digits only), as a reply to the WhatsApp message id `reply_to` when given.

        Raises an UpstreamFailure subclass (memo.application.errors) for every refusal and for a timeout; retries
        only where the answer proves nothing was sent.
        """
        ...


class MediaDownloader(Protocol):
    """Fetches a received message's media by its id: the URL is looked up afresh every time, as Meta's expire."""

    async def download(self, media_id: str, *, max_bytes: int) -> DownloadedMedia:
        """The bytes; MediaUnavailable when Meta no longer has them or they exceed `max_bytes` (a retry will not
        help), UpstreamFailure when a retry may."""
        ...


class MediaStore(Protocol):
    """Keeps media bytes under an opaque reference."""

    async def put(self, owner_id: UUID, name: str, data: bytes) -> str:
        """Store `data` durably (written through before returning) and return its reference; the same owner and
        name again replaces the bytes and answers the same reference."""
        ...
    async def get(self, ref: str) -> bytes | None: ...


class SyncStatusReader(Protocol):
    async def sync_status(self, owner_id: UUID) -> SyncStatus: ...


class Embedder(Protocol):
    """Turns text into vectors; `model` names the vectors it makes, so a change of model is detectable."""

    @property
    def model(self) -> str: ...
    @property
    def dimensions(self) -> int: ...
    async def embed(self, texts: Sequence[str]) -> Sequence[Sequence[float]]:
        """One unit-length vector per text, in order; EmbedderUnavailable when the model cannot be reached."""
        ...


class VectorIndex(Protocol):
    """Nearest memories by cosine similarity, one owner at a time; filters run inside the index."""

    async def upsert(self, entries: Sequence[VectorEntry]) -> None: ...
    async def query(self, owner_id: UUID, vector: Sequence[float], *, limit: int,
                    filters: SearchFilters) -> Sequence[Hit]:
        """Up to `limit` of the owner's memories that pass `filters`, most similar first (score: cosine).
        VectorIndexUnavailable when the index cannot be reached."""
        ...
    async def delete(self, owner_id: UUID, memory_ids: Sequence[UUID]) -> None: ...


class Answerer(Protocol):
    async def answer(self, question: str, memories: Sequence[Memory]) -> Answer:
        """An answer from `memories` alone, in the question's language, citing every memory it uses (and no
        other); an Answer without sources, saying so, when they do not hold the answer."""
        ...


class Transcriber(Protocol):
    async def transcribe(self, audio: bytes, *, mime_type: str | None) -> Transcript:
        """The words spoken in `audio` (a WhatsApp voice note is OGG/Opus); TranscriberUnavailable on failure."""
        ...


class AuditLog(Protocol):
    def security_event(self, event: SecurityEvent) -> None: ...


class HealthCheck(Protocol):
    name: str

    async def check(self) -> CheckResult: ...


class SchemaVersion(Protocol):
    """Where the database's schema stands beside the migrations this code ships: readiness needs them equal."""

    backend: str

    def head(self) -> str:
        """The revision this code's migrations end at."""
        ...
    async def current(self) -> str | None:
        """The revision the database is at; None before the first migration; StorageUnavailable when unreadable."""
        ...
