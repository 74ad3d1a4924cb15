"""Redis SIGKILLed and started again while clients stay connected: nothing lost,
nothing delivered twice, every open client ends equal to the database.

A real redis-server of the test's own on a fixed port, a real daphne, the
signal path and ``manage.py run_notifier --once`` as real processes. Redis
either restarts empty (the embedded one keeps nothing) or comes back with its
data (append-only file).
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from redis import Redis

from config.embedded_redis import EmbeddedRedis
from realtime import conf
from realtime.keys import index_key, indexed_key, key
from tests.restart_kit import (
    Watcher,
    change_status_code,
    converge,
    notify_code,
    when_redis_answers,
)
from tests.support.daphne import LiveStack
from tests.support.http import fetch_access_token

pytestmark = pytest.mark.e2e


def indexed_entries(url: str) -> tuple[int, int, int]:
    """Processes with an index, their index entries, and connection id owner keys."""
    redis = Redis.from_url(url)
    try:
        processes = [p.decode() for p in redis.smembers(indexed_key())]
        entries = sum(redis.scard(index_key(p)) for p in processes)
        return len(processes), entries, len(list(redis.scan_iter(key("cid", "*"))))
    finally:
        redis.close()


USER, PASSWORD = "alice", "alice-pass-1"
CLIENTS = 3


@pytest.mark.parametrize("appendonly", [False, True], ids=["restarts-empty", "appendonly"])
async def test_open_clients_match_the_database_after_redis_is_killed_and_restarted(
    tmp_path, appendonly
):
    redis = EmbeddedRedis(tmp_path / "redis", appendonly=appendonly).start()
    stack = LiveStack(tmp_path / "stack", redis.url)
    watchers: list[Watcher] = []
    try:
        live = await asyncio.to_thread(stack.__enter__)
        order_id = int(
            (
                await asyncio.to_thread(
                    live.shell,
                    "from django.contrib.auth import get_user_model\n"
                    "from orders.models import Order\n"
                    f"user = get_user_model().objects.create_user({USER!r}, "
                    f"password={PASSWORD!r})\n"
                    "print(Order.objects.create(customer=user, number='R-1').pk)",
                )
            ).split()[-1]
        )
        token = await asyncio.to_thread(fetch_access_token, live.url, USER, PASSWORD)
        # A fresh Redis: sends wait for its first registry epoch to settle.
        await asyncio.sleep(conf.get().REGISTRY_SETTLE)
        watchers = [await Watcher.open(live.url, token, order_id) for _ in range(CLIENTS)]
        await asyncio.to_thread(live.shell, notify_code(USER, 1, "Before"))
        before = await converge(watchers, live, USER, order_id, timeout=20)
        assert all(w.matches(before) for w in watchers), (
            before,
            [(w.unread, w.status, w.known) for w in watchers],
            live.log()[-3000:],
        )

        redis.kill()
        # The signal path while Redis is down: every row stays pending.
        await asyncio.to_thread(
            live.shell,
            change_status_code(order_id, "processing", "shipped", "processing")
            + notify_code(USER, 2, "While down"),
        )
        during = await asyncio.to_thread(
            live.shell,
            "from notifications.models import Notification\n"
            "print(Notification.objects.pending().count())",
        )
        right_after = when_redis_answers(
            live, change_status_code(order_id, "shipped") + notify_code(USER, 1, "Right after")
        )
        await asyncio.sleep(1.0)
        redis = EmbeddedRedis(redis.directory, port=redis.port, appendonly=appendonly).start()
        restarted_at = time.monotonic()
        output, _ = await asyncio.to_thread(right_after.communicate, timeout=120)
        assert right_after.returncode == 0, output

        await asyncio.sleep(max(0.0, restarted_at + 1.5 - time.monotonic()))
        first_sweep = await asyncio.to_thread(live.manage, "run_notifier", "--once")
        # A change once the registry is back: the signal path delivers it live.
        await asyncio.sleep(max(0.0, restarted_at + 4.0 - time.monotonic()))
        await asyncio.to_thread(
            live.shell, change_status_code(order_id, "delivered") + notify_code(USER, 1, "Later")
        )
        # run_notifier's next batch: whatever the first one had to leave pending.
        await asyncio.to_thread(live.manage, "run_notifier", "--once")
        final = await converge(watchers, live, USER, order_id, timeout=30)
        await asyncio.sleep(1.0)  # a repeat, if any, has arrived by now
        index = await asyncio.to_thread(indexed_entries, redis.url)
        log = live.log()
        still_open = [w.open_sockets for w in watchers]
    finally:
        for watcher in watchers:
            await watcher.close()
        await asyncio.to_thread(stack.__exit__, None, None, None)
        redis.stop()

    assert int(during.split()[-1]) == 5  # 3 order notifications and 2 sent
    assert (final["pending"], final["unpublished"], final["status"]) == (0, 0, "delivered")
    assert "published" in first_sweep.stdout
    assert still_open == [True] * CLIENTS
    for watcher in watchers:
        state = {
            "unread": watcher.unread,
            "status": watcher.status,
            "missing": sorted(set(final["ids"]) - watcher.known),
            "twice": sorted(i for i, n in watcher.received().items() if n > 1),
            "errors": watcher.errors,
        }
        expected = {"unread": final["unread"], "status": "delivered", "missing": [], "twice": []}
        assert state == {**expected, "errors": []}, json.dumps(state)
        # A restarted Redis may have lost what waited for the server, data
        # kept or not: the clients catch up, without a repeat.
        assert watcher.resyncs == 1
    # The rebuild wrote the process's index again: registry entry, connection
    # id owner and presence entry of every open connection.
    processes, entries, connections = index
    assert processes == 1
    assert connections > 0
    assert entries == 3 * connections
    cause = "on a restarted Redis server" if appendonly else "for a new epoch"
    assert f"registry rebuilt {cause}" in log
