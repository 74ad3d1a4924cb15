"""Regression: hundreds of connections survive a burst of connects and broadcasts.

With channels-redis 4.3 and redis-py 8, a 100-connection pool and a 5 s read
timeout (equal to the layer's 5 s blocking pop) made handshakes fail with 500
and consumers die with TimeoutError under load (redis/redis-py#4091). The
layer and the store now use no read timeout and a large pool; this holds 300
clients through a connect storm and 40 back-to-back broadcasts on one daphne.
"""

import asyncio
import json

import pytest
from websockets.asyncio.client import connect

from tests.live import LiveStack

pytestmark = pytest.mark.e2e

CLIENTS = 300
BROADCASTS = 40
RS = "\x1e"


async def _client(url: str, ready: asyncio.Event, counts: list, index: int, done: asyncio.Event):
    async with connect(url, max_size=2**20, open_timeout=30) as socket:
        await socket.send(json.dumps({"protocol": "json", "version": 1}) + RS)
        assert (await asyncio.wait_for(socket.recv(), 30)) == "{}" + RS
        await socket.send(
            json.dumps({"type": 1, "invocationId": "1", "target": "Join", "arguments": ["busy"]})
            + RS
        )
        counts[index] = 0
        ready.set()
        while not done.is_set():
            try:
                frame = await asyncio.wait_for(socket.recv(), 1)
            except TimeoutError:
                continue
            for part in filter(None, frame.split(RS)):
                message = json.loads(part)
                if message.get("type") == 3:
                    counts[index] = 0  # the Join completion: now a member
                elif message.get("target") == "Shouted":
                    counts[index] += 1
                elif message.get("type") == 6:
                    await socket.send(json.dumps({"type": 6}) + RS)
        return counts[index]


async def _run(live: LiveStack) -> list:
    url = live.url.replace("http://", "ws://") + "/hubs/echo"
    counts: list = [None] * CLIENTS
    done = asyncio.Event()
    readies = [asyncio.Event() for _ in range(CLIENTS)]
    tasks = [asyncio.create_task(_client(url, readies[i], counts, i, done)) for i in range(CLIENTS)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 90)
    await asyncio.sleep(1)  # every Join completed
    sender = (
        "from realtime import hub_context\n"
        f"for i in range({BROADCASTS}):\n"
        "    hub_context('echohub').group('busy').send('Shouted', 'busy', 'x' * 150)\n"
    )
    await asyncio.to_thread(live.shell, sender)
    for _ in range(60):
        if all(c == BROADCASTS for c in counts):
            break
        await asyncio.sleep(0.5)
    done.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    return results


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
