"""Server-Sent Events: the server-to-client half of a connection as one response.

The stream runs in the process that opened it; the client's sends arrive as
POSTs on any process (`realtime.transports.sends`). An open stream counts as
client activity (`realtime.transports.activity`), as in ASP.NET Core.
"""

from __future__ import annotations

from typing import Any

from realtime.connection import Connection
from realtime.transports.admission import Refusal, admit, open_connection
from realtime.transports.exchange import HttpExchange
from realtime.transports.frames import SOCKET_EXTENSION, Socket

SSE_HEADERS = [
    (b"Content-Type", b"text/event-stream"),
    (b"Cache-Control", b"no-cache"),
    (b"X-Accel-Buffering", b"no"),
]


class ServerSentEvents:
    """Writes frames as SSE ``data:`` lines on an open HTTP response."""

    name = "ServerSentEvents"
    text_only = True
    write_frame = send_event = None  # no broadcast fast path

    def __init__(self, exchange: HttpExchange) -> None:
        self._exchange = exchange
        self.connection: Connection | None = None
        #: The server's view of the socket (`SOCKET_EXTENSION`), when offered.
        self._socket: Socket | None = (exchange.scope.get("extensions") or {}).get(SOCKET_EXTENSION)
        #: Without it: bytes handed to the server that it has not returned.
        self._sending = 0

    async def write(self, frame: bytes | str, binary: bool) -> None:
        data = frame.encode() if isinstance(frame, str) else frame
        lines = b"".join(b"data: " + line + b"\r\n" for line in data.split(b"\n"))
        self._sending += len(lines)
        try:
            await self._exchange.send_body(lines + b"\r\n", more_body=True)
        finally:
            self._sending -= len(lines)

    def buffered(self) -> int:
        return self._sending if self._socket is None else self._socket.buffered()

    async def close(self, *, discard: bool = False) -> None:
        await self._exchange.send_body(b"", more_body=False)
        if self.connection is not None:
            await self.connection.closed()

    async def drop(self) -> None:
        if self._socket is None:
            await self.close()
            return
        self._socket.abort()
        if self.connection is not None:
            await self.connection.closed()


async def stream(exchange: HttpExchange, hub_class: Any) -> None:
    """Open the connection and hold the response open until the client leaves."""
    admission = await admit(exchange.scope, hub_class, opening=True)
    if isinstance(admission, Refusal):
        await exchange.refuse(admission)
        return
    transport = ServerSentEvents(exchange)
    opened = await open_connection(exchange.scope, hub_class, transport, admission)
    if isinstance(opened, Refusal):
        await exchange.refuse(opened)
        return
    await exchange.start(200, SSE_HEADERS)
    await exchange.send_body(b":\r\n\r\n", more_body=True)
    transport.connection = opened
    await opened.start()
    while (await exchange.receive())["type"] != "http.disconnect":
        pass
    await opened.closed()
