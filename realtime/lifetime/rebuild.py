"""The registry epoch of each shard, watched by one process, and the rebuild of its part.

Every REGISTRY_CHECK_INTERVAL the process reads every shard's epoch
(`realtime.epoch`). A shard with a new epoch lost its part of the registry
(restarted empty, flushed, failed over to an empty replica); another server
with the same epoch came back with its data (append-only file, a failover),
possibly without its last writes; a shard that did not answer at a check
may have missed writes; on a shard where the process's liveness mark had
expired, the others may have swept its entries (`realtime.liveness`). The
process writes again what it holds on those shards only, with its index of
it, holding sends back there meanwhile. Messages waiting for this
process may be gone after a restart, so then every local connection's hub
runs `on_resync`; after a mere outage of the same server they are not.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection
from typing import Protocol

from redis.exceptions import RedisError

from realtime import conf, epoch, metrics, store
from realtime.connection import OPEN, Connection

logger = logging.getLogger(__name__)


class Registrar(Protocol):
    """What the watch needs of the lifetime manager (realtime/lifetime/redis.py)."""

    channel: str

    @property
    def connections(self) -> dict[str, Connection]: ...

    @property
    def groups(self) -> dict[str, set[Connection]]: ...

    async def register_everything(self, only: Collection[int] | None = None) -> None: ...


class RegistryWatch:
    """What one process last saw of each shard's epoch, and the rebuilds it ran."""

    def __init__(self, manager: Registrar) -> None:
        self.manager = manager
        #: Per shard: (epoch, run id of the server) last registered under, or None.
        self.epochs: list[tuple[str, str] | None] = []
        #: Shards to rebuild: they did not answer, failed a rebuild, or this
        #: process's liveness mark there expired (it stalled).
        self.lost: set[int] = set()
        #: Shards that did not answer (or failed a rebuild) since their last rebuild.
        self.unreachable: set[int] = set()
        self._resync_task: asyncio.Task | None = None

    async def start(self) -> None:
        """Note every shard's epoch as the process starts (it registers everything then)."""
        self.epochs = await epoch.current()
        self.lost = {i for i, answer in enumerate(self.epochs) if answer is None}
        self.unreachable = set(self.lost)

    def tasks(self) -> list[asyncio.Task]:
        return [self._resync_task] if self._resync_task is not None else []

    async def run(self) -> None:
        """Check the epochs every REGISTRY_CHECK_INTERVAL, for as long as the process runs."""
        period = conf.get().REGISTRY_CHECK_INTERVAL
        failing = False
        while True:
            await asyncio.sleep(period)
            try:
                await self.check()
            except (RedisError, OSError) as exc:
                if not failing:
                    logger.warning("registry check failed: %s; retrying", type(exc).__name__)
                failing = True
            else:
                failing = False

    async def check(self) -> bool:
        """Rebuild this process's part of every shard that needs it; return whether any did."""
        now = await epoch.current()
        known = self.epochs if len(self.epochs) == len(now) else [None] * len(now)
        down = {i for i, answer in enumerate(now) if answer is None}
        if down - self.lost:
            logger.warning("registry check: shard(s) %s did not answer; retrying", _names(down))
        self.lost |= down
        self.unreachable |= down
        renewed = {i for i, answer in enumerate(now) if answer is not None and answer != known[i]}
        only = (renewed | self.lost) - down
        if not only:
            return False
        started = time.monotonic()
        try:
            # Connections to a restarted or unreachable server may be dead; after
            # a mere stall of this process they are fine, and reconnecting them
            # would add to whatever stalled it.
            await store.drop_idle_connections((renewed | self.unreachable) & only)
            # Sends wait while this runs; a rebuild that fails keeps holding
            # them (until PRESENCE_TTL) and is tried again at the next check.
            await epoch.hold(self.manager.channel, conf.get().PRESENCE_TTL, only)
            await self.manager.register_everything(only)
            await epoch.release(self.manager.channel, only)
        except (RedisError, OSError):
            self.lost |= only
            self.unreachable |= only
            raise
        if any(known[i] is None or now[i][0] != known[i][0] for i in renewed):
            cause = "rebuilt for a new epoch"
        elif renewed:
            cause = "rebuilt on a restarted Redis server"
        else:
            cause = "refreshed after an outage"
        self.epochs = [answer or seen for answer, seen in zip(now, known, strict=True)]
        self.lost -= only
        self.unreachable -= only
        metrics.increment("registry_rebuilds")
        logger.warning(
            "registry %s: %d connections, %d groups re-registered in %.0f ms (shards: %s)",
            cause,
            len(self.manager.connections),
            len(self.manager.groups),
            (time.monotonic() - started) * 1000,
            _names(only),
        )
        if renewed:
            if self._resync_task is not None:
                self._resync_task.cancel()
            connections = list(self.manager.connections.values())
            self._resync_task = asyncio.get_running_loop().create_task(_resync(connections))
        return True


def _names(shards: set[int]) -> str:
    return ",".join(map(str, sorted(shards)))


async def _resync(connections: list[Connection]) -> None:
    # Concurrently, a bounded number at a time: a hook that reads the
    # database waits for the database thread, and the rest go on meanwhile.
    limit = asyncio.Semaphore(conf.get().FANOUT_BATCH)

    async def resync(connection: Connection) -> None:
        async with limit:
            hub = connection.hub
            if hub is None or connection.state != OPEN:
                return
            try:
                await hub.on_resync()
            except Exception:
                logger.exception("on_resync failed for %s", connection.connection_id)

    await asyncio.gather(*(resync(c) for c in connections))
