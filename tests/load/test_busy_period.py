"""Regression: hundreds of connections survive a burst of connects and broadcasts.

With channels-redis 4.3 and redis-py 8, a 100-connection pool and a 5 s read
timeout (equal to the layer's 5 s blocking pop) made handshakes fail with 500
and consumers die with TimeoutError under load (redis/redis-py#4091). The
layer and the store now use no read timeout and a large pool; this holds 300
clients through a connect storm and 40 back-to-back broadcasts on one daphne.
"""

import asyncio

import pytest

from tests.support.daphne import LiveStack
from tests.support.http import ws
from tests.support.signalr import HubSocket

pytestmark = pytest.mark.e2e

CLIENTS = 300
BROADCASTS = 40


async def _member(url: str) -> HubSocket:
    client = await HubSocket.open(url, timeout=30)
    await client.invoke("Join", "busy", timeout=60)
    return client


async def _run(live: LiveStack) -> list:
    """Connect and join CLIENTS at once, broadcast, and count what each heard."""
    url = ws(live.url, "/hubs/echo")
    joined = await asyncio.gather(*(_member(url) for _ in range(CLIENTS)), return_exceptions=True)
    clients = [c for c in joined if isinstance(c, HubSocket)]
    sender = (
        "from realtime import hub_context\n"
        f"for i in range({BROADCASTS}):\n"
        "    hub_context('echohub').group('busy').send('Shouted', 'busy', 'x' * 150)\n"
    )
    await asyncio.to_thread(live.shell, sender)
    for _ in range(60):
        if all(c.count("Shouted") == BROADCASTS for c in clients):
            break
        await asyncio.sleep(0.5)
    results = [
        c.count("Shouted") if not c.closed.is_set() else ConnectionError("closed") for c in clients
    ]
    await asyncio.gather(*(c.close() for c in clients))
    return [j for j in joined if not isinstance(j, HubSocket)] + results


def test_hundreds_of_clients_survive_a_busy_period(tmp_path, redis_url):
    with LiveStack(
        tmp_path, redis_url, realtime_options={"MAX_INVOCATIONS_PER_SECOND": 1000}
    ) as live:
        results = asyncio.run(_run(live))
        log = live.log()
    failures = [r for r in results if not isinstance(r, int)]
    assert failures == []
    assert sorted(set(results)) == [BROADCASTS]
    for marker in ("Traceback", "TimeoutError", " 500 ", "dropped"):
        assert marker not in log
