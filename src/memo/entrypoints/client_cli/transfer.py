"""memo export and memo import: every memory out as JSON Lines, and back in batches, streamed both ways (one line
in memory at a time), with a progress bar on stderr when it is a terminal."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import IO, Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from memo.client import ImportReport
from memo.client.calls import IMPORT_BATCH_LINES
from memo.entrypoints.client_cli.messages import EXIT_VALIDATION
from memo.entrypoints.client_cli.session import Session, fail, note, signed_command
from memo.entrypoints.client_cli.views import plain


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


@contextlib.contextmanager
def progress_bar(description: str, total: int | None, *, shown: bool) -> Iterator[tuple[Progress, TaskID] | None]:
    if not shown:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        yield progress, progress.add_task(description, total=total)


@signed_command("export", json_output=False)
@click.argument("output", type=click.File("wb"), default="-")
@click.option("--format", "form", type=click.Choice(["jsonl", "markdown"]), default="jsonl", show_default=True,
              help="jsonl is what memo import reads back; markdown is for reading.")
def export(session: Session, *, output: IO[bytes], form: str) -> None:
    """Write every memory, oldest first, to OUTPUT (default stdout) as JSON Lines."""
    if form == "markdown":
        for piece in session.client.export_markdown():
            output.write(piece.encode())
        output.flush()
        return
    shown = stderr_is_terminal() and not output.isatty()  # no bar over lines written to the same terminal
    total = session.client.list_memories(limit=1).total if shown else None
    count = 0
    with progress_bar("exporting", total, shown=shown) as bar:
        for line in session.client.export_lines():
            output.write(line + b"\n")
            count += 1
            if bar is not None:
                bar[0].advance(bar[1])
    output.flush()
    note(f"memo: exported {count} memories")


def counted(source: IO[bytes], bar: tuple[Progress, TaskID] | None) -> Iterator[bytes]:
    for line in source:
        if bar is not None:
            bar[0].advance(bar[1], len(line))
        yield line


def file_size(source: IO[bytes]) -> int | None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        size = os.fstat(source.fileno()).st_size
        return size or None
    return None


@signed_command("import")
@click.argument("source", type=click.File("rb"), default="-")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=IMPORT_BATCH_LINES, show_default=True,
              help="Lines a request (batches also stay under 1 MB).")
@click.option("--idempotency-key", default=None, help="Names this run; batch n is sent as KEY-n.")
def import_memories(session: Session, *, source: IO[bytes], batch_size: int, idempotency_key: str | None) -> None:
    """Restore memories from SOURCE (default stdin) as memo export wrote them; safe to run again.

    Ids, times and versions are kept. A memory already there unchanged is counted, never written twice; a line
    not applied is reported with its number and reason, and makes the exit code 4.
    """
    shown = stderr_is_terminal()
    with progress_bar("importing (bytes)", file_size(source), shown=shown) as bar:
        report = session.client.import_memories(counted(source, bar), batch_size=batch_size,
                                                idempotency_key=idempotency_key)
    if session.as_json:
        session.emit(report_json(report))
    else:
        session.out.print(Text(f"created {report.created}, unchanged {report.unchanged}, "
                               f"skipped {len(report.skipped)}"))
        if report.skipped:
            session.out.print(report_table(report))
    if report.skipped:
        fail(f"memo: {len(report.skipped)} line(s) not imported (first: line {report.skipped[0].line}, "
             f"{report.skipped[0].code})", EXIT_VALIDATION)


def report_json(report: ImportReport) -> dict[str, Any]:
    return plain(report)


def report_table(report: ImportReport) -> Table:
    table = Table()
    table.add_column("line", justify="right")
    table.add_column("skipped")
    table.add_column("why")
    for line in report.skipped:
        table.add_row(str(line.line), Text(line.code), Text(line.message))
    return table
