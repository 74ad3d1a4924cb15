"""A connection that stateful reconnect can park and resume (every transport's).

`ResumableConnection` is the `Connection` the transports build. Unless the
client negotiated stateful reconnect and shook hands at protocol version 2
on WebSockets, it behaves exactly as its base (`stateful` stays None). With
it, the connection numbers what it sends (realtime/stateful.py), applies
the client's Ack and Sequence, drops inbound duplicates and acknowledges
what it received; when its transport drops without a Close it is parked
instead of ending (realtime/parking.py), and a resume gives it a new
transport.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from realtime import conf, parked_store, parking, presence, store
from realtime.auth import Identity
from realtime.connection import CLOSED, OPEN, Connection
from realtime.handshake import HandshakeReader
from realtime.protocol import PROTOCOLS, Ack, HubMessage, ProtocolError, Sequence
from realtime.stateful import TRACKED, MessageBuffer
from realtime.transport import Transport

#: Seconds from the first unacknowledged inbound message to the Ack that
#: covers it and what follows (the official clients and ASP.NET Core: 1 s).
ACK_DELAY = 1.0


class _Handshake(HandshakeReader):
    """The handshake reader of a connection that negotiated stateful reconnect.

    Turns the message buffer on when the client asks for protocol version 2,
    before the hub's on_connected can send anything: every tracked message
    counts from the first.
    """

    __slots__ = ("_connection",)

    def __init__(self, connection: ResumableConnection) -> None:
        super().__init__(text_only=connection.transport.text_only)
        self._connection = connection

    def feed(self, data: bytes) -> tuple[Any, bytes, str | None]:
        protocol, rest, error = super().feed(data)
        if protocol is not None and self.version >= 2:
            limit = conf.get().STATEFUL_RECONNECT_BUFFER_SIZE
            self._connection.stateful = MessageBuffer(limit)
        return protocol, rest, error


class ResumableConnection(Connection):
    """A connection with stateful reconnect, when its client negotiated it."""

    __slots__ = ("_ack_timer", "handover", "park", "stateful", "stateful_offered")

    def __init__(self, *, stateful_offered: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: Offered at negotiate (WebSockets only); the buffer comes with a
        #: version 2 handshake, the park while the transport is down, the
        #: handover while a resume waits for the old owner.
        self.stateful_offered = stateful_offered
        self.stateful: MessageBuffer | None = None
        self.park: parking.Park | None = None
        self.handover: parking.Handover | None = None
        self._ack_timer: asyncio.TimerHandle | asyncio.Task | None = None
        if stateful_offered:
            self._handshaking = _Handshake(self)

    # Inbound -----------------------------------------------------------------

    async def _handle(self, message: HubMessage) -> None:
        if self.stateful is None or await self._track(message):
            await super()._handle(message)

    async def _track(self, message: HubMessage) -> bool:
        """Apply Ack and Sequence, drop duplicates; return whether to handle `message`."""
        buffer = self.stateful
        try:
            if isinstance(message, Ack):
                buffer.ack(message.sequence_id)
                return False
            if isinstance(message, Sequence):
                buffer.reset_sequence(message)
                return False
        except ProtocolError as exc:
            await self.fail(str(exc))
            return False
        if not buffer.accept(message):
            return False
        if self._ack_timer is None and buffer.ack_due():
            # One Ack covers a burst.
            self._ack_timer = asyncio.get_running_loop().call_later(ACK_DELAY, self._ack_soon)
        return True

    def _ack_soon(self) -> None:
        self._ack_timer = asyncio.get_running_loop().create_task(self._send_ack())

    async def _send_ack(self) -> None:
        self._ack_timer = None
        sequence_id = self.stateful.ack_due()
        if sequence_id and self.state == OPEN:
            self.stateful.ack_sent = sequence_id
            await self.send(Ack(sequence_id))

    # Outbound ----------------------------------------------------------------

    async def send(self, message: HubMessage) -> None:
        """Encode and send one hub message (numbered and kept if tracked)."""
        if self.stateful is not None and isinstance(message, TRACKED):
            await self.write_tracked(self.protocol.encode(message))
        else:
            await self.write(self.protocol.encode(message))

    async def write_tracked(self, frame: bytes, message_id: str = "") -> None:
        """Send a tracked frame of a stateful connection: numbered and kept until acked.

        While the transport is down the frame is kept for the resume
        (`message_id`: the channel-layer message it came in, if any).
        """
        state = self.state
        if state == OPEN:
            self.stateful.record(frame)
            await self.write(frame)
        elif state == parking.PARKED:
            parking.hold(self, frame, message_id)
        elif state == parking.RESUMING:
            parking.deliver_resuming(self, frame, message_id)

    # Lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Make the connection reachable, or finish its resume on the new transport."""
        if self.state != parking.RESUMING:
            await super().start()
            return
        await parking.finish_resume(self)
        self.state = OPEN
        self.last_received = self.last_sent = time.monotonic()

    def due(self, now: float, settings: conf.RealtimeSettings) -> bool:
        """Whether `tick` has anything to do; a parked connection's window decides."""
        if self.park is not None:
            return not self.park.handed and now >= self.park.deadline
        return super().due(now, settings)

    async def tick(self, now: float) -> None:
        """Run the timers; a parked connection's is its reconnect window."""
        if self.park is not None:
            await parking.tick(self, now)
        else:
            await super().tick(now)

    async def close(self, error: str | None = None, *, allow_reconnect: bool = False) -> None:
        """Send Close and end; a parked connection ends at once (no transport)."""
        if self.park is not None:
            await parking.end(self)
        else:
            await super().close(error, allow_reconnect=allow_reconnect)

    async def closed(self, exception: Exception | None = None) -> None:
        """Clean up after the transport ended, or park if it only dropped."""
        if self._parks():
            self.state = parking.PARKED
            parking.park(self)
            return
        await super().closed(exception)

    def _parks(self) -> bool:
        # Only a drop parks: not a Close, nor an end the server decided.
        buffer = self.stateful
        return (
            buffer is not None
            and self.state == OPEN
            and not self.end_reason
            and buffer.resumable
            and parking.window() > 0
        )

    async def transport_lost(self) -> bool:
        """Park now, dropping the transport: a resume came before its drop was seen.

        Return whether the connection was parked.
        """
        if not self._parks():
            return False
        old = self.transport
        self.state = parking.PARKED
        parking.park(self)
        await old.drop()
        return True

    async def moved(self) -> None:
        """Leave this process's tables: the connection was resumed on another one.

        No on_disconnected and no Redis cleanup but this process's index (see
        `realtime.liveness`): the connection lives on there.
        """
        self._finished = True
        self.state = CLOSED
        self.park = None
        self.hub = None
        self.ended_because("resumed_elsewhere")
        for task in list(self.streams.values()):
            task.cancel()
        await self.backplane.detach(self)
        self.backplane.forget(self, moved=True)


