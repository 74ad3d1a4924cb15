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
import time

from tests.support.node import NodeProcess
from tests.support.processes import ROOT
from tests.support.tcp_proxy import CuttableProxy, ProxyThread

STATEFUL = ROOT / "tests" / "e2e" / "stateful.mjs"
STREAM = ROOT / "tests" / "e2e" / "stateful_stream.mjs"
MSGPACK_BUNDLE = "signalr-protocol-msgpack/dist/browser/signalr-protocol-msgpack.min.js"
COUNT = 1000
CUTS = 20
TALLIES = 60
#: Seconds a resumed WebSocket is left alone before the next cut (the client
#: resends what it buffered right after the upgrade).
SETTLED = 0.2


def scenario_options(proxy_port: int, protocol: str) -> dict:
    """The options of tests/e2e/stateful_stream.mjs for a server behind the proxy."""
    return {
        "url": f"http://127.0.0.1:{proxy_port}/hubs/resume",
        "protocol": protocol,
        "count": COUNT,
        "delayMs": 10,
        "tallies": TALLIES,
        "tallyEveryMs": 80,
        "waitMs": 90_000,
    }


def pauses(seed: int):
    """Random pauses between cuts (bounded: about a minute at most)."""
    rng = random.Random(seed)
    return (rng.uniform(0.03, 0.3) for _ in range(600))


# The official client tries one resume per drop: a cut during its upgrade
# request or its resend ends the connection. So a cut waits until the
# resumed WebSocket has been up for SETTLED seconds.


async def stream_through_cuts(port: int, protocol: str, seed: int) -> dict:
    """Run the Node client through a proxy to `port` while cutting it CUTS times."""
    async with CuttableProxy(port) as proxy:
        options = scenario_options(proxy.port, protocol)
        with NodeProcess(STATEFUL, "stream", options) as node:
            started = json.loads(await asyncio.to_thread(node.expect, "STEP streaming", 60))
            for pause in pauses(seed):
                if proxy.cuts >= CUTS:
                    break
                await asyncio.sleep(pause)
                if proxy.settled(SETTLED):
                    proxy.cut()
            result = await asyncio.to_thread(node.result, 150)
        result["cuts"] = proxy.cuts
    assert started["stateful"] is True
    return result


def stream_in_page(page, port: int, protocol: str, seed: int) -> dict:
    """Run the scenario in a browser page through a proxy to `port`, cutting it CUTS times."""
    packages = ROOT / "node_modules" / "@microsoft"
    with ProxyThread(port) as proxy:
        page.goto(f"http://127.0.0.1:{proxy.port}/healthz")  # the origin of the hub
        for bundle in ("signalr/dist/browser/signalr.min.js", MSGPACK_BUNDLE):
            page.add_script_tag(path=packages / bundle)
        exported = f"{STREAM.read_text()}\nwindow.streamNumbers = streamNumbers;"
        page.add_script_tag(content=exported, type="module")
        page.wait_for_function("window.streamNumbers !== undefined")
        page.evaluate(
            """(options) => {
              window.streamProgress = null;
              const msgpack = new signalR.protocols.msgpack.MessagePackHubProtocol();
              streamNumbers(signalR, msgpack, options, (p) => { window.streamProgress = p; })
                .then((r) => { window.streamResult = r; },
                      (e) => { window.streamResult = { fatal: String(e) }; });
            }""",
            scenario_options(proxy.port, protocol),
        )
        page.wait_for_function("window.streamProgress !== null", timeout=60_000)
        started = page.evaluate("window.streamProgress")
        for pause in pauses(seed):
            if proxy.cuts >= CUTS:
                break
            time.sleep(pause)
            if proxy.settled(SETTLED):
                proxy.cut()
        page.wait_for_function("window.streamResult !== undefined", timeout=150_000)
        result = page.evaluate("window.streamResult")
        result["cuts"] = proxy.cuts
    assert "fatal" not in result, result
    assert started["stateful"] is True
    return result


def assert_exactly_once(result: dict) -> None:
    assert result["cuts"] == CUTS
    assert result["closed"] is None, result["closed"]
    missing = sorted(set(range(1, COUNT + 1)) - set(result["numbers"]))
    assert result["incomplete"] is None, f"missing {missing[:50]}"
    assert result["numbers"] == list(range(1, COUNT + 1))
    assert result["results"] == list(range(1, TALLIES + 1))
    assert result["tallied"] == list(range(1, TALLIES + 1))
