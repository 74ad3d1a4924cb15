"""One lifetime manager per event loop, started on first use.

channels_redis binds its receive machinery to one event loop, so each loop
that serves hubs (one per server process) gets a manager of its own.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from redis.exceptions import RedisError

from realtime.lifetime.redis import RedisLifetimeManager

logger = logging.getLogger(__name__)

_backplanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RedisLifetimeManager] = (
    weakref.WeakKeyDictionary()
)
_starting: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


async def get_backplane() -> RedisLifetimeManager:
    """Return the running loop's backplane, starting it on first use."""
    loop = asyncio.get_running_loop()
    backplane = _backplanes.get(loop)
    if backplane is not None:
        return backplane
    lock = _starting.setdefault(loop, asyncio.Lock())
    async with lock:
        backplane = _backplanes.get(loop)
        if backplane is None:
            backplane = RedisLifetimeManager()
            await backplane.start()
            _backplanes[loop] = backplane
    return backplane


async def stop_backplane() -> None:
    """Stop the running loop's backplane, if any (tests)."""
    backplane = _backplanes.pop(asyncio.get_running_loop(), None)
    if backplane is not None:
        await backplane.stop()


_warmed: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
_warming: set[asyncio.Task] = set()


def warm_up() -> None:
    """Start the running loop's backplane in the background (once per loop).

    Called on a process's first request of any kind (e.g. the load balancer's
    health check), so an instance that has no hub connection yet is still in
    the registry and on the dashboard. A failure is retried by the first hub
    request.
    """
    loop = asyncio.get_running_loop()
    if loop in _warmed:
        return
    _warmed.add(loop)

    async def start() -> None:
        try:
            await get_backplane()
        except (RedisError, OSError):
            logger.warning("backplane not started yet: Redis unavailable")

    task = loop.create_task(start())
    _warming.add(task)
    task.add_done_callback(_warming.discard)
