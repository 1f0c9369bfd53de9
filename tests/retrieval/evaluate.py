"""The labelled retrieval set, and how well each search mode finds its answers through the real stack.

The set (`memories.jsonl`, `questions.jsonl`, written for Memo) is one owner's notes, reminders and WhatsApp lines in
English, Spanish and some German, and questions labelled with the memories that answer them, of three kinds:
- `lexical`: the question shares a content word (`memo.domain.ranking.query_words`) with an answer;
- `paraphrase`: it shares none with any of its answers, so keyword ranking cannot find them at all;
- `cross-language`: it is asked in another language than every one of its answers.
`check_labels` holds the set to those definitions.

`evaluate` builds the memories as Memo does on the embedded default: a migrated SQLite file, the memories written
through `SqlAlchemyUnitOfWork`, indexed by the worker's `IndexMemories` into `SqliteVectorIndex`, then asks every
question through `SearchMemories` in each mode. A question's recall@k is the share of its answers in the first k
results, its reciprocal rank 1/rank of the first answer (0 when none is in the results); figures are means over
questions, so a question with three answers weighs as much as one with one.
"""

from __future__ import annotations

import asyncio
import json
import statistics
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from memo.adapters.storage.migrate import upgrade
from memo.adapters.storage.sqlalchemy import SqlAlchemyUnitOfWork, create_engine
from memo.adapters.storage.unit_of_work_reads import UnitOfWorkReads
from memo.adapters.system import TEST_NOW, FixedClock, SequentialIds
from memo.adapters.vectors.sqlite import SqliteVectorIndex
from memo.application.index_memories import IndexMemories
from memo.application.ports import Embedder
from memo.application.search_memories import CANDIDATES_PER_LIMIT, MAX_CANDIDATES, SearchCommand, SearchMemories
from memo.domain.memory import Memory, MemoryType, Source
from memo.domain.owners import Owner
from memo.domain.ranking import query_words
from memo.domain.retrieval import SearchFilters, SearchMode
from memo.domain.search import words

SET_DIRECTORY = Path(__file__).resolve().parent
MODES = (SearchMode.KEYWORD, SearchMode.SEMANTIC, SearchMode.HYBRID)
KINDS = ("lexical", "paraphrase", "cross-language")
LIMIT = 10  # results asked for: recall@10 and MRR@10 are read from one search per question and mode
OWNER = UUID(int=0x0190_0000_0000_7000_8000_0000_0000_5A11)
_WHATSAPP_TYPES = frozenset({MemoryType.WHATSAPP_RECEIVED, MemoryType.WHATSAPP_SENT})


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelledMemory:
    id: str
    content: str
    type: MemoryType
    tags: tuple[str, ...]
    language: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Question:
    id: str
    text: str
    kind: str
    language: str
    answers: tuple[str, ...]


def _lines(name: str) -> list[dict[str, object]]:
    with (SET_DIRECTORY / name).open(encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]


def load_memories() -> list[LabelledMemory]:
    return [LabelledMemory(id=str(row["id"]), content=str(row["content"]), type=MemoryType(str(row["type"])),
                           tags=tuple(str(tag) for tag in row["tags"]),  # type: ignore[attr-defined]
                           language=str(row["language"])) for row in _lines("memories.jsonl")]


def load_questions() -> list[Question]:
    return [Question(id=str(row["id"]), text=str(row["question"]), kind=str(row["kind"]),
                     language=str(row["language"]),
                     answers=tuple(str(answer) for answer in row["answers"]))  # type: ignore[attr-defined]
            for row in _lines("questions.jsonl")]


def shared_words(question: Question, memory: LabelledMemory) -> set[str]:
    """The words keyword ranking would look for in the question that the memory's content holds."""
    return set(query_words(question.text)) & set(words(memory.content))


