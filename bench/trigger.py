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
import gc
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


#: Where an order change has got to, timed from just before `change_status`:
#: the state recorded and leased for the publish, in the change's transaction
#: (`orders.services._record` returned), that transaction committed (the
#: publisher's on_commit starts), the first event handed to Redis (the first
#: sync send returned). The client's receipt ends it.
STEPS = ("recorded", "committed", "handed_over")


def change_orders(order_id: int, seq0: int, count: int, interval: float) -> dict:
    """Commit `count` status changes through the service (sync, as a view would).

    Return the send times and, per change, when each of STEPS ended (ms).
    The steps are read by wrapping the real functions for the run's length:
    a pre_save receiver whose on_commit callback runs first after the commit
    (it is registered before the publish gate's post_save one), and
    `services._record` and `portal.call`, called as before.
    """
    from django.db import transaction
    from django.db.models.signals import pre_save

    from orders import services
    from orders.models import Order
    from realtime import portal

    marks: dict[str, float] = {}

    def mark(step: str) -> None:
        marks.setdefault(step, time.perf_counter())

    def on_pre_save(**kwargs: Any) -> None:
        transaction.on_commit(lambda: mark("committed"))

    def timed(function: Callable, step: str) -> Callable:
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            finally:
                mark(step)

        return call

    order = Order.objects.get(pk=order_id)
    statuses = [Order.Status.PROCESSING, Order.Status.SHIPPED]
    sent: list[float] = []
    steps: list[dict[str, float]] = []
    record, call = services._record, portal.call
    services._record, portal.call = timed(record, "recorded"), timed(call, "handed_over")
    pre_save.connect(on_pre_save, sender=Order, dispatch_uid="bench.trigger.steps")
    try:
        start = time.monotonic()
        for k in range(count):
            if interval:
                time.sleep(max(0.0, start + k * interval - time.monotonic()))
            marks.clear()
            begun, now = time.perf_counter(), time.time()
            services.change_status(
                order, status=statuses[k % 2], message=payloads.order_message(seq0 + k, now)
            )
            sent.append(now)
            steps.append({s: 1000 * (marks[s] - begun) for s in STEPS if s in marks})
    finally:
        pre_save.disconnect(sender=Order, dispatch_uid="bench.trigger.steps")
        services._record, portal.call = record, call
    return {"sent": sent, "steps": steps}


def main(kind: str) -> None:
    loop = asyncio.new_event_loop()
    send = SENDERS[kind]()
    # What the process holds once set up (Django, for ours and Channels) is
    # left out of the collector's later passes, as in the server processes
    # that run views (realtime.server.collector): a full pass over it took
    # 50-65 ms and landed in whichever change or broadcast was sent then.
    gc.collect()
    gc.freeze()
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
            reply = {"sent": loop.run_until_complete(broadcast(send, **command))}
        elif op == "orders":
            reply = change_orders(command.pop("order"), **command)
        else:
            raise SystemExit(f"unknown op {op!r}")
        print(json.dumps(reply), flush=True)
    loop.close()


if __name__ == "__main__":
    main(sys.argv[1])
