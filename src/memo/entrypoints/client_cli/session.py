"""What every client command shares: choosing the key, one MemoClient, the output (a table or one JSON document),
and turning a refusal into its one-line message and exit code."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, ParamSpec, TextIO

import click
from rich.console import Console

from memo.client import MemoClient, MemoError
from memo.domain.owners import KEY_ID_PATTERN
from memo.entrypoints.client_cli.messages import EXIT_AUTH, exit_code, one_line
from memo.entrypoints.client_cli.profiles import Profile, ProfileError, resolve

PIPE_WIDTH = 160  # a table written to a pipe or file is not cut to the 80 columns rich assumes there
TIMEOUT_S = 30.0
P = ParamSpec("P")


@dataclass(frozen=True, slots=True)
class Session:
    profile: Profile
    client: MemoClient
    as_json: bool

    @property
    def out(self) -> Console:
        return console(sys.stdout)

    def emit(self, document: object) -> None:
        """One JSON document on stdout, for scripts."""
        click.echo(json.dumps(document, ensure_ascii=False))


def console(stream: TextIO) -> Console:
    terminal = stream.isatty()
    return Console(file=stream, highlight=False, width=None if terminal else PIPE_WIDTH)


def note(line: str) -> None:
    """A line for the person, on stderr, so stdout stays the data."""
    click.echo(line, err=True)


def fail(line: str, code: int) -> NoReturn:
    note(line)
    raise SystemExit(code)


def chosen_profile(profile: str | None) -> Profile:
    try:
        chosen = resolve(profile, os.environ)
    except ProfileError as exc:
        fail(f"memo: {exc}", EXIT_AUTH)
    if not KEY_ID_PATTERN.fullmatch(chosen.key_id):
        fail("memo: the key id is malformed (8 to 64 of A-Z, a-z, 0-9, '_', '-'): check MEMO_KEY_ID or run memo login",
             EXIT_AUTH)
    return chosen


def refusals(url: str) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Run a body, a MemoError becoming its one line on stderr and the exit code of its family."""
    def decorate(body: Callable[P, None]) -> Callable[P, None]:
        @functools.wraps(body)
        def run(*args: P.args, **kwargs: P.kwargs) -> None:
            try:
                body(*args, **kwargs)
            except MemoError as refused:
                fail(one_line(refused, url=url), exit_code(refused))
        return run
    return decorate


PROFILE_HELP = "A profile saved by memo login (else MEMO_URL, MEMO_KEY_ID, MEMO_KEY_SECRET, else profile 'default')."


def signed_command(name: str, *, json_output: bool = True) -> Callable[[Callable[..., None]], click.Command]:
    """A command that talks to Memo: adds --profile (and --json), and hands the body a Session."""
    def decorate(body: Callable[..., None]) -> click.Command:
        @functools.wraps(body)
        def run(*, profile: str | None, as_json: bool = False, **options: Any) -> None:  # noqa: ANN401 - click's
            chosen = chosen_profile(profile)
            with MemoClient(chosen.url, chosen.key_id, chosen.secret, timeout=TIMEOUT_S) as client:
                refusals(chosen.url)(body)(Session(chosen, client, as_json), **options)

        command = click.option("--profile", envvar="MEMO_PROFILE", default=None, metavar="NAME", help=PROFILE_HELP)(run)
        if json_output:
            command = click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")(command)
        return click.command(name)(command)
    return decorate
