"""JSON log lines through structlog: one object a line, to stdout or LOG_FILE, whoever logs.

Memo's own records and every library's (uvicorn's start-up lines included) are stdlib `logging` records; structlog's
`ProcessorFormatter` renders each as one JSON object, its `extra={...}` fields as top-level keys, and any field
bound with `structlog.contextvars` (the request id, while a request is served) beside them. The access line, one
per request, skips the stdlib record and structlog: `AccessLogger` encodes it in the same shape and hands the line
to the same handler. Loggers of libraries that put request bodies or tokens in their debug lines are held at
WARNING whatever LOG_LEVEL says. docs/logging.md lists the loggers and their fields.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

import msgspec
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from memo.entrypoints.log_handlers import LineStreamHandler, SharedRotatingFileHandler
from memo.entrypoints.settings import Settings

ACCESS_LOGGER = "memo.access"
AUDIT_LOGGER = "memo.audit"
# their debug and info lines carry URLs with tokens, headers or request bodies (openai logs the JSON it sends;
# httpx2 and httpcore2 are the HTTP client the openai SDK runs on)
HELD_AT_WARNING = ("httpx", "httpcore", "httpx2", "httpcore2", "openai", "pinecone", "urllib3", "aiosqlite", "asyncio")
# attributes that are no fields of the event: uvicorn's ANSI copy of its message, another formatter's time, the
# task name of Python 3.12 (a formatter's `message` is the message itself, which the line holds already)
_LEFTOVERS = ("color_message", "asctime", "taskName")


class _State:
    """What the last `configure_logging` installed: its handler, and the access logger (None when off)."""

    handler: logging.Handler | None = None
    access: AccessLogger | None = None


def _without_leftovers(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for key in _LEFTOVERS:
        event_dict.pop(key, None)
    return event_dict


def _dumps(event: EventDict, default: Any) -> str:  # noqa: ANN401 - JSONRenderer's fallback hook
    """msgspec writes UUIDs, datetimes, sets and enums as JSON itself; anything else goes through `default` (str)."""
    return msgspec.json.encode(event, enc_hook=default).decode()


def _stamp() -> Processor:
    return structlog.processors.TimeStamper(fmt="iso", utc=True, key="time")


def _render() -> Processor:
    return structlog.processors.JSONRenderer(serializer=_dumps, default=str)


def json_formatter() -> structlog.stdlib.ProcessorFormatter:
    """The formatter of every handler: time, level, logger and message first, then the event's own fields."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[_stamp(), structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name,
                           structlog.processors.EventRenamer("message"), structlog.stdlib.ExtraAdder(),
                           _without_leftovers, structlog.contextvars.merge_contextvars],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, _render()])


def access_logger() -> AccessLogger | None:
    """The logger of the access lines, or None when there are none to write (MEMO_ACCESS_LOG=false, or no
    `configure_logging` in this process)."""
    return _State.access


class AccessLogger:
    """Writes the access line itself: the fields of one flat JSON object in a fixed order, then the time, level and
    message as every other line has them, to the handler every other record goes to.

    It does what a structlog chain of a time stamp, the level and a JSON renderer did, without the chain: the line
    is one dict encoded by msgspec, a tenth of the work, on every request.
    """

    def __init__(self, handler: logging.Handler) -> None:
        self._handler = handler
        self._encode = msgspec.json.Encoder(enc_hook=str).encode

    def info(self, event: str, **fields: object) -> None:
        moment = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        try:
            line = self._encode({"logger": ACCESS_LOGGER, **fields, "time": moment, "level": "info",
                                 "message": event}).decode()
            self._handler.write_line(line)  # type: ignore[attr-defined] # one of the two handlers below
        except Exception:  # noqa: BLE001 - as a handler does: report on stderr, never raise into the request
            self._handler.handleError(logging.makeLogRecord({"name": ACCESS_LOGGER, "msg": event}))


def _configure_structlog() -> None:
    """Loggers from `structlog.get_logger()` hand their event to stdlib logging, so they share the handlers."""
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, _stamp(), structlog.stdlib.add_log_level,
                    structlog.stdlib.add_logger_name, structlog.stdlib.PositionalArgumentsFormatter(),
                    structlog.processors.EventRenamer("message"), structlog.contextvars.merge_contextvars,
                    structlog.processors.StackInfoRenderer(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(), wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True)


def configure_logging(settings: Settings, *, stream: TextIO | None = None) -> None:
    """Route every record of this process to one JSON handler: LOG_FILE, else `stream` (stdout by default).

    Safe to call again: the last call wins, and the handler of the one before is closed.
    """
    handler: logging.Handler = (
        SharedRotatingFileHandler(settings.log_file, max_bytes=settings.log_file_max_bytes,
                                  backups=settings.log_file_backups)
        if settings.log_file else LineStreamHandler(stream or sys.stdout))
    handler.setFormatter(json_formatter())
    if _State.handler is not None:
        _State.handler.close()
    _State.handler, _State.access = handler, AccessLogger(handler) if settings.access_log else None
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for noisy in HELD_AT_WARNING:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    logging.getLogger(AUDIT_LOGGER).setLevel(logging.INFO)  # the audit stream is written whatever LOG_LEVEL says
    logging.captureWarnings(capture=True)
    _configure_structlog()


@contextmanager
def logging_for_command(settings: Settings) -> Iterator[None]:
    """For a `memo` command that audits (issuing, revoking a key): its lines to LOG_FILE, else to the process's
    stderr, never into the command's own output on stdout; warnings and the audit only (no migration chatter),
    and the logging set-up before it back afterwards."""
    with restored_logging():
        configure_logging(settings, stream=sys.__stderr__ or sys.stderr)
        root = logging.getLogger()
        root.setLevel(max(root.level, logging.WARNING))
        yield


@contextmanager
def restored_logging() -> Iterator[None]:
    """Whatever `configure_logging` changes inside the block is put back, and its handlers closed, at the end."""
    root = logging.getLogger()
    named = [logging.getLogger(name) for name in (*HELD_AT_WARNING, AUDIT_LOGGER)]
    handlers, level, levels = list(root.handlers), root.level, [(logger, logger.level) for logger in named]
    installed, access = _State.handler, _State.access
    capturing = getattr(logging, "_warnings_showwarning", None) is not None
    structlog_config = structlog.get_config() if structlog.is_configured() else None
    try:
        yield
    finally:
        if _State.handler is not None and _State.handler is not installed:
            _State.handler.close()
        _State.handler, _State.access = installed, access
        root.handlers[:] = handlers
        root.setLevel(level)
        for logger, logger_level in levels:
            logger.setLevel(logger_level)
        logging.captureWarnings(capture=capturing)
        if structlog_config is None:
            structlog.reset_defaults()
        else:
            structlog.configure(**structlog_config)