def check_labels(memories: Sequence[LabelledMemory], questions: Sequence[Question]) -> list[str]:
    """Every way the set breaks its own rules, one line each; empty when it keeps them."""
    by_id = {memory.id: memory for memory in memories}
    problems = [f"{memory_id} is used by more than one memory" for memory_id in
                sorted({memory.id for memory in memories if [m.id for m in memories].count(memory.id) > 1})]
    for question in questions:
        missing = [answer for answer in question.answers if answer not in by_id]
        if question.kind not in KINDS:
            problems.append(f"{question.id}: unknown kind {question.kind!r}")
        if not question.answers or missing:
            problems.append(f"{question.id}: answers {missing or 'none'} name no memory of the set")
            continue
        answers = [by_id[answer] for answer in question.answers]
        shared = {answer.id: sorted(shared_words(question, answer)) for answer in answers}
        if question.kind == "paraphrase" and any(shared.values()):
            problems.append(f"{question.id}: a paraphrase shares words with its answers: {shared}")
        if question.kind == "lexical" and not any(shared.values()):
            problems.append(f"{question.id}: a lexical question shares no word with its answers")
        if question.kind == "cross-language" and question.language in {answer.language for answer in answers}:
            problems.append(f"{question.id}: a cross-language question is in the language of an answer")
    return problems


