"""Redis cleanup after connections end, batched into pipelines.

A connection that ends leaves a presence entry, a registry entry and, when it
was a group's last local member, the process's entry in that group. One round
trip each is nothing for one client; when an instance loses ten thousand
clients at once (a network blip, a load balancer restart) it was tens of
thousands of commands at the same instant, and the broadcasts to the clients
that stayed waited behind them. Here ended connections are queued and written
in pipelines of up to `BATCH` entries, at most every `INTERVAL` seconds.

Each removal also takes the entry out of the process's index on its shard
(`realtime.liveness`), in the same pipeline. A failed flush is logged and
retried with backoff; if the process dies meanwhile, the live processes
sweep what it left.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from redis.exceptions import RedisError

from realtime import store

logger = logging.getLogger(__name__)

INTERVAL = 0.05
BATCH = 1000


@dataclass(frozen=True, slots=True)
class Departure:
    """What Redis holds for one ended connection."""

    token: str
    connection_id: str
    user_id: str
    member: str
    #: Resumed on another process: only this process's index lets go of it.
    moved: bool = False


class Departures:
    """The queue of Redis cleanup for one process."""

    def __init__(self, process: str, has_members: Callable[[str], bool]) -> None:
        self.process = process
        self.has_members = has_members
        self.connections: list[Departure] = []
        self.groups: set[str] = set()
        self._pending = asyncio.Event()

    def connection_ended(self, departure: Departure) -> None:
        """Queue the removal of a connection's presence and registry entries."""
        self.connections.append(departure)
        self._pending.set()

    def group_emptied(self, group: str) -> None:
        """Queue the removal of this process from a group it has no members of."""
        self.groups.add(group)
        self._pending.set()

    def __len__(self) -> int:
        return len(self.connections) + len(self.groups)

    async def run(self) -> None:
        """Flush whenever something is queued (a background task per process)."""
        backoff = INTERVAL
        while True:
            await self._pending.wait()
            await asyncio.sleep(backoff)
            try:
                await self.flush()
            except (RedisError, OSError):
                backoff = min(backoff * 2, 5.0)
                logger.warning(
                    "could not clean up %d ended connections in Redis; retrying in %.1f s",
                    len(self),
                    backoff,
                    exc_info=True,
                )
                continue
            backoff = INTERVAL

    async def flush(self) -> None:
        """Write up to BATCH queued removals in one pipeline (requeued on failure)."""
        connections, self.connections = self.connections[:BATCH], self.connections[BATCH:]
        # A group that got a member again since it emptied stays.
        groups = [g for g in self.groups if not self.has_members(g)]
        self.groups.clear()
        if not self.connections:
            self._pending.clear()
        try:
            await store.forget_many(
                [
                    (d.token, d.connection_id, d.user_id, d.member)
                    for d in connections
                    if not d.moved
                ],
                groups,
                self.process,
                [(d.token, d.connection_id, d.user_id, d.member) for d in connections if d.moved],
            )
        except BaseException:
            self.connections[:0] = connections
            self.groups.update(groups)
            self._pending.set()
            raise
        # A member may have joined while the pipeline ran; its SADD and our
        # SREM used different connections, so say it again.
        rejoined = [g for g in groups if self.has_members(g)]
        if rejoined:
            await store.add_to_groups(rejoined, self.process)
