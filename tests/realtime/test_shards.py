"""The shard map: stable, spread evenly, one shard for the keys a script touches together."""

from __future__ import annotations

import asyncio
import binascii
import contextlib
from collections import Counter

import pytest
from channels_redis.core import RedisChannelLayer

from config.embedded_redis import EmbeddedRedis
from config.environment import channel_layers
from realtime import keys, parked_store, polls, redis_url
from realtime.channel_layer import ShardedRedisChannelLayer
from realtime.shards import hash_part, shard_of

THREE = "redis://127.0.0.1:6379/0 redis://127.0.0.1:6380/0 redis://127.0.0.1:6381/0"


def test_the_map_is_the_crc32_of_the_hash_tag_and_never_changes():
    # Pinned: processes of two releases share the servers during a rolling deploy.
    assert [shard_of(keys.group_key(f"user:{n}"), 3) for n in range(8)] == [1, 0, 1, 0, 0, 2, 2, 0]
    assert shard_of("rt:group:{orders}", 3) == binascii.crc32(b"orders") % 3
    assert shard_of("rt:epoch", 3) == binascii.crc32(b"rt:epoch") % 3  # no tag: the whole key
    assert all(shard_of(keys.group_key(str(n)), 1) == 0 for n in range(100))


@pytest.mark.parametrize(
    ("key", "part"),
    [
        ("rt:conn:{abc}", "abc"),
        ("rt:lp:{abc}:taken", "abc"),
        ("rt:group:{a}b}", "a"),  # the first closing brace after the first opening one
        ("rt:group:{}x", "rt:group:{}x"),  # an empty tag is no tag (as in Redis Cluster)
        ("rt:group:{x", "rt:group:{x"),
        ("rt:alive:p", "rt:alive:p"),
    ],
)
def test_the_hash_tag_decides(key, part):
    assert hash_part(key) == part


def test_keys_spread_evenly_over_three_shards():
    for build in (lambda n: keys.registry_key(f"token-{n}"), lambda n: keys.group_key(f"u:{n}")):
        counts = Counter(shard_of(build(n), 3) for n in range(30_000))
        assert sorted(counts) == [0, 1, 2]
        assert all(abs(count - 10_000) < 500 for count in counts.values()), counts


def test_every_key_of_a_connection_shares_its_tokens_shard():
    for n in range(200):
        token = f"token-{n}"
        names = [
            keys.registry_key(token),
            keys.early_key(token),
            polls.buffer_key(token),
            *[keys.token_key("lp", token, part) for part in ("poll", "seen", "taken", "taken-by")],
            *parked_store.state_keys(token),
            keys.key("lock", "post", "{" + keys.secret(token) + "}"),
        ]
        assert len({shard_of(name, 3) for name in names}) == 1
        assert len({shard_of(name, 3) for name in (keys.presence_key(token),
                    keys.admitted_key(token))}) == 1  # fmt: skip


def test_several_urls_are_shards_in_order():
    targets = redis_url.parse_all(f"  {THREE.replace(' ', chr(10))}\n")
    assert [t.url for t in targets] == THREE.split()
    mixed = redis_url.parse_all("redis://a:1/0 redis+sentinel://s1,s2:26380/shop")
    assert [t.uses_sentinel for t in mixed] == [False, True]
    assert (
        redis_url.redacted("redis://:pw@a:1/0 redis://:pw@b:1/0")
        == "redis://***@a:1/0 redis://***@b:1/0"
    )


@pytest.mark.parametrize(
    ("urls", "message"),
    [
        ("", "names no Redis server"),
        ("redis://a:1/0 redis://a:1/0", "names a server twice: 'redis://a:1/0'"),
        ("redis+sentinel://s:1/shop redis+sentinel://s:1/shop", "names a server twice"),
        ("redis://a:1/0 http://b", "must start with redis://"),
    ],
)
def test_a_bad_list_is_refused_in_one_line(urls, message):
    with pytest.raises(redis_url.RedisUrlError) as raised:
        redis_url.parse_all(urls)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_the_channel_layer_gets_every_shard_and_receives_where_it_sends():
    config = channel_layers(THREE)["default"]
    assert [host["address"] for host in config["CONFIG"]["hosts"]] == THREE.split()
    layer = ShardedRedisChannelLayer(**config["CONFIG"])
    for n in range(200):
        base = f"realtime.{n:032x}!"
        # send() hashes the full name, receive() the part up to "!".
        assert layer.consistent_hash(f"{base}{n:032x}") == layer.consistent_hash(base)
    assert len({layer.consistent_hash(f"realtime.{n:032x}!") for n in range(200)}) == 3


async def test_process_channels_receive_what_is_sent_to_them_over_three_real_servers(tmp_path):
    servers = [EmbeddedRedis(tmp_path / f"r{i}").start() for i in range(3)]
    try:
        config = channel_layers(" ".join(s.url for s in servers))["default"]["CONFIG"]
        fixed, plain = ShardedRedisChannelLayer(**config), RedisChannelLayer(**config)
        for layer, expected in ((fixed, 12), (plain, None)):
            channels = [await layer.new_channel("realtime.") for _ in range(12)]
            for n, channel in enumerate(channels):
                await layer.send(channel, {"type": "probe", "n": n})
            arrived = 0
            for n, channel in enumerate(channels):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.3):
                        arrived += (await layer.receive(channel))["n"] == n
            if expected is None:  # channels_redis as released loses some (django/channels#1492)
                assert arrived < len(channels)
            else:
                assert arrived == expected
            await layer.flush()
            await layer.close_pools()
    finally:
        for server in servers:
            server.stop()
