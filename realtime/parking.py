"""Parked connections: a stateful connection between a dropped transport and its resume.

When the transport of a stateful connection drops (no Close), the connection
is parked for STATEFUL_RECONNECT_WINDOW seconds instead of ending: it stays
in its groups and in presence, its hub sees no ``on_disconnected``, and what
reaches it is numbered and kept as if it had been sent. Its state goes to
Redis (`parked_store`) and is re-written as frames arrive, so that the
client's reconnect, with the same connection token, can resume it on any
instance:

- On this instance, the parked object itself is resumed: a new transport,
  the same hub instance, nothing copied.
- On another, the resuming instance claims the state (once, atomically),
  joins the groups, and tells the old owner (``rt.resumed``). The old owner
  forwards what reached it after its last save (``rt.fwd``), leaves its
  tables without ``on_disconnected``, and says it is done (``rt.handed``).
  Until then the new owner holds what it receives directly, so the client
  gets the frames in order; a frame that came both ways (a group both
  instances are in) is recognised by its channel-layer message id.

When the window passes without a resume, the owner ends the connection
(``expire``, atomic against a claim): ``on_disconnected`` runs there, once.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from realtime import conf, metrics, parked_store, store
from realtime.lifetime.envelopes import Forwarded, HandedOver, ParkNow, Resumed, ResumeEnvelope
from realtime.protocol import Sequence

logger = logging.getLogger(__name__)

# A realtime.resumable.ResumableConnection, and the lifetime manager that
# holds it (realtime.lifetime.redis): both modules import this one.
Connection = Any
Backplane = Any

#: The states of a connection between a dropped transport and its resume.
PARKED, RESUMING = "parked", "resuming"
#: Seconds a resuming instance waits for the old owner to park the connection
#: (it may not have noticed the drop yet) or to hand it over.
HANDOVER_WAIT = 2.0


@dataclass(slots=True)
class Park:
    """A parked connection's bookkeeping on its owner."""

    deadline: float
    #: Names this park in Redis: a late save of an older park is refused.
    name: str = field(default_factory=lambda: secrets.token_hex(8))
    #: Frames (with their channel-layer message id) recorded since the last save.
    unsaved: list[tuple[bytes, str]] = field(default_factory=list)
    #: Message ids of every frame recorded while parked.
    message_ids: list[str] = field(default_factory=list)
    dirty: bool = False
    saver: asyncio.Task | None = None
    #: One save at a time: a late write of an older state would lose frames.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Who claimed it (no more saves), and whether it was handed over.
    claimer: str = ""
    handed: bool = False


@dataclass(slots=True)
class Handover:
    """A resume on a new owner, until the old owner has handed everything over."""

    old_owner: str
    seen: set[str]
    held: list[tuple[bytes, str]] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)


def window() -> float:
    """Return the reconnect window in seconds."""
    return conf.get().STATEFUL_RECONNECT_WINDOW


# The old owner ----------------------------------------------------------------


def park(connection: Connection) -> None:
    """Keep a stateful connection whose transport dropped; save its state to Redis."""
    connection.park = Park(deadline=time.monotonic() + window())
    metrics.increment("connections_parked")
    logger.info("parked %s for %.0f s", connection.connection_id, window())
    _save_soon(connection)


def hold(connection: Connection, frame: bytes, message_id: str) -> None:
    """Record a frame for a parked connection: numbered, kept, saved soon."""
    parked = connection.park
    connection.stateful.record(frame)
    parked.unsaved.append((frame, message_id))
    if message_id:
        parked.message_ids.append(message_id)
    _save_soon(connection)


def _save_soon(connection: Connection) -> None:
    parked = connection.park
    parked.dirty = True
    if parked.saver is None or parked.saver.done():
        parked.saver = asyncio.get_running_loop().create_task(_save(connection))


async def save_now(connection: Connection) -> None:
    """Write a parked connection's state now (a resume waits for it)."""
    connection.park.dirty = True
    await _save(connection)


