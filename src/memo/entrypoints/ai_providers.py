"""dishka providers of the AI side: the use cases, and the embedder, vector index, answerer and transcriber
each profile runs on (chosen from the settings: OpenAI and Pinecone when configured, local parts otherwise).

The OpenAI and Pinecone adapters are imported where they are chosen: their SDKs take about two seconds and tens of
MB to import, which every `memo` command and every embedded server would otherwise pay for parts it never uses."""

from __future__ import annotations

from collections.abc import AsyncIterator

from dishka import AnyOf, Provider, Scope, provide
from sqlalchemy.ext.asyncio import AsyncEngine

from memo.adapters.answering.extractive import ExtractiveAnswerer
from memo.adapters.embedding.fake import HashingEmbedder
from memo.adapters.embedding.local import LocalEmbedder
from memo.adapters.speech.memory import InMemoryTranscriber
from memo.adapters.speech.whisper import WhisperTranscriber
from memo.adapters.vectors.memory import InMemoryVectorIndex
from memo.adapters.vectors.pgvector import PgVectorIndex
from memo.adapters.vectors.sqlite import SqliteVectorIndex
from memo.application.answer_on_whatsapp import AnswerOnWhatsApp
from memo.application.ask_question import AskQuestion
from memo.application.fallback_answerer import FallbackAnswerer
from memo.application.index_memories import DeleteVectors, IndexMemories
from memo.application.ports import (
    Answerer,
    Embedder,
    HealthCheck,
    MemoryReads,
    Transcriber,
    UnitOfWork,
    VectorIndex,
)
from memo.application.reindex_memories import ReindexMemories
from memo.application.search_memories import SearchMemories
from memo.application.send_whatsapp_message import SendWhatsAppMessage
from memo.application.transcribe_voice_note import TranscribeVoiceNote
from memo.entrypoints.health import VectorIndexCheck
from memo.entrypoints.settings import Settings


class AiProvider(Provider):
    """The use cases, on every profile."""

    scope = Scope.REQUEST
    index_memories = provide(IndexMemories)
    delete_vectors = provide(DeleteVectors)

    @provide
    def search_memories(self, reads: MemoryReads, uow: UnitOfWork, embedder: Embedder, index: VectorIndex,
                        settings: Settings) -> SearchMemories:
        return SearchMemories(reads=reads, uow=uow, embedder=embedder, index=index,
                              vector_deadline_s=settings.search_vector_deadline_s)

    ask_question = provide(AskQuestion)
    reindex_memories = provide(ReindexMemories)
    transcribe_voice_note = provide(TranscribeVoiceNote)

    @provide
    def answer_on_whatsapp(self, uow: UnitOfWork, ask: AskQuestion, send: SendWhatsAppMessage,
                           settings: Settings) -> AnswerOnWhatsApp:
        return AnswerOnWhatsApp(uow=uow, ask=ask, send=send, prefix=settings.ask_prefix)

    @provide(scope=Scope.APP, provides=HealthCheck)
    def vector_index_check(self, index: VectorIndex, embedder: Embedder, settings: Settings) -> HealthCheck:
        return VectorIndexCheck(index, backend=vector_backend(settings), dimensions=embedder.dimensions, timeout_s=1.5)


def vector_backend(settings: Settings) -> str:
    """Which vector index the settings choose: MEMO_VECTOR_INDEX, or by what is configured when it is `auto`."""
    if settings.vector_index != "auto":
        return settings.vector_index
    if settings.pinecone_api_key is not None:
        return "pinecone"
    return "pgvector" if settings.sqlalchemy_url.startswith("postgresql") else "local"


