"""The WebSockets transport: a Channels consumer carrying one Connection.

The consumer reads its ASGI events in one plain loop instead of Channels'
generic dispatch. The generic path costs, for every frame a client sends
(each invocation and each 15-second keep-alive Ping): a new task, a handler
lookup and a hop to the database thread to close stale connections. Hub
methods that use the ORM get that cleanup from `database_sync_to_async`
themselves, and so does the opening's authentication (`realtime.auth`);
disconnect still does it here. Measured in bench/: about twice the
invocations per second.
"""

from __future__ import annotations

import logging
from typing import Any

from channels.consumer import AsyncConsumer
from channels.db import aclose_old_connections

from realtime.connection import Connection
from realtime.transports import outage
from realtime.transports.admission import Refusal, admit, open_connection
from realtime.transports.frames import (
    FRAMES_EXTENSION,
    SOCKET_EXTENSION,
    Socket,
    websocket_event,
    websocket_frame,
)

logger = logging.getLogger(__name__)

#: Close codes of a client that closed its WebSocket on purpose (RFC 6455,
#: section 7.4.1): stopped, or a browser leaving the page. It will not resume.
CLOSED_ON_PURPOSE = (1000, 1001)


class WebSocketTransport(AsyncConsumer):
    """Text frames for JSON, binary frames for MessagePack; with or without negotiate."""

    hub_class: Any = None
    name = "WebSockets"
    text_only = False

    def __init__(self) -> None:
        self.connection: Connection | None = None
        #: The server's ASGI send. A broadcast hands it one shared event per
        #: encoding (`websocket_event`), with no per-recipient layers between.
        self.send_event: Any = None
        #: The server's frame writer (`FRAMES_EXTENSION`), when it offers one.
        self.write_frame: Any = None
        #: The server's view of the socket (`SOCKET_EXTENSION`), when offered.
        self.socket: Socket | None = None
        #: Without it: bytes handed to `send_event` that it has not returned.
        self.sending = 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        self.scope = scope
        self.send_event = send
        extensions = scope.get("extensions") or {}
        self.write_frame = extensions.get(FRAMES_EXTENSION)
        self.socket = extensions.get(SOCKET_EXTENSION)
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                await self.receive(message)
            elif kind == "websocket.connect":
                await self.connect()
            elif kind == "websocket.disconnect":
                await self.disconnect(message.get("code"))
                return
            else:
                logger.warning("ignored an ASGI event of unknown type %r", kind)

    async def connect(self) -> None:
        opened = await outage.guard(self.scope, self._open())
        if opened is outage.UNAVAILABLE:
            # Accepted, to say why: daphne refuses an upgrade with 403 only.
            await self.send_event({"type": "websocket.accept"})
            await self.send_event({"type": "websocket.close", "code": outage.TRY_AGAIN_LATER})
            return
        if isinstance(opened, Refusal):
            await self.send_event({"type": "websocket.close"})
            return
        await self.send_event({"type": "websocket.accept"})
        self.connection = opened
        await opened.start()

    async def _open(self) -> Connection | Refusal:
        admission = await admit(self.scope, self.hub_class, opening=True)
        if isinstance(admission, Refusal):
            return admission
        return await open_connection(self.scope, self.hub_class, self, admission)

    async def receive(self, message: dict) -> None:
        # A resumed connection has another transport now: this one is stale.
        if self.connection is not None and self.connection.transport is self:
            data = message.get("bytes")
            if data is None:
                data = (message.get("text") or "").encode()
            await self.connection.feed(data)

    async def disconnect(self, code: int | None = None) -> None:
        connection = self.connection
        if connection is not None and connection.transport is self:
            if code in CLOSED_ON_PURPOSE:  # no reconnect window
                connection.ended_because("client_closed")
            await connection.closed()
        await aclose_old_connections()

    async def write(self, frame: bytes | str, binary: bool) -> None:
        write_frame = self.write_frame
        if write_frame is not None:
            # The whole frame straight to the socket, as a broadcast writes
            # it: no ASGI event through daphne and autobahn for each reply.
            write_frame(
                websocket_frame(frame.encode() if isinstance(frame, str) else frame, binary=binary)
            )
            return
        if not binary and isinstance(frame, bytes):
            frame = frame.decode()
        size = len(frame)
        self.sending += size
        try:
            await self.send_event(websocket_event(frame))
        finally:
            self.sending -= size

    def buffered(self) -> int:
        socket = self.socket
        return self.sending if socket is None else socket.buffered()

    async def close(self, *, discard: bool = False) -> None:
        await self.send_event({"type": "websocket.close"})

    async def drop(self) -> None:
        if self.socket is not None:
            self.socket.abort()
        else:
            await self.close()
