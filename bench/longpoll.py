"""A SignalR long-polling client for `bench.capacity`: negotiate, poll, send.

What the official JavaScript client does with ``transport: LongPolling``:
negotiate, a first GET that opens the connection, the handshake and hub
invocations as POSTs, then one GET after another until closed (DELETE).
Each request is its own TCP connection (``Connection: close``), which costs
the server a little more than a browser's keep-alive would, and Redis nothing.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

from bench import payloads
from bench.wsclient import parse_response

RS = b"\x1e"
#: Upper bound of one request, longer than the server's LONG_POLL_TIMEOUT.
REQUEST_TIMEOUT = 60.0


class PollError(Exception):
    """The server refused a request of the long-polling client."""


async def request(
    host: str, port: int, method: str, path: str, body: bytes = b""
) -> tuple[int, bytes]:
    """Send one HTTP/1.1 request and return the status and the body."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\nContent-Type: text/plain\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + body)
        response = await asyncio.wait_for(reader.read(), REQUEST_TIMEOUT)
    finally:
        writer.close()
    return parse_response(response)


class LongPollClient:
    """One long-polling connection to a hub, authenticated with an access token."""

    def __init__(self, port: int, path: str, token: str, host: str = "127.0.0.1") -> None:
        self.host, self.port, self.path = host, port, path
        self.query = {"access_token": token}
        self.connection_url = ""
        self.polls = 0
        self.received: list[int] = []
        self._invocations = 0
        self._stopping = False

    async def _call(self, method: str, body: bytes = b"") -> bytes:
        status, content = await request(self.host, self.port, method, self.connection_url, body)
        if status == 204 and method == "GET":
            self._stopping = True  # the connection ended
        elif status != 200:
            raise PollError(f"{method} answered {status}: {content[:80]!r}")
        return content

    async def open(self, topic: str) -> None:
        """Negotiate, open, shake hands and join `topic`."""
        query = urlencode({"negotiateVersion": 1, **self.query})
        status, body = await request(self.host, self.port, "POST", f"{self.path}/negotiate?{query}")
        if status != 200:
            raise PollError(f"negotiate answered {status}")
        token = json.loads(body)["connectionToken"]
        self.connection_url = f"{self.path}?{urlencode({'id': token, **self.query})}"
        await self._call("GET")  # opens the connection
        await self._call("POST", json.dumps({"protocol": "json", "version": 1}).encode() + RS)
        invocation = {"type": 1, "invocationId": "1", "target": "SubscribeToTopic"}
        await self._call("POST", json.dumps({**invocation, "arguments": [topic]}).encode() + RS)
        # The handshake answer, on_connected's event and the completion.
        for _ in range(10):
            if b'"invocationId":"1"' in await self._poll_once():
                return
        raise PollError("no completion for SubscribeToTopic")

    async def _poll_once(self) -> bytes:
        content = await self._call("GET")
        self.polls += 1
        for record in content.split(RS):
            if record.startswith(b"{") and payloads.EVENT.encode() in record:
                message = json.loads(record)
                if message.get("type") == 1 and message.get("target") == payloads.EVENT:
                    self.received.append(message["arguments"][0]["seq"])
        return content

    async def run(self, until: asyncio.Event, deadline: float) -> None:
        """Poll until `until` is set (or the loop's `deadline` passes)."""
        loop = asyncio.get_running_loop()
        self.polls = 0
        while not until.is_set() and not self._stopping and loop.time() < deadline:
            await self._poll_once()

    async def close(self) -> None:
        """Say goodbye (DELETE), as the official client does."""
        if self.connection_url:
            await request(self.host, self.port, "DELETE", self.connection_url)