@dataclass(frozen=True, slots=True, kw_only=True)
class Ranking:
    """What one mode returned for one question: memory labels, best first."""

    question: Question
    mode: SearchMode
    found: tuple[str, ...]

    def recall(self, k: int) -> float:
        return len(set(self.found[:k]) & set(self.question.answers)) / len(self.question.answers)

    @property
    def reciprocal_rank(self) -> float:
        answers = set(self.question.answers)
        return next((1 / rank for rank, label in enumerate(self.found, start=1) if label in answers), 0.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidates:
    """Each side's own ranking for one question, as deep as SearchMemories asks it for: what fusion starts from."""

    question: Question
    keyword: tuple[tuple[str, float], ...]  # (label, score), best first
    semantic: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Evaluation:
    embedder: str
    rankings: tuple[Ranking, ...]
    candidates: tuple[Candidates, ...] = ()

    def of(self, mode: SearchMode, kind: str | None = None) -> list[Ranking]:
        return [ranking for ranking in self.rankings
                if ranking.mode is mode and (kind is None or ranking.question.kind == kind)]

    def recall(self, mode: SearchMode, k: int, kind: str | None = None) -> float:
        return statistics.fmean(ranking.recall(k) for ranking in self.of(mode, kind))

    def mrr(self, mode: SearchMode, kind: str | None = None) -> float:
        return statistics.fmean(ranking.reciprocal_rank for ranking in self.of(mode, kind))

    def questions(self, kind: str | None = None) -> int:
        return len(self.of(SearchMode.HYBRID, kind))

    def table(self) -> str:
        """One row per mode and question kind (and all of them): recall@5, recall@10, MRR."""
        header = f"{'embedder':<24} {'kind':<15} {'questions':>9} {'mode':<9} {'R@5':>6} {'R@10':>6} {'MRR':>6}"
        return "\n".join([header, *(
            f"{self.embedder:<24} {kind or 'all':<15} {self.questions(kind):>9} {mode.value:<9} "
            f"{self.recall(mode, 5, kind):>6.3f} {self.recall(mode, 10, kind):>6.3f} {self.mrr(mode, kind):>6.3f}"
            for kind in (None, *KINDS) for mode in MODES)])

    def misses(self, mode: SearchMode, k: int = LIMIT) -> list[Ranking]:
        """The questions this mode answered incompletely in its first k results."""
        return [ranking for ranking in self.of(mode) if ranking.recall(k) < 1]


async def evaluate(embedder: Embedder, directory: Path, *, limit: int = LIMIT, with_candidates: bool = False,
                   memories: Sequence[LabelledMemory] | None = None,
                   questions: Sequence[Question] | None = None) -> Evaluation:
    """Store and index the set in a new SQLite file under `directory`, then ask every question in every mode.

    `with_candidates` also records each side's candidates (`Evaluation.candidates`), read from the same ports
    SearchMemories reads, so another fusion can be tried on them without a change to Memo.
    """
    memories = load_memories() if memories is None else memories
    questions = load_questions() if questions is None else questions
    embedder = _Remembering(embedder)  # semantic and hybrid embed each question once between them
    url = f"sqlite+aiosqlite:///{directory / 'retrieval.db'}"
    await upgrade(url)
    engine = create_engine(url)
    try:
        labels = await _store(engine, memories)
        index = SqliteVectorIndex(engine, model=embedder.model, dimensions=embedder.dimensions)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session:
            indexer = IndexMemories(uow=SqlAlchemyUnitOfWork(session), embedder=embedder, index=index,
                                    clock=FixedClock())
            await indexer.index_memories(OWNER, list(labels))
        rankings: list[Ranking] = []
        candidates: list[Candidates] = []
        async with sessions() as session:
            uow = SqlAlchemyUnitOfWork(session)
            search = SearchMemories(reads=UnitOfWorkReads(uow), uow=uow, embedder=embedder, index=index)
            for question in questions:
                for mode in MODES:
                    result = await search(SearchCommand(owner_id=OWNER, query=question.text, limit=limit, mode=mode))
                    if result.degraded:
                        raise RuntimeError(f"hybrid search was degraded: {result.degraded_reason}")
                    rankings.append(Ranking(question=question, mode=mode,
                                            found=tuple(labels[hit.memory.id] for hit in result.hits)))
                if with_candidates:
                    depth = min(MAX_CANDIDATES, limit * CANDIDATES_PER_LIMIT)
                    async with uow:
                        keyword = await uow.memories.rank(OWNER, question.text, filters=SearchFilters(), limit=depth)
                    [vector] = await embedder.embed([question.text])
                    semantic = await index.query(OWNER, vector, limit=depth, filters=SearchFilters())
                    candidates.append(Candidates(
                        question=question, keyword=tuple((labels[hit.memory_id], hit.score) for hit in keyword),
                        semantic=tuple((labels[hit.memory_id], hit.score) for hit in semantic)))
    finally:
        await engine.dispose()
    return Evaluation(embedder=embedder.model, rankings=tuple(rankings), candidates=tuple(candidates))


class _Remembering(Embedder):
    """The embedder's vectors, each text embedded once: the model is deterministic, so nothing measured changes."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self._vectors: dict[str, Sequence[float]] = {}

    @property
    def model(self) -> str:
        return self._inner.model

    @property
    def dimensions(self) -> int:
        return self._inner.dimensions

    async def embed(self, texts: Sequence[str]) -> Sequence[Sequence[float]]:
        todo = list(dict.fromkeys(text for text in texts if text not in self._vectors))
        if todo:
            self._vectors.update(zip(todo, await self._inner.embed(todo), strict=True))
        return [self._vectors[text] for text in texts]


def run_evaluation(embedder: Embedder, directory: Path, *, limit: int = LIMIT,
                   with_candidates: bool = False) -> Evaluation:
    """`evaluate` from synchronous code (a session fixture, a script), on a loop of its own in its own thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, evaluate(embedder, directory, limit=limit,
                                                 with_candidates=with_candidates)).result()


async def _store(engine: AsyncEngine, memories: Iterable[LabelledMemory]) -> dict[UUID, str]:
    """The owner and the memories, one minute apart in the set's order; each memory's label by its id."""
    ids = SequentialIds(start=1000)
    labels: dict[UUID, str] = {}
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session, SqlAlchemyUnitOfWork(session) as uow:
        await uow.owners.add(Owner.create(id=OWNER, name="sam", now=TEST_NOW - timedelta(days=365)))
        listed = list(memories)
        for position, labelled in enumerate(listed):
            memory = Memory.create(
                id=ids.new_id(), owner_id=OWNER, content=labelled.content, type=labelled.type, tags=labelled.tags,
                source=Source.WHATSAPP if labelled.type in _WHATSAPP_TYPES else Source.API,
                now=TEST_NOW - timedelta(minutes=len(listed) - position))
            await uow.memories.add(memory)
            labels[memory.id] = labelled.id
        await uow.commit()
    return labels
