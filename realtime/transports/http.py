"""Server-Sent Events, long polling, and the HTTP POST/DELETE that pair with them.

No sticky sessions: a connection runs in the process that opened its
server-to-client half; a POST or poll may land on any process. POSTed bodies
travel to the owning process through its channel-layer channel, in order.
Long-polling output waits between polls in a bounded Redis list, so any
process can answer a poll.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from channels.consumer import AsyncConsumer
from channels.exceptions import ChannelFull, StopConsumer

from realtime import conf, metrics, store
from realtime.auth import query_param
from realtime.backplane import get_backplane
from realtime.connection import Connection
from realtime.transports.events import SOCKET_EXTENSION, Socket
from realtime.transports.opening import NO_LAYER, Refusal, identify, open_connection, registered

logger = logging.getLogger(__name__)

SSE_HEADERS = [
    (b"Content-Type", b"text/event-stream"),
    (b"Cache-Control", b"no-cache"),
    (b"X-Accel-Buffering", b"no"),
]


class ServerSentEvents:
    """Writes frames as SSE ``data:`` lines on an open HTTP response."""

    name = "ServerSentEvents"
    text_only = True

    def __init__(self, consumer: HttpTransportConsumer) -> None:
        self._consumer = consumer
        self.connection: Connection | None = None
        #: The server's view of the socket (`SOCKET_EXTENSION`), when offered.
        self._socket: Socket | None = (consumer.scope.get("extensions") or {}).get(SOCKET_EXTENSION)
        #: Without it: bytes handed to the server that it has not returned.
        self._sending = 0

    async def write(self, frame: bytes | str, binary: bool) -> None:
        data = frame.encode() if isinstance(frame, str) else frame
        lines = b"".join(b"data: " + line + b"\r\n" for line in data.split(b"\n"))
        self._sending += len(lines)
        try:
            await self._consumer.send_body(lines + b"\r\n", more_body=True)
        finally:
            self._sending -= len(lines)

    def buffered(self) -> int:
        return self._sending if self._socket is None else self._socket.buffered()

    async def close(self, *, discard: bool = False) -> None:
        await self._consumer.send_body(b"", more_body=False)
        if self.connection is not None:
            await self.connection.closed()

    async def drop(self) -> None:
        if self._socket is None:
            await self.close()
            return
        self._socket.abort()
        if self.connection is not None:
            await self.connection.closed()


class LongPolling:
    """Buffers frames in Redis until a poll (on any process) takes them."""

    name = "LongPolling"
    text_only = False

    def __init__(self, token: str) -> None:
        self._token = token
        self.connection: Connection | None = None

    async def write(self, frame: bytes | str, binary: bool) -> None:
        data = frame.encode() if isinstance(frame, str) else frame
        settings = conf.get()
        ttl = settings.LONG_POLL_TIMEOUT + settings.CLIENT_TIMEOUT
        if not await store.buffer_frames(
            self._token, [data], limit=settings.LONG_POLL_BUFFER, ttl=ttl
        ):
            metrics.increment("long_poll_overflows")
            logger.warning("long-poll buffer full; closing a slow client")
            if self.connection is not None:
                self.connection.ended_because("slow_consumer")
                asyncio.get_running_loop().create_task(self.connection.closed())

    def buffered(self) -> int:
        # Bounded where it waits: LONG_POLL_BUFFER frames in Redis.
        return 0

    async def drop(self) -> None:
        await self.close(discard=True)

    async def close(self, *, discard: bool = False) -> None:
        if discard:
            # The client said goodbye (DELETE): its pending poll ends with 204.
            await store.drop_buffer(self._token)
        if self.connection is not None:
            await self.connection.closed()


class HttpTransportConsumer(AsyncConsumer):
    """``<hub>``: GET (SSE stream or long poll), POST (send), DELETE (end)."""

    channel_layer_alias = NO_LAYER
    hub_class: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._body: list[bytes] = []
        self._sse: ServerSentEvents | None = None

    # Plumbing ------------------------------------------------------------------

    async def send_body(self, body: bytes, *, more_body: bool = False) -> None:
        await self.send({"type": "http.response.body", "body": body, "more_body": more_body})

    async def respond(
        self, status: int, body: bytes = b"", content_type: bytes = b"text/plain"
    ) -> None:
        headers = [(b"Content-Type", content_type), (b"Cache-Control", b"no-store")]
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send_body(body)

    async def refuse(self, refusal: Refusal) -> None:
        await self.respond(refusal.status, refusal.reason.encode())

    async def http_request(self, message: dict) -> None:
        self._body.append(message.get("body", b""))
        if message.get("more_body"):
            return
        body = b"".join(self._body)
        if len(body) > conf.get().MAX_MESSAGE_SIZE:
            await self.respond(413, b"message too large")
            raise StopConsumer
        method = self.scope["method"]
        accept = dict(self.scope["headers"]).get(b"accept", b"")
        if method == "GET" and b"text/event-stream" in accept:
            await self.open_stream()
            if self._sse is not None:
                return  # the response stays open; http.disconnect ends it
        elif method == "GET":
            await self.poll()
        elif method == "POST":
            await self.post(body)
        elif method == "DELETE":
            await self.delete()
        else:
            await self.respond(405, b"method not allowed")
        raise StopConsumer

    async def http_disconnect(self, message: dict) -> None:
        if self._sse is not None and self._sse.connection is not None:
            await self._sse.connection.closed()
        raise StopConsumer

    # Server-Sent Events ----------------------------------------------------------

    async def open_stream(self) -> None:
        transport = ServerSentEvents(self)
        opened = await open_connection(self.scope, self.hub_class, transport, negotiated=True)
        if isinstance(opened, Refusal):
            await self.refuse(opened)
            return
        await self.send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        await self.send_body(b":\r\n\r\n", more_body=True)
        transport.connection = opened
        self._sse = transport
        await opened.start()

    # Long polling ------------------------------------------------------------------

    async def poll(self) -> None:
        identity = await identify(self.scope, self.hub_class)
        if isinstance(identity, Refusal):
            await self.refuse(identity)
            return
        registration = await registered(self.scope, self.hub_class, identity)
        if isinstance(registration, Refusal):
            await self.refuse(registration)
            return
        token = query_param(self.scope, "id")
        if not registration.owner:
            # The first poll opens the connection here and answers at once.
            transport = LongPolling(token)
            opened = await open_connection(self.scope, self.hub_class, transport, negotiated=True)
            if isinstance(opened, Refusal):
                await self.refuse(opened)
                return
            transport.connection = opened
            await opened.start()
            await self.respond(200)
            return
        if registration.transport != LongPolling.name:
            await self.refuse(Refusal(400, "Cannot change transports mid-connection"))
            return
        if not await store.is_alive(registration.owner):
            await store.forget(token, registration.connection_id)
            await self.refuse(Refusal(404, "connection's server is gone"))
            return
        await self._wait_for_frames(token)

    async def _wait_for_frames(self, token: str) -> None:
        poll_id = uuid.uuid4().hex
        await store.set_current_poll(token, poll_id)
        deadline = time.monotonic() + conf.get().LONG_POLL_TIMEOUT
        while (remaining := deadline - time.monotonic()) > 0:
            frames = await store.take_frames(token, timeout=min(1.0, remaining))
            if frames:
                await self.respond(200, b"".join(frames), b"application/octet-stream")
                return
            if await store.current_poll(token) != poll_id or await store.lookup(token) is None:
                await self.respond(204)
                return
        await self.respond(200)

    # Sends and termination -----------------------------------------------------------

    async def _owner(self) -> tuple[store.Registration, str] | None:
        identity = await identify(self.scope, self.hub_class)
        if isinstance(identity, Refusal):
            await self.refuse(identity)
            return None
        registration = await registered(self.scope, self.hub_class, identity)
        if isinstance(registration, Refusal):
            await self.refuse(registration)
            return None
        if not registration.owner:
            await self.refuse(Refusal(404, "connection has not started"))
            return None
        return registration, query_param(self.scope, "id") or ""

    async def post(self, body: bytes) -> None:
        found = await self._owner()
        if found is None:
            return
        registration, token = found
        if not await store.try_lock("post", token, ttl=10):
            await self.refuse(Refusal(409, "another send is in progress"))
            return
        try:
            backplane = await get_backplane()
            message = {"type": "rt.inbound", "c": registration.connection_id, "d": body}
            # Always through the owner's channel, even when local, so that
            # sends arriving at different processes keep their order.
            await backplane.layer.send(registration.owner, message)
        except ChannelFull:
            metrics.increment("messages_dropped")
            await self.refuse(Refusal(503, "server busy"))
            return
        finally:
            await store.unlock("post", token)
        await self.respond(200)

    async def delete(self) -> None:
        found = await self._owner()
        if found is None:
            return
        registration, _ = found
        backplane = await get_backplane()
        await backplane.layer.send(
            registration.owner, {"type": "rt.close", "c": registration.connection_id}
        )
        await self.respond(202)
