"""memo login: save a server and key as a named profile, the secret read from a prompt or stdin, never argv."""

from __future__ import annotations

import os
import sys

import click

from memo.client import MemoClient, MemoError
from memo.client.sync import DEFAULT_URL
from memo.domain.owners import KEY_ID_PATTERN
from memo.entrypoints.client_cli.messages import EXIT_AUTH, exit_code, one_line
from memo.entrypoints.client_cli.profiles import DEFAULT_PROFILE, Profile, config_path, write_profile
from memo.entrypoints.client_cli.session import TIMEOUT_S, fail, note


def read_secret() -> str:
    """Hidden prompt on a terminal; else the first line of stdin (`memo keys create --json | jq -r .secret |`)."""
    if sys.stdin.isatty():
        return str(click.prompt("Key secret", hide_input=True, err=True)).strip()
    return sys.stdin.readline().strip()


@click.command("login")
@click.option("--profile", default=DEFAULT_PROFILE, show_default=True, metavar="NAME")
@click.option("--url", default=DEFAULT_URL, show_default=True, help="Where Memo answers.")
@click.option("--key-id", required=True, help="From memo keys create.")
@click.option("--no-check", is_flag=True, help="Save without a signed request to check the key first.")
def login(*, profile: str, url: str, key_id: str, no_check: bool) -> None:
    """Save a profile (the secret is asked for, or read from stdin) for --profile NAME or MEMO_PROFILE."""
    if not KEY_ID_PATTERN.fullmatch(key_id):
        raise click.BadParameter("8 to 64 characters of A-Z, a-z, 0-9, '_' and '-'", param_hint="--key-id")
    secret = read_secret()
    if not secret:
        fail("memo: no secret given (type it at the prompt, or give it on stdin)", EXIT_AUTH)
    if not no_check:
        try:
            with MemoClient(url, key_id, secret, timeout=TIMEOUT_S) as client:
                client.list_memories(limit=1)
        except MemoError as refused:
            fail(f"{one_line(refused, url=url)} (profile not saved)", exit_code(refused))
    path = config_path(os.environ)
    write_profile(path, profile, Profile(url=url, key_id=key_id, secret=secret),
                  own_folder=not os.environ.get("MEMO_CONFIG"))
    note(f"memo: saved profile {profile!r} (key {key_id}, {url}) to {path}")
