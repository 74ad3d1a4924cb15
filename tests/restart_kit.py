"""What the Redis-restart tests share: a client that follows one user's order
and notifications as a third-party SignalR client would, and the database's
view of the same user.

`Watcher` holds a WebSocket on /hubs/orders (subscribed to one order) and
one on /hubs/notifications, pings both every few seconds, and answers the
server's ``Resync`` with ``GetNotifications(afterId)`` pages. It keeps what
arrived as events apart from what the catch-up returned, so a test can say
exactly what a duplicate is: a notification id received twice as a
``ReceiveNotification`` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from realtime import conf
from tests.support.daphne import LiveStack
from tests.support.http import fetch_access_token, ws
from tests.support.processes import ROOT
from tests.support.signalr import HubSocket

PING = '{"type":6}\x1e'
PING_EVERY = 5.0
PAGE = 50


class Watcher:
    """One client: its order's state, its unread count, the notifications it has."""

    def __init__(self, orders: HubSocket, notifications: HubSocket, order_id: int) -> None:
        self.orders = orders
        self.notifications = notifications
        self.order_id = order_id
        self.caught_up: set[int] = set()
        self.resyncs = 0
        #: When the last catch-up after a Resync was done (monotonic clock).
        self.caught_up_at: float | None = None
        self.errors: list[str] = []
        self._tasks: list[asyncio.Task] = []

    @classmethod
    async def open(cls, base_url: str, token: str, order_id: int) -> Watcher:
        """Connect both hubs, subscribe to the order, and start pinging."""
        orders = await HubSocket.open(ws(base_url, "/hubs/orders"), token=token, timeout=60)
        await orders.invoke("SubscribeToOrder", order_id, timeout=60)
        notifications = await HubSocket.open(
            ws(base_url, "/hubs/notifications"), token=token, timeout=60
        )
        watcher = cls(orders, notifications, order_id)
        loop = asyncio.get_running_loop()
        watcher._tasks = [loop.create_task(watcher._ping()), loop.create_task(watcher._resync())]
        return watcher

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(PING_EVERY)
            for socket in (self.orders, self.notifications):
                with contextlib.suppress(Exception):
                    await socket.send_text(PING)

    async def _resync(self) -> None:
        while True:
            await self.notifications.event("Resync", timeout=3600)
            self.resyncs += 1
            try:
                await self.catch_up()
                self.caught_up_at = time.monotonic()
            except Exception as exc:
                self.errors.append(repr(exc))

    async def catch_up(self) -> None:
        """Fetch every notification newer than the newest this client has."""
        after = self.newest
        for _ in range(100):
            rows = await self.notifications.invoke("GetNotifications", after, PAGE, timeout=60)
            ids = [int(row["id"]) for row in rows]
            self.caught_up.update(ids)
            if len(rows) < PAGE:
                return
            after = max(ids)

    def received(self) -> Counter[int]:
        """How often each notification id arrived as a ReceiveNotification event."""
        return Counter(
            int(args[0]["id"])
            for name, args in self.notifications.events
            if name == "ReceiveNotification"
        )

    @property
    def known(self) -> set[int]:
        return set(self.received()) | self.caught_up

    @property
    def newest(self) -> int:
        return max(self.known, default=0)

    @property
    def unread(self) -> int | None:
        counts = [a[0] for n, a in self.notifications.events if n == "UnreadCountUpdated"]
        return counts[-1] if counts else None

    @property
    def status(self) -> str | None:
        updates = [
            a[1]
            for n, a in self.orders.events
            if n == "OrderStatusUpdated" and a[0] == str(self.order_id)
        ]
        return updates[-1] if updates else None

    @property
    def open_sockets(self) -> bool:
        return not (self.orders.closed.is_set() or self.notifications.closed.is_set())

    def matches(self, state: dict) -> bool:
        """Whether this client shows what the database holds."""
        return (
            self.unread == state["unread"]
            and self.status == state["status"]
            and self.known >= set(state["ids"])
        )

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.orders.close()
        await self.notifications.close()


