"""Test helpers: drive a hub over a real WebSocket consumer, or listen to broadcasts.

``HubCommunicator`` speaks the SignalR JSON protocol to a hub through the real
WebSocket transport (Channels' WebsocketCommunicator) with a real Redis behind.
``EventListener`` joins groups of a hub from a background event loop and
records every client event published to them (Zulip's capture_send_event_calls,
but on the real channel layer).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.testing import WebsocketCommunicator

from realtime import conf, epoch, keys, shards
from realtime.connection import Connection
from realtime.groups import layer_group_name
from realtime.hub import Hub
from realtime.lifetime.running import get_backplane, stop_backplane
from realtime.protocol import JsonHubProtocol
from realtime.routing import _bound
from realtime.transports.websocket import WebSocketTransport

RS = "\x1e"


class HubError(Exception):
    """An error Completion received by the test client."""


async def flush_redis() -> None:
    """Empty every Redis shard, as after restarts without persistence."""
    await shards.gather(*(redis.flushdb() for redis in shards.every()))


async def group_processes(group: str) -> set[bytes]:
    """Return the processes recorded for a (layer-named) group, on its shard."""
    name = keys.group_key(group)
    return await shards.client_for(name).smembers(name)


def settle_registry() -> None:
    """Make the registry epoch old enough for sends, unless it already is.

    A fresh or flushed Redis gets a new epoch on first use, and sends wait
    REGISTRY_SETTLE for the server processes to re-register; tests that
    are not about that start from a settled registry.
    """

    async def settle() -> None:
        await epoch.reset(age=conf.get().REGISTRY_SETTLE, keep_older=True)

    # A thread of its own: the caller's thread may run an event loop (Playwright).
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, settle()).result()


class HubCommunicator:
    """A SignalR JSON client for one hub, on the real WebSocket transport."""

    def __init__(self, hub: type[Hub], user: Any = None, headers: list | None = None) -> None:
        application = _bound(WebSocketTransport, hub)
        self._communicator = WebsocketCommunicator(application, "/hub", headers=headers or [])
        # realtime.auth takes a user already in the scope (no cookie needed).
        if user is not None:
            self._communicator.scope["user"] = user
        self._ids = itertools.count(1)
        self.events: list[tuple[str, list]] = []
        self._completions: dict[str, dict] = {}
        self.closed_with: dict | None = None

    async def open(self) -> None:
        """Open the socket without a handshake (ConnectionRefusedError if refused)."""
        connected, _ = await self._communicator.connect()
        if not connected:
            raise ConnectionRefusedError("the hub refused the WebSocket")

    async def connect(self, protocol: str = "json") -> dict:
        """Open the socket and complete the handshake; return the response."""
        await self.open()
        await self._communicator.send_to(
            text_data=json.dumps({"protocol": protocol, "version": 1}) + RS
        )
        reply = await self._communicator.receive_from(timeout=5)
        return json.loads(reply.rstrip(RS))

    async def send_raw(self, text: str) -> None:
        """Send a raw text frame."""
        await self._communicator.send_to(text_data=text)

    async def receive_raw(self, timeout: float = 5) -> str:
        """Return the next text frame as sent, unparsed (for wire-format tests)."""
        return await self._communicator.receive_from(timeout=timeout)

    async def receive_output(self, timeout: float = 5) -> dict:
        """Return the next ASGI message the consumer sent (e.g. ``websocket.close``)."""
        return await self._communicator.receive_output(timeout=timeout)

    async def _pump(self, timeout: float) -> None:
        frame = await self._communicator.receive_from(timeout=timeout)
        for part in filter(None, frame.split(RS)):
            message = json.loads(part)
            kind = message["type"]
            if kind == 1:
                self.events.append((message["target"], message["arguments"]))
            elif kind in (2, 3):
                self._completions.setdefault(message["invocationId"], {"items": []})
                if kind == 2:
                    self._completions[message["invocationId"]]["items"].append(message["item"])
                else:
                    self._completions[message["invocationId"]].update(message, done=True)
            elif kind == 7:
                self.closed_with = message

    async def _await_completion(self, invocation_id: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while not self._completions.get(invocation_id, {}).get("done"):
            if self.closed_with is not None:
                raise HubError(f"connection closed: {self.closed_with.get('error')}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no completion for invocation {invocation_id}")
            await self._pump(remaining)
        return self._completions.pop(invocation_id)

    async def _call(self, kind: int, target: str, arguments: tuple, timeout: float) -> dict:
        invocation_id = str(next(self._ids))
        message = {"type": kind, "invocationId": invocation_id, "target": target}
        await self.send_raw(json.dumps({**message, "arguments": list(arguments)}) + RS)
        completion = await self._await_completion(invocation_id, timeout)
        if "error" in completion:
            raise HubError(completion["error"])
        return completion

    async def invoke(self, target: str, *arguments: Any, timeout: float = 5) -> Any:
        """Invoke a hub method and return its result (HubError on an error Completion)."""
        return (await self._call(1, target, arguments, timeout)).get("result")

    async def stream(self, target: str, *arguments: Any, timeout: float = 5) -> list:
        """Run a streaming method to its end and return the items."""
        return (await self._call(4, target, arguments, timeout))["items"]

    async def send(self, target: str, *arguments: Any) -> None:
        """Invoke without waiting for a result (non-blocking invocation)."""
        await self.send_raw(
            json.dumps({"type": 1, "target": target, "arguments": list(arguments)}) + RS
        )

    async def receive_event(self, target: str, timeout: float = 5) -> list:
        """Wait for the next client event named `target` and return its arguments."""
        deadline = time.monotonic() + timeout
        while True:
            for index, (name, arguments) in enumerate(self.events):
                if name == target:
                    del self.events[index]
                    return arguments
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {target} event")
            await self._pump(remaining)

    async def receive_nothing(self, timeout: float = 0.5) -> bool:
        """Return True when no frame arrives within `timeout` (keeps the app alive)."""
        return await self._communicator.receive_nothing(timeout=timeout)

    async def receive_close(self, timeout: float = 5) -> dict:
        """Wait for a Close message from the server."""
        deadline = time.monotonic() + timeout
        while self.closed_with is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no Close message")
            await self._pump(remaining)
        return self.closed_with

    async def disconnect(self) -> None:
        """Close the socket and wait for the consumer to finish."""
        await self._communicator.disconnect()


class _Recorder:
    """Transport of a listening connection: decodes every frame it is given."""

    name = "test-listener"
    text_only = True
    write_frame = send_event = None  # no broadcast fast path

    def __init__(self) -> None:
        self.events: list[tuple[str, list]] = []
        self.arrived = threading.Condition()

    async def write(self, frame: bytes | str, binary: bool) -> None:
        data = frame.encode() if isinstance(frame, str) else frame
        with self.arrived:
            for message in JsonHubProtocol().parse(data):
                self.events.append((message.target, list(message.arguments)))
            self.arrived.notify_all()

    async def close(self, *, discard: bool = False) -> None:
        """Nothing to close."""

    def buffered(self) -> int:
        """Nothing waits: every frame is decoded as it is written."""
        return 0

    async def drop(self) -> None:
        """Nothing to drop."""


class EventListener:
    """Record client events published to groups of a hub (sync context manager).

    ``with EventListener("orders", ["order:1"]) as events: ...`` then
    ``events.wait_for("OrderStatusUpdated")``.
    """

    def __init__(self, hub: type[Hub] | str, groups: list[str]) -> None:
        self._namespace = hub if isinstance(hub, str) else hub.namespace
        self._groups = groups
        self._recorder = _Recorder()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def events(self) -> list[tuple[str, list]]:
        return list(self._recorder.events)

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    async def _start(self) -> None:
        backplane = await get_backplane()
        hub = type("ListenerHub", (Hub,), {"namespace": self._namespace})
        connection = Connection(
            hub_class=hub,
            user=None,
            user_id="",
            connection_id="listener",
            token="listener",
            transport=self._recorder,
            backplane=backplane,
        )
        connection.state = "open"
        connection.protocol = JsonHubProtocol()
        for name in self._groups:
            group = layer_group_name(self._namespace, name)
            connection.joined.add(group)
            await backplane.join(connection, group)

    def __enter__(self) -> EventListener:
        self._thread.start()
        self._run(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self._run(stop_backplane())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def wait_for(self, target: str, count: int = 1, timeout: float = 5) -> list[list]:
        """Wait until `count` events named `target` arrived; return their arguments."""
        deadline = time.monotonic() + timeout
        with self._recorder.arrived:
            while True:
                found = [args for name, args in self._recorder.events if name == target]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(found)} of {count} {target} events arrived")
                self._recorder.arrived.wait(remaining)
