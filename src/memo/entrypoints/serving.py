"""`memo serve`: uvicorn, on httptools with Memo's connection deadlines (connections.py), and no serving process
that outlives the server.

One worker runs in this very process, so a SIGKILL of it leaves nothing behind. More workers are forked children
of this process, sharing one listening socket; each asks the kernel to kill it when its parent dies
(`PR_SET_PDEATHSIG`), so a supervisor's SIGKILL of the parent takes every worker with it.

SIGTERM (or SIGINT) stops within MEMO_SHUTDOWN_GRACE_S and exits 0: the listening socket is closed at once (new
connections are refused), idle kept-alive connections are closed, requests in flight finish and their
connections close after the response; past the grace they are cancelled. Then the app stops (the in-process
worker finishes its job in hand, the container closes) in whatever is left of the grace, at least
`APP_SHUTDOWN_FLOOR_S`. See docs/operations.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import resource
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType

import uvicorn

from memo.entrypoints.connections import ConnectionDeadlines, DeadlineHttpToolsProtocol, DrainingState
from memo.entrypoints.metrics_setup import prepare_multiprocess_metrics, worker_process_exited
from memo.entrypoints.settings import Settings

log = logging.getLogger("memo.serve")

APP_FACTORY = "memo.entrypoints.http.asgi:app_factory"  # by name: the CLI module never imports the web framework
PR_SET_PDEATHSIG = 1
RESPAWN_PAUSE_S = 1.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
APP_SHUTDOWN_FLOOR_S = 0.5  # the app's own shutdown gets at least this, even when requests used the whole grace
HARD_STOP_MARGIN_S = 2.0  # past grace and floor, a process still held by something (a thread) exits anyway


def raise_open_file_limit() -> int:
    """Every connection is a descriptor: take the hard limit, so `max_connections` is not a promise on paper."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            return soft
    return wanted


