"""The seam between a connection and the transport that carries it.

Transports (realtime/transports/) implement `Transport`; a `Connection` and
the lifetime manager's fan-out write through it and know nothing else of
WebSockets, Server-Sent Events or long polling.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol


class Transport(Protocol):
    """What a connection needs from the transport that carries it."""

    name: str
    text_only: bool

    async def write(self, frame: bytes | str, binary: bool) -> None:
        """Send one frame to the client (str only for text frames)."""

    async def close(self, *, discard: bool = False) -> None:
        """End the transport; `discard` drops output the client has not taken."""

    def buffered(self) -> int:
        """Return the bytes written that the client has not taken yet."""

    async def drop(self) -> None:
        """End at once, discarding unsent output: the client does not read."""

    # The optional broadcast fast paths: None on a transport without them.
    # The lifetime manager encodes a broadcast once per process for each.

    #: Write one complete WebSocket frame now, without awaiting, and return
    #: the bytes of the connection left unsent.
    write_frame: Callable[[bytes], int] | None
    #: Send one ASGI event that every recipient of the broadcast shares.
    send_event: Callable[[dict], Awaitable[None]] | None
