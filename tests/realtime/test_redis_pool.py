"""realtime.redis_pool against the real Redis: dropping idle connections under load."""

import asyncio

import pytest

from realtime import redis_pool, store

COMMANDS = 20


@pytest.mark.parametrize("turns", [0, 1, 2, 5])
async def test_dropping_idle_connections_fails_no_command_that_takes_one_meanwhile(turns):
    redis = redis_pool.client()
    # Twenty connections, idle in the pool (commands sent at once share one:
    # realtime.redis_batch).
    taken = [await redis.connection_pool.get_connection() for _ in range(COMMANDS)]
    for connection in taken:
        await redis.connection_pool.release(connection)
    idle = list(redis.connection_pool._available_connections)
    assert len(idle) >= COMMANDS

    drop = asyncio.ensure_future(store.drop_idle_connections())
    for _ in range(turns):  # the drop gets this far before the commands start
        await asyncio.sleep(0)
    answers = await asyncio.gather(
        *(redis.hgetall("rt:test:none") for _ in range(COMMANDS)), return_exceptions=True
    )
    await drop

    # redis-py's own disconnect(inuse_connections=False) failed all twenty,
    # through the retries, at turns=1.
    assert answers == [{}] * COMMANDS
    pool = redis.connection_pool
    kept = {*pool._available_connections, *pool._in_use_connections}
    dropped = [connection for connection in idle if connection not in kept]
    assert not any(connection.is_connected for connection in dropped)
    assert all(connection.is_connected for connection in kept)
    if turns == 5:  # the drop ran before any command took a connection
        assert len(dropped) == len(idle)
