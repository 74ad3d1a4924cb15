"""`curl /metrics` with the scrape token on a live daphne, while real clients work."""

from __future__ import annotations

import asyncio
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from websockets.exceptions import InvalidStatus

from tests.support.daphne import LiveStack
from tests.support.http import ws
from tests.support.processes import wait_until
from tests.support.prometheus import sample
from tests.support.signalr import HubSocket

pytestmark = pytest.mark.e2e

TOKEN = "live-scrape-token-4f9a1c2e7b8d0a3f5e6c"
CLIENTS = 5


@pytest.fixture(scope="module")
def metered(tmp_path_factory, redis_url):
    with LiveStack(
        tmp_path_factory.mktemp("metered"),
        redis_url,
        env={"METRICS_TOKEN": TOKEN},
        realtime_options={"STATS_INTERVAL": 0.5},
    ) as stack:
        yield stack


def curl_metrics(stack: LiveStack, token: str | None = TOKEN) -> tuple[int, str]:
    command = ["curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}", f"{stack.url}/metrics"]
    if token is not None:
        command += ["-H", f"Authorization: Bearer {token}"]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
    body, _, status = completed.stdout.rpartition("\n")
    return int(status), body


def scrape(stack: LiveStack) -> str:
    status, body = curl_metrics(stack)
    assert status == 200, body
    return body


async def drive(stack: LiveStack) -> tuple[str, str]:
    """Connect clients, invoke and broadcast; scrape while open and after closing."""
    clients = [await HubSocket.open(ws(stack.url, "/hubs/echo")) for _ in range(CLIENTS)]
    try:
        for client in clients:
            assert await client.invoke("Add", 2, 3) == 5
            await client.invoke("Join", "metered")
        await clients[0].invoke("Shout", "metered", "hello")
        for client in clients:
            await client.event("Shouted")
        with pytest.raises(InvalidStatus):
            await HubSocket.open(ws(stack.url, "/hubs/secure"))  # anonymous: refused
        # The stats loop pings Redis every STATS_INTERVAL.
        await asyncio.to_thread(
            wait_until,
            lambda: sample(scrape(stack), "realtime_redis_roundtrip_seconds_count") > 0,
            20,
        )
        while_open = await asyncio.to_thread(scrape, stack)
    finally:
        for client in clients:
            await client.close()
    await asyncio.to_thread(
        wait_until,
        lambda: sample(scrape(stack), "realtime_connections_open", hub="echohub") == 0,
        20,
    )
    return while_open, await asyncio.to_thread(scrape, stack)


def test_metrics_show_live_values_while_clients_work(metered):
    assert curl_metrics(metered, token=None)[0] == 401
    assert curl_metrics(metered, token=TOKEN + "x")[0] == 401

    # On a thread of its own: a session's sync Playwright leaves its loop marked
    # running on the main thread.
    with ThreadPoolExecutor(1) as pool:
        open_, closed = pool.submit(asyncio.run, drive(metered)).result(timeout=300)

    assert sample(open_, "realtime_connections_open", hub="echohub", transport="WebSockets") == (
        CLIENTS
    )
    assert sample(open_, "realtime_connects_total", hub="echohub") >= CLIENTS
    assert (
        sample(open_, "realtime_invocations_total", hub="echohub", method="Add", outcome="ok")
        >= CLIENTS
    )
    assert sample(open_, "realtime_invocation_duration_seconds_count", method="Add") >= CLIENTS
    assert sample(open_, "realtime_messages_sent_total", hub="echohub", target="Shouted") >= 1
    assert sample(open_, "realtime_fanout_duration_seconds_count") >= 1
    assert sample(open_, "realtime_backplane_lag_seconds_count") >= 1
    assert sample(open_, "realtime_frames_sent_total") >= CLIENTS
    assert sample(open_, "realtime_sent_bytes_total") > 0
    assert (
        sample(open_, "realtime_refusals_total", reason="anonymous user on an authenticated hub")
        >= 1
    )
    assert sample(open_, "realtime_redis_roundtrip_seconds_count") >= 1
    for family in (
        "realtime_messages_dropped_total",
        "realtime_send_failures_total",
        "realtime_redis_errors_total",
        "realtime_long_poll_buffers",
    ):
        assert re.search(rf"^{family}(\{{.*\}})? 0\.0$", open_, re.MULTILINE), family
    assert sample(closed, "realtime_connections_open", hub="echohub") == 0
    assert sample(closed, "realtime_disconnects_total", hub="echohub", reason="client_closed") >= (
        CLIENTS
    )
    assert TOKEN not in metered.log(0)
