"""A raw SignalR client for tests, built on ``realtime.protocol``.

`HubSocket` speaks the JSON hub protocol over one raw WebSocket (the
`websockets` library): invocations, events, Close, for checks and loads the
official client is not built for. The encoding and parsing are the server's
own ``JsonHubProtocol``, so a test never carries a second codec. For tests
about the wire format itself, `Records` reads raw JSON records as dicts and
`invocation()` builds one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from urllib.parse import quote, urlsplit

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from realtime.protocol import (
    Close,
    Completion,
    Invocation,
    JsonHubProtocol,
    MessagePackHubProtocol,
    Ping,
)
from tests.support.http import http_request, ws
from tests.support.processes import STOP_TIMEOUT

JSON = JsonHubProtocol()
RS = b"\x1e"
HANDSHAKE = b'{"protocol":"json","version":1}\x1e'
#: A Ping record in each encoding, as the official clients send it.
JSON_PING = JSON.encode(Ping()).decode()
MESSAGEPACK_PING = MessagePackHubProtocol().encode(Ping())


class HubError(Exception):
    """An error Completion, or a refused handshake."""


def invocation(invocation_id: str | None, target: str, *arguments: object) -> bytes:
    """Encode a JSON Invocation record (non-blocking when `invocation_id` is None)."""
    return JSON.encode(Invocation(target, arguments, invocation_id))


def negotiate_connection(
    url: str, *, token: str | None = None, headers: dict | None = None
) -> dict:
    """POST negotiate (version 1) for a hub URL (ws:// or http://); return the reply."""
    parts = urlsplit(url)
    endpoint = f"http://{parts.netloc}{parts.path}/negotiate?negotiateVersion=1"
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    status, _, body = http_request("POST", endpoint, headers=headers)
    if status != 200:
        raise HubError(f"negotiate answered {status}: {body[:200]!r}")
    return json.loads(body)


class HubSocket:
    """SignalR JSON over one raw WebSocket: invocations, events, Close.

    A server Ping is answered with a Ping, so a socket held through a long
    test is not ended by the server's client timeout.
    """

    def __init__(self, websocket) -> None:
        self.websocket = websocket
        self.connection_id: str | None = None
        self.events: list[tuple[str, list]] = []
        self.close_message: Close | None = None
        self.closed = asyncio.Event()
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future] = {}
        self._changed = asyncio.Event()
        self._reader: asyncio.Task | None = None

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        token: str | None = None,
        negotiate: bool = False,
        origin: str | None = None,
        headers: dict | None = None,
        timeout: float = 10,
    ) -> HubSocket:
        """Connect and complete the JSON handshake (refusals raise InvalidStatus).

        With `negotiate`, POST negotiate first (as the official client does)
        and learn the connection id; without, the server picks one unseen.
        """
        connection_id = None
        if negotiate:
            reply = await asyncio.to_thread(negotiate_connection, url, token=token, headers=headers)
            connection_id = reply["connectionId"]
            url += ("&" if "?" in url else "?") + "id=" + quote(reply["connectionToken"])
        if token:
            url += ("&" if "?" in url else "?") + "access_token=" + quote(token, safe="")
        websocket = await connect(
            url,
            origin=origin,
            additional_headers=headers,
            open_timeout=timeout,
            ping_interval=None,
            proxy=None,
            compression=None,
        )
        client = cls(websocket)
        client.connection_id = connection_id
        try:
            await websocket.send(HANDSHAKE.decode())
            first = await asyncio.wait_for(websocket.recv(), timeout)
        except BaseException:
            await websocket.close()
            raise
        reply, _, rest = first.partition(RS.decode())
        if json.loads(reply) != {}:
            await websocket.close()
            raise HubError(f"handshake refused: {reply}")
        await client._handle_frame(rest.encode())
        client._reader = asyncio.get_running_loop().create_task(client._read())
        return client

    async def _handle_frame(self, data: bytes) -> None:
        for message in JSON.parse(data) if data else ():
            if isinstance(message, Completion):
                future = self._pending.pop(message.invocation_id, None)
                if future is not None and not future.done():
                    future.set_result(message)
            elif isinstance(message, Invocation):
                self.events.append((message.target, list(message.arguments)))
            elif isinstance(message, Close):
                self.close_message = message
            elif isinstance(message, Ping):
                await self.send_text(JSON_PING)
        self._changed.set()

    async def _read(self) -> None:
        try:
            async for frame in self.websocket:
                await self._handle_frame(frame.encode() if isinstance(frame, str) else frame)
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()
            self._changed.set()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))
            self._pending.clear()

    async def send_text(self, text: str) -> None:
        """Send a raw text frame."""
        await self.websocket.send(text)

    async def send(self, target: str, *arguments: object) -> None:
        """A non-blocking invocation (no Completion)."""
        await self.send_text(invocation(None, target, *arguments).decode())

    def _expect(self, calls: list[tuple[str, tuple]]) -> tuple[list[asyncio.Future], bytes]:
        loop = asyncio.get_running_loop()
        futures, records = [], []
        for target, arguments in calls:
            invocation_id = str(next(self._ids))
            futures.append(self._pending.setdefault(invocation_id, loop.create_future()))
            records.append(invocation(invocation_id, target, *arguments))
        return futures, records

    async def invoke(self, target: str, *arguments: object, timeout: float = 10) -> object:
        """Invoke and return the result; HubError on an error Completion."""
        (future,), (record,) = self._expect([(target, arguments)])
        await self.send_text(record.decode())
        completion = await asyncio.wait_for(future, timeout)
        if completion.error is not None:
            raise HubError(completion.error)
        return completion.result

    async def invoke_many(
        self, calls: list[tuple[str, tuple]], timeout: float = 30, per_frame: int = 100
    ) -> list[Completion]:
        """Send invocations back to back, `per_frame` to a frame; return their Completions."""
        futures, records = self._expect(calls)
        for start in range(0, len(records), per_frame):
            await self.send_text(b"".join(records[start : start + per_frame]).decode())
        return list(await asyncio.wait_for(asyncio.gather(*futures), timeout))

    def count(self, target: str) -> int:
        """How many events named `target` arrived and were not taken by `event()`."""
        return sum(1 for name, _ in self.events if name == target)

    async def event(
        self, target: str, timeout: float = 10, match: Callable[..., bool] | None = None
    ) -> list:
        """Wait for the next event `target` (whose arguments satisfy `match`)."""
        deadline = time.monotonic() + timeout
        while True:
            for index, (name, arguments) in enumerate(self.events):
                if name == target and (match is None or match(*arguments)):
                    del self.events[index]
                    return arguments
            if self.closed.is_set():
                raise ConnectionError(f"closed before a {target} event")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {target} event within {timeout} s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_closed(self, timeout: float = 10) -> Close | None:
        """Wait until the server ends the connection; return its Close message."""
        await asyncio.wait_for(self.closed.wait(), timeout)
        return self.close_message

    async def close(self) -> None:
        """Close the WebSocket and wait for the reader to end."""
        await self.websocket.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, STOP_TIMEOUT)


async def ask_presence(base_url: str, user_id: object) -> dict:
    """Presence of a user as the instance (or nginx) at `base_url` sees it."""
    probe = await HubSocket.open(ws(base_url, "/hubs/presence"))
    try:
        return {
            "server": await probe.invoke("Server"),
            "connections": sorted(await probe.invoke("ConnectionsOf", str(user_id))),
            "online": await probe.invoke("IsOnline", str(user_id)),
            "users": sorted(await probe.invoke("OnlineUsers")),
        }
    finally:
        await probe.close()


# Raw records, for tests of the wire format itself ----------------------------------


class Records:
    """Read JSON records from a raw WebSocket as dicts, however the server framed them."""

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
