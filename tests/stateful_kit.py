"""What the stateful reconnect tests share: the official client streaming
numbered events through a TCP proxy that the test cuts at random moments.

1,000 numbered events go to one connection (from a server-side task,
through the channel layer, as any broadcast) while the test resets the TCP
connection 20 times; the client also invokes the server throughout. The
client must get 1..1000 once each, in order, and every invocation must have
run once.
"""

from __future__ import annotations

import asyncio
import json
import random

from tests.live import ROOT, NodeProcess
from tests.tcp_proxy import CuttableProxy

STATEFUL = ROOT / "tests" / "e2e" / "stateful.mjs"
COUNT = 1000
CUTS = 20
TALLIES = 60
#: Seconds a resumed connection is left alone before the next cut.
SETTLED = 0.1


async def stream_through_cuts(port: int, protocol: str, seed: int) -> dict:
    """Run the client through a proxy to `port` while cutting it CUTS times."""
    rng = random.Random(seed)
    async with CuttableProxy(port) as proxy:
        options = {
            "url": f"http://127.0.0.1:{proxy.port}/hubs/resume",
            "protocol": protocol,
            "count": COUNT,
            "delayMs": 10,
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
