"""A Redis SIGKILLed and restarted empty under 1,000 open clients on two
instances behind nginx: none loses anything, none gets anything twice, and
the time until the registry is complete again is measured."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis import Redis

from config.embedded_redis import EmbeddedRedis
from realtime import conf
from realtime.groups import layer_group_name
from realtime.keys import group_key, key, presence_key
from tests.restart_kit import (
    Watcher,
    change_status_code,
    converge,
    notify_code,
    open_watchers,
    rebuilds_logged,
    tally,
    two_instances,
    when_redis_answers,
)
from tests.support.cluster import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

USER = "dave"
CLIENTS = 1000


def registry_complete(redis: Redis, order_group: str, user_id: int, sockets: int) -> bool:
    """Both instances hold the order's group, and every socket is registered and present."""
    try:
        return (
            redis.scard(group_key(order_group)) == 2
            and redis.zcard(presence_key(str(user_id))) == sockets
            and sum(1 for _ in redis.scan_iter(key("cid", "*"), count=1000)) == sockets
        )
    except OSError:
        return False


async def test_a_thousand_open_clients_lose_nothing_when_redis_restarts_empty(
    cluster, postgres_url, nginx, tmp_path, report_number
):
    redis = EmbeddedRedis(tmp_path / "redis").start()
    stack = two_instances(tmp_path / "stack", redis.url, postgres_url, CLIENTS)
    watchers: list[Watcher] = []
    try:
        live = await asyncio.to_thread(stack.__enter__)
        proxy = nginx(live.urls)
        order_id, watchers = await open_watchers(live, proxy.url, USER, PASSWORD, CLIENTS)
        await asyncio.sleep(conf.get().REGISTRY_SETTLE)
        await asyncio.to_thread(live.shell, notify_code(USER, 1, "Before"))
        before = await converge(watchers, live, USER, order_id, timeout=60)
        assert all(w.matches(before) for w in watchers)
        user_id = cluster.users[USER]
        group = layer_group_name("orders", f"order:{order_id}")

        redis.kill()
        await asyncio.to_thread(
            live.shell,
            change_status_code(order_id, "processing", "shipped", "processing")
            + notify_code(USER, 2, "While down"),
        )
        right_after = when_redis_answers(
            live, change_status_code(order_id, "shipped") + notify_code(USER, 1, "Right after")
        )
        await asyncio.sleep(1.0)
        redis = EmbeddedRedis(redis.directory, port=redis.port).start()
        restarted_at = time.monotonic()
        probe = Redis.from_url(redis.url)
        while not registry_complete(probe, group, user_id, 2 * CLIENTS):
            assert time.monotonic() - restarted_at < 30, "registry not rebuilt within 30 s"
            await asyncio.sleep(0.02)
        rebuilt_in = time.monotonic() - restarted_at
        probe.close()
        output, _ = await asyncio.to_thread(right_after.communicate, timeout=120)
        assert right_after.returncode == 0, output

        await asyncio.sleep(max(0.0, restarted_at + 1.5 - time.monotonic()))
        await asyncio.to_thread(live.manage, "run_notifier", "--once")
        await asyncio.sleep(max(0.0, restarted_at + 4.0 - time.monotonic()))
        await asyncio.to_thread(
            live.shell, change_status_code(order_id, "delivered") + notify_code(USER, 1, "Later")
        )
        await asyncio.to_thread(live.manage, "run_notifier", "--once")
        swept_at = time.monotonic()
        final = await converge(watchers, live, USER, order_id, timeout=90)
        converged_in = time.monotonic() - swept_at
        await asyncio.sleep(2.0)  # a repeat, if any, has arrived by now
        still_open = sum(w.open_sockets for w in watchers)
        logs = live.log(0) + live.log(1)
    finally:
        await asyncio.gather(*(w.close() for w in watchers), return_exceptions=True)
        await asyncio.to_thread(stack.__exit__, None, None, None)
        redis.stop()

    rebuilds = rebuilds_logged(logs)
    lost, twice, wrong = tally(watchers, final)
    caught_up = sorted(w.caught_up_at - restarted_at for w in watchers if w.caught_up_at) or [-1]
    report_number(
        f"Redis SIGKILLed and restarted empty under {CLIENTS} clients ({2 * CLIENTS} WebSockets, "
        f"two instances behind nginx): registry complete {rebuilt_in:.2f} s after Redis answered "
        f"(rebuilds: {rebuilds}); {len(caught_up)} clients resynced (Resync, then "
        f"GetNotifications) {caught_up[0]:.2f}-{caught_up[-1]:.2f} s after the restart; every "
        f"client equal to the database {converged_in:.1f} s after run_notifier's second batch "
        f"ended; lost {lost}, delivered twice {twice}"
    )
    assert (final["pending"], final["unpublished"], final["status"]) == (0, 0, "delivered")
    assert still_open == CLIENTS
    assert (lost, twice, wrong) == (0, 0, 0)
    assert all(w.resyncs == 1 and not w.errors for w in watchers)
