"""Stateful reconnect with the official client, through a proxy that cuts TCP.

1,000 numbered events go to one connection (from a server-side task,
through the channel layer, as any broadcast) while the test resets the TCP
connection 20 times at random moments; the client also invokes the server
throughout. The client must get 1..1000 once each, in order, and every
invocation must have run once; the hub sees one connection throughout.
"""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from tests.e2e.conftest import HERE
from tests.live import NodeProcess
from tests.tcp_proxy import CuttableProxy

pytestmark = pytest.mark.e2e

STATEFUL = HERE / "stateful.mjs"
COUNT = 1000
CUTS = 20
TALLIES = 60
#: Seconds a resumed connection is left alone before the next cut.
SETTLED = 0.1


async def stream_through_cuts(base_url: str, port: int, protocol: str, seed: int) -> dict:
    """Run the client through a proxy to `port` while cutting it CUTS times."""
    rng = random.Random(seed)
    async with CuttableProxy(port) as proxy:
        options = {
            "url": f"http://127.0.0.1:{proxy.port}/hubs/resume",
            "protocol": protocol,
            "count": COUNT,
            "delayMs": 6,
            "tallies": TALLIES,
            "tallyEveryMs": 80,
        }
        with NodeProcess(STATEFUL, "stream", options) as node:
            started = json.loads(await asyncio.to_thread(node.expect, "STEP streaming", 60))
            for _ in range(600):  # bounded: about a minute at most
                if proxy.cuts >= CUTS:
                    break
                await asyncio.sleep(rng.uniform(0.03, 0.3))
                # The official client resumes once per drop: a cut while it
                # reconnects or resends ends the connection on its side.
                if proxy.settled(SETTLED):
                    proxy.cut()
            result = await asyncio.to_thread(node.result, 150)
        result["cuts"] = proxy.cuts
    assert started["stateful"] is True
    return result


def assert_exactly_once(result: dict) -> None:
    assert result["cuts"] == CUTS
    assert result["closed"] is None, result["closed"]
    assert result["numbers"] == list(range(1, COUNT + 1))
    assert result["results"] == list(range(1, TALLIES + 1))
    assert result["tallied"] == list(range(1, TALLIES + 1))


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
async def test_numbered_events_arrive_once_in_order_through_abrupt_drops(
    live, node_available, protocol
):
    result = await stream_through_cuts(live.url, live.ports[0], protocol, seed=12)

    assert_exactly_once(result)
    log = live.log()
    assert log.count(f"resumehub on_connected {result['id']}") == 1
    # Stopped by the client at the end: on_disconnected once, not per drop.
    assert log.count(f"resumehub on_disconnected {result['id']}") == 1
