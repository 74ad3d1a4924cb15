"""Abusive clients against a live daphne: log floods, clients that never read or send too fast.

One daphne process (`realtime.server`, as deployed) over the test hubs. The
stack closes no connection for its refused invocations, so that the flood
below runs its whole length and what it costs in the log is measured.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from bench.slowreaders import Flood, SlowReader, invocation
from tests.e2e.wire import negotiate, ws_url
from tests.support.daphne import LiveStack
from tests.support.http import http_request
from tests.support.processes import wait_until
from tests.support.signalr import HANDSHAKE, RS

OPTIONS = {"MAX_REFUSED_INVOCATIONS": 1_000_000}
STAFF = ("sam", "sam-pass-1")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_url) -> LiveStack:
    with LiveStack(tmp_path_factory.mktemp("abuse"), redis_url, realtime_options=OPTIONS) as stack:
        yield stack


@pytest.fixture(scope="module")
def staff_cookie(stack) -> str:
    username, password = STAFF
    output = stack.shell(
        "from django.contrib.auth import get_user_model\n"
        "from django.test import Client\n"
        f"user = get_user_model().objects.create_superuser({username!r}, password={password!r})\n"
        "client = Client()\n"
        "client.force_login(user)\n"
        "print(client.cookies['sessionid'].value)"
    )
    return f"sessionid={output.split()[-1]}"


@pytest.fixture(scope="module")
def access_token(stack) -> str:
    return stack.shell(
        "from django.contrib.auth import get_user_model\n"
        "from realtime.auth import issue_access_token\n"
        "user = get_user_model().objects.create_user('mallory', password='mallory-pass-1')\n"
        "print(issue_access_token(user))"
    ).split()[-1]


def counters(stack: LiveStack, cookie: str) -> dict:
    status, _, body = http_request(
        "GET", f"{stack.url}/realtime/metrics", headers={"Cookie": cookie}
    )
    assert status == 200, body
    return json.loads(body)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def log_lines(stack: LiveStack, text: str) -> list[str]:
    return [line for line in stack.log().splitlines() if text in line]


async def handshake(websocket) -> None:
    await websocket.send(HANDSHAKE.decode())
    assert await websocket.recv() == "{}" + RS.decode()


async def count_records(websocket, counts: dict) -> None:
    """Read every frame until the socket closes; count records by type."""
    async for frame in websocket:
        data = frame.encode() if isinstance(frame, str) else frame
        for raw in data.split(RS)[:-1]:
            record = json.loads(raw)
            key = record.get("target") or record.get("type")
            counts[key] = counts.get(key, 0) + 1


async def test_a_flood_of_refused_invocations_writes_a_few_short_log_lines(stack):
    """10,000 invocations of a 30,000-character unknown target: a bounded log."""
    log = stack.log_path()
    before = log.stat().st_size
    record = invocation("A" * 30_000).decode()
    counts: dict = {}
    async with connect(ws_url(stack), max_size=None) as websocket:
        await handshake(websocket)
        reader = asyncio.create_task(count_records(websocket, counts))
        for _ in range(10_000):
            await websocket.send(record)
        # Every invocation is answered (an error Completion): all were handled.
        await asyncio.to_thread(wait_until, lambda: counts.get(3, 0) >= 10_000, 120)
        assert counts.get(3) == 10_000
        reader.cancel()
    assert await asyncio.to_thread(
        wait_until, lambda: log_lines(stack, "more invocations from"), 15
    ), "no summary line"

    growth = log.stat().st_size - before
    assert growth < 16 * 1024, f"the log grew by {growth:,} bytes"
    assert all(len(line) < 400 for line in stack.log().splitlines()[-40:])


async def test_a_newline_in_a_target_cannot_forge_a_log_line(stack):
    forged = "2026-01-01 00:00:00,000 WARNING realtime.connection: FORGED-ENTRY"
    async with connect(ws_url(stack)) as websocket:
        await handshake(websocket)
        await websocket.send(invocation(f"Nope\n{forged}", invocation_id="9").decode())
        reply = json.loads((await websocket.recv()).rstrip(RS.decode()))
        assert reply["invocationId"] == "9"
        assert "error" in reply
    assert await asyncio.to_thread(wait_until, lambda: log_lines(stack, "FORGED-ENTRY"), 10)

    for line in log_lines(stack, "FORGED-ENTRY"):
        assert not line.startswith(forged)
        assert "Nope\\n2026" in line


async def shout_until(websocket, stop, *, text: str, deadline: float) -> tuple[int, list[str]]:
    """Shout to "news" about 20 times a second until `stop()`; return sent and received.

    One shout at a time, as a well-behaved client: a shout the server
    refuses (its rate limit, when a loaded machine stalls the server and the
    queued calls arrive as one burst) is sent again after a pause, so every
    number 1..sent must arrive. `stop` is asked every tenth shout (it may
    cost an HTTP request).
    """
    sent = 0
    received: list[str] = []
    completions: asyncio.Queue = asyncio.Queue()

    async def read() -> None:
        async for frame in websocket:
            for raw in frame.encode().split(RS)[:-1]:
                record = json.loads(raw)
                if record.get("target") == "Shouted":
                    received.append(record["arguments"][1][:8])
                elif record.get("type") == 3:
                    completions.put_nowait(record)

    reading = asyncio.create_task(read())
    try:
        while not (sent % 10 == 0 and stop()) and time.monotonic() < deadline:
            sent += 1
            while True:
                record = invocation("Shout", "news", f"{sent:08d}{text}", invocation_id=str(sent))
                await websocket.send(record.decode())
                completion = await asyncio.wait_for(completions.get(), 30)
                assert completion["invocationId"] == str(sent), completion
                if "error" not in completion:
                    break
                assert completion["error"] == "Too many invocations; slow down.", completion
                await asyncio.sleep(0.5)
            await asyncio.sleep(0.05)
        # What was sent last arrives within a few seconds.
        end = time.monotonic() + 10
        while len(received) < sent and time.monotonic() < end:
            await asyncio.sleep(0.05)
    finally:
        reading.cancel()
    return sent, received


async def test_clients_that_never_read_are_closed_counted_and_logged_once(stack, staff_cookie):
    pid = stack.pid()
    closed_before = counters(stack, staff_cookie).get("slow_consumers_closed", 0)
    lines_before = len(log_lines(stack, "slow consumer"))
    baseline = rss_mib(pid)
    peak = baseline
    async with connect(ws_url(stack), max_size=None) as websocket:
        await handshake(websocket)
        await websocket.send(invocation("Join", "news", invocation_id="j").decode())
        await websocket.recv()
        readers = [SlowReader(stack.ports[0], "/hubs/echo").open() for _ in range(10)]
        for reader in readers:
            reader.send(invocation("Join", "news", invocation_id="j"))
        with Flood(readers, invocation("Echo", "x" * 1000)).start(duration=60):

            def all_closed() -> bool:
                nonlocal peak
                peak = max(peak, rss_mib(pid))
                return all(reader.closed for reader in readers)

            sent, received = await shout_until(
                websocket, all_closed, text="y" * 16_000, deadline=time.monotonic() + 60
            )
        assert all(reader.closed for reader in readers), "a client that never reads is still open"

    # The normal client got every broadcast, in order, while the others piled up.
    assert received == [f"{n:08d}" for n in range(1, sent + 1)]
    assert await asyncio.to_thread(
        wait_until,
        lambda: counters(stack, staff_cookie).get("slow_consumers_closed", 0) - closed_before >= 10,
        10,
    )
    assert counters(stack, staff_cookie)["slow_consumers_closed"] - closed_before == 10
    assert len(log_lines(stack, "slow consumer")) - lines_before == 10
    assert peak - baseline < 60, f"RSS grew from {baseline:.0f} to {peak:.0f} MiB"


class SlowEventStream:
    """An SSE connection whose stream is never read (4 KiB receive buffer)."""

    def __init__(self, stack: LiveStack) -> None:
        self.token = negotiate(stack)["connectionToken"]
        self.port = stack.ports[0]
        self.url = f"{stack.url}/hubs/echo?id={self.token}"
        self.sock: socket.socket | None = None

    def open(self) -> SlowEventStream:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(15)
        sock.connect(("127.0.0.1", self.port))
        sock.sendall(
            f"GET /hubs/echo?id={self.token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert b" 200 " in head.split(b"\r\n", 1)[0], head
        self.sock = sock
        assert http_request("POST", self.url, data=HANDSHAKE)[0] == 200
        assert http_request("POST", self.url, data=invocation("Join", "news"))[0] == 200
        return self

    def gone(self) -> bool:
        """Whether the server ended the stream (a POST is refused once it has)."""
        return http_request("POST", self.url, data=invocation("Echo", 1))[0] != 200


async def test_an_event_stream_that_is_never_read_is_closed_and_counted(stack, staff_cookie):
    closed_before = counters(stack, staff_cookie).get("slow_consumers_closed", 0)
    async with connect(ws_url(stack), max_size=None) as websocket:
        await handshake(websocket)
        await websocket.send(invocation("Join", "news", invocation_id="j").decode())
        await websocket.recv()
        streams = [SlowEventStream(stack).open() for _ in range(2)]
        sent, received = await shout_until(
            websocket,
            lambda: (
                counters(stack, staff_cookie).get("slow_consumers_closed", 0) - closed_before >= 2
            ),
            text="z" * 16_000,
            deadline=time.monotonic() + 60,
        )
    assert counters(stack, staff_cookie)["slow_consumers_closed"] - closed_before == 2
    for stream in streams:
        assert await asyncio.to_thread(wait_until, stream.gone, 10)
    assert received == [f"{n:08d}" for n in range(1, sent + 1)]
    for stream in streams:
        stream.sock.close()


async def test_a_client_sending_faster_than_its_methods_run_is_read_no_faster(stack, access_token):
    """Invocations that wait for the database pile up in TCP, not in the server."""
    pid = stack.pid()
    baseline = peak = rss_mib(pid)
    path = f"/hubs/notifications?access_token={access_token}"
    readers = [SlowReader(stack.ports[0], path).open() for _ in range(10)]
    with Flood(readers, invocation("SubscribeToTopic", "A" * 30_000)).start(duration=15) as flood:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            peak = max(peak, rss_mib(pid))
            await asyncio.sleep(0.25)
        async with connect(ws_url(stack)) as websocket:
            await handshake(websocket)
            await websocket.send(invocation("Add", 1, 2, invocation_id="b").decode())
            reply = json.loads((await websocket.recv()).rstrip(RS.decode()))
    assert flood.sent > 100
    assert reply == {"type": 3, "invocationId": "b", "result": 3}
    assert peak - baseline < 60, f"RSS grew from {baseline:.0f} to {peak:.0f} MiB"
