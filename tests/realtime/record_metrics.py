"""One process's share of every metric family, run as a worker of its own.

``python -m tests.realtime.record_metrics`` records through each recorder of
`realtime.metrics` (so every family gets a sample), then prints its process
id, `metrics.exposition()` and `metrics.snapshot()` as JSON. With ``PROMETHEUS_MULTIPROC_DIR`` set
the process writes to that directory as a ``--workers`` worker does, and the
exposition merges every process that wrote there.
"""

from __future__ import annotations

import json
import os
import sys
import time

import django

from realtime import Hub, metrics

HUB = "recordedhub"
OPENED = (("WebSockets", 3), ("LongPolling", 2), ("ServerSentEvents", 1))
CLOSED = (("WebSockets", "client_closed"), ("LongPolling", "timeout"))


class RecordedHub(Hub):
    """A hub with one method and one client event."""

    client_events = frozenset({"Known"})

    async def add(self, a: int, b: int) -> int:
        return a + b


def record() -> None:
    """Record a fixed set of events through the recorders of `realtime.metrics`."""
    for transport, count in OPENED:
        for _ in range(count):
            metrics.connection_opened(HUB, transport)
    for transport, reason in CLOSED:
        metrics.connection_closed(HUB, transport, reason)
    metrics.refused(403, "origin not allowed")
    metrics.invoked(RecordedHub, "Add", "ok", 0.003)
    metrics.invoked(RecordedHub, "NoSuchMethod", "refused", 0.0001)
    metrics.sent(HUB, "Known")
    metrics.sent(HUB, "Chosen")
    sent_at = time.time() + 3600  # a publish "from the future": a fan-out time of 0, every run
    metrics.fanned_out(sent_at, sent_at + 0.002, frames=4, nbytes=400)
    metrics.wrote(30)
    metrics.redis_failed("send")
    metrics.redis_seconds.observe(0.0007)
    metrics.increment("messages_dropped", 2)
    for name in (
        "send_failures",
        "backplane_errors",
        "long_poll_overflows",
        "slow_consumers_closed",
    ):
        metrics.increment(name)
    metrics.set_gauge("example_level", 5)
    metrics.batch_done(0.2, {"orders": 3}, {"orders": 7, "notifications": 1})
    metrics.batch_failed()


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    django.setup()
    record()
    text = metrics.exposition().decode()
    sys.stdout.write(json.dumps({"pid": os.getpid(), "text": text, "json": metrics.snapshot()}))


if __name__ == "__main__":
    main()
