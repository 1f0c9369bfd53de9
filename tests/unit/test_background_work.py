"""Jobs run as background work, so the local model indexes at the lowest CPU priority; requests never do."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from uuid import UUID

from dishka import Provider, Scope, provide

from memo.adapters.embedding.fake import HashingEmbedder
from memo.adapters.priority import in_background
from memo.application.create_memory import CreateMemory
from memo.application.dto import CreateMemoryCommand
from memo.application.ports import Embedder
from memo.application.search_memories import SearchCommand, SearchMemories
from memo.domain.retrieval import SearchMode
from memo.entrypoints.container import make_container
from memo.entrypoints.settings import Settings
from memo.entrypoints.worker import InProcessWorker


class WhereItRan(HashingEmbedder):
    """Remembers, per call, whether it was made as background work."""

    def __init__(self) -> None:
        super().__init__()
        self.in_background: list[bool] = []
        self.called = asyncio.Event()

    async def embed(self, texts: Sequence[str]) -> Sequence[Sequence[float]]:
        self.in_background.append(in_background())
        self.called.set()
        return await super().embed(texts)


class Recording(Provider):
    def __init__(self, embedder: WhereItRan) -> None:
        super().__init__()
        self.embedder = embedder

    @provide(scope=Scope.APP, override=True)
    def recording(self) -> Embedder:
        return self.embedder


async def test_the_in_process_worker_indexes_as_background_work_and_a_search_does_not() -> None:
    embedder = WhereItRan()
    settings = Settings.for_tests()
    container = make_container(settings, Recording(embedder))
    worker = InProcessWorker(container, settings)
    try:
        async with container() as scope:
            await (await scope.get(CreateMemory))(CreateMemoryCommand(owner_id=UUID(int=1), content="oat milk"))
        await worker.start()
        await asyncio.wait_for(embedder.called.wait(), timeout=10)
        assert embedder.in_background == [True]
        async with container() as scope:
            await (await scope.get(SearchMemories))(SearchCommand(owner_id=UUID(int=1), query="milk",
                                                                  mode=SearchMode.SEMANTIC))
        assert embedder.in_background == [True, False]
        assert not in_background()
    finally:
        await worker.stop()
        await container.close()
