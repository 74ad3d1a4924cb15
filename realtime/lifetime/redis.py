"""The Redis part of the lifetime manager: this process's link to the others.

One channel-layer channel per process (not per connection): a broadcast
arrives here once, already encoded, and the local part
(realtime/lifetime/local.py) writes it to every local member. The process
also runs the connection timers (keep-alive, timeouts) in one sweep instead
of a timer per connection, marks itself alive in Redis every second (its
connections' entries are written once and need no refresh), sweeps the
entries of dead processes (`realtime.liveness`), and drains its connections
at shutdown.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Collection, Iterable
from typing import Any

from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers
from redis.exceptions import RedisError

from realtime import conf, liveness, metrics, parking, results, revocation, shutdown, store
from realtime.connection import Connection
from realtime.departures import Departure, Departures
from realtime.lifetime import beat, envelopes, publish
from realtime.lifetime.envelopes import (
    ClientResult,
    CloseConnection,
    DiscardUsers,
    Inbound,
    InvokeClient,
    ResumeEnvelope,
    Revoke,
    ToConnections,
    ToGroups,
    UnknownEnvelope,
)
from realtime.lifetime.local import LocalTables
from realtime.lifetime.publish import Audience
from realtime.lifetime.rebuild import RegistryWatch
from realtime.stats import StatsPublisher
from realtime.transports import activity

logger = logging.getLogger(__name__)

#: Seconds between this process's liveness marks, and how long one lasts.
ALIVE_INTERVAL = 1.0
ALIVE_TTL = 3.0
#: Sweep chunks (`liveness.CHUNK` entries each) per ALIVE_INTERVAL at most.
SWEEP_CHUNKS = 20


class RedisLifetimeManager:
    """The lifetime manager of one event loop: local tables plus its Redis channel."""

    def __init__(self) -> None:
        # A layer instance of its own: channels_redis binds its receive
        # machinery to one event loop, and the backplane is per loop.
        self.layer: Any = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        self.channel = ""
        self.local = LocalTables(
            group_started=self._register_group, group_emptied=self._unregister_group
        )
        self.departures: Departures | None = None
        #: Connections resumed on another process: id -> (process, until when).
        self.moved: dict[str, tuple[str, float]] = {}
        self._tasks: list[asyncio.Task] = []
        self._refreshed = 0.0
        self._heartbeat = 0.0
        self.registry = RegistryWatch(self)

    async def start(self) -> None:
        """Create the process channel and start receiving and sweeping."""
        self.channel = await self.layer.new_channel("realtime.")
        await store.heartbeat(self.channel, conf.get().PRESENCE_TTL)
        self._heartbeat = time.monotonic()
        await store.mark_alive(self.channel, ALIVE_TTL)
        await self.registry.start()
        self.departures = Departures(self.channel, self.groups.__contains__)
        results.serve(self.layer, self.channel, self.connections)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._receive()),
            loop.create_task(self._sweep()),
            loop.create_task(self.registry.run()),
            loop.create_task(self.departures.run()),
            loop.create_task(revocation.recheck_forever(self.connections)),
            loop.create_task(self._mark_alive()),
            loop.create_task(
                beat.every(ALIVE_INTERVAL, self.sweep_dead_once, "could not sweep dead processes")
            ),
            loop.create_task(StatsPublisher(self).run()),
        ]
        shutdown.install(self)
        logger.info("realtime backplane started on %s", self.channel)

    async def stop(self) -> None:
        """Stop the background tasks (tests and shutdown)."""
        tasks = [*self._tasks, *self.registry.tasks()]
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

    # Local tables (the local part) and sending -----------------------------------

    @property
    def connections(self) -> dict[str, Connection]:
        """This process's connections by id."""
        return self.local.connections

    @property
    def groups(self) -> dict[str, set[Connection]]:
        """This process's members by (layer-named) group."""
        return self.local.groups

    async def attach(self, connection: Connection) -> None:
        """Make a connection reachable by id in this process."""
        await self.local.attach(connection)

    async def enter(self, connection: Connection, groups: Iterable[str]) -> None:
        """Start a connection here: attach it, add it to (layer-named) `groups`,
        and write what Redis holds of it in one round trip per shard: which
        process runs its id, its user's presence (if it has a user) and the
        groups this process holds members of for the first time."""
        await self.local.attach(connection)
        lease = conf.get().ENTRY_LEASE
        writes = [store.owner_write(connection.connection_id, self.channel, lease)]
        if connection.user_id:
            writes.append(
                store.presence_write(
                    str(connection.user_id), connection.presence_member, lease, self.channel
                )
            )
        for group in groups:
            connection.joined.add(group)
            if self.local.add_member(connection, group):
                writes.append(store.group_write(group, self.channel))
        await store.write_all(writes)

    async def detach(self, connection: Connection) -> None:
        """Forget a connection and leave all its groups."""
        await self.local.detach(connection)

    async def join(self, connection: Connection, group: str) -> None:
        """Add a local member; the first one registers the process for the group."""
        await self.local.join(connection, group)

    async def leave(self, connection: Connection, group: str) -> None:
        """Remove a local member; the last one unregisters the process (batched)."""
        await self.local.leave(connection, group)

    async def _register_group(self, group: str) -> None:
        await store.add_to_group(group, self.channel)

    def _unregister_group(self, group: str) -> None:
        self.departures.group_emptied(group)

    def forget(self, connection: Connection, *, moved: bool = False) -> None:
        """Queue the Redis cleanup of a connection that ended (`moved`: that was
        resumed on another process, which owns its entries now)."""
        self.departures.connection_ended(
            Departure(
                connection.token, connection.connection_id, connection.user_id,
                connection.presence_member, moved,
            )
        )  # fmt: skip

    async def send(
        self, namespace: str, audience: Audience, target: str, arguments: Iterable[Any]
    ) -> int:
        """Send a client event to an audience on every process; see `publish.send`."""
        return await publish.send(namespace, audience, target, arguments)

    async def remove_users_from_group(
        self, namespace: str, name: str, user_ids: Iterable[object]
    ) -> int:
        """Take users' connections out of a group everywhere; see `publish`."""
        return await publish.remove_users_from_group(namespace, name, user_ids)

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
            except UnknownEnvelope:
                logger.warning("backplane ignored a message of type %r", message.get("type"))
            except Exception:
                logger.exception("backplane could not handle %s", message.get("type"))

    async def handle(self, message: dict) -> None:
        """Deliver one message from the channel layer to local connections."""
        envelope = envelopes.parse(message)
        local = self.local
        if isinstance(envelope, ToGroups):
            recipients = local.members_of(envelope.groups)
            exclude = set(envelope.exclude)
            await local.fan_out(
                recipients, envelope.frames, exclude, envelope.sent_at, envelope.message_id
            )
        elif isinstance(envelope, ToConnections):
            recipients = local.named(envelope.connections)
            await local.fan_out(
                recipients, envelope.frames, set(), envelope.sent_at, envelope.message_id
            )
            if self.moved:
                await self.forward_moved(envelope)
        elif isinstance(envelope, ResumeEnvelope):
            await parking.handle(self, envelope)
        elif isinstance(envelope, Inbound):
            connection = local.connections.get(envelope.connection_id)
            if connection is not None:
                connection.feed_soon(envelope.data)
        elif isinstance(envelope, InvokeClient):
            results.request_arrived(envelope)
        elif isinstance(envelope, ClientResult):
            results.reply_arrived(envelope)
        elif isinstance(envelope, DiscardUsers):
            await local.discard_users(envelope.group, set(envelope.user_ids))
        elif isinstance(envelope, Revoke):
            await revocation.apply(list(local.connections.values()), envelope)
        elif isinstance(envelope, CloseConnection):
            connection = local.connections.get(envelope.connection_id)
            if connection is not None:
                await connection.abort()

    async def forward_moved(self, envelope: ToConnections) -> None:
        """Forward a connection-addressed send to where its connection was resumed.

        A sender that looked the owner up just before the resume sent it here.
        """
        now = time.monotonic()
        for connection_id in envelope.connections:
            process, until = self.moved.get(connection_id, ("", 0.0))
            if until > now:
                forwarded = dataclasses.replace(envelope, connections=[connection_id])
                await self.layer.send(process, forwarded.to_message())
        for connection_id in [c for c, (_, until) in self.moved.items() if until <= now]:
            del self.moved[connection_id]

    # Timers and liveness -------------------------------------------------------

    async def _sweep(self) -> None:
        settings = conf.get()
        period = max(
            0.05,
            min(
                settings.KEEPALIVE_INTERVAL,
                settings.CLIENT_TIMEOUT,
                settings.HANDSHAKE_TIMEOUT,
                settings.ENTRY_LEASE / 3,
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
        """Run every connection's timers; every ENTRY_LEASE/3, re-write this process's
        Redis entries (the safety net's lease, not their liveness)."""
        now = time.monotonic()
        settings = conf.get()
        await activity.refresh(self.connections.values(), now)
        for connection in list(self.connections.values()):
            if connection.due(now, settings):
                await connection.tick(now)
        if now - self._refreshed < settings.ENTRY_LEASE / 3:
            return
        await self.register_everything()
        # Only after success: a failed refresh is retried at the next sweep.
        self._refreshed = now

    async def register_everything(self, only: Collection[int] | None = None) -> None:
        """Write this process's heartbeat, liveness, registry, presence, groups and
        index of them to Redis: to every shard, or to the shards `only`."""
        settings = conf.get()
        await store.heartbeat(self.channel, settings.PRESENCE_TTL, only)
        await store.mark_alive(self.channel, ALIVE_TTL, only)
        live = list(self.connections.values())
        await store.add_to_groups(list(self.groups), self.channel, only)
        lease = settings.ENTRY_LEASE
        await store.refresh_registrations(
            [c.registration() for c in live], [c.token for c in live], lease, only,
            process=self.channel,
        )  # fmt: skip
        users = [(c.user_id, c.presence_member) for c in live if c.user_id]
        await store.presence_refresh(users, lease, only, owner=self.channel)

    # The registry epoch (realtime/lifetime/rebuild.py) ---------------------------

    async def check_registry(self) -> bool:
        """Rebuild this process's part of every shard that lost it; see `RegistryWatch`."""
        return await self.registry.check()

    async def _mark_alive(self) -> None:
        """Mark this process alive every ALIVE_INTERVAL, and its heartbeat every
        PRESENCE_TTL/3.

        A few commands per shard, however many connections: a SIGKILLed
        process's long-polling clients get 404 within ALIVE_TTL, and its
        entries are swept by the processes that remain. On a pool and a beat
        of their own, whatever else the process waits for.
        """
        await beat.every(ALIVE_INTERVAL, self._mark, "could not mark this process alive in Redis")

    async def _mark(self) -> None:
        await self.liveness_once()
        now = time.monotonic()
        if now - self._heartbeat >= conf.get().PRESENCE_TTL / 3:
            await store.heartbeat(self.channel, conf.get().PRESENCE_TTL)
            self._heartbeat = now

    async def liveness_once(self) -> None:
        """Mark this process alive on every shard.

        A shard where the previous mark had expired (this process stalled, or
        the shard restarted) may have had this process's entries swept: the
        registry watch writes them again there.
        """
        expired = await liveness.mark_alive(self.channel, ALIVE_TTL)
        if expired:
            shards = ",".join(map(str, sorted(expired)))
            logger.warning("liveness mark had expired on shard(s) %s: re-registering", shards)
            self.registry.lost |= expired

    async def sweep_dead_once(self) -> None:
        """Remove what dead processes left, a bounded amount (on the shared pool:
        it may wait for a connection, the marks do not)."""
        for _ in range(SWEEP_CHUNKS):
            if await liveness.sweep(self.channel) < liveness.CHUNK:
                break

    async def drain(self, reason: str | None = None) -> None:
        """Close every local connection with allowReconnect (graceful shutdown)."""
        connections = list(self.connections.values())
        logger.info("closing %d connections for shutdown", len(connections))
        for connection in connections:
            connection.ended_because("shutdown")
            await connection.close(reason, allow_reconnect=True)
        await store.process_gone(self.channel)
