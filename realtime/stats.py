"""Small stats snapshots in Redis, one key per process, for the admin dashboard.

Every STATS_INTERVAL seconds each server process writes what it holds (its
connections by hub and transport, messages per second with ten minutes of
history, drops, its last refusals, its Redis round trip) under a key that
expires after three intervals: a crashed process drops off the dashboard by
itself. `run_notifier` writes its last batch the same way (`record_batch`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import Counter, deque
from collections.abc import Mapping
from typing import Any, Protocol

from prometheus_client import write_to_textfile
from redis.exceptions import RedisError

from realtime import conf, logformat, metrics, portal, store
from realtime.redis_pool import client

logger = logging.getLogger(__name__)

#: Seconds the last run_notifier batch stays on the dashboard.
WORKER_TTL = 86400

#: Seconds of messages-per-second history each process keeps and publishes.
HISTORY_SECONDS = 600


class Process(Protocol):
    """What a snapshot reads of the process's lifetime manager."""

    channel: str

    @property
    def connections(self) -> Mapping[str, Any]:
        """The process's connections by id."""


class StatsPublisher:
    """Build and publish one process's snapshot, keeping its rate history."""

    def __init__(self, backplane: Process) -> None:
        self.backplane = backplane
        self.started = time.time()
        interval = conf.get().STATS_INTERVAL
        self.history: deque[tuple[float, float]] = deque(
            maxlen=math.ceil(HISTORY_SECONDS / interval) + 1
        )
        self._last: tuple[float, float] | None = None
        self.redis_ms: float | None = None

    async def run(self) -> None:
        """Publish every STATS_INTERVAL seconds until cancelled."""
        while True:
            try:
                await self.publish_once()
            except (RedisError, OSError):
                metrics.redis_failed("stats")
                logger.warning("could not publish stats", exc_info=True)
            await asyncio.sleep(conf.get().STATS_INTERVAL)

    def _rate(self, now: float, sent: float) -> float:
        last, self._last = self._last, (now, sent)
        if last is None or now <= last[0]:
            return 0.0
        return max(0.0, (sent - last[1]) / (now - last[0]))

    async def _ping(self) -> None:
        started = time.perf_counter()
        try:
            await store.ping()
        except (RedisError, OSError):
            metrics.redis_failed("ping")
            self.redis_ms = None
            raise
        elapsed = time.perf_counter() - started
        if metrics.enabled():
            metrics.redis_seconds.observe(elapsed)
        self.redis_ms = round(elapsed * 1000, 2)

    def snapshot(self) -> dict:
        """Return what this process reports: counts from its tables and its metrics."""
        now = time.time()
        values = metrics.totals()
        sent = values.get("realtime_frames_sent_total", 0)
        rate = self._rate(now, sent)
        self.history.append((round(now, 1), round(rate, 1)))
        connections = list(self.backplane.connections.values())
        by_channel = Counter(f"{c.hub_class.namespace}/{c.transport.name}" for c in connections)
        return {
            "id": self.backplane.channel,
            "instance": logformat.INSTANCE,
            "started": self.started,
            "time": now,
            "connections": len(connections),
            "byHubTransport": dict(by_channel),
            "messagesPerSecond": round(rate, 1),
            "framesSent": sent,
            "drops": values.get("realtime_messages_dropped_total", 0),
            "sendFailures": values.get("realtime_send_failures_total", 0),
            "slowConsumers": values.get("realtime_slow_consumers_closed_total", 0)
            + values.get("realtime_long_poll_overflows_total", 0),
            "redisErrors": values.get("realtime_redis_errors_total", 0),
            "redisMs": self.redis_ms,
            "history": list(self.history),
            "refusals": list(metrics.recent_refusals),
        }

    async def publish_once(self) -> None:
        """Measure Redis, then write the snapshot with a TTL of three intervals."""
        await self._ping()
        ttl = 3 * conf.get().STATS_INTERVAL
        name, snapshot = store.key("stats", self.backplane.channel), json.dumps(self.snapshot())
        await client().set(name, snapshot.encode(), ex=max(1, int(ttl)))


async def instances() -> list[dict]:
    """Return every live process's snapshot, ordered by instance name."""
    redis = client()
    # One key per live process: a scan of a few dozen keys at most.
    names = [name async for name in redis.scan_iter(match=store.key("stats", "*"), count=100)]
    snapshots = [json.loads(raw) for raw in await redis.mget(names) if raw] if names else []
    return sorted(snapshots, key=lambda s: s["instance"])


def record_batch(
    *,
    seconds: float,
    published: dict[str, int],
    pending: dict[str, int],
    error: str = "",
) -> None:
    """Publish a run_notifier batch for the dashboard (sync; for the worker).

    `published` and `pending` count rows by kind ("orders", "notifications").
    A Redis failure is logged, not raised: the worker's batch is done.
    """
    if error:
        metrics.batch_failed()
    else:
        metrics.batch_done(seconds, published, pending)
    snapshot = {
        "time": time.time(),
        "instance": logformat.INSTANCE,
        "seconds": round(seconds, 3),
        "published": published,
        "pending": pending,
        "error": error,
    }
    try:
        portal.call(_save_batch, json.dumps(snapshot).encode())
    except (RedisError, OSError):
        logger.warning("could not publish run_notifier stats: Redis unavailable")


async def _save_batch(snapshot: bytes) -> None:
    await client().set(store.key("worker"), snapshot, ex=WORKER_TTL)


def write_textfile(path: str) -> None:
    """Write this process's metrics for node_exporter's textfile collector (atomically)."""
    write_to_textfile(path, metrics.REGISTRY)


async def worker() -> dict | None:
    """Return the last run_notifier batch, if one was recorded."""
    raw = await client().get(store.key("worker"))
    return json.loads(raw) if raw else None
