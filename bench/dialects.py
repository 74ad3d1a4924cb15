"""What each contender's clients say on the wire, on top of `bench.wsclient`.

One session class per wire protocol: SignalR (negotiate, handshake, JSON or
MessagePack invocations), a bare WebSocket (the raw `websockets` and stock
Channels peers), and Socket.IO over Engine.IO 4 (python-socketio). Every
session reports broadcast receipts to a `Recorder` and answers one RPC at a
time through `call`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

from bench import payloads
from bench.wsclient import WebSocketClient, connect, http_post
from realtime.protocol import (
    Ack,
    Completion,
    Invocation,
    MessagePackHubProtocol,
    Ping,
    ProtocolError,
)
from realtime.protocol import Close as CloseMessage

SIGNALR, RAW, SOCKETIO = "signalr", "raw", "socketio"
RS = b"\x1e"
#: A stateful client acknowledges every this many tracked messages (the
#: official ones: a second after the first unacknowledged one).
ACK_EVERY = 64
_MSGPACK = MessagePackHubProtocol()


@dataclass(frozen=True)
class ClientSpec:
    """How one contender's clients connect and what they do once connected."""

    dialect: str
    port: int
    path: str = "/"
    host: str = "127.0.0.1"
    protocol: str = "json"  # SignalR hub protocol: "json" or "messagepack"
    auth: str = ""  # SignalR: "token" or "cookie" (credential per client)
    ready_target: str = ""  # SignalR: client event that on_connected sends
    join_topic: str = ""  # SignalR: SubscribeToTopic(join_topic) after connecting
    subscribe_order: int = 0  # SignalR: SubscribeToOrder(id) after connecting
    rpc_target: str = "Echo"
    #: SignalR: negotiate stateful reconnect and acknowledge what arrives, as
    #: the official clients' ``withStatefulReconnect()`` does.
    stateful: bool = False


class Recorder(Protocol):
    """Where sessions report what happened."""

    def received(self, seq: int, sent: float) -> None:
        """A broadcast with sequence `seq`, sent at `sent` (time.time()), arrived."""

    def dropped(self) -> None:
        """The server closed a connection the benchmark did not close."""


class SessionError(Exception):
    """A session could not open or an invocation failed."""


