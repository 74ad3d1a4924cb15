"""``redis+sentinel://`` URLs: what they name, and that the store's pool, the
channel layer, ``/healthz`` and ``realtime_check`` follow a real failover."""

from __future__ import annotations

import asyncio
import io
import time

import pytest
from asgiref.sync import sync_to_async
from channels_redis.core import RedisChannelLayer
from django.core.management import call_command
from redis.exceptions import RedisError

from config.environment import channel_layers
from realtime import redis_pool, store
from realtime.redis_url import RedisTarget, RedisUrlError, parse
from tests.sentinel_kit import SERVICE, SentinelGroup


@pytest.mark.parametrize(
    ("url", "target"),
    [
        (
            "redis+sentinel://10.0.0.1:26380,10.0.0.2/shop",
            RedisTarget(
                "redis+sentinel://10.0.0.1:26380,10.0.0.2/shop",
                sentinels=(("10.0.0.1", 26380), ("10.0.0.2", 26379)),
                service="shop",
            ),
        ),
        (
            "redis+sentinel://app:p%40ss@sentinel.internal:5000/main/3",
            RedisTarget(
                "redis+sentinel://app:p%40ss@sentinel.internal:5000/main/3",
                sentinels=(("sentinel.internal", 5000),),
                service="main",
                db=3,
                username="app",
                password="p@ss",
            ),
        ),
        ("redis://127.0.0.1:6379/0", RedisTarget("redis://127.0.0.1:6379/0")),
    ],
)
def test_urls_name_the_sentinels_the_service_and_the_database(url, target):
    assert parse(url) == target


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel://h1:1/", "names no sentinel service"),
        ("redis+sentinel://h1:1,:2/shop", "has a sentinel that is not host[:port] (':2')"),
        ("redis+sentinel://h1:99999/shop", "has a sentinel that is not host[:port]"),
        ("redis+sentinel://h1/shop/zero", "has a database that is not a number"),
        ("redis+sentinel://h1/shop?db=1", "takes no query or fragment"),
        ("sentinel://h1/shop", "must start with redis://, rediss://, unix:// or"),
    ],
)
def test_bad_sentinel_urls_are_refused_with_the_reason(url, message):
    with pytest.raises(RedisUrlError) as raised:
        parse(url)
    assert str(raised.value).startswith(message)


def test_the_channel_layer_asks_the_sentinels_for_the_primary():
    (host,) = channel_layers("redis+sentinel://:pw@a:1,b:2/shop/1")["default"]["CONFIG"]["hosts"]
    assert host["master_name"] == "shop"
    assert host["sentinels"] == [("a", 1), ("b", 2)]
    assert (host["db"], host["password"]) == (1, "pw")


@pytest.fixture
def sentinels(tmp_path, settings):
    with SentinelGroup(tmp_path / "sentinels") as group:
        settings.REDIS_URL = group.url
        yield group


async def _until(operation, timeout: float = 30.0):
    """Retry `operation` until Redis accepts it; return its result."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await operation()
        except (RedisError, OSError) as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"still failing after {timeout} s: {exc!r}") from exc
        await asyncio.sleep(0.05)


async def _health(async_client) -> dict:
    return (await async_client.get("/healthz")).json()


@pytest.mark.django_db(transaction=True)
async def test_store_layer_healthz_and_check_follow_a_failover(sentinels, async_client):
    """After the primary is SIGKILLed, every Redis user of a process follows
    the replica the sentinels promote, and reports it."""
    layer = RedisChannelLayer(**channel_layers(sentinels.url)["default"]["CONFIG"])
    old = sentinels.primary_port()
    await store.heartbeat("proc-a", 60)
    await layer.send("probe.before", {"type": "x", "n": 1})
    assert await layer.receive("probe.before") == {"type": "x", "n": 1}
    assert (await _health(async_client))["redis_primary"] == f"127.0.0.1:{old}"
    checked = io.StringIO()
    await sync_to_async(call_command)("realtime_check", stdout=checked)
    assert f"the primary is 127.0.0.1:{old} (found by the sentinels of {SERVICE!r})" in (
        checked.getvalue()
    )

    await asyncio.to_thread(sentinels.kill_primary)
    new = await asyncio.to_thread(sentinels.wait_for_new_primary, old)

    await _until(lambda: store.heartbeat("proc-b", 60))
    assert await redis_pool.client().exists(store.key("proc", "proc-a"))  # replicated
    assert redis_pool.client().connection_pool.master_address == ("127.0.0.1", new)
    await _until(lambda: layer.send("probe.after", {"type": "x", "n": 2}))
    assert await layer.receive("probe.after") == {"type": "x", "n": 2}
    assert (await _health(async_client)) == {
        "database": "ok",
        "redis": "ok",
        "redis_primary": f"127.0.0.1:{new}",
        "redis_shards": [f"127.0.0.1:{new}"],
    }
    checked = io.StringIO()
    await sync_to_async(call_command)("realtime_check", stdout=checked)
    assert f"the primary is 127.0.0.1:{new}" in checked.getvalue()
    await layer.flush()
