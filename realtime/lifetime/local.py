"""The local part of the lifetime manager: this process's tables and fan-out.

No Redis here: the Redis part (realtime/lifetime/redis.py) registers a group
when its first local member joins and unregisters it when the last one
leaves, through the two callbacks it hands these tables.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from realtime import conf, metrics
from realtime.connection import Connection
from realtime.transports.frames import websocket_event, websocket_frame

logger = logging.getLogger(__name__)


class LocalTables:
    """Connections by id and members by (layer-named) group, in one event loop."""

    def __init__(
        self,
        *,
        group_started: Callable[[str], Awaitable[None]],
        group_emptied: Callable[[str], None],
    ) -> None:
        self.connections: dict[str, Connection] = {}
        self.groups: dict[str, set[Connection]] = {}
        self._group_started = group_started
        self._group_emptied = group_emptied

    async def attach(self, connection: Connection) -> None:
        """Make a connection reachable by id in this process."""
        self.connections[connection.connection_id] = connection
        metrics.connection_opened(connection.hub_class.namespace, connection.transport.name)

    def adopt(self, connection: Connection) -> None:
        """Take in a connection resumed from another process, with its groups.

        Synchronous, so no message for it is handled before it is in the
        tables; the claim registered this process for the groups in Redis.
        """
        self.connections[connection.connection_id] = connection
        metrics.connection_opened(connection.hub_class.namespace, connection.transport.name)
        for group in connection.joined:
            self.groups.setdefault(group, set()).add(connection)

    async def detach(self, connection: Connection) -> None:
        """Forget a connection and leave all its groups."""
        if self.connections.pop(connection.connection_id, None) is not None:
            metrics.connection_closed(
                connection.hub_class.namespace, connection.transport.name, connection.end_reason
            )
        for group in list(connection.joined):
            await self.leave(connection, group)
        connection.joined.clear()

    async def join(self, connection: Connection, group: str) -> None:
        """Add a local member; the first one registers the process for the group."""
        if self.add_member(connection, group):
            await self._group_started(group)

    def add_member(self, connection: Connection, group: str) -> bool:
        """Add a local member; return whether it is the group's first here (the
        caller registers the process for the group: `join` does)."""
        members = self.groups.get(group)
        if members is None:
            self.groups[group] = {connection}
            return True
        members.add(connection)
        return False

    async def leave(self, connection: Connection, group: str) -> None:
        """Remove a local member; the last one unregisters the process (batched)."""
        members = self.groups.get(group)
        if members is None:
            return
        members.discard(connection)
        if members:
            return
        del self.groups[group]
        self._group_emptied(group)

    async def discard_users(self, group: str, user_ids: set[str]) -> None:
        """Take the local connections of some users out of a group."""
        for connection in [c for c in self.groups.get(group, ()) if c.user_id in user_ids]:
            connection.joined.discard(group)
            await self.leave(connection, group)

    def members_of(self, groups: Iterable[str]) -> set[Connection]:
        """Return the local members of any of the groups, each once."""
        recipients: set[Connection] = set()
        for group in groups:
            recipients.update(self.groups.get(group, ()))
        return recipients

    def named(self, connection_ids: Iterable[str]) -> set[Connection]:
        """Return the local connections among the ids."""
        connections = self.connections
        return {connections[c] for c in connection_ids if c in connections}

    async def fan_out(
        self,
        recipients: set[Connection],
        frames: dict[str, bytes],
        exclude: set[str],
        sent_at: float | None,
        message_id: str = "",
    ) -> None:
        """Write a pre-encoded frame to each recipient, yielding between batches.

        Yielding keeps HTTP requests and other connections served while a
        large broadcast goes out. A recipient whose unsent output passes
        MAX_UNSENT_BYTES (one integer compare per write) is dropped.
        """
        settings = conf.get()
        batch, limit = settings.FANOUT_BATCH, settings.MAX_UNSENT_BYTES
        # Transports with a fast path (`Transport.write_frame`) get the
        # WebSocket frame encoded once per encoding, those with a shared
        # ASGI send (`Transport.send_event`) one shared event; JSON goes in
        # text frames, which take str: decoded once here.
        ready = {**frames, "json": frames["json"].decode()}
        events = {name: websocket_event(frame) for name, frame in ready.items()}
        wire = {
            "json": websocket_frame(frames["json"], binary=False),
            **{n: websocket_frame(f, binary=True) for n, f in frames.items() if n != "json"},
        }
        received_at = time.time()
        sizes = {name: len(frame) for name, frame in frames.items()}
        nbytes = 0
        now = time.monotonic()
        for count, connection in enumerate(recipients, 1):
            if exclude and connection.connection_id in exclude:
                continue
            frame = connection.frame_for(ready)
            if frame is None:
                if connection.stateful is not None:  # parked or resuming: kept
                    await connection.write_tracked(frames[connection.protocol.name], message_id)
            else:
                transport = connection.transport
                try:
                    if connection.stateful is not None:  # stateful reconnect: numbered, kept
                        connection.stateful.record(frames[connection.protocol.name])
                    if transport.write_frame is not None:
                        connection.last_sent = now
                        nbytes += sizes[connection.protocol.name]
                        if transport.write_frame(wire[connection.protocol.name]) > limit:
                            await connection.overflowed()
                    elif transport.send_event is not None:
                        connection.last_sent = now
                        nbytes += sizes[connection.protocol.name]
                        await transport.send_event(events[connection.protocol.name])
                        if transport.buffered() > limit:
                            await connection.overflowed()
                    else:
                        await connection.write(frame)  # checks the bound, counts bytes
                except Exception:
                    logger.warning("write to %s failed", connection.connection_id, exc_info=True)
            if count % batch == 0:
                await asyncio.sleep(0)
                now = time.monotonic()
        metrics.fanned_out(sent_at, received_at, len(recipients), nbytes)
