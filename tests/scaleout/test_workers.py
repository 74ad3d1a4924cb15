"""``realtime.server --workers 2``: one port, two full instances, with 1,000 official clients.

The clients spread over both workers; a group broadcast and a send to their
user reach every one of them, across the two processes; a SIGKILLed worker's
clients reconnect to the other (and the supervisor starts a new worker);
SIGTERM drains both workers, every client told to reconnect.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import psutil
import pytest
from redis import Redis

from config.embedded_redis import EmbeddedRedis
from tests.support.daphne import LiveStack
from tests.support.http import fetch_access_token
from tests.support.node import NodeProcess
from tests.support.processes import wait_until
from tests.support.worker_stats import connections_by_pid, workers_of

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

CLIENTS = 1000
USER = "workers-user"
PASSWORD = "workers-pass-1"
CROWD = Path(__file__).resolve().parent / "crowd.mjs"


class Crowd:
    """The Node process holding the clients: commands in, summaries out."""

    def __init__(self, process: NodeProcess) -> None:
        self.process = process

    def next_step(self, timeout: float = 120) -> dict:
        name, _, data = self.process.expect("STEP ", timeout=timeout).partition(" ")
        payload = json.loads(data)
        if name == "failed":
            raise AssertionError(f"crowd step failed: {payload}")
        return payload

    def command(self, cmd: str, timeout: float = 120, **arguments) -> dict:
        self.process.reply(json.dumps({"cmd": cmd, "timeoutMs": 1000 * (timeout - 5), **arguments}))
        return self.next_step(timeout)


def send_code(order_id: int, status: str, user: str, tag: str) -> str:
    """A group broadcast (the order's status) and a send to the user's connections."""
    return (
        "from django.contrib.auth import get_user_model\n"
        "from orders import services\n"
        "from orders.models import Order\n"
        "from realtime import hub_context\n"
        f"services.change_status(Order.objects.get(pk={order_id}), status={status!r})\n"
        f"user = get_user_model().objects.get(username={user!r})\n"
        f"hub_context('orders').user(user.pk).send('UserCheck', {tag!r})\n"
    )


def test_two_workers_share_a_port_lose_one_and_drain(
    postgres_url, node_available, tmp_path, report_number
):
    redis = EmbeddedRedis(tmp_path / "redis").start()
    stack = LiveStack(
        tmp_path / "stack",
        redis.url,
        asgi="tests.scaleout.asgi:application",
        database_url=postgres_url,
        realtime_options={"MAX_CONNECTIONS_PER_USER": 2 * CLIENTS + 100, "STATS_INTERVAL": 1},
        serve_args=("--workers", "2"),
    )
    probe = Redis.from_url(redis.url)
    try:
        live = stack.__enter__()
        supervisor = live.pid(0)
        assert wait_until(lambda: len(workers_of(supervisor)) == 2, 20)
        first = workers_of(supervisor)
        order_id = int(
            live.shell(
                "import uuid\n"
                "from django.contrib.auth import get_user_model\n"
                "from orders.models import Order\n"
                "User = get_user_model()\n"
                f"user = User.objects.filter(username={USER!r}).first() or "
                f"User.objects.create_user({USER!r}, password={PASSWORD!r})\n"
                "print(Order.objects.create(customer=user, number=uuid.uuid4().hex[:12]).pk)"
            ).split()[-1]
        )
        token = fetch_access_token(live.url, USER, PASSWORD)
        options = {
            "url": f"{live.url}/hubs/orders",
            "accessToken": token,
            "count": CLIENTS,
            "orderId": order_id,
        }
        with NodeProcess(CROWD, "crowd", options) as node:
            crowd = Crowd(node)
            started = crowd.next_step(timeout=300)
            assert started["connected"] == CLIENTS, started
            assert wait_until(lambda: sum(connections_by_pid(probe).values()) == CLIENTS, 15)
            spread = connections_by_pid(probe)
            assert set(spread) == set(first), spread
            assert min(spread.values()) >= CLIENTS // 5, spread

            live.shell(send_code(order_id, "processing", USER, "before"))
            for key_ in ("status:processing", "tag:before"):
                got = crowd.command("await", key=key_)
                assert (got["once"], got["twice"]) == (CLIENTS, 0), got

            victim = max(spread, key=spread.get)
            survivor = next(pid for pid in spread if pid != victim)
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()
            back = crowd.command("awaitReconnected", count=spread[victim])
            back_in = time.monotonic() - killed_at
            assert back["reconnected"] == spread[victim], back
            assert back["connected"] == CLIENTS, back
            assert back["closed"] == 0, back
            assert back["errors"] == [], back
            # Redis says where they are now: none on the dead worker; the
            # first retries (at once) on the survivor, later ones also on the
            # replacement, which starts a second after the death.
            assert wait_until(lambda: len(workers_of(supervisor)) == 2, 20)
            replacement = next(pid for pid in workers_of(supervisor) if pid != survivor)
            assert replacement != victim
            assert wait_until(
                lambda: (
                    sum(connections_by_pid(probe).get(p, 0) for p in (survivor, replacement))
                    == CLIENTS
                ),
                15,
            )
            assert wait_until(lambda: victim not in connections_by_pid(probe), 10)
            after = connections_by_pid(probe)
            assert after[survivor] > spread[survivor], (spread, after)

            live.shell(send_code(order_id, "shipped", USER, "after"))
            for key_ in ("status:shipped", "tag:after"):
                got = crowd.command("await", key=key_)
                assert (got["once"], got["twice"]) == (CLIENTS, 0), got

            before_drain = crowd.command("state")["reconnecting"]
            live.stop(0)  # SIGTERM to the supervisor
            drained = crowd.command("awaitReconnecting", count=before_drain + CLIENTS)
            assert drained["closed"] == 0, drained
            code = live.returncode(0)
        log = live.log(0)
    finally:
        stack.__exit__(None, None, None)
        probe.close()
        redis.stop()

    assert code == 0, log[-3000:]
    assert f"worker 0 (pid {victim})" in log or f"worker 1 (pid {victim})" in log
    assert "exited with signal SIGKILL; restarting it" in log
    # Every client was closed by a drain (SIGKILL drains nothing).
    drained_counts = [int(n) for n in re.findall(r"closing (\d+) connections for shutdown", log)]
    assert sum(drained_counts) == CLIENTS, drained_counts
    assert all(pid not in {p.pid for p in psutil.process_iter()} for pid in (survivor, replacement))
    # Every client of the victim may be back on the survivor before the
    # replacement has published a snapshot.
    report_number(
        f"--workers 2: {CLIENTS} official clients spread {sorted(spread.values())}; "
        f"{spread[victim]} clients of a SIGKILLed worker reconnected in {back_in:.1f} s "
        f"({after[survivor] - spread[survivor]} to the survivor, "
        f"{after.get(replacement, 0)} to the replacement)"
    )
