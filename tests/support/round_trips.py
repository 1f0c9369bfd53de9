"""Counting Redis round trips in this process: every write of commands to a Redis socket is one (a pipeline too)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from redis.asyncio.connection import AbstractConnection


@dataclass
class RoundTrips:
    commands: list[bytes] = field(default_factory=list)  # what each round trip sent, as RESP bytes

    def names(self) -> list[str]:
        """The first command of each round trip, e.g. EVALSHA (RESP: *<n> $<len> NAME ...)."""
        return [sent.split(b"\r\n")[2].decode().upper() for sent in self.commands]


def count_round_trips(monkeypatch: pytest.MonkeyPatch) -> RoundTrips:
    """Patches redis-py's connections for the rest of the test: every send is kept, then sent as before."""
    seen = RoundTrips()
    send = AbstractConnection.send_packed_command

    async def counted(self: AbstractConnection, command: bytes | list[bytes], check_health: bool = True) -> None:  # noqa: FBT002 - redis-py's signature
        parts = command if isinstance(command, list) else [command]
        seen.commands.append(b"".join(bytes(part) for part in parts))
        await send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return seen