def change_status_code(order_id: int, *statuses: str) -> str:
    """Python for `manage.py shell`: change an order's status through the service."""
    return (
        "from orders import services as orders\n"
        "from orders.models import Order\n"
        f"for status in {list(statuses)!r}:\n"
        f"    orders.change_status(Order.objects.get(pk={order_id}), status=status)\n"
    )


def notify_code(username: str, count: int, title: str) -> str:
    """Python for `manage.py shell`: notify a user through the service."""
    return (
        "from django.contrib.auth import get_user_model\n"
        "from notifications import services as notifications\n"
        f"user = get_user_model().objects.get(username={username!r})\n"
        f"for i in range({count}):\n"
        f"    notifications.send_to_user(user, title='{title} %d' % i)\n"
    )


def database_state(live: LiveStack, username: str, order_id: int) -> dict:
    """The user's unread count, notification ids and order status, and what is pending."""
    output = live.shell(
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from notifications.models import Notification\n"
        "from orders.models import Order\n"
        f"user = get_user_model().objects.get(username={username!r})\n"
        "print(json.dumps({\n"
        "    'unread': Notification.objects.unread_for(user).count(),\n"
        "    'ids': list(Notification.objects.filter(recipient=user)\n"
        "                .values_list('pk', flat=True)),\n"
        "    'pending': Notification.objects.pending().filter(recipient=user).count(),\n"
        f"    'unpublished': Order.objects.unpublished().filter(pk={order_id}).count(),\n"
        f"    'status': Order.objects.get(pk={order_id}).status,\n"
        "}))"
    )
    return json.loads(output.strip().splitlines()[-1])


async def converge(
    watchers: list[Watcher], live: LiveStack, username: str, order_id: int, timeout: float
) -> dict:
    """Wait until every client shows the database's state; return that state."""
    deadline = time.monotonic() + timeout
    while True:
        state = await asyncio.to_thread(database_state, live, username, order_id)
        # Reading the database takes a process start: poll the clients between.
        until = min(deadline, time.monotonic() + 5)
        while time.monotonic() < until:
            if all(w.matches(state) for w in watchers):
                return state
            await asyncio.sleep(0.05)
        if time.monotonic() >= deadline:
            return state


