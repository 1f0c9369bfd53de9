"""Every accepted connection of `memo serve` has Nagle's algorithm off, or each kept-alive response waits 40 ms."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from memo.entrypoints.connections import DeadlineH11Protocol, DeadlineHttpToolsProtocol, no_delay
from memo.entrypoints.serving import listen


def _nodelay(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_the_listening_socket_is_made_for_tcp_so_asyncio_sets_no_delay_too() -> None:
    with listen("127.0.0.1", 0, 16) as sock:
        assert sock.proto == socket.IPPROTO_TCP


def test_no_delay_turns_nagle_off_on_an_accepted_connection() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:  # made without IPPROTO_TCP on purpose
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname()) as _client:
            accepted, _ = server.accept()
            with accepted:
                assert _nodelay(accepted) == 0
                no_delay(accepted)
                assert _nodelay(accepted) != 0


def test_no_delay_leaves_a_unix_socket_alone() -> None:
    left, right = socket.socketpair()
    with left, right:
        no_delay(left)  # would raise on a socket that is not TCP


class _Stop(Exception):
    """Raised where uvicorn's own set-up would start: it needs a running server, and is not under test."""


@pytest.mark.parametrize(("protocol", "uvicorns"), [(DeadlineHttpToolsProtocol, HttpToolsProtocol),
                                                     (DeadlineH11Protocol, H11Protocol)], ids=["httptools", "h11"])
def test_the_protocol_sets_no_delay_before_serving_a_connection(
        monkeypatch: pytest.MonkeyPatch, protocol: type[DeadlineH11Protocol | DeadlineHttpToolsProtocol],
        uvicorns: type[H11Protocol | HttpToolsProtocol]) -> None:
    def stop_here(self: object, transport: object) -> None:
        raise _Stop

    monkeypatch.setattr(uvicorns, "connection_made", stop_here)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname()) as _client:
            accepted, _ = server.accept()
            with accepted:

                class Transport:
                    def get_extra_info(self, name: str, default: Any = None) -> Any:
                        return accepted if name == "socket" else default

                with pytest.raises(_Stop):
                    protocol.connection_made(object.__new__(protocol), Transport())
                assert _nodelay(accepted) != 0
