"""realtime.redis_batch against the real Redis: commands sent at once share a round trip,
and each caller still gets its own reply and its own error."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from realtime import redis_batch, redis_pool

CALLERS = 50


def _key(kind: str) -> str:
    return f"rt:test:{kind}:{uuid.uuid4().hex[:12]}"


async def _reads(redis: Redis) -> int:
    # INFO is itself a request Redis reads: it does not go through the batch.
    return int((await Redis.execute_command(redis, "INFO", "stats"))["total_reads_processed"])


async def test_the_main_pool_batches_and_the_liveness_pool_does_not():
    assert isinstance(redis_pool.client(), redis_batch.BatchingRedis)
    assert not isinstance(redis_pool.liveness_clients()[0], redis_batch.BatchingRedis)


async def test_commands_sent_at_once_share_one_round_trip_and_get_their_own_replies():
    redis = redis_pool.client()
    counter = _key("counter")
    before = await _reads(redis)
    replies = await asyncio.gather(*(redis.incr(counter) for _ in range(CALLERS)))
    reads = await _reads(redis) - before - 1  # the second INFO

    assert sorted(replies) == list(range(1, CALLERS + 1))
    assert reads == 1  # fifty round trips without batching


async def test_pipelines_sent_at_once_share_the_round_trip_in_order():
    redis = redis_pool.client()
    keys = [_key("list") for _ in range(10)]

    async def pipeline(key: str) -> list:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.rpush(key, "a").rpush(key, "b").lrange(key, 0, -1)
            return await pipe.execute()

    before = await _reads(redis)
    replies = await asyncio.gather(*(pipeline(key) for key in keys))
    assert await _reads(redis) - before - 1 == 1
    assert replies == [[1, 2, [b"a", b"b"]]] * len(keys)


async def test_a_command_redis_refuses_fails_only_its_caller():
    redis = redis_pool.client()
    text, counter = _key("text"), _key("counter")
    await redis.set(text, "not a hash")

    results = await asyncio.gather(
        redis.incr(counter),
        redis.hset(text, "field", "value"),  # WRONGTYPE
        redis.get(text),
        return_exceptions=True,
    )

    assert results[0] == 1
    assert isinstance(results[1], ResponseError)
    assert "WRONGTYPE" in str(results[1])
    assert results[2] == b"not a hash"


async def test_a_refused_command_in_a_pipeline_raises_after_every_command_ran():
    redis = redis_pool.client()
    text, counter = _key("text"), _key("counter")
    await redis.set(text, "not a hash")
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hset(text, "field", "value").incr(counter)
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await pipe.execute()
    assert await redis.get(counter) == b"1"

    async with redis.pipeline(transaction=False) as pipe:
        pipe.hset(text, "field", "value").incr(counter)
        refused, counted = await pipe.execute(raise_on_error=False)
    assert isinstance(refused, ResponseError)
    assert counted == 2


async def test_a_lost_connection_fails_the_commands_on_it_and_the_next_batch_runs(monkeypatch):
    redis = redis_pool.client()
    counter = _key("counter")
    real_execute = redis_batch.Pipeline.execute
    failures = iter([RedisConnectionError("Connection closed by server.")])

    async def execute_once_failing(pipe, raise_on_error=True):
        failure = next(failures, None)
        if failure is not None:  # the injected failure: the connection is lost
            raise failure
        return await real_execute(pipe, raise_on_error)

    monkeypatch.setattr(redis_batch.Pipeline, "execute", execute_once_failing)
    lost = await asyncio.gather(*(redis.incr(counter) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(result, RedisConnectionError) for result in lost)

    after = await asyncio.gather(*(redis.incr(counter) for _ in range(5)))
    assert sorted(after) == [1, 2, 3, 4, 5]


async def test_a_cancelled_caller_leaves_the_others_their_replies():
    redis = redis_pool.client()
    counter = _key("counter")
    first = asyncio.ensure_future(redis.incr(counter))
    cancelled = asyncio.ensure_future(redis.incr(counter))
    last = asyncio.ensure_future(redis.incr(counter))
    await asyncio.sleep(0)  # all three queued
    cancelled.cancel()

    assert sorted(await asyncio.gather(first, last)) in ([1, 2], [1, 3], [2, 3])
    assert cancelled.cancelled()


async def test_more_than_a_batch_goes_out_as_several_pipelines(monkeypatch):
    monkeypatch.setattr(redis_batch, "BATCH", 4)
    redis = redis_pool.client()
    counter = _key("counter")
    # The pipelines go out at once, each on a pooled connection: connect them first.
    await asyncio.gather(*(redis.incr(counter) for _ in range(10)))
    before = await _reads(redis)
    replies = await asyncio.gather(*(redis.incr(counter) for _ in range(10)))
    reads = await _reads(redis) - before - 1

    assert sorted(replies) == list(range(11, 21))
    assert reads == 3  # 4 + 4 + 2


async def test_a_lone_command_is_not_held_back():
    redis = redis_pool.client()
    counter = _key("counter")
    for expected in range(1, 4):
        assert await asyncio.wait_for(redis.incr(counter), 5) == expected
