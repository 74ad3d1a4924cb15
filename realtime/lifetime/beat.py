"""A process's background step on a steady beat, through Redis outages."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


async def every(period: float, step: Callable[[], Awaitable[object]], failure: str) -> None:
    """Run `step` every `period` seconds, counted from one start to the next, for
    as long as the task runs.

    A step that fails on Redis logs `failure` once (with the exception) until a
    step succeeds again; the beat goes on.
    """
    failing = False
    while True:
        started = time.monotonic()
        try:
            await step()
        except (RedisError, OSError):
            if not failing:
                logger.warning(failure, exc_info=True)
            failing = True
        else:
            failing = False
        await asyncio.sleep(max(0.0, period - (time.monotonic() - started)))
