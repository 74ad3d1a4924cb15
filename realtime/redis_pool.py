"""The Redis clients of the running event loop: one connection pool per shard per loop.

Every module of the package reaches Redis through `clients()` (every
shard, in ``settings.REDIS_URL`` order), mostly by way of `realtime.shards`,
which picks the shard of a key. The process's own liveness and heartbeat
go through `liveness_clients()`, a pool of their own: when a connect
storm has every pooled connection busy and hundreds of commands waiting
for one, the mark that tells other processes this one lives must not wait
behind them (past ALIVE_TTL they would sweep its entries). The pools are
made on first use in a loop from ``settings.REDIS_URL`` and closed with
the loop. The main pools' clients send the commands of one pass of the
loop as one pipeline (`realtime.redis_batch`); the liveness pools' do not. With a
``redis+sentinel://`` URL a pool asks the sentinels for the primary whenever
it opens a connection, and drops its connections to a primary that was
replaced (`realtime.redis_url`).
"""

from __future__ import annotations

import asyncio
import weakref
from asyncio import AbstractEventLoop, get_running_loop
from collections.abc import Awaitable, Callable

from django.conf import settings
from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from realtime.redis_batch import BatchingRedis
from realtime.redis_url import SENTINEL_TIMEOUT, RedisTarget, parse_all

#: Redis connections per shard per event loop, and seconds a command waits for one.
POOL_SIZE = 500
POOL_WAIT = 30.0
#: Connections per shard per event loop for the process's liveness (one task).
LIVENESS_POOL_SIZE = 2

Cache = weakref.WeakKeyDictionary[AbstractEventLoop, tuple[str, tuple[Redis, ...]]]
_clients: Cache = weakref.WeakKeyDictionary()
_liveness_clients: Cache = weakref.WeakKeyDictionary()


class BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """A Sentinel-managed pool that makes callers wait for a free connection."""


def clients() -> tuple[Redis, ...]:
    """Return the Redis client of every shard for the running event loop."""
    return _for_loop(_clients, POOL_SIZE, BatchingRedis)


def liveness_clients() -> tuple[Redis, ...]:
    """Return the client of every shard on the running loop's liveness pool."""
    return _for_loop(_liveness_clients, LIVENESS_POOL_SIZE, Redis)


def _for_loop(cache: Cache, size: int, redis_class: type[Redis]) -> tuple[Redis, ...]:
    loop = get_running_loop()
    url = settings.REDIS_URL
    cached = cache.get(loop)
    if cached is not None and cached[0] == url:
        return cached[1]
    made = []
    for target in parse_all(url):
        # A pool that makes callers wait for a free connection: a burst (ten
        # thousand clients leaving at once) queues. redis-py's default pool
        # raised MaxConnectionsError at its limit, and the cleanup was lost.
        redis, close = connect(
            target,
            redis_class,
            max_connections=size,
            timeout=POOL_WAIT,
            socket_timeout=None,
            socket_connect_timeout=5,
            health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        made.append(redis)
        _close_with(loop, close)
    cache[loop] = (url, tuple(made))
    return cache[loop][1]


def client() -> Redis:
    """Return the client of the first shard (keys of no shard in particular, tests)."""
    return clients()[0]


def connect(
    target: RedisTarget, redis_class: type[Redis] = Redis, **options
) -> tuple[Redis, Callable[[], Awaitable[None]]]:
    """Return a client (a `redis_class`) of `target`'s primary on a blocking pool,
    and its closer.

    `options` go to the pool and its connections (``max_connections``,
    ``timeout``, ``socket_timeout`` ...).
    """
    if not target.uses_sentinel:
        redis = redis_class.from_pool(BlockingConnectionPool.from_url(target.url, **options))
        return redis, redis.aclose
    sentinel = Sentinel(
        target.sentinels,
        sentinel_kwargs={
            "socket_timeout": SENTINEL_TIMEOUT,
            "socket_connect_timeout": SENTINEL_TIMEOUT,
        },
    )
    redis = sentinel.master_for(
        target.service,
        redis_class=redis_class,
        connection_pool_class=BlockingSentinelPool,
        **target.server_options(),
        **options,
    )

    async def close() -> None:
        await redis.aclose()
        await sentinel.aclose()

    return redis, close


async def primary_address(target: RedisTarget, timeout: float = 2.0) -> str:
    """Return ``host:port`` of the primary `target` names once it answers PING.

    Raise RedisError or OSError when no sentinel names a primary or the
    primary does not answer. A fresh connection each time: for health checks.
    """
    redis, close = connect(
        target,
        max_connections=1,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    try:
        async with asyncio.timeout(timeout * 2):
            await redis.ping()
        return _address(redis.connection_pool)
    finally:
        await close()


async def drop_idle(redis: Redis) -> None:
    """Close the idle connections of `redis`'s pool without touching one in use.

    redis-py's ``disconnect(inuse_connections=False)`` closes the connections
    listed as idle when it starts, in tasks that run later: a command that
    took one of them meanwhile had its socket closed under it, retries
    included (a connect storm's refusals after a registry rebuild). Here the
    idle connections leave the pool first, in one step, then close.
    """
    pool = redis.connection_pool
    idle = list(pool._available_connections)
    pool._available_connections.clear()
    await asyncio.gather(*(connection.disconnect() for connection in idle), return_exceptions=True)


def _address(pool: ConnectionPool) -> str:
    if isinstance(pool, SentinelConnectionPool):
        host, port = pool.master_address  # where the last connection went
    else:
        host = pool.connection_kwargs.get("host") or pool.connection_kwargs.get("path")
        port = pool.connection_kwargs.get("port")
    return f"{host}:{port}" if port else str(host)


def _close_with(loop: AbstractEventLoop, close: Callable[[], Awaitable[None]]) -> None:
    # Sync callers (async_to_sync) run each call on a short-lived loop; close
    # the loop's pool with it, as channels_redis does for its own pools.
    original = loop.close

    def close_loop() -> None:
        if not loop.is_closed() and not loop.is_running():
            loop.run_until_complete(close())
        original()

    loop.close = close_loop  # type: ignore[method-assign]
