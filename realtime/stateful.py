"""Stateful reconnect: the sequence numbers, acks and replay buffer of one connection.

Both sides of a connection that negotiated ``useStatefulReconnect`` count
the "trackable" messages they send (Invocation, StreamInvocation,
StreamItem, Completion, CancelInvocation; never Ping, Close, Ack or
Sequence), starting at 1. The numbers are implicit: a frame carries none,
so a broadcast's pre-encoded frame serves a stateful connection unchanged.
Each side acknowledges what it received (Ack, about once a second) and
keeps what it sent until acknowledged. After a dropped transport the client
reconnects with the same connection token; the server first sends Sequence
(the number of the first frame it replays), then the unacknowledged frames;
the client sends its own Sequence and replay, and each side drops what it
had already received.

The buffer is bounded by bytes (STATEFUL_RECONNECT_BUFFER_SIZE). ASP.NET
Core blocks the sender at the bound until an Ack arrives; here a broadcast
must not wait for one slow client, so a frame that does not fit empties the
buffer instead and the connection remembers the highest number it lost.
Memory stays bounded and the live connection goes on unharmed; only a
resume before the client has acknowledged that number is refused (the
client then reconnects from scratch and catches up, as without stateful
reconnect). Pure: no I/O, no asyncio.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from realtime.protocol import (
    CancelInvocation,
    Completion,
    HubMessage,
    Invocation,
    ProtocolError,
    Sequence,
    StreamInvocation,
    StreamItem,
)

#: The messages both sides number, acknowledge and replay.
TRACKED = (Invocation, StreamInvocation, StreamItem, Completion, CancelInvocation)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What must survive a dropped transport: counters and unacknowledged frames."""

    sent: int
    acked: int
    lost_through: int
    received: int
    next_receive: int
    frames: tuple[bytes, ...]


class MessageBuffer:
    """Numbers, keeps and acknowledges the tracked messages of one connection."""

    __slots__ = (
        "ack_sent",
        "acked",
        "awaiting_sequence",
        "frames",
        "limit",
        "lost_through",
        "next_receive",
        "received",
        "sent",
        "size",
    )

    def __init__(self, limit: int) -> None:
        self.limit = limit
        #: Unacknowledged frames, numbered `sent - len(frames) + 1` .. `sent`.
        self.frames: deque[bytes] = deque()
        self.size = 0
        self.sent = 0
        self.acked = 0
        #: The highest number dropped at the bound before the client acked it.
        self.lost_through = 0
        #: Inbound: the highest number processed, the number of the next
        #: frame, and the highest number acknowledged to the client.
        self.received = 0
        self.next_receive = 1
        self.ack_sent = 0
        self.awaiting_sequence = False

    # Outbound ------------------------------------------------------------------

    def record(self, frame: bytes) -> None:
        """Number and keep one tracked frame written (or due) to the client."""
        self.sent += 1
        size = len(frame)
        if self.size + size > self.limit:
            self.frames.clear()
            self.size = 0
            self.lost_through = self.sent
            return
        self.frames.append(frame)
        self.size += size

    def ack(self, sequence_id: int) -> None:
        """Drop the frames the client acknowledged (up to `sequence_id`)."""
        if sequence_id > self.sent:
            raise ProtocolError(
                f"Ack for message {sequence_id}, but the server sent {self.sent} messages."
            )
        if sequence_id <= self.acked:
            return
        self.acked = sequence_id
        frames = self.frames
        first = self.sent - len(frames) + 1
        while frames and first <= sequence_id:
            self.size -= len(frames.popleft())
            first += 1

    @property
    def resumable(self) -> bool:
        """Whether every frame the client may lack is still here."""
        return self.lost_through <= self.acked

    def replay(self) -> tuple[int, list[bytes]]:
        """Return the number of the first frame to resend and the frames."""
        return self.sent - len(self.frames) + 1, list(self.frames)

    # Inbound -------------------------------------------------------------------

    def accept(self, message: HubMessage) -> bool:
        """Return whether to process an inbound message (False: a duplicate)."""
        if self.awaiting_sequence:
            return False
        if not isinstance(message, TRACKED):
            return True
        current = self.next_receive
        self.next_receive += 1
        if current <= self.received:
            return False
        self.received = current
        return True

    def reset_sequence(self, message: Sequence) -> None:
        """Apply the client's Sequence: its replay starts at that number."""
        if message.sequence_id > self.next_receive or message.sequence_id < 1:
            raise ProtocolError("Sequence ID greater than amount of messages we've received.")
        self.next_receive = message.sequence_id
        self.awaiting_sequence = False

    def ack_due(self) -> int:
        """Return the number to acknowledge now, or 0 when nothing is new."""
        return self.received if self.received > self.ack_sent else 0

    # Persistence ---------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """Return the state to keep while the connection is parked."""
        return Snapshot(
            self.sent,
            self.acked,
            self.lost_through,
            self.received,
            self.next_receive,
            tuple(self.frames),
        )

    @classmethod
    def restore(cls, snapshot: Snapshot, limit: int) -> MessageBuffer:
        """Rebuild a buffer from a snapshot (on the instance that resumes it)."""
        buffer = cls(limit)
        buffer.sent, buffer.acked = snapshot.sent, snapshot.acked
        buffer.lost_through = snapshot.lost_through
        buffer.received, buffer.next_receive = snapshot.received, snapshot.next_receive
        buffer.ack_sent = snapshot.received
        buffer.frames.extend(snapshot.frames)
        buffer.size = sum(map(len, snapshot.frames))
        return buffer