def when_redis_answers(live: LiveStack, code: str, url: str | None = None) -> subprocess.Popen:
    """Start `manage.py shell` that waits until Redis (the shard at `url`, by
    default the only one) answers, then runs `code`.

    Started while Redis is down, it publishes the moment Redis is back:
    before any server process can have noticed the restart.
    """
    wait = (
        "import time\n"
        "from django.conf import settings\n"
        "from redis import Redis\n"
        "from redis.exceptions import RedisError\n"
        f"probe = Redis.from_url({url!r} or settings.REDIS_URL, socket_connect_timeout=0.2)\n"
        "for _ in range(1200):\n"
        "    try:\n"
        "        probe.ping()\n"
        "        break\n"
        "    except (RedisError, OSError):\n"
        "        time.sleep(0.02)\n"
    )
    return subprocess.Popen(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", wait + code],
        cwd=ROOT,
        env=live.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def open_watchers(
    live: LiveStack, base_url: str, username: str, password: str, clients: int
) -> tuple[int, list[Watcher]]:
    """Create an order for `username` and open `clients` watchers of it."""
    order_id = int(
        (
            await asyncio.to_thread(
                live.shell,
                "import uuid\n"
                "from django.contrib.auth import get_user_model\n"
                "from orders.models import Order\n"
                f"user = get_user_model().objects.get(username={username!r})\n"
                "print(Order.objects.create(customer=user, number=uuid.uuid4().hex[:12]).pk)",
            )
        ).split()[-1]
    )
    token = await asyncio.to_thread(fetch_access_token, base_url, username, password)
    limit = asyncio.Semaphore(50)

    async def open_one() -> Watcher:
        async with limit:
            return await Watcher.open(base_url, token, order_id)

    return order_id, list(await asyncio.gather(*(open_one() for _ in range(clients))))


def tally(watchers: list[Watcher], final: dict) -> tuple[int, int, int]:
    """Count notifications lost, delivered twice as events, and clients unlike `final`."""
    lost = sum(len(set(final["ids"]) - w.known) for w in watchers)
    twice = sum(sum(1 for n in w.received().values() if n > 1) for w in watchers)
    wrong = sum(not w.matches(final) for w in watchers)
    return lost, twice, wrong


def two_instances(workdir: Path, redis_url: str, postgres_url: str, clients: int) -> LiveStack:
    """Two instances on `redis_url` where one customer may hold 2 sockets per client."""
    return LiveStack(
        workdir,
        redis_url,
        asgi="tests.scaleout.asgi:application",
        instances=2,
        database_url=postgres_url,
        realtime_options={"MAX_CONNECTIONS_PER_USER": 2 * clients + 100},
    )


def rebuilds_logged(logs: str) -> list[tuple[str, str, str]]:
    """Each registry rebuild the instances logged: (cause, connections, milliseconds)."""
    return re.findall(
        r"registry (.*?): (\d+) connections, \d+ groups re-registered in (\d+) ms", logs
    )


def publish_while_down(
    live: LiveStack, username: str, order_id: int, url: str | None = None
) -> subprocess.Popen:
    """While Redis (the shard at `url`) is down: change the order and notify (the
    rows stay pending), and start the publisher of the changes that go out the
    moment it answers again (`when_redis_answers`)."""
    live.shell(
        change_status_code(order_id, "processing", "shipped", "processing")
        + notify_code(username, 2, "While down")
    )
    return when_redis_answers(
        live, change_status_code(order_id, "shipped") + notify_code(username, 1, "Right after"), url
    )


async def sweep_after_restart(
    live: LiveStack, right_after: subprocess.Popen, restarted_at: float
) -> None:
    """Let the publisher started by `publish_while_down` end, then run run_notifier
    1.5 s after the restart (while the registry settles) and wait until 4 s after it."""
    output, _ = await asyncio.to_thread(right_after.communicate, timeout=120)
    assert right_after.returncode == 0, output
    await asyncio.sleep(max(0.0, restarted_at + 1.5 - time.monotonic()))
    await asyncio.to_thread(live.manage, "run_notifier", "--once")
    await asyncio.sleep(max(0.0, restarted_at + 4.0 - time.monotonic()))


async def deliver_and_converge(
    watchers: list[Watcher], live: LiveStack, username: str, order_id: int
) -> tuple[dict, float, int]:
    """Deliver the order with one more notification and sweep; wait until every
    client shows the database's state. Return that state, the seconds it took
    after the sweep, and how many clients still have both sockets open."""
    await asyncio.to_thread(
        live.shell, change_status_code(order_id, "delivered") + notify_code(username, 1, "Later")
    )
    await asyncio.to_thread(live.manage, "run_notifier", "--once")
    swept_at = time.monotonic()
    final = await converge(watchers, live, username, order_id, timeout=90)
    converged_in = time.monotonic() - swept_at
    await asyncio.sleep(2.0)  # a repeat, if any, has arrived by now
    return final, converged_in, sum(w.open_sockets for w in watchers)


async def watchers_in_step(
    live: LiveStack, base_url: str, username: str, password: str, clients: int
) -> tuple[int, list[Watcher]]:
    """`open_watchers`, once the registry settled and a first notification reached them all."""
    order_id, watchers = await open_watchers(live, base_url, username, password, clients)
    await asyncio.sleep(conf.get().REGISTRY_SETTLE)
    await asyncio.to_thread(live.shell, notify_code(username, 1, "Before"))
    before = await converge(watchers, live, username, order_id, timeout=60)
    assert all(w.matches(before) for w in watchers)
    return order_id, watchers


async def seconds_until(complete: Callable[[], bool], since: float, timeout: float = 30) -> float:
    """Poll `complete` (a registry check) until true; return the seconds since `since`."""
    while not complete():
        assert time.monotonic() - since < timeout, f"registry not rebuilt within {timeout:g} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - since


def assert_nothing_lost(watchers: list[Watcher], final: dict, still_open: int) -> None:
    """Every row published, every client open, equal to `final`, resynced once, no repeats."""
    assert (final["pending"], final["unpublished"], final["status"]) == (0, 0, "delivered")
    assert still_open == len(watchers)
    assert tally(watchers, final) == (0, 0, 0)
    assert all(w.resyncs == 1 and not w.errors for w in watchers)
