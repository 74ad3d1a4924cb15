"""``realtime.server --workers``: the flag's errors, Ctrl-C draining every worker, a crash loop.

Real processes on loopback; the 1,000-client run (spread, broadcasts, a
worker SIGKILLed) is tests/scaleout/test_workers.py.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys

import psutil
import pytest

from config.embedded_redis import free_port
from config.run import web_workers
from realtime.protocol import Close
from realtime.server import workers
from tests.support.daphne import LiveStack
from tests.support.http import ws
from tests.support.processes import ROOT, wait_until
from tests.support.signalr import HubSocket

SERVE = [sys.executable, "-m", "realtime.server"]


def serve(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SERVE, *args],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "error: --workers must be at least 1, got 0"),
        (["--workers", "x"], "error: --workers must be a positive integer or 'auto', got 'x'"),
        (["--workers=-2"], "error: --workers must be at least 1, got -2"),
        (["--workers"], "error: --workers needs a value: a positive integer or 'auto'"),
        (["--workers", "2", "-e", "tcp:8000", "x:app"], "error: --workers needs -p PORT"),
        (["--workers", "2", "-p", "0", "x:app"], "error: --workers needs -p PORT"),
        (["--workers", "2", "-b", "::1", "-p", "8000", "x:app"], "error: --workers needs an IPv4"),
        (
            ["--workers", "2", "-p", "8000", "--fd", "3", "x:app"],
            "error: --workers takes -b/-p only, not -e, -u or --fd",
        ),
    ],
)
def test_a_bad_workers_flag_is_one_line_on_stderr(args, message):
    result = serve(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(message)


def test_auto_is_the_number_of_usable_cores():
    assert workers.parse_count("auto") == len(os.sched_getaffinity(0))
    assert workers.take_option(["-p", "1", "--workers", "3", "app"]) == (3, ["-p", "1", "app"])
    assert workers.take_option(["-p", "1", "app"]) == (1, ["-p", "1", "app"])


def test_a_port_in_use_is_one_line_and_no_worker_starts():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve("--workers", "2", "-b", "127.0.0.1", "-p", str(port), "x:app")
    assert result.returncode == 2
    assert result.stderr == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_a_worker_that_keeps_dying_stops_the_group_with_exit_code_1(tmp_path):
    """Every start fails (the application does not import): restarted, then given up."""
    port = str(free_port())
    result = serve("--workers", "2", "-b", "127.0.0.1", "-p", port, "tests.no_such_module:app")
    assert result.returncode == 1, result.stderr[-2000:]
    restarts = re.findall(
        r"worker (\d) \(pid \d+\) exited with code \d+; restarting", result.stderr
    )
    assert len(restarts) >= workers.RESTART_LIMIT - 1
    assert f", {workers.RESTART_LIMIT} times within 60 s; stopping every worker" in result.stderr
    assert "all workers stopped" in result.stderr


def test_ctrl_c_drains_every_worker(tmp_path, redis_url):
    """SIGINT to the supervisor: each worker closes its clients with allowReconnect."""
    stack = LiveStack(tmp_path / "stack", redis_url, serve_args=("--workers", "2"))

    async def clients() -> list[HubSocket]:
        return list(
            await asyncio.gather(*(HubSocket.open(ws(stack.url, "/hubs/echo")) for _ in range(20)))
        )

    async def closes(sockets: list[HubSocket]) -> list[Close | None]:
        await asyncio.wait_for(asyncio.gather(*(s.closed.wait() for s in sockets)), 30)
        return [s.close_message for s in sockets]

    with stack:
        supervisor = stack.pid(0)
        loop = asyncio.new_event_loop()
        try:
            sockets = loop.run_until_complete(clients())
            os.kill(supervisor, signal.SIGINT)
            messages = loop.run_until_complete(closes(sockets))
        finally:
            loop.close()
        assert wait_until(lambda: stack.returncode(0) is not None, 30)
        log = stack.log(0)
    assert stack.returncode(0) == 0, log[-3000:]
    assert all(m is not None and m.allow_reconnect for m in messages), messages
    drained = [int(n) for n in re.findall(r"closing (\d+) connections for shutdown", log)]
    assert sum(drained) == 20, drained
    assert len([n for n in drained if n]) == 2, drained  # both workers had clients


def test_workers_drain_and_exit_when_the_supervisor_is_killed(tmp_path, redis_url):
    """SIGKILL leaves no orphan holding the port: the workers get SIGTERM."""
    # A SIGKILLed supervisor cannot remove its metrics directory: keep it here.
    stack = LiveStack(
        tmp_path / "stack", redis_url, env={"TMPDIR": str(tmp_path)}, serve_args=("--workers", "2")
    )
    with stack:
        supervisor = stack.pid(0)
        assert wait_until(lambda: len(psutil.Process(supervisor).children()) == 2, 20)
        children = psutil.Process(supervisor).children()
        stack.kill(0)
        gone, alive = psutil.wait_procs(children, timeout=30)
    assert alive == []
    assert {p.pid for p in gone} == {p.pid for p in children}
    assert not _port_open(stack.ports[0])


def _port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, 1),
        ({"DATABASE_URL": "sqlite:///db.sqlite3"}, 1),
        ({"DATABASE_URL": "postgres://shop@127.0.0.1/shop"}, len(os.sched_getaffinity(0))),
        ({"WEB_CONCURRENCY": "3", "DATABASE_URL": "sqlite:///x"}, 3),
    ],
)
def test_make_run_uses_a_worker_per_core_unless_the_database_is_sqlite(env, expected):
    assert web_workers(env) == expected


def test_a_bad_web_concurrency_stops_make_run_in_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "config.run"],
        cwd=ROOT,
        env={**os.environ, "WEB_CONCURRENCY": "0", "REDIS_URL": "redis://127.0.0.1:1/0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == "error: WEB_CONCURRENCY must be at least 1, got 0\n"
    assert result.stdout == ""
