"""A transport-agnostic SignalR connection: handshake, messages, limits (timers: realtime.timers).

A transport (WebSocket, Server-Sent Events, long polling) hands inbound bytes
to `Connection.feed` and gives the connection a `Transport` to write frames
to. Everything between (the handshake, parsing, the hub instance, keep-alive,
limits) is the same for all three.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from realtime import conf, logformat, metrics, results, store, uploads
from realtime.clients import GroupManager, HubClients
from realtime.groups import ALL, layer_group_name, presence_member, user_group
from realtime.handshake import HandshakeReader
from realtime.inbound import InboundQueue
from realtime.invocations import Invocations
from realtime.lifetime.manager import HubLifetimeManager
from realtime.logtext import clip
from realtime.protocol import (
    Ack,
    CancelInvocation,
    Close,
    Completion,
    HubMessage,
    Invocation,
    Ping,
    ProtocolError,
    Sequence,
    StreamInvocation,
    StreamItem,
    encode_handshake_response,
)
from realtime.timers import CLOSED, HANDSHAKE, OPEN, Timers
from realtime.transport import Transport

if TYPE_CHECKING:
    from realtime.auth import Identity
    from realtime.hub import Hub

logger = logging.getLogger(__name__)


class Connection(Timers):
    """One client connection to one hub, on whatever transport carries it."""

    __slots__ = (
        "_clients",
        "_finished",
        "_groups",
        "_handshaking",
        "_inbound",
        "_invocations",
        "backplane",
        "connection_id",
        "end_reason",
        "hub",
        "hub_class",
        "identity",
        "joined",
        "last_received",
        "last_sent",
        "protocol",
        "results",
        "started",
        "state",
        "streams",
        "token",
        "token_expires",
        "transport",
        "uploads",
        "user",
        "user_id",
    )
    stateful: Any = None  # stateful reconnect's buffer, if any (realtime/resumable.py)

    def __init__(
        self,
        *,
        hub_class: type[Hub],
        user: Any,
        user_id: str,
        connection_id: str,
        token: str,
        transport: Transport,
        backplane: HubLifetimeManager,
        token_expires: float | None = None,
        identity: Identity | None = None,
    ) -> None:
        self.hub_class = hub_class
        #: How the user was proven (session or token): re-checked while open.
        self.identity = identity
        self.user = user
        self.user_id = user_id
        self.connection_id = connection_id
        self.token = token
        self.transport = transport
        self.backplane = backplane
        self.token_expires = token_expires
        self.state = HANDSHAKE
        self.protocol: Any = None
        self.hub: Hub | None = None
        self.joined: set[str] = set()
        self.streams: dict[str, asyncio.Task] = {}
        #: Client results this connection's client owes (realtime.results).
        self.results: results.Pending | None = None
        #: Client-to-server streams open on this connection (realtime.uploads).
        self.uploads: uploads.Uploads | None = None
        self.started = self.last_received = self.last_sent = time.monotonic()
        self._handshaking: HandshakeReader | None = None
        self._clients: HubClients | None = None
        self._groups: GroupManager | None = None
        self._inbound: InboundQueue | None = None
        self._invocations: Invocations | None = None
        self._finished = False
        self.end_reason = ""
        logformat.bind(connection_id, user_id, hub_class.namespace)

    def __repr__(self) -> str:
        return f"<Connection {self.connection_id} {self.hub_class.__name__} {self.state}>"

    @property
    def is_open(self) -> bool:
        """Whether the handshake is done and the connection has not ended."""
        return self.state == OPEN

    # The hub's view ----------------------------------------------------------

    @property
    def clients(self) -> HubClients:
        """Audiences for this connection's hub (built on first use)."""
        if self._clients is None:
            hub = self.hub_class
            self._clients = HubClients(self, hub.namespace, allow_all=hub.allow_broadcast_to_all)
        return self._clients

    @property
    def groups(self) -> GroupManager:
        """Group membership of this connection (built on first use)."""
        if self._groups is None:
            self._groups = GroupManager(self, self.hub_class.namespace)
        return self._groups

    # Inbound -----------------------------------------------------------------

    async def feed(self, data: bytes) -> None:
        """Handle one inbound frame or POST body, in order."""
        if self.state == CLOSED:
            return
        self.last_received = time.monotonic()
        limit = conf.get().MAX_MESSAGE_SIZE
        if len(data) > limit:
            await self.fail(f"Message of {len(data)} bytes exceeds the limit of {limit} bytes.")
            return
        try:
            if self.state == HANDSHAKE:
                data = await self._handshake(data)
                if not data or self.state != OPEN:
                    return
            messages = self.protocol.parse(data, max_message_size=limit)
        except ProtocolError as exc:
            await self.fail(str(exc))
            return
        for message in messages:
            if self.state != OPEN:
                return
            await self._handle(message)

    def feed_soon(self, data: bytes) -> None:
        """Queue data that arrived through another process (SSE/long-polling POST)."""
        if self.state == CLOSED:
            return
        if self._inbound is None:
            self._inbound = InboundQueue(self)
        self._inbound.put(data)

    async def _handshake(self, data: bytes) -> bytes:
        # Held only until the handshake is answered: an open connection keeps none.
        if self._handshaking is None:
            self._handshaking = HandshakeReader(text_only=self.transport.text_only)
        protocol, rest, error = self._handshaking.feed(data)
        if error is not None:
            await self._refuse_handshake(error)
            return b""
        if protocol is None:
            return b""
        self._handshaking = None
        self.protocol = protocol
        await self.transport.write(encode_handshake_response(None), False)
        self.state = OPEN
        self.hub = self.hub_class(self)
        try:
            await results.without_client_results(self.hub.on_connected())
        except Exception:
            logger.exception("on_connected failed for %s", self.connection_id)
            self.ended_because("server_error")
            await self.close("Connection closed with an error.")
            return b""
        logger.debug(
            "connected %s to %s over %s/%s", self.connection_id, self.hub_class.__name__,
            self.transport.name, protocol.name, extra={"event": "connected"},
        )  # fmt: skip
        return rest

    async def _refuse_handshake(self, error: str) -> None:
        """Answer a failed handshake with its error, then end (as ASP.NET Core does)."""
        logger.warning("handshake refused on %s: %s", self.connection_id, clip(error))
        self.ended_because("protocol_error")
        await self.transport.write(encode_handshake_response(error), False)
        await self._end()

    async def _handle(self, message: HubMessage) -> None:
        if isinstance(message, Invocation | StreamInvocation):
            await self._ensure_invocations().run(message)
        elif isinstance(message, CancelInvocation):
            task = self.streams.pop(message.invocation_id, None)
            if task is not None:
                task.cancel()
        elif isinstance(message, Ping):
            pass
        elif isinstance(message, Close):
            logger.debug("client closed %s", self.connection_id)
            self.ended_because("client_closed")
            await self._end()
        elif isinstance(message, Completion | StreamItem):
            await self._ensure_invocations().answered(message)
        elif isinstance(message, Ack | Sequence):
            await self.fail("Stateful reconnect was not negotiated.")

    async def refused(
        self, target: str, reason: str, *, level: int = logging.INFO, strike: bool = True
    ) -> None:
        """Log a refused invocation (sparingly); see `Invocations.refused`."""
        await self._ensure_invocations().refused(target, reason, level=level, strike=strike)

    def _ensure_invocations(self) -> Invocations:
        if self._invocations is None:
            self._invocations = Invocations(self)
        return self._invocations

    # Outbound ----------------------------------------------------------------

    async def send(self, message: HubMessage) -> None:
        """Encode and send one hub message."""
        await self.write(self.protocol.encode(message))

    async def write(self, frame: bytes | str) -> None:
        """Send an already encoded frame (fan-out encodes once for everyone)."""
        if self.state != OPEN:
            return
        self.last_sent = time.monotonic()
        transport = self.transport
        metrics.wrote(len(frame))
        await transport.write(frame, self.protocol.transfer_format == "Binary")
        if transport.buffered() > conf.get().MAX_UNSENT_BYTES:
            await self.overflowed()

    def frame_for(self, frames: dict[str, bytes | str]) -> bytes | str | None:
        """Pick this connection's encoding from a pre-encoded broadcast."""
        if self.state != OPEN:
            return None
        return frames.get(self.protocol.name)

    @property
    def presence_member(self) -> str:
        """This connection's entry in its user's presence set."""
        return presence_member(self.hub_class.namespace, self.connection_id)

    def registration(self) -> store.Registration:
        """This connection's registry entry."""
        return store.Registration(
            connection_id=self.connection_id, hub=self.hub_class.namespace,
            user_id=self.user_id, owner=self.backplane.channel, transport=self.transport.name,
        )  # fmt: skip

    # Lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Make the connection reachable: local tables, the owner of its id,
        presence, its user's group (and the hub-wide one where the hub allows
        broadcasts to all), in one Redis round trip per shard."""
        groups = [user_group(self.user_id)] if self.user_id else []
        if self.hub_class.allow_broadcast_to_all:
            groups.append(ALL)
        namespace = self.hub_class.namespace
        await self.backplane.enter(self, [layer_group_name(namespace, g) for g in groups])

    async def fail(self, reason: str) -> None:
        """Close because the client broke the protocol or a limit."""
        logger.warning(
            "closing %s: %s",
            self.connection_id,
            clip(reason, 200),
            extra={"event": "closed", "reason": "protocol_error"},
        )
        self.ended_because("protocol_error")
        await self.close(f"Connection closed with an error. {reason}")

    async def close(self, error: str | None = None, *, allow_reconnect: bool = False) -> None:
        """Send Close (when the handshake is done) and end the transport."""
        if self.state == OPEN:
            try:
                await self.send(Close(error=error, allow_reconnect=allow_reconnect))
            except Exception:
                logger.debug("could not send Close to %s", self.connection_id, exc_info=True)
        await self._end()

    async def overflowed(self) -> None:
        """Drop a client that does not read: its unsent output passed MAX_UNSENT_BYTES.

        No Close message: it would wait behind what the client is not
        reading. The official client reconnects and catches up.
        """
        if self.state == CLOSED:
            return
        self.state = CLOSED
        self.ended_because("slow_consumer")
        metrics.increment("slow_consumers_closed")
        logger.warning(
            "closing slow consumer %s: %s bytes unsent (limit %s)",
            self.connection_id,
            f"{self.transport.buffered():,}",
            f"{conf.get().MAX_UNSENT_BYTES:,}",
        )
        await self.transport.drop()

    async def abort(self) -> None:
        """End at the client's request (long-polling DELETE): no Close message."""
        self.ended_because("client_closed")
        await self._end(discard=True)

    def ended_because(self, reason: str) -> None:
        """Record why the connection ends (the first reason given wins)."""
        self.end_reason = self.end_reason or reason

    async def _end(self, *, discard: bool = False) -> None:
        if self.state == CLOSED:
            return
        self.state = CLOSED
        await self.transport.close(discard=discard)

    async def closed(self, exception: Exception | None = None) -> None:
        """Clean up after the transport ended; runs once."""
        if self._finished:
            return
        self._finished = True
        self.state = CLOSED
        self.ended_because("client_closed")  # the transport ended from the client's side
        if self._invocations is not None:
            self._invocations.limits.flush(time.monotonic())
        for task in list(self.streams.values()):
            task.cancel()
        results.connection_closed(self)
        uploads.connection_closed(self)
        if self.hub is not None:
            hub, self.hub = self.hub, None
            try:
                await hub.on_disconnected(exception)
            except Exception:
                logger.exception("on_disconnected failed for %s", self.connection_id)
        await self.backplane.detach(self)
        self.backplane.forget(self)
        logger.debug(
            "disconnected %s",
            self.connection_id,
            extra={"event": "disconnected", "reason": self.end_reason},
        )
