"""Requests refused because Redis did not answer: a 503 each, counted, logged without a flood.

A hub request needs Redis to admit its caller (the connection's
registration, the per-user limit) and to open its connection. When Redis
fails under it (down, restarting, a pooled connection closed under a
command), the request is refused with 503 and the client may try again
(what the refused request wrote expires: a reservation against the user's
connection limit after NEGOTIATE_TTL, a registration after its lease). While Redis is
away every request fails the same way, so one line per LOG_INTERVAL says
so, with the error and how many more were refused since; the refusals
metric counts each.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable
from typing import TypeVar

from redis.exceptions import RedisError

from realtime import metrics
from realtime.transports.admission import Refusal

logger = logging.getLogger("realtime.transports.admission")

T = TypeVar("T")

UNAVAILABLE = Refusal(503, "Redis unavailable; try again")
#: WebSocket close code for it, after the upgrade: 1013 Try Again Later.
TRY_AGAIN_LATER = 1013
#: Seconds between two log lines about refusals for want of Redis.
LOG_INTERVAL = 10.0


class _Log:
    last = -math.inf
    unlogged = 0


async def guard(scope: dict, work: Awaitable[T]) -> T | Refusal:
    """Await `work`; if Redis fails under it, refuse the request (UNAVAILABLE)."""
    try:
        return await work
    except (RedisError, OSError) as exc:
        return refused(scope, exc)


def refused(scope: dict, exc: BaseException) -> Refusal:
    """Count a request refused because Redis failed under it; log at most once per LOG_INTERVAL."""
    metrics.refused(UNAVAILABLE.status, UNAVAILABLE.reason)
    now = time.monotonic()
    if now - _Log.last < LOG_INTERVAL:
        _Log.unlogged += 1
        return UNAVAILABLE
    logger.warning(
        "refused %s %s: Redis unavailable (%s: %s) (503); %d more refused so since the last report",
        scope.get("type"),
        scope.get("path"),
        type(exc).__name__,
        exc,
        _Log.unlogged,
        extra={"event": "refused", "reason": UNAVAILABLE.reason},
    )
    _Log.last, _Log.unlogged = now, 0
    return UNAVAILABLE
