"""Reference peer: the SignalR protocol alone, on the hubs' daphne.

What every SignalR server has to do, and nothing more: answer negotiate,
accept the WebSocket, answer the JSON handshake, answer each invocation
with its completion (the argument back, as EchoHub does), send a Ping to
a connection that was sent nothing for 15 s and close one that sent
nothing for 30 s. Broadcasts come from Redis pub/sub (channel "bench",
`bench.trigger` raw), each encoded once and written to every client as an
invocation of the bench's event. No Django application, no
authentication, registry, presence, groups, rate limits or metrics.

It runs under ``python -m realtime.server`` with every argument ours gets,
so it tells two costs apart: ours against it is what our hubs add on top
of the protocol, and it against raw websockets is the protocol's and
daphne's own.

    DJANGO_SETTINGS_MODULE=config.settings REDIS_URL=redis://127.0.0.1:6379/0 \
        python -m realtime.server -b 127.0.0.1 -p 8002 bench.peers.signalr_floor:application
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import time
from typing import Any

from redis.asyncio import Redis

from bench.payloads import EVENT
from realtime.protocol.handshake import RECORD_SEPARATOR as RS
from realtime.transports.frames import FRAMES_EXTENSION, websocket_frame

logger = logging.getLogger(__name__)

CHANNEL = "bench"
KEEPALIVE_INTERVAL = 15.0
CLIENT_TIMEOUT = 30.0
#: How often the timers look at every connection (a third of the shortest).
SWEEP_EVERY = KEEPALIVE_INTERVAL / 3
#: The keep-alive Ping, framed once (as ours does).
PING = websocket_frame(b'{"type":6}' + RS, binary=False)
HANDSHAKE_OK = b"{}" + RS
TIMED_OUT = b"Server timeout elapsed without receiving a message from the client."

CLIENTS: set[Client] = set()
_started: list[asyncio.Task] = []
#: Set once the relay listens on the Redis channel.
_relaying = asyncio.Event()


class Client:
    """One WebSocket connection: the handshake, then invocations and Pings."""

    def __init__(self, scope: dict, send: Any) -> None:
        self.send = send
        #: realtime.server's frame writer: without it there is nothing to measure.
        self.write = scope["extensions"][FRAMES_EXTENSION]
        self.handshaken = False
        self.last_sent = self.last_received = time.monotonic()

    async def run(self, receive: Any) -> None:
        while True:
            event = await receive()
            kind = event["type"]
            if kind == "websocket.receive":
                data = event.get("bytes")
                await self.received(data if data is not None else event["text"].encode())
            elif kind == "websocket.connect":
                await _start_background()  # no client before the relay listens
                await self.send({"type": "websocket.accept"})
                CLIENTS.add(self)
            elif kind == "websocket.disconnect":
                CLIENTS.discard(self)
                return

    def reply(self, message: bytes) -> None:
        """Send one hub message (its record separator included) as a text frame."""
        self.last_sent = time.monotonic()
        self.write(websocket_frame(message, binary=False))

    async def received(self, data: bytes) -> None:
        self.last_received = time.monotonic()
        records = data.split(RS)
        if records[-1]:
            await self.fail(b"Incomplete message.")
            return
        for record in records[:-1]:
            try:
                message = json.loads(record)
            except ValueError:
                message = None
            if not isinstance(message, dict):
                await self.fail(b"Malformed message.")
                return
            if not self.handshaken:
                if message.get("protocol") != "json":
                    self.reply(b'{"error":"Only the json protocol is served."}' + RS)
                    await self.close()
                    return
                self.handshaken = True
                self.reply(HANDSHAKE_OK)
            elif message.get("type") == 1 and "invocationId" in message:
                arguments = message.get("arguments") or [None]
                reply = {"type": 3, "invocationId": message["invocationId"], "result": arguments[0]}
                encoded = json.dumps(reply, separators=(",", ":")).encode() + RS
                self.reply(encoded)
            elif message.get("type") == 7:
                await self.close()
                return

    async def fail(self, error: bytes) -> None:
        self.reply(b'{"type":7,"error":"%s"}' % error + RS)
        await self.close()

    async def close(self) -> None:
        CLIENTS.discard(self)
        await self.send({"type": "websocket.close"})


async def negotiate(scope: dict, receive: Any, send: Any) -> None:
    """``POST …/negotiate``: a connection token for WebSockets; 404 for anything else."""
    while (await receive()).get("more_body"):
        pass
    if scope["method"] != "POST" or not scope["path"].endswith("/negotiate"):
        status, body = 404, b""
    else:
        token = secrets.token_urlsafe(16)
        body = json.dumps(
            {
                "negotiateVersion": 1,
                "connectionId": token,
                "connectionToken": token,
                "availableTransports": [
                    {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}
                ],
            }
        ).encode()
        status = 200
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def sweep() -> None:
    """Every SWEEP_EVERY seconds: Ping the connections due, close the silent ones."""
    while True:
        await asyncio.sleep(SWEEP_EVERY)
        now = time.monotonic()
        for client in list(CLIENTS):
            if now - client.last_received > CLIENT_TIMEOUT:
                await client.fail(TIMED_OUT)
            elif now - client.last_sent >= KEEPALIVE_INTERVAL:
                client.last_sent = now
                client.write(PING)


async def relay() -> None:
    """Write every message of the Redis channel, as one invocation, to every client."""
    redis = Redis.from_url(os.environ["REDIS_URL"])
    pubsub = redis.pubsub()
    await pubsub.subscribe(CHANNEL)
    _relaying.set()
    prefix = b'{"type":1,"target":"%s","arguments":[' % EVENT.encode()
    async for message in pubsub.listen():
        if message["type"] != "message":
            continue
        # Encoded once, written as it is to every client, as ours does.
        frame = websocket_frame(prefix + message["data"] + b"]}" + RS, binary=False)
        now = time.monotonic()
        for client in list(CLIENTS):
            client.last_sent = now
            client.write(frame)


async def _start_background() -> None:
    if not _started:
        loop = asyncio.get_running_loop()
        _started.extend((loop.create_task(sweep()), loop.create_task(relay())))
    await _relaying.wait()


async def application(scope: dict, receive: Any, send: Any) -> None:
    """The ASGI application: negotiate over HTTP, the hub over WebSockets."""
    if scope["type"] == "http":
        await negotiate(scope, receive, send)
    elif scope["type"] == "websocket":
        await Client(scope, send).run(receive)
