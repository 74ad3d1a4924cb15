"""Bodies POSTed to a connection (SSE, long polling), fed to it in order.

A POST is answered once its body is handed to the connection's process
(realtime/transports/http.py), so a client can send faster than its hub
takes, e.g. items of an upload whose hub reads slowly. A WebSocket client
then waits (its socket is not read); here what waits is bounded instead: past
BACKLOG messages' worth the connection is closed with an error.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Protocol

from realtime import conf, logformat

#: Bytes of bodies that may wait, in messages of MAX_MESSAGE_SIZE.
BACKLOG = 32
OVERFLOW = "Too many messages are waiting for the server; slow down."


class Reader(Protocol):
    """The connection the bodies are for."""

    connection_id: str
    user_id: str
    hub_class: Any

    async def feed(self, data: bytes) -> None:
        """Handle one inbound frame or POST body, in order."""

    async def fail(self, reason: str) -> None:
        """Close because the client broke the protocol or a limit."""


class InboundQueue:
    """The POSTed bodies of one connection, waiting for its reader."""

    __slots__ = ("_bodies", "_bytes", "_connection", "_overflowed", "_task")

    def __init__(self, connection: Reader) -> None:
        self._connection = connection
        self._bodies: deque[bytes] = deque()
        self._bytes = 0
        self._overflowed = False
        self._task: asyncio.Task | None = None

    def put(self, data: bytes) -> None:
        """Queue a body; start feeding, or close the connection past the bound."""
        if self._overflowed:
            return
        self._bodies.append(data)
        self._bytes += len(data)
        loop = asyncio.get_running_loop()
        if self._bytes > BACKLOG * conf.get().MAX_MESSAGE_SIZE:
            self._overflowed = True
            self._bodies.clear()
            self._task = loop.create_task(self._connection.fail(OVERFLOW))
        elif self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())

    async def _drain(self) -> None:
        connection = self._connection
        logformat.bind(connection.connection_id, connection.user_id, connection.hub_class.namespace)
        while self._bodies:
            data = self._bodies.popleft()
            try:
                await connection.feed(data)
            finally:
                self._bytes -= len(data)
