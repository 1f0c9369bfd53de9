"""`memo worker`: the job loop on the core container, stopped cleanly by SIGTERM or SIGINT.

The handlers are registered here, by kind, in `JOB_USE_CASES`: each job runs its use case in a container scope
of its own, so it gets its own unit of work, as a request does. New kinds of work add an entry; the loop
(`memo.application.run_jobs`) never changes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import socket
from collections.abc import Callable, Mapping
from typing import Any

from dishka import AsyncContainer

from memo.adapters.metrics.registry import PrometheusMetrics
from memo.adapters.priority import background_work
from memo.adapters.storage.migrate import upgrade
from memo.application.answer_on_whatsapp import ANSWER_ON_WHATSAPP_JOB, AnswerOnWhatsApp
from memo.application.fetch_whatsapp_media import FetchWhatsAppMedia
from memo.application.index_memories import DeleteVectors, IndexMemories
from memo.application.ports import AuditLog, Clock, JobQueue
from memo.application.run_jobs import JobHandler, JobHandlers, JobObserver, RunJobs, unobserved
from memo.application.transcribe_voice_note import TRANSCRIBE_VOICE_JOB, TranscribeVoiceNote
from memo.domain.conversation import FETCH_MEDIA_JOB
from memo.domain.jobs import MAX_WORKER_ID_CHARS, Job
from memo.domain.retrieval import DELETE_VECTORS_JOB, INDEX_MEMORY_JOB
from memo.entrypoints.container import make_container
from memo.entrypoints.metrics_setup import metrics_providers, serve_worker_metrics
from memo.entrypoints.settings import Profile, Settings

logger = logging.getLogger(__name__)

# kind -> a use case the container builds, called with the job
JOB_USE_CASES: Mapping[str, type[Any]] = {
    FETCH_MEDIA_JOB: FetchWhatsAppMedia,
    TRANSCRIBE_VOICE_JOB: TranscribeVoiceNote,
    ANSWER_ON_WHATSAPP_JOB: AnswerOnWhatsApp,
    INDEX_MEMORY_JOB: IndexMemories,
    DELETE_VECTORS_JOB: DeleteVectors,
}


def worker_id() -> str:
    """Unique per process and start, readable in `memo jobs list`: host, pid and a random suffix."""
    suffix = f":{os.getpid()}:{secrets.token_hex(3)}"
    return socket.gethostname()[:MAX_WORKER_ID_CHARS - len(suffix)] + suffix


def scoped_handlers(container: AsyncContainer, use_cases: Mapping[str, type[Any]]) -> JobHandlers:
    def handler_for(use_case: type[Any]) -> JobHandler:
        async def handle(job: Job) -> None:
            async with container() as scope:
                await (await scope.get(use_case))(job)
        return handle

    return {kind: handler_for(use_case) for kind, use_case in use_cases.items()}


async def _job_loop(container: AsyncContainer, settings: Settings,
                    handlers: Callable[[AsyncContainer], JobHandlers] | None,
                    metrics: PrometheusMetrics | None) -> RunJobs:
    observe: JobObserver = metrics.job_finished if metrics is not None else unobserved
    return RunJobs(queue=await container.get(JobQueue), clock=await container.get(Clock),
                   handlers=(handlers or (lambda c: scoped_handlers(c, JOB_USE_CASES)))(container),
                   worker_id=worker_id(), max_attempts=settings.job_max_attempts, observe=observe,
                   audit=await container.get(AuditLog))


class InProcessWorker:
    """The job loop as a task beside the API (`memo serve` on the embedded default): started and stopped by the
    server's lifespan on the app's own container, so the server keeps its signal handling."""

    def __init__(self, container: AsyncContainer, settings: Settings, metrics: PrometheusMetrics | None = None) -> None:
        self._container = container
        self._settings = settings
        self._metrics = metrics
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        worker = await _job_loop(self._container, self._settings, None, self._metrics)
        with background_work():  # the task keeps a copy of this context: its jobs yield the CPU to requests
            self._task = asyncio.create_task(worker.run(self._stop), name=f"jobs {worker.worker_id}")
        logger.info("in-process worker %s started", worker.worker_id)

    async def stop(self) -> None:
        """Finish the job in hand, release the rest; before the container closes."""
        self._stop.set()
        if self._task is not None:
            await self._task


async def run_worker(settings: Settings, *, stop: asyncio.Event | None = None,
                     handlers: Callable[[AsyncContainer], JobHandlers] | None = None) -> None:
    """Migrate, run the loop until `stop` (or SIGTERM / SIGINT) is set, close the container.

    With MEMO_METRICS on, the worker keeps metrics of its own (jobs, embedding, vector index, sends), served on
    MEMO_WORKER_METRICS_PORT when that is not 0."""
    stop = stop or asyncio.Event()
    if settings.profile is not Profile.TEST:
        await upgrade(settings.sqlalchemy_url)
    metrics = PrometheusMetrics() if settings.metrics else None
    container = make_container(settings, *metrics_providers(metrics))
    stop_metrics = None
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        stop_metrics = serve_worker_metrics(settings, metrics) if metrics is not None else None
        worker = await _job_loop(container, settings, handlers, metrics)
        logger.info("worker %s started", worker.worker_id)
        with background_work():  # beside a server on the same machine, requests get the CPU first
            await worker.run(stop)
        logger.info("worker %s stopped", worker.worker_id)
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        if stop_metrics is not None:
            stop_metrics()
        await container.close()
