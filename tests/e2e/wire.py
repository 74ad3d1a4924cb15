"""SignalR on the wire for the e2e tests.

The official client's scenario runner (`CLIENT`, run by Node), and raw pieces
for what that client never sends: JSON records ended by 0x1E over a
WebSocket (`Records`), negotiate, and a long-polling connection driven
request by request (`LongPollingClient`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from websockets.exceptions import ConnectionClosed

from tests.live import LiveStack, http_request

#: The Node scenario runner (tests/e2e/client.mjs).
CLIENT = Path(__file__).resolve().with_name("client.mjs")
#: The customer the `live` fixture creates.
CUSTOMER = ("alice", "alice-pass-1")
RS = b"\x1e"
HANDSHAKE = b'{"protocol":"json","version":1}\x1e'


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.05) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def invocation(invocation_id: str, target: str, *arguments: object) -> bytes:
    """Encode a JSON Invocation record."""
    record = {"type": 1, "invocationId": invocation_id, "target": target, "arguments": arguments}
    return json.dumps(record).encode() + RS


def negotiate(live: LiveStack, version: int = 1, path: str = "/hubs/echo", **headers) -> dict:
    """POST negotiate and return its JSON reply (asserting 200)."""
    status, reply_headers, body = http_request(
        "POST", f"{live.url}{path}/negotiate?negotiateVersion={version}", headers=headers
    )
    assert status == 200, body
    assert reply_headers["Content-Type"] == "application/json"
    return json.loads(body)


def ws_url(live: LiveStack, path: str = "/hubs/echo", query: str = "") -> str:
    """The WebSocket URL of a hub on the live server."""
    return f"ws://{urlsplit(live.url).netloc}{path}{query}"


class Records:
    """Read JSON records from a raw WebSocket, however the server framed them."""

    def __init__(self, websocket) -> None:
        self.websocket = websocket
        self.pending: list[bytes] = []

    async def next(self, timeout: float = 5) -> dict:
        """Return the next record."""
        while not self.pending:
            frame = await asyncio.wait_for(self.websocket.recv(), timeout)
            data = frame.encode() if isinstance(frame, str) else frame
            assert data.endswith(RS), data
            self.pending.extend(data[:-1].split(RS))
        return json.loads(self.pending.pop(0))

    async def next_not_ping(self, timeout: float = 5) -> dict:
        """Return the next record that is not a Ping."""
        while (record := await self.next(timeout)).get("type") == 6:
            pass
        return record


#: A Ping record in each encoding, as the official clients send it.
JSON_PING = '{"type":6}\x1e'
MESSAGEPACK_PING = b"\x02\x91\x06"


@contextlib.asynccontextmanager
async def pinging(*sockets: tuple[object, str | bytes], every: float = 1.0):
    """Send each (socket, ping record) pair its Ping every `every` seconds meanwhile.

    A raw client sends nothing by itself; without pings the server ends it after
    CLIENT_TIMEOUT while the test waits for something slow (a `manage.py shell`).
    """

    async def ping() -> None:
        while True:
            for websocket, record in sockets:
                await websocket.send(record)
            await asyncio.sleep(every)

    task = asyncio.create_task(ping())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def assert_closed(websocket, timeout: float = 5) -> None:
    """Wait until the server closes `websocket` (pings may arrive first)."""
    deadline = time.monotonic() + timeout
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            await asyncio.wait_for(websocket.recv(), remaining)
    except ConnectionClosed:
        return
    except TimeoutError:
        pass
    pytest.fail(f"the server did not close the WebSocket within {timeout} s")


class LongPollingClient:
    """A long-polling connection to EchoHub driven request by request."""

    def __init__(self, live: LiveStack) -> None:
        self.token = negotiate(live)["connectionToken"]
        self.url = f"{live.url}/hubs/echo?id={self.token}"
        assert self.poll()[0] == 200  # the first poll opens the connection
        assert self.post(HANDSHAKE) == 200
        assert self.poll() == (200, b"{}\x1e")

    def poll(self) -> tuple[int, bytes]:
        status, _, body = http_request("GET", self.url, timeout=30)
        return status, body

    def post(self, body: bytes) -> int:
        return http_request("POST", self.url, data=body)[0]

    def delete(self) -> int:
        return http_request("DELETE", self.url)[0]

    def poll_in_thread(self) -> dict:
        """Start a poll; the dict gets its status, body and end time."""
        outcome: dict = {}

        def run() -> None:
            outcome["status"], outcome["body"] = self.poll()
            outcome["at"] = time.monotonic()

        outcome["thread"] = threading.Thread(target=run, daemon=True)
        outcome["thread"].start()
        return outcome
