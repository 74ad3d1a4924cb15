"""Broadcasts from outside the server process, the way each contender does it.

Runs as a child of the benchmark and takes one JSON command per stdin line,
answering one JSON line on stdout, so Django starts once per contender:

    {"op": "broadcast", "seq0": 0, "count": 10, "interval": 1.0}
    {"op": "orders", "seq0": 0, "count": 10, "interval": 0.2, "order": 1}
    {"op": "quit"}

    python -m bench.trigger ours|channels|raw|socketio
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench import payloads

Send = Callable[[dict], Awaitable[Any]]


def ours() -> Send:
    """``hub_context("notifications").group("topic:bench").asend(...)``."""
    import django

    django.setup()
    from realtime import conf, epoch, hub_context

    # The harness flushes Redis before each contender: sends are refused until
    # the new registry epoch settles. Wait for that once, before measuring.
    settle = conf.get().REGISTRY_SETTLE
    asyncio.run(epoch.wait_settled(settle, timeout=settle + 10))
    group = hub_context("notifications").group("topic:bench")
    return lambda body: group.asend(payloads.EVENT, body)


def channels() -> Send:
    """``channel_layer.group_send("bench", ...)`` (core or pub/sub layer)."""
    import django

    django.setup()
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    return lambda body: layer.group_send(
        "bench", {"type": "bench.event", "text": payloads.encode(body)}
    )


def raw() -> Send:
    """``PUBLISH bench <json>`` for the raw websockets relay."""
    from redis.asyncio import Redis

    redis = Redis.from_url(os.environ["REDIS_URL"])
    return lambda body: redis.publish("bench", payloads.encode(body))


def socketio() -> Send:
    """A write-only AsyncRedisManager emitting to room "bench"."""
    import socketio as sio

    manager = sio.AsyncRedisManager(os.environ["REDIS_URL"], write_only=True)
    return lambda body: manager.emit(payloads.EVENT, body, room="bench", namespace="/")


SENDERS: dict[str, Callable[[], Send]] = {
    "ours": ours,
    "channels": channels,
    "raw": raw,
    "socketio": socketio,
}


async def broadcast(send: Send, seq0: int, count: int, interval: float) -> list[float]:
    """Send `count` payloads, `interval` s apart (0: back to back); return send times."""
    sent: list[float] = []
    start = time.monotonic()
    for k in range(count):
        if interval:
            await asyncio.sleep(max(0.0, start + k * interval - time.monotonic()))
        now = time.time()
        await send(payloads.make(seq0 + k, now))
        sent.append(now)
    return sent


def change_orders(order_id: int, seq0: int, count: int, interval: float) -> list[float]:
    """Commit `count` status changes through the service (sync, as a view would)."""
    from orders import services
    from orders.models import Order

    order = Order.objects.get(pk=order_id)
    statuses = [Order.Status.PROCESSING, Order.Status.SHIPPED]
    sent: list[float] = []
    start = time.monotonic()
    for k in range(count):
        if interval:
            time.sleep(max(0.0, start + k * interval - time.monotonic()))
        now = time.time()
        services.change_status(
            order, status=statuses[k % 2], message=payloads.order_message(seq0 + k, now)
        )
        sent.append(now)
    return sent


def main(kind: str) -> None:
    loop = asyncio.new_event_loop()
    send = SENDERS[kind]()
    print(json.dumps({"ready": True}), flush=True)
    for _ in range(100_000):
        line = sys.stdin.readline()
        if not line:
            break
        command = json.loads(line)
        op = command.pop("op")
        if op == "quit":
            break
        if op == "broadcast":
            sent = loop.run_until_complete(broadcast(send, **command))
        elif op == "orders":
            sent = change_orders(command.pop("order"), **command)
        else:
            raise SystemExit(f"unknown op {op!r}")
        print(json.dumps({"sent": sent}), flush=True)
    loop.close()


if __name__ == "__main__":
    main(sys.argv[1])