async def resume(
    token: str,
    registration: store.Registration,
    hub_class: Any,
    transport: Transport,
    identity: Identity,
    backplane: Any,
) -> tuple[str, ResumableConnection | None]:
    """Resume a parked stateful connection on a new transport: (outcome, connection).

    The caller checked that the token's connection belongs to this user and
    hub. On this process the parked connection itself takes the transport;
    one parked on another process is rebuilt from its state in Redis, with a
    new hub instance and no on_connected. No connection when none is parked
    (outcome UNKNOWN) or when it lost frames at its buffer's bound (LOST).
    """
    outcome, parked = await parking.claim(
        token, registration.connection_id, registration.owner, backplane, transport.name
    )
    if parked is None:
        return outcome, None
    local = backplane.connections.get(parked.connection_id)
    if local is not None and local.park is not None:
        local.park.claimer = backplane.channel
        local.park = None
    else:
        local = ResumableConnection(
            hub_class=hub_class,
            user=identity.user,
            user_id=identity.user_id,
            connection_id=parked.connection_id,
            token=token,
            transport=transport,
            backplane=backplane,
        )
        local.protocol = PROTOCOLS[parked.protocol]
        limit = conf.get().STATEFUL_RECONNECT_BUFFER_SIZE
        local.stateful = MessageBuffer.restore(parked.snapshot, limit)
        local.joined = set(parked.groups)
        local.handover = parking.Handover(parked.owner, set(parked.message_ids))
        local.hub = hub_class(local)
        backplane.local.adopt(local)
        if local.user_id:  # its presence entry is this process's to keep now
            await presence.add_connection(local.user_id, local.presence_member, backplane.channel)
    local.transport = transport
    local.identity, local.token_expires = identity, identity.expires
    local.state = parking.RESUMING
    return parked_store.CLAIMED, local