def listen(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def uvicorn_config(settings: Settings, app: str = APP_FACTORY) -> uvicorn.Config:
    """How `memo serve` runs uvicorn; `app` names another factory only for the bench (bench/serve.py)."""
    ConnectionDeadlines.header_timeout_s = settings.header_timeout_s
    return uvicorn.Config(
        app, factory=True, http=DeadlineHttpToolsProtocol, lifespan="on", access_log=False, log_config=None,
        # uvicorn types it int but only hands it to loop.call_later: a fraction of a second is kept
        timeout_keep_alive=settings.keepalive_timeout_s,  # type: ignore[arg-type]
        limit_concurrency=settings.max_connections,
        backlog=settings.backlog, server_header=False,
        timeout_graceful_shutdown=settings.shutdown_grace_s)  # type: ignore[arg-type] # a float is kept too


class GracefulServer(uvicorn.Server):
    """uvicorn's server, stopped by a signal within one grace period, with exit status 0.

    uvicorn bounds only the wait for connections (`timeout_graceful_shutdown`), not the app's shutdown after it,
    and once stopped it raises the signal again, so a SIGTERM ends the process with status -15 (143 in a shell).
    Here the grace runs from the signal and covers both phases, and a signal that stopped the server is done with.
    """

    def __init__(self, config: uvicorn.Config, *, grace_s: float,
                 hard_stop: Callable[[float], None] | None = None) -> None:
        super().__init__(config)
        self._state = DrainingState()
        self.server_state = self._state
        self._grace_s = grace_s
        self._hard_stop = hard_stop or exit_after
        self._stop_by: float | None = None  # time.monotonic() at which the grace runs out

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._stop_by is None:
            self._stop_by = time.monotonic() + self._grace_s
            self._hard_stop(self._grace_s + APP_SHUTDOWN_FLOOR_S + HARD_STOP_MARGIN_S)
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {signum: signal.signal(signum, self.handle_exit) for signum in STOP_SIGNALS}
        try:
            yield
        finally:
            for signum, handler in original.items():
                signal.signal(signum, handler)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._state.draining = True
        stop_by = self._stop_by if self._stop_by is not None else time.monotonic() + self._grace_s
        left = max(stop_by - time.monotonic(), 0.0)
        self.config.timeout_graceful_shutdown = left  # type: ignore[assignment] # what remains of the grace
        try:
            async with asyncio.timeout(left + APP_SHUTDOWN_FLOOR_S):
                await super().shutdown(sockets)
        except TimeoutError:  # a deadline, not a fault: no traceback to show
            log.error(  # noqa: TRY400
                "the app had not stopped %g s after the signal (MEMO_SHUTDOWN_GRACE_S): its work in hand is cut "
                "off; a job of the in-process worker is claimed again once its lease runs out", self._grace_s)


def exit_after(delay_s: float) -> None:
    """A last resort for a process that a thread still holds past the grace: flush the logs, exit 0."""

    def hard_stop() -> None:
        log.error("still stopping %g s after the signal: exiting now", delay_s)
        logging.shutdown()
        os._exit(0)

    timer = threading.Timer(delay_s, hard_stop)
    timer.daemon = True
    timer.start()


def serve(settings: Settings, *, host: str, port: int, workers: int, app: str = APP_FACTORY) -> None:
    descriptors = raise_open_file_limit()
    if descriptors < settings.max_connections + 64:
        log.warning("only %d file descriptors are allowed: fewer connections than MEMO_MAX_CONNECTIONS=%d "
                    "can be held", descriptors, settings.max_connections)
    sock = listen(host, port, settings.backlog)
    config = uvicorn_config(settings, app)
    if workers == 1:
        GracefulServer(config, grace_s=settings.shutdown_grace_s).run(sockets=[sock])
        return
    if settings.metrics:
        prepare_multiprocess_metrics(settings)  # before the fork: every worker writes to the shared folder
    Supervisor(config, sock, workers, grace_s=settings.shutdown_grace_s).run()


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel for SIGKILL when the parent goes; if it already went, go now."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            log.warning("could not ask to die with the server process (errno %d)", ctypes.get_errno())
    if os.getppid() != parent_pid:
        os._exit(1)


class Supervisor:
    """Forks the workers, restarts one that dies, and stops them all on SIGTERM or SIGINT.

    On a stop it closes its own copy of the listening socket (each worker closes its copy as it begins to stop,
    so new connections are refused), passes SIGTERM on, and SIGKILLs a worker still alive after the grace and
    the margins a worker gives itself; then it exits 0.
    """

    def __init__(self, config: uvicorn.Config, sock: socket.socket, workers: int, *, grace_s: float) -> None:
        self._config, self._sock, self._workers = config, sock, workers
        self._grace_s = grace_s
        self._children: set[int] = set()
        self._stopping = False

    def run(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._stop)
        for _ in range(self._workers):
            self._spawn()
        stop_deadline: float | None = None
        while self._children:
            if self._stopping and stop_deadline is None:
                stop_deadline = time.monotonic() + self._grace_s + APP_SHUTDOWN_FLOOR_S + 2 * HARD_STOP_MARGIN_S
                self._sock.close()
                self._signal_all(signal.SIGTERM)
            if stop_deadline is not None and time.monotonic() > stop_deadline:
                self._signal_all(signal.SIGKILL)
            self._reap()
            time.sleep(0.1)

    def _spawn(self) -> None:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                die_with_parent(parent)
                for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    signal.signal(signum, signal.SIG_DFL)
                GracefulServer(self._config, grace_s=self._grace_s).run(sockets=[self._sock])
            except BaseException:
                log.exception("worker %d failed", os.getpid())
                code = 1
            finally:
                logging.shutdown()
                os._exit(code)
        self._children.add(pid)
        log.info("started worker %d", pid)

    def _reap(self) -> None:
        for pid in list(self._children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done == 0:
                continue
            self._children.discard(pid)
            worker_process_exited(pid)  # its live gauges go; its counts stay in the folder's totals
            if not self._stopping:
                log.error("worker %d exited (status %d); starting another", pid, status)
                time.sleep(RESPAWN_PAUSE_S)
                self._spawn()

    def _signal_all(self, signum: int) -> None:
        for pid in self._children:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                continue

    def _stop(self, _signum: int, _frame: FrameType | None) -> None:
        self._stopping = True