async def _save(connection: Connection) -> None:
    parked = connection.park
    if parked is None:
        return
    async with parked.lock:
        await _save_locked(connection, parked)


async def _save_locked(connection: Connection, parked: Park) -> None:
    buffer = connection.stateful
    while parked.dirty and not parked.claimer:
        parked.dirty = False
        count = len(parked.unsaved)
        try:
            outcome, claimer = await parked_store.save(
                connection.token,
                connection_id=connection.connection_id,
                hub=connection.hub_class.namespace,
                user_id=connection.user_id,
                owner=connection.backplane.channel,
                park=parked.name,
                protocol=connection.protocol.name,
                groups=sorted(connection.joined),
                message_ids=parked.message_ids,
                snapshot=buffer.snapshot(),
                resumable=buffer.resumable,
                ttl=max(1.0, parked.deadline - time.monotonic()),
            )
        except (RedisError, OSError):
            # Kept in memory: a resume here still works; retried with the next frame.
            logger.warning("could not save parked %s", connection.connection_id, exc_info=True)
            return
        if outcome == parked_store.CLAIMED:
            # Kept here until the claimer's Resumed: what the channel layer
            # queued for this process before the claim arrives first, and is
            # held and forwarded rather than lost.
            parked.claimer = parked.claimer or claimer
            return
        del parked.unsaved[:count]


async def hand_over(connection: Connection, claimer: str) -> None:
    """Give a parked connection to the instance that resumed it; leave it here.

    Forward what was not saved, leave the local tables (no on_disconnected:
    the connection lives on there), and say so.
    """
    parked = connection.park
    if parked is None or parked.handed:
        return
    parked.handed = True
    parked.claimer = claimer
    backplane = connection.backplane
    connection_id = connection.connection_id
    logger.debug("forwarding %d frames of %s", len(parked.unsaved), connection_id)
    for frame, message_id in parked.unsaved:
        forwarded = Forwarded(connection_id, frame, message_id)
        await backplane.layer.send(claimer, forwarded.to_message())
    parked.unsaved.clear()
    await connection.moved()
    backplane.moved[connection_id] = (claimer, time.monotonic() + window())
    await backplane.layer.send(claimer, HandedOver(connection_id).to_message())
    logger.info("handed %s over to %s", connection.connection_id, claimer)


async def tick(connection: Connection, now: float) -> None:
    """End a parked connection whose window passed, unless it was resumed."""
    parked = connection.park
    if parked.handed or now < parked.deadline:
        return
    await end(connection)


async def end(connection: Connection) -> None:
    """End a parked connection for good (window passed, credentials revoked).

    Atomic against a resume: if one claimed it first, hand it over instead.
    """
    try:
        outcome, claimer = await parked_store.expire(
            connection.token, owner=connection.backplane.channel, park=connection.park.name
        )
    except (RedisError, OSError):
        logger.warning("could not expire parked %s", connection.connection_id, exc_info=True)
        return  # retried at the next sweep
    if outcome == parked_store.CLAIMED and claimer != connection.backplane.channel:
        await hand_over(connection, claimer)
        return
    if outcome == parked_store.CLAIMED:
        return  # resumed here meanwhile
    connection.park = None
    connection.ended_because("reconnect_window")
    await connection.closed()


# The new owner ------------------------------------------------------------------


async def claim(
    token: str, connection_id: str, owner: str, backplane: Backplane, transport: str
) -> tuple[str, parked_store.Parked | None]:
    """Claim a parked connection for this process: (outcome, state).

    A client may reconnect before its old owner noticed the drop (a
    half-open socket, or the disconnect still queued): the owner is asked
    to park it now (this process: at once), and the claim is retried.
    """
    deadline = time.monotonic() + HANDOVER_WAIT
    while True:
        outcome, parked = await parked_store.claim(
            token,
            connection_id=connection_id,
            claimer=backplane.channel,
            transport=transport,
            ttl=conf.get().ENTRY_LEASE,
            holds=backplane.groups.__contains__,
        )
        if outcome != parked_store.UNKNOWN or time.monotonic() > deadline:
            return outcome, parked
        if owner == backplane.channel:
            local = backplane.connections.get(connection_id)
            if local is None or not (local.park is not None or await local.transport_lost()):
                return outcome, parked
            await save_now(local)
            continue
        if not await store.is_alive(owner):
            return outcome, parked
        await backplane.layer.send(owner, ParkNow(connection_id).to_message())
        await asyncio.sleep(0.1)


