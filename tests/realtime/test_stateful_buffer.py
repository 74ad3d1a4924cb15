"""The stateful reconnect message buffer: numbering, acks, the bound, inbound duplicates."""

import pytest

from realtime.protocol import (
    Ack,
    CancelInvocation,
    Close,
    Completion,
    Invocation,
    Ping,
    ProtocolError,
    Sequence,
    StreamInvocation,
    StreamItem,
)
from realtime.stateful import MessageBuffer

TRACKED = [
    Invocation(target="T", arguments=()),
    StreamInvocation(invocation_id="1", target="T", arguments=()),
    StreamItem(invocation_id="1", item=1),
    Completion.void("1"),
    CancelInvocation(invocation_id="1"),
]
UNTRACKED = [Ping(), Close(), Ack(1), Sequence(1)]


def filled(count: int, size: int = 10, limit: int = 1000) -> MessageBuffer:
    buffer = MessageBuffer(limit)
    for i in range(1, count + 1):
        buffer.record(bytes([i % 256]) * size)
    return buffer


def test_frames_are_numbered_from_one_and_kept_until_acked():
    buffer = filled(5)

    assert buffer.replay() == (1, [bytes([i]) * 10 for i in range(1, 6)])
    buffer.ack(3)
    assert buffer.replay() == (4, [bytes([4]) * 10, bytes([5]) * 10])
    assert buffer.size == 20


def test_a_full_ack_leaves_the_next_number_to_replay():
    buffer = filled(4)
    buffer.ack(4)

    assert buffer.replay() == (5, [])
    assert buffer.size == 0


def test_an_old_ack_changes_nothing():
    buffer = filled(4)
    buffer.ack(3)
    buffer.ack(1)

    assert buffer.replay()[0] == 4
    assert buffer.acked == 3


def test_an_ack_beyond_what_was_sent_is_a_protocol_error():
    buffer = filled(2)

    with pytest.raises(ProtocolError, match="Ack for message 3, but the server sent 2"):
        buffer.ack(3)


def test_memory_stays_within_the_bound_and_the_loss_is_remembered():
    """A frame past the bound empties the buffer; a resume is refused until acked."""
    buffer = filled(9, size=100, limit=1000)
    assert buffer.resumable

    buffer.record(b"x" * 200)  # 900 + 200 > 1000

    assert buffer.size == 0
    assert buffer.lost_through == 10
    assert not buffer.resumable
    buffer.record(b"y" * 50)
    assert buffer.size == 50
    assert buffer.replay() == (11, [b"y" * 50])
    buffer.ack(9)
    assert not buffer.resumable
    buffer.ack(10)
    assert buffer.resumable
    assert buffer.replay() == (11, [b"y" * 50])


def test_a_frame_larger_than_the_bound_is_not_kept():
    buffer = MessageBuffer(10)
    buffer.record(b"z" * 11)

    assert buffer.size == 0
    assert buffer.lost_through == 1


@pytest.mark.parametrize("message", TRACKED, ids=lambda m: type(m).__name__)
def test_tracked_inbound_messages_are_counted_and_duplicates_dropped(message):
    buffer = MessageBuffer(100)

    assert buffer.accept(message)
    assert buffer.accept(message)
    assert buffer.received == 2
    buffer.reset_sequence(Sequence(2))  # the client resends from 2 after a resume
    assert not buffer.accept(message)  # 2 again: a duplicate
    assert buffer.accept(message)  # 3: new
    assert buffer.received == 3


@pytest.mark.parametrize("message", UNTRACKED, ids=lambda m: type(m).__name__)
def test_untracked_inbound_messages_are_not_counted(message):
    buffer = MessageBuffer(100)

    assert buffer.accept(message)
    assert buffer.received == 0
    assert buffer.next_receive == 1


def test_after_a_resume_everything_waits_for_the_clients_sequence():
    buffer = MessageBuffer(100)
    buffer.accept(TRACKED[0])
    buffer.awaiting_sequence = True

    assert not buffer.accept(TRACKED[0])
    assert not buffer.accept(Ping())
    buffer.reset_sequence(Sequence(1))
    assert not buffer.accept(TRACKED[0])  # 1 again
    assert buffer.accept(TRACKED[0])


@pytest.mark.parametrize("sequence_id", [0, 3])
def test_a_sequence_beyond_what_was_received_is_a_protocol_error(sequence_id):
    buffer = MessageBuffer(100)
    buffer.accept(TRACKED[0])  # next expected: 2

    with pytest.raises(ProtocolError, match="Sequence ID greater than amount"):
        buffer.reset_sequence(Sequence(sequence_id))


def test_acks_are_due_only_for_new_messages():
    buffer = MessageBuffer(100)
    assert buffer.ack_due() == 0
    buffer.accept(TRACKED[0])
    buffer.accept(TRACKED[0])

    assert buffer.ack_due() == 2
    buffer.ack_sent = 2
    assert buffer.ack_due() == 0


def test_a_snapshot_restores_the_same_state():
    buffer = filled(6, size=10, limit=1000)
    buffer.ack(2)
    buffer.accept(TRACKED[0])

    restored = MessageBuffer.restore(buffer.snapshot(), 1000)

    assert restored.replay() == buffer.replay()
    assert (restored.sent, restored.acked, restored.size) == (6, 2, 40)
    assert (restored.received, restored.next_receive) == (1, 2)
    assert restored.ack_due() == 0