class ConfiguredAiProvider(Provider):
    """The embedded default and production: OpenAI and Pinecone when their keys are set, local parts otherwise."""

    scope = Scope.APP

    @provide
    async def embedder(self, settings: Settings) -> AsyncIterator[Embedder]:
        if settings.openai_api_key is None:
            local = LocalEmbedder()
            yield local
            local.close()  # its inference thread
            return
        from memo.adapters.openai.embedder import OpenAIEmbedder  # noqa: PLC0415 - see the module's docstring

        embedder = OpenAIEmbedder(api_key=settings.openai_api_key.reveal(), base_url=settings.openai_base_url,
                                  model=settings.openai_embedding_model,
                                  dimensions=settings.openai_embedding_dimensions,
                                  timeout_s=settings.openai_timeout_s, max_retries=settings.openai_max_retries)
        yield embedder
        await embedder.aclose()

    @provide
    async def vector_index(self, settings: Settings, engine: AsyncEngine,
                           embedder: Embedder) -> AsyncIterator[VectorIndex]:
        backend = vector_backend(settings)
        if backend == "pinecone":
            if settings.pinecone_api_key is None or settings.pinecone_index_host is None:
                msg = "MEMO_VECTOR_INDEX=pinecone needs PINECONE_API_KEY and PINECONE_INDEX_HOST"
                raise RuntimeError(msg)
            from memo.adapters.vectors.pinecone import PineconeVectorIndex  # noqa: PLC0415

            pinecone = PineconeVectorIndex(api_key=settings.pinecone_api_key.reveal(),
                                           host=settings.pinecone_index_host, dimensions=embedder.dimensions,
                                           timeout_s=settings.pinecone_timeout_s)
            yield pinecone
            await pinecone.aclose()
        elif backend == "pgvector":
            yield PgVectorIndex(engine, model=embedder.model, dimensions=embedder.dimensions)
        else:
            yield SqliteVectorIndex(engine, model=embedder.model, dimensions=embedder.dimensions)

    @provide
    async def answerer(self, settings: Settings) -> AsyncIterator[Answerer]:
        if settings.openai_api_key is None:
            yield ExtractiveAnswerer()
            return
        from memo.adapters.openai.answerer import OpenAIAnswerer  # noqa: PLC0415

        model = OpenAIAnswerer(api_key=settings.openai_api_key.reveal(), base_url=settings.openai_base_url,
                               model=settings.openai_chat_model, timeout_s=settings.openai_timeout_s,
                               max_retries=settings.openai_max_retries)
        yield FallbackAnswerer(first=model, then=ExtractiveAnswerer())
        await model.aclose()

    @provide
    async def transcriber(self, settings: Settings) -> AsyncIterator[Transcriber]:
        if settings.openai_api_key is None:
            whisper = WhisperTranscriber(cache_dir=settings.data_dir / "models")
            yield whisper
            whisper.close()  # its transcription thread
            return
        from memo.adapters.openai.transcriber import OpenAITranscriber  # noqa: PLC0415

        model = OpenAITranscriber(api_key=settings.openai_api_key.reveal(), base_url=settings.openai_base_url,
                                  model=settings.openai_transcription_model,
                                  timeout_s=settings.openai_transcription_timeout_s,
                                  max_retries=settings.openai_max_retries)
        yield model
        await model.aclose()


class InMemoryAiProvider(Provider):
    """The test profile: a hashing embedder (exact, instant), the in-memory index and transcriber, quotes."""

    scope = Scope.APP

    @provide
    def embedder(self) -> Embedder:
        return HashingEmbedder()

    @provide
    def memory_index(self) -> InMemoryVectorIndex:
        return InMemoryVectorIndex()

    @provide
    def index(self, index: InMemoryVectorIndex) -> VectorIndex:
        """The same index under the port, apart, so a decorator of the port (metrics) leaves tests the bare one."""
        return index

    @provide
    def answerer(self) -> Answerer:
        return ExtractiveAnswerer()

    @provide(provides=AnyOf[Transcriber, InMemoryTranscriber])
    def transcriber(self) -> InMemoryTranscriber:
        return InMemoryTranscriber()
