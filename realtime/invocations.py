"""A connection's invocations: admission (id length, rate), streams, refusals.

The connection hands each Invocation and StreamInvocation here; what passes
admission runs through the dispatcher (realtime/dispatch.py). An invocation
runs in the connection's reader (realtime/inline.py: it steps aside when it
awaits a client result); a stream, or an invocation with upload streams,
runs beside it. Made on a connection's first invocation: an idle connection
holds none.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from realtime import conf, dispatch, inline, metrics, results, uploads
from realtime.limits import WINDOW, Limits
from realtime.protocol import Completion, HubMessage, Invocation, StreamInvocation, StreamItem


class Invoker(Protocol):
    """The connection whose invocations run here."""

    connection_id: str
    hub: Any
    hub_class: Any
    streams: dict[str, asyncio.Task]
    #: What the client owes: upload items and client results.
    uploads: uploads.Uploads | None
    results: results.Pending | None

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
        """Admit an invocation, then run it (a stream runs beside the reader)."""
        if not await self._admit(message):
            return
        if isinstance(message, StreamInvocation) or message.stream_ids:
            await self._start_beside(message)
        else:
            await inline.run(self._invoke(message))

    async def answered(self, message: StreamItem | Completion) -> None:
        """Hand the client's StreamItem or Completion to its upload or client result."""
        connection = self._connection
        if isinstance(message, StreamItem):
            known = await uploads.item(connection, message)
        else:
            known = uploads.complete(connection, message) or results.complete(connection, message)
        if not known:
            await connection.fail(
                f"Unexpected {type(message).__name__} for invocation id "
                f"{message.invocation_id!r}: the server made no such request."
            )

    async def _invoke(self, message: Invocation) -> None:
        connection = self._connection
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

    async def _start_beside(self, message: Invocation | StreamInvocation) -> None:
        # Its first step runs here, so its upload streams are open before the
        # reader takes their items; then it goes on in a task of its own.
        streams = self._connection.streams
        key = message.invocation_id or "\x00" + message.stream_ids[0]
        if key in streams:
            streams[key].cancel()
        task = await inline.run(self._beside(message))
        if task is not None:
            streams[key] = task
            task.add_done_callback(lambda _t: streams.pop(key, None))

    async def _beside(self, message: Invocation | StreamInvocation) -> None:
        inline.release()
        connection = self._connection
        try:
            if isinstance(message, StreamInvocation):
                await dispatch.stream(connection.hub, message, connection)
            else:
                await self._invoke(message)
        finally:
            uploads.discard(connection, message.stream_ids)
