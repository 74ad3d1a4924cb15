"""The Redis client of the running event loop: one connection pool per loop.

Every module of the package reaches Redis through `client()`.
The pool is made on first use in a loop from ``settings.REDIS_URL`` and
closed with the loop.
"""

from __future__ import annotations

import weakref
from asyncio import AbstractEventLoop, get_running_loop

from django.conf import settings
from redis.asyncio import BlockingConnectionPool, Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

#: Redis connections per event loop, and seconds a command waits for one.
POOL_SIZE = 500
POOL_WAIT = 30.0

_clients: weakref.WeakKeyDictionary[AbstractEventLoop, tuple[str, Redis]] = (
    weakref.WeakKeyDictionary()
)


def client() -> Redis:
    """Return the Redis client of the running event loop (one pool per loop)."""
    loop = get_running_loop()
    url = settings.REDIS_URL
    cached = _clients.get(loop)
    if cached is None or cached[0] != url:
        # A pool that makes callers wait for a free connection: a burst (ten
        # thousand clients leaving at once) queues. redis-py's default pool
        # raised MaxConnectionsError at its limit, and the cleanup was lost.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=POOL_SIZE,
            timeout=POOL_WAIT,
            socket_timeout=None,
            socket_connect_timeout=5,
            health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        redis = Redis.from_pool(pool)
        _clients[loop] = (url, redis)
        _close_with(loop, redis)
        return redis
    return cached[1]


def _close_with(loop: AbstractEventLoop, redis: Redis) -> None:
    # Sync callers (async_to_sync) run each call on a short-lived loop; close
    # the loop's pool with it, as channels_redis does for its own pools.
    original = loop.close

    def close() -> None:
        if not loop.is_closed() and not loop.is_running():
            loop.run_until_complete(redis.aclose())
        original()

    loop.close = close  # type: ignore[method-assign]
