"""``realtime.server --workers 2``: one scrape of /metrics reports both workers.

Real daphne workers under the supervisor, raw SignalR WebSockets and plain
HTTP scrapes (each a new TCP connection, so the kernel hands them to either
worker). Each worker's own count comes from its stats snapshot in Redis.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import psutil
from redis import Redis

from tests.support.daphne import LiveStack
from tests.support.http import http_request, ws
from tests.support.processes import wait_until
from tests.support.prometheus import sample
from tests.support.signalr import HubSocket
from tests.support.worker_stats import connections_by_pid, workers_of

TOKEN = "workers-scrape-token-7c1e9a4b2d8f6e3a"
CLIENTS = 24
SCRAPES = 8
HUB = {"hub": "echohub"}


def scrape(stack: LiveStack) -> str:
    status, _, body = http_request(
        "GET", f"{stack.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert status == 200, body[:500]
    return body.decode()


def counts(stack: LiveStack) -> tuple[float, float]:
    """Open connections and connects of the echo hub, as one scrape reports them."""
    text = scrape(stack)
    assert "pid=" not in text  # summed, not one series per worker
    return (
        sample(text, "realtime_connections_open", **HUB),
        sample(text, "realtime_connects_total", **HUB),
    )


def settled(stack: LiveStack, expected: tuple[float, float]) -> bool:
    """Whether a scrape reports `expected`; False for a scrape cut by a dying worker.

    A connection the kernel queued on a worker's socket as it was SIGKILLed is
    reset: Prometheus would record that one scrape as failed (``up`` 0).
    """
    try:
        return counts(stack) == expected
    except ConnectionError:
        return False


def every_scrape(stack: LiveStack, expected: tuple[float, float]) -> list[tuple[float, float]]:
    """Scrape SCRAPES times; return what differed from `expected` (nothing, when right)."""
    return [got for got in (counts(stack) for _ in range(SCRAPES)) if got != expected]


def test_a_scrape_reports_both_workers_and_survives_a_killed_one(tmp_path, redis_url):
    runtime = tmp_path / "run"  # as systemd's RuntimeDirectory= makes it
    runtime.mkdir()
    stack = LiveStack(
        tmp_path / "stack",
        redis_url,
        env={"METRICS_TOKEN": TOKEN, "RUNTIME_DIRECTORY": str(runtime)},
        realtime_options={"STATS_INTERVAL": 0.5},
        serve_args=("--workers", "2"),
    )
    probe = Redis.from_url(redis_url)
    loop = asyncio.new_event_loop()
    opened: list[HubSocket] = []

    def open_clients(count: int) -> None:
        async def opening() -> list[HubSocket]:
            url = ws(stack.url, "/hubs/echo")
            return list(await asyncio.gather(*(HubSocket.open(url) for _ in range(count))))

        opened.extend(loop.run_until_complete(opening()))

    def close_clients() -> None:
        async def closing() -> None:
            await asyncio.gather(*(client.close() for client in opened))

        loop.run_until_complete(closing())
        opened.clear()

    try:
        with stack:
            supervisor = stack.pid(0)
            assert wait_until(lambda: len(workers_of(supervisor)) == 2, 20)
            first = workers_of(supervisor)
            directories = {psutil.Process(p).environ()["PROMETHEUS_MULTIPROC_DIR"] for p in first}
            assert len(directories) == 1, directories  # one directory for the machine
            assert Path(next(iter(directories))).parent == runtime
            open_clients(CLIENTS)
            assert wait_until(lambda: sum(connections_by_pid(probe, first).values()) == CLIENTS, 20)
            spread = connections_by_pid(probe, first)
            assert len(spread) == 2, spread
            assert min(spread.values()) > 0, spread
            # Neither worker alone holds CLIENTS: every scrape sums both.
            assert every_scrape(stack, (CLIENTS, CLIENTS)) == []

            victim = max(spread, key=spread.get)
            os.kill(victim, signal.SIGKILL)
            alive = CLIENTS - spread[victim]
            # The supervisor marks it dead: its open connections leave the gauge,
            # its connects stay in the counter.
            assert wait_until(lambda: settled(stack, (alive, CLIENTS)), 20), counts(stack)
            assert every_scrape(stack, (alive, CLIENTS)) == []
            assert wait_until(lambda: len(workers_of(supervisor)) == 2, 20)
            replacement = next(p for p in workers_of(supervisor) if p not in first)

            open_clients(CLIENTS)
            assert every_scrape(stack, (alive + CLIENTS, 2 * CLIENTS)) == []
            now = workers_of(supervisor)
            assert wait_until(
                lambda: sum(connections_by_pid(probe, now).values()) == alive + CLIENTS, 20
            )
            assert connections_by_pid(probe, now).get(replacement, 0) > 0

            close_clients()
            assert wait_until(lambda: settled(stack, (0, 2 * CLIENTS)), 20), counts(stack)
            closed = sample(
                scrape(stack), "realtime_disconnects_total", **HUB, reason="client_closed"
            )
            log = stack.log(0)
    finally:
        close_clients()  # after a failure: no reader left on a closed loop
        loop.close()
        probe.close()
    # A SIGKILLed worker counts none of its disconnects; the others count theirs.
    assert closed == alive + CLIENTS, log[-3000:]
    assert f"(pid {victim}) exited with signal SIGKILL; restarting it" in log
    assert not Path(directories.pop()).exists()  # removed with the supervisor
