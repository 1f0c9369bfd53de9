"""The whole app on real settings (embedded SQLite, PostgreSQL, OpenAI + Pinecone fakes), driven over ASGI.

Each `*_brain` context manager migrates a fresh database the way `memo serve` would, builds `create_app(settings)`
with only the clock swapped for a FixedClock (so job backoff is stepped over, not waited for), and yields a
`Brain`: the client, the e2e tests' `Signer`, the fakes it talks to, and the worker's jobs run in process.
The in-process worker is off: a test decides when the jobs run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from dishka import AsyncContainer
from litestar import Litestar
from litestar.testing import AsyncTestClient

from memo.adapters.storage.migrate import upgrade
from memo.adapters.system import FixedClock
from memo.application.dto import IssuedKey
from memo.application.manage_keys import CreateOwner, IssueApiKey
from memo.application.ports import Clock, JobQueue, UnitOfWork
from memo.application.run_jobs import RunJobs
from memo.domain.jobs import Job, JobState
from memo.entrypoints.http.app import create_app
from memo.entrypoints.secret import Secret
from memo.entrypoints.settings import Profile, Settings
from memo.entrypoints.worker import JOB_USE_CASES, scoped_handlers
from tests.e2e.conftest import FixedClockProvider, Signer
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_pinecone import FakePinecone
from tests.support.postgres import throwaway_database

SEARCH, ASK, MEMORIES = "/api/memories/search", "/api/ask", "/api/memories"
MODES = ("keyword", "semantic", "hybrid")
T = TypeVar("T")
OPENAI_KEY = "sk-brain-test-0123456789abcdef"
PINECONE_KEY = "pc-brain-test-0123456789abcdef"
CLOUD_DIMENSIONS = 64  # OPENAI_EMBEDDING_DIMENSIONS's floor: small vectors keep the fakes quick


@dataclass
class Brain:
    """The running app and what it talks to.

    Litestar's AsyncTestClient serves the app on an event loop of its own (a blocking portal's thread), and the
    app's engine, SDK clients and pools belong to the loop they were first used on; so everything a test does to
    the app outside HTTP (keys, jobs, the index, use cases) runs on that loop too, through `on_app_loop`.
    """

    app: Litestar
    client: AsyncTestClient[Litestar]
    clock: FixedClock
    settings: Settings
    backend: str  # the vector index /health must name
    openai: FakeOpenAI | None = None
    pinecone: FakePinecone | None = None

    async def on_app_loop(self, work: Callable[[AsyncContainer], Awaitable[T]]) -> T:
        """`work(container)` run on the app's event loop; the test's loop waits without blocking."""
        container: AsyncContainer = self.app.state.dishka_container

        async def run() -> T:
            return await work(container)

        return await asyncio.to_thread(self.client.blocking_portal.call, run)

    async def signer_for(self, owner: str, **owner_fields: Any) -> Signer:
        """A new owner (with `owner_fields`, such as its WhatsApp numbers) and a signer for a key of theirs."""
        async def issue(container: AsyncContainer) -> IssuedKey:
            async with container() as scope:
                await (await scope.get(CreateOwner))(owner, **owner_fields)
            async with container() as scope:
                issued: IssuedKey = await (await scope.get(IssueApiKey))(owner, label="tests")
                return issued

        issued = await self.on_app_loop(issue)
        return Signer(self.client, issued.key_id, issued.secret, self.clock)

    async def run_jobs(self) -> None:
        """What the worker would do next: every due job, to the end, as `memo worker` runs them.

        The backoff's jitter is its upper bound, so a failed attempt waits a known time (2 s, then 4 s, ...).
        """
        async def drain(container: AsyncContainer) -> None:
            worker = RunJobs(queue=await container.get(JobQueue), clock=await container.get(Clock),
                             handlers=scoped_handlers(container, JOB_USE_CASES), worker_id="brain-test",
                             max_attempts=self.settings.job_max_attempts, jitter=lambda bound_s: bound_s)
            while await worker.run_batch():
                pass

        await self.on_app_loop(drain)

    async def jobs(self, state: JobState | None = None) -> Sequence[Job]:
        async def listed(container: AsyncContainer) -> Sequence[Job]:
            queue: JobQueue = await container.get(JobQueue)
            return await queue.by_state(state, limit=1000)

        return await self.on_app_loop(listed)

    async def owner_id(self, name: str) -> UUID:
        async def find(container: AsyncContainer) -> UUID:
            async with container() as scope:
                uow = await scope.get(UnitOfWork)
                async with uow:
                    owner = await uow.owners.by_name(name)
            assert owner is not None, name
            owner_id: UUID = owner.id
            return owner_id

        return await self.on_app_loop(find)


def local_settings(data_dir: Path, **changes: Any) -> Settings:
    """The embedded default: SQLite in the data dir, no AI settings (LocalEmbedder, SQLite vectors, quotes)."""
    return Settings.for_tests(profile=Profile.EMBEDDED, data_dir=data_dir, inprocess_worker=False, **changes)


def cloud_settings(data_dir: Path, openai: FakeOpenAI, pinecone: FakePinecone, **changes: Any) -> Settings:
    """The embedded profile with OpenAI and Pinecone configured, both pointed at their fakes."""
    return local_settings(data_dir, **{
        "openai_api_key": Secret(OPENAI_KEY), "openai_base_url": openai.base_url,
        "openai_embedding_dimensions": pinecone.dimension, "openai_max_retries": 0,
        "pinecone_api_key": Secret(PINECONE_KEY), "pinecone_index_host": pinecone.host, "pinecone_timeout_s": 2.0,
        **changes})


@asynccontextmanager
async def running(settings: Settings, backend: str, *, openai: FakeOpenAI | None = None,
                  pinecone: FakePinecone | None = None) -> AsyncIterator[Brain]:
    await upgrade(settings.sqlalchemy_url)
    clock = FixedClock()
    app = create_app(settings, FixedClockProvider(clock))
    async with AsyncTestClient(app=app) as client:
        yield Brain(app=app, client=client, clock=clock, settings=settings, backend=backend, openai=openai,
                    pinecone=pinecone)


@asynccontextmanager
async def local_brain(data_dir: Path, **changes: Any) -> AsyncIterator[Brain]:
    async with running(local_settings(data_dir, **changes), "local") as brain:
        yield brain


@asynccontextmanager
async def postgres_brain(data_dir: Path, **changes: Any) -> AsyncIterator[Brain]:
    """PostgreSQL in a throwaway database (MEMO_TEST_POSTGRES_URL's server), pgvector chosen by `auto`."""
    async with throwaway_database("memo_brain") as url:
        settings = Settings.for_tests(profile=Profile.PRODUCTION, data_dir=data_dir, database_url=url,
                                      database_pool_size=4, inprocess_worker=False, **changes)
        async with running(settings, "pgvector") as brain:
            yield brain


@asynccontextmanager
async def cloud_brain(data_dir: Path, **changes: Any) -> AsyncIterator[Brain]:
    openai = FakeOpenAI()
    pinecone = FakePinecone(api_key=PINECONE_KEY, dimension=CLOUD_DIMENSIONS)
    try:
        async with running(cloud_settings(data_dir, openai, pinecone, **changes), "pinecone", openai=openai,
                           pinecone=pinecone) as brain:
            yield brain
    finally:
        openai.close()
        pinecone.close()


async def remember(signer: Signer, content: str, **fields: Any) -> str:
    response = await signer.post(MEMORIES, {"content": content, **fields})
    assert response.status_code == 201, response.text
    memory_id: str = response.json()["data"]["id"]
    return memory_id


async def search(signer: Signer, query: str, mode: str = "hybrid", **fields: Any) -> dict[str, Any]:
    response = await signer.post(SEARCH, {"query": query, "mode": mode, **fields})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def ask(signer: Signer, question: str) -> dict[str, Any]:
    response = await signer.post(ASK, {"question": question})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def ids(body: dict[str, Any]) -> list[str]:
    return [hit["memory"]["id"] for hit in body["data"]]
