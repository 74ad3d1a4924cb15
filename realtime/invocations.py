"""A connection's invocations: admission (id length, rate), streams, refusals.

The connection hands each Invocation and StreamInvocation here; what passes
admission runs through the dispatcher (realtime/dispatch.py). Made on a
connection's first invocation: an idle connection holds none.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from realtime import conf, dispatch, metrics
from realtime.limits import WINDOW, Limits
from realtime.protocol import Completion, HubMessage, Invocation, StreamInvocation


class Invoker(Protocol):
    """The connection whose invocations run here."""

    connection_id: str
    hub: Any
    hub_class: Any
    streams: dict[str, asyncio.Task]

    @property
    def is_open(self) -> bool:
        """Whether the handshake is done and the connection has not ended."""

    async def send(self, message: HubMessage) -> None:
        """Encode and send one hub message."""

    async def fail(self, reason: str) -> None:
        """Close because the client broke the protocol or a limit."""

    async def refused(self, target: str, reason: str, *, strike: bool = True) -> None:
        """Log a refused invocation; close a client that keeps sending them."""


class Invocations:
    """The invocation allowance, refusal log and streams of one connection."""

    __slots__ = ("_connection", "limits")

    def __init__(self, connection: Invoker) -> None:
        self._connection = connection
        self.limits = Limits(connection.connection_id)

    async def run(self, message: Invocation | StreamInvocation) -> None:
        """Admit an invocation, then run it (a stream runs in a task of its own)."""
        connection = self._connection
        if not await self._admit(message):
            return
        if isinstance(message, StreamInvocation):
            self._start_stream(message)
            return
        reply = await dispatch.invoke(connection.hub, message, connection)
        if reply is not None:
            await connection.send(reply)

    async def _admit(self, message: Invocation | StreamInvocation) -> bool:
        connection = self._connection
        invocation_id = message.invocation_id
        if invocation_id is not None and len(invocation_id) > conf.get().MAX_INVOCATION_ID_LENGTH:
            await connection.fail("Invocation id is too long.")
            return False
        if not self.limits.admit():
            metrics.invoked(connection.hub_class, message.target, "rate_limited", 0.0)
            if invocation_id is not None:
                await connection.send(
                    Completion.with_error(invocation_id, "Too many invocations; slow down.")
                )
            await self.refused(message.target, "rate limit", level=logging.WARNING)
            return False
        return True

    async def refused(
        self, target: str, reason: str, *, level: int = logging.INFO, strike: bool = True
    ) -> None:
        """Log a refused invocation (sparingly); close a client that keeps sending them.

        `strike`: whether it counts toward MAX_REFUSED_INVOCATIONS (a refusal
        by the hub itself, a HubException, does not).
        """
        close = self.limits.refused(target, reason, level=level, strike=strike)
        if close and self._connection.is_open:
            await self._connection.fail(f"Too many refused invocations in {WINDOW:.0f} s.")

    def _start_stream(self, message: StreamInvocation) -> None:
        connection = self._connection
        streams = connection.streams
        if message.invocation_id in streams:
            streams[message.invocation_id].cancel()
        task = asyncio.get_running_loop().create_task(
            dispatch.stream(connection.hub, message, connection)
        )
        streams[message.invocation_id] = task
        task.add_done_callback(lambda _t, i=message.invocation_id: streams.pop(i, None))