class Session:
    """One client connection of any dialect."""

    def __init__(self, spec: ClientSpec, recorder: Recorder, credential: str = "") -> None:
        self.spec = spec
        self.recorder = recorder
        self.credential = credential
        self.ws: WebSocketClient | None = None
        self.closing = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)

    async def open(self) -> None:
        """Connect and wait until the server treats the client as ready."""
        raise NotImplementedError

    async def call(self, payload: dict) -> Any:
        """Run one round trip with `payload` and return the reply."""
        raise NotImplementedError

    def keepalive(self) -> None:
        """Send whatever keeps an idle connection open (most servers ping us)."""

    def close(self) -> None:
        """Close the connection on purpose."""
        self.closing = True
        if self.ws is not None:
            self.ws.close()
        for future in self._pending.values():
            if not future.done():
                future.cancel()

    async def _connect(self, path: str, headers: dict[str, str] | None = None) -> None:
        # Assigned before connecting: handlers may answer a message that
        # arrives in the same segment as the 101 response.
        self.ws = WebSocketClient(
            self.spec.host, self.spec.port, path, headers or {}, self.on_message, self._on_close
        )
        await connect(self.ws)

    def _on_close(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(SessionError("connection closed"))
        if not self.ready.done():
            self.ready.set_exception(SessionError("closed before ready"))
            self.ready.exception()  # retrieved: open() reports the failure
        if not self.closing:
            self.recorder.dropped()

    def _expect(self, key: str) -> asyncio.Future[Any]:
        future = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        return future

    def _resolve(self, key: str, value: Any, error: str | None = None) -> None:
        future = self._pending.pop(key, None)
        if future is None or future.done():
            return
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(SessionError(error))

    def on_message(self, data: bytes, text: bool) -> None:
        raise NotImplementedError


class SignalRSession(Session):
    """A SignalR client: negotiate, WebSocket, handshake, invocations."""

    def _auth(self) -> tuple[dict[str, str], dict[str, str]]:
        if self.spec.auth == "token":
            return {"access_token": self.credential}, {}
        if self.spec.auth == "cookie":
            return {}, {"Cookie": f"sessionid={self.credential}"}
        return {}, {}

    async def open(self) -> None:
        spec = self.spec
        query, headers = self._auth()
        asked = {"useStatefulReconnect": "true"} if spec.stateful else {}
        self._tracked = self._acked = 0
        status, body = await http_post(
            spec.host,
            spec.port,
            f"{spec.path}/negotiate?{urlencode({'negotiateVersion': 1, **query, **asked})}",
            headers=headers,
        )
        if spec.stateful and body.get("useStatefulReconnect") is not True:
            raise SessionError("stateful reconnect was not offered")
        if status != 200 or "connectionToken" not in body:
            raise SessionError(f"negotiate answered {status}")
        self._handshaken = False
        await self._connect(
            f"{spec.path}?{urlencode({'id': body['connectionToken'], **query})}", headers
        )
        version = 2 if spec.stateful else 1
        handshake = json.dumps({"protocol": spec.protocol, "version": version}).encode() + RS
        ready_key = f"event:{spec.ready_target}" if spec.ready_target else "handshake"
        waiter = self._expect(ready_key)
        handshake_waiter = self._expect("handshake") if spec.ready_target else waiter
        self.ws.send(handshake, text=True)
        await handshake_waiter
        await waiter
        if spec.join_topic:
            await self.invoke("SubscribeToTopic", spec.join_topic)
        if spec.subscribe_order:
            await self.invoke("SubscribeToOrder", spec.subscribe_order)
        self.ready.set_result(None)

    def _encode(self, message: Any) -> tuple[bytes, bool]:
        if self.spec.protocol == "messagepack":
            return _MSGPACK.encode(message), False
        if isinstance(message, Ping):
            return b'{"type":6}' + RS, True
        return (
            json.dumps(
                {
                    "type": 1,
                    "invocationId": message.invocation_id,
                    "target": message.target,
                    "arguments": list(message.arguments),
                },
                separators=(",", ":"),
            ).encode()
            + RS,
            True,
        )

    async def invoke(self, target: str, *arguments: Any) -> Any:
        """Invoke a hub method and return its result (raise on an error completion)."""
        invocation_id = str(next(self._ids))
        future = self._expect(invocation_id)
        data, text = self._encode(Invocation(target, arguments, invocation_id))
        self.ws.send(data, text=text)
        return await future

    async def call(self, payload: dict) -> Any:
        return await self.invoke(self.spec.rpc_target, payload)

    def keepalive(self) -> None:
        if self.ws is not None and not self.ws.closed:
            data, text = self._encode(Ping())
            self.ws.send(data, text=text)

    def on_message(self, data: bytes, text: bool) -> None:
        if not self._handshaken:
            end = data.find(RS)
            response = json.loads(data[:end]) if end >= 0 else {"error": "no separator"}
            self._handshaken = True
            if response.get("error"):
                for key in list(self._pending):
                    self._resolve(key, None, response["error"])
                return
            self._resolve("handshake", None)
            data = data[end + 1 :]
            if not data:
                return
        if self.spec.protocol == "messagepack":
            try:
                messages = _MSGPACK.parse(data)
            except ProtocolError:
                return
            for message in messages:
                if isinstance(message, Invocation):
                    self._tracked += 1
                    self._event(message.target, message.arguments)
                elif isinstance(message, Completion):
                    self._tracked += 1
                    self._resolve(message.invocation_id, message.result, message.error)
                elif isinstance(message, CloseMessage):
                    self.recorder.dropped()
            self._ack()
            return
        for record in data.split(RS):
            if not record:
                continue
            message = json.loads(record)
            kind = message.get("type")
            if kind == 1:
                self._tracked += 1
                self._event(message["target"], message.get("arguments", ()))
            elif kind == 3:
                self._tracked += 1
                self._resolve(message["invocationId"], message.get("result"), message.get("error"))
            elif kind == 7:
                self.recorder.dropped()
        self._ack()

    def _ack(self) -> None:
        if not self.spec.stateful or self._tracked - self._acked < ACK_EVERY:
            return
        self._acked = self._tracked
        if self.spec.protocol == "messagepack":
            self.ws.send(_MSGPACK.encode(Ack(self._acked)), text=False)
        else:
            self.ws.send(b'{"type":8,"sequenceId":%d}' % self._acked + RS, text=True)

    def _event(self, target: str, arguments: Any) -> None:
        if target == payloads.EVENT:
            body = arguments[0]
            self.recorder.received(body["seq"], body["ts"])
        elif target == "OrderStatusUpdated":
            seq_sent = payloads.parse_order_message(arguments[2])
            if seq_sent is not None:
                self.recorder.received(*seq_sent)
        if f"event:{target}" in self._pending:
            self._resolve(f"event:{target}", arguments)


class RawSession(Session):
    """A bare WebSocket: the server says "hello" when the client is registered."""

    async def open(self) -> None:
        waiter = self._expect("hello")
        await self._connect(self.spec.path)
        await waiter
        self.ready.set_result(None)

    async def call(self, payload: dict) -> Any:
        future = self._expect("echo")
        self.ws.send(payloads.encode(payload).encode())
        return await future

    def on_message(self, data: bytes, text: bool) -> None:
        if data == b"hello":
            self._resolve("hello", None)
            return
        body = json.loads(data)
        if body["seq"] < 0:
            self._resolve("echo", body)
        else:
            self.recorder.received(body["seq"], body["ts"])


class SocketIOSession(Session):
    """A Socket.IO 5 client over an Engine.IO 4 WebSocket (no polling phase)."""

    async def open(self) -> None:
        waiter = self._expect("connected")
        await self._connect(f"{self.spec.path}?EIO=4&transport=websocket")
        await waiter
        self.ready.set_result(None)

    async def call(self, payload: dict) -> Any:
        ack = next(self._ids)
        future = self._expect(f"ack:{ack}")
        self.ws.send(f"42{ack}".encode() + json.dumps(["echo", payload]).encode())
        return await future

    def on_message(self, data: bytes, text: bool) -> None:
        kind = data[:1]
        if kind == b"4":
            packet = data[1:2]
            if packet == b"2":  # EVENT
                name, body = json.loads(data[2:])
                if name == payloads.EVENT:
                    self.recorder.received(body["seq"], body["ts"])
            elif packet == b"3":  # ACK
                split = data.index(b"[")
                self._resolve(f"ack:{int(data[2:split])}", json.loads(data[split:])[0])
            elif packet == b"0":  # CONNECT acknowledged
                self._resolve("connected", None)
            elif packet == b"1":  # DISCONNECT
                self.recorder.dropped()
        elif kind == b"2":  # Engine.IO ping
            self.ws.send(b"3")
        elif kind == b"0":  # Engine.IO open: join the default namespace
            self.ws.send(b"40")


SESSIONS: dict[str, type[Session]] = {
    SIGNALR: SignalRSession,
    RAW: RawSession,
    SOCKETIO: SocketIOSession,
}


def new_session(spec: ClientSpec, recorder: Recorder, credential: str = "") -> Session:
    """Return an unopened session of the spec's dialect."""
    return SESSIONS[spec.dialect](spec, recorder, credential)
