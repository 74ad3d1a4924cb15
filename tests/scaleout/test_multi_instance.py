"""Two daphne instances on one Redis and PostgreSQL, behind nginx round-robin.

No sticky sessions: a broadcast reaches clients on every instance whichever
instance (or worker) sent it, and the HTTP transports work although their
requests alternate between instances.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time
import uuid

import pytest

from tests.support.cluster import SCENARIOS
from tests.support.http import http_request, ws
from tests.support.nginx import NGINX_EXAMPLE
from tests.support.node import CLIENT, run_node
from tests.support.processes import wait_until
from tests.support.signalr import HubSocket

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

BROADCASTS = 200
PACE = 0.025


def _directives(config: str) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in config.splitlines())
    return [line for line in lines if line]


def test_the_example_config_balances_round_robin_without_stickiness(cluster):
    example = NGINX_EXAMPLE.read_text()
    directives = _directives(example)
    hubs = _directives(example.split("location /hubs/", 1)[1].split("}", 1)[0])

    assert not [d for d in directives if re.match(r"(ip_hash|hash|sticky|least_conn)\b", d)]
    assert "proxy_set_header Upgrade $http_upgrade;" in directives
    assert "proxy_set_header Connection $connection_upgrade;" in directives
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in directives
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in directives
    assert not [d for d in directives if d.startswith("proxy_ignore_headers")]
    assert "proxy_buffering off;" in hubs
    timeout = next(d for d in hubs if d.startswith("proxy_read_timeout"))
    assert int(re.search(r"(\d+)s;", timeout).group(1)) >= 120
    # Live: consecutive requests through nginx reach both instances in turn.
    for _ in range(4):
        assert http_request("GET", f"{cluster.url}/healthz")[0] == 200
    upstreams = cluster.proxy.upstreams_of("GET", "/healthz")[-4:]
    ports = [u.rsplit(":", 1)[1] for u in upstreams]
    assert sorted(ports) == sorted(str(p) for p in cluster.live.ports * 2), upstreams


def test_a_broadcast_sent_through_instance_b_reaches_a_client_on_instance_a(
    cluster, node_available
):
    group = f"room-{uuid.uuid4().hex[:8]}"
    a, b = cluster.live.urls

    result = run_node(
        SCENARIOS,
        "shout",
        {"listenUrl": f"{a}/hubs/echo", "shoutUrl": f"{b}/hubs/echo", "group": group, "text": "hi"},
    )

    assert result["heard"] == [group, "hi"]
    assert wait_until(lambda: cluster.instance_of(result["listener"]) == 0, timeout=5)
    assert cluster.instance_of(result["shouter"]) == 1


def test_the_worker_s_broadcast_reaches_the_order_s_customer_through_nginx(
    cluster, scenario, node_available
):
    """A change that skipped the signal is delivered by `run_notifier --once`."""
    number = f"S-{uuid.uuid4().hex[:8]}"
    order_id = int(
        cluster.live.shell(
            "from django.contrib.auth import get_user_model\n"
            "from orders.models import Order\n"
            "alice = get_user_model().objects.get(username='alice')\n"
            f"print(Order.objects.create(customer=alice, number={number!r}).pk)"
        ).split()[-1]
    )
    options = {
        "url": f"{cluster.url}/hubs/orders",
        "accessToken": cluster.token("alice"),
        "orderId": order_id,
        "expectStatus": "shipped",
    }
    client = scenario("order", options)
    subscribed = client.next_step(("subscribed",))
    cluster.live.shell(
        "from orders.models import Order\n"
        f"Order.objects.filter(pk={order_id}).update("
        "status='shipped', status_message='Left the warehouse.')"
    )

    swept = cluster.live.manage("run_notifier", "--once")
    result = client.process.result(timeout=30)

    assert subscribed["initial"][:2] == [str(order_id), "pending"]
    assert "published 1 order changes" in swept.stdout
    assert [str(order_id), "shipped", "Left the warehouse."] in result["updates"]


@pytest.mark.parametrize("transport", ["ServerSentEvents", "LongPolling"])
def test_http_transports_work_while_their_requests_alternate_between_instances(
    cluster, node_available, transport
):
    invocations = [["Add", 1, 2], ["Echo", "one"], ["Add", 3, 4], ["Echo", "two"], ["Add", 5, 6]]
    spec = {"url": f"{cluster.url}/hubs/echo", "transport": transport, "invoke": invocations}

    result = run_node(CLIENT, "connect", {"connections": [spec]})

    [outcome] = result["results"]
    assert outcome["started"], outcome
    assert (
        outcome["transport"]
        == {
            "ServerSentEvents": "ServerSentEventsTransport",
            "LongPolling": "LongPollingTransport",
        }[transport]
    )
    assert (outcome["Add"], outcome["Echo"]) == (11, "two")
    connection_id = outcome["connectionId"]
    # Both daphne logs show requests of this one connection, which runs on
    # one of them: the other forwarded what it received.
    assert wait_until(lambda: cluster.connection_logged_on(connection_id) == [0, 1], timeout=5)
    assert cluster.instance_of(connection_id) in (0, 1)


async def _round_trip(sender: HubSocket, listener: HubSocket, group: str) -> float:
    text = uuid.uuid4().hex
    started = time.perf_counter()
    await sender.send("Shout", group, text)
    await listener.event("Shouted", match=lambda _group, heard: heard == text)
    return (time.perf_counter() - started) * 1000


async def test_broadcast_latency_on_one_instance_and_across_two(cluster, report_number):
    """Measure (not assert) what the second instance adds to a broadcast."""
    a, b = (ws(url, "/hubs/echo") for url in cluster.live.urls)
    group = f"latency-{uuid.uuid4().hex[:8]}"
    listener = await HubSocket.open(a)
    same = await HubSocket.open(a)
    across = await HubSocket.open(b)
    try:
        await listener.invoke("Join", group)
        for sender in (same, across):  # warm up both paths
            await _round_trip(sender, listener, group)
        timings: dict[str, list[float]] = {"same": [], "across": []}
        for _ in range(BROADCASTS):
            # Paced below the per-connection rate limit (50 invocations/s).
            pause = asyncio.create_task(asyncio.sleep(PACE))
            timings["same"].append(await _round_trip(same, listener, group))
            timings["across"].append(await _round_trip(across, listener, group))
            await pause
    finally:
        await asyncio.gather(listener.close(), same.close(), across.close())

    medians = {k: statistics.median(v) for k, v in timings.items()}
    p95 = {k: statistics.quantiles(v, n=20)[-1] for k, v in timings.items()}
    report_number(
        f"broadcast latency, {BROADCASTS} broadcasts each: sender and listener on one "
        f"instance median {medians['same']:.2f} ms (p95 {p95['same']:.2f}); sender on the "
        f"other instance median {medians['across']:.2f} ms (p95 {p95['across']:.2f}); "
        f"second-hop overhead {medians['across'] - medians['same']:+.2f} ms"
    )
    assert len(timings["same"]) == len(timings["across"]) == BROADCASTS
