"""Long-poll buffers in Redis: a poll whose process dies before answering loses nothing."""

import time
import uuid

from realtime import polls


def token() -> str:
    return f"test-{uuid.uuid4().hex}"


async def test_frames_taken_by_a_poll_that_never_answered_go_to_the_next_poll():
    connection = token()
    await polls.buffer_frames(connection, [b"a", b"b"], limit=10, ttl=30)
    first = polls.poll_value("dead-process", "1")
    assert await polls.start_poll(connection, first, until=time.time()) == [b"a", b"b"]
    # The process that took them died before answering; more output arrives.
    await polls.buffer_frames(connection, [b"c"], limit=10, ttl=30)

    again = await polls.start_poll(connection, polls.poll_value("other", "2"), until=time.time())

    assert again == [b"a", b"b", b"c"]


async def test_frames_of_an_answered_poll_are_not_sent_twice():
    connection = token()
    await polls.buffer_frames(connection, [b"a"], limit=10, ttl=30)
    first = polls.poll_value("process", "1")
    assert await polls.start_poll(connection, first, until=time.time()) == [b"a"]
    await polls.answered(connection, first)
    await polls.buffer_frames(connection, [b"b"], limit=10, ttl=30)

    second = polls.poll_value("process", "2")
    assert await polls.start_poll(connection, second, until=time.time()) == [b"b"]


async def test_a_newer_poll_supersedes_a_waiting_one():
    connection = token()
    first = polls.poll_value("process", "1")
    assert await polls.start_poll(connection, first, until=time.time()) == []
    await polls.start_poll(connection, polls.poll_value("process", "2"), until=time.time())

    assert (await polls.take(connection, first)).outcome == polls.SUPERSEDED
