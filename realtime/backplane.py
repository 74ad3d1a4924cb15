"""This process's link to the other server processes, through Redis.

One channel-layer channel per process (not per connection): a broadcast
arrives here once, already encoded, and is written to every local member.
The process also runs the connection timers (keep-alive, timeouts) in one
sweep instead of a timer per connection, and keeps its presence, registry
and group entries alive in Redis while it lives.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import TYPE_CHECKING, Any

from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers
from redis.exceptions import RedisError

from realtime import conf, epoch, metrics, revocation, shutdown, store
from realtime.connection import OPEN
from realtime.context import DISCARD
from realtime.departures import Departure, Departures
from realtime.stats import StatsPublisher
from realtime.transports import activity
from realtime.transports.events import websocket_event, websocket_frame

if TYPE_CHECKING:
    from realtime.connection import Connection

logger = logging.getLogger(__name__)

#: Seconds between this process's liveness marks, and how long one lasts.
ALIVE_INTERVAL = 1.0
ALIVE_TTL = 3.0


class Backplane:
    """Local connection and group tables of one event loop, and its Redis channel."""

    def __init__(self) -> None:
        # A layer instance of its own: channels_redis binds its receive
        # machinery to one event loop, and the backplane is per loop.
        self.layer: Any = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        self.channel = ""
        self.connections: dict[str, Connection] = {}
        self.groups: dict[str, set[Connection]] = {}
        self.departures: Departures | None = None
        self._tasks: list[asyncio.Task] = []
        self._refreshed = 0.0
        #: The registry epoch this process last registered everything under,
        #: and the run id of the Redis server it did so on.
        self.epoch: str | None = None
        self.server: str | None = None
        self._registry_lost = False
        self._resync_task: asyncio.Task | None = None

    async def start(self) -> None:
        """Create the process channel and start receiving and sweeping."""
        self.channel = await self.layer.new_channel("realtime.")
        await store.heartbeat(self.channel, conf.get().PRESENCE_TTL)
        await store.mark_alive(self.channel, ALIVE_TTL)
        self.epoch, self.server = await epoch.current()
        self.departures = Departures(self.channel, self.groups.__contains__)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._receive()),
            loop.create_task(self._sweep()),
            loop.create_task(self._watch_registry()),
            loop.create_task(self.departures.run()),
            loop.create_task(revocation.recheck_forever(self.connections)),
            loop.create_task(self._mark_alive()),
            loop.create_task(StatsPublisher(self).run()),
        ]
        shutdown.install(self)
        logger.info("realtime backplane started on %s", self.channel)

    async def stop(self) -> None:
        """Stop the background tasks (tests and shutdown)."""
        tasks = [*self._tasks, *filter(None, [self._resync_task])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = []
        await self.flush_departures()
        await self.layer.close_pools()

    async def flush_departures(self) -> None:
        """Write every queued Redis cleanup now (shutdown); log if Redis is away."""
        try:
            while self.departures is not None and len(self.departures):
                await self.departures.flush()
        except (RedisError, OSError):
            logger.warning("could not clean up ended connections in Redis", exc_info=True)

    # Local tables ------------------------------------------------------------

    async def attach(self, connection: Connection) -> None:
        """Make a connection reachable by id in this process."""
        self.connections[connection.connection_id] = connection
        metrics.connection_opened(connection.hub_class.namespace, connection.transport.name)

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
        members = self.groups.get(group)
        if members is None:
            members = self.groups[group] = set()
            members.add(connection)
            await store.add_to_group(group, self.channel)
        else:
            members.add(connection)

    async def leave(self, connection: Connection, group: str) -> None:
        """Remove a local member; the last one unregisters the process (batched)."""
        members = self.groups.get(group)
        if members is None:
            return
        members.discard(connection)
        if members:
            return
        del self.groups[group]
        self.departures.group_emptied(group)

    async def discard_users(self, group: str, user_ids: set[str]) -> None:
        """Take the local connections of some users out of a group."""
        for connection in [c for c in self.groups.get(group, ()) if c.user_id in user_ids]:
            connection.joined.discard(group)
            await self.leave(connection, group)

    def forget(self, connection: Connection) -> None:
        """Queue the Redis cleanup of a connection that ended."""
        self.departures.connection_ended(
            Departure(
                connection.token, connection.connection_id, connection.user_id,
                connection.presence_member,
            )
        )  # fmt: skip

    # Inbound messages ----------------------------------------------------------

    async def _receive(self) -> None:
        backoff = 0.1
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("backplane receive failed; retrying", exc_info=True)
                metrics.increment("backplane_errors")
                await asyncio.sleep(backoff)
                # Capped low: after a Redis outage, what waits in this
                # process's channel goes out within a second.
                backoff = min(backoff * 2, 1.0)
                continue
            backoff = 0.1
            try:
                await self.handle(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("backplane could not handle %s", message.get("type"))

    async def handle(self, message: dict) -> None:
        """Deliver one message from the channel layer to local connections."""
        kind = message.get("type")
        if kind == "rt.groups":
            recipients: set[Connection] = set()
            for group in message["gs"]:
                recipients.update(self.groups.get(group, ()))
            await self.fan_out(recipients, message["f"], set(message.get("x") or ()), message)
        elif kind == "rt.conn":
            recipients = {self.connections[c] for c in message["cs"] if c in self.connections}
            await self.fan_out(recipients, message["f"], set(), message)
        elif kind == "rt.inbound":
            connection = self.connections.get(message["c"])
            if connection is not None:
                connection.feed_soon(message["d"])
        elif kind == DISCARD:
            await self.discard_users(message["g"], set(message["u"]))
        elif kind == revocation.MESSAGE:
            await revocation.apply(list(self.connections.values()), message)
        elif kind == "rt.close":
            connection = self.connections.get(message["c"])
            if connection is not None:
                await connection.abort()
        else:
            logger.warning("backplane ignored a message of unknown type %r", kind)

    async def fan_out(
        self, recipients: set[Connection], frames: dict, exclude: set[str], message: dict
    ) -> None:
        """Write a pre-encoded frame to each recipient, yielding between batches.

        Yielding keeps HTTP requests and other connections served while a
        large broadcast goes out. A recipient whose unsent output passes
        MAX_UNSENT_BYTES (one integer compare per write) is dropped.
        """
        settings = conf.get()
        batch, limit = settings.FANOUT_BATCH, settings.MAX_UNSENT_BYTES
        # WebSockets get the WebSocket frame encoded once per encoding when
        # the server writes frames (`FRAMES_EXTENSION`), else one shared ASGI
        # event; JSON goes in text frames, which take str: decoded once here.
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
            if frame is not None:
                transport = connection.transport
                try:
                    if getattr(transport, "write_frame", None) is not None:
                        connection.last_sent = now
                        nbytes += sizes[connection.protocol.name]
                        if transport.write_frame(wire[connection.protocol.name]) > limit:
                            await connection.overflowed()
                    elif getattr(transport, "send_event", None) is not None:
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
        metrics.fanned_out(message.get("t"), received_at, len(recipients), nbytes)

    # Timers and liveness -------------------------------------------------------

    async def _sweep(self) -> None:
        settings = conf.get()
        period = max(
            0.05,
            min(
                settings.KEEPALIVE_INTERVAL,
                settings.CLIENT_TIMEOUT,
                settings.HANDSHAKE_TIMEOUT,
                settings.PRESENCE_TTL / 3,
            )
            / 3,
        )
        while True:
            await asyncio.sleep(period)
            try:
                await self.sweep_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("backplane sweep failed", exc_info=True)

    async def sweep_once(self) -> None:
        """Run every connection's timers and refresh this process's Redis entries."""
        now = time.monotonic()
        await activity.refresh(self.connections.values(), now)
        for connection in list(self.connections.values()):
            await connection.tick(now)
        if now - self._refreshed < conf.get().PRESENCE_TTL / 3:
            return
        await self.register_everything()
        # Only after success: a failed refresh is retried at the next sweep.
        self._refreshed = now

    async def register_everything(self) -> None:
        """Write this process's heartbeat, liveness, registry, presence and groups to Redis."""
        ttl = conf.get().PRESENCE_TTL
        await store.heartbeat(self.channel, ttl)
        await store.mark_alive(self.channel, ALIVE_TTL)
        live = list(self.connections.values())
        await store.add_to_groups(list(self.groups), self.channel)
        await store.refresh_registrations(
            [c.registration() for c in live], [c.token for c in live], ttl
        )
        users = [(c.user_id, c.presence_member) for c in live if c.user_id]
        await store.presence_refresh(users, ttl)

    # The registry epoch --------------------------------------------------------

    async def _watch_registry(self) -> None:
        period = conf.get().REGISTRY_CHECK_INTERVAL
        while True:
            await asyncio.sleep(period)
            try:
                await self.check_registry()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if not self._registry_lost:
                    logger.warning("registry check failed: %s; retrying", type(exc).__name__)
                self._registry_lost = True

    async def check_registry(self) -> bool:
        """Re-register everything when Redis has a new registry epoch, is another
        server, or answers again after an outage; return whether it did.

        A new epoch means Redis lost the registry (restarted empty, flushed,
        failed over to an empty replica). Another server with the same epoch
        came back with its data (append-only file, a failover), possibly
        without its last writes. Either way messages waiting for this process
        may be gone, so after the rebuild every local connection's hub runs
        `on_resync`. The same server after failed checks (a network blip)
        re-registers without a resync: it lost nothing.
        """
        current, server = await epoch.current()
        if (current, server) == (self.epoch, self.server) and not self._registry_lost:
            return False
        started = time.monotonic()
        await store.drop_idle_connections()
        # Sends wait while this runs; a rebuild that fails keeps holding them
        # (until PRESENCE_TTL) and is tried again at the next check.
        await epoch.hold(self.channel, conf.get().PRESENCE_TTL)
        await self.register_everything()
        await epoch.release(self.channel)
        if current != self.epoch:
            cause = "rebuilt for a new epoch"
        elif server != self.server:
            cause = "rebuilt on a restarted Redis server"
        else:
            cause = "refreshed after an outage"
        renewed = (current, server) != (self.epoch, self.server)
        self.epoch, self.server, self._registry_lost = current, server, False
        metrics.increment("registry_rebuilds")
        logger.warning(
            "registry %s: %d connections, %d groups re-registered in %.0f ms",
            cause,
            len(self.connections),
            len(self.groups),
            (time.monotonic() - started) * 1000,
        )
        if renewed:
            if self._resync_task is not None:
                self._resync_task.cancel()
            connections = list(self.connections.values())
            self._resync_task = asyncio.get_running_loop().create_task(self._resync(connections))
        return True

    async def _resync(self, connections: list[Connection]) -> None:
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

    async def _mark_alive(self) -> None:
        # One SET per process per ALIVE_INTERVAL: a SIGKILLed process's
        # long-polling clients get 404 within ALIVE_TTL and reconnect.
        failing = False
        while True:
            try:
                await store.mark_alive(self.channel, ALIVE_TTL)
            except (RedisError, OSError):
                if not failing:
                    logger.warning("could not mark this process alive in Redis", exc_info=True)
                failing = True
            else:
                failing = False
            await asyncio.sleep(ALIVE_INTERVAL)

    async def drain(self, reason: str | None = None) -> None:
        """Close every local connection with allowReconnect (graceful shutdown)."""
        connections = list(self.connections.values())
        logger.info("closing %d connections for shutdown", len(connections))
        for connection in connections:
            connection.ended_because("shutdown")
            await connection.close(reason, allow_reconnect=True)
        await store.process_gone(self.channel)


_backplanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Backplane] = (
    weakref.WeakKeyDictionary()
)
_starting: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


async def get_backplane() -> Backplane:
    """Return the running loop's backplane, starting it on first use."""
    loop = asyncio.get_running_loop()
    backplane = _backplanes.get(loop)
    if backplane is not None:
        return backplane
    lock = _starting.setdefault(loop, asyncio.Lock())
    async with lock:
        backplane = _backplanes.get(loop)
        if backplane is None:
            backplane = Backplane()
            await backplane.start()
            _backplanes[loop] = backplane
    return backplane


async def stop_backplane() -> None:
    """Stop the running loop's backplane, if any (tests)."""
    backplane = _backplanes.pop(asyncio.get_running_loop(), None)
    if backplane is not None:
        await backplane.stop()


_warmed: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
_warming: set[asyncio.Task] = set()


def warm_up() -> None:
    """Start the running loop's backplane in the background (once per loop).

    Called on a process's first request of any kind (e.g. the load balancer's
    health check), so an instance that has no hub connection yet is still in
    the registry and on the dashboard. A failure is retried by the first hub
    request.
    """
    loop = asyncio.get_running_loop()
    if loop in _warmed:
        return
    _warmed.add(loop)

    async def start() -> None:
        try:
            await get_backplane()
        except (RedisError, OSError):
            logger.warning("backplane not started yet: Redis unavailable")

    task = loop.create_task(start())
    _warming.add(task)
    task.add_done_callback(_warming.discard)
