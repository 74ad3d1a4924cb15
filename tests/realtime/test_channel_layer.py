"""realtime.channel_layer: a send is one round trip, stored as channels_redis stores it.

Against a Redis server of its own (`EmbeddedRedis`), so that nothing else
adds requests to what INFO counts.
"""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from channels.exceptions import ChannelFull
from channels_redis.core import RedisChannelLayer

from config.embedded_redis import EmbeddedRedis
from realtime.channel_layer import ShardedRedisChannelLayer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    redis_server = EmbeddedRedis(tmp_path_factory.mktemp("layer-redis")).start()
    yield redis_server
    redis_server.stop()


@pytest.fixture
async def layers(server):
    made = []

    def make(cls=ShardedRedisChannelLayer, **config):
        layer = cls(hosts=[server.url], prefix="layer-test", **config)
        made.append(layer)
        return layer

    yield make
    await made[0].flush()
    for layer in made:
        await layer.close_pools()


async def _reads(client) -> int:
    return int((await client.info("stats"))["total_reads_processed"])


async def test_what_it_sends_channels_redis_receives_on_process_and_plain_channels(layers):
    ours, stock = layers(), layers(RedisChannelLayer)
    process = await stock.new_channel("realtime.")
    await ours.send(process, {"type": "probe", "n": 1, "body": b"\x00\xff"})
    await ours.send("plain.channel", {"type": "probe", "n": 2})
    async with asyncio.timeout(5):
        assert await stock.receive(process) == {"type": "probe", "n": 1, "body": b"\x00\xff"}
        assert await stock.receive("plain.channel") == {"type": "probe", "n": 2}


async def test_a_send_is_one_round_trip_where_channels_redis_makes_four(layers, server):
    client = aioredis.from_url(server.url)
    try:
        costs = {}
        for name, layer in (("ours", layers()), ("stock", layers(RedisChannelLayer))):
            await layer.send("warm.up", {"type": "x"})  # the pool's connection opened
            before = await _reads(client)
            await layer.send("counted", {"type": "x"})
            costs[name] = await _reads(client) - before - 1  # the INFO itself
        assert costs == {"ours": 1, "stock": 4}
    finally:
        await client.aclose()


async def test_a_full_channel_refuses_and_concurrent_senders_never_pass_the_capacity(
    layers, server
):
    layer = layers(capacity=5)
    await asyncio.gather(*(layer.send("busy", {"type": "x", "n": n}) for n in range(5)))
    with pytest.raises(ChannelFull):
        await layer.send("busy", {"type": "x", "n": 5})
    results = await asyncio.gather(
        *(layer.send("race", {"type": "x", "n": n}) for n in range(40)), return_exceptions=True
    )
    assert sum(r is None for r in results) == 5
    assert all(isinstance(r, ChannelFull) for r in results if r is not None)
    client = aioredis.from_url(server.url)
    try:
        assert await client.zcard("layer-testrace") == 5
        assert 0 < await client.ttl("layer-testrace") <= 60  # channels_redis' default expiry
    finally:
        await client.aclose()


async def test_expired_messages_are_dropped_before_the_count(layers):
    layer = layers(capacity=2, expiry=1)
    await layer.send("stale", {"type": "x"})
    await layer.send("stale", {"type": "x"})
    await asyncio.sleep(2.1)
    await layer.send("stale", {"type": "fresh"})  # room again: the two expired
    async with asyncio.timeout(5):
        assert await layer.receive("stale") == {"type": "fresh"}


async def test_bad_messages_and_names_are_refused(layers):
    layer = layers()
    with pytest.raises(TypeError):
        await layer.send("a.channel", ["not", "a", "dict"])
    with pytest.raises(TypeError):
        await layer.send("not a channel name", {"type": "x"})
    with pytest.raises(ValueError, match="__asgi_channel__"):
        await layer.send("a.channel!x", {"type": "x", "__asgi_channel__": "other"})
