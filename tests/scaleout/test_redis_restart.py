"""A Redis SIGKILLed and restarted empty under 1,000 open clients on two
instances behind nginx: none loses anything, none gets anything twice, and
the time until the registry is complete again is measured."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis import Redis

from config.embedded_redis import EmbeddedRedis
from realtime.groups import layer_group_name
from realtime.keys import group_key, key, presence_key
from tests.restart_kit import (
    Watcher,
    assert_nothing_lost,
    deliver_and_converge,
    publish_while_down,
    rebuilds_logged,
    seconds_until,
    sweep_after_restart,
    tally,
    two_instances,
    watchers_in_step,
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
        order_id, watchers = await watchers_in_step(live, proxy.url, USER, PASSWORD, CLIENTS)
        user_id = cluster.users[USER]
        group = layer_group_name("orders", f"order:{order_id}")

        redis.kill()
        right_after = await asyncio.to_thread(publish_while_down, live, USER, order_id)
        await asyncio.sleep(1.0)
        redis = EmbeddedRedis(redis.directory, port=redis.port).start()
        restarted_at = time.monotonic()
        probe = Redis.from_url(redis.url)
        rebuilt_in = await seconds_until(
            lambda: registry_complete(probe, group, user_id, 2 * CLIENTS), restarted_at
        )
        probe.close()
        await sweep_after_restart(live, right_after, restarted_at)
        final, converged_in, still_open = await deliver_and_converge(watchers, live, USER, order_id)
        logs = live.log(0) + live.log(1)
    finally:
        await asyncio.gather(*(w.close() for w in watchers), return_exceptions=True)
        await asyncio.to_thread(stack.__exit__, None, None, None)
        redis.stop()

    rebuilds = rebuilds_logged(logs)
    lost, twice, _ = tally(watchers, final)
    caught_up = sorted(w.caught_up_at - restarted_at for w in watchers if w.caught_up_at) or [-1]
    report_number(
        f"Redis SIGKILLed and restarted empty under {CLIENTS} clients ({2 * CLIENTS} WebSockets, "
        f"two instances behind nginx): registry complete {rebuilt_in:.2f} s after Redis answered "
        f"(rebuilds: {rebuilds}); {len(caught_up)} clients resynced (Resync, then "
        f"GetNotifications) {caught_up[0]:.2f}-{caught_up[-1]:.2f} s after the restart; every "
        f"client equal to the database {converged_in:.1f} s after run_notifier's second batch "
        f"ended; lost {lost}, delivered twice {twice}"
    )
    assert_nothing_lost(watchers, final, still_open)
