"""Faults with real processes: Redis restarted, an instance killed or stopped,
the notifier killed mid-batch. Nothing is lost; what is duplicated is counted.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from redis import Redis
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from config.embedded_redis import EmbeddedRedis
from realtime import conf
from realtime.protocol import Close
from tests.support.cluster import CLUSTER_OPTIONS, PASSWORD
from tests.support.daphne import LiveStack
from tests.support.http import fetch_access_token, ws
from tests.support.processes import ROOT, wait_until
from tests.support.signalr import HubError, HubSocket, ask_presence

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

TTL = CLUSTER_OPTIONS["PRESENCE_TTL"]
#: Official client retry delays; the first one leaves time to miss something.
SLOW_FIRST_RETRY = [5000, 1000, 1000, 2000, 2000, 5000, 5000]
PENDING_ROWS = 300
#: Seconds Redis stays down in the restart test.
OUTAGE = 5.0


def send_notifications(live: LiveStack, username: str, count: int, title: str) -> list[int]:
    """Notify a user `count` times through the service; return the new ids."""
    output = live.shell(
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from notifications import services\n"
        f"user = get_user_model().objects.get(username={username!r})\n"
        f"rows = [services.send_to_user(user, title='{title} %d' % i) for i in range({count})]\n"
        "print(json.dumps([n.pk for n in rows]))"
    )
    return json.loads(output.strip().splitlines()[-1])


def create_order(live: LiveStack, username: str) -> int:
    output = live.shell(
        "import uuid\n"
        "from django.contrib.auth import get_user_model\n"
        "from orders.models import Order\n"
        f"user = get_user_model().objects.get(username={username!r})\n"
        "print(Order.objects.create(customer=user, number=uuid.uuid4().hex[:12]).pk)"
    )
    return int(output.split()[-1])


def change_order_code(order_id: int, status: str) -> str:
    return (
        "from orders import services as orders\n"
        "from orders.models import Order\n"
        f"orders.change_status(Order.objects.get(pk={order_id}), status={status!r})\n"
    )


def published(database_url: str, ids: list[int]) -> dict[int, bool]:
    with psycopg.connect(database_url) as db:
        rows = db.execute(
            "SELECT id, published_at IS NOT NULL FROM notifications_notification "
            "WHERE id = ANY(%s)",
            (ids,),
        ).fetchall()
    return dict(rows)


def live_counts(client: dict, ids: list[int]) -> dict[int, int]:
    """How often each id arrived as a ReceiveNotification event (0 if never)."""
    return {i: client["live"].get(str(i), 0) for i in ids}


# An instance crashes ------------------------------------------------------------------


def test_clients_of_a_killed_instance_reconnect_resubscribe_and_catch_up(
    cluster, scenario, report_number
):
    token = cluster.token("erin")
    order_id = create_order(cluster.live, "erin")
    url = f"{cluster.url}/hubs/notifications"
    specs = [
        {"label": f"n{i}", "url": url, "accessToken": token, "hub": "notifications"}
        for i in range(3)
    ]
    specs.append(
        {
            "label": "order",
            "url": f"{cluster.url}/hubs/orders",
            "accessToken": token,
            "hub": "orders",
            "orders": [order_id],
        }
    )
    client = scenario("watch", {"connections": specs, "delays": SLOW_FIRST_RETRY})
    started = client.ready()
    first_ids = {c["label"]: c["connectionIds"][0] for c in started}
    assert wait_until(
        lambda: all(cluster.instance_of(cid) is not None for cid in first_ids.values()), 5
    )
    placement = {label: cluster.instance_of(cid) for label, cid in first_ids.items()}
    victim = Counter(placement.values()).most_common(1)[0][0]
    survivor = 1 - victim
    doomed = sorted(label for label, i in placement.items() if i == victim)

    cluster.live.kill(victim)
    killed_at = time.monotonic()
    dropped = set()
    while not set(doomed) <= dropped:
        dropped.add(client.next_step(("reconnecting",), timeout=15)["label"])
    # While they wait to retry: notifications and an order change they miss.
    missed = json.loads(
        cluster.live.shell(
            "import json\n"
            "from django.contrib.auth import get_user_model\n"
            "from notifications import services\n"
            "user = get_user_model().objects.get(username='erin')\n"
            "ids = [services.send_to_user(user, title='Missed %d' % i).pk for i in range(3)]\n"
            + change_order_code(order_id, "shipped")
            + "print(json.dumps(ids))"
        ).splitlines()[-1]
    )
    client.command("awaitReconnected", labels=doomed, timeoutMs=30000)
    caught_up = client.command("await", ids=missed, timeoutMs=15000)
    recovered_in = time.monotonic() - killed_at
    client.command("awaitOrder", labels=["order"], orderId=order_id, status="shipped")
    # Live delivery works on the new instance: user group and order group.
    fresh = send_notifications(cluster.live, "erin", 2, "Back")
    cluster.live.shell(change_order_code(order_id, "delivered"))
    client.command("await", ids=fresh)
    client.command("awaitOrder", labels=["order"], orderId=order_id, status="delivered")
    views = []
    while not views or time.monotonic() - killed_at < TTL + 5:
        views.append(asyncio.run(ask_presence(cluster.live.urls[survivor], cluster.users["erin"])))
        if not {f"|{first_ids[label]}" for label in doomed} & {
            member[member.index("|") :] for member in views[-1]["connections"]
        }:
            break
        time.sleep(0.2)
    final = {c["label"]: c for c in client.stop()}

    report_number(
        f"official client: {len(doomed)} connection(s) of a SIGKILLed instance reconnected "
        f"through nginx and caught up {recovered_in:.1f} s after the kill "
        f"(first retry delay {SLOW_FIRST_RETRY[0] / 1000:.0f} s)"
    )
    for label in doomed:
        state = next(c for c in caught_up if c["label"] == label)
        new_id = final[label]["connectionIds"][-1]
        assert final[label]["reconnects"] >= 1
        assert cluster.instance_of(new_id) == survivor
        assert final[label]["errors"] == []
        if label != "order":
            # Missed while away, so they came from GetNotifications, not live.
            assert {str(i) for i in missed} <= set(state["caughtUp"])
    for label, state in final.items():
        if label != "order":
            counts = live_counts(state, missed + fresh)
            assert all(counts[i] <= 1 for i in missed), counts
            assert all(counts[i] == 1 for i in fresh), counts
    statuses = [event[1] for event in final["order"]["orderEvents"]]
    assert statuses[-2:] == ["shipped", "delivered"]
    # Presence no longer lists the dead instance's connections, and lists the new ones.
    members = {m.split("|", 1)[1] for m in views[-1]["connections"]}
    assert not {first_ids[label] for label in doomed} & members
    assert {final[label]["connectionIds"][-1] for label in final} <= members


def test_long_polling_clients_of_a_killed_instance_are_back_within_seconds(
    cluster, scenario, report_number
):
    """The owner's death is noticed in seconds: polls and sends answer 404, clients
    reconnect through nginx and re-subscribe, and no invocation hangs."""
    # Two users, ten clients each, each user's clients on their own order.
    order_ids = {user: create_order(cluster.live, user) for user in ("heidi", "ivan")}
    specs = []
    for user, order_id in order_ids.items():
        token = cluster.token(user)
        specs += [
            {
                "label": f"{user}-{i}",
                "url": f"{cluster.url}/hubs/orders",
                "accessToken": token,
                "orderId": order_id,
            }
            for i in range(10)
        ]
    client = scenario(
        "polls",
        {
            "connections": specs,
            "delays": [0, 500, 1000, 1000, 2000, 2000],
            "everyMs": 1000,
            "hungMs": 30000,
        },
    )
    started = client.ready()
    ids = {c["label"]: c["connectionIds"][0] for c in started}
    assert wait_until(lambda: all(cluster.instance_of(i) is not None for i in ids.values()), 5)
    placement = {label: cluster.instance_of(cid) for label, cid in ids.items()}
    victim = Counter(placement.values()).most_common(1)[0][0]
    doomed = sorted(label for label, i in placement.items() if i == victim)
    time.sleep(1)  # invocations are flowing

    cluster.live.kill(victim)
    killed_at, killed_ms = time.monotonic(), time.time() * 1000
    back = client.command("back", labels=doomed, timeoutMs=20000)
    back_in = time.monotonic() - killed_at
    timelines = {
        c["label"]: [(round((at - killed_ms) / 1000, 2), what) for at, what in c["timeline"]]
        for c in back
        if c["label"] in doomed
    }
    cluster.live.shell("".join(change_order_code(i, "shipped") for i in order_ids.values()))
    client.command("order", status="shipped", timeoutMs=15000)
    client.process.reply(json.dumps({"cmd": "stop"}))
    result = client.process.result(timeout=60)

    noticed = max(times[0][0] for times in timelines.values())
    report_number(
        f"long polling: {len(doomed)} official clients of a SIGKILLed instance told within "
        f"{noticed:.1f} s, back and re-subscribed through nginx {back_in:.1f} s after the kill; "
        f"{result['calls']['ok']} invocations answered, {result['calls']['rejected']} rejected "
        f"when their connection closed, {result['calls']['hung']} hung"
    )
    assert len(doomed) >= 10
    assert back_in < 10, timelines
    assert result["calls"]["hung"] == 0, (killed_ms, placement, result["calls"]["hungCalls"])
    for state in result["clients"]:
        assert state["state"] == "Connected", state
        assert "shipped" in state["statuses"], state
        if state["label"] in doomed:
            assert cluster.instance_of(state["connectionIds"][-1]) == 1 - victim


async def test_graceful_shutdown_tells_clients_to_reconnect(cluster):
    url = ws(cluster.live.urls[1], "/hubs/echo")
    sockets = [await HubSocket.open(url) for _ in range(3)]

    await asyncio.to_thread(cluster.live.stop, 1)
    closes = [await socket.wait_closed(timeout=10) for socket in sockets]

    assert closes == [Close(error="Server is shutting down.", allow_reconnect=True)] * len(sockets)


# Redis restarts -------------------------------------------------------------------------


def test_instances_and_clients_recover_from_a_redis_restart(
    cluster, postgres_url, nginx, scenario, tmp_path, report_number
):
    """Outbox: what could not be published while Redis was down goes out afterwards, once."""
    redis = EmbeddedRedis(tmp_path / "redis").start()
    port = redis.port
    try:
        with LiveStack(
            tmp_path / "stack",
            redis.url,
            asgi="tests.scaleout.asgi:application",
            instances=2,
            database_url=postgres_url,
            realtime_options=CLUSTER_OPTIONS,
        ) as live:
            proxy = nginx(live.urls)
            token = fetch_access_token(proxy.url, "frank", PASSWORD)
            specs = [
                {"label": f"via-nginx-{i}", "url": f"{proxy.url}/hubs/notifications"}
                for i in range(2)
            ] + [
                {"label": f"on-{i}", "url": f"{url}/hubs/notifications"}
                for i, url in enumerate(live.urls)
            ]
            for spec in specs:
                spec.update(accessToken=token, hub="notifications")
            client = scenario("watch", {"connections": specs, "delays": [0, 500, *[1000] * 20]})
            client.ready()
            # A fresh Redis: sends wait for its first registry epoch to settle.
            time.sleep(conf.get().REGISTRY_SETTLE)
            before = send_notifications(live, "frank", 1, "Before")
            client.command("await", ids=before)

            redis.stop()
            stopped_at = time.monotonic()
            pending = send_notifications(live, "frank", 3, "While Redis is down")
            pending_state = published(postgres_url, pending)
            # Long enough for failed sweeps and the backplane's receive back-off.
            time.sleep(max(0.0, OUTAGE - (time.monotonic() - stopped_at)))
            redis = EmbeddedRedis(tmp_path / "redis", port=port).start()
            restarted_at = time.monotonic()
            outage = restarted_at - stopped_at

            # The instances reconnect by themselves: heartbeats and presence return.
            keys = Redis.from_url(redis.url)
            assert wait_until(lambda: len(keys.keys("rt:proc:*")) == 2, timeout=TTL + 5)
            user_id = cluster.users["frank"]
            assert wait_until(
                lambda: all(
                    len(asyncio.run(ask_presence(url, user_id))["connections"]) == len(specs)
                    for url in live.urls
                ),
                timeout=TTL + 10,
                interval=0.5,
            )
            recovered_in = time.monotonic() - restarted_at
            keys.close()
            # A batch within REGISTRY_SETTLE of the restart leaves rows pending
            # (the registry may be incomplete): the next batch sends them.
            batches = 0
            while not all(published(postgres_url, pending).values()) and batches < 10:
                if batches:
                    time.sleep(1)
                live.manage("run_notifier", "--once")
                batches += 1
            client.command("await", ids=pending, timeoutMs=20000)
            after = send_notifications(live, "frank", 2, "After")
            client.command("await", ids=after, timeoutMs=20000)
            final = client.stop()
    finally:
        redis.stop()

    report_number(
        f"Redis stopped and restarted on its port ({outage:.1f} s down): both instances "
        f"re-registered by themselves within {recovered_in:.1f} s; client reconnects: "
        f"{sum(state['reconnects'] for state in final)} (their WebSockets stayed open); the "
        f"{len(pending)} notifications sent meanwhile went out with run_notifier ({batches} "
        "batch(es)), once each"
    )

    assert pending_state == dict.fromkeys(pending, False)
    assert published(postgres_url, pending) == dict.fromkeys(pending, True)
    for state in final:
        assert state["state"] == "Connected"
        assert live_counts(state, before + pending + after) == dict.fromkeys(
            before + pending + after, 1
        ), state["label"]


# The notifier dies --------------------------------------------------------------------------


def _start_notifier(env: dict, log: Path) -> subprocess.Popen:
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "manage.py", "run_notifier", "--interval", "0.1", "--batch", "50"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def _stop(process: subprocess.Popen | None, *, kill: bool) -> None:
    if process is not None and process.poll() is None:
        process.kill() if kill else process.terminate()
    if process is not None:
        process.wait(timeout=10)


async def _published(db, ids: list[int]) -> set[int]:
    cursor = await db.execute(
        "SELECT id FROM notifications_notification WHERE id = ANY(%s) AND published_at IS NOT NULL",
        (ids,),
    )
    return {row[0] for row in await cursor.fetchall()}


def _received(client: HubSocket) -> list[int]:
    return [int(args[0]["id"]) for name, args in client.events if name == "ReceiveNotification"]


async def test_run_notifier_killed_mid_batch_loses_nothing(
    cluster, postgres_url, tmp_path, report_number
):
    """Every row goes out; a row is sent twice only if the kill fell between its
    send and its `published_at` update (the at-least-once window)."""
    token = await asyncio.to_thread(cluster.token, "grace")
    client = await HubSocket.open(ws(cluster.url, "/hubs/notifications"), token=token)
    # Rows left pending (as after a crash between commit and publish).
    output = await asyncio.to_thread(
        cluster.live.shell,
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from notifications.models import Notification\n"
        "user = get_user_model().objects.get(username='grace')\n"
        "rows = Notification.objects.bulk_create(\n"
        f"    Notification(recipient=user, title='Pending %d' % i) for i in range({PENDING_ROWS})\n"
        ")\n"
        "print(json.dumps([n.pk for n in rows]))",
    )
    ids = json.loads(output.splitlines()[-1])
    log = tmp_path / "run_notifier.log"
    first = _start_notifier(cluster.live.env, log)
    second = None
    try:
        # Kill the worker the moment the client has the 30th notification:
        # it is then marking that row published, or already on the next one.
        deadline = time.monotonic() + 60
        while len(_received(client)) < 30 and time.monotonic() < deadline:
            assert first.poll() is None, log.read_text()
            await asyncio.sleep(0.001)
        first.kill()
        await asyncio.to_thread(first.wait, 10)
        received_at_kill = set(_received(client))
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as db:
            published_at_kill = await _published(db, ids)
            cursor = await db.execute(
                "SELECT id FROM notifications_notification WHERE id = ANY(%s) "
                "AND published_at IS NULL AND claimed_until > now()",
                (ids,),
            )
            in_flight = sorted(row[0] for row in await cursor.fetchall())
            # The dead worker's lease (60 s) holds those rows back; let it pass.
            await db.execute(
                "UPDATE notifications_notification SET claimed_until = now() - interval '1 s' "
                "WHERE id = ANY(%s) AND published_at IS NULL AND claimed_until IS NOT NULL",
                (ids,),
            )
            second = _start_notifier(cluster.live.env, log)
            deadline = time.monotonic() + 60
            while len(await _published(db, ids)) < len(ids) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            all_published = len(await _published(db, ids)) == len(ids)
        deadline = time.monotonic() + 30
        while not set(ids) <= set(_received(client)) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # anything sent twice has arrived by now
    finally:
        _stop(first, kill=True)
        _stop(second, kill=False)
        await client.close()

    counts = Counter(_received(client))
    duplicates = sorted(i for i in ids if counts[i] > 1)
    window = sorted(received_at_kill - published_at_kill)
    report_number(
        f"run_notifier SIGKILLed with {len(published_at_kill)}/{len(ids)} rows published and "
        f"{len(received_at_kill)} received; claimed but unpublished at the kill: {in_flight}; "
        f"sent but unpublished at the kill: {window}; delivered twice: {duplicates or 'none'}; "
        f"lost: {[i for i in ids if not counts[i]] or 'none'}"
    )
    assert all_published, log.read_text()
    assert 0 < len(published_at_kill) < len(ids)
    assert all(counts[i] >= 1 for i in ids)  # none lost
    assert len(in_flight) <= 1  # one worker, one row at a time
    # Sent twice: exactly the rows the dead worker had sent but not yet marked.
    assert duplicates == window


# Numbers ---------------------------------------------------------------------------------


async def _recover(
    old: HubSocket, url: str, token: str, last_seen: int, missed: set[int], failures: Counter
):
    await old.wait_closed(timeout=30)
    # As a real client does: reconnect, catch up, and start over if the new
    # connection is closed before the catch-up answered (a loaded machine).
    for _ in range(300):
        socket = None
        try:
            socket = await HubSocket.open(url, token=token, timeout=30)
            rows = await socket.invoke("GetNotifications", last_seen, 50, timeout=60)
        except (OSError, TimeoutError, InvalidHandshake, HubError, ConnectionClosed) as exc:
            failures[type(exc).__name__] += 1
            if socket is not None:
                await socket.close()
            await asyncio.sleep(0.2 + random.random() * 0.3)
            continue
        assert missed <= {int(row["id"]) for row in rows}
        return time.monotonic(), socket
    raise AssertionError("could not reconnect and catch up")


async def test_time_for_many_clients_of_a_killed_instance_to_reconnect_and_catch_up(
    cluster, report_number
):
    """Measure (not assert) reconnect plus catch-up time for N raw clients."""
    count = int(os.environ.get("SCALEOUT_CLIENTS", "1000"))
    token = await asyncio.to_thread(cluster.token, "bob")
    # Missed while away: newer than the last notification the clients saw.
    newest = await asyncio.to_thread(send_notifications, cluster.live, "bob", 1, "Seen")
    missed = await asyncio.to_thread(send_notifications, cluster.live, "bob", 3, "Missed")
    victim = ws(cluster.live.urls[1], "/hubs/notifications")
    limit = asyncio.Semaphore(100)

    async def connect_one() -> HubSocket:
        async with limit:
            return await HubSocket.open(victim, token=token, timeout=30)

    started = time.monotonic()
    sockets = await asyncio.gather(*(connect_one() for _ in range(count)))
    connected_in = time.monotonic() - started
    await asyncio.to_thread(cluster.live.kill, 1)
    killed_at = time.monotonic()
    url = ws(cluster.url, "/hubs/notifications")
    failures: Counter = Counter()
    try:
        outcomes = await asyncio.wait_for(
            asyncio.gather(
                *(_recover(s, url, token, newest[0], set(missed), failures) for s in sockets)
            ),
            timeout=180,
        )
    finally:
        await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
    await asyncio.gather(*(socket.close() for _, socket in outcomes), return_exceptions=True)

    delays = sorted(at - killed_at for at, _ in outcomes)
    report_number(
        f"{count} raw WebSocket clients of a SIGKILLed instance (connected to it in "
        f"{connected_in:.1f} s): all reconnected through nginx and caught up with "
        f"GetNotifications in {delays[-1]:.1f} s (median {statistics.median(delays):.1f} s, "
        f"p95 {delays[int(len(delays) * 0.95) - 1]:.1f} s; failed attempts retried: "
        f"{dict(failures) or 'none'})"
    )
    assert len(outcomes) == count