async def finish_resume(connection: Connection) -> None:
    """Bring a claimed connection up on its new transport: Sequence, then the replay.

    On a new owner, first wait (briefly) for the old owner's handover,
    holding what arrives directly meanwhile.
    """
    handover = connection.handover
    backplane = connection.backplane
    if handover is not None:
        # The claim joined this process to the groups already (parked_store).
        resumed = Resumed(connection.connection_id, backplane.channel)
        await backplane.layer.send(handover.old_owner, resumed.to_message())
        if await store.is_alive(handover.old_owner):
            try:
                await asyncio.wait_for(handover.done.wait(), HANDOVER_WAIT)
            except TimeoutError:
                logger.warning("no handover of %s from its old owner", connection.connection_id)
        connection.handover = None
        kept = [frame for frame, message_id in handover.held if message_id not in handover.seen]
        for frame in kept:
            connection.stateful.record(frame)
        logger.debug(
            "handover of %s: %d frames held, %d of them new",
            connection.connection_id, len(handover.held), len(kept),
        )  # fmt: skip
    buffer = connection.stateful
    buffer.awaiting_sequence = True
    first, _ = buffer.replay()
    logger.debug("replaying %s from %d to %d", connection.connection_id, first, buffer.sent)
    binary = _binary(connection)
    await connection.transport.write(connection.protocol.encode(Sequence(first)), binary)
    # Frames recorded while these writes wait go out in the same loop.
    index = 0
    while buffer.resumable and index < len(buffer.frames):
        await connection.transport.write(buffer.frames[index], binary)
        index += 1
    metrics.increment("connections_resumed")
    logger.info("resumed %s (%d frames replayed)", connection.connection_id, index)


def _binary(connection: Connection) -> bool:
    return connection.protocol.transfer_format == "Binary"


def deliver_resuming(connection: Connection, frame: bytes, message_id: str) -> None:
    """Record a frame for a connection being resumed: held until the handover."""
    handover = connection.handover
    if handover is not None and message_id:
        handover.held.append((frame, message_id))
    else:
        connection.stateful.record(frame)


# Channel-layer messages ---------------------------------------------------------


async def handle(backplane: Backplane, envelope: ResumeEnvelope) -> None:
    """Handle ParkNow and Resumed (old owner), Forwarded and HandedOver (new owner)."""
    connection_id = envelope.connection_id
    connection = backplane.connections.get(connection_id)
    if isinstance(envelope, ParkNow):
        if connection is not None and (
            connection.park is not None or await connection.transport_lost()
        ):
            await save_now(connection)
    elif isinstance(envelope, Resumed):
        parked = connection.park if connection is not None else None
        if parked is not None:
            if not parked.claimer:
                await save_now(connection)  # refused: names the claimer
            async with parked.lock:  # after any save in flight
                if parked.claimer == envelope.claimer:
                    await hand_over(connection, envelope.claimer)
        elif connection is None:
            await backplane.layer.send(envelope.claimer, HandedOver(connection_id).to_message())
    elif connection is None:
        return
    elif isinstance(envelope, HandedOver):
        if connection.handover is not None:
            connection.handover.done.set()
    elif connection.handover is not None:
        connection.handover.seen.add(envelope.message_id)
        connection.stateful.record(envelope.frame)
    else:
        await connection.write_tracked(envelope.frame, envelope.message_id)
